//! `sae services` and `sae instances SERVICE`, and how an instance is shown
//! (also by `sae watch`).

use std::collections::BTreeMap;
use std::io::Write;
use std::time::{Duration, SystemTime};

use futures_util::{StreamExt, TryStreamExt, stream};
use sae_core::{Instance, Registered, Registry, ServiceName};
use serde_json::{Value, json};

use crate::error::CliError;
use crate::table::{Align, Table};

/// How many services `sae services` reads at once: enough to hide the
/// round trips, few enough not to flood etcd.
const CONCURRENT_READS: usize = 8;

/// One service's line of `sae services`.
#[derive(Debug)]
struct Summary {
    service: ServiceName,
    /// Instances per lane; `None` is the base version, sorted first.
    lanes: BTreeMap<Option<String>, usize>,
    /// The kinds of its rule documents, sorted.
    rules: Vec<String>,
}

impl Summary {
    fn instances(&self) -> usize {
        self.lanes.values().sum()
    }
}

/// `sae services`: every service with instances or rules, its instance
/// count by lane and its rule kinds.
///
/// # Errors
///
/// [`CliError::Registry`] when a registry call fails.
pub async fn services(
    registry: &dyn Registry,
    out: &mut dyn Write,
    json: bool,
) -> Result<(), CliError> {
    let names = registry.services().await.map_err(CliError::registry)?;
    let summaries: Vec<Summary> = stream::iter(names)
        .map(|service| summarize(registry, service))
        .buffered(CONCURRENT_READS)
        .try_collect()
        .await?;
    if json {
        let services: Vec<Value> = summaries
            .iter()
            .map(|summary| {
                let base = summary.lanes.get(&None).copied().unwrap_or(0);
                let lanes: BTreeMap<&str, usize> = summary
                    .lanes
                    .iter()
                    .filter_map(|(lane, count)| Some((lane.as_deref()?, *count)))
                    .collect();
                json!({
                    "service": summary.service.as_str(),
                    "instances": summary.instances(),
                    "base_instances": base,
                    "lanes": lanes,
                    "rules": summary.rules,
                })
            })
            .collect();
        return write_json(out, &json!({ "services": services }));
    }
    let mut table = Table::new(&[
        ("SERVICE", Align::Left),
        ("INSTANCES", Align::Right),
        ("LANES", Align::Left),
        ("RULES", Align::Left),
    ]);
    for summary in &summaries {
        let lanes: Vec<String> = summary
            .lanes
            .iter()
            .map(|(lane, count)| format!("{} {count}", lane.as_deref().unwrap_or("base")))
            .collect();
        table.row(vec![
            summary.service.as_str().to_owned(),
            summary.instances().to_string(),
            or_dash(lanes.join(", ")),
            or_dash(summary.rules.join(", ")),
        ]);
    }
    table.write(out)?;
    Ok(())
}

async fn summarize(registry: &dyn Registry, service: ServiceName) -> Result<Summary, CliError> {
    let (snapshot, rules) =
        tokio::try_join!(registry.list(&service), registry.list_rules(&service))
            .map_err(CliError::registry)?;
    let mut lanes = BTreeMap::new();
    for entry in &snapshot.instances {
        *lanes
            .entry(entry.instance.lane().map(str::to_owned))
            .or_insert(0) += 1;
    }
    let mut kinds: Vec<String> = rules
        .rules
        .iter()
        .map(|stored| stored.document.kind.to_string())
        .collect();
    kinds.sort();
    Ok(Summary {
        service,
        lanes,
        rules: kinds,
    })
}

