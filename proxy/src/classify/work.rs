//! A count of the classifier's work, for tests that prove it linear in the statement's
//! length without timing anything: lexer passes, tokens looked at by look-ahead scans
//! (parenthesis matching, CTE column lists) and sqlparser calls. Release builds count
//! nothing (the functions are empty).

/// What one thread's classifications did since the last [`take`].
#[cfg(test)]
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Work {
    /// Passes of the lexer over the text.
    pub lex_passes: u64,
    /// Tokens looked at by look-ahead scans.
    pub lookahead: u64,
    /// Calls into sqlparser.
    pub parser_calls: u64,
}

#[cfg(test)]
thread_local! {
    static WORK: std::cell::Cell<Work> = const {
        std::cell::Cell::new(Work { lex_passes: 0, lookahead: 0, parser_calls: 0 })
    };
}

#[cfg(test)]
fn add(f: impl FnOnce(&mut Work)) {
    WORK.with(|w| {
        let mut v = w.get();
        f(&mut v);
        w.set(v);
    });
}

/// Counts one lexer pass.
#[inline]
pub(crate) fn lex_pass() {
    #[cfg(test)]
    add(|w| w.lex_passes += 1);
}

/// Counts `n` tokens looked at by a look-ahead.
#[inline]
pub(crate) fn lookahead(_n: u64) {
    #[cfg(test)]
    add(|w| w.lookahead += _n);
}

/// Counts one sqlparser call.
#[inline]
pub(crate) fn parser_call() {
    #[cfg(test)]
    add(|w| w.parser_calls += 1);
}

/// This thread's counts since the last call, reset to zero.
#[cfg(test)]
pub(crate) fn take() -> Work {
    WORK.with(|w| w.replace(Work::default()))
}
