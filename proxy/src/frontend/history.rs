//! Session settings a client made, recorded so they can be replayed on a backend connection
//! the session opens later (after the previous one was lost). Bounded: past the limit the
//! oldest entries go, and the session is marked so a replay logs that it is incomplete.

use super::lexer::{leading_tokens, starts_with_word, Token};

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

/// True for a statement that sets session variables and can be replayed as is: `SET x = ..`,
/// `SET SESSION ..`, `SET @@session.x`, `SET NAMES`, `SET CHARACTER SET`, `SET ROLE`. Not:
/// `SET GLOBAL` (server-wide), `SET TRANSACTION` (next transaction only), `SET STATEMENT ..
/// FOR` (one statement), `SET PASSWORD`, user variables (`SET @a`: state that pins, not a
/// setting), `SET DEFAULT ROLE`.
pub fn is_session_setting(sql: &[u8]) -> bool {
    if !starts_with_word(sql, b"SET") {
        return false;
    }
    let t = leading_tokens(sql, 4);
    let word = |i: usize| match t.get(i) {
        Some(Token::Word(w)) => Some(w.as_str()),
        _ => None,
    };
    if word(0) != Some("SET") {
        return false;
    }
    match (t.get(1), t.get(2)) {
        (Some(Token::Punct(b'@')), Some(Token::Punct(b'@'))) => !matches!(word(3), Some("GLOBAL")),
        (Some(Token::Punct(b'@')), _) => false,
        (Some(Token::Word(w)), _) => !matches!(
            w.as_str(),
            "GLOBAL" | "TRANSACTION" | "STATEMENT" | "PASSWORD" | "DEFAULT"
        ),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn session_settings() {
        for yes in [
            "SET NAMES utf8mb4",
            "set autocommit=0",
            "SET SESSION sql_mode='ANSI'",
            "SET @@session.time_zone='+00:00'",
            "SET @@sql_mode=''",
            "SET CHARACTER SET latin1",
            "/* orm */ SET time_zone = '+00:00'",
        ] {
            assert!(is_session_setting(yes.as_bytes()), "{yes}");
        }
        for no in [
            "SET GLOBAL read_only=1",
            "SET @@global.x=1",
            "SET TRANSACTION ISOLATION LEVEL READ COMMITTED",
            "SET STATEMENT max_statement_time=1 FOR SELECT 1",
            "SET @a = 1",
            "SET PASSWORD = PASSWORD('x')",
            "SELECT 1",
        ] {
            assert!(!is_session_setting(no.as_bytes()), "{no}");
        }
    }

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