/// `sae instances SERVICE`: its instances, base first, then by lane and id.
///
/// # Errors
///
/// [`CliError::NotFound`] when no instance of `service` is registered,
/// [`CliError::Registry`] when the registry call fails.
pub async fn instances(
    registry: &dyn Registry,
    service: &ServiceName,
    now: SystemTime,
    out: &mut dyn Write,
    json: bool,
) -> Result<(), CliError> {
    let mut snapshot = registry.list(service).await.map_err(CliError::registry)?;
    if snapshot.instances.is_empty() {
        return Err(CliError::NotFound(format!(
            "no instance of service {:?} is registered",
            service.as_str()
        )));
    }
    snapshot.instances.sort_by(|a, b| {
        let key = |entry: &Registered| {
            (
                entry.instance.lane().map(str::to_owned),
                entry.instance.id().clone(),
            )
        };
        key(a).cmp(&key(b))
    });
    if json {
        let instances: Vec<Value> = snapshot
            .instances
            .iter()
            .map(|entry| instance_json(entry, now))
            .collect();
        return write_json(
            out,
            &json!({
                "service": service.as_str(),
                "revision": snapshot.revision.0,
                "instances": instances,
            }),
        );
    }
    let mut table = Table::new(&[
        ("ID", Align::Left),
        ("ADDRESS", Align::Left),
        ("LANE", Align::Left),
        ("WEIGHT", Align::Right),
        ("WARM-UP", Align::Left),
        ("AGE", Align::Right),
    ]);
    for Registered { instance, .. } in &snapshot.instances {
        table.row(vec![
            instance.id().as_str().to_owned(),
            instance.addr().to_string(),
            lane_name(instance).to_owned(),
            instance.weight().to_string(),
            WarmUp::of(instance, now).to_string(),
            format_age(age(instance, now)),
        ]);
    }
    table.write(out)?;
    Ok(())
}

/// Where an instance is in its warm-up window.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WarmUp {
    /// Taking its full share of traffic: the window has passed, or it has none.
    Warm,
    /// Ramping up; `percent` of the window has passed.
    Warming {
        /// 0 to 99.
        percent: u8,
    },
}

impl WarmUp {
    /// The warm-up state of `instance` at `now`, as consumers weigh it
    /// (their ramp runs from the registered start time over the window).
    pub fn of(instance: &Instance, now: SystemTime) -> WarmUp {
        let window = instance.warmup();
        let age = age(instance, now);
        if window.is_zero() || age >= window {
            return WarmUp::Warm;
        }
        let percent = (age.as_secs_f64() / window.as_secs_f64() * 100.0).floor();
        // In 0..100: age < window.
        WarmUp::Warming {
            percent: percent.clamp(0.0, 99.0) as u8,
        }
    }
}

impl std::fmt::Display for WarmUp {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            WarmUp::Warm => f.write_str("warm"),
            WarmUp::Warming { percent } => write!(f, "warming {percent}%"),
        }
    }
}

/// How long `instance` has been running at `now`; zero when its start time
/// is ahead of this machine's clock.
pub fn age(instance: &Instance, now: SystemTime) -> Duration {
    now.duration_since(instance.start_time())
        .unwrap_or(Duration::ZERO)
}

/// An age in its two largest units: `42s`, `3m12s`, `2h05m`, `3d04h`.
pub fn format_age(age: Duration) -> String {
    let seconds = age.as_secs();
    let (minutes, hours, days) = (seconds / 60, seconds / 3600, seconds / 86_400);
    if days > 0 {
        format!("{days}d{:02}h", hours % 24)
    } else if hours > 0 {
        format!("{hours}h{:02}m", minutes % 60)
    } else if minutes > 0 {
        format!("{minutes}m{:02}s", seconds % 60)
    } else {
        format!("{seconds}s")
    }
}

/// The lane an instance serves, `base` for none.
pub fn lane_name(instance: &Instance) -> &str {
    instance.lane().unwrap_or("base")
}

/// An instance as JSON: `lane` is `null` for the base version.
pub fn instance_json(entry: &Registered, now: SystemTime) -> Value {
    let instance = &entry.instance;
    let (state, percent) = match WarmUp::of(instance, now) {
        WarmUp::Warm => ("warm", 100),
        WarmUp::Warming { percent } => ("warming", percent),
    };
    json!({
        "id": instance.id().as_str(),
        "address": instance.addr().to_string(),
        "lane": instance.lane(),
        "weight": instance.weight(),
        "revision": entry.revision.0,
        "started_at": rfc3339(instance.start_time()),
        "age_ms": millis(age(instance, now)),
        "warm_up": {
            "state": state,
            "percent": percent,
            "window_ms": millis(instance.warmup()),
        },
        "metadata": instance.metadata(),
    })
}

