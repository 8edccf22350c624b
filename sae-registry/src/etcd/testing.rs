//! Test support: real etcd processes on free loopback ports (feature
//! `etcd-test-util`, and this crate's own tests).
//!
//! Tests of sae on etcd start their own etcd: nothing must be running
//! before, and nothing must be left running after, even when a test fails.
//! [`EtcdCluster::single`] and [`EtcdCluster::start`] run `etcd` (found on
//! `PATH` or at `/usr/bin/etcd`; `scripts/setup.sh` installs it) with each
//! member's data in a fresh temporary directory, and return once every member
//! answers a read: readiness is polled through a client, never slept for.
//! Members are killed and their directories removed on `Drop`.
//!
//! A member can be killed (SIGKILL) and started again on the same data
//! directory and ports, to test outages and leader failover:
//!
//! ```no_run
//! use sae_registry::etcd::testing::EtcdCluster;
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() {
//! let mut cluster = EtcdCluster::single().await;
//! let registry = sae_registry::from_url(&cluster.url()).unwrap();
//! cluster.process_mut(0).kill();
//! // ... etcd is down ...
//! cluster.restart(0).await;
//! # drop(registry);
//! # }
//! ```
//!
//! Every function here panics, with etcd's log, when etcd cannot be started
//! or does not answer: it is meant for tests only.

use std::fs;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use etcd_client::{Client, CompactionOptions, GetOptions};

/// How long a member may take to start answering.
const READY_WITHIN: Duration = Duration::from_secs(15);

/// The etcd binary.
fn etcd_binary() -> PathBuf {
    let on_path = std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|dir| dir.join("etcd"))
            .find(|candidate| candidate.is_file())
    });
    on_path.unwrap_or_else(|| PathBuf::from("/usr/bin/etcd"))
}

/// A free loopback port: bound, then released for etcd to take.
fn free_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
    listener.local_addr().expect("local addr").port()
}

/// Whether `process` serves a linearizable read now (each step bounded by 1 s).
async fn answers(process: &EtcdProcess) -> bool {
    let connect = Client::connect([process.endpoint()], None);
    let Ok(Ok(mut client)) = tokio::time::timeout(Duration::from_secs(1), connect).await else {
        return false;
    };
    let read = client.get("ready", Some(GetOptions::new().with_count_only()));
    matches!(
        tokio::time::timeout(Duration::from_secs(1), read).await,
        Ok(Ok(_))
    )
}

/// Why `process` is not ready, with its log.
fn not_ready(process: &EtcdProcess) -> String {
    format!(
        "etcd {} did not answer within {READY_WITHIN:?}; log in {}:\n{}",
        process.name,
        process.dir().display(),
        process.log()
    )
}

/// A temporary directory removed on drop.
struct TempDir(PathBuf);

impl TempDir {
    fn new() -> TempDir {
        static NEXT: AtomicU32 = AtomicU32::new(0);
        let path = std::env::temp_dir().join(format!(
            "sae-etcd-test-{}-{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        ));
        let _ = fs::remove_dir_all(&path);
        fs::create_dir_all(&path).expect("create temp dir");
        TempDir(path)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.0);
    }
}

/// One etcd member process. Killed (SIGKILL) on drop.
pub struct EtcdProcess {
    name: String,
    client_port: u16,
    peer_port: u16,
    initial_cluster: String,
    dir: TempDir,
    process: Option<Child>,
}

impl EtcdProcess {
    /// `127.0.0.1:PORT` of the client listener; the same across restarts.
    pub fn endpoint(&self) -> String {
        format!("127.0.0.1:{}", self.client_port)
    }

    /// Whether the process was started and not killed since.
    pub fn is_running(&self) -> bool {
        self.process.is_some()
    }

    fn peer_url(&self) -> String {
        format!("http://127.0.0.1:{}", self.peer_port)
    }

