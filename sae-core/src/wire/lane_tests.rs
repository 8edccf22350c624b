use http::{HeaderMap, HeaderValue};

use super::lane::{
    MAX_BAGGAGE_BYTES, MAX_BAGGAGE_MEMBERS, member_has_key, read, remove, trim, write,
};
use crate::{Lane, wire};

fn headers(pairs: &[(&'static str, HeaderValue)]) -> HeaderMap {
    let mut map = HeaderMap::new();
    for (name, value) in pairs {
        map.append(*name, value.clone());
    }
    map
}

fn value(text: &str) -> HeaderValue {
    HeaderValue::from_str(text).unwrap()
}

fn lane_of(map: &HeaderMap) -> Option<String> {
    read(map).map(|lane| lane.to_string())
}

#[test]
fn header_wins_over_baggage() {
    let map = headers(&[
        ("x-sae-tag", value("blue")),
        ("baggage", value("sae-tag=gray")),
    ]);
    assert_eq!(lane_of(&map).as_deref(), Some("blue"));
}

#[test]
fn baggage_member_is_found_among_others_with_properties_and_whitespace() {
    let map = headers(&[
        ("baggage", value("user=alice")),
        (
            "baggage",
            value(" team = pay ; p=1 , sae-tag = gray ;ttl=3"),
        ),
    ]);
    assert_eq!(lane_of(&map).as_deref(), Some("gray"));
}

#[test]
fn malformed_values_are_ignored() {
    let too_long = "g".repeat(wire::MAX_LANE_LEN + 1);
    for bad in [
        value(&too_long),
        value("gray blue"),
        value("gray,blue"),
        value("gr%61y"),
        value(""),
        HeaderValue::from_bytes(b"gr\xffay").unwrap(),
    ] {
        let map = headers(&[("x-sae-tag", bad.clone())]);
        assert_eq!(lane_of(&map), None, "{bad:?}");
        if bad.as_bytes().contains(&b',') {
            continue; // in baggage, ',' separates members: "gray" is valid there
        }
        let mut member = b"sae-tag=".to_vec();
        member.extend_from_slice(bad.as_bytes());
        let map = headers(&[("baggage", HeaderValue::from_bytes(&member).unwrap())]);
        assert_eq!(lane_of(&map), None, "{bad:?}");
    }
}

#[test]
fn a_malformed_header_leaves_the_baggage_in_force() {
    let map = headers(&[
        ("x-sae-tag", HeaderValue::from_bytes(b"\xff").unwrap()),
        ("baggage", value("sae-tag=gray")),
    ]);
    assert_eq!(lane_of(&map).as_deref(), Some("gray"));
}

#[test]
fn members_past_the_member_limit_are_not_looked_at() {
    let mut list: Vec<String> = (0..5000).map(|i| format!("k{i}=v")).collect();
    list.push("sae-tag=gray".into());
    let map = headers(&[("baggage", value(&list.join(",")))]);
    assert_eq!(lane_of(&map), None);

    let within: Vec<String> = (0..MAX_BAGGAGE_MEMBERS - 1)
        .map(|i| format!("k{i}=v"))
        .chain(["sae-tag=gray".to_owned()])
        .collect();
    let map = headers(&[("baggage", value(&within.join(",")))]);
    assert_eq!(lane_of(&map).as_deref(), Some("gray"));
}

#[test]
fn bytes_past_the_byte_limit_are_not_looked_at_and_no_member_is_cut() {
    // The lane member straddles the limit, cut right after "sae-tag=gray":
    // it must not be read as "gray".
    let pad = "x=".to_owned() + &"a".repeat(MAX_BAGGAGE_BYTES - 2 - 1 - 10);
    let text = format!("{pad},sae-tag=gray-lane-long");
    assert!(text.len() > MAX_BAGGAGE_BYTES);
    let map = headers(&[("baggage", value(&text))]);
    assert_eq!(lane_of(&map), None);

    // Spread over several headers, the budget is shared.
    let half = "x=".to_owned() + &"a".repeat(MAX_BAGGAGE_BYTES / 2);
    let map = headers(&[
        ("baggage", value(&half)),
        ("baggage", value(&half)),
        ("baggage", value("sae-tag=gray")),
    ]);
    assert_eq!(lane_of(&map), None);
}

#[test]
fn a_member_with_another_key_or_no_value_is_not_the_lane() {
    for text in ["sae-tags=gray", "xsae-tag=gray", "sae-tag", "=gray", ",,,"] {
        let map = headers(&[("baggage", value(text))]);
        assert_eq!(lane_of(&map), None, "{text}");
    }
}

#[test]
fn member_key_helpers() {
    assert!(member_has_key(b" sae-tag = x", b"sae-tag"));
    assert!(member_has_key(b"sae-tag;p", b"sae-tag"));
    assert!(!member_has_key(b"user=sae-tag", b"sae-tag"));
    assert_eq!(trim(b" \t a b \t"), b"a b");
    assert_eq!(trim(b"   "), b"");
}

fn gray() -> Lane {
    Lane::new("gray").unwrap()
}

#[test]
fn stamp_adds_header_and_baggage_when_there_is_none() {
    let mut headers = HeaderMap::new();
    write(&mut headers, &gray());
    assert_eq!(headers["x-sae-tag"], "gray");
    assert_eq!(headers["baggage"], "sae-tag=gray");
}

#[test]
fn stamp_keeps_other_members_across_headers_and_replaces_the_old_lane() {
    let mut headers = HeaderMap::new();
    headers.insert("x-sae-tag", HeaderValue::from_static("blue"));
    headers.append(
        "baggage",
        HeaderValue::from_static("user=alice;p=1, sae-tag=blue"),
    );
    headers.append("baggage", HeaderValue::from_static("team=pay,,"));
    write(&mut headers, &gray());
    assert_eq!(headers.get_all("x-sae-tag").iter().count(), 1);
    assert_eq!(headers["x-sae-tag"], "gray");
    assert_eq!(headers.get_all("baggage").iter().count(), 1);
    assert_eq!(headers["baggage"], "user=alice;p=1,team=pay,sae-tag=gray");
}

#[test]
fn remove_strips_only_the_lane() {
    let mut headers = HeaderMap::new();
    headers.insert("x-sae-tag", HeaderValue::from_static("blue"));
    headers.insert(
        "baggage",
        HeaderValue::from_static("sae-tag=blue,user=alice"),
    );
    remove(&mut headers);
    assert!(headers.get("x-sae-tag").is_none());
    assert_eq!(headers["baggage"], "user=alice");
    headers.insert("baggage", HeaderValue::from_static("sae-tag=blue"));
    remove(&mut headers);
    assert!(headers.get("baggage").is_none());
}
