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
use axum::response::Response;
use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use rand::RngCore;
use serde_json::json;

use crate::AppState;
use crate::config::{AuthMethod, ClientAccess};
use crate::errors::{ApiError, json_response};

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
        let read = parts.method == Method::GET || parts.method == Method::HEAD;
        let allowed = match app.config.clients[a.client].access {
            ClientAccess::Full => true,
            ClientAccess::ReadOnly => read,
            ClientAccess::None => false,
        };
        // A missing environment, a token issued for another environment,
        // the other (empty) environment where the actor holds no roles, or
        // roles that do not allow the method: one and the same 403.
        if env != app.env_id || a.env != env || !allowed {
            return Err(ApiError::forbidden());
        }
        if app.faults.in_window(|f| f.environment_warmup_ms) {
            app.stats.fault(|f| &mut f.warmup_rejections);
            return Err(if read {
                ApiError::not_found("The requested resource was not found.")
            } else {
                // The environment is not ready yet.
                ApiError::forbidden()
            });
        }
        Ok(EnvCtx { client: a.client })
    }
}

fn oauth_error(status: StatusCode, error: &str, description: Option<&str>) -> Response {
    let body = match description {
        Some(d) => json!({ "error": error, "error_description": d }),
        None => json!({ "error": error }),
    };
    let mut r = json_response(status, &body);
    if status == StatusCode::UNAUTHORIZED {
        r.headers_mut()
            .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Basic"));
    }
    r
}

fn invalid_client(description: &str) -> Response {
    oauth_error(
        StatusCode::UNAUTHORIZED,
        "invalid_client",
        Some(description),
    )
}

fn invalid_request(description: &str) -> Response {
    oauth_error(
        StatusCode::BAD_REQUEST,
        "invalid_request",
        Some(description),
    )
}

/// The client credentials of an `Authorization: Basic` header, if any, or
/// why they are refused (`invalid_client`).
fn basic_credentials(headers: &HeaderMap) -> Result<Option<(String, String)>, &'static str> {
    let Some(v) = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
    else {
        return Ok(None);
    };
    let malformed = "Malformed Authorization header";
    let (scheme, rest) = v.split_once(' ').ok_or(malformed)?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return Err("Unsupported authentication method");
    }
    let decoded = STANDARD.decode(rest.trim()).ok();
    let text = decoded.and_then(|b| String::from_utf8(b).ok());
    let (id, secret) = text
        .as_deref()
        .and_then(|t| t.split_once(':'))
        .ok_or(malformed)?;
    // RFC 6749 §2.3.1: both parts are form-encoded inside Basic.
    Ok(Some((decode_component(id), decode_component(secret))))
}

/// `POST /{envId}/as/token` (client_credentials).
pub async fn token(
    State(app): State<AppState>,
    Path(env): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, Response> {
    let ct = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    if !ct
        .to_ascii_lowercase()
        .starts_with("application/x-www-form-urlencoded")
    {
        return Err(invalid_request(
            "The request must be application/x-www-form-urlencoded.",
        ));
    }
    let form: Vec<(String, String)> = url::form_urlencoded::parse(&body).into_owned().collect();
    let field = |k: &str| form.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str());
    let post = field("client_id").zip(field("client_secret"));
    let (method, (id, secret)) = match (basic_credentials(&headers).map_err(invalid_client)?, post)
    {
        (Some(_), Some(_)) => {
            return Err(invalid_request(
                "Only one client authentication method may be used.",
            ));
        }
        (Some((id, secret)), None) => (AuthMethod::ClientSecretBasic, (id, secret)),
        (None, Some((id, secret))) => (AuthMethod::ClientSecretPost, (id.into(), secret.into())),
        (None, None) => return Err(invalid_client("Client authentication failed.")),
    };
    let main_env = app.env_id.as_str();
    let ci = app
        .config
        .clients
        .iter()
        .position(|c| c.client_id == id && c.environment_id.as_deref().unwrap_or(main_env) == env)
        .ok_or_else(|| invalid_client("Client authentication failed."))?;
    let c = &app.config.clients[ci];
    if c.client_secret != secret {
        return Err(invalid_client("Client authentication failed."));
    }
    if c.auth_method != method {
        return Err(invalid_client("Unsupported authentication method"));
    }
    if field("grant_type") != Some("client_credentials") {
        return Err(oauth_error(
            StatusCode::BAD_REQUEST,
            "unsupported_grant_type",
            None,
        ));
    }
    let lifetime = app.config.token_lifetime_secs;
    let token = app.tokens.issue(ci, &env, Duration::from_secs(lifetime));
    app.stats.token_issued();
    let body = json!({ "access_token": token, "token_type": "Bearer", "expires_in": lifetime });
    let mut r = json_response(StatusCode::OK, &body);
    let h = r.headers_mut();
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    h.insert(header::PRAGMA, HeaderValue::from_static("no-cache"));
    Ok(r)
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
