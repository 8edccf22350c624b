//! `avalanche`: one sick instance or one slow service must not take the call
//! chain down (issue 12), without and with sae's traffic protection.
//!
//! In one process, on loopback: a call chain `edge → orders → inventory`
//! (2, 3 and 4 instances), every instance a stock `axum::serve` with sae's
//! layer and shutdown signal, calling the next hop through `sae.client(..)`,
//! all in one registry (an embedded one per run, or `--registry etcd://…`).
//! Each inventory instance serves with a fixed capacity (2 workers, 20 ms of
//! work per request: 400 requests/s for the four). The outside world sends
//! an open-loop load to the edge (100 requests/s by default) through a plain
//! hyper client; the edge's latency budget is 500 ms, and the outside gives
//! up on a request (closing its connection) after 2 s.
//!
//! Four scenarios, each run twice: `baseline` (every protection that is on
//! by default turned off: today's behaviour) and `sae` (the defaults plus
//! the demo's rules; `--rules` prints both):
//!
//! 1. one inventory instance answers `503` at once;
//! 2. one inventory instance hangs;
//! 3. inventory receives three times the load it can serve;
//! 4. all of inventory fails for a while, then recovers.
//!
//! After a warm-up the fault lasts `--duration`; the figures are those of
//! the requests sent meanwhile (scenario 4 adds a recovery). sae is judged
//! by the issue's bounds, and the process exits non-zero naming any that
//! broke; baseline is reported, with whether it shows the problem.
//!
//! ```text
//! cargo run --release --example avalanche -- [--scenarios 1,2,3,4] [--modes baseline,sae]
//!     [--rate 100] [--duration 10s] [--registry URL] [--quick] [--json] [--rules]
//! ```

mod args;
mod bounds;
mod fleet;
mod inventory;
mod load;
mod measure;
mod rules;
mod scenario;
mod stats;

use serde_json::json;

use crate::args::Args;
use crate::scenario::{Mode, Scenario};
use crate::stats::RunReport;

/// How a child's report line starts.
const REPORT_TAG: &str = "avalanche-report ";

/// Runs one scenario in one mode in a process of its own, so each run's
/// memory and sockets are its own, and returns its report.
async fn run_child(args: &Args, scenario: Scenario, mode: Mode) -> Result<RunReport, String> {
    let output = tokio::process::Command::new(std::env::current_exe().map_err(|e| e.to_string())?)
        .args(&args.raw)
        .arg("--child")
        .arg(format!("{}:{}", scenario.number(), mode.name()))
        .stderr(std::process::Stdio::inherit())
        .kill_on_drop(true)
        .output()
        .await
        .map_err(|e| format!("starting the run: {e}"))?;
    let stdout = String::from_utf8_lossy(&output.stdout);
    let line = stdout
        .lines()
        .find_map(|line| line.strip_prefix(REPORT_TAG))
        .ok_or_else(|| format!("the run ended ({}) without a report", output.status))?;
    let value = serde_json::from_str(line).map_err(|e| e.to_string())?;
    RunReport::from_wire(&value).ok_or_else(|| format!("unreadable report: {line}"))
}

/// Says which run could not run, and exits.
fn could_not_run(scenario: Scenario, mode: Mode, error: &dyn std::fmt::Display) -> ! {
    eprintln!(
        "avalanche: scenario {} in mode {} could not run: {error}",
        scenario.number(),
        mode.name()
    );
    std::process::exit(1);
}

#[tokio::main]
async fn main() {
    if std::env::var_os("RUST_LOG").is_some() {
        tracing_subscriber::fmt()
            .with_writer(std::io::stderr)
            .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
            .init();
    }
    let args = Args::parse();
    if let Some((scenario, mode)) = args.child {
        // A child: one run, its report on stdout for the parent.
        match scenario::run(scenario, mode, &args).await {
            Ok(report) => println!("{REPORT_TAG}{}", report.to_wire()),
            Err(error) => could_not_run(scenario, mode, &*error),
        }
        return;
    }
    println!(
        "avalanche: edge x{} -> orders x{} -> inventory x{} (capacity {:.0}/s), {} req/s at the edge, budget {:?} (given up after {:?}); warm-up {:?}, fault {:?}, registry {}",
        fleet::EDGES,
        fleet::ORDERS,
        fleet::INVENTORIES,
        scenario::capacity(),
        args.rate,
        rules::BUDGET,
        rules::GIVE_UP,
        args.warmup,
        args.fault,
        args.registry
    );
    let mut reports: Vec<RunReport> = Vec::new();
    for &scenario in &args.scenarios {
        for &mode in &args.modes {
            eprintln!(
                "running scenario {} ({}) in mode {} ...",
                scenario.number(),
                scenario.title(),
                mode.name()
            );
            match run_child(&args, scenario, mode).await {
                Ok(report) => reports.push(report),
                Err(error) => could_not_run(scenario, mode, &error),
            }
        }
    }

    println!("{}", RunReport::header());
    let mut last = None;
    for report in &reports {
        if last != Some(report.scenario) {
            println!(
                "scenario {}: {}",
                report.scenario.number(),
                report.scenario.title()
            );
            last = Some(report.scenario);
        }
        println!("{}", report.row());
    }

    let broken: Vec<String> = reports
        .iter()
        .filter(|r| r.mode == Mode::Sae)
        .flat_map(|r| {
            r.broken()
                .into_iter()
                .map(move |b| format!("scenario {}: {b}", r.scenario.number()))
        })
        .collect();
    if args.json {
        let mut scenarios = json!({});
        for report in &reports {
            scenarios[report.scenario.number().to_string()][report.mode.name()] = report.json();
        }
        let summary = json!({
            "config": {
                "rate": args.rate,
                "budget_ms": rules::BUDGET.as_millis() as u64,
                "give_up_ms": rules::GIVE_UP.as_millis() as u64,
                "capacity_rps": scenario::capacity(),
                "warmup_s": args.warmup.as_secs_f64(),
                "fault_s": args.fault.as_secs_f64(),
                "registry": args.registry,
            },
            "scenarios": scenarios,
            "ok": broken.is_empty(),
        });
        println!("{summary}");
    }
    if !broken.is_empty() {
        eprintln!("avalanche: sae broke a bound:");
        for b in &broken {
            eprintln!("  {b}");
        }
        std::process::exit(1);
    }
}
