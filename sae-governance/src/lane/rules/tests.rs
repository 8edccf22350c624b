use http::{HeaderMap, HeaderValue, Request, Uri};

use super::*;

fn request(uri: &str, headers: &[(&'static str, &str)]) -> Request<()> {
    let mut builder = Request::get(uri);
    for (name, value) in headers {
        builder = builder.header(*name, *value);
    }
    builder.body(()).unwrap()
}

fn lane(rules: &RuleSet, request: &Request<()>) -> Option<String> {
    rules
        .assign(request.headers(), request.uri())
        .map(|lane| lane.to_string())
}

const YAML: &str = r#"
rules:
  - name: exact-header
    lane: h-exact
    headers: [{ name: X-Group, exact: beta }]
  - name: prefix-header
    lane: h-prefix
    headers: [{ name: x-group, prefix: "team-" }]
  - name: regex-header
    lane: h-regex
    headers: [{ name: x-group, regex: "^ops[0-9]+$" }]
  - name: cookie
    lane: c
    cookies: [{ name: canary, exact: "1" }]
  - name: query
    lane: q
    query: [{ name: preview, exact: "on" }]
  - name: path-and-query
    lane: pq
    path_prefix: /api/v2/
    query: [{ name: flag, prefix: "t" }]
  - name: path
    lane: p
    path_prefix: /api/v2/
"#;

/// A URI, its headers and the lane the rules should give it.
type Case<'a> = (&'a str, &'a [(&'static str, &'a str)], Option<&'a str>);

#[test]
fn every_condition_kind_matches_in_order() {
    let rules = RuleSet::parse(YAML, RuleFormat::Yaml).unwrap();
    assert_eq!(rules.len(), 7);
    let cases: &[Case] = &[
        ("/", &[("x-group", "beta")], Some("h-exact")),
        ("/", &[("x-group", "betamax")], None),
        ("/", &[("x-group", "team-a")], Some("h-prefix")),
        ("/", &[("x-group", "ops42")], Some("h-regex")),
        ("/", &[("x-group", "ops42x")], None),
        ("/", &[("cookie", "a=b; canary=1")], Some("c")),
        ("/", &[("cookie", "canary=10")], None),
        ("/x?a=1&preview=on", &[], Some("q")),
        ("/x?preview=off", &[], None),
        ("/api/v2/orders?flag=true", &[], Some("pq")),
        ("/api/v2/orders", &[], Some("p")),
        ("/api/v1/orders", &[], None),
        ("/", &[], None),
    ];
    for (uri, headers, expected) in cases {
        let request = request(uri, headers);
        assert_eq!(
            lane(&rules, &request).as_deref(),
            *expected,
            "{uri} {headers:?}"
        );
    }
}

#[test]
fn the_same_rules_read_from_json_and_toml() {
    let json = r#"{"rules": [
        {"lane": "gray", "headers": [{"name": "x-group", "exact": "beta"}]},
        {"lane": "blue", "percentage": {"header": "x-user", "percent": 100}}
    ]}"#;
    let toml = r#"
        [[rules]]
        lane = "gray"
        headers = [{ name = "x-group", exact = "beta" }]

        [[rules]]
        lane = "blue"
        percentage = { header = "x-user", percent = 100 }
    "#;
    for (text, format) in [(json, RuleFormat::Json), (toml, RuleFormat::Toml)] {
        let rules = RuleSet::parse(text, format).unwrap();
        let beta = request("/", &[("x-group", "beta")]);
        let user = request("/", &[("x-user", "u1")]);
        assert_eq!(lane(&rules, &beta).as_deref(), Some("gray"), "{format:?}");
        assert_eq!(lane(&rules, &user).as_deref(), Some("blue"), "{format:?}");
        assert_eq!(lane(&rules, &request("/", &[])), None, "{format:?}");
    }
}

fn error(text: &str, format: RuleFormat) -> String {
    RuleSet::parse(text, format).unwrap_err().to_string()
}

#[test]
fn validation_errors_name_the_rule_and_field() {
    let cases = [
        (
            "rules: [{ name: ok, lane: gray, path_prefix: / }, { name: bad, lane: 'g r', path_prefix: / }]",
            r#"rules[1] ("bad").lane"#,
        ),
        (
            "rules: [{ lane: gray, headers: [{ name: x-a, exact: a }, { name: x-b, regex: '(' }] }]",
            "rules[0].headers[1].regex",
        ),
        (
            "rules: [{ name: two, lane: gray, cookies: [{ name: c, exact: a, prefix: b }] }]",
            r#"rules[0] ("two").cookies[0]: give exactly one of exact, prefix, regex"#,
        ),
        (
            "rules: [{ lane: gray, headers: [{ name: 'bad header', exact: a }] }]",
            "rules[0].headers[0].name",
        ),
        (
            "rules: [{ lane: gray, query: [{ name: 'a=b', exact: a }] }]",
            "rules[0].query[0].name",
        ),
        (
            "rules: [{ lane: gray, path_prefix: api }]",
            "rules[0].path_prefix",
        ),
        (
            "rules: [{ lane: gray, percentage: { header: x-user, percent: 101 } }]",
            "rules[0].percentage.percent",
        ),
        (
            "rules: [{ name: none, lane: gray }]",
            r#"rules[0] ("none"): the rule has no condition"#,
        ),
        (
            "rules: [{ name: a, lane: gray, path_prefix: / }, { name: a, lane: blue, path_prefix: / }]",
            r#"rules[1] ("a").name: duplicate of rules[0]"#,
        ),
    ];
    for (text, expected) in cases {
        let message = error(text, RuleFormat::Yaml);
        assert!(
            message.contains(expected),
            "{message}\nexpected: {expected}"
        );
    }
}