    /// Starts the process, or restarts it with the data and ports it had.
    /// Returns at once; [`EtcdCluster::wait_ready`] waits until it answers.
    ///
    /// # Panics
    ///
    /// When it is already running or the binary cannot be run.
    pub fn start(&mut self) {
        assert!(self.process.is_none(), "{} is already running", self.name);
        let data_dir = self.dir.0.join("data");
        let log = fs::File::create(self.log_path()).expect("create etcd log");
        let client_url = format!("http://{}", self.endpoint());
        let child = Command::new(etcd_binary())
            .args(["--name", &self.name])
            .arg("--data-dir")
            .arg(&data_dir)
            .args(["--listen-client-urls", &client_url])
            .args(["--advertise-client-urls", &client_url])
            .args(["--listen-peer-urls", &self.peer_url()])
            .args(["--initial-advertise-peer-urls", &self.peer_url()])
            .args(["--initial-cluster", &self.initial_cluster])
            .args(["--initial-cluster-state", "new"])
            .args(["--initial-cluster-token", "sae-test"])
            // Fast elections: a killed leader is replaced within about a second.
            .args(["--heartbeat-interval", "50", "--election-timeout", "500"])
            .args(["--logger", "zap", "--log-level", "warn"])
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("clone log"))
            .stderr(log)
            .spawn()
            .unwrap_or_else(|e| {
                panic!(
                    "cannot start {}: {e}; install etcd (apt-get install etcd-server) or run scripts/setup.sh",
                    etcd_binary().display()
                )
            });
        self.process = Some(child);
    }

    /// Kills the process (SIGKILL) and waits for it to exit; the data stays.
    /// Does nothing when it is not running.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.process.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// The process's log (of its latest start), for failure messages.
    pub fn log(&self) -> String {
        fs::read_to_string(self.log_path()).unwrap_or_default()
    }

    fn log_path(&self) -> PathBuf {
        self.dir.0.join("etcd.log")
    }

    fn dir(&self) -> &Path {
        &self.dir.0
    }
}

impl Drop for EtcdProcess {
    fn drop(&mut self) {
        self.kill();
    }
}

/// A cluster of one or more members on loopback ports; every member is
/// killed and its data removed on drop.
pub struct EtcdCluster {
    processes: Vec<EtcdProcess>,
}

impl EtcdCluster {
    /// Starts a one-member cluster and waits until it answers.
    ///
    /// # Panics
    ///
    /// When etcd cannot be started or does not answer within 15 s.
    pub async fn single() -> EtcdCluster {
        Self::start(1).await
    }

    /// Starts `size` members and waits until every one answers.
    ///
    /// # Panics
    ///
    /// When etcd cannot be started or a member does not answer within 15 s.
    pub async fn start(size: usize) -> EtcdCluster {
        // A port found free can be taken by another process before etcd
        // binds it (tests start clusters in parallel): then start again on
        // other ports.
        const ATTEMPTS: usize = 5;
        for attempt in 1..=ATTEMPTS {
            let mut cluster = Self::spawn(size);
            match cluster.all_ready().await {
                Ok(()) => return cluster,
                Err(log) if attempt < ATTEMPTS && log.contains("address already in use") => {}
                Err(log) => panic!("{log}"),
            }
        }
        unreachable!("the last attempt returns or panics")
    }

    /// Starts `size` members on ports free a moment ago.
    fn spawn(size: usize) -> EtcdCluster {
        let ports: Vec<(u16, u16)> = (0..size).map(|_| (free_port(), free_port())).collect();
        let initial_cluster = ports
            .iter()
            .enumerate()
            .map(|(i, (_, peer))| format!("n{i}=http://127.0.0.1:{peer}"))
            .collect::<Vec<_>>()
            .join(",");
        let mut processes: Vec<EtcdProcess> = ports
            .into_iter()
            .enumerate()
            .map(|(i, (client_port, peer_port))| EtcdProcess {
                name: format!("n{i}"),
                client_port,
                peer_port,
                initial_cluster: initial_cluster.clone(),
                dir: TempDir::new(),
                process: None,
            })
            .collect();
        for process in &mut processes {
            process.start();
        }
        EtcdCluster { processes }
    }

