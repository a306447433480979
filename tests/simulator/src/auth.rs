//! The auth host's token endpoint (`POST /{envId}/as/token`, §2, items 1–2)
//! and the bearer checks on every `/v1` call (items 3–4).
//!
//! Tokens are random opaque strings with a real expiry. Each registered
//! client has one `tokenEndpointAuthMethod`; presenting credentials the
//! other way is `invalid_client` "Unsupported authentication method".
//! On the API host a missing/unknown/expired token is 401 ACCESS_FAILED /
//! INVALID_TOKEN; a token from another environment, a client without the
//! needed role, or an unknown environment is 403 (PingOne answers 403, not
//! 404, for a missing environment under `/v1/environments/{env}/...`).

use std::collections::HashMap;
use std::sync::RwLock;
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::extract::{FromRequestParts, Path, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use rand::RngCore;
use serde_json::json;

use crate::AppState;
use crate::accounting::FaultKind;
use crate::config::{AuthMethod, ClientAccess};
use crate::errors::ApiError;

#[derive(Clone, Debug)]
pub struct TokenInfo {
    /// Index into the configured clients.
    pub client: usize,
    pub env: String,
    pub expires: Instant,
}

#[derive(Default)]
pub struct TokenStore {
    map: RwLock<HashMap<String, TokenInfo>>,
}

impl TokenStore {
    pub fn issue(&self, client: usize, env: &str, lifetime: Duration) -> String {
        let mut raw = [0u8; 32];
        rand::rng().fill_bytes(&mut raw);
        let token = URL_SAFE_NO_PAD.encode(raw);
        let mut map = self.map.write().unwrap_or_else(|e| e.into_inner());
        // Long runs issue many tokens; forget ones that expired long ago.
        if map.len() > 50_000 {
            let now = Instant::now();
            map.retain(|_, t| t.expires + Duration::from_secs(600) > now);
        }
        map.insert(
            token.clone(),
            TokenInfo {
                client,
                env: env.to_string(),
                expires: Instant::now() + lifetime,
            },
        );
        token
    }

    /// A token that exists (expired or not).
    pub fn lookup(&self, token: &str) -> Option<TokenInfo> {
        self.map
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .get(token)
            .cloned()
    }

    /// Expires every issued token now (they answer "expired", not "unknown").
    pub fn expire_all(&self) {
        let now = Instant::now();
        for t in self
            .map
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .values_mut()
        {
            t.expires = t.expires.min(now);
        }
    }
}

/// The bearer token of a request, or why there is none.
pub fn bearer_token(h: &HeaderMap) -> Result<&str, &'static str> {
    let v = h
        .get(header::AUTHORIZATION)
        .ok_or("The request does not carry an access token.")?;
    let v = v
        .to_str()
        .map_err(|_| "The Authorization header is malformed.")?;
    let (scheme, rest) = v
        .split_once(' ')
        .ok_or("The Authorization header is malformed.")?;
    let tok = rest.trim();
    if !scheme.eq_ignore_ascii_case("bearer") || tok.is_empty() || tok.contains(' ') {
        return Err("The Authorization header is malformed.");
    }
    Ok(tok)
}

/// A request with a valid (known, unexpired) bearer token.
pub struct Authed {
    pub client: usize,
    pub env: String,
}

impl FromRequestParts<AppState> for Authed {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, app: &AppState) -> Result<Self, ApiError> {
        let tok = bearer_token(&parts.headers).map_err(ApiError::invalid_token)?;
        let info = app
            .tokens
            .lookup(tok)
            .ok_or_else(|| ApiError::invalid_token("The access token is invalid."))?;
        if Instant::now() >= info.expires {
            return Err(ApiError::invalid_token("The access token has expired."));
        }
        Ok(Authed {
            client: info.client,
            env: info.env,
        })
    }
}

/// A request under `/v1/environments/{env}/...` that may proceed: valid
/// token, existing environment, the token's own environment, and a client
/// whose roles allow the method.
pub struct EnvCtx {
    pub client: usize,
}

