//! Session settings a client made, recorded so they can be replayed on a backend connection
//! the session opens later (after the previous one was lost). Bounded: past the limit the
//! oldest entries go, and the session is marked so a replay logs that it is incomplete.
//! Which statements are settings is the classifier's answer
//! ([`crate::classify::Classified::session_setting`]).

/// Most recorded settings per session.
pub const MAX_ENTRIES: usize = 128;

/// One replayable setting.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Setting {
    /// A `SET ...` statement of session variables, as the client sent it.
    Statement(Vec<u8>),
    /// COM_SET_OPTION (multi-statements on or off).
    SetOption(Vec<u8>),
}

/// The recorded settings of one session, oldest first.
#[derive(Debug, Default)]
pub struct History {
    entries: Vec<Setting>,
    /// Entries were dropped to respect [`MAX_ENTRIES`].
    pub truncated: bool,
}

impl History {
    /// Records a setting that succeeded (an identical earlier one moves to the end).
    pub fn record(&mut self, setting: Setting) {
        self.entries.retain(|s| *s != setting);
        if self.entries.len() == MAX_ENTRIES {
            self.entries.remove(0);
            self.truncated = true;
        }
        self.entries.push(setting);
    }

    /// The settings in the order they were made.
    pub fn entries(&self) -> &[Setting] {
        &self.entries
    }

    /// Forgets everything (COM_RESET_CONNECTION, COM_CHANGE_USER).
    pub fn clear(&mut self) {
        self.entries.clear();
        self.truncated = false;
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
}
