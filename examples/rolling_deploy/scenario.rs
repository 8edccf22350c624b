//! One scenario: providers, a consumer under load, and a rolling restart.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::Full;
use sae::governance::client::Client;
use sae::governance::client::DiscoveryMode;
use tokio::time::Instant;

use crate::args::Args;
use crate::fleet::{Behaviour, Fleet};
use crate::load;
use crate::stats::ScenarioReport;

/// The three scenarios.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// Today: no notice, no eviction, no safe retry; the consumer learns from its cache refresh.
    Baseline,
    /// sae: deregister first, notice, eviction, safe retry, warm-up.
    Sae,
    /// sae, with one old provider killed abruptly instead of stopped.
    Kill,
}

impl Kind {
    /// Parses a scenario name.
    pub fn parse(name: &str) -> Kind {
        match name {
            "baseline" => Kind::Baseline,
            "kill" => Kind::Kill,
            _ => Kind::Sae,
        }
    }

    fn name(self) -> &'static str {
        match self {
            Kind::Baseline => "baseline",
            Kind::Sae => "sae",
            Kind::Kill => "kill",
        }
    }
}

/// Handlers take this long, as real ones do some work.
const WORK: Duration = Duration::from_millis(5);

/// Runs one scenario and returns its figures.
pub async fn run(kind: Kind, args: &Args) -> Result<ScenarioReport, sae::core::Error> {
    let registry = sae::registry::from_url(&args.registry)?;
    // A name of its own per scenario and process, so scenarios sharing an
    // external registry never see each other's instances.
    let service = format!("demo-{}-{}", kind.name(), std::process::id());
    let behaviour = Behaviour {
        lossless: kind != Kind::Baseline,
        work: WORK,
    };
    let fleet = Fleet::new(registry.clone(), service.clone(), behaviour);
    let mut old = Vec::new();
    for _ in 0..args.providers {
        old.push(fleet.start().await?);
    }

    // Every scenario's consumer refreshes its view by polling, as a cached
    // client does; the figures then measure sae's own mechanisms.
    let mut builder = Client::builder(service.clone(), registry.clone())
        .discovery(DiscoveryMode::Poll(args.refresh));
    if kind == Kind::Baseline {
        builder = builder
            .evict_on_notice(false)
            .eject_on_connect_failure(false)
            .connect_attempts(1);
    }
    let client: Client<Full<Bytes>> = builder.build_http()?;
    let mut changes = client.changes();
    while client.endpoints().len() < args.providers {
        let _ = changes.changed().await;
    }

    let started = Arc::new(AtomicU64::new(0));
    let load = tokio::spawn(load::run(
        client.clone(),
        args.rate,
        args.duration,
        started.clone(),
    ));

    // The rolling restart: new instance up and registered, then the old one
    // goes. Spread over the run, with a second of steady load at each end.
    let start = Instant::now();
    let lead = Duration::from_secs(1).min(args.duration / 4);
    let step = (args.duration.saturating_sub(lead * 2)) / args.providers as u32;
    let mut stops = Vec::new();
    let mut replacements = Vec::new();
    let mut in_flight_at_kill = None;
    for (index, provider) in old.into_iter().enumerate() {
        tokio::time::sleep_until(start + lead + step * index as u32).await;
        let replacement = fleet.start().await?;
        if kind == Kind::Kill && index == 1 {
            // In flight at the kill: an abort is not instantaneous (the serve
            // task, then its connection tasks, are dropped when the scheduler
            // reaches them), so count the consumer's outstanding requests to
            // it when the kill began plus every request started until the
            // kill was over (any of them may have gone to it).
            let pending = client
                .endpoints()
                .iter()
                .find(|e| e.id == provider.id)
                .map_or(0, |e| u64::from(e.pending));
            let kill_began = started.load(Ordering::SeqCst);
            let port = provider.addr;
            provider.kill().await;
            // A refused connect to its port shows the listener is gone.
            let _ = tokio::net::TcpStream::connect(port).await;
            let during_kill = started.load(Ordering::SeqCst) - kill_began;
            in_flight_at_kill = Some(pending + during_kill);
        } else {
            stops.push(tokio::spawn(provider.stop()));
        }
        replacements.push(replacement);
    }
    let mut result = load.await.expect("the load task panicked");
    let mut report = ScenarioReport {
        name: kind.name(),
        requests: result.requests,
        failed: result.failed,
        latencies: std::mem::take(&mut result.latencies),
        in_flight_at_kill,
        ..ScenarioReport::default()
    };
    for stop in stops {
        let stopped = stop.await.expect("a stop task panicked");
        report.stop_times.push(stopped.stop_time);
        // Offline awareness: from the preStop call (which starts Draining)
        // to the consumer's last new request to that instance; zero when it
        // sent none after.
        let last = result.last_sent.get(stopped.id.as_str());
        report.awareness.push(last.map_or(Duration::ZERO, |last| {
            last.saturating_duration_since(stopped.prestop_at)
        }));
    }
    // The run is over: the replacements go too (abruptly; nobody is calling).
    for provider in replacements {
        provider.kill().await;
    }
    Ok(report)
}
