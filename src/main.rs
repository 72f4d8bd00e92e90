//! `myquorum` entry point: parse arguments, load settings, start logging, run the command.

use clap::Parser;
use myquorum::cli::{Cli, Command};
use myquorum::settings::Settings;
use tracing_subscriber::EnvFilter;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let filter = cli.log.clone().unwrap_or_else(|| "info".to_owned());
    tracing_subscriber::fmt()
        .with_env_filter(EnvFilter::try_new(&filter).unwrap_or_else(|_| EnvFilter::new("info")))
        .with_writer(std::io::stderr)
        .init();
    let mut settings = Settings::load(cli.config.as_deref())?;
    match cli.command {
        Command::Up(args) => {
            // The sandbox re-creates the old system, whose services had their own ports.
            settings.control_plane.legacy_ports = true;
            myquorum::up::apply_flags(&mut settings, &args);
            myquorum::up::run(settings).await
        }
        Command::Serve(args) => {
            if let Some(l) = args.listen {
                settings.listen.mysql = l;
            }
            if let Some(l) = args.admin_listen {
                settings.listen.admin = l;
            }
            if let Some(l) = args.http_listen {
                settings.control_plane.listen = l;
            }
            myquorum::serve::run(settings).await
        }
        Command::Config(args) => {
            let toml = if args.show_secrets {
                settings.to_toml()
            } else {
                settings.to_toml_redacted()
            };
            print!("{toml}");
            Ok(())
        }
    }
}