#[test]
fn shape_errors_carry_the_path_in_every_format() {
    let yaml = error(
        "rules:\n  - lane: gray\n    headers: [{ name: x-a, exat: a }]\n",
        RuleFormat::Yaml,
    );
    assert!(
        yaml.contains("rules[0].headers[0]") && yaml.contains("exat"),
        "{yaml}"
    );
    let json = error(
        r#"{"rules": [{"lane": "gray"}, {"path_prefix": "/"}]}"#,
        RuleFormat::Json,
    );
    assert!(json.contains("rules[1]") && json.contains("lane"), "{json}");
    let toml = error("[[rules]]\nlane = 7\n", RuleFormat::Toml);
    assert!(toml.contains("rules[0].lane"), "{toml}");
    let broken = error("rules: [", RuleFormat::Yaml);
    assert!(broken.contains("YAML rules"), "{broken}");
}

#[test]
fn percentage_is_stable_and_close_to_its_share() {
    let rules = RuleSet::parse(
        "rules: [{ lane: gray, percentage: { header: x-user-id, percent: 10 } }]",
        RuleFormat::Yaml,
    )
    .unwrap();
    let mut headers = HeaderMap::new();
    let uri = Uri::from_static("/");
    let mut first = Vec::new();
    for id in 0..10_000 {
        headers.insert(
            "x-user-id",
            HeaderValue::from_str(&format!("user-{id}")).unwrap(),
        );
        first.push(rules.assign(&headers, &uri).is_some());
    }
    let share = first.iter().filter(|in_lane| **in_lane).count();
    assert!((850..=1150).contains(&share), "{share} of 10000");
    for (id, was) in first.iter().enumerate() {
        headers.insert(
            "x-user-id",
            HeaderValue::from_str(&format!("user-{id}")).unwrap(),
        );
        assert_eq!(rules.assign(&headers, &uri).is_some(), *was, "user-{id}");
    }
    // No key, no match.
    assert!(rules.assign(&HeaderMap::new(), &uri).is_none());
}

#[test]
fn buckets_are_fixed_values() {
    // Pinned: a change here moves users between lanes on upgrade.
    assert_eq!(hash::bucket(b"", b"user-1"), hash::bucket(b"", b"user-1"));
    assert_ne!(hash::bucket(b"a", b"user-1"), hash::bucket(b"b", b"user-1"));
    let pinned: Vec<u64> = ["", "user-1", "alice"]
        .iter()
        .map(|key| hash::bucket(b"", key.as_bytes()))
        .collect();
    assert_eq!(pinned, PINNED_BUCKETS);
}

const PINNED_BUCKETS: [u64; 3] = [4141, 413, 4740];

#[test]
fn a_bad_reload_keeps_the_running_rules() {
    let rules = LaneRules::parse(
        "rules: [{ lane: gray, path_prefix: /beta/ }]",
        RuleFormat::Yaml,
    )
    .unwrap();
    let beta = request("/beta/x", &[]);
    let error = rules
        .reload_str("rules: [{ name: broken, lane: gray }]", RuleFormat::Yaml)
        .unwrap_err();
    assert!(
        error.to_string().contains(r#"rules[0] ("broken")"#),
        "{error}"
    );
    assert_eq!(
        rules
            .assign(beta.headers(), beta.uri())
            .map(|l| l.to_string())
            .as_deref(),
        Some("gray")
    );
    rules
        .reload_str(
            "rules: [{ lane: blue, path_prefix: /beta/ }]",
            RuleFormat::Yaml,
        )
        .unwrap();
    assert_eq!(
        rules
            .assign(beta.headers(), beta.uri())
            .map(|l| l.to_string())
            .as_deref(),
        Some("blue")
    );
}

#[test]
fn files_are_read_by_extension() {
    let dir = std::env::temp_dir().join(format!("sae-lane-rules-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let good = dir.join("rules.yml");
    std::fs::write(&good, "rules: [{ lane: gray, path_prefix: / }]").unwrap();
    assert_eq!(RuleSet::from_file(&good).unwrap().len(), 1);
    let unknown = dir.join("rules.ini");
    std::fs::write(&unknown, "").unwrap();
    assert!(
        RuleSet::from_file(&unknown)
            .unwrap_err()
            .to_string()
            .contains("extension")
    );
    let bad = dir.join("rules.json");
    std::fs::write(
        &bad,
        r#"{"rules": [{"name": "x", "lane": "gray", "path_prefix": "nope"}]}"#,
    )
    .unwrap();
    let message = RuleSet::from_file(&bad).unwrap_err().to_string();
    assert!(
        message.contains("rules.json") && message.contains(r#"rules[0] ("x").path_prefix"#),
        "{message}"
    );
    assert!(RuleSet::from_file(dir.join("missing.toml")).is_err());
    std::fs::remove_dir_all(&dir).unwrap();
}
