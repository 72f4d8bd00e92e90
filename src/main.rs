//! `myquorum` entry point: parse arguments, load settings, start logging, run the command.

use clap::Parser;
use myquorum::cli::{Cli, Command};
use myquorum::settings::Settings;
use std::process::ExitCode;
use tracing_subscriber::EnvFilter;

#[tokio::main]
async fn main() -> anyhow::Result<ExitCode> {
    myquorum::malloc::tune();
    let cli = Cli::parse();
    let filter = cli.log.clone().unwrap_or_else(|| "info".to_owned());
    tracing_subscriber::fmt()
        .with_env_filter(EnvFilter::try_new(&filter).unwrap_or_else(|_| EnvFilter::new("info")))
        .with_writer(std::io::stderr)
        .init();
    let mut settings = Settings::load(cli.config.as_deref())?;
    match cli.command {
        Command::Up(args) => {
            myquorum::malloc::start_trimmer();
            // The sandbox re-creates the old system, whose services had their own ports.
            settings.control_plane.legacy_ports = true;
            myquorum::up::apply_flags(&mut settings, &args);
            myquorum::up::run(settings)
                .await
                .map(|()| ExitCode::SUCCESS)
        }
        Command::Serve(args) => {
            myquorum::malloc::start_trimmer();
            if let Some(l) = args.listen {
                settings.listen.mysql = l;
            }
            if let Some(l) = args.admin_listen {
                settings.listen.admin = l;
            }
            if let Some(l) = args.http_listen {
                settings.control_plane.listen = l;
            }
            myquorum::serve::run(settings, !args.skip_preflight)
                .await
                .map(|()| ExitCode::SUCCESS)
        }
        Command::Config(args) => {
            let toml = if args.show_secrets {
                settings.to_toml()
            } else {
                settings.to_toml_redacted()
            };
            print!("{toml}");
            Ok(ExitCode::SUCCESS)
        }
        Command::Status(args) => Ok(myquorum::admin_cli::status(&settings, args).await),
        Command::Switchover(args) => Ok(myquorum::admin_cli::switchover(&settings, args).await),
        Command::Failover(args) => Ok(myquorum::admin_cli::failover(&settings, args).await),
        Command::Rejoin(args) => Ok(myquorum::admin_cli::rejoin(&settings, args).await),
        Command::Elect(args) => Ok(myquorum::admin_cli::elect(&settings, args).await),
        Command::Stress(args) => Ok(myquorum::stress::run(&settings, args).await),
        Command::Wire(args) => myquorum::wire::run(&settings, args)
            .await
            .map(|()| ExitCode::SUCCESS),
    }
}
