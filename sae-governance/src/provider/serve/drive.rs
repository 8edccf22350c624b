//! [`Provider::drive`]: the sequence around any server, with the admin
//! endpoints and signal handling running next to it.

use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;

use sae_core::Error;
use tokio::net::TcpListener;
use tokio::sync::oneshot;

use super::connections::Connections;
use super::sequence::Sequence;
use super::{ADMIN_GRACE, AdminBind, Provider, ServeReport};
use crate::provider::shutdown::listen_for_signals;

impl Provider {
    /// Runs the sequence around a server listening on `bound`: readiness,
    /// registration, the triggers (signals when enabled, the admin endpoints
    /// when configured), deregistration and the notice window; then
    /// `stop_server()`, which must stop accepting, shut the server down
    /// gracefully and resolve once its connections ended; it is bounded by
    /// the drain timeout. The server must run its service under
    /// [`Provider::layer`] so the notice is stamped.
    ///
    /// # Errors
    ///
    /// As [`Provider::serve`]. On a registration error `stop_server` is not called.
    pub(crate) async fn drive<F, Fut>(
        self,
        bound: SocketAddr,
        stop_server: F,
    ) -> Result<ServeReport, Error>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = ()>,
    {
        let Provider {
            rules,
            rule_status,
            registrar,
            lifecycle,
            shutdown,
            in_flight,
            layer: _,
            record_peer: _,
            admin,
            timings,
            handle_signals,
            offline_notice,
            limits: _,
            admin_limits,
        } = self;
        let admin = match admin {
            None => None,
            Some((AdminBind::Listener(listener), admin)) => Some((listener, admin)),
            Some((AdminBind::Addr(addr), admin)) => {
                let listener = TcpListener::bind(addr).await.map_err(|error| {
                    Error::io(format!("binding the admin listener on {addr}"), error)
                })?;
                Some((listener, admin))
            }
        };
        let signals = handle_signals.then(|| listen_for_signals(shutdown.clone()));
        let (admin_stop_tx, admin_stop_rx) = oneshot::channel::<()>();
        let admin_server = async move {
            let Some((listener, admin)) = admin else {
                return;
            };
            if let Ok(addr) = listener.local_addr() {
                tracing::info!(%addr, "admin endpoints listening");
            }
            let mut connections = Connections::new(admin_limits, false);
            connections
                .accept_until(&listener, admin.router(), async {
                    let _ = admin_stop_rx.await;
                })
                .await;
            drop(listener);
            let _ = tokio::time::timeout(ADMIN_GRACE, connections.shutdown()).await;
        };
        // Owned by this future: dropping it (kill -9) ends the follower too.
        let follower = rules.map(crate::rules::RuleFollower::spawn);
        let sequence = Sequence {
            rules: follower.is_some().then_some(rule_status),
            registrar,
            lifecycle,
            shutdown,
            in_flight,
            timings,
            offline_notice,
        };
        let run = async move {
            let signals = async move {
                match signals {
                    Some(signals) => signals.await,
                    None => std::future::pending().await,
                }
                // A signal only triggers the handle; the sequence goes on.
                std::future::pending::<Infallible>().await
            };
            let result = tokio::select! {
                result = sequence.run(bound, stop_server) => result,
                never = signals => match never {},
            };
            let _ = admin_stop_tx.send(());
            result
        };
        let (result, ()) = tokio::join!(run, admin_server);
        result
    }
}
