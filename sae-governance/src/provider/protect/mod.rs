//! Traffic protection on the provider side: what keeps a flood, a greedy
//! caller or a slow dependency from taking the service down with it.
//!
//! # What happens to a request
//!
//! [`ProtectLayer`] applies the provider side of the
//! [protection rules](crate::protection) to each request before the
//! handler sees it, in this order:
//!
//! 1. **Rate limits** (`kind: rate_limit`): a token bucket per rule
//!    (governor's GCRA), `threshold` requests per `stat_duration` with
//!    `burst` at once. Past it: `429 Too Many Requests` with `Retry-After`
//!    (seconds until the next token, rounded up).
//! 2. **Isolation** (`kind: concurrency_limit`): `max_concurrency` requests
//!    at once per rule; a request that finds the rule full waits in its
//!    queue if there is room (`queue`), up to `queue_timeout`. Past that, or
//!    when the wait times out: `503` at once.
//! 3. **Adaptive overload protection** (on by default): a limit on the
//!    requests the whole service serves at once that follows the measured
//!    latency ([below](#adaptive-overload-protection)). Past it: `503`.
//!
//! Every rule that matches a request applies. A rule without targets
//! counts every request; a rule with targets counts only the requests one
//! of them matches. A target's `route` is compared with the axum route the
//! request matched (its [`MatchedPath`](axum::extract::MatchedPath), such
//! as `/orders/{id}`), or, without one, the URI path (a gRPC method,
//! `/package.Service/Method`); its `caller` with the caller the lane layer
//! validated (the request's [`RequestContext`](sae_core::RequestContext)),
//! never the raw `x-sae-caller` header. So the layer goes inside the lane
//! layer, and on an axum router through `Router::layer`, where the route is
//! known; the provider's [`ProviderLayer`](super::ProviderLayer) puts it
//! there.
//!
//! # Rejections
//!
//! | reason | HTTP | gRPC (`content-type: application/grpc*`) |
//! |---|---|---|
//! | `rate-limit` | `429`, `Retry-After` | trailers-only, `grpc-status: 8` (`RESOURCE_EXHAUSTED`) |
//! | `concurrency` | `503` | the same |
//! | `overload` | `503` | the same |
//!
//! Each carries `x-sae-rejected: <reason>` ([`sae_core::wire::rejection`]):
//! the request was refused before processing, so a consumer may send it to
//! another instance whatever its method (sae's client does). Each is also
//! a `tracing` event named [`sae.rejected`](sae_core::wire::event::REJECTED)
//! with the fields `service`, `reason`, `rule` (the rule's name, or
//! `adaptive`), `route`, `caller` and `grpc`; sae-trace counts it
//! (`sae.server.rejections`) and shows it on the server span.
//!
//! A rejection is cheap enough to survive a flood: it reads a few atomics,
//! takes no lock, never waits, and allocates only its response (a static
//! body and a header map).
//!
//! # Adaptive overload protection
//!
//! The limit is Netflix's **Gradient2** ([`Gradient2Limit`] in
//! concurrency-limits, described in "Performance Under Load", Netflix
//! Technology Blog, 2018): once per sampling window it compares the
//! window's average latency (`short`) with a long-term exponential average
//! of it (`long`, over 600 windows) and sets
//!
//! ```text
//! gradient = clamp(rtt_tolerance × long / short, 0.5, 1.0)
//! tried    = limit, or what was in flight if fewer when gradient < 1
//! target   = tried × gradient + queue
//! limit    = target                        when it is lower
//!          = 0.8 × limit + 0.2 × target    when it is higher
//! ```
//!
//! within `[min_limit, max_limit]`, so the limit shrinks while requests
//! take longer than the service's own norm allows, and grows by a little
//! each window while they do not. Netflix smooths the fall as well; here it
//! is taken at once, because a limit far above what the service can carry
//! would take dozens of windows to come down, and the queue it lets in
//! meanwhile outlives every caller's timeout. Until its first window a
//! fresh instance admits up to `max_limit` (nothing is measured yet); then
//! the limit starts at `initial_limit` (20) and doubles each window in
//! which it held requests back while latency holds, until latency first
//! rises (TCP's slow start), so a busy service is not held back for long. It
//! does not move while fewer than half the limit were in flight (the
//! latency then says nothing about the limit), and the long-term average
//! decays faster after a long overload. Why Gradient2 here:
//!
//! - **Vegas** (concurrency-limits' `VegasLimit`) estimates the queue from
//!   the minimum latency ever seen. A minimum is biased low by a few fast
//!   outliers (cache hits, early errors) and shed load needlessly — the
//!   reason Netflix moved to Gradient2's average — and it must be refreshed
//!   by deliberately shrinking the limit (Envoy's adaptive concurrency
//!   filter does that periodically, rejecting traffic while it measures).
//!   It also updates on every sample under a lock.
//! - **BBR**, as in Sentinel's system adaptive protection and Kratos'
//!   `bbr` limiter, caps concurrency at maximum throughput × minimum
//!   latency. That misfires at light load, so both apply it only while CPU
//!   usage (or load) is high, which needs a CPU reading this crate cannot
//!   take portably or correctly inside a container's quota.
//! - **Gradient2** needs neither: only latency and in-flight counts, each
//!   request's share is a few atomics, and the arithmetic runs once per
//!   window. Its knobs are the rule's (`initial_limit`, `min_limit`,
//!   `max_limit`, `rtt_tolerance`).
//!
//! Taken from Netflix's `WindowedLimit` as well: a window closes after
//! twice its average latency and at least ten samples (fewer: it stays
//! open until it has them, so a lightly loaded service still learns the
//! latency an overload is judged by). Different from Netflix's defaults, so that the limit
//! follows a change in seconds rather than minutes: windows last 100 ms to
//! 1 s (Netflix: 1 s; Envoy recomputes every 100 ms), the growth allowance
//! `queue` is √limit, at least 4 (concurrency-limits' `GradientLimit` and
//! Envoy's headroom; Gradient2's default is a constant 4), and every
//! sample counts, but the gradient compares latencies of at least 1 ms
//! (Netflix ignores samples under 100 µs): below that a change is the
//! scheduler, not a queue, and a tier whose own work takes microseconds
//! would shed on CPU jitter.
//!
//! A request counts from admission until its response head is ready, like
//! [`InFlight`](super::InFlight); a request whose future is dropped
//! (the caller went away) leaves no latency sample. The window's latency is
//! an average over a sample of its requests: all of them until it has 20,
//! then one in eight.
//!
//! Sources: <https://github.com/Netflix/concurrency-limits>,
//! <https://netflixtechblog.medium.com/performance-under-load-3e6fa9a60581>,
//! <https://www.envoyproxy.io/docs/envoy/latest/configuration/http/http_filters/adaptive_concurrency_filter>,
//! <https://sentinelguard.io/en-us/docs/system-adaptive-protection.html>.
//!
//! [`Gradient2Limit`]: https://github.com/Netflix/concurrency-limits/blob/main/concurrency-limits-core/src/main/java/com/netflix/concurrency/limits/limit/Gradient2Limit.java
//!
//! # Hot swap
//!
//! The layer reads the rules' generation on each request (one atomic) and
//! keeps what it derives from them (buckets, slots, the adaptive limit)
//! for that generation. After a swap, the first request rebuilds it once;
//! a rule the swap left unchanged keeps its state (tokens, slots in use,
//! learned limit), and requests already admitted keep the slots they hold.
//!
//! # Cost
//!
//! With the default rules (the adaptive limit only), a request costs one
//! atomic load and one `ArcSwap` load for the rules, a compare-and-swap to
//! enter the adaptive limit and a subtraction to leave it, and an `Arc`
//! clone; one request in eight (every one while a window is short of
//! samples) also reads the clock twice and adds its latency to the window.
//! No lock, no allocation. A rate limit adds a compare-and-swap per
//! matching rule; a fixed limit a compare-and-swap on its slots (returning
//! a slot takes that rule's semaphore lock); rules with targets add the
//! route and caller lookups.
//!
//! # Example
//!
//! ```
//! use axum::{Router, routing::get};
//! use http::{Request, StatusCode};
//! use sae_core::ServiceName;
//! use sae_governance::lane::{LaneLayer, RuleFormat};
//! use sae_governance::protection::ProtectionRules;
//! use sae_governance::provider::protect::ProtectLayer;
//! use tower::ServiceExt;
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
//! let rules = ProtectionRules::parse(
//!     r#"
//! rules:
//!   - name: export-isolation
//!     targets: [{ route: /export }]
//!     strategy: { kind: concurrency_limit, max_concurrency: 4, queue: 8, queue_timeout: 50ms }
//!   - name: frontend-rate
//!     targets: [{ caller: frontend }]
//!     strategy: { kind: rate_limit, threshold: 1, stat_duration: 1s }
//! "#,
//!     RuleFormat::Yaml,
//! )?;
//! let protect = ProtectLayer::new(rules.clone(), ServiceName::new("orders")?);
//! // Inside the lane layer, which validates the caller; on the router, so
//! // the route is known.
//! let app = Router::new()
//!     .route("/export", get(|| async { "report" }))
//!     .route("/orders/{id}", get(|| async { "order" }))
//!     .layer(protect)
//!     .layer(LaneLayer::new());
//!
//! let from_frontend = || {
//!     Request::get("/orders/7").header("x-sae-caller", "frontend").body(axum::body::Body::empty())
//! };
//! assert_eq!(app.clone().oneshot(from_frontend()?).await?.status(), StatusCode::OK);
//! let limited = app.clone().oneshot(from_frontend()?).await?;
//! assert_eq!(limited.status(), StatusCode::TOO_MANY_REQUESTS);
//! assert_eq!(limited.headers()["retry-after"], "1");
//! assert_eq!(limited.headers()["x-sae-rejected"], "rate-limit");
//!
//! // Other callers are not counted by that rule.
//! let other = Request::get("/orders/7").header("x-sae-caller", "billing").body(axum::body::Body::empty())?;
//! assert_eq!(app.clone().oneshot(other).await?.status(), StatusCode::OK);
//!
//! // Swap the rules at any time; a bad update is refused and these stay.
//! rules.reload_str("rules: []", RuleFormat::Yaml)?;
//! assert_eq!(app.oneshot(from_frontend()?).await?.status(), StatusCode::OK);
//! # Ok(())
//! # }
//! ```

