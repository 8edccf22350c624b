//! The built `sae` binary against a real etcd: what an operator types, and
//! what it prints and exits with.

use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{ExitStatus, Stdio};
use std::sync::Arc;
use std::time::Duration;

use sae_core::rules::{
    KindStatus, Refusal, RuleDocument, RuleFormat, RuleKind, RuleReport, RuleSource,
};
use sae_core::{Instance, InstanceId, Registration, Registry, ServiceName};
use sae_registry::etcd::testing::EtcdCluster;
use serde_json::Value;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::process::Command;

/// How long one `sae` run may take before the test fails.
const RUN_BOUND: Duration = Duration::from_secs(30);

const LANES: &str =
    "rules:\n  - name: beta\n    lane: gray\n    headers: [{ name: x-group, exact: beta }]\n";

/// What one run of `sae` did.
#[derive(Debug)]
struct Run {
    status: ExitStatus,
    stdout: String,
    stderr: String,
}

impl Run {
    fn code(&self) -> i32 {
        self.status.code().expect("sae exited by a signal")
    }

    /// Asserts exit code `code` and returns self, with the output in the message.
    fn expect(self, code: i32) -> Self {
        assert_eq!(self.code(), code, "unexpected exit code: {self:#?}");
        assert!(
            !self.stderr.contains("panicked") && !self.stderr.contains("RUST_BACKTRACE"),
            "sae panicked: {self:#?}"
        );
        self
    }
}

/// Runs `sae ARGS` with `SAE_REGISTRY` unset (or set to `registry_env`),
/// `stdin` as its input.
async fn sae_with(args: &[&str], registry_env: Option<&str>, stdin: &[u8]) -> Run {
    let mut command = Command::new(env!("CARGO_BIN_EXE_sae"));
    command
        .args(args)
        .env_remove("SAE_REGISTRY")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    if let Some(url) = registry_env {
        command.env("SAE_REGISTRY", url);
    }
    let mut child = command.spawn().expect("run sae");
    let mut input = child.stdin.take().expect("stdin");
    input.write_all(stdin).await.expect("write stdin");
    drop(input);
    let output = tokio::time::timeout(RUN_BOUND, child.wait_with_output())
        .await
        .unwrap_or_else(|_| panic!("sae {args:?} did not finish within {RUN_BOUND:?}"))
        .expect("wait for sae");
    Run {
        status: output.status,
        stdout: String::from_utf8(output.stdout).expect("UTF-8 stdout"),
        stderr: String::from_utf8(output.stderr).expect("UTF-8 stderr"),
    }
}

/// Runs `sae --registry URL ARGS`.
async fn sae(cluster: &EtcdCluster, args: &[&str]) -> Run {
    let url = cluster.url();
    let mut all = vec!["--registry", url.as_str()];
    all.extend_from_slice(args);
    sae_with(&all, None, b"").await
}

fn registry(cluster: &EtcdCluster) -> Arc<dyn Registry> {
    sae_registry::from_url(&cluster.url()).expect("registry")
}

/// Whether `service` has no rule document stored.
async fn no_rules_stored(cluster: &EtcdCluster, service: &str) -> bool {
    let service = ServiceName::new(service).unwrap();
    let snapshot = registry(cluster).list_rules(&service).await.unwrap();
    snapshot.rules.is_empty() && snapshot.unreadable.is_empty()
}

async fn register(
    registry: &dyn Registry,
    service: &str,
    id: &str,
    port: u16,
    lane: Option<&str>,
) -> Registration {
    let mut builder = Instance::builder(service)
        .id(id)
        .addr(format!("127.0.0.1:{port}").parse().unwrap())
        .weight(50)
        .warmup(Duration::from_secs(600));
    if let Some(lane) = lane {
        builder = builder.lane(lane);
    }
    registry
        .register(builder.build().unwrap())
        .await
        .expect("register")
}

/// A file in a fresh temporary directory, removed with it on drop.
struct TempFile {
    dir: PathBuf,
    path: PathBuf,
}

impl TempFile {
    fn new(name: &str, text: &str) -> TempFile {
        static NEXT: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
        let dir = std::env::temp_dir().join(format!(
            "sae-cli-test-{}-{}",
            std::process::id(),
            NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
        ));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join(name);
        std::fs::write(&path, text).unwrap();
        TempFile { dir, path }
    }

