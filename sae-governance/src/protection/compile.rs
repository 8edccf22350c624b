//! [`ProtectionSet`]: validated protection rules, resolved per call target.

use std::time::Duration;

use crate::rule_text;
use bytes::Bytes;
use http::{HeaderName, HeaderValue, StatusCode};
use sae_core::{Error, Lane, ServiceName};

use super::defaults;
use super::spec::{FallbackSpec, ProtectionRuleSpec, ProtectionSpec, StrategySpec, TargetSpec};

/// Validated protection rules. Build one with [`ProtectionSet::compile`] or
/// [`ProtectionSet::parse`](super::ProtectionSet::parse); swap it at runtime
/// through a [`ProtectionRules`](super::ProtectionRules) handle.
#[derive(Clone, Debug, Default)]
pub struct ProtectionSet {
    consumer: Vec<ConsumerRule>,
    provider: ProviderPolicy,
}

/// How calls to one service (in one lane) are protected: the consumer side
/// of the rules, resolved.
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub struct CallPolicy {
    /// The bound on a whole call, retries included.
    pub timeout: Option<Duration>,
    /// The bound on each attempt.
    pub per_try_timeout: Option<Duration>,
    /// Retries of failures safe to repeat; `None` when disabled.
    pub retry: Option<RetryPolicy>,
    /// Ejection of failing endpoints; `None` when disabled.
    pub outlier: Option<OutlierPolicy>,
    /// The circuit breaker; `None` when disabled.
    pub breaker: Option<BreakerPolicy>,
}

/// Retries: attempts and the budget that caps them.
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub struct RetryPolicy {
    /// Attempts per call, the first included.
    pub attempts: u32,
    /// Retries allowed as a share of calls, 0 to 1000 (percent).
    pub budget_percent: f32,
    /// Retries allowed per second regardless of calls.
    pub min_per_second: u32,
    /// How long a call counts toward the budget (1 to 60 s).
    pub budget_window: Duration,
}

/// Outlier detection by consecutive failures.
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub struct OutlierPolicy {
    /// Consecutive failures that eject an endpoint.
    pub consecutive_failures: u32,
    /// The first ejection; the n-th lasts n times this.
    pub base_ejection_time: Duration,
    /// The longest ejection.
    pub max_ejection_time: Duration,
    /// Most endpoints ejected at once, percent (at least one always may be).
    pub max_ejection_percent: f64,
    /// Whether HTTP 500 counts as a failure.
    pub failure_on_500: bool,
}

/// What makes a call bad for the breaker.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BreakerStrategy {
    /// The call failed (an error, a gateway-class status, a timeout).
    ErrorRatio,
    /// The call took longer than the breaker's `max_allowed_rt`.
    SlowRequestRatio,
}

/// OpenSergo's `CircuitBreakerStrategy`, validated.
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub struct BreakerPolicy {
    /// What makes a call bad.
    pub strategy: BreakerStrategy,
    /// The share of bad calls that opens the breaker.
    pub trigger_ratio: f64,
    /// The sliding window of the ratio.
    pub stat_duration: Duration,
    /// Calls in the window before the ratio counts.
    pub min_request_amount: u32,
    /// How long the breaker stays open before a probe.
    pub recovery_timeout: Duration,
    /// A call slower than this is slow.
    pub max_allowed_rt: Duration,
    /// What a refused call answers; `None`: `Error::CircuitOpen`.
    pub fallback: Option<Fallback>,
    /// The rule's name, for events.
    pub rule: Option<String>,
}

/// A response made without sending the request.
#[derive(Clone, Debug, PartialEq)]
pub struct Fallback {
    /// The status.
    pub status: StatusCode,
    /// The headers.
    pub headers: Vec<(HeaderName, HeaderValue)>,
    /// The body.
    pub body: Bytes,
}

/// The provider side of the rules: limits on what this service serves.
#[derive(Clone, Debug, Default, PartialEq)]
#[non_exhaustive]
pub struct ProviderPolicy {
    /// Fixed concurrency limits, each on its targets; all that match apply.
    pub concurrency: Vec<ConcurrencyRule>,
    /// The adaptive limit on the whole service; `None` when disabled.
    pub adaptive: Option<AdaptivePolicy>,
    /// Token buckets, each on its targets; all that match apply.
    pub rate_limits: Vec<RateRule>,
}

