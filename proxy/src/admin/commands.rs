//! The statements the admin port understands, parsed from COM_QUERY text: a pure function,
//! case-insensitive, tolerant of extra whitespace and an optional trailing `;`.

/// One admin statement.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Statement {
    /// `SHOW BACKENDS`: every node, its role, reachability and connection counts.
    ShowBackends,
    /// `SHOW SESSIONS`: every live client session of the MySQL port.
    ShowSessions,
    /// `SHOW CONFIG`: the effective configuration, flattened, passwords never shown.
    ShowConfig,
    /// `SHOW POOL`: the backend pool's counters.
    ShowPool,
    /// `SHOW QUORUM`: Cabinet weights, threshold, predicted quorum and wait outcomes.
    ShowQuorum,
    /// `SHOW PINS`: how often sessions were pinned to the primary, by reason.
    ShowPins,
    /// `SHOW METRICS`: statements by route and level, latency and quorum-wait summaries.
    ShowMetrics,
    /// `SELECT <variable>, ... [LIMIT n]` over the few variables clients read on connect
    /// (the `mariadb` CLI's `@@version_comment`, mysql_async's `@@max_allowed_packet`...).
    /// Each item keeps the expression as written, which becomes its column name.
    Select(Vec<(String, Variable)>),
    /// `SET ...`: accepted and ignored. Drivers and the CLI send session settings (`SET NAMES`,
    /// `SET autocommit`) on connect; the admin port has no session state for them to change,
    /// so answering OK is what lets those clients connect.
    Set,
    /// Anything else: answered with ERR 1235, naming the statement.
    Unsupported(String),
}

/// A variable the admin port answers `SELECT` for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Variable {
    /// `@@version_comment`: `myquorum admin`.
    VersionComment,
    /// `@@version` or `VERSION()`: the version string of the greeting.
    Version,
    /// `@@max_allowed_packet`: the largest command the admin port reads.
    MaxAllowedPacket,
    /// `@@wait_timeout`: how long an idle admin connection may stay (it is never closed).
    WaitTimeout,
    /// `@@interactive_timeout`: as `@@wait_timeout`.
    InteractiveTimeout,
    /// `@@socket`: NULL, the admin port has no Unix socket (drivers then stay on TCP).
    Socket,
    /// `@@character_set_client`, `_connection`, `_server`...: `utf8mb4`, what admin answers
    /// are encoded in (the CLI's `status` asks).
    Charset,
    /// `DATABASE()`: NULL, the admin port has no databases (the CLI's `status` asks).
    Database,
    /// `USER()` or `CURRENT_USER()`: the admin account, `name@client-host`.
    User,
}

/// Parses one COM_QUERY text.
pub fn parse(sql: &str) -> Statement {
    let trimmed = sql
        .trim()
        .trim_end_matches(|c: char| c == ';' || c.is_whitespace());
    let normalized = trimmed.split_whitespace().collect::<Vec<_>>().join(" ");
    let lower = normalized.to_ascii_lowercase();
    let words: Vec<&str> = lower.split(' ').collect();
    match words.as_slice() {
        ["show", "backends"] => Statement::ShowBackends,
        ["show", "sessions"] => Statement::ShowSessions,
        ["show", "config"] => Statement::ShowConfig,
        ["show", "pool"] => Statement::ShowPool,
        ["show", "quorum"] => Statement::ShowQuorum,
        ["show", "pins"] => Statement::ShowPins,
        ["show", "metrics"] => Statement::ShowMetrics,
        ["set", _, ..] => Statement::Set,
        ["select", _, ..] => match select_list(&normalized) {
            Some(items) => Statement::Select(items),
            None => Statement::Unsupported(trimmed.to_owned()),
        },
        _ => Statement::Unsupported(trimmed.to_owned()),
    }
}

/// The items of `SELECT a, b [LIMIT n]` (`sql` normalized to single spaces), when every item
/// is a known variable.
fn select_list(sql: &str) -> Option<Vec<(String, Variable)>> {
    let lower = sql.to_ascii_lowercase();
    let mut end = sql.len();
    if let Some(at) = lower.rfind(" limit ") {
        if is_number(&lower[at + 7..]) {
            end = at;
        }
    }
    let body = sql.get("select ".len()..end)?;
    body.split(',')
        .map(|item| {
            let item = item.trim();
            variable(item).map(|v| (item.to_owned(), v))
        })
        .collect()
}

