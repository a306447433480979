//! The admin HTTP API, on its own port.
//!
//! Threat: this port can trigger syncs and change access in every tenant's
//! system, so everything but the probes needs `Authorization: Bearer
//! <token>`, compared in constant time; a missing or wrong token gets 401
//! and no hint which. Liveness and readiness stay open because kubelets
//! probe without credentials, and they reveal nothing but up/down.
//! Responses never carry secrets: tenant status holds redacted errors only,
//! and metrics carry tenant ids and numbers.

use std::sync::Arc;
use std::sync::atomic::Ordering;

use axum::Router;
use axum::extract::{Path, Request, State};
use axum::http::{StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde_json::json;

use crate::serve::metrics;
use crate::serve::service::{Service, TriggerError};

#[derive(Clone)]
struct AdminState {
    service: Arc<Service>,
    /// `None`: no token configured, every protected route refuses.
    token: Option<Arc<secrecy::SecretString>>,
}

pub fn router(service: Arc<Service>, token: Option<secrecy::SecretString>) -> Router {
    let state = AdminState {
        service,
        token: token.map(Arc::new),
    };
    let protected = Router::new()
        .route("/metrics", get(metrics_text))
        .route("/v1/tenants", get(list_tenants))
        .route("/v1/tenants/{id}", get(tenant_status))
        .route("/v1/tenants/{id}/sync", post(trigger_sync))
        .route(
            "/v1/tenants/{id}/grant",
            post(|s, p, b| provision(s, p, b, "Grant")),
        )
        .route(
            "/v1/tenants/{id}/revoke",
            post(|s, p, b| provision(s, p, b, "Revoke")),
        )
        .route(
            "/v1/tenants/{id}/create-account",
            post(|s, p, b| provision(s, p, b, "CreateAccount")),
        )
        .route(
            "/v1/tenants/{id}/delete",
            post(|s, p, b| provision(s, p, b, "Delete")),
        )
        .route_layer(middleware::from_fn_with_state(state.clone(), require_token));
    Router::new()
        .route("/healthz", get(|| async { "ok" }))
        .route("/readyz", get(readiness))
        .merge(protected)
        .with_state(state)
}

/// Equal-length inputs are compared without early exit.
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

async fn require_token(State(s): State<AdminState>, req: Request, next: Next) -> Response {
    use secrecy::ExposeSecret;
    let given = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .unwrap_or_default();
    let valid = s.token.as_ref().is_some_and(|t| {
        !given.is_empty() && constant_time_eq(given.as_bytes(), t.expose_secret().as_bytes())
    });
    if valid {
        next.run(req).await
    } else {
        (
            StatusCode::UNAUTHORIZED,
            [(header::WWW_AUTHENTICATE, "Bearer")],
            "unauthorized\n",
        )
            .into_response()
    }
}

async fn readiness(State(s): State<AdminState>) -> Response {
    if s.service.ready.load(Ordering::Relaxed) && !s.service.draining.load(Ordering::Relaxed) {
        (StatusCode::OK, "ready\n").into_response()
    } else {
        (StatusCode::SERVICE_UNAVAILABLE, "not ready\n").into_response()
    }
}

async fn metrics_text(State(s): State<AdminState>) -> Response {
    (
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        metrics::render(&s.service),
    )
        .into_response()
}

fn status_json(t: &crate::serve::service::Tenant) -> serde_json::Value {
    let s = t.status.lock().map(|s| s.clone()).unwrap_or_default();
    serde_json::to_value(s).unwrap_or_default()
}

async fn list_tenants(State(s): State<AdminState>) -> Response {
    let tenants: Vec<_> = s.service.tenants().iter().map(|t| status_json(t)).collect();
    let rejected: Vec<_> = s
        .service
        .rejected
        .lock()
        .map(|r| {
            r.iter()
                .map(|r| json!({ "tenant": r.tenant, "error": r.error }))
                .collect()
        })
        .unwrap_or_default();
    axum::Json(json!({ "tenants": tenants, "rejected": rejected })).into_response()
}

async fn tenant_status(State(s): State<AdminState>, Path(id): Path<String>) -> Response {
    match s.service.tenant(&id) {
        Some(t) => axum::Json(status_json(&t)).into_response(),
        None => not_found(&id),
    }
}

pub fn not_found(id: &str) -> Response {
    (
        StatusCode::NOT_FOUND,
        axum::Json(json!({ "error": format!("no tenant {id}") })),
    )
        .into_response()
}

async fn trigger_sync(State(s): State<AdminState>, Path(id): Path<String>) -> Response {
    match s.service.trigger(&id) {
        Ok(()) => (
            StatusCode::ACCEPTED,
            axum::Json(json!({ "tenant": id, "sync": "started" })),
        )
            .into_response(),
        Err(TriggerError::UnknownTenant) => not_found(&id),
        Err(TriggerError::AlreadyRunning) => (
            StatusCode::CONFLICT,
            axum::Json(json!({ "error": format!("tenant {id} is already syncing") })),
        )
            .into_response(),
        Err(TriggerError::Draining) => (
            StatusCode::SERVICE_UNAVAILABLE,
            axum::Json(json!({ "error": "the host is shutting down" })),
        )
            .into_response(),
    }
}

fn error(status: StatusCode, message: String) -> Response {
    (status, axum::Json(json!({ "error": message }))).into_response()
}

/// Grant, revoke, create-account and delete, as one-shot mode runs them:
/// grant and revoke resolve their IDs from the tenant's last finished sync.
/// The body is the operation's fields as JSON, e.g. for a grant
/// `{"entitlement": "group:g1:member", "principal": "u1", "principal_type": "user"}`.
async fn provision(
    State(s): State<AdminState>,
    Path(id): Path<String>,
    body: axum::body::Bytes,
    variant: &'static str,
) -> Response {
    if s.service.draining.load(Ordering::Relaxed) {
        return error(
            StatusCode::SERVICE_UNAVAILABLE,
            "the host is shutting down".into(),
        );
    }
    let Some(tenant) = s.service.tenant(&id) else {
        return not_found(&id);
    };
    let d = tenant.current();
    if !d.spec.provisioning {
        return error(
            StatusCode::FORBIDDEN,
            format!("provisioning is not enabled for tenant {id} (set provisioning = true)"),
        );
    }
    let fields: serde_json::Value = match serde_json::from_slice(&body) {
        Ok(v) => v,
        Err(e) => {
            return error(
                StatusCode::BAD_REQUEST,
                format!("the body is not JSON: {e}"),
            );
        }
    };
    let req: crate::provision::Request = match serde_json::from_value(json!({ variant: fields })) {
        Ok(r) => r,
        Err(e) => return error(StatusCode::BAD_REQUEST, format!("invalid request: {e}")),
    };
    let file = s
        .service
        .options
        .state_dir
        .join("tenants")
        .join(&id)
        .join("sync.c1z");
    match crate::provision::execute(&d.plugin, &d.instance, &req, &file).await {
        Ok(outcome) => {
            tracing::info!(tenant = %id, result = outcome.result, "provisioning: {}", outcome.message);
            axum::Json(outcome).into_response()
        }
        Err(e) => {
            let message = tenant.redact(&d, &format!("{e:#}"));
            tracing::warn!(tenant = %id, "provisioning failed: {message}");
            error(StatusCode::UNPROCESSABLE_ENTITY, message)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn token_comparison() {
        assert!(constant_time_eq(b"abc", b"abc"));
        assert!(!constant_time_eq(b"abc", b"abd"));
        assert!(!constant_time_eq(b"abc", b"abcd"));
        assert!(!constant_time_eq(b"", b"a"));
    }
}
