//! MariaDB GTIDs (`domain-server-sequence`), the source of myquorum's timestamps.

use std::fmt;
use std::str::FromStr;

/// One MariaDB global transaction id.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Gtid {
    /// Replication domain.
    pub domain: u32,
    /// server_id of the server that committed it.
    pub server_id: u32,
    /// Sequence number within the domain: the timestamp.
    pub seq: u64,
}

/// A string that is not `domain-server-sequence`.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("not a MariaDB GTID: {0:?}")]
pub struct GtidParseError(pub String);

impl FromStr for Gtid {
    type Err = GtidParseError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let bad = || GtidParseError(s.to_owned());
        let mut parts = s.trim().splitn(3, '-');
        let domain = parts.next().and_then(|p| p.parse().ok()).ok_or_else(bad)?;
        let server_id = parts.next().and_then(|p| p.parse().ok()).ok_or_else(bad)?;
        let seq = parts.next().and_then(|p| p.parse().ok()).ok_or_else(bad)?;
        Ok(Self {
            domain,
            server_id,
            seq,
        })
    }
}

impl fmt::Display for Gtid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}-{}-{}", self.domain, self.server_id, self.seq)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_prints() {
        let g: Gtid = "0-1-7".parse().expect("valid");
        assert_eq!(
            g,
            Gtid {
                domain: 0,
                server_id: 1,
                seq: 7
            }
        );
        assert_eq!(g.to_string(), "0-1-7");
    }

    #[test]
    fn rejects_garbage() {
        assert!("".parse::<Gtid>().is_err());
        assert!("0-1".parse::<Gtid>().is_err());
        assert!("a-b-c".parse::<Gtid>().is_err());
    }
}
