use std::time::Duration;

use sae_core::{Error, Instance, ServiceName};

use super::duration::parse_duration;
use super::from_url;

fn malformed_reason(url: &str) -> String {
    match from_url(url) {
        Err(Error::MalformedRegistryUrl { url: named, reason }) => {
            assert_eq!(named, url);
            reason
        }
        other => panic!("{url}: expected MalformedRegistryUrl, got {other:?}"),
    }
}

#[tokio::test(start_paused = true)]
async fn memory_without_a_name_is_private() {
    let one = from_url("memory://").unwrap();
    let two = from_url("memory://").unwrap();
    assert_eq!(one.backend(), "memory");
    let _kept = one
        .register(
            Instance::builder("orders")
                .addr("127.0.0.1:8080".parse().unwrap())
                .build()
                .unwrap(),
        )
        .await
        .unwrap();
    let orders = ServiceName::new("orders").unwrap();
    assert_eq!(one.list(&orders).await.unwrap().instances.len(), 1);
    assert!(two.list(&orders).await.unwrap().instances.is_empty());
}

#[tokio::test(start_paused = true)]
async fn memory_with_a_name_is_shared_process_wide() {
    let provider = from_url("memory://url-test-shared").unwrap();
    let consumer = from_url("MEMORY://url-test-shared").unwrap();
    let other = from_url("memory://url-test-other").unwrap();
    let _kept = provider
        .register(
            Instance::builder("orders")
                .addr("127.0.0.1:8080".parse().unwrap())
                .build()
                .unwrap(),
        )
        .await
        .unwrap();
    let orders = ServiceName::new("orders").unwrap();
    assert_eq!(consumer.list(&orders).await.unwrap().instances.len(), 1);
    assert!(other.list(&orders).await.unwrap().instances.is_empty());
}

#[test]
fn ttl_query_sets_the_lease_ttl() {
    let registry = from_url("memory://url-test-ttl?ttl=500ms").unwrap();
    assert!(
        format!("{registry:?}").contains("ttl: 500ms"),
        "{registry:?}"
    );
    assert!(format!("{:?}", from_url("memory://?ttl=2m").unwrap()).contains("ttl: 120s"));
    // The same name with the same or no TTL is the same registry; another TTL is refused.
    from_url("memory://url-test-ttl?ttl=500ms").unwrap();
    from_url("memory://url-test-ttl").unwrap();
    let reason = malformed_reason("memory://url-test-ttl?ttl=1s");
    assert!(reason.contains("already exists with ttl 500ms"), "{reason}");
}

#[test]
fn durations_parse_in_ms_s_and_m() {
    assert_eq!(parse_duration("500ms"), Ok(Duration::from_millis(500)));
    assert_eq!(parse_duration("10s"), Ok(Duration::from_secs(10)));
    assert_eq!(parse_duration("2m"), Ok(Duration::from_secs(120)));
    for bad in [
        "",
        "10",
        "s",
        "1.5s",
        "-1s",
        "10h",
        "10 s",
        "99999999999999999999s",
        "18446744073709551615m",
    ] {
        let error = parse_duration(bad).unwrap_err();
        assert!(error.contains(&format!("{bad:?}")), "{bad}: {error}");
    }
    assert!(parse_duration("0s").unwrap_err().contains("zero"));
}

#[cfg(not(feature = "etcd"))]
#[test]
fn etcd_without_the_feature_says_which_feature_to_enable() {
    let error = from_url("etcd://h1:2379,h2:2379").unwrap_err();
    assert!(
        matches!(
            error,
            Error::BackendNotEnabled {
                feature: "etcd",
                ..
            }
        ),
        "{error:?}"
    );
    assert!(error.to_string().contains("--features etcd"), "{error}");
}

#[test]
fn unknown_scheme_names_it_and_the_supported_ones() {
    let urls: &[&str] = if cfg!(feature = "etcd") {
        &["zk://10.0.0.1:2181", "consul://10.0.0.1:8500"]
    } else {
        &["consul://10.0.0.1:8500", "zk://10.0.0.1:2181"]
    };
    let supported = if cfg!(feature = "etcd") {
        "memory, etcd"
    } else {
        "memory"
    };
    for &url in urls {
        let error = from_url(url).unwrap_err();
        let expected_supported = supported;
        let Error::UnknownRegistryScheme {
            scheme, supported, ..
        } = &error
        else {
            panic!("{url}: {error:?}");
        };
        assert_eq!(scheme, url.split_once("://").unwrap().0);
        assert_eq!(supported, expected_supported);
        let message = error.to_string();
        assert!(
            message.contains(scheme.as_str()) && message.contains("memory"),
            "{message}"
        );
    }
}

#[test]
fn malformed_urls_say_what_is_wrong() {
    let cases = [
        ("", "SCHEME://"),
        ("memory", "SCHEME://"),
        ("memory:/x", "SCHEME://"),
        ("memory://name/path", "no path"),
        ("memory://name?ttl=fast", "ttl"),
        ("memory://name?ttl=0ms", "zero"),
        ("memory://name?size=3", "unknown query parameter \"size\""),
        ("memory://user:pw@name", "user name"),
        ("memory://name:99", "port"),
        ("memory://name#frag", "fragment"),
        ("memory://na me", "invalid"),
    ];
    for (url, expected) in cases {
        let reason = malformed_reason(url);
        assert!(reason.contains(expected), "{url}: {reason}");
    }
}

#[cfg(feature = "etcd")]
#[test]
fn etcd_urls_name_members_ttl_and_timeout_without_connecting() {
    let registry = from_url("etcd://10.0.0.1:2379,etcd-2,[::1]:80/?ttl=3s&timeout=2s").unwrap();
    assert_eq!(registry.backend(), "etcd");
    let debug = format!("{registry:?}");
    assert!(
        debug.contains(r#"["10.0.0.1:2379", "etcd-2:2379", "[::1]:80"]"#)
            && debug.contains("ttl: 3s")
            && debug.contains("connected: false"),
        "{debug}"
    );
    let plain = format!("{:?}", from_url("ETCD://127.0.0.1:2379").unwrap());
    assert!(plain.contains("ttl: 10s"), "{plain}");
}

#[cfg(feature = "etcd")]
#[test]
fn malformed_etcd_urls_say_what_is_wrong() {
    let cases = [
        ("etcd://", "at least one member"),
        ("etcd://?ttl=1s", "at least one member"),
        ("etcd://h1:2379,,h2:2379", "member \"\" is empty"),
        ("etcd://h1:port", "member \"h1:port\""),
        ("etcd://h1:2379/path", "path"),
        ("etcd://user@h1:2379", "user name"),
        ("etcd://h1:2379?ttl=soon", "ttl"),
        ("etcd://h1:2379?timeout=0s", "zero"),
        (
            "etcd://h1:2379?size=3",
            "unknown query parameter \"size\"; supported: ttl, timeout",
        ),
        ("etcd://h1:2379#frag", "fragment"),
    ];
    for (url, expected) in cases {
        let reason = malformed_reason(url);
        assert!(reason.contains(expected), "{url}: {reason}");
    }
}