/// Which requests a provider-side rule applies to.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct ProviderTarget {
    /// The route (`/orders/{id}`, `/pkg.Svc/Method`); `None`: every route.
    pub route: Option<String>,
    /// The caller; `None`: every caller.
    pub caller: Option<ServiceName>,
}

/// A fixed concurrency limit with a bounded queue.
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub struct ConcurrencyRule {
    /// The rule's name (or its place, `rules[3]`), for events and rejections.
    pub name: String,
    /// Which requests it counts; with no target, the whole service.
    pub targets: Vec<ProviderTarget>,
    /// Requests served at once.
    pub max_concurrency: u32,
    /// Requests that may wait for a slot.
    pub queue: u32,
    /// How long one may wait.
    pub queue_timeout: Duration,
}

/// The adaptive concurrency limit (Gradient2).
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub struct AdaptivePolicy {
    /// The limit it starts at.
    pub initial_limit: u32,
    /// The lowest limit.
    pub min_limit: u32,
    /// The highest limit.
    pub max_limit: u32,
    /// How much slower than the long-term latency the short-term one may get.
    pub rtt_tolerance: f64,
}

/// A token bucket.
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub struct RateRule {
    /// The rule's name (or its place), for events and rejections.
    pub name: String,
    /// Which requests it counts; with no target, the whole service.
    pub targets: Vec<ProviderTarget>,
    /// Requests per `period`.
    pub threshold: u32,
    /// The period of `threshold`.
    pub period: Duration,
    /// Requests allowed at once.
    pub burst: u32,
}

/// A consumer-side rule: one strategy for its targets.
#[derive(Clone, Debug)]
struct ConsumerRule {
    targets: Vec<ConsumerTarget>,
    kind: ConsumerKind,
    strategy: ConsumerStrategy,
}

#[derive(Clone, Debug, Default, PartialEq, Eq)]
struct ConsumerTarget {
    service: Option<ServiceName>,
    lane: Option<Lane>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum ConsumerKind {
    Timeout,
    Retry,
    Outlier,
    Breaker,
}

#[derive(Clone, Debug)]
enum ConsumerStrategy {
    Timeout {
        timeout: Option<Duration>,
        per_try_timeout: Option<Duration>,
    },
    Retry(RetryPolicy),
    Outlier(OutlierPolicy),
    Breaker(Box<BreakerPolicy>),
    Disabled,
}

impl ConsumerTarget {
    /// How specific a match of this target is for (`service`, `lane`), or
    /// `None` when it does not match: service and lane > service > lane > all.
    fn specificity(&self, service: &ServiceName, lane: Option<&Lane>) -> Option<u8> {
        if self.service.as_ref().is_some_and(|s| s != service)
            || self.lane.as_ref().is_some_and(|l| Some(l) != lane)
        {
            return None;
        }
        Some(u8::from(self.service.is_some()) * 2 + u8::from(self.lane.is_some()))
    }
}

impl ConsumerRule {
    fn specificity(&self, service: &ServiceName, lane: Option<&Lane>) -> Option<u8> {
        if self.targets.is_empty() {
            return Some(0);
        }
        self.targets
            .iter()
            .filter_map(|target| target.specificity(service, lane))
            .max()
    }
}

impl ProtectionSet {
    /// The built-in rules: outlier detection, a retry budget and a circuit
    /// breaker on every call, an adaptive concurrency limit on the service.
    pub fn defaults() -> Self {
        ProtectionSet {
            consumer: Vec::new(),
            provider: ProviderPolicy {
                concurrency: Vec::new(),
                adaptive: Some(defaults::adaptive()),
                rate_limits: Vec::new(),
            },
        }
    }

