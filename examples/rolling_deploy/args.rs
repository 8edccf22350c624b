//! Command-line flags of the demo.

use std::time::Duration;

#[path = "../common/flags.rs"]
mod flags;
use flags::{duration, number};

/// What to run.
#[derive(Debug, Clone)]
pub struct Args {
    /// Requests per second the consumer sends (open loop).
    pub rate: u32,
    /// How long each scenario sends load.
    pub duration: Duration,
    /// How many providers serve the service.
    pub providers: usize,
    /// How often the consumer re-reads the registry (a cached client).
    pub refresh: Duration,
    /// Registry URL (`memory://` by default).
    pub registry: String,
    /// Which scenarios to run, in order.
    pub scenarios: Vec<String>,
    /// Print one JSON object as the last line.
    pub json: bool,
}

const USAGE: &str =
    "usage: rolling_deploy [--rate N] [--duration 20s] [--providers N] [--refresh 5s]
                      [--registry URL] [--scenarios baseline,sae,kill] [--json]";

impl Args {
    /// Parses `std::env::args`, exiting with the usage on a bad flag.
    pub fn parse() -> Args {
        match Self::try_parse(std::env::args().skip(1)) {
            Ok(args) => args,
            Err(message) => {
                eprintln!("rolling_deploy: {message}\n{USAGE}");
                std::process::exit(2);
            }
        }
    }

    fn try_parse(mut flags: impl Iterator<Item = String>) -> Result<Args, String> {
        let mut args = Args {
            rate: 2000,
            duration: Duration::from_secs(20),
            providers: 3,
            refresh: Duration::from_secs(5),
            registry: "memory://".to_owned(),
            scenarios: vec!["baseline".into(), "sae".into(), "kill".into()],
            json: false,
        };
        while let Some(flag) = flags.next() {
            let mut value = || flags.next().ok_or_else(|| format!("{flag} needs a value"));
            match flag.as_str() {
                "--rate" => args.rate = number(&value()?, "--rate")?,
                "--duration" => args.duration = duration(&value()?)?,
                "--providers" => args.providers = number(&value()?, "--providers")?,
                "--refresh" => args.refresh = duration(&value()?)?,
                "--registry" => args.registry = value()?,
                "--scenarios" => {
                    args.scenarios = value()?.split(',').map(str::to_owned).collect();
                    if let Some(bad) = args
                        .scenarios
                        .iter()
                        .find(|s| !matches!(s.as_str(), "baseline" | "sae" | "kill"))
                    {
                        return Err(format!("unknown scenario {bad:?}"));
                    }
                }
                "--json" => args.json = true,
                "-h" | "--help" => {
                    println!("{USAGE}");
                    std::process::exit(0);
                }
                other => return Err(format!("unknown flag {other:?}")),
            }
        }
        if args.rate == 0 || args.providers < 2 {
            return Err("--rate must be positive and --providers at least 2".into());
        }
        Ok(args)
    }
}
