//! The admin HTTP API, on its own port.
//!
//! Threat: this port can trigger syncs, change access in every tenant's
//! system and create accounts, so:
//! - it listens on loopback unless `--admin-addr` names another address;
//! - every path but the two probes, `/metrics`, unknown paths and wrong
//!   methods included, needs `Authorization: Bearer <token>`. The check
//!   wraps the whole router rather than a list of routes, so a route added
//!   later is protected without opting in. Tokens are compared as SHA-256
//!   digests in constant time; a missing or wrong token gets 401 and no
//!   hint which, and without a configured token nothing but the probes
//!   answers. Liveness and readiness stay open because kubelets probe
//!   without credentials, and they reveal nothing but up/down;
//! - responses never carry secrets: tenant status holds redacted errors
//!   only, metrics carry tenant ids and numbers, and a password generated
//!   for a new account is returned only age-encrypted to a public key the
//!   caller names in the request (`password_recipient`, the same format as
//!   ConductorOne's tasks), otherwise not at all.

use std::sync::Arc;
use std::sync::atomic::Ordering;

use axum::Router;
use axum::extract::{Path, Request, State};
use axum::http::{StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use secrecy::{ExposeSecret as _, SecretString};
use serde_json::json;
use sha2::{Digest as _, Sha256};

use crate::conductorone::encryption;
use crate::serve::metrics;
use crate::serve::service::{Service, TriggerError};

#[derive(Clone)]
struct AdminState {
    service: Arc<Service>,
    /// `None`: no token configured, every path but the probes refuses.
    token: Option<Arc<SecretString>>,
}

/// The only paths served without the token: the kubelet's probes.
const OPEN_PATHS: &[&str] = &["/healthz", "/readyz"];

/// The create-account body's field naming the key a generated password is
/// encrypted to: a public JWK (`OKP`/`Ed25519`), as an object or its JSON text.
pub const PASSWORD_RECIPIENT: &str = "password_recipient";

pub fn router(service: Arc<Service>, token: Option<SecretString>) -> Router {
    let state = AdminState {
        service,
        token: token.map(Arc::new),
    };
    let mut router = Router::new()
        .route("/healthz", get(|| async { "ok" }))
        .route("/readyz", get(readiness))
        .route("/metrics", get(metrics_text))
        .route("/v1/tenants", get(list_tenants))
        .route("/v1/tenants/{id}", get(tenant_status))
        .route("/v1/tenants/{id}/sync", post(trigger_sync));
    for (path, variant) in [
        ("grant", "Grant"),
        ("revoke", "Revoke"),
        ("create-account", "CreateAccount"),
        ("delete", "Delete"),
    ] {
        let route = post(move |s, p, b| provision(s, p, b, variant));
        router = router.route(&format!("/v1/tenants/{{id}}/{path}"), route);
    }
    // A layer, not a route_layer: the fallback (404) and 405 answers pass
    // through it too, so without the token no path but the probes says
    // anything about what exists.
    router
        .layer(middleware::from_fn_with_state(state.clone(), require_token))
        .with_state(state)
}

/// Equal-length inputs are compared without early exit.
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len()
        && std::hint::black_box(a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y))) == 0
}

/// Digests first: both sides then have one length, so the comparison's time
/// says nothing about the token's length either.
fn token_matches(given: &str, expected: &str) -> bool {
    !given.is_empty()
        && constant_time_eq(
            &Sha256::digest(given.as_bytes()),
            &Sha256::digest(expected.as_bytes()),
        )
}

async fn require_token(State(s): State<AdminState>, req: Request, next: Next) -> Response {
    if OPEN_PATHS.contains(&req.uri().path()) {
        return next.run(req).await;
    }
    let given = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| {
            v.strip_prefix("Bearer ")
                .or_else(|| v.strip_prefix("bearer "))
        })
        .unwrap_or_default();
    let valid = s
        .token
        .as_ref()
        .is_some_and(|t| token_matches(given, t.expose_secret()));
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
    let rejected = s.service.rejected.lock().map(|r| json!(*r));
    let rejected = rejected.unwrap_or_else(|_| json!([]));
    axum::Json(json!({ "tenants": tenants, "rejected": rejected })).into_response()
}

async fn tenant_status(State(s): State<AdminState>, Path(id): Path<String>) -> Response {
    match s.service.tenant(&id) {
        Some(t) => axum::Json(status_json(&t)).into_response(),
        None => not_found(&id),
    }
}

fn not_found(id: &str) -> Response {
    error(StatusCode::NOT_FOUND, format!("no tenant {id}"))
}

