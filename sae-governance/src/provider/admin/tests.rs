use std::time::Duration;

use axum::Router;
use axum::routing::get;
use bytes::Bytes;
use futures_util::FutureExt;
use http::{HeaderMap, HeaderValue, Method, Request};
use http_body_util::Empty;
use sae_core::{Error, Phase, Registry, ServiceName};
use sae_registry::MemoryRegistry;
use tokio::net::TcpListener;

use super::AdminToken;
use crate::provider::Provider;
use crate::provider::test_support::{
    ClockTicker, Http1Connection, loopback, orders, send_once, shared,
};

const TOKEN: &str = "s3cret-admin-token-0123";

fn hello() -> Router {
    Router::new().route("/hello", get(|| async { "hello" }))
}

/// A provider of `orders` serving [`hello`] on loopback, with its admin
/// listener on `admin` (and `token`, if any), started and Serving.
struct Started {
    addr: std::net::SocketAddr,
    handle: crate::provider::ShutdownHandle,
    lifecycle: sae_core::Lifecycle,
    serving: tokio::task::JoinHandle<Result<crate::provider::ServeReport, Error>>,
}

async fn start(registry: &MemoryRegistry, admin: TcpListener, token: Option<&str>) -> Started {
    let listener = loopback().await;
    let addr = listener.local_addr().unwrap();
    let mut builder = Provider::builder(orders(), shared(registry))
        .handle_signals(false)
        .admin_listener(admin)
        .notice_quiet_period(Duration::from_secs(10))
        .notice_max(Duration::from_secs(20));
    if let Some(token) = token {
        builder = builder.admin_token(token);
    }
    let provider = builder.build().unwrap();
    let handle = provider.shutdown_handle();
    let lifecycle = provider.lifecycle();
    let serving = tokio::spawn(provider.serve_router(listener, hello()));
    lifecycle.reached(Phase::Serving).await;
    Started {
        addr,
        handle,
        lifecycle,
        serving,
    }
}

fn admin_request(
    method: Method,
    path: &str,
    authorization: Option<HeaderValue>,
) -> Request<Empty<Bytes>> {
    let mut request = Request::builder()
        .method(method)
        .uri(path)
        .header(http::header::HOST, "admin.test")
        .body(Empty::new())
        .unwrap();
    if let Some(value) = authorization {
        request
            .headers_mut()
            .insert(http::header::AUTHORIZATION, value);
    }
    request
}

#[test]
fn token_checks_scheme_value_and_duplicates() {
    let token = AdminToken::new(TOKEN).unwrap();
    let with = |values: &[&[u8]]| {
        let mut headers = HeaderMap::new();
        for value in values {
            headers.append(
                http::header::AUTHORIZATION,
                HeaderValue::from_bytes(value).unwrap(),
            );
        }
        token.authorizes(&headers)
    };
    assert!(with(&[format!("Bearer {TOKEN}").as_bytes()]));
    assert!(with(&[format!("bearer {TOKEN}").as_bytes()]));
    assert!(!with(&[]));
    assert!(!with(&[b"Bearer"]));
    assert!(!with(&[b"Bearer wrong-token-of-some-length"]));
    assert!(!with(&[format!("Basic {TOKEN}").as_bytes()]));
    assert!(!with(&[format!("Bearer {TOKEN}x").as_bytes()]));
    assert!(!with(&[b"Bearer \xff\xfe\x80"]));
    let right = format!("Bearer {TOKEN}");
    assert!(!with(&[right.as_bytes(), right.as_bytes()]));
    assert!(format!("{token:?}").contains("redacted"));
    assert!(!format!("{token:?}").contains(TOKEN));
}

#[test]
fn short_or_invisible_tokens_are_rejected() {
    assert!(matches!(
        AdminToken::new("short"),
        Err(Error::Config { .. })
    ));
    assert!(matches!(
        AdminToken::new("a token with spaces in it"),
        Err(Error::Config { .. })
    ));
}

#[tokio::test]
async fn non_loopback_admin_without_token_is_a_config_error() {
    let registry = MemoryRegistry::new();
    let refused = Provider::builder(orders(), shared(&registry))
        .admin("0.0.0.0:9901".parse().unwrap())
        .build();
    assert!(matches!(refused, Err(Error::Config { .. })), "{refused:?}");

    let listener = TcpListener::bind("0.0.0.0:0").await.unwrap();
    let refused = Provider::builder(orders(), shared(&registry))
        .admin_listener(listener)
        .build();
    assert!(matches!(refused, Err(Error::Config { .. })), "{refused:?}");

    assert!(
        Provider::builder(orders(), shared(&registry))
            .admin_port(9901)
            .build()
            .is_ok()
    );
    assert!(
        Provider::builder(orders(), shared(&registry))
            .admin("0.0.0.0:9901".parse().unwrap())
            .admin_token(TOKEN)
            .build()
            .is_ok()
    );
}

