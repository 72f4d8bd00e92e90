//! `myquorum serve`: the proxy in front of existing servers from the config file.

use anyhow::Context;
use tokio::net::TcpListener;

use crate::settings::Settings;

/// Runs the proxy until Ctrl-C / SIGTERM.
pub async fn run(settings: Settings) -> anyhow::Result<()> {
    settings.validate_listen()?;
    settings.proxy.validate()?;
    let listener = TcpListener::bind(&settings.listen.mysql)
        .await
        .with_context(|| format!("cannot listen on {} (listen.mysql)", settings.listen.mysql))?;
    tracing::info!(addr = %settings.listen.mysql, "MySQL port listening");
    myquorum_proxy::serve(listener, settings.proxy, crate::shutdown::signal()).await?;
    Ok(())
}