mod adaptive;
mod body;
mod future;
mod isolation;
mod layer;
mod rate;
mod reject;
mod service;
#[cfg(test)]
mod tests;

use std::sync::Arc;

use arc_swap::{ArcSwap, Guard};
use parking_lot::Mutex;
use sae_core::ServiceName;

pub use body::ProtectBody;
pub use future::ResponseFuture;
pub use layer::ProtectLayer;
pub use service::Protect;

use adaptive::Adaptive;
use isolation::Isolation;
use rate::RateLimit;

use crate::protection::{ProtectionRules, ProviderPolicy};

/// What every service of one [`ProtectLayer`] shares.
#[derive(Debug)]
struct Shared {
    rules: ProtectionRules,
    service: ServiceName,
    current: ArcSwap<Compiled>,
    /// Held while one request rebuilds [`Compiled`] after a swap.
    rebuild: Mutex<()>,
}

/// The state derived from one generation of the rules.
#[derive(Debug)]
struct Compiled {
    generation: u64,
    rates: Box<[Arc<RateLimit>]>,
    isolation: Box<[Arc<Isolation>]>,
    adaptive: Option<Arc<Adaptive>>,
    /// Whether some rule has targets, so requests need their route and caller.
    targeted: bool,
}

impl Shared {
    fn new(rules: ProtectionRules, service: ServiceName) -> Self {
        let generation = rules.generation();
        let compiled = Compiled::build(generation, rules.load().provider(), None);
        Shared {
            rules,
            service,
            current: ArcSwap::from_pointee(compiled),
            rebuild: Mutex::new(()),
        }
    }