/// The time as RFC 3339, or `null` past year 9999 (which a registry entry
/// can claim, and RFC 3339 cannot write).
fn rfc3339(time: SystemTime) -> Value {
    const YEAR_10000: Duration = Duration::from_secs(253_402_300_800);
    match time.duration_since(SystemTime::UNIX_EPOCH) {
        Ok(since) if since < YEAR_10000 => {
            Value::String(humantime::format_rfc3339_millis(time).to_string())
        }
        _ => Value::Null,
    }
}

fn millis(duration: Duration) -> u64 {
    u64::try_from(duration.as_millis()).unwrap_or(u64::MAX)
}

/// Writes one pretty JSON document and a newline.
pub fn write_json(out: &mut dyn Write, value: &Value) -> Result<(), CliError> {
    serde_json::to_writer_pretty(&mut *out, value).map_err(std::io::Error::from)?;
    writeln!(out)?;
    Ok(())
}

fn or_dash(text: String) -> String {
    if text.is_empty() {
        "-".to_owned()
    } else {
        text
    }
}

#[cfg(test)]
mod tests {
    use sae_core::rules::{RuleDocument, RuleFormat};
    use sae_registry::MemoryRegistry;

    use super::*;

    const T0: Duration = Duration::from_secs(1_800_000_000);

    #[test]
    fn a_start_time_past_year_9999_is_null_not_a_panic() {
        let far = SystemTime::UNIX_EPOCH + Duration::from_millis(300_000_000_000_000);
        assert_eq!(rfc3339(far), Value::Null);
        assert_eq!(
            rfc3339(SystemTime::UNIX_EPOCH + T0),
            Value::String("2027-01-15T08:00:00.000Z".into())
        );
    }

    fn at(seconds: u64) -> SystemTime {
        SystemTime::UNIX_EPOCH + T0 + Duration::from_secs(seconds)
    }

    fn instance(service: &str, id: &str, port: u16, lane: Option<&str>) -> Instance {
        let mut builder = Instance::builder(service)
            .id(id)
            .addr(format!("127.0.0.1:{port}").parse().unwrap())
            .start_time(at(0))
            .warmup(Duration::from_secs(100));
        if let Some(lane) = lane {
            builder = builder.lane(lane);
        }
        builder.build().unwrap()
    }

    fn output(result: Result<(), CliError>, out: Vec<u8>) -> String {
        result.unwrap();
        String::from_utf8(out).unwrap()
    }

    #[tokio::test]
    async fn services_count_instances_by_lane_and_name_rule_kinds() {
        let registry = MemoryRegistry::new();
        let _a = registry
            .register(instance("orders", "o1", 8080, None))
            .await
            .unwrap();
        let _b = registry
            .register(instance("orders", "o2", 8081, Some("gray")))
            .await
            .unwrap();
        let _c = registry
            .register(instance("orders", "o3", 8082, None))
            .await
            .unwrap();
        let rules = "rules: [{ lane: gray, path_prefix: /beta/ }]";
        registry
            .put_rules(RuleDocument::new("edge", "lanes", RuleFormat::Yaml, rules).unwrap())
            .await
            .unwrap();

        let mut out = Vec::new();
        let text = output(services(&registry, &mut out, false).await, out);
        assert_eq!(
            text,
            "SERVICE  INSTANCES  LANES           RULES\n\
             edge             0  -               lanes\n\
             orders           3  base 2, gray 1  -\n"
        );

        let mut out = Vec::new();
        let text = output(services(&registry, &mut out, true).await, out);
        let value: Value = serde_json::from_str(&text).unwrap();
        assert_eq!(
            value,
            json!({"services": [
                {"service": "edge", "instances": 0, "base_instances": 0, "lanes": {}, "rules": ["lanes"]},
                {"service": "orders", "instances": 3, "base_instances": 2, "lanes": {"gray": 1}, "rules": []},
            ]})
        );
    }