#[tokio::test(start_paused = true)]
async fn prestop_without_token_is_refused_and_changes_nothing() {
    let _ticker = ClockTicker::start();
    let registry = MemoryRegistry::new();
    let admin = TcpListener::bind("0.0.0.0:0").await.unwrap();
    let admin_addr =
        std::net::SocketAddr::from(([127, 0, 0, 1], admin.local_addr().unwrap().port()));
    let Started {
        addr,
        handle,
        lifecycle,
        serving,
    } = start(&registry, admin, Some(TOKEN)).await;

    let refusals = [
        None,
        Some(HeaderValue::from_static(
            "Bearer wrong-token-of-some-length",
        )),
        Some(HeaderValue::from_bytes(b"Bearer \xff\xfe").unwrap()),
        Some(HeaderValue::from_str(&format!("Basic {TOKEN}")).unwrap()),
    ];
    for authorization in refusals {
        for method in [Method::GET, Method::POST] {
            let response = send_once(
                admin_addr,
                admin_request(method, "/prestop", authorization.clone()),
            )
            .await;
            assert_eq!(response.status(), 401);
            assert_eq!(response.headers()["www-authenticate"], "Bearer");
        }
    }
    let ready = send_once(admin_addr, admin_request(Method::GET, "/ready", None)).await;
    assert_eq!(ready.status(), 401);

    // Nothing changed: still serving, registered, answering without the notice.
    assert_eq!(lifecycle.phase(), Phase::Serving);
    assert_eq!(handle.triggered_by(), None);
    let listed = registry
        .list(&ServiceName::new("orders").unwrap())
        .await
        .unwrap();
    assert_eq!(listed.instances.len(), 1);
    let response = Http1Connection::open(addr).await.get("/hello").await;
    assert_eq!(response.status(), 200);
    assert!(response.headers().get("x-sae-offline").is_none());

    // With the token, preStop works.
    let bearer = HeaderValue::from_str(&format!("Bearer {TOKEN}")).unwrap();
    let ready = send_once(
        admin_addr,
        admin_request(Method::GET, "/ready", Some(bearer.clone())),
    )
    .await;
    assert_eq!(ready.status(), 200);
    let prestop = send_once(
        admin_addr,
        admin_request(Method::GET, "/prestop", Some(bearer)),
    )
    .await;
    assert_eq!(prestop.status(), 200);
    let report = serving.await.unwrap().unwrap();
    assert_eq!(report.trigger, Some(crate::provider::Trigger::PreStop));
}

#[tokio::test(start_paused = true)]
async fn prestop_answers_once_the_notice_window_is_over() {
    let _ticker = ClockTicker::start();
    let registry = MemoryRegistry::new();
    let admin = loopback().await;
    let admin_addr = admin.local_addr().unwrap();
    let Started {
        handle,
        lifecycle,
        serving,
        ..
    } = start(&registry, admin, None).await;

    let prestop = send_once(admin_addr, admin_request(Method::GET, "/prestop", None)).await;
    assert_eq!(prestop.status(), 200);
    // By the time preStop answered, the window was closed and the provider drained.
    assert!(handle.notice_window_closed().now_or_never().is_some());
    assert!(lifecycle.is_draining());
    assert_eq!(
        handle.triggered_by(),
        Some(crate::provider::Trigger::PreStop)
    );
    serving.await.unwrap().unwrap();
}

#[tokio::test(start_paused = true)]
async fn readiness_flips_to_503_once_draining() {
    let _ticker = ClockTicker::start();
    let registry = MemoryRegistry::new();
    let admin = loopback().await;
    let admin_addr = admin.local_addr().unwrap();
    let Started {
        handle,
        lifecycle,
        serving,
        ..
    } = start(&registry, admin, None).await;

    let get = |path: &'static str| send_once(admin_addr, admin_request(Method::GET, path, None));
    assert_eq!(get("/ready").await.status(), 200);
    assert_eq!(get("/live").await.status(), 200);

    handle.shutdown();
    lifecycle.reached(Phase::Draining).await;
    assert_eq!(get("/ready").await.status(), 503);
    assert_eq!(get("/live").await.status(), 200);
    serving.await.unwrap().unwrap();
}

