//! Phase 1, `request_filter`: the level a statement runs at and the text that is sent.

use std::borrow::Cow;

use crate::classify::{hide_socket, Classified, Consistency, SetConsistencyError};

/// A classified statement ready to be planned.
#[derive(Debug)]
pub struct Request<'a> {
    /// The level it runs at.
    pub level: Consistency,
    /// The text sent to the server: the client's, or with the proxy's own `SET STATEMENT
    /// myquorum_consistency=...` assignment removed and `@@socket` answered as NULL
    /// ([`hide_socket`]: a backend's unix socket must not lead a driver out of the proxy).
    pub text: Cow<'a, [u8]>,
}

/// `SET STATEMENT myquorum_consistency=<bad value> FOR ...`: answered 1231 (42000).
pub type RequestError = SetConsistencyError;

/// The level `stmt` runs at and the text to send: `level` (the session's or the request's),
/// unless a `SET STATEMENT myquorum_consistency=... FOR` (DEFAULT: `default`) or a leading
/// comment hint overrides it. `@@socket` references in the text become NULL.
pub fn request_filter<'a>(
    stmt: &Classified,
    sql: &'a [u8],
    level: Consistency,
    default: Consistency,
) -> Result<Request<'a>, RequestError> {
    let mut request = Request {
        level,
        text: Cow::Borrowed(sql),
    };
    if let Some(set_statement) = &stmt.set_statement {
        match &set_statement.value {
            Ok(v) => request.level = v.unwrap_or(default),
            Err(e) => return Err(e.clone()),
        }
        request.text = Cow::Owned(set_statement.rewritten.clone());
    }
    if let Some(hint) = stmt.hint {
        request.level = hint;
    }
    if let Some(hidden) = hide_socket(&request.text) {
        request.text = Cow::Owned(hidden);
    }
    Ok(request)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::classify::classify;

    fn filter(sql: &str, level: Consistency) -> (Consistency, String) {
        let stmt = classify(sql.as_bytes());
        let r = request_filter(&stmt, sql.as_bytes(), level, Consistency::Causal)
            .expect("valid statement");
        (r.level, String::from_utf8_lossy(&r.text).into_owned())
    }

    #[test]
    fn hints_and_set_statement_override_the_level() {
        use Consistency::*;
        assert_eq!(filter("SELECT 1", Eventual), (Eventual, "SELECT 1".into()));
        assert_eq!(
            filter("/* myquorum:consistency=STRONG */ SELECT 1", Eventual).0,
            Strong
        );
        let (level, text) = filter(
            "SET STATEMENT myquorum_consistency='STRONG' FOR INSERT INTO t VALUES (1)",
            Eventual,
        );
        assert_eq!(level, Strong);
        assert!(!text.contains("myquorum"), "{text}");
        assert!(text.contains("INSERT INTO t VALUES (1)"), "{text}");
        let sql = "SET STATEMENT myquorum_consistency='NOPE' FOR SELECT 1";
        assert!(request_filter(
            &classify(sql.as_bytes()),
            sql.as_bytes(),
            Eventual,
            Eventual
        )
        .is_err());
    }

    #[test]
    fn the_socket_path_is_never_asked_for() {
        use Consistency::*;
        assert_eq!(
            filter("SELECT @@socket, @@wait_timeout", Causal).1,
            "SELECT NULL AS `@@socket`, @@wait_timeout"
        );
        let (level, text) = filter(
            "SET STATEMENT myquorum_consistency='STRONG' FOR SELECT @@global.socket",
            Eventual,
        );
        assert_eq!(level, Strong);
        assert!(text.ends_with("SELECT NULL AS `@@global.socket`"), "{text}");
        assert_eq!(filter("SELECT '@@socket'", Causal).1, "SELECT '@@socket'");
    }
}
