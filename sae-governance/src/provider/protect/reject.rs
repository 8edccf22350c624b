//! What a rejection looks like: on the wire, and as an event.

use std::time::Duration;

use axum::extract::MatchedPath;
use http::{HeaderValue, Request, Response, StatusCode, header};
use sae_core::wire::{self, rejection::Rejection};
use sae_core::{RequestContext, ServiceName};

use super::ProtectBody;
use crate::protection::ProviderTarget;

/// What a rule's targets are matched against: the route and the caller.
#[derive(Clone, Copy, Debug)]
pub(super) struct Facts<'a> {
    /// The axum route (`MatchedPath`), else the URI path (a gRPC method).
    pub(super) route: &'a str,
    /// The caller the lane layer validated, never the raw header.
    pub(super) caller: Option<&'a ServiceName>,
}

impl<'a> Facts<'a> {
    pub(super) fn of<B>(request: &'a Request<B>) -> Self {
        let extensions = request.extensions();
        Facts {
            route: extensions
                .get::<MatchedPath>()
                .map_or_else(|| request.uri().path(), MatchedPath::as_str),
            caller: RequestContext::from_extensions(extensions)
                .and_then(|context| context.caller.as_ref()),
        }
    }
}

/// Whether a rule with `targets` applies; no target is the whole service.
pub(super) fn applies(targets: &[ProviderTarget], facts: Option<&Facts<'_>>) -> bool {
    targets.is_empty()
        || facts.is_some_and(|facts| {
            targets.iter().any(|target| {
                target
                    .route
                    .as_deref()
                    .is_none_or(|route| route == facts.route)
                    && target
                        .caller
                        .as_ref()
                        .is_none_or(|caller| Some(caller) == facts.caller)
            })
        })
}

/// Why, in words: the HTTP body and the gRPC message.
fn message(rejection: Rejection) -> (&'static str, &'static str) {
    match rejection {
        Rejection::Concurrency => (
            "rejected before processing: concurrency limit reached\n",
            "rejected before processing: concurrency limit reached",
        ),
        Rejection::Overload => (
            "rejected before processing: overloaded\n",
            "rejected before processing: overloaded",
        ),
        Rejection::RateLimit => (
            "rejected before processing: rate limit exceeded\n",
            "rejected before processing: rate limit exceeded",
        ),
    }
}

/// A rejection decided: all its response needs, small enough to wait in
/// the response future without making it bigger.
#[derive(Clone, Copy, Debug)]
pub(super) struct Refusal {
    rejection: Rejection,
    grpc: bool,
    retry_after: Option<Duration>,
}

impl Refusal {
    /// Rejects `request` by `rule`: emits the event, and keeps what the
    /// response needs.
    pub(super) fn new<B>(
        service: &ServiceName,
        request: &Request<B>,
        rejection: Rejection,
        rule: &str,
        retry_after: Option<Duration>,
    ) -> Self {
        let facts = Facts::of(request);
        let grpc = request
            .headers()
            .get(header::CONTENT_TYPE)
            .is_some_and(|value| value.as_bytes().starts_with(b"application/grpc"));
        tracing::info!(
            name: wire::event::REJECTED,
            service = service.as_str(),
            reason = rejection.as_str(),
            rule,
            route = facts.route,
            caller = facts.caller.map(ServiceName::as_str),
            retry_after_ms = retry_after.map(|wait| u64::try_from(wait.as_millis()).unwrap_or(u64::MAX)),
            grpc,
            "request rejected before processing"
        );
        Refusal {
            rejection,
            grpc,
            retry_after,
        }
    }

    /// The response: HTTP `429` (with `Retry-After`) or `503`, or for gRPC
    /// a trailers-only `RESOURCE_EXHAUSTED`; `x-sae-rejected` on both.
    pub(super) fn response<B>(self) -> Response<ProtectBody<B>> {
        let Refusal {
            rejection,
            grpc,
            retry_after,
        } = self;
        let (text, grpc_message) = message(rejection);
        let mut response = if grpc {
            let mut response = Response::new(ProtectBody::rejected(""));
            let headers = response.headers_mut();
            headers.insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/grpc"),
            );
            // RESOURCE_EXHAUSTED
            headers.insert("grpc-status", HeaderValue::from_static("8"));
            headers.insert("grpc-message", HeaderValue::from_static(grpc_message));
            response
        } else {
            let mut response = Response::new(ProtectBody::rejected(text));
            *response.status_mut() = match rejection {
                Rejection::RateLimit => StatusCode::TOO_MANY_REQUESTS,
                Rejection::Concurrency | Rejection::Overload => StatusCode::SERVICE_UNAVAILABLE,
            };
            response.headers_mut().insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static("text/plain; charset=utf-8"),
            );
            if let Some(wait) = retry_after {
                response.headers_mut().insert(
                    header::RETRY_AFTER,
                    HeaderValue::from(retry_after_secs(wait)),
                );
            }
            response
        };
        wire::rejection::write(response.headers_mut(), rejection);
        response
    }
}

/// `Retry-After` in whole seconds, rounded up, at least 1.
pub(super) fn retry_after_secs(wait: Duration) -> u64 {
    (wait.as_secs() + u64::from(wait.subsec_nanos() > 0)).max(1)
}
