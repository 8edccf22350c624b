//! [`Provider::shutdown_signal`]: the provider's sequence around a server
//! you run yourself (stock `axum::serve`, tonic's `Server`).

use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::task::{Context, Poll};

use tokio::sync::{oneshot, watch};
use tokio::task::JoinHandle;

use super::{Provider, ServeReport};

impl Provider {
    /// Starts the provider's sequence for a server you run yourself,
    /// listening on `bound`, and returns the future to give that server as
    /// its graceful-shutdown signal:
    ///
    /// ```no_run
    /// # use axum::{Router, routing::get};
    /// # use sae_core::Instance;
    /// # use sae_governance::Provider;
    /// # use sae_registry::MemoryRegistry;
    /// # #[tokio::main]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
    /// # let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    /// # let provider = Provider::builder(Instance::builder("orders"), MemoryRegistry::new()).build()?;
    /// # let app = Router::new().route("/", get(|| async { "hello" }));
    /// let app = app.layer(provider.layer());
    /// let shutdown = provider.shutdown_signal(listener.local_addr()?);
    /// axum::serve(listener, app).with_graceful_shutdown(shutdown).await?;
    /// # Ok(())
    /// # }
    /// ```
    ///
    /// The sequence runs in a task of its own from this call on: it waits
    /// for readiness, registers (retrying while the registry is down),
    /// serves the admin endpoints and listens for signals when configured;
    /// on a trigger it deregisters and holds the notice window. The signal
    /// resolves then, and the server's own graceful shutdown drains. The
    /// task waits for the requests in flight up to the drain timeout, moves
    /// the lifecycle to Stopped and logs the [`ServeReport`] ([`ShutdownSignal::report`]);
    /// it cannot drop the server's connections, so a drain that outlives the
    /// bound is reported, not cut short.
    ///
    /// If the sequence cannot start (an admin listener that cannot bind, an
    /// instance with no routable address) the error is logged and the
    /// signal resolves at once, so the server stops instead of serving
    /// unregistered. Dropping the signal before it resolved stops the
    /// sequence without deregistering, as a crash would; the registration
    /// then expires with its lease.
    ///
    /// # Panics
    ///
    /// Outside a Tokio runtime: the sequence is spawned here.
    pub fn shutdown_signal(self, bound: SocketAddr) -> ShutdownSignal {
        let (fire, fired) = oneshot::channel::<()>();
        let (report_tx, report) = watch::channel(None);
        let in_flight = self.in_flight.clone();
        let id = self.id().clone();
        let task = tokio::spawn(async move {
            let stop_server = move || async move {
                let _ = fire.send(());
                in_flight.idle().await;
            };
            let outcome = self.drive(bound, stop_server).await;
            match &outcome {
                Ok(report) => tracing::info!(%id, ?report, "provider stopped"),
                Err(error) => {
                    tracing::error!(%id, %error, "provider sequence failed; stopping the server")
                }
            }
            report_tx.send_replace(Some(outcome.map_err(|error| error.to_string())));
        });
        ShutdownSignal {
            fired,
            task: Some(task),
            report: StopReport { report },
        }
    }
}

/// The graceful-shutdown signal of a server run under a [`Provider`]:
/// resolves once the provider has deregistered and its notice window is
/// over. See [`Provider::shutdown_signal`].
#[must_use = "give the signal to the server's graceful shutdown"]
#[derive(Debug)]
pub struct ShutdownSignal {
    fired: oneshot::Receiver<()>,
    /// The sequence; aborted if the signal is dropped before it fired.
    task: Option<JoinHandle<()>>,
    report: StopReport,
}

impl ShutdownSignal {
    /// A handle on the provider's [`ServeReport`], available once it stopped;
    /// take it before giving the signal to the server.
    pub fn report(&self) -> StopReport {
        self.report.clone()
    }
}

/// The outcome of a provider run by a [`ShutdownSignal`]: its
/// [`ServeReport`] once it stopped, or why its sequence failed.
#[derive(Clone, Debug)]
pub struct StopReport {
    report: watch::Receiver<Option<Result<ServeReport, String>>>,
}

impl StopReport {
    /// Waits until the provider stopped (its drain over or bounded) and
    /// returns its report, or the message of the error that ended its
    /// sequence. Resolves with an error too when the sequence was dropped
    /// before it finished (the signal dropped before it fired).
    pub async fn wait(&self) -> Result<ServeReport, String> {
        let mut report = self.report.clone();
        match report.wait_for(Option::is_some).await {
            Ok(outcome) => outcome.clone().unwrap_or_else(|| Err("no report".into())),
            Err(_) => Err("the provider's sequence was stopped before it finished".into()),
        }
    }
}

impl Future for ShutdownSignal {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        // Resolves on the fire and on a sequence that ended without firing.
        let _ = std::task::ready!(Pin::new(&mut self.fired).poll(cx));
        // From here the sequence finishes the drain on its own.
        self.task = None;
        Poll::Ready(())
    }
}

impl Drop for ShutdownSignal {
    fn drop(&mut self) {
        if let Some(task) = self.task.take() {
            task.abort();
        }
    }
}