async fn trigger_sync(State(s): State<AdminState>, Path(id): Path<String>) -> Response {
    match s.service.trigger(&id) {
        Ok(()) => (
            StatusCode::ACCEPTED,
            axum::Json(json!({ "tenant": id, "sync": "started" })),
        )
            .into_response(),
        Err(TriggerError::UnknownTenant) => not_found(&id),
        Err(TriggerError::AlreadyRunning) => error(
            StatusCode::CONFLICT,
            format!("tenant {id} is already syncing"),
        ),
        Err(TriggerError::Draining) => shutting_down(),
    }
}

fn error(status: StatusCode, message: String) -> Response {
    (status, axum::Json(json!({ "error": message }))).into_response()
}

fn shutting_down() -> Response {
    error(
        StatusCode::SERVICE_UNAVAILABLE,
        "the host is shutting down".into(),
    )
}

/// Grant, revoke, create-account and delete, as one-shot mode runs them:
/// grant and revoke resolve their IDs from the tenant's last finished sync.
/// The body is the operation's fields as JSON, e.g. for a grant
/// `{"entitlement": "group:g1:member", "principal": "u1", "principal_type": "user"}`;
/// create-account also takes [`PASSWORD_RECIPIENT`].
async fn provision(
    State(s): State<AdminState>,
    Path(id): Path<String>,
    body: axum::body::Bytes,
    variant: &'static str,
) -> Response {
    if s.service.draining.load(Ordering::Relaxed) {
        return shutting_down();
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
    let mut fields: serde_json::Value = match serde_json::from_slice(&body) {
        Ok(v) => v,
        Err(e) => {
            return error(
                StatusCode::BAD_REQUEST,
                format!("the body is not JSON: {e}"),
            );
        }
    };
    // The key is checked before anything is created: a password that could
    // not be encrypted would be lost with the account already made.
    let recipient = match variant {
        "CreateAccount" => password_recipient(&mut fields),
        _ => Ok(None),
    };
    let recipient = match recipient {
        Ok(r) => r,
        Err(e) => return error(StatusCode::BAD_REQUEST, e),
    };
    let req: crate::provision::Request = match serde_json::from_value(json!({ variant: fields })) {
        Ok(r) => r,
        Err(e) => return error(StatusCode::BAD_REQUEST, format!("invalid request: {e}")),
    };
    let file = s.service.options.sync_file(&id);
    match crate::provision::execute(&d.plugin, &d.instance, &req, &file).await {
        Ok(outcome) => {
            tracing::info!(tenant = %id, result = outcome.result, "provisioning: {}", outcome.message);
            match answer(outcome, recipient.as_ref()) {
                Ok(v) => axum::Json(v).into_response(),
                Err(message) => {
                    tracing::error!(tenant = %id, "{message}");
                    error(StatusCode::INTERNAL_SERVER_ERROR, message)
                }
            }
        }
        Err(e) => {
            let message = tenant.redact(&d, &crate::errors::Chain(&e).to_string());
            tracing::warn!(tenant = %id, "provisioning failed: {message}");
            error(StatusCode::UNPROCESSABLE_ENTITY, message)
        }
    }
}

/// Takes [`PASSWORD_RECIPIENT`] out of a create-account body (the rest is
/// the account) and reads the key; absent or `null` is no key.
fn password_recipient(
    fields: &mut serde_json::Value,
) -> Result<Option<encryption::Recipient>, String> {
    let Some(value) = fields
        .as_object_mut()
        .and_then(|o| o.remove(PASSWORD_RECIPIENT))
    else {
        return Ok(None);
    };
    let jwk = match value {
        serde_json::Value::Null => return Ok(None),
        serde_json::Value::String(text) => text.into_bytes(),
        v @ serde_json::Value::Object(_) => v.to_string().into_bytes(),
        _ => {
            return Err(format!(
                "{PASSWORD_RECIPIENT} must be a public JWK (an object or its JSON text)"
            ));
        }
    };
    encryption::recipient_from_jwk(&jwk)
        .map(Some)
        .map_err(|e| format!("{PASSWORD_RECIPIENT}: {e}"))
}

/// The JSON answer for a provisioning outcome. A generated password is never
/// in it: `password` is `null`, and either `encrypted_password` carries it
/// age-encrypted to the request's key or `password_note` says it was not
/// returned. `Err` (the account exists but its password could not be
/// encrypted) says so without the password.
fn answer(
    mut outcome: crate::provision::Outcome,
    recipient: Option<&encryption::Recipient>,
) -> Result<serde_json::Value, String> {
    let password = outcome.one_time_password.take().map(SecretString::from);
    let mut v = serde_json::to_value(&outcome).map_err(|e| e.to_string())?;
    let Some(password) = password else {
        return Ok(v);
    };
    v["password"] = serde_json::Value::Null;
    match recipient {
        Some(r) => {
            let data = r
                .encrypt_password(password.expose_secret().as_bytes())
                .map_err(|e| {
                    format!(
                        "{} was created, but encrypting its password failed ({e}); \
                         the password was not returned",
                        outcome.resource.as_deref().unwrap_or("the account")
                    )
                })?;
            v["encrypted_password"] = json!({
                "provider": data.provider,
                "key_id": data.key_id,
                "ciphertext": String::from_utf8_lossy(&data.encrypted_bytes),
            });
            v["password_note"] = json!(format!(
                "the generated password is in encrypted_password, age-encrypted to key {}: \
                 base64-decode ciphertext and decrypt it with age and that key's private half",
                r.key_id()
            ));
        }
        None => {
            v["password_note"] = json!(format!(
                "a password was generated and is not returned: the request named no \
                 {PASSWORD_RECIPIENT} (a public Ed25519 JWK) to encrypt it to"
            ));
        }
    }
    Ok(v)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::conductorone::encryption::age_key;
    use crate::provision::Outcome;

    const TOKEN: &str = "admin-token-for-unit-tests-0123";

    #[test]
    fn token_comparison() {
        assert!(constant_time_eq(b"abc", b"abc"));
        assert!(!constant_time_eq(b"abc", b"abd"));
        assert!(!constant_time_eq(b"abc", b"abcd"));
        assert!(!constant_time_eq(b"", b"a"));
        assert!(token_matches(TOKEN, TOKEN));
        assert!(!token_matches("admin-token-for-unit-tests-0124", TOKEN));
        assert!(!token_matches("admin", TOKEN));
        assert!(!token_matches("", ""), "an empty token never matches");
    }

    fn created(password: Option<&str>) -> Outcome {
        Outcome {
            result: "created",
            message: "created account user:u1".into(),
            resource: Some("user:u1".into()),
            one_time_password: password.map(String::from),
        }
    }

    #[test]
    fn a_generated_password_is_answered_encrypted_or_not_at_all() {
        let password = "Gen3rated-Passw0rd-xyz";
        // Without a key: the answer says a password exists and withholds it.
        let v = answer(created(Some(password)), None).unwrap();
        let text = v.to_string();
        assert!(!text.contains(password), "{text}");
        assert!(
            v["password"].is_null() && v.get("password").is_some(),
            "{v}"
        );
        assert!(v.get("encrypted_password").is_none(), "{v}");
        assert!(v.get("one_time_password").is_none(), "{v}");
        assert!(
            v["password_note"]
                .as_str()
                .unwrap()
                .contains(PASSWORD_RECIPIENT),
            "{v}"
        );
        assert_eq!(v["result"], "created");
        assert_eq!(v["resource"], "user:u1");

        // With a key: ciphertext only its private half opens.
        let key = ed25519_dalek::SigningKey::from_bytes(&[9; 32]);
        let mut body = json!({"login": "u1", PASSWORD_RECIPIENT: age_key::public_jwk(&key)});
        let recipient = password_recipient(&mut body).unwrap().unwrap();
        assert_eq!(
            body,
            json!({"login": "u1"}),
            "the key is not an account field"
        );
        let v = answer(created(Some(password)), Some(&recipient)).unwrap();
        let text = v.to_string();
        assert!(!text.contains(password), "{text}");
        assert!(v["password"].is_null(), "{v}");
        let sealed = &v["encrypted_password"];
        assert_eq!(sealed["provider"], encryption::JWK_PROVIDER);
        assert_eq!(sealed["key_id"], recipient.key_id());
        let ciphertext = sealed["ciphertext"].as_str().unwrap();
        assert_eq!(
            age_key::decrypt(&key, ciphertext.as_bytes()),
            password.as_bytes()
        );

        // No password generated: nothing about one.
        let v = answer(created(None), Some(&recipient)).unwrap();
        assert!(
            v.get("password").is_none() && v.get("password_note").is_none(),
            "{v}"
        );
        // And a serialized outcome never carries it, whatever the route.
        let raw = serde_json::to_string(&created(Some(password))).unwrap();
        assert!(!raw.contains(password), "{raw}");
    }

    #[test]
    fn password_recipients_are_read_from_an_object_or_its_text_or_refused() {
        let key = ed25519_dalek::SigningKey::from_bytes(&[3; 32]);
        let jwk = age_key::public_jwk(&key);
        let as_object = password_recipient(&mut json!({ PASSWORD_RECIPIENT: jwk.clone() }))
            .unwrap()
            .unwrap();
        let as_text = password_recipient(&mut json!({ PASSWORD_RECIPIENT: jwk.to_string() }))
            .unwrap()
            .unwrap();
        assert_eq!(as_object.key_id(), as_text.key_id());
        assert!(
            password_recipient(&mut json!({"login": "x"}))
                .unwrap()
                .is_none()
        );
        assert!(
            password_recipient(&mut json!({ PASSWORD_RECIPIENT: null }))
                .unwrap()
                .is_none()
        );
        let rsa = json!({ PASSWORD_RECIPIENT: {"kty": "RSA", "n": "x", "e": "AQAB"} });
        let e = password_recipient(&mut rsa.clone()).err().unwrap();
        assert!(e.contains(PASSWORD_RECIPIENT) && e.contains("RSA"), "{e}");
        let e = password_recipient(&mut json!({ PASSWORD_RECIPIENT: 7 }))
            .err()
            .unwrap();
        assert!(e.contains("public JWK"), "{e}");
    }

    /// Every path but the probes, including ones that do not exist and
    /// routes asked with the wrong method.
    const GUARDED: &[(&str, &str)] = &[
        ("GET", "/metrics"),
        ("GET", "/v1/tenants"),
        ("GET", "/v1/tenants/acme"),
        ("POST", "/v1/tenants/acme/sync"),
        ("POST", "/v1/tenants/acme/grant"),
        ("POST", "/v1/tenants/acme/revoke"),
        ("POST", "/v1/tenants/acme/create-account"),
        ("POST", "/v1/tenants/acme/delete"),
        ("GET", "/v1/tenants/acme/sync"),
        ("DELETE", "/v1/tenants"),
        ("GET", "/"),
        ("GET", "/no-such-path"),
        ("GET", "/healthz/extra"),
    ];

    /// Serves a router over an empty service on a loopback port.
    async fn serve(token: Option<&str>) -> (String, tempfile::TempDir) {
        let dir = tempfile::tempdir().unwrap();
        let runtime =
            connector_runtime::Runtime::new(connector_runtime::RuntimeOptions { cache_dir: None })
                .unwrap();
        let service = Service::new(
            crate::serve::service::ServiceOptions {
                state_dir: dir.path().to_path_buf(),
                max_concurrent_syncs: 1,
                tls: Default::default(),
                checkpoint_interval: std::time::Duration::from_secs(1),
                sync_limits: Default::default(),
            },
            crate::serve::service::Components::new(runtime),
        )
        .unwrap();
        service.ready.store(true, Ordering::Relaxed);
        let app = router(service, token.map(SecretString::from));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, app).await });
        (format!("http://{addr}"), dir)
    }

    async fn status(base: &str, method: &str, path: &str, auth: Option<&str>) -> u16 {
        let method = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
        let mut req = reqwest::Client::new()
            .request(method, format!("{base}{path}"))
            .header(header::CONTENT_TYPE, "application/json")
            .body("{}");
        if let Some(a) = auth {
            req = req.header(header::AUTHORIZATION, a);
        }
        req.send().await.unwrap().status().as_u16()
    }

    #[tokio::test]
    async fn every_path_but_the_probes_needs_the_token() {
        let (base, _dir) = serve(Some(TOKEN)).await;
        for (method, path) in GUARDED {
            for auth in [
                None,
                Some(String::new()),
                Some("Bearer ".to_string()),
                Some("Bearer wrong-token-wrong-token-0123".to_string()),
                Some(format!("Basic {TOKEN}")),
                Some(format!("Bearer {TOKEN}x")),
            ] {
                assert_eq!(
                    status(&base, method, path, auth.as_deref()).await,
                    401,
                    "{method} {path} with {auth:?}"
                );
            }
            // With the token the request reaches the route (or its absence).
            let code = status(&base, method, path, Some(&format!("Bearer {TOKEN}"))).await;
            assert_ne!(code, 401, "{method} {path} with the token");
        }
        let ok = format!("Bearer {TOKEN}");
        assert_eq!(status(&base, "GET", "/metrics", Some(&ok)).await, 200);
        assert_eq!(status(&base, "GET", "/v1/tenants", Some(&ok)).await, 200);
        assert_eq!(status(&base, "GET", "/no-such-path", Some(&ok)).await, 404);
        for probe in OPEN_PATHS {
            assert_eq!(status(&base, "GET", probe, None).await, 200, "{probe}");
        }
    }

    #[tokio::test]
    async fn without_a_configured_token_only_the_probes_answer() {
        let (base, _dir) = serve(None).await;
        for (method, path) in GUARDED {
            for auth in [
                None,
                Some("Bearer "),
                Some("Bearer anything-at-all-0123456"),
            ] {
                assert_eq!(
                    status(&base, method, path, auth).await,
                    401,
                    "{method} {path} with {auth:?}"
                );
            }
        }
        for probe in OPEN_PATHS {
            assert_eq!(status(&base, "GET", probe, None).await, 200, "{probe}");
        }
    }
}
