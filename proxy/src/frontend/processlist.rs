//! `SHOW [FULL] PROCESSLIST`, answered from the proxy's session registry: the `Id` a client
//! reads there is the proxy's connection id, the one `CONNECTION_ID()` returns and `KILL`
//! through the proxy accepts (a backend would list its own thread ids, which no KILL through
//! the proxy can reach and which mean nothing on another node).
//!
//! The columns are MariaDB's: Id, User, Host, db, Command, Time, State, Info, Progress. A
//! session that runs nothing is `Sleep` for the seconds since its last statement ended; for
//! a session running a statement, Command, Time, State, Info and Progress come from the
//! process list of the backend that runs it (its thread, read over this session's own
//! connection to that node, one query per node involved); this session's own row shows the
//! SHOW itself. `Info` is cut to 100 characters without FULL, as the server does.
//!
//! Visibility follows the server's rule: a user sees only its own sessions unless it holds
//! the PROCESS privilege, read once per session (and again after COM_CHANGE_USER) from
//! `information_schema.USER_PRIVILEGES` on the primary.

use std::collections::HashMap;

use tracing::debug;

use super::session::Session;
use crate::error::SessionError;
use crate::packet::Packet;
use crate::registry::SessionInfo;
use crate::resultset::{Kind, ResultSet};

/// How much of `Info` SHOW PROCESSLIST shows without FULL (MariaDB's PROCESS_LIST_WIDTH).
const INFO_WIDTH: usize = 100;

/// The PROCESS privilege of the current user, as the server reports it.
const HAS_PROCESS: &str = "SELECT COUNT(*) FROM information_schema.USER_PRIVILEGES \
     WHERE PRIVILEGE_TYPE = 'PROCESS' AND GRANTEE = CONCAT('''', \
     SUBSTRING_INDEX(CURRENT_USER(), '@', 1), '''@''', \
     SUBSTRING_INDEX(CURRENT_USER(), '@', -1), '''')";

/// What a backend's process list says about one running thread.
#[derive(Debug, Clone)]
struct Backend {
    command: Option<String>,
    time: Option<String>,
    state: Option<String>,
    info: Option<String>,
    progress: Option<String>,
}

impl Session {
    /// Answers `SHOW [FULL] PROCESSLIST` (the client's `packet`; `full`: Info uncut).
    pub(super) async fn show_processlist(
        &mut self,
        packet: &Packet,
        full: bool,
    ) -> Result<(), SessionError> {
        self.proxy_warning = None;
        let sees_all = self.has_process_privilege().await;
        let rows: Vec<SessionInfo> = self
            .shared
            .registry
            .snapshot()
            .into_iter()
            .filter(|s| sees_all || *s.user == *self.hello.user.name)
            .collect();
        let backends = self.running_threads(&rows).await;
        let own_text = String::from_utf8_lossy(trimmed(&packet.payload[1..])).into_owned();
        let mut rs = ResultSet::new(&[
            ("Id", Kind::Unsigned),
            ("User", Kind::Text),
            ("Host", Kind::Text),
            ("db", Kind::Text),
            ("Command", Kind::Text),
            ("Time", Kind::Unsigned),
            ("State", Kind::Text),
            ("Info", Kind::Text),
            ("Progress", Kind::Text),
        ]);
        for s in rows {
            let (command, time, state, info, progress) = if s.id == self.id {
                (
                    Some("Query".to_owned()),
                    Some("0".to_owned()),
                    Some("starting".to_owned()),
                    Some(own_text.clone()),
                    Some("0.000".to_owned()),
                )
            } else if let Some(b) = s.running.as_ref().and_then(|r| backends.get(r)) {
                let b = b.clone();
                (b.command, b.time, b.state, b.info, b.progress)
            } else {
                let idle = s.since.map_or(0, |t| t.elapsed().as_secs());
                (
                    Some("Sleep".to_owned()),
                    Some(idle.to_string()),
                    Some(String::new()),
                    None,
                    Some("0.000".to_owned()),
                )
            };
            let info = info.map(|i| if full { i } else { cut(i, INFO_WIDTH) });
            rs.push(vec![
                Some(s.id.to_string()),
                Some(s.user),
                Some(s.peer.to_string()),
                s.db,
                command,
                time,
                state,
                info,
                progress,
            ]);
        }
        self.send_result_set(packet.next_seq(), &rs).await
    }