    /// Validates `spec`, on top of the built-in rules.
    ///
    /// # Errors
    ///
    /// [`Error::Config`] naming the rule (`rules[2] ("inventory-breaker")`)
    /// and the field (`strategy.trigger_ratio`) that is wrong, and why.
    pub fn compile(spec: &ProtectionSpec) -> Result<Self, Error> {
        let mut set = ProtectionSet::defaults();
        let names: Vec<Option<&str>> = spec.rules.iter().map(|rule| rule.name.as_deref()).collect();
        for (index, rule) in spec.rules.iter().enumerate() {
            let at = |field: &str| rule_text::field_path(index, rule.name.as_deref(), field);
            if let Some(first) = rule_text::duplicate_of(&names, index) {
                return Err(config(at("name"), format!("duplicate of rules[{first}]")));
            }
            let label = rule
                .name
                .clone()
                .unwrap_or_else(|| format!("rules[{index}]"));
            set.add(rule, label, &at)?;
        }
        Ok(set)
    }

    /// How calls to `service` in `lane` are protected: for each kind, the
    /// most specific rule (service and lane, service, lane, all), else the
    /// built-in default.
    pub fn call_policy(&self, service: &ServiceName, lane: Option<&Lane>) -> CallPolicy {
        let pick = |kind: ConsumerKind| {
            self.consumer
                .iter()
                .filter(|rule| rule.kind == kind)
                .filter_map(|rule| Some((rule.specificity(service, lane)?, rule)))
                // Equally specific: the later rule wins.
                .max_by_key(|(specificity, _)| *specificity)
                .map(|(_, rule)| &rule.strategy)
        };
        let (timeout, per_try_timeout) = match pick(ConsumerKind::Timeout) {
            Some(ConsumerStrategy::Timeout {
                timeout,
                per_try_timeout,
            }) => (*timeout, *per_try_timeout),
            _ => (None, None),
        };
        let retry = match pick(ConsumerKind::Retry) {
            Some(ConsumerStrategy::Retry(retry)) => Some(retry.clone()),
            Some(_) => None,
            None => Some(defaults::retry()),
        };
        let outlier = match pick(ConsumerKind::Outlier) {
            Some(ConsumerStrategy::Outlier(outlier)) => Some(outlier.clone()),
            Some(_) => None,
            None => Some(defaults::outlier()),
        };
        let breaker = match pick(ConsumerKind::Breaker) {
            Some(ConsumerStrategy::Breaker(breaker)) => Some((**breaker).clone()),
            Some(_) => None,
            None => Some(defaults::breaker()),
        };
        CallPolicy {
            timeout,
            per_try_timeout,
            retry,
            outlier,
            breaker,
        }
    }

    /// The provider side: limits on what this service serves.
    pub fn provider(&self) -> &ProviderPolicy {
        &self.provider
    }

    /// How many rules were given (the built-in ones not counted).
    pub fn len(&self) -> usize {
        self.consumer.len() + self.provider.concurrency.len() + self.provider.rate_limits.len()
    }

