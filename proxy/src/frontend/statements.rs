//! The per-session map from client statement ids to backend statement ids.
//!
//! Clients see ids the proxy hands out; each maps to the backend statements prepared for it,
//! at most one per node the session holds a connection to. A statement is prepared on the
//! primary when the client prepares it, and on a replica the first time an EXECUTE is routed
//! there; when a connection is replaced (the backend was lost and a new one opened), its
//! statements are forgotten and re-prepared transparently at their next use. Every node is
//! sent the client's last bound parameter types before it executes with them: an EXECUTE
//! that does not resend them (new_params_bound = 0) gets them injected when the node has not
//! seen them yet. MariaDB's "last prepared statement" id 0xFFFFFFFF is resolved per client.

use std::collections::HashMap;
use std::sync::Arc;

use crate::classify::Classified;

/// The id MariaDB clients use for "the statement I prepared last" (e.g. in bulk pipelines).
pub const LAST_PREPARED: u32 = 0xFFFF_FFFF;

/// Most statements one session may hold prepared (MariaDB's default
/// `max_prepared_stmt_count`, which bounds all sessions of a server together).
pub const MAX_STATEMENTS: usize = 16_382;
/// Most bytes of statement text one session may hold prepared: the proxy keeps each text to
/// prepare it again on another connection.
pub const MAX_STATEMENT_BYTES: usize = 16 << 20;

/// A new statement would pass a session's bound: it is refused with 1461, as the server
/// refuses one over `max_prepared_stmt_count`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum StatementLimit {
    /// [`MAX_STATEMENTS`] open already.
    #[error("Can't create more than max_prepared_stmt_count statements (current value: {0})")]
    Count(usize),
    /// The texts would pass [`MAX_STATEMENT_BYTES`].
    #[error(
        "Can't create more than max_prepared_stmt_count statements \
         (myquorum: prepared statement texts of a session are limited to {0} bytes)"
    )]
    Bytes(usize),
}

/// One statement a client prepared.
#[derive(Debug, Clone)]
pub struct Statement {
    /// The statement text as the client sent it (COM_STMT_PREPARE payload after the command).
    pub sql: Vec<u8>,
    /// What the statement is, for routing its executions like the same text over COM_QUERY.
    pub classified: Arc<Classified>,
    /// Where it is prepared: one entry per node connection that holds it.
    pub prepared_on: Vec<Prepared>,
    /// Number of parameters.
    pub params: u16,
    /// The parameter types (2 bytes each) the client bound last, if it ever did.
    pub param_types: Option<Vec<u8>>,
    /// Bumped each time the client binds types, so a node that has older ones gets them again.
    pub types_version: u64,
    /// SEND_LONG_DATA went to the primary since the last EXECUTE: it must run there.
    pub long_data: bool,
    /// An EXECUTE opened a cursor, not yet closed or reset: FETCH reads it from the
    /// connection that ran the EXECUTE, so the session keeps that connection.
    pub cursor: bool,
    /// Where it was prepared on connections the session gave back between statements
    /// (statement multiplexing): a CLOSE from the client closes it there if that connection
    /// is still idle.
    pub released: Vec<Released>,
}

/// A statement left prepared on a connection the session gave back between statements.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Released {
    /// The node id.
    pub node: Arc<str>,
    /// The server thread id of the connection.
    pub thread_id: u32,
    /// The statement's id on that connection.
    pub backend_id: u32,
}

/// A statement prepared on one node's connection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Prepared {
    /// The node id.
    pub node: Arc<str>,
    /// The statement's id on that connection.
    pub backend_id: u32,
    /// The `types_version` that connection last saw (0: none yet).
    pub types_version: u64,
}

impl Statement {
    /// Its id on `node`'s connection, if it is prepared there.
    pub fn backend_id(&self, node: &str) -> Option<u32> {
        self.on(node).map(|p| p.backend_id)
    }

