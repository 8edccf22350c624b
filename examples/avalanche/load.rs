//! The outside world: an open-loop load at the edge through a plain hyper
//! client. Requests leave on a fixed schedule whatever the answers, each
//! in a task of its own, so a slow chain shows in the figures instead of
//! slowing the load down. A request the edge has not answered in time is
//! given up and its connection closed, as a client that times out does.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Empty};
use hyper::client::conn::http1::SendRequest;
use hyper_util::rt::TokioIo;
use parking_lot::Mutex;
use tokio::task::{AbortHandle, JoinSet};
use tokio::time::{Instant, MissedTickBehavior};

use crate::fleet::FALLBACK;

/// A stretch of the load at one rate.
#[derive(Clone, Copy, Debug)]
pub struct Phase {
    pub rate: u32,
    pub duration: Duration,
}

/// How one request ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// A 2xx answer from the chain.
    Ok,
    /// A 2xx answer made by the edge's circuit breaker (the fallback).
    Fallback,
    /// Refused before processing (`x-sae-rejected`), by the edge or behind it.
    Rejected,
    /// Any other status.
    Status(u16),
    /// No answer in time: given up.
    TimedOut,
    /// The connection failed.
    Error,
}

impl Outcome {
    pub fn is_success(self) -> bool {
        matches!(self, Outcome::Ok | Outcome::Fallback)
    }
}

/// One request as the outside saw it.
#[derive(Clone, Copy, Debug)]
pub struct Record {
    /// When it was sent, after the load's start.
    pub sent: Duration,
    /// How late the generator sent it (sent − scheduled).
    pub lag: Duration,
    /// From sending to the complete answer (or to giving up).
    pub latency: Duration,
    pub outcome: Outcome,
    /// Which edge instance it went to.
    pub edge: usize,
}

/// Idle connections to one edge instance.
struct Pool {
    addr: SocketAddr,
    idle: Mutex<Vec<(SendRequest<Empty<Bytes>>, AbortHandle)>>,
}

/// Most idle connections kept per edge instance.
const MAX_IDLE: usize = 256;

/// Sends the load of `phases` to `edges` (round robin) from `start` on and
/// returns every request's record, in sending order. At most
/// Σ rate × duration requests; each is given up after `give_up`.
pub async fn run(
    edges: Vec<SocketAddr>,
    phases: Vec<Phase>,
    give_up: Duration,
    start: Instant,
) -> Vec<Record> {
    let schedule = schedule(&phases);
    let pools: Arc<Vec<Pool>> = Arc::new(
        edges
            .into_iter()
            .map(|addr| Pool {
                addr,
                idle: Mutex::new(Vec::new()),
            })
            .collect(),
    );
    let mut tasks = JoinSet::new();
    // tokio timers have millisecond resolution: each tick sends what is due.
    let mut tick = tokio::time::interval_at(start, Duration::from_millis(1));
    tick.set_missed_tick_behavior(MissedTickBehavior::Skip);
    let mut next = 0;
    let mut records = Vec::with_capacity(schedule.len());
    while next < schedule.len() {
        tick.tick().await;
        let now = start.elapsed();
        while next < schedule.len() && schedule[next] <= now {
            let scheduled = schedule[next];
            let edge = next % pools.len();
            let pools = pools.clone();
            tasks.spawn(async move {
                let sent = start.elapsed();
                let began = Instant::now();
                let outcome =
                    match tokio::time::timeout(give_up, one(&pools[edge], next as u64)).await {
                        Ok(outcome) => outcome,
                        Err(_) => Outcome::TimedOut,
                    };
                Record {
                    sent,
                    lag: sent.saturating_sub(scheduled),
                    latency: began.elapsed(),
                    outcome,
                    edge,
                }
            });
            next += 1;
        }
        while let Some(done) = tasks.try_join_next() {
            records.push(done.expect("a request task panicked"));
        }
    }
    while let Some(done) = tasks.join_next().await {
        records.push(done.expect("a request task panicked"));
    }
    for pool in pools.iter() {
        for (_, connection) in pool.idle.lock().drain(..) {
            connection.abort();
        }
    }
    records.sort_by_key(|record| record.sent);
    records
}

/// When each request is due, after the start.
fn schedule(phases: &[Phase]) -> Vec<Duration> {
    let mut due = Vec::new();
    let mut offset = Duration::ZERO;
    for phase in phases {
        let count = (f64::from(phase.rate) * phase.duration.as_secs_f64()).round() as u64;
        let gap = Duration::from_secs_f64(1.0 / f64::from(phase.rate));
        due.extend((0..count).map(|i| offset + gap * i as u32));
        offset += phase.duration;
    }
    due
}

/// One `GET /checkout/{id}` on a pooled connection (or a new one); a
/// connection whose request is given up (this future dropped) is closed.
async fn one(pool: &Pool, id: u64) -> Outcome {
    let (mut sender, connection) = match take(pool).await {
        Some(taken) => taken,
        None => return Outcome::Error,
    };
    // Closes the connection unless the answer came and it went back idle.
    let mut guard = CloseOnDrop(Some(connection));
    let request = http::Request::get(format!("/checkout/{id}"))
        .header(http::header::HOST, pool.addr.to_string())
        .body(Empty::<Bytes>::new())
        .expect("a valid request");
    let Ok(response) = sender.send_request(request).await else {
        return Outcome::Error;
    };
    let status = response.status();
    let fallback = response.headers().contains_key(FALLBACK);
    let rejected = response.headers().contains_key(&sae::wire::REJECTED);
    if response.into_body().collect().await.is_err() {
        return Outcome::Error;
    }
    let mut idle = pool.idle.lock();
    if idle.len() < MAX_IDLE
        && let Some(connection) = guard.0.take()
    {
        idle.push((sender, connection));
    }
    match (status.is_success(), fallback) {
        (true, true) => Outcome::Fallback,
        (true, false) => Outcome::Ok,
        _ if rejected => Outcome::Rejected,
        _ => Outcome::Status(status.as_u16()),
    }
}

struct CloseOnDrop(Option<AbortHandle>);

impl Drop for CloseOnDrop {
    fn drop(&mut self) {
        if let Some(connection) = self.0.take() {
            connection.abort();
        }
    }
}

/// A ready idle connection, or a new one.
async fn take(pool: &Pool) -> Option<(SendRequest<Empty<Bytes>>, AbortHandle)> {
    loop {
        let Some((mut sender, connection)) = pool.idle.lock().pop() else {
            break;
        };
        if sender.ready().await.is_ok() {
            return Some((sender, connection));
        }
        connection.abort();
    }
    let stream = tokio::net::TcpStream::connect(pool.addr).await.ok()?;
    let _ = stream.set_nodelay(true);
    let (sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .ok()?;
    let connection = tokio::spawn(connection).abort_handle();
    Some((sender, connection))
}