    #[tokio::test]
    async fn instances_show_lane_weight_warm_up_and_age() {
        let registry = MemoryRegistry::new();
        let _a = registry
            .register(instance("orders", "o2", 8081, Some("gray")))
            .await
            .unwrap();
        let _b = registry
            .register(instance("orders", "o1", 8080, None))
            .await
            .unwrap();
        let orders = ServiceName::new("orders").unwrap();

        let mut out = Vec::new();
        let text = output(
            instances(&registry, &orders, at(42), &mut out, false).await,
            out,
        );
        assert_eq!(
            text,
            "ID  ADDRESS         LANE  WEIGHT  WARM-UP      AGE\n\
             o1  127.0.0.1:8080  base     100  warming 42%  42s\n\
             o2  127.0.0.1:8081  gray     100  warming 42%  42s\n"
        );

        let mut out = Vec::new();
        let text = output(
            instances(&registry, &orders, at(3 * 3600 + 60), &mut out, true).await,
            out,
        );
        let value: Value = serde_json::from_str(&text).unwrap();
        assert_eq!(value["service"], "orders");
        let listed = value["instances"].as_array().unwrap();
        assert_eq!(listed.len(), 2);
        assert_eq!(listed[0]["id"], "o1");
        assert_eq!(listed[0]["address"], "127.0.0.1:8080");
        assert_eq!(listed[0]["lane"], Value::Null);
        assert_eq!(listed[1]["lane"], "gray");
        assert_eq!(listed[1]["weight"], 100);
        assert_eq!(listed[1]["age_ms"], (3 * 3600 + 60) * 1000);
        assert_eq!(
            listed[1]["warm_up"],
            json!({"state": "warm", "percent": 100, "window_ms": 100_000})
        );
        assert!(listed[1]["revision"].as_u64().unwrap() > 0);
    }

    #[tokio::test]
    async fn an_unknown_service_is_not_found() {
        let registry = MemoryRegistry::new();
        let nosuch = ServiceName::new("nosuch").unwrap();
        let error = instances(&registry, &nosuch, at(0), &mut Vec::new(), false)
            .await
            .unwrap_err();
        assert_eq!(error.exit_code(), 4);
        assert_eq!(
            error.to_string(),
            "no instance of service \"nosuch\" is registered"
        );
    }

    #[test]
    fn warm_up_runs_over_the_window_from_the_start_time() {
        let warming = instance("orders", "o1", 8080, None);
        assert_eq!(WarmUp::of(&warming, at(0)), WarmUp::Warming { percent: 0 });
        assert_eq!(
            WarmUp::of(&warming, at(99)),
            WarmUp::Warming { percent: 99 }
        );
        assert_eq!(WarmUp::of(&warming, at(100)), WarmUp::Warm);
        // A start time ahead of this clock: just started.
        let skewed = SystemTime::UNIX_EPOCH + T0 - Duration::from_secs(5);
        assert_eq!(WarmUp::of(&warming, skewed), WarmUp::Warming { percent: 0 });
        assert_eq!(age(&warming, skewed), Duration::ZERO);
        let none = Instance::builder("orders")
            .addr("127.0.0.1:1".parse().unwrap())
            .build()
            .unwrap();
        assert_eq!(WarmUp::of(&none, SystemTime::now()).to_string(), "warm");
    }

    #[test]
    fn ages_show_their_two_largest_units() {
        let cases = [
            (0, "0s"),
            (59, "59s"),
            (60, "1m00s"),
            (192, "3m12s"),
            (7500, "2h05m"),
            (273_600, "3d04h"),
        ];
        for (seconds, shown) in cases {
            assert_eq!(format_age(Duration::from_secs(seconds)), shown);
        }
    }
}