    /// Its entry for `node`, if it is prepared there.
    pub fn on(&self, node: &str) -> Option<&Prepared> {
        self.prepared_on.iter().find(|p| *p.node == *node)
    }

    /// Records that it is now prepared on `node` as `backend_id`, types not yet sent.
    pub fn prepared(&mut self, node: &Arc<str>, backend_id: u32) {
        self.prepared_on.retain(|p| p.node != *node);
        self.released.retain(|r| r.node != *node);
        self.prepared_on.push(Prepared {
            node: Arc::clone(node),
            backend_id,
            types_version: 0,
        });
    }

    /// Adjusts an EXECUTE payload for `node`: remembers the types it binds, or injects the
    /// client's last ones when `node` has not seen them; returns the payload to send.
    pub fn execute_payload(&mut self, node: &str, payload: Vec<u8>) -> Vec<u8> {
        if let Some(types) = bound_types(&payload, self.params) {
            if self.param_types.as_deref() != Some(types) {
                self.param_types = Some(types.to_vec());
                self.types_version += 1;
            }
            self.mark_types_sent(node);
            return payload;
        }
        let current = self.types_version;
        let Some(seen) = self.prepared_on.iter().find(|p| *p.node == *node) else {
            return payload;
        };
        if current == 0 || seen.types_version == current {
            return payload;
        }
        let injected = match self.param_types.as_deref() {
            Some(types) => inject_types(&payload, self.params, types),
            None => None,
        };
        match injected {
            Some(p) => {
                self.mark_types_sent(node);
                p
            }
            None => payload,
        }
    }

    fn mark_types_sent(&mut self, node: &str) {
        let current = self.types_version;
        if let Some(p) = self.prepared_on.iter_mut().find(|p| *p.node == *node) {
            p.types_version = current;
        }
    }
}

/// The statements of one session.
#[derive(Debug, Default)]
pub struct StatementMap {
    next_id: u32,
    by_client_id: HashMap<u32, Statement, crate::FastHash>,
    last_prepared: Option<u32>,
    /// Bytes of statement text held.
    bytes: usize,
}

impl StatementMap {
    /// The id the next prepared statement will get (1, 2, ...; never 0 or 0xFFFFFFFF).
    pub fn peek_next_id(&self) -> u32 {
        let mut id = self.next_id;
        loop {
            id = id.wrapping_add(1);
            if id != 0 && id != LAST_PREPARED && !self.by_client_id.contains_key(&id) {
                return id;
            }
        }
    }

    /// Whether one more statement of `sql_len` bytes fits under the session's bounds
    /// (checked before it is prepared on any server).
    pub fn admits(&self, sql_len: usize) -> Result<(), StatementLimit> {
        if self.by_client_id.len() >= MAX_STATEMENTS {
            return Err(StatementLimit::Count(MAX_STATEMENTS));
        }
        if self.bytes + sql_len > MAX_STATEMENT_BYTES {
            return Err(StatementLimit::Bytes(MAX_STATEMENT_BYTES));
        }
        Ok(())
    }

    /// Records a statement the client prepared (on `node`, as `backend_id`) under `client_id`.
    pub fn insert(&mut self, client_id: u32, new: NewStatement) {
        self.next_id = client_id;
        self.last_prepared = Some(client_id);
        self.bytes += new.sql.len();
        let mut stmt = Statement {
            sql: new.sql,
            classified: new.classified,
            prepared_on: Vec::with_capacity(1),
            params: new.params,
            param_types: None,
            types_version: 0,
            long_data: false,
            cursor: false,
            released: Vec::new(),
        };
        stmt.prepared(&new.node, new.backend_id);
        if let Some(old) = self.by_client_id.insert(client_id, stmt) {
            self.bytes -= old.sql.len();
        }
    }

