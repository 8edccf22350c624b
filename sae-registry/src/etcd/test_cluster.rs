//! Test support: real etcd processes on free loopback ports.
//!
//! Each node runs `etcd` (found on `PATH` or at `/usr/bin/etcd`) with its
//! data in a fresh temporary directory. Nodes are killed and their
//! directories removed on `Drop`, so a failing or panicking test leaves
//! nothing running. Readiness is polled through a client, never slept for.

use std::fs;
use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use etcd_client::{Client, GetOptions};

/// How long a node may take to start answering.
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

/// One etcd member.
pub(crate) struct EtcdNode {
    name: String,
    client_port: u16,
    peer_port: u16,
    initial_cluster: String,
    dir: TempDir,
    process: Option<Child>,
}

impl EtcdNode {
    /// `host:port` of the client listener.
    pub(crate) fn endpoint(&self) -> String {
        format!("127.0.0.1:{}", self.client_port)
    }

    fn peer_url(&self) -> String {
        format!("http://127.0.0.1:{}", self.peer_port)
    }

    /// Starts (or restarts, with the same data) the process.
    pub(crate) fn start(&mut self) {
        assert!(self.process.is_none(), "{} is already running", self.name);
        let data_dir = self.dir.0.join("data");
        let log = fs::File::create(self.dir.0.join("etcd.log")).expect("create etcd log");
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
                    "cannot start {}: {e}; install etcd (apt-get install etcd-server) or run scripts/test.sh",
                    etcd_binary().display()
                )
            });
        self.process = Some(child);
    }

    /// Kills the process (SIGKILL) and waits for it; the data stays.
    pub(crate) fn kill(&mut self) {
        if let Some(mut child) = self.process.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// The log, for failure messages.
    pub(crate) fn log(&self) -> String {
        fs::read_to_string(self.dir.0.join("etcd.log")).unwrap_or_default()
    }

    fn log_path(&self) -> PathBuf {
        self.dir.0.join("etcd.log")
    }
}

impl Drop for EtcdNode {
    fn drop(&mut self) {
        self.kill();
    }
}

/// A cluster of one or more members on loopback ports.
pub(crate) struct EtcdCluster {
    pub(crate) nodes: Vec<EtcdNode>,
}

impl EtcdCluster {
    /// Starts a one-member cluster and waits until it answers.
    pub(crate) async fn single() -> EtcdCluster {
        Self::start(1).await
    }

    /// Starts `size` members and waits until every one answers.
    pub(crate) async fn start(size: usize) -> EtcdCluster {
        let ports: Vec<(u16, u16)> = (0..size).map(|_| (free_port(), free_port())).collect();
        let initial_cluster = ports
            .iter()
            .enumerate()
            .map(|(i, (_, peer))| format!("n{i}=http://127.0.0.1:{peer}"))
            .collect::<Vec<_>>()
            .join(",");
        let mut nodes: Vec<EtcdNode> = ports
            .into_iter()
            .enumerate()
            .map(|(i, (client_port, peer_port))| EtcdNode {
                name: format!("n{i}"),
                client_port,
                peer_port,
                initial_cluster: initial_cluster.clone(),
                dir: TempDir::new(),
                process: None,
            })
            .collect();
        for node in &mut nodes {
            node.start();
        }
        let cluster = EtcdCluster { nodes };
        for index in 0..size {
            cluster.wait_ready(index).await;
        }
        cluster
    }

    /// Every member's endpoint.
    pub(crate) fn endpoints(&self) -> Vec<String> {
        self.nodes.iter().map(EtcdNode::endpoint).collect()
    }

    /// Polls member `index` until it serves a linearizable read.
    pub(crate) async fn wait_ready(&self, index: usize) {
        let node = &self.nodes[index];
        let deadline = tokio::time::Instant::now() + READY_WITHIN;
        loop {
            if let Ok(Ok(mut client)) = tokio::time::timeout(
                Duration::from_secs(1),
                Client::connect([node.endpoint()], None),
            )
            .await
            {
                let read = client.get("ready", Some(GetOptions::new().with_count_only()));
                if let Ok(Ok(_)) = tokio::time::timeout(Duration::from_secs(1), read).await {
                    return;
                }
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "etcd {} did not answer within {READY_WITHIN:?}; log {}:\n{}",
                node.name,
                node.log_path().display(),
                node.log()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// The index of the current leader, asked of every running member.
    pub(crate) async fn leader(&self) -> usize {
        let deadline = tokio::time::Instant::now() + READY_WITHIN;
        loop {
            for (index, node) in self.nodes.iter().enumerate() {
                if node.process.is_none() {
                    continue;
                }
                let Ok(mut client) = Client::connect([node.endpoint()], None).await else {
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

    /// A raw client on every member, for set-up the registry does not do.
    pub(crate) async fn raw_client(&self) -> Client {
        Client::connect(self.endpoints(), None)
            .await
            .expect("raw etcd client")
    }
}
