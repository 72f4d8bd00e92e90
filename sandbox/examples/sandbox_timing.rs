//! Times `Cluster::start_for_tests(n)` and shows the watchdog at work.
//!
//! `cargo run -p myquorum-sandbox --example sandbox_timing -- [nodes] [exit|hang]`: with `exit`
//! the process exits without stopping the cluster (the watchdog must clean up); with `hang` it
//! waits forever, so it can be killed with `kill -9` to the same effect.

use std::time::Instant;

use myquorum_sandbox::Cluster;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    tracing_subscriber::fmt()
        .with_env_filter("myquorum_sandbox=info")
        .init();
    let mut args = std::env::args().skip(1);
    let nodes: usize = args.next().map(|n| n.parse()).transpose()?.unwrap_or(4);
    let mode = args.next().unwrap_or_default();
    let t = Instant::now();
    let cluster = Cluster::start_for_tests(nodes).await?;
    println!(
        "start_for_tests({nodes}) took {:.2?}; work dir {}",
        t.elapsed(),
        cluster.config().work_dir.display()
    );
    match mode.as_str() {
        "exit" => std::process::exit(0), // no Drop: the watchdog has to do the cleanup
        "hang" => std::future::pending::<()>().await,
        _ => {
            let t = Instant::now();
            cluster.stop().await?;
            println!("stop took {:.2?}", t.elapsed());
        }
    }
    Ok(())
}