    /// Resolves a client id (0xFFFFFFFF = the last prepared one).
    pub fn resolve(&self, client_id: u32) -> Option<u32> {
        if client_id == LAST_PREPARED {
            self.last_prepared
        } else {
            self.by_client_id
                .contains_key(&client_id)
                .then_some(client_id)
        }
    }

    /// The statement with this (resolved) id.
    pub fn get_mut(&mut self, client_id: u32) -> Option<&mut Statement> {
        self.by_client_id.get_mut(&client_id)
    }

    /// Forgets a statement the client closed; returns it (where it was prepared).
    pub fn remove(&mut self, client_id: u32) -> Option<Statement> {
        if self.last_prepared == Some(client_id) {
            self.last_prepared = None;
        }
        let stmt = self.by_client_id.remove(&client_id)?;
        self.bytes -= stmt.sql.len();
        Some(stmt)
    }

    /// The session gave its connection to `node` (server thread `thread_id`) back between
    /// statements, unreset: its statements stay prepared there and are found by text when
    /// the session takes a connection again.
    pub fn released_from(&mut self, node: &Arc<str>, thread_id: u32) {
        for s in self.by_client_id.values_mut() {
            if let Some(i) = s.prepared_on.iter().position(|p| p.node == *node) {
                let p = s.prepared_on.swap_remove(i);
                s.released.retain(|r| r.node != *node);
                s.released.push(Released {
                    node: p.node,
                    thread_id,
                    backend_id: p.backend_id,
                });
            }
        }
    }

    /// `node`'s connection is gone: its statements must be prepared again before use there.
    pub fn node_lost(&mut self, node: &str) {
        for s in self.by_client_id.values_mut() {
            s.prepared_on.retain(|p| *p.node != *node);
        }
    }

    /// Whether one of the statements has long data waiting for its EXECUTE.
    pub fn any_long_data(&self) -> bool {
        self.by_client_id.values().any(|s| s.long_data)
    }

    /// Whether one of the statements has a cursor open.
    pub fn any_cursor(&self) -> bool {
        self.by_client_id.values().any(|s| s.cursor)
    }

    /// Whether one of the statements runs as `backend_id` on `node`'s connection.
    pub fn maps_to(&self, node: &str, backend_id: u32) -> bool {
        self.by_client_id
            .values()
            .any(|s| s.on(node).is_some_and(|p| p.backend_id == backend_id))
    }

    /// Every backend connection is gone (the session gave them back).
    pub fn backends_lost(&mut self) {
        for s in self.by_client_id.values_mut() {
            s.prepared_on.clear();
            s.released.clear();
        }
    }

    /// Forgets everything (COM_RESET_CONNECTION, COM_CHANGE_USER).
    pub fn clear(&mut self) {
        self.by_client_id.clear();
        self.last_prepared = None;
        self.bytes = 0;
    }

    /// Number of open statements.
    pub fn len(&self) -> usize {
        self.by_client_id.len()
    }

    /// No open statements.
    pub fn is_empty(&self) -> bool {
        self.by_client_id.is_empty()
    }
}

/// What [`StatementMap::insert`] records for a newly prepared statement.
#[derive(Debug)]
pub struct NewStatement {
    /// The statement text.
    pub sql: Vec<u8>,
    /// Its classification.
    pub classified: Arc<Classified>,
    /// The node it was prepared on.
    pub node: Arc<str>,
    /// Its id there.
    pub backend_id: u32,
    /// Number of parameters.
    pub params: u16,
}

/// Where the parts of a COM_STMT_EXECUTE payload sit, for a statement with `params` parameters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ExecuteLayout {
    /// Offset of the new_params_bound byte.
    pub bound_flag: usize,
    /// The client sent parameter types in this packet.
    pub types_sent: bool,
}

/// Locates new_params_bound in an EXECUTE payload (None when there are no parameters or the
/// packet is too short).
pub fn execute_layout(payload: &[u8], params: u16) -> Option<ExecuteLayout> {
    if params == 0 {
        return None;
    }
    let bitmap = usize::from(params).div_ceil(8);
    let bound_flag = 10 + bitmap;
    let flag = *payload.get(bound_flag)?;
    Some(ExecuteLayout {
        bound_flag,
        types_sent: flag == 1,
    })
}

