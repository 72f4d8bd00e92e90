//! `myquorum stress`: the old `stress_test.py` scenarios as one command of the binary. It is
//! a client only: statements go to the proxy's MySQL port (mysql_async) or to the control
//! plane's `/query`, topology and failover through the HTTP API; the `lag` scenario alone
//! also logs in to one replica (as the control user) to pause its SQL thread.
//! Every scenario is bounded by `--count` or `--duration` and stops by itself; a progress
//! bar runs on stderr, the summary (or `--json`) goes to stdout, and the exit code is 1 when
//! a scenario's check failed.

mod concurrent;
mod failover;
mod lag;
mod performance;
mod read_after_write;
pub mod session;
pub mod stats;

use std::process::ExitCode;
use std::time::Duration;

use clap::{Args, ValueEnum};
use indicatif::{ProgressBar, ProgressStyle};
use mysql_async::OptsBuilder;
use serde_json::{json, Value};

use crate::admin_cli::ApiArgs;
use crate::settings::Settings;
use session::{Endpoints, Level, OpError, Session, Target};

/// A scenario of `myquorum stress`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Scenario {
    /// Concurrent writes; checks every acknowledged row exists and timestamps are unique and
    /// in commit order.
    Concurrent,
    /// Pauses one replica's SQL thread under STRONG writes: its lag and the Cabinet quorum.
    Lag,
    /// Stops the primary under write load (sandbox): time to the first successful write,
    /// errors, rows lost.
    Failover,
    /// Throughput and latency percentiles per level and target (30/70 write/read mix).
    Performance,
    /// Write then read back at once: stale reads per level.
    ReadAfterWrite,
    /// Every scenario above, failover last.
    All,
}

/// Which side of the proxy a scenario drives.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum TargetArg {
    /// The MySQL port.
    Mysql,
    /// HTTP `/query`.
    Http,
    /// Both, one after the other.
    Both,
}

/// A level, or all three.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LevelArg {
    /// EVENTUAL.
    Eventual,
    /// STRONG.
    Strong,
    /// CAUSAL.
    Causal,
    /// EVENTUAL, CAUSAL and STRONG, one after the other.
    All,
}

/// Options of `myquorum stress`.
#[derive(Debug, Args)]
pub struct StressArgs {
    /// What to run.
    #[arg(value_enum)]
    pub scenario: Scenario,
    /// Operations (or trials) per target and level.
    #[arg(long, default_value_t = 200)]
    pub count: u64,
    /// Concurrent client sessions.
    #[arg(long, default_value_t = 8)]
    pub concurrency: usize,
    /// Seconds: `performance` runs this long per target and level instead of `--count`;
    /// `lag` pauses the replica this long (default 5); `failover` keeps writing this long
    /// (default 10).
    #[arg(long)]
    pub duration: Option<u64>,
    /// Consistency level (default: STRONG for concurrent, lag and failover; all three for
    /// performance and read-after-write).
    #[arg(long, value_enum)]
    pub level: Option<LevelArg>,
    /// Where statements go (default: both; lag and failover use the MySQL port).
    #[arg(long, value_enum, default_value = "both")]
    pub target: TargetArg,
    /// The proxy's MySQL port. Default: `listen.mysql` from the settings.
    #[arg(long)]
    pub mysql: Option<String>,
    /// MySQL user. Default: the sandbox's application user.
    #[arg(long)]
    pub user: Option<String>,
    /// MySQL password. Default: the sandbox's application password
    /// (or MYQUORUM_STRESS_PASSWORD).
    #[arg(long, env = "MYQUORUM_STRESS_PASSWORD", hide_env_values = true)]
    pub password: Option<String>,
    /// Database holding the demo `users` table. Default: the sandbox's application database.
    #[arg(long)]
    pub database: Option<String>,
    /// Longest wait for one statement (seconds).
    #[arg(long, default_value_t = 30)]
    pub op_timeout_secs: u64,
    #[command(flatten)]
    pub api: ApiArgs,
}