    /// Whether no rule was given.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn add(
        &mut self,
        rule: &ProtectionRuleSpec,
        label: String,
        at: &dyn Fn(&str) -> String,
    ) -> Result<(), Error> {
        if rule.fallback.is_some() && !matches!(rule.strategy, StrategySpec::CircuitBreaker { .. })
        {
            return Err(config(
                at("fallback"),
                "only a circuit_breaker rule has a fallback",
            ));
        }
        match &rule.strategy {
            StrategySpec::Timeout {
                timeout,
                per_try_timeout,
            } => {
                let timeout = optional_duration(timeout, &at("strategy.timeout"))?;
                let per_try_timeout =
                    optional_duration(per_try_timeout, &at("strategy.per_try_timeout"))?;
                if timeout.is_none() && per_try_timeout.is_none() {
                    return Err(config(
                        at("strategy"),
                        "a timeout rule needs timeout, per_try_timeout or both",
                    ));
                }
                if let (Some(whole), Some(each)) = (timeout, per_try_timeout)
                    && each > whole
                {
                    return Err(config(
                        at("strategy.per_try_timeout"),
                        format!("{each:?} is longer than the whole call's timeout {whole:?}"),
                    ));
                }
                self.consumer_rule(
                    rule,
                    at,
                    ConsumerKind::Timeout,
                    ConsumerStrategy::Timeout {
                        timeout,
                        per_try_timeout,
                    },
                )
            }
            StrategySpec::Retry {
                attempts,
                budget_percent,
                min_per_second,
                budget_window,
            } => {
                let mut retry = defaults::retry();
                if let Some(attempts) = attempts {
                    if !(1..=10).contains(attempts) {
                        return Err(config(
                            at("strategy.attempts"),
                            format!("{attempts} is not 1 to 10"),
                        ));
                    }
                    retry.attempts = *attempts;
                }
                if let Some(percent) = budget_percent {
                    if !(0.0..=1000.0).contains(percent) {
                        return Err(config(
                            at("strategy.budget_percent"),
                            format!("{percent} is not 0 to 1000"),
                        ));
                    }
                    retry.budget_percent = *percent as f32;
                }
                if let Some(per_second) = min_per_second {
                    retry.min_per_second = (*per_second).min(i32::MAX as u32 - 1);
                }
                if let Some(window) =
                    optional_duration(budget_window, &at("strategy.budget_window"))?
                {
                    if !(Duration::from_secs(1)..=Duration::from_secs(60)).contains(&window) {
                        return Err(config(
                            at("strategy.budget_window"),
                            format!("{window:?} is not 1 s to 60 s"),
                        ));
                    }
                    retry.budget_window = window;
                }
                self.consumer_rule(
                    rule,
                    at,
                    ConsumerKind::Retry,
                    ConsumerStrategy::Retry(retry),
                )
            }
            StrategySpec::OutlierDetection {
                consecutive_failures,
                base_ejection_time,
                max_ejection_time,
                max_ejection_percent,
                failure_on_500,
            } => {
                let mut outlier = defaults::outlier();
                if let Some(failures) = consecutive_failures {
                    if *failures == 0 {
                        return Err(config(
                            at("strategy.consecutive_failures"),
                            "must be at least 1",
                        ));
                    }
                    outlier.consecutive_failures = *failures;
                }
                if let Some(base) =
                    optional_duration(base_ejection_time, &at("strategy.base_ejection_time"))?
                {
                    outlier.base_ejection_time = base;
                }
                if let Some(max) =
                    optional_duration(max_ejection_time, &at("strategy.max_ejection_time"))?
                {
                    outlier.max_ejection_time = max;
                }
                if outlier.max_ejection_time < outlier.base_ejection_time {
                    return Err(config(
                        at("strategy.max_ejection_time"),
                        "is shorter than base_ejection_time",
                    ));
                }
                if let Some(percent) = max_ejection_percent {
                    if !(0.0..=100.0).contains(percent) {
                        return Err(config(
                            at("strategy.max_ejection_percent"),
                            format!("{percent} is not 0 to 100"),
                        ));
                    }
                    outlier.max_ejection_percent = *percent;
                }
                if let Some(on_500) = failure_on_500 {
                    outlier.failure_on_500 = *on_500;
                }
                self.consumer_rule(
                    rule,
                    at,
                    ConsumerKind::Outlier,
                    ConsumerStrategy::Outlier(outlier),
                )
            }
            StrategySpec::CircuitBreaker {
                strategy,
                trigger_ratio,
                stat_duration,
                min_request_amount,
                recovery_timeout,
                max_allowed_rt,
            } => {
                let mut breaker = defaults::breaker();
                breaker.rule = Some(label);
                breaker.strategy = match strategy.as_deref() {
                    None | Some("error_ratio") => BreakerStrategy::ErrorRatio,
                    Some("slow_request_ratio") => BreakerStrategy::SlowRequestRatio,
                    Some(other) => {
                        return Err(config(
                            at("strategy.strategy"),
                            format!("{other:?} is neither error_ratio nor slow_request_ratio"),
                        ));
                    }
                };
                if let Some(ratio) = trigger_ratio {
                    if !(*ratio > 0.0 && *ratio <= 1.0) {
                        return Err(config(
                            at("strategy.trigger_ratio"),
                            format!("{ratio} is not above 0 and at most 1"),
                        ));
                    }
                    breaker.trigger_ratio = *ratio;
                }
                if let Some(window) =
                    optional_duration(stat_duration, &at("strategy.stat_duration"))?
                {
                    breaker.stat_duration = window;
                }
                if let Some(minimum) = min_request_amount {
                    breaker.min_request_amount = (*minimum).max(1);
                }
                if let Some(recovery) =
                    optional_duration(recovery_timeout, &at("strategy.recovery_timeout"))?
                {
                    breaker.recovery_timeout = recovery;
                }
                if let Some(slow) =
                    optional_duration(max_allowed_rt, &at("strategy.max_allowed_rt"))?
                {
                    breaker.max_allowed_rt = slow;
                }
                if let Some(fallback) = &rule.fallback {
                    breaker.fallback = Some(compile_fallback(fallback, at)?);
                }
                self.consumer_rule(
                    rule,
                    at,
                    ConsumerKind::Breaker,
                    ConsumerStrategy::Breaker(Box::new(breaker)),
                )
            }
            StrategySpec::ConcurrencyLimit {
                max_concurrency,
                queue,
                queue_timeout,
            } => {
                if *max_concurrency == 0 {
                    return Err(config(at("strategy.max_concurrency"), "must be at least 1"));
                }
                let targets = provider_targets(rule, at)?;
                self.provider.concurrency.push(ConcurrencyRule {
                    name: label,
                    targets,
                    max_concurrency: *max_concurrency,
                    queue: queue.unwrap_or(0),
                    queue_timeout: optional_duration(queue_timeout, &at("strategy.queue_timeout"))?
                        .unwrap_or(defaults::QUEUE_TIMEOUT),
                });
                Ok(())
            }
            StrategySpec::AdaptiveConcurrency {
                initial_limit,
                min_limit,
                max_limit,
                rtt_tolerance,
            } => {
                let targets = provider_targets(rule, at)?;
                if !targets.is_empty() {
                    return Err(config(
                        at("targets"),
                        "the adaptive limit applies to the whole service; give no target",
                    ));
                }
                let mut adaptive = defaults::adaptive();
                if let Some(min) = min_limit {
                    adaptive.min_limit = (*min).max(1);
                }
                if let Some(max) = max_limit {
                    adaptive.max_limit = *max;
                }
                if let Some(initial) = initial_limit {
                    adaptive.initial_limit = *initial;
                }
                if adaptive.min_limit > adaptive.max_limit
                    || !(adaptive.min_limit..=adaptive.max_limit).contains(&adaptive.initial_limit)
                {
                    return Err(config(
                        at("strategy"),
                        format!(
                            "limits must satisfy min_limit <= initial_limit <= max_limit (got {} <= {} <= {})",
                            adaptive.min_limit, adaptive.initial_limit, adaptive.max_limit
                        ),
                    ));
                }
                if let Some(tolerance) = rtt_tolerance {
                    if *tolerance < 1.0 {
                        return Err(config(
                            at("strategy.rtt_tolerance"),
                            format!("{tolerance} is below 1"),
                        ));
                    }
                    adaptive.rtt_tolerance = *tolerance;
                }
                self.provider.adaptive = Some(adaptive);
                Ok(())
            }
            StrategySpec::RateLimit {
                threshold,
                stat_duration,
                burst,
            } => {
                if *threshold == 0 {
                    return Err(config(at("strategy.threshold"), "must be at least 1"));
                }
                let targets = provider_targets(rule, at)?;
                let period = optional_duration(stat_duration, &at("strategy.stat_duration"))?
                    .unwrap_or(Duration::from_secs(1));
                self.provider.rate_limits.push(RateRule {
                    name: label,
                    targets,
                    threshold: *threshold,
                    period,
                    burst: burst.unwrap_or(*threshold).max(1),
                });
                Ok(())
            }
            StrategySpec::Disabled { disables } => {
                let kind = match disables.as_str() {
                    "timeout" => ConsumerKind::Timeout,
                    "retry" => ConsumerKind::Retry,
                    "outlier_detection" => ConsumerKind::Outlier,
                    "circuit_breaker" => ConsumerKind::Breaker,
                    "adaptive_concurrency" => {
                        if !provider_targets(rule, at)?.is_empty() {
                            return Err(config(
                                at("targets"),
                                "the adaptive limit applies to the whole service; give no target",
                            ));
                        }
                        self.provider.adaptive = None;
                        return Ok(());
                    }
                    other => {
                        return Err(config(
                            at("strategy.disables"),
                            format!(
                                "{other:?} is not timeout, retry, outlier_detection, circuit_breaker or adaptive_concurrency"
                            ),
                        ));
                    }
                };
                self.consumer_rule(rule, at, kind, ConsumerStrategy::Disabled)
            }
        }
    }

