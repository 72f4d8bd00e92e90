//! The per-session map from client statement ids to backend statement ids.
//!
//! Clients see ids the proxy hands out; each maps to the backend statement on the session's
//! current connection. When that connection is replaced (the backend was lost and a new one
//! opened), every statement is marked unprepared and re-prepared transparently at its next use,
//! with the client's last bound parameter types injected into an EXECUTE that does not resend
//! them (new_params_bound = 0). MariaDB's "last prepared statement" id 0xFFFFFFFF is resolved
//! per client.

use std::collections::HashMap;

/// The id MariaDB clients use for "the statement I prepared last" (e.g. in bulk pipelines).
pub const LAST_PREPARED: u32 = 0xFFFF_FFFF;

/// One statement a client prepared.
#[derive(Debug, Clone)]
pub struct Statement {
    /// The statement text as the client sent it (COM_STMT_PREPARE payload after the command).
    pub sql: Vec<u8>,
    /// Its id on the current backend connection; None once that connection is gone.
    pub backend_id: Option<u32>,
    /// Number of parameters.
    pub params: u16,
    /// The parameter types (2 bytes each) the client bound last, if it ever did.
    pub param_types: Option<Vec<u8>>,
    /// The client has not sent types since the statement was (re-)prepared on this backend:
    /// an EXECUTE with new_params_bound = 0 needs the saved ones injected.
    pub needs_types: bool,
}

/// The statements of one session.
#[derive(Debug, Default)]
pub struct StatementMap {
    next_id: u32,
    by_client_id: HashMap<u32, Statement>,
    last_prepared: Option<u32>,
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

    /// Records a statement prepared on the current backend under `client_id`.
    pub fn insert(&mut self, client_id: u32, sql: Vec<u8>, backend_id: u32, params: u16) {
        self.next_id = client_id;
        self.last_prepared = Some(client_id);
        self.by_client_id.insert(
            client_id,
            Statement {
                sql,
                backend_id: Some(backend_id),
                params,
                param_types: None,
                needs_types: false,
            },
        );
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

    /// Forgets a statement the client closed; returns its backend id if it had one.
    pub fn remove(&mut self, client_id: u32) -> Option<u32> {
        if self.last_prepared == Some(client_id) {
            self.last_prepared = None;
        }
        self.by_client_id
            .remove(&client_id)
            .and_then(|s| s.backend_id)
    }

    /// The backend connection is gone: every statement must be prepared again before use.
    pub fn backend_lost(&mut self) {
        for s in self.by_client_id.values_mut() {
            s.backend_id = None;
        }
    }

    /// Forgets everything (COM_RESET_CONNECTION, COM_CHANGE_USER).
    pub fn clear(&mut self) {
        self.by_client_id.clear();
        self.last_prepared = None;
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
pub fn bound_types(payload: &[u8], params: u16) -> Option<Vec<u8>> {
    let layout = execute_layout(payload, params)?;
    if !layout.types_sent {
        return None;
    }
    let start = layout.bound_flag + 1;
    payload
        .get(start..start + 2 * usize::from(params))
        .map(<[u8]>::to_vec)
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

    fn execute(id: u32, params: u16, types: Option<&[u8]>, values: &[u8]) -> Vec<u8> {
        let mut p = vec![0x17];
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
        assert_eq!(bound_types(&with, 2), Some(types.to_vec()));
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
        m.insert(id, b"SELECT ?".to_vec(), 77, 1);
        assert_eq!(m.resolve(LAST_PREPARED), Some(id));
        assert_eq!(m.resolve(id), Some(id));
        assert_eq!(m.resolve(id + 1), None);
        m.backend_lost();
        assert_eq!(m.get_mut(id).and_then(|s| s.backend_id), None);
        assert_eq!(m.remove(id), None);
        assert!(m.is_empty());
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
}