pub fn path_env(path: &str) -> Option<&str> {
    let mut it = path.split('/');
    match (it.next(), it.next(), it.next(), it.next()) {
        (Some(""), Some("v1"), Some("environments"), Some(env)) => Some(env),
        _ => None,
    }
}

impl FromRequestParts<AppState> for EnvCtx {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, app: &AppState) -> Result<Self, ApiError> {
        let a = Authed::from_request_parts(parts, app).await?;
        let env = path_env(parts.uri.path()).unwrap_or_default();
        if env != app.env_id && env != app.other_env_id {
            return Err(ApiError::forbidden(
                "The environment does not exist or the actor has no access to it.",
            ));
        }
        if a.env != env {
            return Err(ApiError::forbidden(
                "The access token was issued for another environment.",
            ));
        }
        if env != app.env_id {
            return Err(ApiError::forbidden(
                "The actor holds no roles in this environment.",
            ));
        }
        let read = parts.method == Method::GET || parts.method == Method::HEAD;
        match app.config.clients[a.client].access {
            ClientAccess::Full => {}
            ClientAccess::ReadOnly if read => {}
            ClientAccess::ReadOnly => {
                return Err(ApiError::forbidden(
                    "The actor's roles do not allow this operation.",
                ));
            }
            ClientAccess::None => {
                return Err(ApiError::forbidden(
                    "The actor holds no roles that allow this operation.",
                ));
            }
        }
        if app.faults.in_warmup() {
            app.stats.fault(FaultKind::Warmup);
            return Err(if read {
                ApiError::not_found("The requested resource was not found.")
            } else {
                ApiError::forbidden(
                    "The environment is not ready yet; try again after a short delay.",
                )
            });
        }
        Ok(EnvCtx { client: a.client })
    }
}

fn oauth_error(status: StatusCode, error: &str, description: Option<&str>) -> Response {
    let mut body = json!({ "error": error });
    if let Some(d) = description {
        body["error_description"] = json!(d);
    }
    let mut r = (status, serde_json::to_vec(&body).unwrap_or_default()).into_response();
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    if status == StatusCode::UNAUTHORIZED {
        r.headers_mut()
            .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Basic"));
    }
    r
}

fn form_pairs(body: &[u8]) -> HashMap<String, String> {
    let mut out = HashMap::new();
    for (k, v) in url::form_urlencoded::parse(body) {
        out.entry(k.into_owned()).or_insert_with(|| v.into_owned());
    }
    out
}