    fn consumer_rule(
        &mut self,
        rule: &ProtectionRuleSpec,
        at: &dyn Fn(&str) -> String,
        kind: ConsumerKind,
        strategy: ConsumerStrategy,
    ) -> Result<(), Error> {
        let mut targets = Vec::with_capacity(rule.targets.len());
        for (i, target) in rule.targets.iter().enumerate() {
            let field = |name: &str| at(&format!("targets[{i}].{name}"));
            if target.route.is_some() || target.caller.is_some() {
                let name = if target.route.is_some() {
                    "route"
                } else {
                    "caller"
                };
                return Err(config(
                    field(name),
                    "a consumer-side rule targets the called service and lane, not a route or caller",
                ));
            }
            let service = match &target.service {
                Some(service) => Some(
                    ServiceName::new(service)
                        .map_err(|error| config(field("service"), error.to_string()))?,
                ),
                None => None,
            };
            let lane = match &target.lane {
                Some(lane) => Some(
                    Lane::new(lane).map_err(|error| config(field("lane"), error.to_string()))?,
                ),
                None => None,
            };
            targets.push(ConsumerTarget { service, lane });
        }
        self.consumer.push(ConsumerRule {
            targets,
            kind,
            strategy,
        });
        Ok(())
    }
}

fn provider_targets(
    rule: &ProtectionRuleSpec,
    at: &dyn Fn(&str) -> String,
) -> Result<Vec<ProviderTarget>, Error> {
    let mut targets = Vec::with_capacity(rule.targets.len());
    for (i, target) in rule.targets.iter().enumerate() {
        let field = |name: &str| at(&format!("targets[{i}].{name}"));
        let TargetSpec {
            service,
            lane,
            route,
            caller,
        } = target;
        if service.is_some() || lane.is_some() {
            let name = if service.is_some() { "service" } else { "lane" };
            return Err(config(
                field(name),
                "a provider-side rule targets a route and caller of this service, not a called service or lane",
            ));
        }
        if let Some(route) = route
            && !route.starts_with('/')
        {
            return Err(config(
                field("route"),
                format!("{route:?} does not start with '/'"),
            ));
        }
        let caller = match caller {
            Some(caller) => Some(
                ServiceName::new(caller)
                    .map_err(|error| config(field("caller"), error.to_string()))?,
            ),
            None => None,
        };
        if route.is_some() || caller.is_some() {
            targets.push(ProviderTarget {
                route: route.clone(),
                caller,
            });
        }
    }
    Ok(targets)
}