#[tokio::test(start_paused = true)]
async fn the_rules_endpoint_reports_the_revision_each_kind_runs() {
    use sae_core::rules::{RuleDocument, RuleFormat, RuleKind};

    let _ticker = ClockTicker::start();
    let registry = MemoryRegistry::new();
    // Written before the provider starts: it serves with these from the first request.
    let lanes = RuleDocument::new(
        "orders",
        RuleKind::LANES,
        RuleFormat::Yaml,
        "rules: [{ lane: gray, path_prefix: /beta/ }]",
    )
    .unwrap();
    let written = registry.put_rules(lanes).await.unwrap();
    let admin = loopback().await;
    let admin_addr = admin.local_addr().unwrap();
    let Started {
        handle, serving, ..
    } = start(&registry, admin, None).await;

    let rules = send_once(admin_addr, admin_request(Method::GET, "/rules", None)).await;
    assert_eq!(rules.status(), 200);
    assert_eq!(
        rules.headers()[http::header::CONTENT_TYPE],
        "application/json"
    );
    let json: serde_json::Value = serde_json::from_slice(rules.body()).unwrap();
    assert_eq!(json["rules"]["read"], true, "{json}");
    assert_eq!(
        json["rules"]["kinds"]["lanes"]["revision"], written.0,
        "{json}"
    );
    assert_eq!(
        json["rules"]["kinds"]["lanes"]["source"], "registry",
        "{json}"
    );
    assert_eq!(
        json["rules"]["kinds"]["protection"]["source"], "built",
        "{json}"
    );
    assert_eq!(
        json["rules"]["kinds"]["protection"]["revision"],
        serde_json::Value::Null,
        "{json}"
    );

    handle.shutdown();
    serving.await.unwrap().unwrap();
}

fn orders_service() -> sae_core::ServiceName {
    sae_core::ServiceName::new("orders").unwrap()
}

/// Polls `registry` (virtual time: a paused clock) until `orders` reports
/// `kind` handled at `revision`; bounded.
async fn reported(
    registry: &MemoryRegistry,
    kind: &str,
    revision: sae_core::Revision,
) -> sae_core::rules::RuleReports {
    let kind = sae_core::rules::RuleKind::new(kind).unwrap();
    for _ in 0..1_000 {
        let reports = registry.rule_reports(&orders_service()).await.unwrap();
        if reports.reports.iter().any(|report| {
            report
                .kinds
                .get(&kind)
                .is_some_and(|status| status.has_handled(revision))
        }) {
            return reports;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("no report of {kind} at {revision} within 10 s of virtual time");
}

#[tokio::test(start_paused = true)]
async fn the_registry_holds_the_instances_report_and_it_follows_every_change() {
    use sae_core::rules::{RuleDocument, RuleFormat, RuleKind, RuleSource};

    let _ticker = ClockTicker::start();
    let registry = MemoryRegistry::new();
    let lanes = |prefix: &str| {
        RuleDocument::new(
            "orders",
            RuleKind::LANES,
            RuleFormat::Yaml,
            format!("rules: [{{ lane: gray, path_prefix: /{prefix}/ }}]"),
        )
        .unwrap()
    };
    let first = registry.put_rules(lanes("beta")).await.unwrap();
    let admin = loopback().await;
    let admin_addr = admin.local_addr().unwrap();
    let Started {
        handle, serving, ..
    } = start(&registry, admin, None).await;

    let reports = reported(&registry, RuleKind::LANES, first).await;
    let [report] = reports.reports.as_slice() else {
        panic!("one instance, one report: {reports:?}");
    };
    let lanes_kind = RuleKind::new(RuleKind::LANES).unwrap();
    assert_eq!(report.kinds[&lanes_kind].source, RuleSource::Registry);
    assert!(report.read);
    // The registry's copy says what the admin listener says.
    let admin_json = send_once(admin_addr, admin_request(Method::GET, "/rules", None)).await;
    let admin_json: serde_json::Value = serde_json::from_slice(admin_json.body()).unwrap();
    assert_eq!(
        admin_json["rules"]["kinds"]["lanes"],
        report.kinds[&lanes_kind].to_json_value()
    );

    // A write and a refused write are reported as they are handled.
    let second = registry.put_rules(lanes("gamma")).await.unwrap();
    reported(&registry, RuleKind::LANES, second).await;
    let bad = RuleDocument::new(
        "orders",
        RuleKind::LANES,
        RuleFormat::Yaml,
        "rules: [{ lane: \"\" }]",
    )
    .unwrap();
    let refused = registry.put_rules(bad).await.unwrap();
    let reports = reported(&registry, RuleKind::LANES, refused).await;
    let status = &reports.reports[0].kinds[&lanes_kind];
    assert_eq!(status.revision, Some(second), "the running rules stay");
    assert_eq!(status.refused.as_ref().map(|r| r.revision), Some(refused));

    // Deleted from outside (an operator's mistake): the provider registers
    // again and publishes its report again.
    let id = reports.reports[0].id.clone();
    registry.deregister(&orders_service(), &id).await.unwrap();
    let reports = reported(&registry, RuleKind::LANES, refused).await;
    assert_eq!(reports.reports[0].id, id);

    // Deregistering takes the report with it.
    handle.shutdown();
    serving.await.unwrap().unwrap();
    assert!(
        registry
            .rule_reports(&orders_service())
            .await
            .unwrap()
            .reports
            .is_empty()
    );
}