/// `POST /{envId}/as/token` (client_credentials).
pub async fn token(
    State(app): State<AppState>,
    Path(env): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let ct = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    if !ct
        .to_ascii_lowercase()
        .starts_with("application/x-www-form-urlencoded")
    {
        return oauth_error(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            Some("The request must be application/x-www-form-urlencoded."),
        );
    }
    let form = form_pairs(&body);
    let basic = match headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
    {
        Some(v) => {
            let Some((scheme, rest)) = v.split_once(' ') else {
                return oauth_error(
                    StatusCode::UNAUTHORIZED,
                    "invalid_client",
                    Some("Malformed Authorization header"),
                );
            };
            if !scheme.eq_ignore_ascii_case("basic") {
                return oauth_error(
                    StatusCode::UNAUTHORIZED,
                    "invalid_client",
                    Some("Unsupported authentication method"),
                );
            }
            let decoded = STANDARD
                .decode(rest.trim())
                .ok()
                .and_then(|b| String::from_utf8(b).ok())
                .and_then(|s| {
                    s.split_once(':')
                        .map(|(a, b)| (a.to_string(), b.to_string()))
                });
            match decoded {
                // RFC 6749 §2.3.1: both parts are form-encoded inside Basic.
                Some((id, secret)) => Some((decode_component(&id), decode_component(&secret))),
                None => {
                    return oauth_error(
                        StatusCode::UNAUTHORIZED,
                        "invalid_client",
                        Some("Malformed Authorization header"),
                    );
                }
            }
        }
        None => None,
    };
    let post = match (form.get("client_id"), form.get("client_secret")) {
        (Some(id), Some(secret)) => Some((id.clone(), secret.clone())),
        _ => None,
    };
    let (method, (id, secret)) = match (basic, post) {
        (Some(_), Some(_)) => {
            return oauth_error(
                StatusCode::BAD_REQUEST,
                "invalid_request",
                Some("Only one client authentication method may be used."),
            );
        }
        (Some(b), None) => (AuthMethod::ClientSecretBasic, b),
        (None, Some(p)) => (AuthMethod::ClientSecretPost, p),
        (None, None) => {
            return oauth_error(
                StatusCode::UNAUTHORIZED,
                "invalid_client",
                Some("Client authentication failed."),
            );
        }
    };
    let main_env = app.env_id.as_str();
    let client =
        app.config.clients.iter().position(|c| {
            c.client_id == id && c.environment_id.as_deref().unwrap_or(main_env) == env
        });
    let Some(ci) = client else {
        return oauth_error(
            StatusCode::UNAUTHORIZED,
            "invalid_client",
            Some("Client authentication failed."),
        );
    };
    let c = &app.config.clients[ci];
    if c.client_secret != secret {
        return oauth_error(
            StatusCode::UNAUTHORIZED,
            "invalid_client",
            Some("Client authentication failed."),
        );
    }
    if c.auth_method != method {
        return oauth_error(
            StatusCode::UNAUTHORIZED,
            "invalid_client",
            Some("Unsupported authentication method"),
        );
    }
    if form.get("grant_type").map(String::as_str) != Some("client_credentials") {
        return oauth_error(StatusCode::BAD_REQUEST, "unsupported_grant_type", None);
    }
    let lifetime = app.config.token_lifetime_secs;
    let token = app.tokens.issue(ci, &env, Duration::from_secs(lifetime));
    app.stats.token_issued();
    let body = json!({ "access_token": token, "token_type": "Bearer", "expires_in": lifetime });
    let mut r = (
        StatusCode::OK,
        serde_json::to_vec(&body).unwrap_or_default(),
    )
        .into_response();
    let h = r.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    h.insert(header::PRAGMA, HeaderValue::from_static("no-cache"));
    r
}

fn decode_component(s: &str) -> String {
    url::form_urlencoded::parse(format!("x={s}").as_bytes())
        .next()
        .map(|(_, v)| v.into_owned())
        .unwrap_or_else(|| s.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bearer_parsing() {
        let mut h = HeaderMap::new();
        assert!(bearer_token(&h).is_err());
        h.insert(
            header::AUTHORIZATION,
            HeaderValue::from_static("Bearer abc"),
        );
        assert_eq!(bearer_token(&h), Ok("abc"));
        h.insert(
            header::AUTHORIZATION,
            HeaderValue::from_static("bearer  abc "),
        );
        assert_eq!(bearer_token(&h), Ok("abc"));
        h.insert(header::AUTHORIZATION, HeaderValue::from_static("Basic abc"));
        assert!(bearer_token(&h).is_err());
        h.insert(header::AUTHORIZATION, HeaderValue::from_static("Bearer"));
        assert!(bearer_token(&h).is_err());
    }

    #[test]
    fn env_from_path() {
        assert_eq!(path_env("/v1/environments/abc/users"), Some("abc"));
        assert_eq!(path_env("/v1/environments/abc"), Some("abc"));
        assert_eq!(path_env("/v1/roles"), None);
    }

    #[test]
    fn tokens_expire() {
        let s = TokenStore::default();
        let t = s.issue(0, "e", Duration::from_secs(60));
        assert!(s.lookup(&t).unwrap().expires > Instant::now());
        s.expire_all();
        assert!(s.lookup(&t).unwrap().expires <= Instant::now());
        assert!(s.lookup("nope").is_none());
    }
}
