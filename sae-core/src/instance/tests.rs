use std::collections::{BTreeMap, HashSet};
use std::net::SocketAddr;
use std::time::{Duration, UNIX_EPOCH};

use proptest::prelude::*;

use super::*;
use crate::{Error, wire};

/// Builds `builder` and returns the error, asserting its message names `offending`.
fn rejected(builder: InstanceBuilder, offending: &str) -> Error {
    let error = builder.build().expect_err("invalid instance was accepted");
    let message = error.to_string();
    assert!(
        message.contains(offending),
        "{message:?} does not name {offending:?}"
    );
    error
}

#[test]
fn empty_service_name_is_rejected() {
    let error = rejected(Instance::builder(""), "empty");
    assert!(matches!(
        error,
        Error::ServiceNameEmpty {
            max: MAX_SERVICE_NAME_LEN
        }
    ));
}

#[test]
fn too_long_service_name_is_rejected() {
    let name = "a".repeat(MAX_SERVICE_NAME_LEN + 1);
    let error = rejected(Instance::builder(name.clone()), &name);
    assert!(
        matches!(error, Error::ServiceNameTooLong { len, max: MAX_SERVICE_NAME_LEN, .. } if len == name.len())
    );
    Instance::builder("a".repeat(MAX_SERVICE_NAME_LEN))
        .addr("127.0.0.1:8080".parse().unwrap())
        .build()
        .unwrap();
}

#[test]
fn service_name_with_invalid_char_is_rejected() {
    for (name, found, position) in [
        ("Orders", 'O', 0),
        ("orDers", 'D', 2),
        ("-orders", '-', 0),
        (".orders", '.', 0),
        ("_orders", '_', 0),
        ("ord ers", ' ', 3),
        ("ord/ers", '/', 3),
        ("ordérs", 'é', 3),
    ] {
        let error = rejected(Instance::builder(name), name);
        assert!(
            matches!(&error, Error::ServiceNameInvalidChar { name: n, found: f, position: p }
                if n == name && *f == found && *p == position),
            "{name}: {error:?}"
        );
    }
    for good in ["orders", "0rders", "orders-v2.eu_1"] {
        Instance::builder(good)
            .addr("127.0.0.1:8080".parse().unwrap())
            .build()
            .unwrap();
    }
}

#[test]
fn invalid_instance_id_is_rejected() {
    let too_long = "i".repeat(MAX_INSTANCE_ID_LEN + 1);
    for id in [
        "",
        "has space",
        "tab\there",
        "slash/y",
        "é",
        too_long.as_str(),
    ] {
        let error = rejected(Instance::builder("orders").id(id), &format!("{id:?}"));
        assert!(
            matches!(&error, Error::InvalidInstanceId { id: found, max: MAX_INSTANCE_ID_LEN } if found == id)
        );
    }
}

#[test]
fn weight_out_of_range_is_rejected() {
    for weight in [0, MAX_WEIGHT + 1] {
        let error = rejected(
            Instance::builder("orders").weight(weight),
            &weight.to_string(),
        );
        assert!(
            matches!(error, Error::WeightOutOfRange { weight: w, min: MIN_WEIGHT, max: MAX_WEIGHT } if w == weight)
        );
    }
    for weight in [MIN_WEIGHT, MAX_WEIGHT] {
        assert_eq!(
            Instance::builder("orders")
                .addr("127.0.0.1:8080".parse().unwrap())
                .weight(weight)
                .build()
                .unwrap()
                .weight(),
            weight
        );
    }
}

#[test]
fn too_many_metadata_entries_are_rejected() {
    let builder = (0..=MAX_METADATA_ENTRIES).fold(Instance::builder("orders"), |b, n| {
        b.metadata(format!("k{n}"), "v")
    });
    let error = rejected(builder, &(MAX_METADATA_ENTRIES + 1).to_string());
    assert!(
        matches!(error, Error::TooManyMetadataEntries { count, max: MAX_METADATA_ENTRIES } if count == MAX_METADATA_ENTRIES + 1)
    );
}

#[test]
fn bad_metadata_key_is_rejected() {
    let too_long = "k".repeat(MAX_METADATA_KEY_LEN + 1);
    for key in ["", "with space", "colon:", "é", too_long.as_str()] {
        let error = rejected(
            Instance::builder("orders").metadata(key, "v"),
            &format!("{key:?}"),
        );
        assert!(
            matches!(&error, Error::InvalidMetadataKey { key: found, max: MAX_METADATA_KEY_LEN } if found == key)
        );
    }
    Instance::builder("orders")
        .addr("127.0.0.1:8080".parse().unwrap())
        .metadata("app.kubernetes.io/name-x_1", "v")
        .build()
        .unwrap();
}

