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