/// What every scenario shares.
pub struct Ctx {
    ep: Endpoints,
    /// Distinguishes this run's rows (`stress-<run>-...`).
    run: String,
    count: u64,
    concurrency: usize,
    duration: Option<Duration>,
    show_progress: bool,
    /// The control user (the `lag` scenario pauses a replica with it).
    control: (String, String),
}

impl Ctx {
    /// A progress bar on stderr (hidden with `--json` or when stderr is not a terminal).
    fn bar(&self, len: u64, label: &str) -> ProgressBar {
        if !self.show_progress {
            return ProgressBar::hidden();
        }
        let bar = ProgressBar::new(len);
        if let Ok(style) =
            ProgressStyle::with_template("{prefix:36} [{bar:30}] {pos}/{len} {elapsed}")
        {
            bar.set_style(style.progress_chars("=> "));
        }
        bar.set_prefix(label.to_owned());
        bar
    }
}

/// One scenario's outcome.
pub struct ScenarioReport {
    scenario: &'static str,
    failures: Vec<String>,
    results: Vec<Value>,
    extra: Value,
    text: String,
}

impl ScenarioReport {
    fn new(scenario: &'static str) -> Self {
        Self {
            scenario,
            failures: Vec::new(),
            results: Vec::new(),
            extra: Value::Null,
            text: String::new(),
        }
    }

    fn fail(&mut self, why: String) {
        self.failures.push(why);
    }

    fn push_result(&mut self, result: Value) {
        self.results.push(result);
    }

    fn passed(&self) -> bool {
        self.failures.is_empty()
    }

    fn json(&self) -> Value {
        let mut v = json!({
            "scenario": self.scenario,
            "passed": self.passed(),
            "failures": self.failures,
            "results": self.results,
        });
        if let Value::Object(extra) = &self.extra {
            for (k, x) in extra {
                v[k] = x.clone();
            }
        }
        v
    }
}

