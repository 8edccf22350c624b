//! [`EtcdLease`]: the etcd lease and keep-alive behind a
//! [`sae_core::Registration`].
//!
//! One tokio task per registration renews the lease every TTL/3 over etcd's
//! keep-alive stream (three chances before it lapses, as etcd's own clients
//! do). A renewal that fails because etcd is unreachable is retried on the
//! next tick: the lease may still be alive, and etcd extends every lease when
//! it restarts or elects a new leader. Only etcd saying the lease is gone
//! (TTL 0, "lease not found") resolves [`Lease::lost`], so the registrar
//! registers again with a new lease.
//!
//! Dropping the lease ends the task without revoking: the key then expires
//! after the TTL, exactly as when the process is killed.

use std::time::Duration;

use etcd_client::{Client, Compare, CompareOp, LeaseKeepAliveStream, LeaseKeeper, Txn, TxnOp};
use sae_core::{BoxFuture, Error, Lease};
use tokio::sync::{oneshot, watch};
use tokio::time::{MissedTickBehavior, interval, timeout};

use super::rpc::retried;

/// The etcd registry's [`Lease`].
pub(super) struct EtcdLease {
    client: Client,
    key: String,
    lease_id: i64,
    request_timeout: Duration,
    /// Dropped with the lease: tells the keep-alive task to stop.
    stop: oneshot::Sender<()>,
    lost: watch::Receiver<bool>,
}

impl EtcdLease {
    /// Starts keeping `lease_id` (granted with `ttl`) alive for `key`.
    pub(super) fn start(
        client: Client,
        key: String,
        lease_id: i64,
        ttl: Duration,
        request_timeout: Duration,
    ) -> EtcdLease {
        let (stop, stop_rx) = oneshot::channel();
        let (lost_tx, lost) = watch::channel(false);
        let keeper = KeepAlive {
            client: client.clone(),
            key: key.clone(),
            lease_id,
            period: ttl / 3,
            stream: None,
        };
        tokio::spawn(keeper.run(stop_rx, lost_tx));
        EtcdLease {
            client,
            key,
            lease_id,
            request_timeout,
            stop,
            lost,
        }
    }
}

impl Lease for EtcdLease {
    /// Deletes the key if it still belongs to this lease (a newer
    /// registration of the same id stays), then revokes the lease.
    fn deregister(self: Box<Self>) -> BoxFuture<'static, Result<(), Error>> {
        let EtcdLease {
            client,
            key,
            lease_id,
            request_timeout,
            stop,
            lost: _,
        } = *self;
        drop(stop);
        Box::pin(async move {
            retried(&client, "deregister", request_timeout, |mut client| {
                let txn = Txn::new()
                    .when([Compare::lease(key.as_str(), CompareOp::Equal, lease_id)])
                    .and_then([TxnOp::delete(key.as_str(), None)]);
                async move { client.txn(txn).await }
            })
            .await?;
            // The key is gone; revoking only frees the lease early.
            match retried(
                &client,
                "revoke lease",
                request_timeout,
                |mut client| async move { client.lease_revoke(lease_id).await },
            )
            .await
            {
                Err(error) if !error.to_string().contains("lease not found") => Err(error),
                _ => Ok(()),
            }
        })
    }

    fn lost(&self) -> BoxFuture<'static, ()> {
        let mut lost = self.lost.clone();
        Box::pin(async move {
            if lost.wait_for(|lost| *lost).await.is_err() {
                // The keep-alive ended without losing the lease (dropped or deregistered).
                std::future::pending::<()>().await;
            }
        })
    }
}

/// The keep-alive task's state.
struct KeepAlive {
    client: Client,
    key: String,
    lease_id: i64,
    period: Duration,
    /// The open keep-alive stream; reopened after an error.
    stream: Option<(LeaseKeeper, LeaseKeepAliveStream)>,
}

/// What one renewal learned.
enum Renewal {
    Alive,
    Gone,
}

impl KeepAlive {
    async fn run(mut self, mut stop: oneshot::Receiver<()>, lost: watch::Sender<bool>) {
        let mut ticker = interval(self.period);
        ticker.set_missed_tick_behavior(MissedTickBehavior::Delay);
        ticker.tick().await; // The lease was just granted.
        let mut failing = false;
        loop {
            tokio::select! {
                biased;
                _ = &mut stop => return,
                _ = ticker.tick() => {}
            }
            // A renewal that hangs must not delay the next one past the TTL.
            let renewal = tokio::select! {
                biased;
                _ = &mut stop => return,
                renewal = timeout(self.period, self.renew()) => renewal,
            };
            match renewal {
                Ok(Ok(Renewal::Alive)) => {
                    if std::mem::take(&mut failing) {
                        tracing::info!(key = %self.key, lease = self.lease_id, "etcd lease renewed again");
                    }
                }
                Ok(Ok(Renewal::Gone)) => {
                    tracing::warn!(key = %self.key, lease = self.lease_id, "etcd lease expired; the instance must register again");
                    let _ = lost.send(true);
                    return;
                }
                Ok(Err(error)) => self.renewal_failed(&mut failing, &error.to_string()),
                Err(_) => self.renewal_failed(&mut failing, "no answer within TTL/3"),
            }
        }
    }

    /// Logs the first failure of an outage only, and drops the stream so the
    /// next tick opens a new one.
    fn renewal_failed(&mut self, failing: &mut bool, error: &str) {
        self.stream = None;
        if !std::mem::replace(failing, true) {
            tracing::warn!(key = %self.key, lease = self.lease_id, %error, "renewing etcd lease failed; retrying every TTL/3");
        }
    }

    async fn renew(&mut self) -> Result<Renewal, etcd_client::Error> {
        let Some((keeper, stream)) = &mut self.stream else {
            // Opening the stream sends the first renewal and reads its answer.
            return match self.client.lease_client().keep_alive(self.lease_id).await {
                Ok(opened) => {
                    self.stream = Some(opened);
                    Ok(Renewal::Alive)
                }
                Err(etcd_client::Error::LeaseKeepAliveError(_)) => Ok(Renewal::Gone),
                Err(error) => Err(error),
            };
        };
        keeper.keep_alive().await?;
        match stream.message().await? {
            Some(answer) if answer.ttl() > 0 => Ok(Renewal::Alive),
            Some(_) => Ok(Renewal::Gone),
            None => Err(etcd_client::Error::LeaseKeepAliveError(
                "keep-alive stream ended".into(),
            )),
        }
    }
}
