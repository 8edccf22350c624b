//! Turning process signals into a [`Trigger`].

use std::future::Future;

use super::{ShutdownHandle, Trigger};

/// Installs SIGTERM and SIGINT handlers (Ctrl-C elsewhere than Unix) at
/// once, and returns a future that triggers `handle` with the first signal.
/// It never resolves otherwise; run it next to the server. Handlers are
/// installed eagerly so a signal that arrives before the future is first
/// polled is not lost (it would otherwise kill the process). If a handler
/// cannot be installed, a warning is logged and the other triggers still work.
///
/// Must be called within a tokio runtime.
pub(crate) fn listen_for_signals(handle: ShutdownHandle) -> impl Future<Output = ()> + Send {
    let signal = wait_for_signal();
    async move {
        let trigger = signal.await;
        tracing::info!(%trigger, "signal received");
        handle.trigger(trigger);
    }
}

#[cfg(unix)]
fn wait_for_signal() -> impl Future<Output = Trigger> + Send {
    use tokio::signal::unix::{Signal, SignalKind, signal};

    fn install(kind: SignalKind, name: &str) -> Option<Signal> {
        match signal(kind) {
            Ok(stream) => Some(stream),
            Err(error) => {
                tracing::warn!(%error, signal = name, "cannot install signal handler");
                None
            }
        }
    }

    async fn recv(stream: Option<&mut Signal>) {
        match stream {
            Some(stream) => {
                stream.recv().await;
            }
            None => std::future::pending().await,
        }
    }

    let mut terminate = install(SignalKind::terminate(), "SIGTERM");
    let mut interrupt = install(SignalKind::interrupt(), "SIGINT");
    async move {
        tokio::select! {
            _ = recv(terminate.as_mut()) => Trigger::Terminate,
            _ = recv(interrupt.as_mut()) => Trigger::Interrupt,
        }
    }
}

#[cfg(not(unix))]
fn wait_for_signal() -> impl Future<Output = Trigger> + Send {
    async {
        match tokio::signal::ctrl_c().await {
            Ok(()) => Trigger::Interrupt,
            Err(error) => {
                tracing::warn!(%error, "cannot install Ctrl-C handler");
                std::future::pending().await
            }
        }
    }
}
