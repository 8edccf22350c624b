//! One scenario in one mode: the chain, the load, the fault at its time.

use std::sync::atomic::Ordering;
use std::time::Duration;

use tokio::time::Instant;

use crate::args::Args;
use crate::bounds::Measured;
use crate::fleet::{Fleet, Names};
use crate::inventory::Health;
use crate::load::{self, Phase};
use crate::measure::RssSampler;
use crate::rules::{self, GIVE_UP};
use crate::stats::RunReport;

/// The four scenarios of the issue.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Scenario {
    /// 1: one inventory instance answers `503` at once.
    Sick,
    /// 2: one inventory instance hangs.
    Hang,
    /// 3: inventory receives three times the load it can serve.
    Overload,
    /// 4: all of inventory fails for a while, then recovers.
    Outage,
}

impl Scenario {
    pub const ALL: [Scenario; 4] = [
        Scenario::Sick,
        Scenario::Hang,
        Scenario::Overload,
        Scenario::Outage,
    ];

    pub fn parse(text: &str) -> Option<Scenario> {
        Some(match text {
            "1" => Scenario::Sick,
            "2" => Scenario::Hang,
            "3" => Scenario::Overload,
            "4" => Scenario::Outage,
            _ => return None,
        })
    }

    pub fn number(self) -> u8 {
        self as u8 + 1
    }

    pub fn title(self) -> &'static str {
        match self {
            Scenario::Sick => "one inventory instance answers 503",
            Scenario::Hang => "one inventory instance hangs",
            Scenario::Overload => "inventory gets 3x its capacity",
            Scenario::Outage => "all of inventory fails, then recovers",
        }
    }
}

/// Protection off, or sae.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    Baseline,
    Sae,
}

impl Mode {
    pub fn parse(text: &str) -> Option<Mode> {
        match text {
            "baseline" => Some(Mode::Baseline),
            "sae" => Some(Mode::Sae),
            _ => None,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Mode::Baseline => "baseline",
            Mode::Sae => "sae",
        }
    }
}

/// Inventory's capacity, requests per second.
pub fn capacity() -> f64 {
    (crate::fleet::INVENTORIES * crate::inventory::WORKERS) as f64
        / crate::inventory::WORK.as_secs_f64()
}

/// Runs `scenario` in `mode` and returns its figures.
pub async fn run(
    scenario: Scenario,
    mode: Mode,
    args: &Args,
) -> Result<RunReport, Box<dyn std::error::Error + Send + Sync>> {
    let registry = sae::registry::from_url(&args.registry)?;
    let names = Names::new(&format!(
        "s{}-{}-{}",
        scenario.number(),
        mode.name(),
        std::process::id()
    ));
    let rules = rules::for_mode(mode, &names)?;
    let fleet = Fleet::start(registry, &names, &rules).await?;

    let normal = Phase {
        rate: args.rate,
        duration: args.warmup,
    };
    let fault_length = args.fault;
    let fault = Phase {
        rate: if scenario == Scenario::Overload {
            (3.0 * capacity()).round() as u32
        } else {
            args.rate
        },
        duration: fault_length,
    };
    let mut phases = vec![normal, fault];
    if scenario == Scenario::Outage {
        phases.push(Phase {
            rate: args.rate,
            duration: args.recovery,
        });
    }

    let rss = RssSampler::start();
    let start = Instant::now() + Duration::from_millis(50);
    let load = tokio::spawn(load::run(fleet.edge_addrs(), phases, GIVE_UP, start));
    let fault_at = start + args.warmup;
    tokio::time::sleep_until(fault_at).await;
    let served_before = fleet.served.load(Ordering::Relaxed);
    match scenario {
        Scenario::Sick => fleet.faults[0].set(Health::Failing),
        Scenario::Hang => fleet.faults[0].set(Health::Hanging),
        Scenario::Overload => {}
        Scenario::Outage => fleet.faults.iter().for_each(|f| f.set(Health::Failing)),
    }
    let fault_began = fault_at.saturating_duration_since(start);
    let healed_at = fault_at + fault_length;
    tokio::time::sleep_until(healed_at).await;
    let served_during = fleet.served.load(Ordering::Relaxed) - served_before;
    fleet.heal();
    let records = load.await?;
    let rss_max = rss.stop().await;
    let fallback_times = std::mem::take(&mut *fleet.fallback_times.lock());
    let problems = fleet.stop().await;
    for problem in &problems {
        eprintln!("  stop: {problem}");
    }
    Ok(RunReport::new(Measured {
        scenario,
        mode,
        records,
        fault_began,
        fault_ended: fault_began + fault_length,
        inventory_served: served_during,
        rss_max,
        fallback_times,
        stop_problems: problems.len(),
    }))
}
