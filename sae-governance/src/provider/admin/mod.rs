//! The admin endpoints, on a listener of their own: preStop, readiness, liveness.
//!
//! | route | answer |
//! |---|---|
//! | `GET` or `POST /prestop` | starts the shutdown ([`Trigger::PreStop`]) and answers `200` once the notice window is over (bounded) |
//! | `GET /ready` | `200` while [`Phase::Serving`], `503` otherwise (so `false` from the moment the provider drains) |
//! | `GET /live` | `200` while the process answers; draining is alive |
//! | `GET /rules` | the rule revision running per kind, as JSON ([`crate::rules::RuleStatus`]) |
//!
//! # Why a separate listener
//!
//! The preStop endpoint stops the service; it must not be reachable by the
//! service's own clients. The admin listener binds `127.0.0.1` by default,
//! where only the pod (and the kubelet's exec hooks) can reach it. Bound to
//! any other address, it requires an [`AdminToken`], and every request
//! without `Authorization: Bearer <token>` gets `401` and changes nothing.
//! An admin listener on a non-loopback address without a token is a
//! configuration error ([`Admin::check_bind`]).
//!
//! # Why preStop answers late
//!
//! Kubernetes runs the `preStop` hook, waits for it to return, and only then
//! sends SIGTERM (all within `terminationGracePeriodSeconds`). Answering once
//! the notice window is over keeps the process serving (and stamping the
//! offline notice) for the whole window; the SIGTERM that follows finds the
//! shutdown already running and is ignored. Kubernetes' `preStop.httpGet`
//! sends `GET`, so `GET` is accepted as well as `POST`.
//!
//! # Kubernetes
//!
//! The kubelet sends `httpGet` hooks and probes to the *pod IP*, not to
//! `127.0.0.1`. Either bind the admin listener to `0.0.0.0` with a token and
//! send it from the manifest, or keep it on loopback and call it from an
//! `exec` hook inside the container:
//!
//! ```yaml
//! spec:
//!   terminationGracePeriodSeconds: 30   # ≥ deregister (5 s) + notice max (10 s) + drain (10 s)
//!   containers:
//!     - name: orders
//!       lifecycle:
//!         preStop:
//!           httpGet:
//!             path: /prestop
//!             port: 9901
//!             httpHeaders: [{ name: Authorization, value: "Bearer <token>" }]
//!           # or, with the admin listener on 127.0.0.1:
//!           # exec: { command: ["curl", "-fsS", "http://127.0.0.1:9901/prestop"] }
//!       readinessProbe:
//!         httpGet:
//!           path: /ready
//!           port: 9901
//!           httpHeaders: [{ name: Authorization, value: "Bearer <token>" }]
//!       livenessProbe:
//!         httpGet:
//!           path: /live
//!           port: 9901
//!           httpHeaders: [{ name: Authorization, value: "Bearer <token>" }]
//! ```

#[cfg(test)]
mod tests;
mod token;

use std::net::SocketAddr;
use std::time::Duration;

use axum::Router;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use sae_core::{Error, Lifecycle, Phase};

pub use token::{AdminToken, MIN_TOKEN_LEN};

use super::shutdown::{ShutdownHandle, Trigger};

/// Default bound on how long `/prestop` waits for the notice window to end.
pub const DEFAULT_PRESTOP_BOUND: Duration = Duration::from_secs(20);

/// The admin endpoints of one provider; see the [module docs](self).
#[derive(Clone, Debug)]
pub struct Admin {
    lifecycle: Lifecycle,
    shutdown: ShutdownHandle,
    token: Option<AdminToken>,
    prestop_bound: Duration,
    rules: crate::rules::RuleStatus,
}

impl Admin {
    /// Admin endpoints reporting `lifecycle` and triggering `shutdown`.
    pub fn new(lifecycle: Lifecycle, shutdown: ShutdownHandle) -> Self {
        Admin {
            lifecycle,
            shutdown,
            token: None,
            prestop_bound: DEFAULT_PRESTOP_BOUND,
            rules: crate::rules::RuleStatus::default(),
        }
    }

    /// Requires `Authorization: Bearer <token>` on every request.
    pub fn token(mut self, token: AdminToken) -> Self {
        self.token = Some(token);
        self
    }

    /// Reports `status` on `GET /rules`.
    pub fn rules(mut self, status: crate::rules::RuleStatus) -> Self {
        self.rules = status;
        self
    }

    /// Bounds how long `/prestop` waits for the notice window (default
    /// [`DEFAULT_PRESTOP_BOUND`]); it answers when the bound is reached.
    pub fn prestop_bound(mut self, bound: Duration) -> Self {
        self.prestop_bound = bound;
        self
    }

    /// Checks that these endpoints may be served on `addr`: a non-loopback
    /// address requires a token.
    ///
    /// # Errors
    ///
    /// [`Error::Config`] for a non-loopback address without a token.
    pub fn check_bind(&self, addr: SocketAddr) -> Result<(), Error> {
        if addr.ip().is_loopback() || self.token.is_some() {
            return Ok(());
        }
        Err(Error::Config {
            at: "admin".into(),
            message: format!(
                "the admin listener on {addr} is reachable from other hosts; set an admin token or bind it to 127.0.0.1"
            ),
        })
    }

    /// The routes, for serving on a listener of your own (check it with
    /// [`Admin::check_bind`] first).
    pub fn router(&self) -> Router {
        Router::new()
            .route("/prestop", get(prestop).post(prestop))
            .route("/ready", get(ready))
            .route("/live", get(live))
            .route("/rules", get(rules))
            .with_state(self.clone())
    }

    fn authorized(&self, headers: &HeaderMap) -> bool {
        self.token
            .as_ref()
            .is_none_or(|token| token.authorizes(headers))
    }
}

fn unauthorized() -> Response {
    let mut response =
        (StatusCode::UNAUTHORIZED, "missing or wrong bearer token\n").into_response();
    response
        .headers_mut()
        .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
    response
}

async fn prestop(State(admin): State<Admin>, headers: HeaderMap) -> Response {
    if !admin.authorized(&headers) {
        tracing::warn!("preStop refused: missing or wrong bearer token");
        return unauthorized();
    }
    if admin.shutdown.trigger(Trigger::PreStop) {
        tracing::info!("preStop received; shutting down");
    }
    match tokio::time::timeout(admin.prestop_bound, admin.shutdown.notice_window_closed()).await {
        Ok(()) => (StatusCode::OK, "notice window over\n").into_response(),
        Err(_) => (StatusCode::OK, "shutting down; notice window still open\n").into_response(),
    }
}

async fn ready(State(admin): State<Admin>, headers: HeaderMap) -> Response {
    if !admin.authorized(&headers) {
        return unauthorized();
    }
    let phase = admin.lifecycle.phase();
    let status = if phase == Phase::Serving {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (status, format!("{phase}\n")).into_response()
}

async fn live(State(admin): State<Admin>, headers: HeaderMap) -> Response {
    if !admin.authorized(&headers) {
        return unauthorized();
    }
    (StatusCode::OK, "alive\n").into_response()
}

async fn rules(State(admin): State<Admin>, headers: HeaderMap) -> Response {
    if !admin.authorized(&headers) {
        return unauthorized();
    }
    let body = serde_json::json!({ "rules": admin.rules.to_json() });
    (
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        )],
        format!("{body}\n"),
    )
        .into_response()
}
