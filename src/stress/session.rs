//! One client session of `myquorum stress`, over the proxy's MySQL port (mysql_async) or the
//! control plane's `POST /query`: the same statements either way, each with the timestamp the
//! proxy gives its writes (the GTID sequence number of the commit).

use std::time::Duration;

use mysql_async::prelude::Queryable;
use mysql_async::{Conn, Opts, OptsBuilder, Value as SqlValue};
use serde_json::{json, Value};

use crate::admin_cli::{ApiClient, ApiError};

/// Where a scenario's statements go.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Target {
    /// The proxy's MySQL port.
    Mysql,
    /// The control plane's `POST /query`.
    Http,
}

impl Target {
    /// The name used in tables and JSON.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Mysql => "mysql",
            Self::Http => "http",
        }
    }
}

/// A consistency level, as the proxy names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, serde::Serialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum Level {
    /// Replica reads, writes answered at once.
    Eventual,
    /// Writes wait for a Cabinet quorum, reads on the primary.
    Strong,
    /// Reads see every acknowledged write.
    Causal,
}

impl Level {
    /// `EVENTUAL`, `STRONG`, `CAUSAL`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Eventual => "EVENTUAL",
            Self::Strong => "STRONG",
            Self::Causal => "CAUSAL",
        }
    }

    /// Every level, in the order reports list them.
    pub const ALL: [Level; 3] = [Level::Eventual, Level::Causal, Level::Strong];
}

