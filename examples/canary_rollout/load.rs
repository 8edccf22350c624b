//! The outside world: users sending `GET /item` with `x-user-id` to the
//! edge instances over plain keep-alive HTTP/1 connections.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Empty};
use hyper::client::conn::http1::SendRequest;
use hyper_util::rt::TokioIo;
use tokio::sync::watch;
use tokio::task::JoinSet;

/// The version that answered a user, if the request succeeded.
pub type Answer = Option<Version>;

/// Which build of `shop` answered.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Version {
    V1,
    V2,
}

/// The user id header value of user `n`.
pub fn user_id(n: u32) -> String {
    format!("user-{n}")
}

/// One keep-alive connection to one edge, reopened after an error.
struct Connection {
    edge: SocketAddr,
    sender: Option<SendRequest<Empty<Bytes>>>,
}

impl Connection {
    fn new(edge: SocketAddr) -> Self {
        Connection { edge, sender: None }
    }

    /// Sends user `n`'s request: the version that answered, or `None` for
    /// any failure (connection, status, body).
    async fn send(&mut self, n: u32) -> Answer {
        if self.sender.is_none() {
            let stream = tokio::net::TcpStream::connect(self.edge).await.ok()?;
            let (sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
                .await
                .ok()?;
            tokio::spawn(connection);
            self.sender = Some(sender);
        }
        let answer = self.exchange(n).await;
        if answer.is_none() {
            self.sender = None;
        }
        answer
    }

    async fn exchange(&mut self, n: u32) -> Answer {
        let sender = self.sender.as_mut()?;
        sender.ready().await.ok()?;
        let request = http::Request::get("/item")
            .header(http::header::HOST, "edge")
            .header("x-user-id", user_id(n))
            .body(Empty::new())
            .ok()?;
        let response = sender.send_request(request).await.ok()?;
        let ok = response.status() == http::StatusCode::OK;
        let body = response.into_body().collect().await.ok()?.to_bytes();
        match (ok, &body[..]) {
            (true, b"v1") => Some(Version::V1),
            (true, b"v2") => Some(Version::V2),
            _ => None,
        }
    }
}

/// Sends one request for each user `0..users` through `concurrency`
/// connections spread over `edges`; returns each user's answer, by user.
pub async fn sweep(edges: &[SocketAddr], users: u32, concurrency: usize) -> Vec<Answer> {
    let next = Arc::new(AtomicU32::new(0));
    let mut workers = JoinSet::new();
    for worker in 0..concurrency {
        let next = Arc::clone(&next);
        let mut connection = Connection::new(edges[worker % edges.len()]);
        workers.spawn(async move {
            let mut answers = Vec::new();
            loop {
                let n = next.fetch_add(1, Ordering::Relaxed);
                if n >= users {
                    return answers;
                }
                answers.push((n, connection.send(n).await));
            }
        });
    }
    let mut by_user = vec![None; users as usize];
    while let Some(answers) = workers.join_next().await {
        for (n, answer) in answers.expect("a sweep worker panicked") {
            by_user[n as usize] = answer;
        }
    }
    by_user
}

/// Requests answered and failed so far by a [`Steady`] load.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Counts {
    pub answered: u64,
    pub failed: u64,
}

/// A steady background load: `workers` users at a time, each sending a
/// request every `pause`, cycling through the population, until stopped.
pub struct Steady {
    answered: Arc<AtomicU64>,
    failed: Arc<AtomicU64>,
    stop: watch::Sender<bool>,
    workers: JoinSet<()>,
}

impl Steady {
    pub fn start(edges: &[SocketAddr], users: u32, workers: usize, pause: Duration) -> Self {
        let answered = Arc::new(AtomicU64::new(0));
        let failed = Arc::new(AtomicU64::new(0));
        let (stop, stopped) = watch::channel(false);
        let mut set = JoinSet::new();
        for worker in 0..workers {
            let (answered, failed) = (Arc::clone(&answered), Arc::clone(&failed));
            let mut stopped = stopped.clone();
            let mut connection = Connection::new(edges[worker % edges.len()]);
            set.spawn(async move {
                let mut n = worker as u32;
                while !*stopped.borrow() {
                    match connection.send(n % users).await {
                        Some(_) => answered.fetch_add(1, Ordering::Relaxed),
                        None => failed.fetch_add(1, Ordering::Relaxed),
                    };
                    n = n.wrapping_add(workers as u32 * 7919);
                    tokio::select! {
                        () = tokio::time::sleep(pause) => {}
                        _ = stopped.changed() => {}
                    }
                }
            });
        }
        Steady {
            answered,
            failed,
            stop,
            workers: set,
        }
    }

    pub fn counts(&self) -> Counts {
        Counts {
            answered: self.answered.load(Ordering::Relaxed),
            failed: self.failed.load(Ordering::Relaxed),
        }
    }

    pub async fn stop(mut self) -> Counts {
        let _ = self.stop.send(true);
        while self.workers.join_next().await.is_some() {}
        self.counts()
    }
}
