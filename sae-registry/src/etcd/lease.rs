//! [`EtcdLease`]: the etcd lease and keep-alive behind a
//! [`sae_core::Registration`].
//!
//! One tokio task per registration renews the lease every TTL/3 over etcd's
//! keep-alive stream (three chances before it lapses, as etcd's own clients
//! do). A renewal that fails because etcd is unreachable is retried on the
//! next tick: the lease may still be alive, and etcd extends every lease when
//! it restarts or elects a new leader.
//!
//! A live lease is not enough: an operator's `etcdctl del`, or a bad write
//! over the key, leaves the lease alive and renewed while every consumer has
//! dropped the instance for good. So after each successful renewal the task
//! reads the key back and checks that it still holds this lease and the value
//! this registration wrote.
//!
//! [`Lease::lost`] resolves when etcd says the lease is gone (TTL 0, "lease
//! not found") or the key is gone or no longer ours, so within one TTL of
//! either; the owner then registers again, with a new lease. A failed read,
//! like a failed renewal, is an outage, not a loss.
//!
//! Dropping the lease ends the task without revoking: the key then expires
//! after the TTL, exactly as when the process is killed.

use std::fmt;
use std::time::Duration;

use etcd_client::{Client, Compare, CompareOp, LeaseKeepAliveStream, LeaseKeeper, Txn, TxnOp};
use sae_core::rules::RuleReport;
use sae_core::{BoxFuture, Error, Lease};
use tokio::sync::{oneshot, watch};
use tokio::time::{MissedTickBehavior, interval, timeout};

use super::reports;
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
    /// Starts keeping `lease_id` (granted with `ttl`) alive for `key`, which
    /// this registration put with `value`.
    pub(super) fn start(
        client: Client,
        key: String,
        value: Vec<u8>,
        lease_id: i64,
        ttl: Duration,
        request_timeout: Duration,
    ) -> EtcdLease {
        let (stop, stop_rx) = oneshot::channel();
        let (lost_tx, lost) = watch::channel(false);
        let keeper = KeepAlive {
            client: client.clone(),
            key: key.clone(),
            value,
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

    /// Puts the report under this lease while the instance key holds it.
    fn report_rules(&self, report: RuleReport) -> BoxFuture<'static, Result<(), Error>> {
        let client = self.client.clone();
        let key = self.key.clone();
        let lease_id = self.lease_id;
        let bound = self.request_timeout;
        Box::pin(async move {
            // `Registration::report_rules` checked that it is this instance's.
            let written = retried(&client, "report rules", bound, |mut client| {
                let (key, report) = (key.clone(), report.clone());
                async move { reports::put(&mut client, &key, lease_id, &report).await }
            })
            .await?;
            if written {
                Ok(())
            } else {
                Err(Error::NotRegistered {
                    service: report.service.as_str().to_owned(),
                    id: report.id.as_str().to_owned(),
                })
            }
        })
    }

    /// Resolves when the lease expired or was revoked, or when the key was
    /// deleted or overwritten while the lease lived; see the
    /// [module docs](self).
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
    /// The value this registration put: the key must still hold it.
    value: Vec<u8>,
    lease_id: i64,
    period: Duration,
    /// The open keep-alive stream; reopened after an error.
    stream: Option<(LeaseKeeper, LeaseKeepAliveStream)>,
}

/// What one tick learned.
enum Renewal {
    /// The lease is renewed and the key is still this registration's.
    Alive,
    /// etcd says the lease is gone.
    Gone,
    /// The lease lives but the key does not hold this registration any more:
    /// what was found there instead.
    Replaced(KeyFound),
}

/// What the key held when it was no longer this registration's.
enum KeyFound {
    /// The key was deleted.
    Missing,
    /// The key is attached to another lease (0: none).
    OtherLease(i64),
    /// The key holds this lease but another value.
    OtherValue(String),
}

