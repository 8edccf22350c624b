//! Command-line flags of the demo.

use std::time::Duration;

#[path = "../common/flags.rs"]
mod flags;
use flags::{duration, number};

use crate::rules;
use crate::scenario::{Mode, Scenario};

/// What to run.
#[derive(Debug, Clone)]
pub struct Args {
    /// Requests per second at the edge outside the overload (open loop).
    pub rate: u32,
    /// How long each fault lasts (scenario 4: the outage; 3: the overload).
    pub fault: Duration,
    /// Load before the fault (warm-up).
    pub warmup: Duration,
    /// Load after the fault (scenario 4's recovery; 1, 2 and 3 stop at the fault's end).
    pub recovery: Duration,
    /// Registry URL (an embedded one per run by default).
    pub registry: String,
    /// Which scenarios to run, in order.
    pub scenarios: Vec<Scenario>,
    /// Which modes to run each scenario in.
    pub modes: Vec<Mode>,
    /// Print one JSON object as the last line.
    pub json: bool,
    /// Internal: run this one scenario in this process and print its report
    /// (the parent runs each scenario and mode in a process of its own).
    pub child: Option<(Scenario, Mode)>,
    /// The flags as given, for the child processes.
    pub raw: Vec<String>,
}

const USAGE: &str = "usage: avalanche [--scenarios 1,2,3,4] [--modes baseline,sae] [--rate N]
                 [--duration 10s] [--registry URL] [--quick] [--json] [--rules]

  --scenarios  1: one inventory instance answers 503; 2: one hangs;
               3: inventory gets 3x its capacity; 4: all of inventory fails, then recovers
  --modes      baseline (protection off: today's behaviour) and/or sae (the defaults + the demo's rules)
  --rate       requests/s at the edge outside the overload (default 100; the rules are tuned for it)
  --duration   how long each fault lasts (default 10s; warm-up 3s, scenario 4's recovery 5s)
  --registry   memory:// (default: an embedded registry per run) or etcd://host:port (feature etcd)
  --quick      the short version CI runs: warm-up 1s, fault 4s, recovery 4s
  --json       print one JSON line with every figure and each bound's verdict
  --rules      print the protection rules of both modes and exit";

impl Args {
    /// Parses `std::env::args`, exiting with the usage on a bad flag.
    pub fn parse() -> Args {
        match Self::try_parse(std::env::args().skip(1)) {
            Ok(args) => args,
            Err(message) => {
                eprintln!("avalanche: {message}\n{USAGE}");
                std::process::exit(2);
            }
        }
    }

    fn try_parse(flags: impl Iterator<Item = String>) -> Result<Args, String> {
        let raw: Vec<String> = flags.collect();
        let mut flags = raw.clone().into_iter();
        let mut args = Args {
            rate: 100,
            fault: Duration::from_secs(10),
            warmup: Duration::from_secs(3),
            recovery: Duration::from_secs(5),
            registry: "memory://".to_owned(),
            scenarios: Scenario::ALL.to_vec(),
            modes: vec![Mode::Baseline, Mode::Sae],
            json: false,
            child: None,
            raw,
        };
        let mut fault = None;
        while let Some(flag) = flags.next() {
            let mut value = || flags.next().ok_or_else(|| format!("{flag} needs a value"));
            match flag.as_str() {
                "--rate" => args.rate = number(&value()?, "--rate")?,
                "--duration" => fault = Some(duration(&value()?)?),
                "--registry" => args.registry = value()?,
                "--scenarios" => {
                    args.scenarios = value()?
                        .split(',')
                        .map(|s| Scenario::parse(s.trim()).ok_or(format!("unknown scenario {s:?}")))
                        .collect::<Result<_, _>>()?;
                }
                "--modes" => {
                    args.modes = value()?
                        .split(',')
                        .map(|m| Mode::parse(m.trim()).ok_or(format!("unknown mode {m:?}")))
                        .collect::<Result<_, _>>()?;
                }
                "--quick" => {
                    args.warmup = Duration::from_secs(1);
                    args.fault = Duration::from_secs(4);
                    args.recovery = Duration::from_secs(4);
                }
                "--json" => args.json = true,
                "--child" => {
                    let value = value()?;
                    let (scenario, mode) = value.split_once(':').ok_or("--child S:MODE")?;
                    args.child = Scenario::parse(scenario).zip(Mode::parse(mode));
                    if args.child.is_none() {
                        return Err(format!("bad --child {value:?}"));
                    }
                }
                "--rules" => {
                    println!("{}", rules::describe());
                    std::process::exit(0);
                }
                "-h" | "--help" => {
                    println!("{USAGE}\n\n{}", rules::describe());
                    std::process::exit(0);
                }
                other => return Err(format!("unknown flag {other:?}")),
            }
        }
        if let Some(fault) = fault {
            args.fault = fault;
        }
        if args.rate == 0 || args.fault < Duration::from_secs(2) {
            return Err("--rate must be positive and --duration at least 2s".into());
        }
        if args.scenarios.is_empty() || args.modes.is_empty() {
            return Err("nothing to run".into());
        }
        Ok(args)
    }
}
