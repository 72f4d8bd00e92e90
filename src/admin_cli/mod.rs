//! The operator commands `status`, `switchover`, `failover`, `rejoin` and `elect`: thin
//! clients of the control plane's HTTP API (`../shared/API.md`). Each one calls the API,
//! prints a readable summary (or the API's JSON with `--json`) and exits 0 on success, 1 when
//! the API refused (its JSON `message` printed), 3 when it could not be reached.

pub mod client;
mod render;

use std::process::ExitCode;
use std::time::Duration;

use clap::Args;
use serde_json::{json, Value};

use crate::settings::Settings;
pub use client::{ApiClient, ApiError};

/// How to reach the control plane; shared by every operator command.
#[derive(Debug, Clone, Args)]
pub struct ApiArgs {
    /// Control plane URL (`http://host:port`). Default: `control_plane.listen` from the
    /// settings, a wildcard address replaced by loopback. The bearer token is
    /// `control_plane.token` (file or MYQUORUM_CONTROL_PLANE__TOKEN).
    #[arg(long, env = "MYQUORUM_API")]
    pub api: Option<String>,
    /// Print the API's JSON answer instead of the summary.
    #[arg(long)]
    pub json: bool,
    /// Give up on a request after this many seconds.
    #[arg(long, default_value_t = 60)]
    pub timeout_secs: u64,
}

impl ApiArgs {
    /// The client these arguments and `settings` describe.
    pub fn client(&self, settings: &Settings) -> Result<ApiClient, ApiError> {
        let base = self
            .api
            .clone()
            .unwrap_or_else(|| settings.control_plane.listen.clone());
        ApiClient::new(
            &base,
            settings.control_plane.token.clone(),
            Duration::from_secs(self.timeout_secs.max(1)),
        )
    }
}

/// Options of `myquorum status`.
#[derive(Debug, Args)]
pub struct StatusArgs {
    #[command(flatten)]
    pub api: ApiArgs,
}

/// Options of `myquorum switchover`.
#[derive(Debug, Args)]
pub struct SwitchoverArgs {
    /// The healthy replica that becomes the primary (e.g. instance-2).
    #[arg(long)]
    pub to: String,
    #[command(flatten)]
    pub api: ApiArgs,
}

/// Options of `myquorum failover`.
#[derive(Debug, Args)]
pub struct FailoverArgs {
    /// Promote this replica; default: SEER's choice.
    #[arg(long)]
    pub to: Option<String>,
    /// Promote even if the replica misses STRONG-acknowledged writes (the answer lists the
    /// GTIDs that may be lost).
    #[arg(long)]
    pub force: bool,
    /// Replicas SEER must not choose (repeatable; without `--to` only).
    #[arg(long, conflicts_with = "to")]
    pub exclude: Vec<String>,
    #[command(flatten)]
    pub api: ApiArgs,
}

/// Options of `myquorum rejoin`.
#[derive(Debug, Args)]
pub struct RejoinArgs {
    /// The node to start (sandbox) and rejoin as a read-only replica of the primary.
    pub id: String,
    #[command(flatten)]
    pub api: ApiArgs,
}

/// Options of `myquorum elect`.
#[derive(Debug, Args)]
pub struct ElectArgs {
    /// Replicas not to consider (repeatable).
    #[arg(long)]
    pub exclude: Vec<String>,
    #[command(flatten)]
    pub api: ApiArgs,
}

/// `myquorum status`: topology, roles, lag, epoch, quorum and health in one table.
pub async fn status(settings: &Settings, args: StatusArgs) -> ExitCode {
    let api = &args.api;
    run(settings, api, "status", |client| async move {
        let status = client.get("/status").await?;
        let health = client
            .get_accepting("/health", &[reqwest::StatusCode::SERVICE_UNAVAILABLE])
            .await?;
        let metrics = client.get("/metrics").await?;
        // 503 when no quorum can form: shown as such, not a failure of `status`.
        let quorum = match client
            .post("/select-quorum", json!({"operation": "write"}))
            .await
        {
            Ok(q) => q,
            Err(ApiError::Refused { message, .. }) => json!({ "unavailable": message }),
            Err(e) => return Err(e),
        };
        let all = json!({"status": status, "health": health, "metrics": metrics, "quorum": quorum});
        Ok((render::status(&all), all))
    })
    .await
}

