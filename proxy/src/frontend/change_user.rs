//! COM_CHANGE_USER: re-authenticate (always through an AuthSwitchRequest with a fresh salt,
//! so every client plugin ends up on mysql_native_password), then start the session over
//! as the new user: new backend connection key, statements and settings forgotten.

use mysql_common::io::ParseBuf;
use mysql_common::packets::AuthSwitchRequest;
use mysql_common::proto::MySerialize;

use super::handshake::{new_salt, password_matches, scramble_2_with_salt, NATIVE};
use super::session::Session;
use crate::error::{MysqlError, SessionError};
use crate::packet::{err_payload, Packet, ReadError};

/// The parts of COM_CHANGE_USER the proxy uses.
#[derive(Debug, Clone, PartialEq, Eq)]
struct ChangeUser {
    user: Vec<u8>,
    database: Option<Vec<u8>>,
    collation: Option<u16>,
}

/// A NUL-terminated string (None when no NUL follows).
fn null_str<'a>(buf: &mut ParseBuf<'a>) -> Option<&'a [u8]> {
    let end = buf.0.iter().position(|&b| b == 0)?;
    let s = buf.checked_eat(end)?;
    buf.checked_skip(1);
    Some(s)
}

fn parse(payload: &[u8]) -> Option<ChangeUser> {
    let mut buf = ParseBuf(payload.get(1..)?);
    let user = null_str(&mut buf)?.to_vec();
    let auth_len = usize::from(buf.checked_eat_u8()?);
    buf.checked_skip(auth_len).then_some(())?;
    let database = null_str(&mut buf)
        .map(<[u8]>::to_vec)
        .filter(|d| !d.is_empty());
    let collation = buf.checked_eat_u16_le();
    Some(ChangeUser {
        user,
        database,
        collation,
    })
}

impl Session {
    /// Serves COM_CHANGE_USER. A failed authentication closes the connection, as the server
    /// does.
    pub(super) async fn change_user(&mut self, packet: &Packet) -> Result<(), SessionError> {
        let request = parse(&packet.payload)
            .ok_or_else(|| SessionError::ClientProtocol("malformed COM_CHANGE_USER".to_owned()))?;
        let salt = new_salt();
        let mut switch = Vec::new();
        AuthSwitchRequest::new(NATIVE, scramble_2_with_salt(&salt)).serialize(&mut switch);
        self.io
            .send_packet(packet.next_seq(), &switch)
            .await
            .map_err(SessionError::ClientGone)?;
        let answer = self.io.read_packet(64 * 1024).await.map_err(|e| match e {
            ReadError::Io(e) => SessionError::ClientGone(e),
            ReadError::TooLarge(_) => {
                SessionError::ClientProtocol("oversized auth answer".to_owned())
            }
        })?;
        let seq = answer.next_seq();
        let ip = self.registration_peer().parse().ok();
        if let Some(ip) = ip.filter(|ip| self.shared.limits.host_blocked(*ip)) {
            self.send_err(seq, &MysqlError::host_blocked(&ip.to_string()))
                .await?;
            return Err(SessionError::ClientProtocol(
                "COM_CHANGE_USER from a throttled host".to_owned(),
            ));
        }
        let user = self
            .shared
            .config
            .users
            .iter()
            .find(|u| u.name.as_bytes() == request.user.as_slice())
            .filter(|u| password_matches(&salt, &u.password, &answer.payload))
            .cloned();
        let Some(user) = user else {
            if let Some(ip) = ip {
                self.shared.limits.throttle().failed(ip);
            }
            let e = MysqlError::access_denied(
                &String::from_utf8_lossy(&request.user),
                &self.registration_peer(),
                !answer.payload.is_empty(),
            );
            self.io
                .send_packet(seq, &err_payload(e.code, e.state, &e.message))
                .await
                .map_err(SessionError::ClientGone)?;
            return Err(SessionError::ClientProtocol(
                "COM_CHANGE_USER authentication failed".to_owned(),
            ));
        };
        if user.name != self.hello.user.name {
            // The session now counts against the new user's `max_user_connections`.
            let Some(slot) = self.shared.limits.admit_user(&user.name) else {
                let e = MysqlError::too_many_user_connections(&user.name);
                self.send_err(seq, &e).await?;
                return Err(SessionError::ClientProtocol(
                    "COM_CHANGE_USER over max_user_connections".to_owned(),
                ));
            };
            self.user_slot = slot;
        }
        self.release_backends();
        self.forget_session_state();
        self.set_database(None);
        if let Some(c) = request.collation.and_then(|c| u8::try_from(c).ok()) {
            self.hello.collation = c;
        }
        self.shared.registry.set_user(self.id, &user.name);
        self.hello.user = user;
        if self.attach_with_database(seq, request.database).await? {
            self.send_ok(seq).await?;
        }
        Ok(())
    }

    fn registration_peer(&self) -> String {
        self.shared
            .registry
            .get(self.id)
            .map(|s| s.peer.ip().to_string())
            .unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use mysql_common::constants::Command;

    #[test]
    fn parses_user_db_and_charset() {
        let mut p = vec![Command::COM_CHANGE_USER as u8];
        p.extend_from_slice(b"app\0");
        p.push(3);
        p.extend_from_slice(&[1, 2, 3]);
        p.extend_from_slice(b"app\0");
        p.extend_from_slice(&45u16.to_le_bytes());
        p.extend_from_slice(b"mysql_native_password\0");
        assert_eq!(
            parse(&p),
            Some(ChangeUser {
                user: b"app".to_vec(),
                database: Some(b"app".to_vec()),
                collation: Some(45),
            })
        );
        assert_eq!(parse(&[Command::COM_CHANGE_USER as u8]), None);
    }
}