    /// Waits until every member answers; the failing member's log when one
    /// exits or does not answer within 15 s.
    async fn all_ready(&mut self) -> Result<(), String> {
        let deadline = tokio::time::Instant::now() + READY_WITHIN;
        for process in &mut self.processes {
            while !answers(process).await {
                let exited = process
                    .process
                    .as_mut()
                    .is_some_and(|child| matches!(child.try_wait(), Ok(Some(_))));
                if exited || tokio::time::Instant::now() >= deadline {
                    return Err(not_ready(process));
                }
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
        Ok(())
    }

    /// Every member's endpoint, `127.0.0.1:PORT`.
    pub fn endpoints(&self) -> Vec<String> {
        self.processes.iter().map(EtcdProcess::endpoint).collect()
    }

    /// The registry URL of the whole cluster, `etcd://127.0.0.1:P1,…`, for
    /// [`from_url`](crate::from_url).
    pub fn url(&self) -> String {
        format!("etcd://{}", self.endpoints().join(","))
    }

    /// Member `index`.
    ///
    /// # Panics
    ///
    /// When there is no such member.
    pub fn process(&self, index: usize) -> &EtcdProcess {
        &self.processes[index]
    }

    /// Member `index`, to kill or start it.
    ///
    /// # Panics
    ///
    /// When there is no such member.
    pub fn process_mut(&mut self, index: usize) -> &mut EtcdProcess {
        &mut self.processes[index]
    }

    /// Starts member `index` again on its data and ports, and waits until
    /// it answers.
    ///
    /// # Panics
    ///
    /// When it is running, or does not answer within 15 s.
    pub async fn restart(&mut self, index: usize) {
        self.processes[index].start();
        self.wait_ready(index).await;
    }

    /// Polls member `index` until it serves a linearizable read.
    ///
    /// # Panics
    ///
    /// When it does not within 15 s; the message carries its log.
    pub async fn wait_ready(&self, index: usize) {
        let process = &self.processes[index];
        let deadline = tokio::time::Instant::now() + READY_WITHIN;
        while !answers(process).await {
            assert!(
                tokio::time::Instant::now() < deadline,
                "{}",
                not_ready(process)
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// The index of the current leader, asked of every running member.
    ///
    /// # Panics
    ///
    /// When no member reports itself leader within 15 s.
    pub async fn leader(&self) -> usize {
        let deadline = tokio::time::Instant::now() + READY_WITHIN;
        loop {
            for (index, process) in self.processes.iter().enumerate() {
                if !process.is_running() {
                    continue;
                }
                let Ok(mut client) = Client::connect([process.endpoint()], None).await else {
                    continue;
                };
                if let Ok(Ok(status)) =
                    tokio::time::timeout(Duration::from_secs(1), client.status()).await
                {
                    let member = status.header().map(|header| header.member_id());
                    if member == Some(status.leader()) {
                        return index;
                    }
                }
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "no etcd leader within {READY_WITHIN:?}"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Compacts the history up to the current revision (physically), so a
    /// watch resuming from an earlier revision finds it gone.
    ///
    /// # Panics
    ///
    /// When etcd does not answer.
    pub async fn compact(&self) {
        let mut raw = self.raw_client().await;
        let now = raw
            .get("compact", Some(GetOptions::new().with_count_only()))
            .await
            .expect("read the current revision")
            .header()
            .expect("a response header")
            .revision();
        raw.compact(now, Some(CompactionOptions::new().with_physical()))
            .await
            .expect("compaction");
    }

    /// A raw `etcd_client::Client` on every member, for set-up and faults
    /// the registry does not do (bad values, revoking leases).
    ///
    /// # Panics
    ///
    /// When no member can be reached.
    pub async fn raw_client(&self) -> Client {
        Client::connect(self.endpoints(), None)
            .await
            .expect("raw etcd client")
    }
}