/// `myquorum switchover --to ID`: planned, lossless handover (`POST /admin/switchover`).
pub async fn switchover(settings: &Settings, args: SwitchoverArgs) -> ExitCode {
    let to = args.to.clone();
    run(settings, &args.api, "switchover", |client| async move {
        let answer = client
            .post("/admin/switchover", json!({ "to": to }))
            .await?;
        Ok((render::failover("switchover", &answer), answer))
    })
    .await
}

/// `myquorum failover [--to ID] [--force]`: promote a replica now, SEER's choice unless `--to`
/// (`POST /elect-leader {apply: true}` or `POST /admin/promote-leader`).
pub async fn failover(settings: &Settings, args: FailoverArgs) -> ExitCode {
    let FailoverArgs {
        to,
        force,
        exclude,
        api,
    } = args;
    run(settings, &api, "failover", |client| async move {
        let answer = match to {
            Some(to) => {
                client
                    .post(
                        "/admin/promote-leader",
                        json!({"new_leader": to, "force": force}),
                    )
                    .await?
            }
            None => {
                let elected = client
                    .post(
                        "/elect-leader",
                        json!({"apply": true, "force": force, "exclude_replicas": exclude}),
                    )
                    .await?;
                // The SEER answer names the leader; the topology after it comes from /status.
                let status = client.get("/status").await?;
                json!({"elected": elected, "status": status})
            }
        };
        Ok((render::failover("failover", &answer), answer))
    })
    .await
}

/// `myquorum rejoin ID`: start a stopped node (sandbox) and rejoin it as a replica
/// (`POST /admin/start-instance`).
pub async fn rejoin(settings: &Settings, args: RejoinArgs) -> ExitCode {
    let id = args.id.clone();
    run(settings, &args.api, "rejoin", |client| async move {
        let answer = client
            .post("/admin/start-instance", json!({ "instance_id": id }))
            .await?;
        Ok((render::rejoin(&id, &answer), answer))
    })
    .await
}

/// `myquorum elect`: SEER's ranking of the replicas (a dry run: `myquorum failover` applies
/// it).
pub async fn elect(settings: &Settings, args: ElectArgs) -> ExitCode {
    let exclude = args.exclude.clone();
    let api = &args.api;
    let client = match api.client(settings) {
        Ok(c) => c,
        Err(e) => return fail("elect", api.json, &e),
    };
    match client
        .post("/elect-leader", json!({ "exclude_replicas": exclude }))
        .await
    {
        Ok(answer) => {
            emit(api.json, &render::elect(&answer), &answer);
            ExitCode::SUCCESS
        }
        Err(e) => {
            // No eligible candidate (503) still lists every candidate and why.
            if let (false, Some(body)) = (api.json, e.body()) {
                if body.get("candidates").is_some() {
                    print!("{}", render::elect(body));
                }
            }
            fail("elect", api.json, &e)
        }
    }
}

/// Runs one command's calls; prints the summary (or JSON) on success, the error on failure.
async fn run<F, Fut>(settings: &Settings, api: &ApiArgs, name: &str, calls: F) -> ExitCode
where
    F: FnOnce(ApiClient) -> Fut,
    Fut: std::future::Future<Output = Result<(String, Value), ApiError>>,
{
    let client = match api.client(settings) {
        Ok(c) => c,
        Err(e) => return fail(name, api.json, &e),
    };
    match calls(client).await {
        Ok((text, json)) => {
            emit(api.json, &text, &json);
            ExitCode::SUCCESS
        }
        Err(e) => fail(name, api.json, &e),
    }
}

fn emit(json: bool, text: &str, value: &Value) {
    if json {
        println!(
            "{}",
            serde_json::to_string_pretty(value).unwrap_or_else(|_| value.to_string())
        );
    } else {
        print!("{text}");
    }
}

/// Prints the failure (and, with `--json`, the API's error body on stdout) and returns the
/// exit code.
fn fail(name: &str, json: bool, error: &ApiError) -> ExitCode {
    eprintln!("myquorum {name}: {error}");
    if json {
        if let Some(body) = error.body() {
            println!("{body}");
        }
    }
    ExitCode::from(error.exit_code())
}
