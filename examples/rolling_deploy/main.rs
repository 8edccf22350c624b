//! `rolling_deploy`: what a rolling restart costs a consumer, without and with sae.
//!
//! In one process, on loopback: providers of one service (axum, served by
//! `sae_governance::provider::Provider`), a consumer sending a steady open-loop
//! load through `sae_governance::client::Client`, and a rolling restart of
//! every provider (start the new instance, wait until it is registered, stop
//! an old one through its preStop endpoint). Three scenarios:
//!
//! - `baseline`: what users get today. The old provider deregisters and
//!   closes at once (no notice), and the consumer neither evicts on a notice
//!   nor retries a refused connect; it learns of removals from its cache.
//! - `sae`: lossless offline (deregister first, notice, eviction, safe
//!   retry) and lossless online (register when ready, warm-up).
//! - `kill`: `sae`, but one old provider is killed abruptly (no
//!   deregistration, connections dropped, lease left to expire).
//!
//! In every scenario the consumer refreshes its view of the registry only by
//! polling (every `--refresh`, default 5 s), as a cached client sees it; the
//! figures measure sae's own mechanisms, not the registry's push speed.
//!
//! ```text
//! cargo run --release --example rolling_deploy -- [--rate 2000] [--duration 20s]
//!     [--providers 3] [--refresh 5s] [--registry memory://] [--scenarios baseline,sae,kill] [--json]
//! ```

mod args;
mod fleet;
mod load;
mod scenario;
mod stats;

use serde_json::json;

use crate::args::Args;
use crate::scenario::Kind;
use crate::stats::ScenarioReport;

#[tokio::main]
async fn main() {
    if std::env::var_os("RUST_LOG").is_some() {
        tracing_subscriber::fmt()
            .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
            .init();
    }
    let args = Args::parse();
    println!(
        "rolling_deploy: {} providers, {} requests/s for {:?} per scenario, registry {}, consumer refresh {:?}",
        args.providers, args.rate, args.duration, args.registry, args.refresh
    );
    let mut reports = Vec::new();
    for name in &args.scenarios {
        eprintln!("running {name} ...");
        match scenario::run(Kind::parse(name), &args).await {
            Ok(report) => reports.push(report),
            Err(error) => {
                eprintln!("rolling_deploy: scenario {name} could not run: {error}");
                std::process::exit(1);
            }
        }
    }
    println!("{}", ScenarioReport::header());
    for report in &reports {
        println!("{}", report.row());
    }
    if args.json {
        let mut summary = json!({});
        for report in &reports {
            summary[report.name] = report.json();
        }
        println!("{summary}");
    }
}