#[test]
fn too_long_metadata_value_is_rejected() {
    let value = "v".repeat(MAX_METADATA_VALUE_LEN + 1);
    let error = rejected(
        Instance::builder("orders").metadata("zone", value),
        "\"zone\"",
    );
    assert!(
        matches!(error, Error::MetadataValueTooLong { ref key, len, max: MAX_METADATA_VALUE_LEN }
        if key == "zone" && len == MAX_METADATA_VALUE_LEN + 1)
    );
}

#[test]
fn invalid_lane_is_rejected() {
    let error = rejected(
        Instance::builder("orders").lane("bad lane!"),
        "\"bad lane!\"",
    );
    assert!(
        matches!(&error, Error::InvalidLane { lane, max: wire::MAX_LANE_LEN } if lane == "bad lane!")
    );
    let long = "l".repeat(wire::MAX_LANE_LEN + 1);
    assert!(matches!(
        Instance::builder("orders").lane(long).build(),
        Err(Error::InvalidLane { .. })
    ));
}

#[test]
fn too_long_warmup_is_rejected() {
    let window = MAX_WARMUP + Duration::from_secs(1);
    let error = rejected(
        Instance::builder("orders").warmup(window),
        &format!("{window:?}"),
    );
    assert!(matches!(error, Error::WarmupTooLong { window: w, max: MAX_WARMUP } if w == window));
}

#[test]
fn defaults_and_warmup_metadata() {
    let instance = Instance::builder("orders")
        .addr("127.0.0.1:8080".parse().unwrap())
        .build()
        .unwrap();
    assert_eq!(instance.weight(), DEFAULT_WEIGHT);
    assert_eq!(instance.lane(), None);
    assert!(instance.metadata().is_empty());
    let warm = Instance::builder("orders")
        .addr("127.0.0.1:8080".parse().unwrap())
        .warmup(Duration::from_secs(30))
        .build()
        .unwrap();
    assert_eq!(
        warm.metadata()
            .get(wire::WARMUP_METADATA_KEY)
            .map(String::as_str),
        Some("30000")
    );
}

#[test]
fn generated_ids_are_unique_and_valid() {
    let ids: HashSet<_> = (0..1000)
        .map(|_| {
            Instance::builder("orders")
                .addr("127.0.0.1:8080".parse().unwrap())
                .build()
                .unwrap()
                .id()
                .clone()
        })
        .collect();
    assert_eq!(ids.len(), 1000);
    for id in &ids {
        InstanceId::new(id.as_str()).unwrap();
    }
}

fn valid_instance() -> impl Strategy<Value = Instance> {
    let service = "[a-z0-9][a-z0-9._-]{0,127}";
    let id = "[!-.0-~]{1,128}"; // printable ASCII without whitespace or '/'
    let metadata = prop::collection::btree_map("[A-Za-z0-9._/-]{1,64}", "\\PC{0,40}", 0..8);
    let lane = prop::option::of("[A-Za-z0-9._-]{1,63}");
    let addr = (any::<[u8; 4]>(), any::<u16>()).prop_map(|(ip, port)| SocketAddr::from((ip, port)));
    let ipv6 =
        (any::<[u16; 8]>(), any::<u16>()).prop_map(|(ip, port)| SocketAddr::from((ip, port)));
    (
        service,
        id,
        prop_oneof![addr, ipv6],
        MIN_WEIGHT..=MAX_WEIGHT,
        metadata,
        lane,
        0u64..4_102_444_800_000, // start times up to 2100, in ms
        0..=MAX_WARMUP.as_millis() as u64,
    )
        .prop_map(
            |(service, id, addr, weight, metadata, lane, start_ms, warmup_ms)| {
                let mut builder = Instance::builder(service)
                    .id(id)
                    .addr(addr)
                    .weight(weight)
                    .start_time(UNIX_EPOCH + Duration::from_millis(start_ms))
                    .warmup(Duration::from_millis(warmup_ms));
                for (key, value) in metadata.into_iter().filter(|(k, _)| {
                    ![wire::WARMUP_METADATA_KEY, wire::LANE_METADATA_KEY].contains(&k.as_str())
                }) {
                    builder = builder.metadata(key, value);
                }
                if let Some(lane) = lane {
                    builder = builder.lane(lane);
                }
                builder
                    .build()
                    .expect("the strategy builds only valid instances")
            },
        )
}

proptest! {
    #[test]
    fn json_round_trip_is_exact(instance in valid_instance()) {
        let decoded = Instance::from_json(&instance.to_json()).unwrap();
        prop_assert_eq!(decoded, instance);
    }
}

fn json_of(instance: &Instance) -> serde_json::Value {
    serde_json::from_slice(&instance.to_json()).unwrap()
}

