//! What an inventory instance does: serve with a fixed capacity, or fail
//! the way a scenario says.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use parking_lot::Mutex;
use tokio::sync::{Semaphore, watch};
use tokio::time::Instant;

/// Workers per inventory instance.
pub const WORKERS: usize = 2;
/// How long one request occupies a worker.
pub const WORK: Duration = Duration::from_millis(20);

/// How an instance behaves now.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Health {
    /// Serves with its capacity.
    Normal,
    /// Answers `503` at once.
    Failing,
    /// Accepts requests and answers none until it is healthy again.
    Hanging,
}

/// One instance's switch, flipped by the scenario.
#[derive(Clone)]
pub struct Fault {
    health: Arc<watch::Sender<Health>>,
}

impl Fault {
    pub fn new() -> Fault {
        Fault {
            health: Arc::new(watch::Sender::new(Health::Normal)),
        }
    }

    /// Switches the instance to `health`; a hanging request answers once it
    /// is no longer hanging.
    pub fn set(&self, health: Health) {
        self.health.send_replace(health);
    }

    pub fn now(&self) -> Health {
        *self.health.borrow()
    }

    /// Waits while the instance hangs.
    pub async fn while_hanging(&self) {
        let mut health = self.health.subscribe();
        let _ = health.wait_for(|h| *h != Health::Hanging).await;
    }
}

/// A server with a fixed capacity: [`WORKERS`] workers, each busy [`WORK`]
/// per request, and a FIFO queue in front of them with no bound (a plain
/// server's accept backlog and task queue). Capacity = workers / work time,
/// exactly: a worker's next request starts when its previous one ended (in
/// the schedule, not when the timer woke), so timer lateness never
/// accumulates into lost capacity.
pub struct Capacity {
    workers: Semaphore,
    /// When each idle worker became free.
    free_at: Mutex<Vec<Instant>>,
    /// Requests served to completion, shared by the instances of a run.
    served: Arc<AtomicU64>,
}

impl Capacity {
    pub fn new(served: Arc<AtomicU64>) -> Capacity {
        let now = Instant::now();
        Capacity {
            workers: Semaphore::new(WORKERS),
            free_at: Mutex::new(vec![now; WORKERS]),
            served,
        }
    }

    /// Queues for a worker and does the work. A request dropped while it
    /// waits takes nothing; one dropped during its work keeps the worker
    /// busy until the work would have ended, as a real server would.
    pub async fn serve(&self) {
        let arrived = Instant::now();
        let _permit = self.workers.acquire().await.expect("never closed");
        let free = {
            let mut free_at = self.free_at.lock();
            let earliest = (0..free_at.len())
                .min_by_key(|&i| free_at[i])
                .expect("a permit means a free worker");
            free_at.swap_remove(earliest)
        };
        let worker = Worker {
            capacity: self,
            until: arrived.max(free) + WORK,
        };
        tokio::time::sleep_until(worker.until).await;
        self.served.fetch_add(1, Ordering::Relaxed);
    }
}

/// A worker in use; returned to the pool (free at `until`) before the
/// permit is released.
struct Worker<'a> {
    capacity: &'a Capacity,
    until: Instant,
}

impl Drop for Worker<'_> {
    fn drop(&mut self) {
        self.capacity.free_at.lock().push(self.until);
    }
}