fn variable(item: &str) -> Option<Variable> {
    let lower = item.to_ascii_lowercase().replace(' ', "");
    match lower.as_str() {
        "version()" => return Some(Variable::Version),
        "database()" => return Some(Variable::Database),
        "user()" | "current_user()" | "current_user" => return Some(Variable::User),
        _ => {}
    }
    let name = lower.strip_prefix("@@")?;
    let name = ["session.", "global.", "local."]
        .iter()
        .find_map(|scope| name.strip_prefix(scope))
        .unwrap_or(name);
    Some(match name {
        "version_comment" => Variable::VersionComment,
        "version" => Variable::Version,
        "max_allowed_packet" => Variable::MaxAllowedPacket,
        "wait_timeout" => Variable::WaitTimeout,
        "interactive_timeout" => Variable::InteractiveTimeout,
        "socket" => Variable::Socket,
        n if n.starts_with("character_set_") => Variable::Charset,
        _ => return None,
    })
}

fn is_number(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn select(items: &[(&str, Variable)]) -> Statement {
        Statement::Select(items.iter().map(|(l, v)| ((*l).to_owned(), *v)).collect())
    }

    #[test]
    fn admin_statements() {
        let cases = [
            ("SHOW BACKENDS", Statement::ShowBackends),
            ("show backends;", Statement::ShowBackends),
            ("  Show\n\tBackends  ;  ", Statement::ShowBackends),
            ("SHOW SESSIONS", Statement::ShowSessions),
            ("show config", Statement::ShowConfig),
            ("SHOW POOL;", Statement::ShowPool),
            ("show quorum", Statement::ShowQuorum),
            ("SET NAMES utf8mb4", Statement::Set),
            ("set autocommit=1", Statement::Set),
        ];
        for (sql, want) in cases {
            assert_eq!(parse(sql), want, "{sql:?}");
        }
    }

    #[test]
    fn connect_time_selects() {
        let cases = [
            (
                "select @@version_comment limit 1",
                select(&[("@@version_comment", Variable::VersionComment)]),
            ),
            (
                "SELECT @@version",
                select(&[("@@version", Variable::Version)]),
            ),
            (
                "select VERSION();",
                select(&[("VERSION()", Variable::Version)]),
            ),
            (
                "select DATABASE(), USER() limit 1",
                select(&[
                    ("DATABASE()", Variable::Database),
                    ("USER()", Variable::User),
                ]),
            ),
            (
                "select @@character_set_client, @@character_set_server limit 1",
                select(&[
                    ("@@character_set_client", Variable::Charset),
                    ("@@character_set_server", Variable::Charset),
                ]),
            ),
            (
                "SELECT @@max_allowed_packet,@@wait_timeout",
                select(&[
                    ("@@max_allowed_packet", Variable::MaxAllowedPacket),
                    ("@@wait_timeout", Variable::WaitTimeout),
                ]),
            ),
            (
                "SELECT @@session.socket, @@GLOBAL.interactive_timeout LIMIT 1",
                select(&[
                    ("@@session.socket", Variable::Socket),
                    ("@@GLOBAL.interactive_timeout", Variable::InteractiveTimeout),
                ]),
            ),
        ];
        for (sql, want) in cases {
            assert_eq!(parse(sql), want, "{sql:?}");
        }
    }

    #[test]
    fn everything_else_is_unsupported_and_named() {
        for sql in [
            "SHOW TABLES",
            "SELECT 1",
            "SELECT @@version, 1",
            "SELECT @@sql_mode",
            "SHOW BACKENDS extra",
            "select @@version_comment limit x",
            "SET",
            "",
            ";",
        ] {
            assert!(
                matches!(parse(sql), Statement::Unsupported(_)),
                "{sql:?} should be unsupported"
            );
        }
        assert_eq!(
            parse(" DROP TABLE t ; "),
            Statement::Unsupported("DROP TABLE t".to_owned())
        );
    }
}