#[test]
fn unknown_fields_are_tolerated() {
    let instance = Instance::builder("orders")
        .addr("127.0.0.1:8080".parse().unwrap())
        .lane("gray")
        .build()
        .unwrap();
    let mut json = json_of(&instance);
    json["added_in_a_later_minor"] = serde_json::json!({"anything": [1, 2]});
    let bytes = serde_json::to_vec(&json).unwrap();
    assert_eq!(Instance::from_json(&bytes).unwrap(), instance);
}

#[test]
fn minimal_json_uses_defaults() {
    let bytes = br#"{"version":1,"service":"orders","id":"a","addr":"10.0.0.7:8080"}"#;
    let instance = Instance::from_json(bytes).unwrap();
    assert_eq!(instance.weight(), DEFAULT_WEIGHT);
    assert_eq!(instance.start_time(), UNIX_EPOCH);
    assert_eq!(instance.metadata(), &BTreeMap::new());
}

#[test]
fn newer_major_version_is_rejected() {
    let mut json = json_of(
        &Instance::builder("orders")
            .addr("127.0.0.1:8080".parse().unwrap())
            .build()
            .unwrap(),
    );
    json["version"] = 2.into();
    let error = Instance::from_json(&serde_json::to_vec(&json).unwrap()).unwrap_err();
    assert!(
        matches!(
            error,
            Error::UnsupportedEncodingVersion {
                found: 2,
                supported: 1
            }
        ),
        "{error:?}"
    );
    assert!(error.to_string().contains("version 2"), "{error}");
}

#[test]
fn malformed_json_is_rejected() {
    for bytes in [
        &b""[..],
        b"not json",
        b"{}",
        b"[1]",
        br#"{"version":1}"#,
        br#"{"version":1,"service":"orders","id":"a","addr":"nowhere"}"#,
    ] {
        let error = Instance::from_json(bytes).unwrap_err();
        assert!(
            matches!(error, Error::MalformedEncoding(_)),
            "{:?}: {error:?}",
            String::from_utf8_lossy(bytes)
        );
    }
}

#[test]
fn json_breaking_a_builder_rule_is_rejected_by_the_same_rule() {
    let bytes = br#"{"version":1,"service":"Orders!","id":"a","addr":"10.0.0.7:8080"}"#;
    let error = Instance::from_json(bytes).unwrap_err();
    assert!(
        matches!(&error, Error::ServiceNameInvalidChar { name, found: 'O', position: 0 } if name == "Orders!"),
        "{error:?}"
    );
    let bytes = br#"{"version":1,"service":"orders","id":"a","addr":"10.0.0.7:8080","weight":0}"#;
    assert!(matches!(
        Instance::from_json(bytes),
        Err(Error::WeightOutOfRange { weight: 0, .. })
    ));
}

#[test]
fn unroutable_addresses_are_refused_when_built_and_decoded() {
    for (addr, part) in [
        ("0.0.0.0:8080", "IP"),
        ("[::]:8080", "IP"),
        ("10.0.0.7:0", "port"),
    ] {
        let addr: SocketAddr = addr.parse().unwrap();
        let error = rejected(Instance::builder("orders").addr(addr), &addr.to_string());
        assert!(
            matches!(&error, Error::UnroutableAddress { addr: found, reason } if *found == addr && reason.contains(part)),
            "{error:?}"
        );
        let json = format!(r#"{{"version":1,"service":"orders","id":"a","addr":"{addr}"}}"#);
        assert!(matches!(
            Instance::from_json(json.as_bytes()),
            Err(Error::UnroutableAddress { .. })
        ));
    }
    // Without an address the default (0.0.0.0:0) is refused too.
    rejected(Instance::builder("orders"), "0.0.0.0:0");
}

#[test]
fn build_bound_fills_only_what_the_address_leaves_open() {
    let bound: SocketAddr = "127.0.0.1:4321".parse().unwrap();
    let built = |builder: InstanceBuilder| builder.build_bound(bound).unwrap().addr();
    assert_eq!(built(Instance::builder("orders")), bound);
    let ip_only: SocketAddr = "10.1.2.3:0".parse().unwrap();
    assert_eq!(
        built(Instance::builder("orders").addr(ip_only)).to_string(),
        "10.1.2.3:4321"
    );
    let full: SocketAddr = "10.1.2.3:80".parse().unwrap();
    assert_eq!(built(Instance::builder("orders").addr(full)), full);
    let wildcard: SocketAddr = "0.0.0.0:4321".parse().unwrap();
    assert!(matches!(
        Instance::builder("orders").build_bound(wildcard),
        Err(Error::UnroutableAddress { .. })
    ));
}
