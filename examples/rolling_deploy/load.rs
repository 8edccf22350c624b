//! The consumer's open-loop load: requests are sent on a fixed schedule
//! whatever the answers, and latency counts from the scheduled send time, so
//! a stall shows up in the figures instead of slowing the load down.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use parking_lot::Mutex;
use sae::governance::client::Client;
use tokio::task::JoinSet;
use tokio::time::{Instant, MissedTickBehavior};
use tower::ServiceExt;

use crate::fleet::SERVED_BY;

/// How long one request may take before it counts as failed.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(5);

/// What the load measured.
#[derive(Default)]
pub struct LoadResult {
    /// When the consumer last sent a request to each instance (by id),
    /// answered or not.
    pub last_sent: HashMap<String, Instant>,
    /// Requests sent.
    pub requests: u64,
    /// Requests that failed.
    pub failed: u64,
    /// Every request's latency.
    pub latencies: Vec<Duration>,
}

#[derive(Default)]
struct Shared {
    failed: AtomicU64,
    latencies: Mutex<Vec<Duration>>,
    last_sent: Mutex<HashMap<String, Instant>>,
    first_errors: Mutex<Vec<String>>,
}

/// Sends `rate` requests per second for `duration` through `client`,
/// counting every request it starts in `started`.
pub async fn run(
    client: Client<Full<Bytes>>,
    rate: u32,
    duration: Duration,
    started: Arc<AtomicU64>,
) -> LoadResult {
    let shared = Arc::new(Shared::default());
    let mut tasks = JoinSet::new();
    let start = Instant::now();
    let total = (rate as f64 * duration.as_secs_f64()) as u64;
    // tokio timers have millisecond resolution: each tick sends what is due.
    let mut tick = tokio::time::interval(Duration::from_millis(1));
    tick.set_missed_tick_behavior(MissedTickBehavior::Skip);
    let mut sent = 0u64;
    while sent < total {
        tick.tick().await;
        let due = ((start.elapsed().as_secs_f64() * rate as f64) as u64).min(total);
        while sent < due {
            let scheduled = start + Duration::from_secs_f64(sent as f64 / rate as f64);
            sent += 1;
            let client = client.clone();
            let shared = shared.clone();
            let started = started.clone();
            tasks.spawn(async move {
                started.fetch_add(1, Ordering::SeqCst);
                let sent_at = Instant::now();
                let outcome = tokio::time::timeout(REQUEST_TIMEOUT, one_request(client)).await;
                let latency = scheduled.elapsed();
                shared.latencies.lock().push(latency);
                let served_by = match &outcome {
                    Ok(Ok(id)) | Ok(Err((Some(id), _))) => Some(id.clone()),
                    _ => None,
                };
                if let Some(id) = served_by {
                    let mut last_sent = shared.last_sent.lock();
                    let last = last_sent.entry(id).or_insert(sent_at);
                    *last = (*last).max(sent_at);
                }
                let error = match outcome {
                    Ok(Ok(_)) => return,
                    Ok(Err((_, error))) => error,
                    Err(_) => format!("timed out after {REQUEST_TIMEOUT:?}"),
                };
                shared.failed.fetch_add(1, Ordering::Relaxed);
                let mut first = shared.first_errors.lock();
                if first.len() < 3 {
                    first.push(error);
                }
            });
        }
        // Reap finished tasks so the set stays small.
        while tasks.try_join_next().is_some() {}
    }
    while tasks.join_next().await.is_some() {}
    for error in shared.first_errors.lock().iter() {
        eprintln!("  e.g. failed: {error}");
    }
    let latencies = std::mem::take(&mut *shared.latencies.lock());
    LoadResult {
        last_sent: std::mem::take(&mut *shared.last_sent.lock()),
        requests: sent,
        failed: shared.failed.load(Ordering::Relaxed),
        latencies,
    }
}

/// One request; `Ok` names the instance that answered, `Err` the instance
/// that failed (when known) and what went wrong.
async fn one_request(client: Client<Full<Bytes>>) -> Result<String, (Option<String>, String)> {
    let request = http::Request::get("http://demo/work")
        .body(Full::default())
        .map_err(|e| (None, e.to_string()))?;
    let response = client.oneshot(request).await.map_err(|error| {
        let id = match &error {
            sae::Error::Connect { id, .. } | sae::Error::Upstream { id, .. } => Some(id.clone()),
            _ => None,
        };
        (id, error.to_string())
    })?;
    let status = response.status();
    let served_by = response
        .headers()
        .get(SERVED_BY)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let body = response
        .into_body()
        .collect()
        .await
        .map_err(|e| (served_by.clone(), format!("reading the body: {e}")))?;
    match served_by {
        Some(id) if status.is_success() && body.to_bytes() == "done" => Ok(id),
        other => Err((other, format!("status {status}"))),
    }
}