/// The parameter types an EXECUTE carries (2 bytes per parameter), if it carries them.
pub fn bound_types(payload: &[u8], params: u16) -> Option<&[u8]> {
    let layout = execute_layout(payload, params)?;
    if !layout.types_sent {
        return None;
    }
    let start = layout.bound_flag + 1;
    payload.get(start..start + 2 * usize::from(params))
}

/// Rewrites an EXECUTE that did not resend types into one that does.
pub fn inject_types(payload: &[u8], params: u16, types: &[u8]) -> Option<Vec<u8>> {
    let layout = execute_layout(payload, params)?;
    if layout.types_sent || types.len() != 2 * usize::from(params) {
        return None;
    }
    let mut out = Vec::with_capacity(payload.len() + types.len());
    out.extend_from_slice(&payload[..layout.bound_flag]);
    out.push(1);
    out.extend_from_slice(types);
    out.extend_from_slice(&payload[layout.bound_flag + 1..]);
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use mysql_common::constants::Command;

    fn execute(id: u32, params: u16, types: Option<&[u8]>, values: &[u8]) -> Vec<u8> {
        let mut p = vec![Command::COM_STMT_EXECUTE as u8];
        p.extend_from_slice(&id.to_le_bytes());
        p.push(0);
        p.extend_from_slice(&1u32.to_le_bytes());
        p.extend(std::iter::repeat_n(0u8, usize::from(params).div_ceil(8)));
        match types {
            Some(t) => {
                p.push(1);
                p.extend_from_slice(t);
            }
            None => p.push(0),
        }
        p.extend_from_slice(values);
        p
    }

    #[test]
    fn types_are_read_and_injected() {
        let types = [0x08, 0x00, 0xFD, 0x00];
        let with = execute(1, 2, Some(&types), b"vals");
        assert_eq!(bound_types(&with, 2), Some(&types[..]));
        let without = execute(1, 2, None, b"vals");
        assert_eq!(bound_types(&without, 2), None);
        assert_eq!(inject_types(&without, 2, &types), Some(with.clone()));
        assert_eq!(inject_types(&with, 2, &types), None, "already bound");
    }

    #[test]
    fn last_prepared_resolves_per_session() {
        let mut m = StatementMap::default();
        assert_eq!(m.resolve(LAST_PREPARED), None);
        let id = m.peek_next_id();
        m.insert(id, new("SELECT ?", "p", 77, 1));
        assert_eq!(m.resolve(LAST_PREPARED), Some(id));
        assert_eq!(m.resolve(id), Some(id));
        assert_eq!(m.resolve(id + 1), None);
        m.released_from(&"p".into(), 9);
        assert_eq!(m.get_mut(id).and_then(|s| s.backend_id("p")), None);
        let released = m.get_mut(id).map(|s| s.released.clone());
        assert_eq!(
            released,
            Some(vec![Released {
                node: "p".into(),
                thread_id: 9,
                backend_id: 77
            }])
        );
        m.get_mut(id).expect("held").prepared(&"p".into(), 78);
        assert_eq!(m.get_mut(id).map(|s| s.released.len()), Some(0));
        m.backends_lost();
        assert_eq!(m.get_mut(id).and_then(|s| s.backend_id("p")), None);
        assert!(m.remove(id).is_some_and(|s| s.prepared_on.is_empty()));
        assert!(m.remove(id).is_none());
        assert!(m.is_empty());
    }

    fn new(sql: &'static str, node: &'static str, backend_id: u32, params: u16) -> NewStatement {
        NewStatement {
            sql: sql.as_bytes().to_vec(),
            classified: Arc::new(crate::classify::classify(sql.as_bytes())),
            node: node.into(),
            backend_id,
            params,
        }
    }

    #[test]
    fn each_node_gets_the_types_it_has_not_seen() {
        let mut m = StatementMap::default();
        let id = m.peek_next_id();
        m.insert(id, new("SELECT ?, ?", "p", 7, 2));
        let stmt = m.get_mut(id).expect("inserted");
        let ints = [0x08, 0x00, 0x08, 0x00];
        let strings = [0xFD, 0x00, 0xFD, 0x00];
        let first = execute(7, 2, Some(&ints), b"v");
        assert_eq!(
            stmt.execute_payload("p", first.clone()),
            first,
            "types kept as sent"
        );
        let bare = execute(7, 2, None, b"v");
        assert_eq!(
            stmt.execute_payload("p", bare.clone()),
            bare,
            "primary has them"
        );
        stmt.prepared(&"r1".into(), 9);
        assert_eq!(stmt.backend_id("r1"), Some(9));
        assert_eq!(
            stmt.execute_payload("r1", bare.clone()),
            execute(7, 2, Some(&ints), b"v"),
            "a new node gets the saved types"
        );
        assert_eq!(stmt.execute_payload("r1", bare.clone()), bare, "only once");
        let changed = execute(7, 2, Some(&strings), b"v");
        assert_eq!(stmt.execute_payload("r1", changed.clone()), changed);
        assert_eq!(
            stmt.execute_payload("p", bare.clone()),
            execute(7, 2, Some(&strings), b"v"),
            "the primary saw older types: it gets the new ones"
        );
        m.node_lost("r1");
        assert_eq!(m.get_mut(id).and_then(|s| s.backend_id("r1")), None);
        assert_eq!(m.get_mut(id).and_then(|s| s.backend_id("p")), Some(7));
    }

    #[test]
    fn ids_are_never_zero_or_last() {
        let m = StatementMap {
            next_id: LAST_PREPARED - 1,
            ..StatementMap::default()
        };
        assert_ne!(m.peek_next_id(), LAST_PREPARED);
        assert_ne!(m.peek_next_id(), 0);
    }

    fn new_statement(sql: Vec<u8>) -> NewStatement {
        NewStatement {
            sql,
            classified: Arc::new(crate::classify::classify(b"SELECT 1")),
            node: "instance-1".into(),
            backend_id: 1,
            params: 0,
        }
    }

    /// The texts a session keeps prepared are bounded in bytes, not only in count: past
    /// [`MAX_STATEMENT_BYTES`] a new statement is refused (1461, like the server's count
    /// limit); closing one makes room again.
    #[test]
    fn statement_texts_are_bounded_in_bytes() {
        let mut map = StatementMap::default();
        let chunk = MAX_STATEMENT_BYTES / 4;
        for _ in 0..4 {
            assert_eq!(map.admits(chunk), Ok(()));
            let id = map.peek_next_id();
            map.insert(id, new_statement(vec![b'x'; chunk]));
        }
        assert_eq!(
            map.admits(1),
            Err(StatementLimit::Bytes(MAX_STATEMENT_BYTES))
        );
        let e = crate::error::MysqlError::too_many_statements(&StatementLimit::Bytes(1));
        assert_eq!(e.code, 1461);
        map.remove(1);
        assert_eq!(map.admits(chunk), Ok(()));
        map.clear();
        assert_eq!(map.admits(MAX_STATEMENT_BYTES), Ok(()));
    }

    /// The count is bounded like the server's `max_prepared_stmt_count`.
    #[test]
    fn statement_count_is_bounded() {
        let mut map = StatementMap::default();
        for _ in 0..MAX_STATEMENTS {
            let id = map.peek_next_id();
            map.insert(id, new_statement(b"SELECT 1".to_vec()));
        }
        assert_eq!(map.admits(8), Err(StatementLimit::Count(MAX_STATEMENTS)));
    }
}
