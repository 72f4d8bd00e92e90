//! The capability flags the proxy advertises to clients and requests from backends
//! (DESIGN.md section 1, "Capabilities").

use mysql_common::constants::{CapabilityFlags, MariadbCapabilities};

/// Every client capability the proxy implements end to end. The greeting advertises this mask
/// intersected with what the backend offers, plus [`proxy_side`]. Deliberately absent: SSL
/// (added by the handshake only when `[proxy.tls]` is configured: it does not depend on the
/// backend), and the MariaDB extensions that change framing (PROGRESS, STMT_BULK_OPERATIONS,
/// CACHE_METADATA, BULK_UNIT_RESULTS).
pub fn supported() -> CapabilityFlags {
    CapabilityFlags::CLIENT_LONG_PASSWORD
        | CapabilityFlags::CLIENT_FOUND_ROWS
        | CapabilityFlags::CLIENT_LONG_FLAG
        | CapabilityFlags::CLIENT_CONNECT_WITH_DB
        | CapabilityFlags::CLIENT_NO_SCHEMA
        | CapabilityFlags::CLIENT_ODBC
        | CapabilityFlags::CLIENT_LOCAL_FILES
        | CapabilityFlags::CLIENT_IGNORE_SPACE
        | CapabilityFlags::CLIENT_PROTOCOL_41
        | CapabilityFlags::CLIENT_INTERACTIVE
        | CapabilityFlags::CLIENT_IGNORE_SIGPIPE
        | CapabilityFlags::CLIENT_TRANSACTIONS
        | CapabilityFlags::CLIENT_RESERVED
        | CapabilityFlags::CLIENT_SECURE_CONNECTION
        | CapabilityFlags::CLIENT_MULTI_STATEMENTS
        | CapabilityFlags::CLIENT_MULTI_RESULTS
        | CapabilityFlags::CLIENT_PS_MULTI_RESULTS
        | CapabilityFlags::CLIENT_PLUGIN_AUTH
        | CapabilityFlags::CLIENT_CONNECT_ATTRS
        | CapabilityFlags::CLIENT_PLUGIN_AUTH_LENENC_CLIENT_DATA
        | CapabilityFlags::CLIENT_CAN_HANDLE_EXPIRED_PASSWORDS
        | CapabilityFlags::CLIENT_SESSION_TRACK
        | CapabilityFlags::CLIENT_DEPRECATE_EOF
        | CapabilityFlags::CLIENT_REMEMBER_OPTIONS
        | CapabilityFlags::CLIENT_COMPRESS
}

/// Capabilities the proxy implements on the client connection alone, whatever the backend
/// offers: COMPRESS (the [`crate::compress`] layer; backends are never compressed).
pub fn proxy_side() -> CapabilityFlags {
    CapabilityFlags::CLIENT_COMPRESS
}

/// The flags a greeting advertises when the backend offers `server`.
pub fn offered(server: CapabilityFlags) -> CapabilityFlags {
    (server & supported()) | proxy_side()
}

/// MariaDB extended capabilities passed through: only those that change column metadata
/// content, never framing.
pub fn supported_mariadb() -> MariadbCapabilities {
    MariadbCapabilities::MARIADB_CLIENT_EXTENDED_METADATA
}

/// Flags for a backend connection serving a client that negotiated `client`: exactly the
/// client's flags (so both sides frame results the same way) plus what the proxy needs for
/// itself: SESSION_TRACK (to read `last_gtid`) and the modern handshake.
pub fn for_backend(client: CapabilityFlags) -> CapabilityFlags {
    let mut flags = client
        | CapabilityFlags::CLIENT_SESSION_TRACK
        | CapabilityFlags::CLIENT_PROTOCOL_41
        | CapabilityFlags::CLIENT_SECURE_CONNECTION
        | CapabilityFlags::CLIENT_PLUGIN_AUTH
        | CapabilityFlags::CLIENT_PLUGIN_AUTH_LENENC_CLIENT_DATA
        | CapabilityFlags::CLIENT_CONNECT_ATTRS;
    flags.remove(CapabilityFlags::CLIENT_CONNECT_WITH_DB);
    flags.remove(CapabilityFlags::CLIENT_SSL);
    flags.remove(CapabilityFlags::CLIENT_COMPRESS);
    flags
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backend_always_tracks_sessions_and_never_compresses() {
        let f = for_backend(CapabilityFlags::CLIENT_PROTOCOL_41 | CapabilityFlags::CLIENT_COMPRESS);
        assert!(f.contains(CapabilityFlags::CLIENT_SESSION_TRACK));
        assert!(!f.contains(CapabilityFlags::CLIENT_COMPRESS));
        assert!(!f.contains(CapabilityFlags::CLIENT_DEPRECATE_EOF));
    }

    #[test]
    fn mask_excludes_ssl() {
        assert!(!supported().contains(CapabilityFlags::CLIENT_SSL));
    }

    #[test]
    fn compression_offered_even_when_the_backend_lacks_it() {
        let f = offered(CapabilityFlags::CLIENT_PROTOCOL_41);
        assert!(f.contains(CapabilityFlags::CLIENT_COMPRESS));
        assert!(f.contains(CapabilityFlags::CLIENT_PROTOCOL_41));
        assert!(!f.contains(CapabilityFlags::CLIENT_LONG_FLAG));
    }
}
