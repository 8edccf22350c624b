//! Ingress rules, end to end: rule files loaded from disk into `LaneLayer`,
//! a stable percentage over many user ids, and hot swaps that refuse a bad
//! file while the running rules stay in force.

#[path = "support/canary.rs"]
mod canary;
mod support;

use std::convert::Infallible;
use std::path::PathBuf;

use http::{HeaderValue, Request, Response, StatusCode};
use sae_governance::lane::{self, LaneLayer, LaneRules};
use sae_registry::MemoryRegistry;
use tower::{Layer, ServiceExt, service_fn};

use canary::{raw_get, start_node, start_node_with, wait_downstream};
use support::Kind;

/// A scratch directory for rule files, removed on drop.
struct Scratch(PathBuf);

impl Scratch {
    fn new(name: &str) -> Self {
        let dir = std::env::temp_dir().join(format!("sae-{name}-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        Scratch(dir)
    }

    fn write(&self, file: &str, text: &str) -> PathBuf {
        let path = self.0.join(file);
        std::fs::write(&path, text).unwrap();
        path
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

const TEN_PERCENT: &str = r#"
rules:
  - name: ten-percent-of-users
    lane: gray
    percentage: { header: x-user-id, percent: 10 }
"#;

/// 10 % of 10,000 distinct user ids land in the lane (± 1.5 %), and each
/// user lands in the same lane on a second pass, through the layer.
#[tokio::test]
async fn ten_percent_rule_is_close_and_stable_per_user() {
    let scratch = Scratch::new("ten-percent");
    let rules = LaneRules::from_file(scratch.write("rules.yaml", TEN_PERCENT)).unwrap();
    let service = LaneLayer::with_rules(rules).layer(service_fn(|_: Request<()>| async {
        Ok::<_, Infallible>(Response::new(lane::current()))
    }));
    let mut first = Vec::with_capacity(10_000);
    for pass in 0..2 {
        for id in 0..10_000 {
            let request = Request::get("/")
                .header("x-user-id", format!("user-{id}"))
                .body(())
                .unwrap();
            let lane = service.clone().oneshot(request).await.unwrap().into_body();
            let in_lane = lane.is_some_and(|lane| lane.as_str() == "gray");
            if pass == 0 {
                first.push(in_lane);
            } else {
                assert_eq!(in_lane, first[id], "user-{id} changed lanes");
            }
        }
    }
    let share = first.iter().filter(|in_lane| **in_lane).count() as f64 / 100.0;
    println!("ten-percent rule: {share:.2} % of 10,000 user ids in the lane");
    assert!((8.5..=11.5).contains(&share), "{share} %");
}

/// Over loopback: the rule decides at ingress (A) and the lane then
/// follows the chain: users in the lane reach B-gray, the others B-base.
#[tokio::test(start_paused = true)]
async fn rule_assigned_lane_follows_the_chain() {
    let _ticker = support::ClockTicker::start();
    let scratch = Scratch::new("rule-chain");
    let rules = LaneRules::from_file(scratch.write("rules.yaml", TEN_PERCENT)).unwrap();
    let registry = MemoryRegistry::new();
    let b_base = start_node(&registry, Kind::Http, "b", "b-base", None, None).await;
    let b_gray = start_node(&registry, Kind::Http, "b", "b-gray", Some("gray"), None).await;
    let layer = LaneLayer::with_rules(rules.clone());
    let a = start_node_with(&registry, Kind::Http, "a", "a-base", None, Some("b"), layer).await;
    wait_downstream(&a, &["b-base", "b-gray"]).await;
    let mut in_lane = 0;
    for id in 0..200 {
        let user = HeaderValue::from_str(&format!("user-{id}")).unwrap();
        let request = Request::get("/")
            .header("x-user-id", user.clone())
            .body(())
            .unwrap();
        let expected = match rules.assign(request.headers(), request.uri()) {
            Some(_) => {
                in_lane += 1;
                "a-base>b-gray"
            }
            None => "a-base>b-base",
        };
        let (status, path) = raw_get(a.addr, &[("x-user-id", user)]).await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(path, expected, "user-{id}");
    }
    assert!(in_lane > 0);
    assert_eq!(b_gray.hop.hits(), in_lane);
    assert_eq!(b_gray.hop.untagged(), 0);
    for node in [a, b_base, b_gray] {
        node.stop().await;
    }
}

/// A rule file with an error is refused with the rule and field named;
/// the running rules stay in force until a good file replaces them.
#[tokio::test(start_paused = true)]
async fn bad_rule_file_is_rejected_and_running_rules_stay() {
    let _ticker = support::ClockTicker::start();
    let scratch = Scratch::new("rule-reload");
    let path = scratch.write(
        "rules.toml",
        "[[rules]]\nname = \"beta\"\nlane = \"gray\"\nheaders = [{ name = \"x-beta\", exact = \"yes\" }]\n",
    );
    let rules = LaneRules::from_file(&path).unwrap();
    let registry = MemoryRegistry::new();
    let b_base = start_node(&registry, Kind::Http, "b", "b-base", None, None).await;
    let b_gray = start_node(&registry, Kind::Http, "b", "b-gray", Some("gray"), None).await;
    let layer = LaneLayer::with_rules(rules.clone());
    let a = start_node_with(&registry, Kind::Http, "a", "a-base", None, Some("b"), layer).await;
    wait_downstream(&a, &["b-base", "b-gray"]).await;
    let beta = || [("x-beta", HeaderValue::from_static("yes"))];
    assert_eq!(raw_get(a.addr, &beta()).await.1, "a-base>b-gray");

    // A second rule with a bad regex: refused, naming rule and field.
    std::fs::write(
        &path,
        "[[rules]]\nname = \"beta\"\nlane = \"blue\"\npath_prefix = \"/\"\n\n\
         [[rules]]\nname = \"broken\"\nlane = \"gray\"\ncookies = [{ name = \"c\", regex = \"([a-z]\" }]\n",
    )
    .unwrap();
    let error = rules.reload_file(&path).unwrap_err().to_string();
    assert!(
        error.contains(r#"rules[1] ("broken").cookies[0].regex"#) && error.contains("rules.toml"),
        "{error}"
    );
    assert_eq!(
        raw_get(a.addr, &beta()).await.1,
        "a-base>b-gray",
        "old rules still run"
    );
    assert_eq!(raw_get(a.addr, &[]).await.1, "a-base>b-base");

    // A shape error is refused too, with its path.
    std::fs::write(&path, "[[rules]]\nlane = \"gray\"\nheader = []\n").unwrap();
    let error = rules.reload_file(&path).unwrap_err().to_string();
    assert!(
        error.contains("rules[0]") && error.contains("header"),
        "{error}"
    );
    assert_eq!(raw_get(a.addr, &beta()).await.1, "a-base>b-gray");

    // A good file takes over without a restart.
    std::fs::write(
        &path,
        "[[rules]]\nlane = \"gray\"\npath_prefix = \"/chain\"\n",
    )
    .unwrap();
    rules.reload_file(&path).unwrap();
    assert_eq!(raw_get(a.addr, &[]).await.1, "a-base>b-gray");
    for node in [a, b_base, b_gray] {
        node.stop().await;
    }
}