fn compile_fallback(spec: &FallbackSpec, at: &dyn Fn(&str) -> String) -> Result<Fallback, Error> {
    let status = match spec.status {
        None => StatusCode::SERVICE_UNAVAILABLE,
        Some(code) => StatusCode::from_u16(code).map_err(|_| {
            config(
                at("fallback.status"),
                format!("{code} is not an HTTP status"),
            )
        })?,
    };
    let mut headers = Vec::with_capacity(spec.headers.len());
    for (name, value) in &spec.headers {
        let header = HeaderName::from_bytes(name.as_bytes()).map_err(|_| {
            config(
                at(&format!("fallback.headers.{name}")),
                "not a valid header name",
            )
        })?;
        let value = HeaderValue::from_str(value).map_err(|_| {
            config(
                at(&format!("fallback.headers.{name}")),
                "not a valid header value",
            )
        })?;
        headers.push((header, value));
    }
    Ok(Fallback {
        status,
        headers,
        body: Bytes::from(spec.body.clone()),
    })
}

fn optional_duration(text: &Option<String>, at: &str) -> Result<Option<Duration>, Error> {
    let Some(text) = text else {
        return Ok(None);
    };
    let duration = humantime::parse_duration(text.trim()).map_err(|error| {
        config(
            at.to_owned(),
            format!("{text:?} is not a duration ({error}); write it as 300ms, 2s or 1m"),
        )
    })?;
    if duration.is_zero() {
        return Err(config(at.to_owned(), format!("{text:?} is zero")));
    }
    Ok(Some(duration))
}

fn config(at: String, message: impl Into<String>) -> Error {
    Error::Config {
        at,
        message: message.into(),
    }
}
