//! Session settings a client made, recorded so they can be replayed on a backend connection
//! the session opens later (after the previous one was lost). Bounded in entries
//! ([`MAX_ENTRIES`]) and in bytes ([`MAX_BYTES`]): past a bound the oldest entries go (a
//! setting larger than the byte bound alone is not recorded), a warning is logged at that
//! moment, and the session is marked so every later replay logs that it is incomplete.
//! Which statements are settings is the classifier's answer
//! ([`crate::classify::Classified::session_setting`]).

/// Most recorded settings per session.
pub const MAX_ENTRIES: usize = 128;
/// Most bytes of recorded setting text per session (a client may SET a long string: the
/// packet limit alone would let one session hold 128 of them).
pub const MAX_BYTES: usize = 256 * 1024;

/// One replayable setting.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Setting {
    /// A `SET ...` statement of session variables, as the client sent it.
    Statement(Vec<u8>),
    /// COM_SET_OPTION (multi-statements on or off).
    SetOption(Vec<u8>),
}

/// The SipHash of session state a client wrote (settings, a database name): what a
/// multiplexing session's state fingerprint is made of. SipHash, not the proxy's fast hasher:
/// equal fingerprints let sessions share a connection as it is.
pub(super) fn fingerprint_of<T: std::hash::Hash + ?Sized>(value: &T) -> u64 {
    use std::hash::Hasher;
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    value.hash(&mut hasher);
    hasher.finish()
}

/// The recorded settings of one session, oldest first.
#[derive(Debug, Default)]
pub struct History {
    entries: Vec<Setting>,
    /// Bytes of text held in `entries`.
    bytes: usize,
    /// Entries were dropped (or one not recorded) to respect [`MAX_ENTRIES`] or
    /// [`MAX_BYTES`].
    pub truncated: bool,
    /// A hash of `entries`, kept in step by the methods that change them (0: none): read
    /// for every statement a multiplexing session gives back or takes, changed only by a SET.
    fingerprint: u64,
}

impl Setting {
    /// Its text's length, counted against [`MAX_BYTES`].
    fn len(&self) -> usize {
        match self {
            Setting::Statement(b) | Setting::SetOption(b) => b.len(),
        }
    }
}

impl History {
    /// Records a setting that succeeded (an identical earlier one moves to the end).
    pub fn record(&mut self, setting: Setting) {
        if let Some(i) = self.entries.iter().position(|s| *s == setting) {
            let old = self.entries.remove(i);
            self.bytes -= old.len();
        }
        let was_truncated = self.truncated;
        if setting.len() > MAX_BYTES {
            self.truncated = true;
        } else {
            while !self.entries.is_empty()
                && (self.entries.len() >= MAX_ENTRIES || self.bytes + setting.len() > MAX_BYTES)
            {
                let old = self.entries.remove(0);
                self.bytes -= old.len();
                self.truncated = true;
            }
            self.bytes += setting.len();
            self.entries.push(setting);
        }
        self.refresh_fingerprint();
        if self.truncated && !was_truncated {
            tracing::warn!(
                max_entries = MAX_ENTRIES,
                max_bytes = MAX_BYTES,
                "session settings history truncated: a new backend connection will not get \
                 the oldest settings replayed"
            );
        }
    }

    /// The settings in the order they were made.
    pub fn entries(&self) -> &[Setting] {
        &self.entries
    }

    /// Forgets everything (COM_RESET_CONNECTION, COM_CHANGE_USER).
    pub fn clear(&mut self) {
        self.entries.clear();
        self.bytes = 0;
        self.truncated = false;
        self.refresh_fingerprint();
    }

    /// A hash of the settings in order: equal histories have equal fingerprints (0 for none).
    pub fn fingerprint(&self) -> u64 {
        self.fingerprint
    }

    fn refresh_fingerprint(&mut self) {
        self.fingerprint = if self.entries.is_empty() {
            0
        } else {
            fingerprint_of(&self.entries)
        };
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bounded_and_deduplicated() {
        let mut h = History::default();
        for i in 0..MAX_ENTRIES + 5 {
            h.record(Setting::Statement(format!("SET @@x{i}=1").into_bytes()));
        }
        assert_eq!(h.entries().len(), MAX_ENTRIES);
        assert!(h.truncated);
        h.clear();
        h.record(Setting::Statement(b"SET a=1".to_vec()));
        h.record(Setting::Statement(b"SET b=1".to_vec()));
        h.record(Setting::Statement(b"SET a=1".to_vec()));
        assert_eq!(
            h.entries(),
            &[
                Setting::Statement(b"SET b=1".to_vec()),
                Setting::Statement(b"SET a=1".to_vec())
            ]
        );
    }

    /// Long settings hit the byte bound before the entry count (before: 128 settings of up
    /// to the packet limit each); one longer than the bound is not recorded; both mark the
    /// history truncated.
    #[test]
    fn bounded_in_bytes() {
        let mut h = History::default();
        let long = |i: usize| {
            let mut sql = format!("SET @@s{i}='").into_bytes();
            sql.resize(MAX_BYTES / 4, b'x');
            Setting::Statement(sql)
        };
        for i in 0..10 {
            h.record(long(i));
        }
        let held: usize = h.entries().iter().map(Setting::len).sum();
        assert!(held <= MAX_BYTES, "{held}");
        assert_eq!(held, h.bytes);
        assert!(h.truncated);
        assert_eq!(h.entries().last(), Some(&long(9)), "the newest is kept");
        h.clear();
        h.record(Setting::Statement(vec![b'x'; MAX_BYTES + 1]));
        assert!(h.entries().is_empty());
        assert!(h.truncated);
    }

    #[test]
    fn fingerprint_follows_the_settings_in_order() {
        let set = |sql: &str| Setting::Statement(sql.as_bytes().to_vec());
        let (mut a, mut b) = (History::default(), History::default());
        assert_eq!(a.fingerprint(), 0);
        a.record(set("SET NAMES latin1"));
        a.record(set("SET sql_mode=''"));
        assert_ne!(a.fingerprint(), 0);
        b.record(set("SET sql_mode=''"));
        b.record(set("SET NAMES latin1"));
        assert_ne!(
            a.fingerprint(),
            b.fingerprint(),
            "order matters: the later SET wins"
        );
        // Repeating the first moves it to the end: the same entries as `b`, in b's order.
        a.record(set("SET NAMES latin1"));
        assert_eq!(a.entries(), b.entries());
        assert_eq!(a.fingerprint(), b.fingerprint());
        a.clear();
        assert_eq!(a.fingerprint(), 0);
    }
}