    /// The state for the rules running now.
    fn compiled(&self) -> Guard<Arc<Compiled>> {
        let current = self.current.load();
        if current.generation == self.rules.generation() {
            return current;
        }
        self.refresh(current)
    }

    #[cold]
    fn refresh(&self, stale: Guard<Arc<Compiled>>) -> Guard<Arc<Compiled>> {
        // One request rebuilds; any other meanwhile goes by the old rules
        // rather than wait.
        let Some(_rebuilding) = self.rebuild.try_lock() else {
            return stale;
        };
        drop(stale);
        // The generation first: the rules loaded after it are at least as
        // new, so a swap in between is caught by the next request.
        let generation = self.rules.generation();
        let previous = self.current.load_full();
        if previous.generation != generation {
            let rules = self.rules.load();
            let compiled = Compiled::build(generation, rules.provider(), Some(&previous));
            self.current.store(Arc::new(compiled));
        }
        self.current.load()
    }
}

impl Compiled {
    /// The state for `policy`, keeping `previous`'s for every rule it
    /// did not change.
    fn build(generation: u64, policy: &ProviderPolicy, previous: Option<&Compiled>) -> Self {
        let rates: Box<[Arc<RateLimit>]> = policy
            .rate_limits
            .iter()
            .map(|rule| {
                previous
                    .and_then(|previous| previous.rates.iter().find(|kept| kept.rule == *rule))
                    .cloned()
                    .unwrap_or_else(|| Arc::new(RateLimit::new(rule.clone())))
            })
            .collect();
        let isolation: Box<[Arc<Isolation>]> = policy
            .concurrency
            .iter()
            .map(|rule| {
                previous
                    .and_then(|previous| previous.isolation.iter().find(|kept| kept.rule == *rule))
                    .cloned()
                    .unwrap_or_else(|| Arc::new(Isolation::new(rule.clone())))
            })
            .collect();
        let adaptive = policy.adaptive.as_ref().map(|policy| {
            previous
                .and_then(|previous| previous.adaptive.as_ref())
                .filter(|kept| kept.policy == *policy)
                .cloned()
                .unwrap_or_else(|| Arc::new(Adaptive::new(policy.clone())))
        });
        let targeted = rates.iter().any(|rate| !rate.rule.targets.is_empty())
            || isolation
                .iter()
                .any(|isolation| !isolation.rule.targets.is_empty());
        Compiled {
            generation,
            rates,
            isolation,
            adaptive,
            targeted,
        }
    }
}
