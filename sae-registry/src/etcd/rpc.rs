//! Bounded, retried calls to etcd, backoff, and error mapping.
//!
//! etcd answers `Unavailable` while it elects a leader and the client's
//! balanced channel fails a call routed to a member that just died; both are
//! over within moments on a healthy cluster. Every unary call is therefore
//! retried on such transient errors until a deadline, and only then reported
//! as an [`Error`] that names the operation and the last cause. One attempt
//! gets a quarter of the bound: a proposal caught in a leader change can hang
//! on the server for its own 5 s timeout, while a retry goes through at once.

use std::future::Future;
use std::time::Duration;

use etcd_client::Client;
use sae_core::Error;
use tokio::time::{Instant, sleep, timeout_at};

/// The backend name in every error.
pub(super) const BACKEND: &str = "etcd";

/// The shortest time one attempt gets.
const MIN_ATTEMPT: Duration = Duration::from_millis(500);

/// Runs `call` against `client` until it succeeds, fails for good, or
/// `bound` has passed.
pub(super) async fn retried<T, F, Fut>(
    client: &Client,
    operation: &'static str,
    bound: Duration,
    mut call: F,
) -> Result<T, Error>
where
    F: FnMut(Client) -> Fut,
    Fut: Future<Output = Result<T, etcd_client::Error>>,
{
    let deadline = Instant::now() + bound;
    let per_attempt = (bound / 4).max(MIN_ATTEMPT);
    let mut backoff = Backoff::new(Duration::from_millis(50), Duration::from_millis(500));
    let mut last_error = None;
    loop {
        let attempt_deadline = deadline.min(Instant::now() + per_attempt);
        let error = match timeout_at(attempt_deadline, call(client.clone())).await {
            Ok(Ok(value)) => return Ok(value),
            Ok(Err(error)) => error,
            Err(_) if Instant::now() >= deadline => {
                return Err(gave_up(operation, bound, last_error));
            }
            Err(_) => {
                tracing::debug!(
                    operation,
                    ?per_attempt,
                    "etcd call did not answer; retrying"
                );
                continue;
            }
        };
        if !is_transient(&error) {
            return Err(failed(operation, &error));
        }
        let pause = backoff.next_pause();
        if Instant::now() + pause >= deadline {
            return Err(gave_up(operation, bound, Some(error)));
        }
        tracing::debug!(operation, %error, ?pause, "etcd call failed; retrying");
        last_error = Some(error);
        sleep(pause).await;
    }
}

/// Whether `error` may go away by itself: no connection, no leader, a
/// leader change, a member shutting down.
pub(super) fn is_transient(error: &etcd_client::Error) -> bool {
    use tonic::Code;
    match error {
        etcd_client::Error::TransportError(_) | etcd_client::Error::IoError(_) => true,
        etcd_client::Error::GRpcStatus(status) => matches!(
            status.code(),
            Code::Unavailable | Code::DeadlineExceeded | Code::Unknown | Code::Aborted
        ),
        _ => false,
    }
}

/// An error for an operation etcd refused.
pub(super) fn failed(operation: &str, error: &etcd_client::Error) -> Error {
    Error::registry(BACKEND, format!("{operation} failed: {error}"))
}

fn gave_up(operation: &'static str, bound: Duration, last: Option<etcd_client::Error>) -> Error {
    match last {
        Some(error) => Error::RegistryUnreachable {
            backend: BACKEND,
            operation,
            after: bound,
            last_error: error.to_string(),
        },
        None => Error::RegistryTimeout {
            backend: BACKEND,
            operation,
            after: bound,
        },
    }
}

/// Exponential backoff with jitter, so consumers that lost etcd together do
/// not all come back in the same millisecond.
pub(super) struct Backoff {
    first: Duration,
    max: Duration,
    next: Duration,
}

impl Backoff {
    pub(super) fn new(first: Duration, max: Duration) -> Self {
        Backoff {
            first,
            max,
            next: first,
        }
    }

    /// The pause before the next attempt: the current step plus up to half
    /// of it at random; the step doubles up to `max`.
    pub(super) fn next_pause(&mut self) -> Duration {
        let step = self.next;
        self.next = (step * 2).min(self.max);
        let jitter_ms = u64::try_from(step.as_millis() / 2).unwrap_or(u64::MAX);
        step + Duration::from_millis(fastrand::u64(0..=jitter_ms))
    }

    /// Back to the first step after a success.
    pub(super) fn reset(&mut self) {
        self.next = self.first;
    }
}

/// An etcd revision as a sae revision (etcd's are positive `i64`s).
pub(super) fn revision(etcd_revision: i64) -> sae_core::Revision {
    sae_core::Revision(u64::try_from(etcd_revision).unwrap_or(0))
}