/// Runs `myquorum stress`.
pub async fn run(settings: &Settings, args: StressArgs) -> ExitCode {
    let api = match args.api.client(settings) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("myquorum stress: {e}");
            return ExitCode::from(e.exit_code());
        }
    };
    let mysql_addr = args
        .mysql
        .clone()
        .unwrap_or_else(|| settings.listen.mysql.clone());
    let (host, port) = match mysql_addr
        .rsplit_once(':')
        .and_then(|(h, p)| Some((h, p.parse::<u16>().ok()?)))
    {
        Some((h, p)) => (h.trim_matches(['[', ']']).to_owned(), p),
        None => {
            eprintln!("myquorum stress: --mysql {mysql_addr:?} is not host:port");
            return ExitCode::from(2);
        }
    };
    let host = if host == "0.0.0.0" {
        "127.0.0.1".to_owned()
    } else {
        host
    };
    let sandbox = &settings.sandbox;
    let opts = OptsBuilder::default()
        .ip_or_hostname(host)
        .tcp_port(port)
        .user(Some(
            args.user
                .clone()
                .unwrap_or_else(|| sandbox.app_user.clone()),
        ))
        .pass(Some(
            args.password
                .clone()
                .unwrap_or_else(|| sandbox.app_password.clone()),
        ))
        .db_name(Some(
            args.database
                .clone()
                .unwrap_or_else(|| sandbox.app_database.clone()),
        ))
        .prefer_socket(false);
    let ctx = Ctx {
        ep: Endpoints {
            mysql: opts.into(),
            api,
            op_timeout: Duration::from_secs(args.op_timeout_secs.max(1)),
        },
        run: run_id(),
        count: args.count.max(1),
        concurrency: args.concurrency.clamp(1, 1024),
        duration: args.duration.map(Duration::from_secs),
        show_progress: !args.api.json,
        control: (
            settings.proxy.control_user.clone(),
            settings.proxy.control_password.clone(),
        ),
    };
    // Nothing can run if the MySQL port refuses us: say so once, clearly.
    match Session::open(&ctx.ep, Target::Mysql, Level::Strong).await {
        Ok(s) => s.close().await,
        Err(e) => {
            eprintln!("myquorum stress: cannot log in to the MySQL port {mysql_addr}: {e}");
            return ExitCode::from(3);
        }
    }
    let targets: Vec<Target> = match args.target {
        TargetArg::Mysql => vec![Target::Mysql],
        TargetArg::Http => vec![Target::Http],
        TargetArg::Both => vec![Target::Mysql, Target::Http],
    };
    let levels = |default: &[Level]| -> Vec<Level> {
        match args.level {
            None => default.to_vec(),
            Some(LevelArg::All) => Level::ALL.to_vec(),
            Some(LevelArg::Eventual) => vec![Level::Eventual],
            Some(LevelArg::Strong) => vec![Level::Strong],
            Some(LevelArg::Causal) => vec![Level::Causal],
        }
    };
    let single = |levels: Vec<Level>| levels.first().copied().unwrap_or(Level::Strong);
    let scenarios = match args.scenario {
        Scenario::All => vec![
            Scenario::Concurrent,
            Scenario::ReadAfterWrite,
            Scenario::Performance,
            Scenario::Lag,
            Scenario::Failover,
        ],
        one => vec![one],
    };
    let mut reports = Vec::new();
    for scenario in scenarios {
        let report = match scenario {
            Scenario::Concurrent => {
                concurrent::run(&ctx, &targets, &levels(&[Level::Strong])).await
            }
            Scenario::ReadAfterWrite => {
                read_after_write::run(&ctx, &targets, &levels(&Level::ALL)).await
            }
            Scenario::Performance => performance::run(&ctx, &targets, &levels(&Level::ALL)).await,
            Scenario::Lag => lag::run(&ctx, single(levels(&[Level::Strong]))).await,
            Scenario::Failover => failover::run(&ctx, single(levels(&[Level::Strong]))).await,
            Scenario::All => continue,
        };
        if !args.api.json {
            print!("\n== {} ==\n{}", report.scenario, report.text);
            for f in &report.failures {
                println!("FAILED: {f}");
            }
        }
        reports.push(report);
    }
    let passed = reports.iter().all(ScenarioReport::passed);
    if args.api.json {
        let all = json!({
            "run": ctx.run,
            "passed": passed,
            "concurrency": ctx.concurrency,
            "count": ctx.count,
            "scenarios": reports.iter().map(ScenarioReport::json).collect::<Vec<_>>(),
        });
        println!(
            "{}",
            serde_json::to_string_pretty(&all).unwrap_or_else(|_| all.to_string())
        );
    } else {
        println!(
            "\n{}",
            if passed {
                "all checks passed"
            } else {
                "SOME CHECKS FAILED"
            }
        );
    }
    if passed {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    }
}

/// A short id, unique enough to keep concurrent runs' rows apart.
fn run_id() -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    format!(
        "{:x}{:x}",
        (nanos / 1000) as u64 & 0xff_ffff_ffff,
        std::process::id() & 0xfff
    )
}

/// The session of a worker, opened (again) when there is none.
async fn ensure<'a>(
    session: &'a mut Option<Session>,
    ep: &Endpoints,
    target: Target,
    level: Level,
) -> Result<&'a mut Session, OpError> {
    if session.is_none() {
        *session = Some(Session::open(ep, target, level).await?);
    }
    session
        .as_mut()
        .ok_or_else(|| OpError::Unexpected("no session".to_owned()))
}

/// Whether a failure leaves the MySQL connection unusable (reopen it before the next one).
fn broken(e: &OpError) -> bool {
    matches!(
        e,
        OpError::Mysql(mysql_async::Error::Io(_) | mysql_async::Error::Driver(_))
            | OpError::Timeout(_)
    ) || matches!(e, OpError::Mysql(mysql_async::Error::Server(s)) if s.code == 1213 || s.code == 1053)
}

/// Deletes a run's rows (best effort: a failure is reported on stderr, not fatal).
async fn cleanup(ctx: &Ctx, prefix: &str) {
    let deleted = async {
        let mut s = Session::open(&ctx.ep, Target::Mysql, Level::Eventual).await?;
        let r = s
            .write(&format!("DELETE FROM users WHERE name LIKE '{prefix}-%'"))
            .await;
        s.close().await;
        r
    }
    .await;
    if let Err(e) = deleted {
        eprintln!("myquorum stress: could not delete the rows {prefix}-*: {e}");
    }
}