impl fmt::Display for KeyFound {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            KeyFound::Missing => f.write_str("no key (deleted)"),
            KeyFound::OtherLease(0) => f.write_str("a value attached to no lease"),
            KeyFound::OtherLease(lease) => write!(f, "a value attached to lease {lease}"),
            KeyFound::OtherValue(value) => write!(f, "another value under this lease: {value}"),
        }
    }
}

/// Why a tick learned nothing: etcd is unreachable or has no leader.
enum TickFailure {
    Renewal(etcd_client::Error),
    Read(etcd_client::Error),
    NoAnswer,
}

impl fmt::Display for TickFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TickFailure::Renewal(error) => write!(f, "renewing the lease: {error}"),
            TickFailure::Read(error) => write!(f, "reading the key back: {error}"),
            TickFailure::NoAnswer => f.write_str("no answer within TTL/3"),
        }
    }
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
            // A tick that hangs must not delay the next one past the TTL.
            let renewal = tokio::select! {
                biased;
                _ = &mut stop => return,
                renewal = timeout(self.period, self.tick()) => renewal,
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
                Ok(Ok(Renewal::Replaced(found))) => {
                    tracing::warn!(key = %self.key, lease = self.lease_id, %found, "etcd registry key was deleted or overwritten while its lease lived; the instance must register again");
                    let _ = lost.send(true);
                    self.release(&found).await;
                    return;
                }
                Ok(Err(failure)) => self.tick_failed(&mut failing, failure),
                Err(_) => self.tick_failed(&mut failing, TickFailure::NoAnswer),
            }
        }
    }

    /// Logs the first failure of an outage only (whether the renewal or the
    /// read failed), and drops the stream after a failed renewal so the next
    /// tick opens a new one.
    fn tick_failed(&mut self, failing: &mut bool, failure: TickFailure) {
        if !matches!(failure, TickFailure::Read(_)) {
            self.stream = None;
        }
        if !std::mem::replace(failing, true) {
            tracing::warn!(key = %self.key, lease = self.lease_id, error = %failure, "keeping etcd registration alive failed; retrying every TTL/3");
        }
    }

    /// Renews the lease, then checks that the key is still this registration's.
    async fn tick(&mut self) -> Result<Renewal, TickFailure> {
        match self.renew().await.map_err(TickFailure::Renewal)? {
            Renewal::Alive => self.check_key().await.map_err(TickFailure::Read),
            other => Ok(other),
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

    /// Reads the key back. One linearizable `get` per renewal rather than a
    /// watch on the key: it rides on the renewal's schedule and its outage
    /// handling (a failed read is retried on the next tick, like a failed
    /// renewal), and needs no second stream per registration to resume
    /// after etcd restarts or compacts. TTL/3 between reads keeps detection
    /// within one TTL.
    async fn check_key(&mut self) -> Result<Renewal, etcd_client::Error> {
        let answer = self.client.get(self.key.as_str(), None).await?;
        let found = match answer.kvs().first() {
            None => KeyFound::Missing,
            Some(kv) if kv.lease() != self.lease_id => KeyFound::OtherLease(kv.lease()),
            Some(kv) if kv.value() != self.value.as_slice() => {
                KeyFound::OtherValue(String::from_utf8_lossy(kv.value()).into_owned())
            }
            Some(_) => return Ok(Renewal::Alive),
        };
        Ok(Renewal::Replaced(found))
    }

    /// Revokes the lease once the key no longer holds it, so it does not
    /// linger for a TTL; best effort, as the lease expires anyway. A lease
    /// that still holds the key (with another value) is left to expire: no
    /// one renews it any more, and revoking it would delete that value now.
    async fn release(&mut self, found: &KeyFound) {
        if matches!(found, KeyFound::OtherValue(_)) {
            return;
        }
        self.stream = None;
        let revoked = timeout(self.period, self.client.lease_revoke(self.lease_id)).await;
        if !matches!(revoked, Ok(Ok(_))) {
            tracing::debug!(key = %self.key, lease = self.lease_id, "revoking the orphaned etcd lease failed; it expires within its TTL");
        }
    }
}
