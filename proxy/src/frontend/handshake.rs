//! The server greeting and client authentication (mysql_native_password, with an
//! AuthSwitchRequest for clients that open with another plugin such as caching_sha2_password),
//! switching to TLS first when the client sends an SSLRequest (see [`crate::tls`]).

use mysql_common::constants::{CapabilityFlags, MariadbCapabilities, StatusFlags};
use mysql_common::io::ParseBuf;
use mysql_common::packets::{AuthSwitchRequest, HandshakePacket, HandshakeResponse};
use mysql_common::proto::{MyDeserialize, MySerialize};
use mysql_common::scramble::scramble_native;
use rand::Rng;
use std::collections::HashMap;
use std::net::IpAddr;

use super::ClientIo;
use crate::backend::ServerInfo;
use crate::capabilities;
use crate::config::UserConfig;
use crate::error::{MysqlError, SessionError};
use crate::limits::LoginThrottle;
use crate::packet::{err_payload, ByteStream, PacketIo, ReadError};
use crate::tls::ServerTls;

pub(crate) const NATIVE: &[u8] = b"mysql_native_password";

/// What an authenticated client negotiated.
#[derive(Debug, Clone)]
pub struct ClientHello {
    /// The authenticated account.
    pub user: UserConfig,
    /// Database named in the handshake, if any.
    pub database: Option<Vec<u8>>,
    /// Flags both sides support (client's request ∩ our greeting).
    pub capabilities: CapabilityFlags,
    /// MariaDB extended flags both sides support.
    pub mariadb_capabilities: MariadbCapabilities,
    /// Collation id the client chose.
    pub collation: u8,
    /// Connection attributes the client sent (forwarded to backends).
    pub attrs: HashMap<String, String>,
    /// Sequence id for the packet that answers the login (OK or ERR).
    pub next_seq: u8,
}

/// Outcome of the handshake.
#[derive(Debug)]
pub enum Login {
    /// The client proved its password.
    Accepted(ClientHello),
    /// Refused; the ERR packet was sent.
    Refused,
}

/// What a login is checked against: the same for the MySQL and admin ports but for the
/// accounts.
#[derive(Clone, Copy)]
pub struct Door<'a> {
    /// The primary's facts the greeting repeats (version, capabilities, collation).
    pub server: &'a ServerInfo,
    /// Appended to the server's version in the greeting.
    pub version_suffix: &'a str,
    /// The accounts this port accepts.
    pub users: &'a [UserConfig],
    /// TLS, when configured.
    pub tls: Option<&'a ServerTls>,
    /// Failed-login throttle per client IP.
    pub throttle: &'a LoginThrottle,
}

/// [`authenticate`] bounded by `limit` (the login deadline of both ports): a client that never
/// answers the greeting, or stalls mid-auth, holds its socket and task only this long.
pub async fn authenticate_within(
    io: &mut ClientIo,
    connection_id: u32,
    peer: IpAddr,
    door: Door<'_>,
    limit: std::time::Duration,
) -> Result<Login, SessionError> {
    tokio::time::timeout(limit, authenticate(io, connection_id, peer, door))
        .await
        .unwrap_or(Err(SessionError::HandshakeTimeout))
}

/// Greets the client, switches to TLS if it asks (and `door.tls` is configured), reads its
/// response and checks its password (unless the throttle says `peer` has failed too often)
/// and the TLS policy (`require_tls`, `require_ssl`).
pub async fn authenticate(
    io: &mut ClientIo,
    connection_id: u32,
    peer: IpAddr,
    door: Door<'_>,
) -> Result<Login, SessionError> {
    let Door {
        server,
        version_suffix,
        users,
        tls,
        throttle,
    } = door;
    let salt = new_salt();
    let mut offered = capabilities::offered(server.capabilities);
    if tls.is_some() {
        offered |= CapabilityFlags::CLIENT_SSL;
    }
    let offered_ext = server.mariadb_capabilities & capabilities::supported_mariadb();
    let mut scramble_2 = salt[8..].to_vec();
    scramble_2.push(0);
    let mut version = server.version.clone();
    version.push_str(version_suffix);
    let greeting = HandshakePacket::new(
        10,
        version.into_bytes(),
        connection_id,
        salt[..8].try_into().unwrap_or([1; 8]),
        Some(scramble_2),
        offered,
        server.collation,
        StatusFlags::SERVER_STATUS_AUTOCOMMIT,
        Some(NATIVE),
    )
    .with_mariadb_ext_capabilities(offered_ext);
    let mut buf = Vec::with_capacity(128);
    greeting.serialize(&mut buf);
    io.send_packet(0, &buf)
        .await
        .map_err(SessionError::ClientGone)?;

    let mut packet = read(io).await?;
    if let Some(tls) = tls.filter(|_| is_ssl_request(&packet.payload)) {
        let already_read = io.rbuf.split().freeze();
        io.stream_mut()
            .get_mut()
            .start_tls(tls, already_read)
            .await
            .map_err(SessionError::ClientGone)?;
        packet = read(io).await?;
    }
    let secure = io.stream().get_ref().is_tls();
    let response = HandshakeResponse::deserialize((), &mut ParseBuf(&packet.payload))
        .map_err(|e| SessionError::ClientProtocol(format!("handshake response: {e}")))?;
    let negotiated = response.capabilities() & offered;
    if !negotiated.contains(CapabilityFlags::CLIENT_PROTOCOL_41) {
        return Err(SessionError::ClientProtocol(
            "client lacks CLIENT_PROTOCOL_41".to_owned(),
        ));
    }
    let user_name = String::from_utf8_lossy(response.user()).into_owned();
    let mut seq = packet.next_seq();
    let mut proof = response.scramble_buf().to_vec();
    let plugin = response.auth_plugin().map(|p| p.as_bytes().to_vec());
    if plugin.as_deref().is_some_and(|p| p != NATIVE) {
        let switch = AuthSwitchRequest::new(NATIVE, scramble_2_with_salt(&salt));
        let mut buf = Vec::new();
        switch.serialize(&mut buf);
        io.send_packet(seq, &buf)
            .await
            .map_err(SessionError::ClientGone)?;
        let answer = read(io).await?;
        seq = answer.next_seq();
        proof = answer.payload.to_vec();
    }
    // An IP out of failed logins gets no verdict on its password (parallel connections
    // cannot multiply its guesses); every failure spends one.
    if throttle.blocked(peer) {
        let e = MysqlError::host_blocked(&peer.to_string());
        io.send_packet(seq, &err_payload(e.code, e.state, &e.message))
            .await
            .map_err(SessionError::ClientGone)?;
        return Ok(Login::Refused);
    }
    let Some(user) = users
        .iter()
        .find(|u| u.name.as_bytes() == response.user())
        .filter(|u| password_matches(&salt, &u.password, &proof))
        .filter(|u| secure || !(u.require_ssl || tls.is_some_and(|t| t.require)))
    else {
        throttle.failed(peer);
        let e = MysqlError::access_denied(&user_name, &peer.to_string(), !proof.is_empty());
        io.send_packet(seq, &err_payload(e.code, e.state, &e.message))
            .await
            .map_err(SessionError::ClientGone)?;
        return Ok(Login::Refused);
    };
    let ext = if negotiated.contains(CapabilityFlags::CLIENT_LONG_PASSWORD) {
        MariadbCapabilities::empty()
    } else {
        response.mariadb_ext_capabilities() & offered_ext
    };
    Ok(Login::Accepted(ClientHello {
        user: user.clone(),
        database: response
            .db_name()
            .filter(|d| !d.is_empty())
            .map(<[u8]>::to_vec),
        capabilities: negotiated,
        mariadb_capabilities: ext,
        collation: response.collation(),
        attrs: response.connect_attributes().unwrap_or_default(),
        next_seq: seq,
    }))
}