    /// Whether the session's user holds PROCESS (cached for the session; false when the
    /// server cannot be asked: the narrower answer).
    async fn has_process_privilege(&mut self) -> bool {
        if let Some(known) = self.process_privilege {
            return known;
        }
        let primary = self.primary_id();
        let answer = match self.ensure_conn(&primary).await {
            Ok(index) => self.conns[index].query_rows(HAS_PROCESS).await,
            Err(e) => Err(e),
        };
        let has = match answer {
            Ok(rows) => rows
                .first()
                .and_then(|r| r.first())
                .and_then(|v| v.as_deref())
                .is_some_and(|v| v != b"0"),
            Err(e) => {
                debug!(error = %e, "could not read the PROCESS privilege");
                return false;
            }
        };
        self.process_privilege = Some(has);
        has
    }

    /// The backend process-list rows of the threads `rows` are running statements on, keyed
    /// by (node, thread): one query per node, over this session's connection to it. A node
    /// that cannot be asked leaves its sessions shown as idle.
    async fn running_threads(&mut self, rows: &[SessionInfo]) -> HashMap<(String, u32), Backend> {
        let mut by_node: HashMap<String, Vec<u32>> = HashMap::new();
        for s in rows.iter().filter(|s| s.id != self.id) {
            if let Some((node, thread)) = &s.running {
                by_node.entry(node.clone()).or_default().push(*thread);
            }
        }
        let mut out = HashMap::new();
        for (node, threads) in by_node {
            let ids: Vec<String> = threads.iter().map(u32::to_string).collect();
            let sql = format!(
                "SELECT ID, COMMAND, TIME, STATE, INFO, PROGRESS FROM \
                 information_schema.PROCESSLIST WHERE ID IN ({})",
                ids.join(",")
            );
            let answer = match self.ensure_conn(&node).await {
                Ok(index) => self.conns[index].query_rows(&sql).await,
                Err(e) => Err(e),
            };
            let rows = match answer {
                Ok(rows) => rows,
                Err(e) => {
                    debug!(node = %node, error = %e, "could not read the backend's process list");
                    continue;
                }
            };
            for row in rows {
                let text = |i: usize| {
                    row.get(i)
                        .cloned()
                        .flatten()
                        .map(|v| String::from_utf8_lossy(&v).into_owned())
                };
                let Some(thread) = text(0).and_then(|t| t.parse::<u32>().ok()) else {
                    continue;
                };
                out.insert(
                    (node.clone(), thread),
                    Backend {
                        command: text(1),
                        time: text(2),
                        state: text(3),
                        info: text(4),
                        progress: text(5),
                    },
                );
            }
        }
        out
    }
}

/// The statement as the server keeps it for its process list: leading whitespace and
/// trailing whitespace and `;` removed (`alloc_query`).
fn trimmed(sql: &[u8]) -> &[u8] {
    let start = sql
        .iter()
        .position(|b| !b.is_ascii_whitespace())
        .unwrap_or(sql.len());
    let end = sql
        .iter()
        .rposition(|b| !(b.is_ascii_whitespace() || *b == b';'))
        .map_or(start, |i| i + 1);
    &sql[start..end.max(start)]
}

/// The first `width` characters of `text`.
fn cut(text: String, width: usize) -> String {
    match text.char_indices().nth(width) {
        Some((end, _)) => text[..end].to_owned(),
        None => text,
    }
}

#[cfg(test)]
mod tests {
    use super::{cut, trimmed};

    #[test]
    fn the_own_statement_is_trimmed_as_the_server_trims_it() {
        assert_eq!(trimmed(b"  SHOW PROCESSLIST ;; \n"), b"SHOW PROCESSLIST");
        assert_eq!(trimmed(b" ; "), b"");
    }

    #[test]
    fn info_is_cut_by_characters() {
        assert_eq!(cut("abc".into(), 100), "abc");
        assert_eq!(cut("é".repeat(120), 100), "é".repeat(100));
    }
}
