use std::time::Duration;

use http::StatusCode;
use sae_core::{Lane, ServiceName};

use super::*;

fn service(name: &str) -> ServiceName {
    ServiceName::new(name).unwrap()
}

fn error(text: &str) -> String {
    ProtectionSet::parse(text, RuleFormat::Yaml)
        .unwrap_err()
        .to_string()
}

#[test]
fn protection_is_on_by_default() {
    let set = ProtectionSet::defaults();
    let policy = set.call_policy(&service("inventory"), None);
    assert_eq!(policy.timeout, None);
    let retry = policy.retry.unwrap();
    assert_eq!(
        (retry.attempts, retry.budget_percent, retry.min_per_second),
        (2, 20.0, 10)
    );
    assert_eq!(retry.budget_window, Duration::from_secs(10));
    let outlier = policy.outlier.unwrap();
    assert_eq!(outlier.consecutive_failures, 5);
    assert_eq!(outlier.base_ejection_time, Duration::from_secs(30));
    assert_eq!(outlier.max_ejection_time, Duration::from_secs(300));
    assert_eq!(outlier.max_ejection_percent, 10.0);
    let breaker = policy.breaker.unwrap();
    assert_eq!(breaker.strategy, BreakerStrategy::ErrorRatio);
    assert_eq!(
        (breaker.trigger_ratio, breaker.min_request_amount),
        (0.5, 20)
    );
    assert!(set.provider().adaptive.is_some());
    assert!(set.is_empty());
}

const RULES: &str = r#"
rules:
  - name: everything
    strategy: { kind: timeout, timeout: 2s }
  - name: inventory
    targets: [{ service: inventory }]
    strategy: { kind: timeout, timeout: 300ms, per_try_timeout: 120ms }
  - name: inventory-gray
    targets: [{ service: inventory, lane: gray }]
    strategy: { kind: timeout, timeout: 900ms }
  - name: inventory-breaker
    targets: [{ service: inventory }]
    strategy:
      kind: circuit_breaker
      strategy: slow_request_ratio
      trigger_ratio: 0.25
      stat_duration: 5s
      min_request_amount: 10
      recovery_timeout: 2s
      max_allowed_rt: 150ms
    fallback: { status: 200, headers: { x-degraded: "1" }, body: "stock unknown" }
  - targets: [{ service: reports }]
    strategy: { kind: disabled, disables: retry }
  - name: export
    targets: [{ route: /export }, { route: /import, caller: batch }]
    strategy: { kind: concurrency_limit, max_concurrency: 4, queue: 8 }
  - name: frontend
    targets: [{ caller: frontend }]
    strategy: { kind: rate_limit, threshold: 100, stat_duration: 1s, burst: 20 }
  - strategy: { kind: disabled, disables: adaptive_concurrency }
"#;

#[test]
fn the_most_specific_rule_of_each_kind_wins() {
    let set = ProtectionSet::parse(RULES, RuleFormat::Yaml).unwrap();
    let gray = Lane::new("gray").unwrap();
    let inventory = set.call_policy(&service("inventory"), None);
    assert_eq!(inventory.timeout, Some(Duration::from_millis(300)));
    assert_eq!(inventory.per_try_timeout, Some(Duration::from_millis(120)));
    let in_gray = set.call_policy(&service("inventory"), Some(&gray));
    assert_eq!(in_gray.timeout, Some(Duration::from_millis(900)));
    let orders = set.call_policy(&service("orders"), Some(&gray));
    assert_eq!(orders.timeout, Some(Duration::from_secs(2)));

    let breaker = inventory.breaker.unwrap();
    assert_eq!(breaker.strategy, BreakerStrategy::SlowRequestRatio);
    assert_eq!(breaker.trigger_ratio, 0.25);
    assert_eq!(breaker.max_allowed_rt, Duration::from_millis(150));
    assert_eq!(breaker.rule.as_deref(), Some("inventory-breaker"));
    let fallback = breaker.fallback.unwrap();
    assert_eq!(fallback.status, StatusCode::OK);
    assert_eq!(fallback.headers[0].0, "x-degraded");
    assert_eq!(fallback.body, "stock unknown");
    // Orders keeps the default breaker; reports has no retries.
    assert_eq!(orders.breaker.unwrap().fallback, None);
    assert!(set.call_policy(&service("reports"), None).retry.is_none());
    assert!(orders.retry.is_some());

    let provider = set.provider();
    assert!(provider.adaptive.is_none());
    let export = &provider.concurrency[0];
    assert_eq!(
        (export.name.as_str(), export.max_concurrency, export.queue),
        ("export", 4, 8)
    );
    assert_eq!(export.targets.len(), 2);
    assert_eq!(export.targets[1].caller.as_ref().unwrap().as_str(), "batch");
    let rate = &provider.rate_limits[0];
    assert_eq!(
        (rate.threshold, rate.burst, rate.period),
        (100, 20, Duration::from_secs(1))
    );
}