    fn path(&self) -> &str {
        self.path.to_str().unwrap()
    }
}

impl Drop for TempFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// The number after "revision " in `text`.
fn revision_in(text: &str) -> u64 {
    let (_, after) = text
        .split_once("revision ")
        .unwrap_or_else(|| panic!("no revision in {text:?}"));
    after
        .trim()
        .trim_end_matches(|c: char| !c.is_ascii_digit())
        .parse()
        .unwrap_or_else(|_| panic!("no revision number in {text:?}"))
}

#[tokio::test]
async fn services_and_instances_show_what_is_registered() {
    let cluster = EtcdCluster::single().await;
    let registry = registry(&cluster);
    let _o1 = register(&*registry, "orders", "orders-1", 8081, None).await;
    let _o2 = register(&*registry, "orders", "orders-2", 8082, Some("gray")).await;
    let _e1 = register(&*registry, "edge", "edge-1", 9001, None).await;
    registry
        .put_rules(RuleDocument::new("edge", RuleKind::LANES, RuleFormat::Yaml, LANES).unwrap())
        .await
        .unwrap();

    let run = sae(&cluster, &["services"]).await.expect(0);
    let lines: Vec<&str> = run.stdout.lines().collect();
    assert_eq!(lines.len(), 3, "{run:#?}");
    assert!(
        lines[0].starts_with("SERVICE") && lines[0].contains("INSTANCES"),
        "{run:#?}"
    );
    let edge: Vec<&str> = lines[1].split_whitespace().collect();
    assert_eq!(edge, ["edge", "1", "base", "1", "lanes"], "{run:#?}");
    let orders: Vec<&str> = lines[2].split_whitespace().collect();
    assert_eq!(
        orders,
        ["orders", "2", "base", "1,", "gray", "1", "-"],
        "{run:#?}"
    );

    // The registry from the environment, --json after the command.
    let run = sae_with(&["services", "--json"], Some(&cluster.url()), b"")
        .await
        .expect(0);
    let value: Value = serde_json::from_str(&run.stdout).expect("one JSON document");
    let services = value["services"].as_array().unwrap();
    assert_eq!(services.len(), 2);
    assert_eq!(services[1]["service"], "orders");
    assert_eq!(services[1]["instances"], 2);
    assert_eq!(services[1]["lanes"]["gray"], 1);
    assert_eq!(services[0]["rules"], serde_json::json!(["lanes"]));

    let run = sae(&cluster, &["instances", "orders"]).await.expect(0);
    let lines: Vec<&str> = run.stdout.lines().collect();
    assert_eq!(lines.len(), 3, "{run:#?}");
    for heading in ["ID", "ADDRESS", "LANE", "WEIGHT", "WARM-UP", "AGE"] {
        assert!(lines[0].contains(heading), "{run:#?}");
    }
    let first: Vec<&str> = lines[1].split_whitespace().collect();
    assert_eq!(
        &first[..5],
        ["orders-1", "127.0.0.1:8081", "base", "50", "warming"],
        "{run:#?}"
    );
    let second: Vec<&str> = lines[2].split_whitespace().collect();
    assert_eq!(
        &second[..5],
        ["orders-2", "127.0.0.1:8082", "gray", "50", "warming"],
        "{run:#?}"
    );
    // Columns line up: each address starts where its heading does.
    let column = lines[0].find("ADDRESS").unwrap();
    assert_eq!(lines[1].find("127.0.0.1:8081"), Some(column), "{run:#?}");
    assert_eq!(lines[2].find("127.0.0.1:8082"), Some(column), "{run:#?}");

    let run = sae(&cluster, &["--json", "instances", "orders"])
        .await
        .expect(0);
    let value: Value = serde_json::from_str(&run.stdout).expect("one JSON document");
    assert_eq!(value["service"], "orders");
    let instances = value["instances"].as_array().unwrap();
    let ids: Vec<&str> = instances
        .iter()
        .map(|i| i["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, ["orders-1", "orders-2"]);
    assert_eq!(instances[0]["address"], "127.0.0.1:8081");
    assert_eq!(instances[0]["lane"], Value::Null);
    assert_eq!(instances[1]["lane"], "gray");
    assert_eq!(instances[1]["weight"], 50);
    assert_eq!(instances[1]["warm_up"]["state"], "warming");
    assert_eq!(instances[1]["warm_up"]["window_ms"], 600_000);
}

#[tokio::test]
async fn an_unknown_service_is_not_found() {
    let cluster = EtcdCluster::single().await;
    let run = sae(&cluster, &["instances", "nosuch"]).await.expect(4);
    assert_eq!(
        run.stderr,
        "sae: error: no instance of service \"nosuch\" is registered\n"
    );
    assert_eq!(run.stdout, "");
    let run = sae(&cluster, &["rules", "get", "nosuch", "lanes"])
        .await
        .expect(4);
    assert!(
        run.stderr
            .starts_with("sae: error: no lanes rules of service \"nosuch\""),
        "{run:#?}"
    );
}

#[tokio::test]
async fn a_dry_run_checks_and_prints_but_writes_nothing() {
    let cluster = EtcdCluster::single().await;
    let file = TempFile::new("rollout.yaml", LANES);
    let run = sae(
        &cluster,
        &["rules", "apply", "--dry-run", "edge", "lanes", file.path()],
    )
    .await
    .expect(0);
    assert!(run.stdout.starts_with("dry run: lanes rules of edge are valid (1 rule); nothing written. Would write /sae/v1/rules/edge/lanes (yaml):\n"), "{run:#?}");
    assert!(run.stdout.ends_with(LANES), "{run:#?}");

    let run = sae(&cluster, &["rules", "get", "edge", "lanes"])
        .await
        .expect(4);
    assert!(
        run.stderr
            .contains("no lanes rules of service \"edge\" are stored"),
        "{run:#?}"
    );
    assert!(no_rules_stored(&cluster, "edge").await);
}

#[tokio::test]
async fn apply_get_and_delete_round_trip_with_revisions() {
    let cluster = EtcdCluster::single().await;
    let registry = registry(&cluster);
    let edge = ServiceName::new("edge").unwrap();
    let file = TempFile::new("rollout.yml", LANES);

    let run = sae(&cluster, &["rules", "apply", "edge", "lanes", file.path()])
        .await
        .expect(0);
    assert!(
        run.stdout
            .starts_with("wrote lanes rules of edge: 1 rule, revision "),
        "{run:#?}"
    );
    let written = revision_in(&run.stdout);
    let stored = registry.list_rules(&edge).await.unwrap();
    let lanes = stored
        .get(&RuleKind::new("lanes").unwrap())
        .expect("written");
    assert_eq!(lanes.revision.0, written);
    assert_eq!(lanes.document.text, LANES);
    assert_eq!(lanes.document.format, RuleFormat::Yaml);

    let run = sae(&cluster, &["rules", "get", "edge", "lanes"])
        .await
        .expect(0);
    assert_eq!(run.stdout, LANES);
    assert_eq!(
        run.stderr,
        format!("sae: lanes rules of edge: yaml, revision {written}\n")
    );

    let run = sae(&cluster, &["rules", "get", "edge", "lanes", "--json"])
        .await
        .expect(0);
    let value: Value = serde_json::from_str(&run.stdout).expect("one JSON document");
    assert_eq!(
        value,
        serde_json::json!({"service": "edge", "kind": "lanes", "key": "/sae/v1/rules/edge/lanes", "format": "yaml", "revision": written, "text": LANES})
    );

    // From stdin, with --format; JSON output.
    let protection =
        r#"{"rules": [{"name": "calls-retry", "strategy": {"kind": "retry", "attempts": 3}}]}"#;
    let url = cluster.url();
    let args = [
        "-r",
        &url,
        "--json",
        "rules",
        "apply",
        "edge",
        "protection",
        "-",
        "--format",
        "json",
    ];
    let run = sae_with(&args, None, protection.as_bytes()).await.expect(0);
    let value: Value = serde_json::from_str(&run.stdout).expect("one JSON document");
    assert_eq!(value["kind"], "protection");
    assert_eq!(value["rules"], 1);
    let second = value["revision"].as_u64().unwrap();
    assert!(second > written, "{run:#?}");

    let run = sae(&cluster, &["rules", "delete", "edge", "lanes"])
        .await
        .expect(0);
    assert!(
        run.stdout
            .starts_with("deleted lanes rules of edge: revision "),
        "{run:#?}"
    );
    assert!(revision_in(&run.stdout) > second, "{run:#?}");
    let left = registry.list_rules(&edge).await.unwrap();
    assert_eq!(left.rules.len(), 1);
    assert_eq!(left.rules[0].document.kind.as_str(), "protection");

    sae(&cluster, &["rules", "get", "edge", "lanes"])
        .await
        .expect(4);
    let run = sae(&cluster, &["rules", "delete", "edge", "lanes"])
        .await
        .expect(4);
    assert_eq!(
        run.stderr,
        "sae: error: no lanes rules of service \"edge\" are stored; nothing was deleted\n"
    );
}

/// The report of `registration`'s instance `id` of `edge`: its lanes status.
async fn report_lanes(registration: &Registration, id: &str, lanes: KindStatus) {
    let report = RuleReport {
        service: ServiceName::new("edge").unwrap(),
        id: InstanceId::new(id).unwrap(),
        read: true,
        kinds: [(RuleKind::lanes(), lanes)].into_iter().collect(),
    };
    registration.report_rules(report).await.expect("report");
}

#[tokio::test]
async fn rules_status_shows_how_far_a_document_has_reached() {
    let cluster = EtcdCluster::single().await;
    let registry = registry(&cluster);
    // Held until the end: dropping one stops its keep-alive.
    let e1 = register(&*registry, "edge", "edge-1", 9001, None).await;
    let e2 = register(&*registry, "edge", "edge-2", 9002, Some("gray")).await;
    let _e3 = register(&*registry, "edge", "edge-3", 9003, None).await;
    let written = registry
        .put_rules(RuleDocument::new("edge", RuleKind::LANES, RuleFormat::Yaml, LANES).unwrap())
        .await
        .unwrap();
    // edge-1 applied it; edge-2 refused it and runs its built rules;
    // edge-3 has published no report.
    report_lanes(
        &e1,
        "edge-1",
        KindStatus {
            source: RuleSource::Registry,
            revision: Some(written),
            refused: None,
            applied: 1,
            handled: Some(written),
        },
    )
    .await;
    let error =
        "/sae/v1/rules/edge/lanes: rules[0] (\"beta\").lane: \"no spaces\" is not a lane name";
    report_lanes(
        &e2,
        "edge-2",
        KindStatus {
            source: RuleSource::Built,
            revision: None,
            refused: Some(Refusal {
                revision: written,
                error: error.into(),
            }),
            applied: 0,
            handled: Some(written),
        },
    )
    .await;
    // A value under the reports prefix that is not a report: a warning.
    let mut raw = cluster.raw_client().await;
    raw.put("/sae/v1/reports/edge/edge-9", "{not a report", None)
        .await
        .unwrap();

    let run = sae(&cluster, &["rules", "status", "edge"]).await.expect(0);
    let rev = written.0.to_string();
    let lines: Vec<&str> = run.stdout.lines().collect();
    assert_eq!(lines.len(), 6, "{run:#?}");
    let words = |line: &str| {
        line.split_whitespace()
            .map(str::to_owned)
            .collect::<Vec<_>>()
    };
    assert_eq!(
        words(lines[0]),
        [
            "INSTANCE", "KIND", "SOURCE", "RUNNING", "HANDLED", "REFUSED"
        ],
        "{run:#?}"
    );
    assert_eq!(
        words(lines[1]),
        ["edge-1", "lanes", "registry", &rev, &rev, "-"],
        "{run:#?}"
    );
    assert!(
        lines[2].starts_with("edge-2")
            && words(lines[2])[..5] == ["edge-2", "lanes", "built", "-", rev.as_str()]
            && lines[2].contains(&format!("  {rev}: /sae/v1/rules/edge/lanes: rules[0]")),
        "{run:#?}"
    );
    assert_eq!(
        words(lines[3]),
        ["edge-3", "-", "no", "report", "-", "-", "-"],
        "{run:#?}"
    );
    assert_eq!(lines[4], "", "{run:#?}");
    assert_eq!(
        lines[5],
        format!(
            "lanes: document at revision {rev}: handled by 2 of 3 instances (1 refused it); 0 have not handled it yet; 1 without a report"
        ),
        "{run:#?}"
    );
    assert!(
        run.stderr.starts_with(
            "sae: warning: the rule report at /sae/v1/reports/edge/edge-9 cannot be read: "
        ),
        "{run:#?}"
    );

    let run = sae(&cluster, &["rules", "status", "edge", "--json"])
        .await
        .expect(0);
    let value: Value = serde_json::from_str(&run.stdout).expect("one JSON document");
    assert_eq!(value["service"], "edge");
    assert_eq!(
        value["documents"],
        serde_json::json!({ "lanes": written.0 })
    );
    assert_eq!(
        value["summary"]["lanes"],
        serde_json::json!({
            "revision": written.0, "readable": true, "instances": 3,
            "handled": 2, "refused": 1, "pending": 0, "unreported": 1,
        })
    );
    let instances = value["instances"].as_array().unwrap();
    let ids: Vec<&str> = instances
        .iter()
        .map(|i| i["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, ["edge-1", "edge-2", "edge-3"]);
    assert_eq!(instances[1]["lane"], "gray");
    assert_eq!(
        instances[0]["report"]["kinds"]["lanes"]["source"],
        "registry"
    );
    assert_eq!(
        instances[1]["report"]["kinds"]["lanes"]["refused"],
        serde_json::json!({ "revision": written.0, "error": error })
    );
    assert_eq!(instances[2]["report"], Value::Null);
    let unreadable = value["unreadable"].as_array().unwrap();
    assert_eq!(unreadable.len(), 1);
    assert_eq!(unreadable[0]["key"], "/sae/v1/reports/edge/edge-9");

    let run = sae(&cluster, &["rules", "status", "nosuch"])
        .await
        .expect(4);
    assert_eq!(
        run.stderr,
        "sae: error: no instance of service \"nosuch\" is registered and no rules of it are stored\n"
    );
    assert_eq!(run.stdout, "");
}

#[tokio::test]
async fn a_bad_rules_file_is_refused_naming_the_rule_and_field() {
    let cluster = EtcdCluster::single().await;
    let lane = TempFile::new(
        "bad.yaml",
        "rules:\n  - name: beta\n    lane: \"no spaces\"\n    path_prefix: /x\n",
    );
    let run = sae(&cluster, &["rules", "apply", "edge", "lanes", lane.path()])
        .await
        .expect(3);
    assert!(run.stderr.starts_with("sae: error: "), "{run:#?}");
    assert!(run.stderr.contains("rules[0] (\"beta\").lane"), "{run:#?}");
    assert!(run.stderr.contains("\"no spaces\""), "{run:#?}");
    assert_eq!(run.stdout, "");

    let retry = TempFile::new(
        "p.toml",
        "[[rules]]\nstrategy = { kind = \"retry\", attempts = 0 }\n",
    );
    let run = sae(
        &cluster,
        &["rules", "apply", "edge", "protection", retry.path()],
    )
    .await
    .expect(3);
    assert!(run.stderr.contains("rules[0]"), "{run:#?}");
    assert!(run.stderr.contains("attempts"), "{run:#?}");

    let run = sae(
        &cluster,
        &["rules", "apply", "edge", "lanes", "/nonexistent/rules.yaml"],
    )
    .await
    .expect(3);
    assert!(
        run.stderr.contains("cannot read /nonexistent/rules.yaml"),
        "{run:#?}"
    );

    // Nothing was written.
    assert!(no_rules_stored(&cluster, "edge").await);
}

#[tokio::test]
async fn watch_prints_changes_until_interrupted() {
    let cluster = EtcdCluster::single().await;
    let registry = registry(&cluster);
    let mut child = Command::new(env!("CARGO_BIN_EXE_sae"))
        .args(["--registry", &cluster.url(), "watch", "orders", "--json"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("run sae watch");
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let mut next = async || -> Value {
        let line = tokio::time::timeout(RUN_BOUND, lines.next_line())
            .await
            .expect("a line in time")
            .expect("read")
            .expect("sae watch ended");
        serde_json::from_str(&line).unwrap_or_else(|e| panic!("{line:?}: {e}"))
    };

    let mut snapshots =
        [next().await, next().await].map(|v| v["event"].as_str().unwrap().to_owned());
    snapshots.sort();
    assert_eq!(snapshots, ["instances", "rules"]);

    let registration = register(&*registry, "orders", "orders-1", 8081, Some("gray")).await;
    let up = next().await;
    assert_eq!(up["event"], "instance_up");
    assert_eq!(up["instance"]["id"], "orders-1");
    assert_eq!(up["instance"]["lane"], "gray");

    let written = registry
        .put_rules(RuleDocument::new("orders", RuleKind::LANES, RuleFormat::Yaml, LANES).unwrap())
        .await
        .unwrap();
    let put = next().await;
    assert_eq!(put["event"], "rules_put");
    assert_eq!(put["kind"], "lanes");
    assert_eq!(put["valid"], true);
    assert_eq!(put["revision"], written.0);

    registration.deregister().await.unwrap();
    let down = next().await;
    assert_eq!(down["event"], "instance_down");
    assert_eq!(down["id"], "orders-1");

    // Ctrl-C: the watch ends, successfully.
    let pid = child.id().expect("running").to_string();
    let signalled = std::process::Command::new("kill")
        .args(["-INT", &pid])
        .status()
        .unwrap();
    assert!(signalled.success());
    let status = tokio::time::timeout(RUN_BOUND, child.wait())
        .await
        .expect("sae watch stops on Ctrl-C")
        .unwrap();
    assert_eq!(status.code(), Some(0));
}

#[tokio::test]
async fn an_unreachable_registry_fails_quickly_with_exit_1() {
    // A port nothing listens on.
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let url = format!("etcd://127.0.0.1:{port}");

    let run = sae_with(
        &["--registry", &url, "--timeout", "1s", "instances", "orders"],
        None,
        b"",
    )
    .await
    .expect(1);
    assert!(
        run.stderr
            .starts_with(&format!("sae: error: cannot reach the registry at {url}: ")),
        "{run:#?}"
    );
    // It waited as long as it was told (RUN_BOUND guards against a hang).
    assert!(run.stderr.contains("within 1s"), "{run:#?}");

    // The default bound applies without the flag.
    let run = sae_with(&["services"], Some(&url), b"").await.expect(1);
    assert!(run.stderr.contains("cannot reach the registry"), "{run:#?}");
    assert!(run.stderr.contains("within 5s"), "{run:#?}");
}

#[tokio::test]
async fn memory_and_missing_registries_are_usage_errors() {
    let run = sae_with(&["services", "--registry", "memory://"], None, b"")
        .await
        .expect(2);
    assert_eq!(
        run.stderr,
        "sae: error: memory:// registries live inside one process; the sae command cannot reach one; use etcd://HOST:2379, the registry your services share\n"
    );
    let run = sae_with(&["instances", "orders"], Some("memory://shared"), b"")
        .await
        .expect(2);
    assert!(
        run.stderr
            .contains("memory:// registries live inside one process"),
        "{run:#?}"
    );

    let run = sae_with(&["services"], None, b"").await.expect(2);
    assert!(
        run.stderr.contains("--registry") && run.stderr.contains("SAE_REGISTRY"),
        "{run:#?}"
    );

    let run = sae_with(&["services", "--registry", "etcd://"], None, b"")
        .await
        .expect(2);
    assert!(run.stderr.contains("needs at least one member"), "{run:#?}");

    // clap's own usage errors.
    sae_with(&["instances"], None, b"").await.expect(2);
    let run = sae_with(&["instances", "Bad Name"], None, b"")
        .await
        .expect(2);
    assert!(run.stderr.contains("service name"), "{run:#?}");

    // --help documents the exit codes.
    let run = sae_with(&["--help"], None, b"").await.expect(0);
    assert!(
        run.stdout.contains("Exit codes:") && run.stdout.contains("4  not found"),
        "{run:#?}"
    );
}

#[tokio::test]
async fn an_unreadable_stored_value_is_reported_not_taken_for_missing() {
    let cluster = EtcdCluster::single().await;
    let mut raw = cluster.raw_client().await;
    raw.put("/sae/v1/rules/edge/lanes", "{not a document", None)
        .await
        .unwrap();
    let run = sae(&cluster, &["rules", "get", "edge", "lanes"])
        .await
        .expect(3);
    assert!(
        run.stderr
            .contains("are not a document this build can read")
            && run.stderr.contains("/sae/v1/rules/edge/lanes: "),
        "{}",
        run.stderr
    );
}
