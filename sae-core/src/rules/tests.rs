use super::*;

#[test]
fn a_document_round_trips_through_its_envelope() {
    let document = RuleDocument::new(
        "edge",
        "lanes",
        RuleFormat::Toml,
        "[[rules]]\nlane = \"gray\"\n",
    )
    .unwrap();
    let stored = document.to_json();
    let text = std::str::from_utf8(&stored).unwrap();
    assert!(
        text.starts_with(r#"{"version":1,"service":"edge","kind":"lanes","format":"toml""#),
        "{text}"
    );
    assert_eq!(RuleDocument::from_json(&stored).unwrap(), document);
}

#[test]
fn a_newer_major_version_is_refused_and_unknown_fields_are_ignored() {
    let newer = br#"{"version":2,"service":"edge","kind":"lanes","format":"yaml","text":""}"#;
    let error = RuleDocument::from_json(newer).unwrap_err().to_string();
    assert!(
        error.contains("encoding version 2 is not supported"),
        "{error}"
    );
    let extra =
        br#"{"version":1,"service":"edge","kind":"lanes","format":"yaml","text":"","by":"ops"}"#;
    assert_eq!(
        RuleDocument::from_json(extra).unwrap().kind.as_str(),
        "lanes"
    );
}

#[test]
fn bad_envelopes_say_what_is_wrong() {
    for (bytes, expected) in [
        (&b"not json"[..], "not a sae rule envelope"),
        (
            br#"{"version":1,"service":"Edge!","kind":"lanes","format":"yaml","text":""}"#,
            "service name",
        ),
        (
            br#"{"version":1,"service":"edge","kind":"Lanes","format":"yaml","text":""}"#,
            "rule kind \"Lanes\"",
        ),
        (
            br#"{"version":1,"service":"edge","kind":"lanes","format":"ini","text":""}"#,
            "rule format \"ini\"",
        ),
    ] {
        let error = RuleDocument::from_json(bytes).unwrap_err().to_string();
        assert!(
            error.contains(expected),
            "{error} should contain {expected}"
        );
    }
}

#[test]
fn kinds_are_one_key_segment() {
    for good in ["lanes", "protection", "rate-limits2"] {
        assert_eq!(RuleKind::new(good).unwrap().as_str(), good);
    }
    for bad in ["", "Lanes", "1st", "a/b", "a b", &"x".repeat(64)] {
        assert!(RuleKind::new(bad).is_err(), "{bad:?} must be refused");
    }
}

#[test]
fn an_oversized_document_is_refused() {
    let text = "#".repeat(MAX_RULE_TEXT_BYTES + 1);
    let error = RuleDocument::new("edge", "lanes", RuleFormat::Yaml, text).unwrap_err();
    assert!(
        error.to_string().contains("the maximum is 1048576"),
        "{error}"
    );
}

fn report_with(source: RuleSource, refused: Option<Refusal>) -> RuleReport {
    let mut kinds = std::collections::BTreeMap::new();
    kinds.insert(
        RuleKind::new("lanes").unwrap(),
        KindStatus {
            source,
            revision: Some(Revision(7)),
            refused,
            applied: 2,
            handled: Some(Revision(9)),
        },
    );
    RuleReport {
        service: crate::ServiceName::new("edge").unwrap(),
        id: crate::InstanceId::new("edge-1").unwrap(),
        read: true,
        kinds,
    }
}

#[test]
fn a_report_round_trips_with_every_source_and_a_refusal() {
    let refusal = Refusal {
        revision: Revision(9),
        error: "rules[0].lane: empty".into(),
    };
    for source in [
        RuleSource::Built,
        RuleSource::Registry,
        RuleSource::Local("/etc/lanes.yaml".into()),
    ] {
        let report = report_with(source, Some(refusal.clone()));
        let stored = report.to_json();
        assert_eq!(RuleReport::from_json(&stored).unwrap(), report);
    }
    let report = report_with(RuleSource::Registry, None);
    assert_eq!(report.key(), "/sae/v1/reports/edge/edge-1");
    let text = String::from_utf8(report.to_json()).unwrap();
    assert!(
        text.starts_with(r#"{"version":1,"service":"edge","id":"edge-1","read":true,"kinds":{"lanes":{"source":"registry""#),
        "{text}"
    );
    let status = &report.kinds[&RuleKind::new("lanes").unwrap()];
    assert!(status.has_handled(Revision(9)) && !status.has_handled(Revision(10)));
}

#[test]
fn bad_reports_say_what_is_wrong() {
    let cases: [(&[u8], &str); 4] = [
        (b"[]", "not a sae rule report"),
        (
            br#"{"version":2,"service":"edge","id":"a"}"#,
            "encoding version 2 is not supported",
        ),
        (
            br#"{"version":1,"service":"edge","id":"a","kinds":{"lanes":{"source":"cloud"}}}"#,
            r#"kind "lanes": source "cloud" is not one of"#,
        ),
        (br#"{"version":1,"service":"Edge","id":"a"}"#, "Edge"),
    ];
    for (bytes, expected) in cases {
        let error = RuleReport::from_json(bytes).unwrap_err().to_string();
        assert!(error.contains(expected), "{expected:?} not in {error}");
    }
    // Fields added later are optional; unknown ones are ignored.
    let minimal = br#"{"version":1,"service":"edge","id":"a","zone":"x"}"#;
    let report = RuleReport::from_json(minimal).unwrap();
    assert!(!report.read && report.kinds.is_empty());
}