#[test]
fn json_and_toml_say_the_same() {
    let yaml = ProtectionSet::parse(
        "rules: [{ targets: [{ service: a }], strategy: { kind: timeout, timeout: 1s } }]",
        RuleFormat::Yaml,
    )
    .unwrap();
    let json = ProtectionSet::parse(
        r#"{"rules": [{"targets": [{"service": "a"}], "strategy": {"kind": "timeout", "timeout": "1s"}}]}"#,
        RuleFormat::Json,
    )
    .unwrap();
    let toml = ProtectionSet::parse(
        "[[rules]]\ntargets = [{ service = \"a\" }]\nstrategy = { kind = \"timeout\", timeout = \"1s\" }\n",
        RuleFormat::Toml,
    )
    .unwrap();
    let a = service("a");
    for set in [&yaml, &json, &toml] {
        assert_eq!(
            set.call_policy(&a, None).timeout,
            Some(Duration::from_secs(1))
        );
    }
}

#[test]
fn validation_errors_name_the_rule_and_the_field() {
    let cases: &[(&str, &str)] = &[
        (
            "rules: [{ name: b, strategy: { kind: circuit_breaker, trigger_ratio: 1.5 } }]",
            r#"rules[0] ("b").strategy.trigger_ratio"#,
        ),
        (
            "rules: [{ strategy: { kind: timeout, timeout: soon } }]",
            "rules[0].strategy.timeout",
        ),
        (
            "rules: [{ strategy: { kind: timeout, timeout: 1s, per_try_timeout: 2s } }]",
            "rules[0].strategy.per_try_timeout",
        ),
        (
            "rules: [{ strategy: { kind: retry, attempts: 0 } }]",
            "rules[0].strategy.attempts",
        ),
        (
            "rules: [{ strategy: { kind: retry, budget_window: 2m } }]",
            "rules[0].strategy.budget_window",
        ),
        (
            "rules: [{ targets: [{ route: /x }], strategy: { kind: timeout, timeout: 1s } }]",
            "rules[0].targets[0].route",
        ),
        (
            "rules: [{ targets: [{ service: a }], strategy: { kind: rate_limit, threshold: 5 } }]",
            "rules[0].targets[0].service",
        ),
        (
            "rules: [{ targets: [{ service: Not-A-Name }], strategy: { kind: retry } }]",
            "rules[0].targets[0].service",
        ),
        (
            "rules: [{ strategy: { kind: concurrency_limit, max_concurrency: 0 } }]",
            "rules[0].strategy.max_concurrency",
        ),
        (
            "rules: [{ strategy: { kind: timeout, timeout: 1s }, fallback: { body: x } }]",
            "rules[0].fallback",
        ),
        (
            "rules: [{ strategy: { kind: circuit_breaker }, fallback: { status: 1000 } }]",
            "rules[0].fallback.status",
        ),
        (
            "rules: [{ strategy: { kind: disabled, disables: everything } }]",
            "rules[0].strategy.disables",
        ),
        (
            "rules: [{ strategy: { kind: adaptive_concurrency, min_limit: 50, max_limit: 10 } }]",
            "rules[0].strategy",
        ),
        (
            "rules: [{ name: a, strategy: { kind: retry } }, { name: a, strategy: { kind: retry } }]",
            r#"rules[1] ("a").name"#,
        ),
        (
            "rules: [{ strategy: { kind: teleport } }]",
            "YAML rules at rules[0].strategy",
        ),
        (
            "rules: [{ strategy: { kind: timeout, timeout: 1s, retries: 3 } }]",
            "YAML rules at rules[0].strategy",
        ),
    ];
    for (text, at) in cases {
        let message = error(text);
        assert!(
            message.contains(at),
            "{text}\n  -> {message}\n  wanted {at}"
        );
    }
}

#[test]
fn a_bad_reload_keeps_the_running_rules_and_a_good_one_bumps_the_generation() {
    let rules = ProtectionRules::parse(
        "rules: [{ targets: [{ service: a }], strategy: { kind: timeout, timeout: 1s } }]",
        RuleFormat::Yaml,
    )
    .unwrap();
    let a = service("a");
    assert_eq!(rules.generation(), 0);
    assert!(
        rules
            .reload_str("rules: [{ strategy: { kind: timeout } }]", RuleFormat::Yaml)
            .is_err()
    );
    assert_eq!(rules.generation(), 0);
    assert_eq!(
        rules.load().call_policy(&a, None).timeout,
        Some(Duration::from_secs(1))
    );
    rules.reload_str("rules: []", RuleFormat::Yaml).unwrap();
    assert_eq!(rules.generation(), 1);
    assert_eq!(rules.load().call_policy(&a, None).timeout, None);
}