/// An SSLRequest: the first 32 bytes of a handshake response (capabilities with CLIENT_SSL,
/// max packet, collation, filler) and nothing else.
fn is_ssl_request(payload: &[u8]) -> bool {
    let Some(flags) = payload.get(..4) else {
        return false;
    };
    let flags = u32::from_le_bytes([flags[0], flags[1], flags[2], flags[3]]);
    payload.len() == 32
        && CapabilityFlags::from_bits_truncate(flags).contains(CapabilityFlags::CLIENT_SSL)
}

async fn read<S: ByteStream>(io: &mut PacketIo<S>) -> Result<crate::packet::Packet, SessionError> {
    io.read_packet(64 * 1024).await.map_err(|e| match e {
        ReadError::Io(e) => SessionError::ClientGone(e),
        ReadError::TooLarge(_) => {
            SessionError::ClientProtocol("oversized handshake packet".to_owned())
        }
    })
}

/// 20 random bytes in 1..=127: no NUL, which would end the salt early for some clients.
pub(crate) fn new_salt() -> [u8; 20] {
    let mut rng = rand::rng();
    let mut salt = [0u8; 20];
    for b in &mut salt {
        *b = rng.random_range(1..=127);
    }
    salt
}

pub(crate) fn scramble_2_with_salt(salt: &[u8; 20]) -> Vec<u8> {
    let mut data = salt.to_vec();
    data.push(0);
    data
}

/// mysql_native_password check: the client sends SHA1(pw) XOR SHA1(salt + SHA1(SHA1(pw))).
pub(crate) fn password_matches(salt: &[u8], password: &str, proof: &[u8]) -> bool {
    match scramble_native(salt, password.as_bytes()) {
        Some(expected) => constant_time_eq(&expected, proof),
        None => proof.is_empty(),
    }
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn native_password_check() {
        let salt = new_salt();
        let proof = scramble_native(&salt, b"secret").expect("non-empty");
        assert!(password_matches(&salt, "secret", &proof));
        assert!(!password_matches(&salt, "other", &proof));
        assert!(password_matches(&salt, "", &[]));
        assert!(!password_matches(&salt, "secret", &[]));
    }

    /// mysql_common's own SslRequest is recognised; a full handshake response is not.
    #[test]
    fn ssl_request_is_recognised() {
        let flags = CapabilityFlags::CLIENT_PROTOCOL_41 | CapabilityFlags::CLIENT_SSL;
        let mut ssl = Vec::new();
        mysql_common::packets::SslRequest::new(flags, 1 << 24, 45).serialize(&mut ssl);
        assert!(is_ssl_request(&ssl));
        let mut longer = ssl.clone();
        longer.extend_from_slice(b"app\0");
        assert!(!is_ssl_request(&longer));
        let plain = CapabilityFlags::CLIENT_PROTOCOL_41;
        let mut buf = Vec::new();
        mysql_common::packets::SslRequest::new(plain, 1 << 24, 45).serialize(&mut buf);
        assert!(!is_ssl_request(&buf));
        assert!(!is_ssl_request(&[]));
    }

    #[test]
    fn salt_has_no_nul() {
        for _ in 0..100 {
            assert!(new_salt().iter().all(|b| (1..=127).contains(b)));
        }
    }
}