/// A statement that failed (counted by message in the reports).
#[derive(Debug, thiserror::Error)]
pub enum OpError {
    /// The MySQL port answered an error or the connection broke.
    #[error("{0}")]
    Mysql(#[from] mysql_async::Error),
    /// The control plane refused or could not be reached.
    #[error("{0}")]
    Api(#[from] ApiError),
    /// No answer within the per-statement timeout.
    #[error("no answer within {0:?}")]
    Timeout(Duration),
    /// An answer without what the statement should have returned.
    #[error("unexpected answer: {0}")]
    Unexpected(String),
}

impl OpError {
    /// A short form for counting errors by kind (no row-specific text).
    pub fn kind(&self) -> String {
        let text = match self {
            Self::Mysql(mysql_async::Error::Server(e)) => format!("{} ({})", e.code, e.state),
            Self::Api(ApiError::Refused { status, .. }) => format!("HTTP {}", status.as_u16()),
            Self::Api(ApiError::Unreachable { .. }) => "HTTP unreachable".to_owned(),
            other => other.to_string(),
        };
        let mut text: String = text.chars().take(80).collect();
        if let Self::Mysql(mysql_async::Error::Server(e)) = self {
            text.push_str(": ");
            text.extend(e.message.chars().take(100));
        }
        text
    }
}

/// How to reach the proxy, shared by every session of a run.
#[derive(Debug, Clone)]
pub struct Endpoints {
    /// The MySQL port's connection options (user, password, database).
    pub mysql: Opts,
    /// The control plane.
    pub api: ApiClient,
    /// Longest wait for one statement.
    pub op_timeout: Duration,
}

/// An open session at one level.
pub enum Session {
    /// A MySQL-port connection whose session level is set.
    Mysql {
        /// The connection.
        conn: Box<Conn>,
        /// Longest wait for one statement.
        timeout: Duration,
    },
    /// `/query` requests at one level (CAUSAL reads wait for the session's last write).
    Http {
        /// The control plane.
        api: ApiClient,
        /// Level sent with every request.
        level: Level,
        /// Timestamp of this session's last write (CAUSAL reads pass it on).
        last_write: Option<u64>,
    },
}

impl Session {
    /// Opens a session on `target` at `level`.
    pub async fn open(ep: &Endpoints, target: Target, level: Level) -> Result<Session, OpError> {
        match target {
            Target::Mysql => {
                let opts = OptsBuilder::from_opts(ep.mysql.clone()).init(vec![format!(
                    "SET myquorum_consistency = '{}'",
                    level.as_str()
                )]);
                let conn = within(ep.op_timeout, async {
                    Conn::new(opts).await.map_err(OpError::from)
                })
                .await?;
                Ok(Session::Mysql {
                    conn: Box::new(conn),
                    timeout: ep.op_timeout,
                })
            }
            Target::Http => Ok(Session::Http {
                api: ep.api.clone(),
                level,
                last_write: None,
            }),
        }
    }

    /// Runs a write; its timestamp (the commit's GTID sequence number; None when it changed
    /// nothing). Over the MySQL port the server's `@@last_gtid` is read in the same
    /// round trip (a multi-statement, which the proxy runs on the primary as one write).
    pub async fn write(&mut self, sql: &str) -> Result<Option<u64>, OpError> {
        match self {
            Session::Mysql { conn, timeout } => {
                let text = format!("{sql}; SELECT @@last_gtid");
                let rows = within(*timeout, async {
                    let mut result = conn.query_iter(text).await?;
                    let mut values: Vec<Option<String>> = Vec::new();
                    while !result.is_empty() {
                        values.extend(result.collect::<Option<String>>().await?);
                    }
                    Ok::<_, OpError>(values)
                })
                .await?;
                Ok(rows.into_iter().flatten().find_map(|g| gtid_seq(&g)))
            }
            Session::Http {
                api,
                level,
                last_write,
            } => {
                let answer = api
                    .post(
                        "/query",
                        json!({"query": sql, "consistency": level.as_str()}),
                    )
                    .await?;
                let ts = answer.get("timestamp").and_then(Value::as_u64);
                if ts.is_some() {
                    *last_write = ts;
                }
                Ok(ts)
            }
        }
    }

    /// Runs a read; its rows as JSON objects (column -> value as text or number).
    pub async fn read(&mut self, sql: &str) -> Result<Vec<Value>, OpError> {
        match self {
            Session::Mysql { conn, timeout } => {
                let rows: Vec<mysql_async::Row> = within(*timeout, async {
                    conn.query(sql).await.map_err(OpError::from)
                })
                .await?;
                Ok(rows.into_iter().map(row_json).collect())
            }
            Session::Http {
                api,
                level,
                last_write,
            } => {
                let mut body = json!({"query": sql, "consistency": level.as_str()});
                if let (Level::Causal, Some(ts)) = (level, last_write) {
                    body["after_timestamp"] = json!(ts);
                }
                let answer = api.post("/query", body).await?;
                match answer.get("data").and_then(Value::as_array) {
                    Some(rows) => Ok(rows.clone()),
                    None => Err(OpError::Unexpected(format!("no data in {answer}"))),
                }
            }
        }
    }

    /// Runs `SELECT COUNT(*) AS n ...`; the count.
    pub async fn count(&mut self, sql: &str) -> Result<u64, OpError> {
        let rows = self.read(sql).await?;
        rows.first()
            .and_then(|r| r.get("n"))
            .and_then(|n| {
                n.as_u64()
                    .or_else(|| n.as_str().and_then(|s| s.parse().ok()))
            })
            .ok_or_else(|| OpError::Unexpected(format!("no count `n` in {rows:?}")))
    }

    /// Closes a MySQL-port connection politely (HTTP sessions hold nothing).
    pub async fn close(self) {
        if let Session::Mysql { conn, .. } = self {
            let _ = conn.disconnect().await;
        }
    }
}

/// The sequence number of a GTID `domain-server-seq`.
pub fn gtid_seq(gtid: &str) -> Option<u64> {
    gtid.rsplit('-').next().and_then(|s| s.trim().parse().ok())
}

fn row_json(row: mysql_async::Row) -> Value {
    let columns = row.columns();
    let mut object = serde_json::Map::new();
    for (i, column) in columns.iter().enumerate() {
        let value = match row.as_ref(i) {
            Some(SqlValue::Int(v)) => json!(v),
            Some(SqlValue::UInt(v)) => json!(v),
            Some(SqlValue::Bytes(b)) => json!(String::from_utf8_lossy(b)),
            Some(SqlValue::NULL) | None => Value::Null,
            Some(other) => json!(other.as_sql(true)),
        };
        object.insert(column.name_str().into_owned(), value);
    }
    Value::Object(object)
}

async fn within<T>(
    limit: Duration,
    fut: impl std::future::Future<Output = Result<T, OpError>>,
) -> Result<T, OpError> {
    tokio::time::timeout(limit, fut)
        .await
        .map_err(|_| OpError::Timeout(limit))?
}

#[cfg(test)]
mod tests {
    #[test]
    fn gtid_sequence_numbers() {
        assert_eq!(super::gtid_seq("0-1-42"), Some(42));
        assert_eq!(super::gtid_seq(""), None);
        assert_eq!(super::gtid_seq("0-1-x"), None);
    }
}
