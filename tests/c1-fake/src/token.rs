//! The token endpoint (`POST /auth/v1/token`) and the test client's
//! credentials: the Ed25519 key pair, the `secret-token:` client secret that
//! carries it as a JWK, and the checks a ConductorOne-like server applies to
//! the JWT client assertion.
//!
//! Decisions:
//! - Every rule of the reference checklist is checked and the first broken
//!   one is the rejection reason: the form content type and exactly the four
//!   fields, `client_id == iss == sub`, header `alg = EdDSA` with a
//!   32-lowercase-hex `nonce`, the Ed25519 signature against the key's
//!   public half, `aud` = the client ID's host without port (a single JSON
//!   string), integer times with `exp - iat = 120` and `iat - nbf = 120`, and
//!   the current time inside `[nbf, exp]`.
//! - A nonce seen before is rejected: the SDK signs a fresh assertion per
//!   fetch, so a replay is a client bug worth catching here.
//! - Tokens are opaque random strings, accepted for their `expires_in` (an
//!   hour) unless a test expires them early.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use base64::Engine;
pub(crate) use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use bytes::Bytes;
use ed25519_dalek::{Signature, SigningKey, VerifyingKey};
use http::{Method, Request, Response, StatusCode, header};
use http_body_util::{BodyExt, Full, Limited};
use serde_json::{Value, json};
use tonic::body::Body;

use crate::Inner;

/// The token endpoint's path.
pub const TOKEN_PATH: &str = "/auth/v1/token";
/// The only accepted `client_assertion_type`.
pub const ASSERTION_TYPE: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";
/// Everything before the base64url JWK in a client secret.
pub const SECRET_PREFIX: &str = "secret-token:conductorone.com:v1:";
/// The `expires_in` of every issued token.
pub(crate) const TOKEN_TTL_SECS: u64 = 3600;
/// The assertion's lifetime and back-dating, in seconds.
const ASSERTION_WINDOW: i64 = 120;
/// The largest token request body read.
const MAX_BODY: usize = 64 * 1024;

/// The test client's identity as the fake knows it.
pub(crate) struct Credentials {
    pub client_id: String,
    pub client_secret: String,
    pub verifying_key: VerifyingKey,
    /// The client ID's host without port: the expected JWT `aud`.
    pub audience: String,
}

impl Credentials {
    pub fn generate(client_id: &str) -> Self {
        let seed: [u8; 32] = rand::random();
        let signing = SigningKey::from_bytes(&seed);
        let verifying_key = signing.verifying_key();
        let jwk = json!({
            "kty": "OKP",
            "crv": "Ed25519",
            "x": B64.encode(verifying_key.as_bytes()),
            "d": B64.encode(seed),
        });
        Credentials {
            client_id: client_id.to_string(),
            client_secret: format!("{SECRET_PREFIX}{}", B64.encode(jwk.to_string())),
            verifying_key,
            audience: audience_of(client_id).expect("the fake's client ID is well formed"),
        }
    }
}

/// `<name>@<host[:port]>/<suffix>` → `host`, as the SDK derives the audience.
fn audience_of(client_id: &str) -> Option<String> {
    let (_, rest) = client_id.split_once('@')?;
    let (host, _) = rest.split_once('/')?;
    let host = match host.rsplit_once(':') {
        Some((h, port)) if port.chars().all(|c| c.is_ascii_digit()) => h,
        _ => host,
    };
    Some(host.to_string())
}

/// Seconds since the Unix epoch.
fn unix_now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

/// Checks a token request; on success returns the assertion's nonce.
pub(crate) fn verify_request(
    creds: &Credentials,
    content_type: Option<&str>,
    body: &[u8],
    now: i64,
) -> Result<String, String> {
    let media_type = content_type
        .map(|v| {
            v.split(';')
                .next()
                .unwrap_or("")
                .trim()
                .to_ascii_lowercase()
        })
        .unwrap_or_default();
    if media_type != "application/x-www-form-urlencoded" {
        return Err(format!("content type {content_type:?} is not a form"));
    }
    let mut form = HashMap::new();
    for (name, value) in url::form_urlencoded::parse(body) {
        let name = name.into_owned();
        if !matches!(
            name.as_str(),
            "client_assertion" | "client_assertion_type" | "client_id" | "grant_type"
        ) {
            return Err(format!("unexpected form field {name:?}"));
        }
        if form.insert(name.clone(), value.into_owned()).is_some() {
            return Err(format!("form field {name:?} given twice"));
        }
    }
    let field = |name: &str| {
        form.get(name)
            .map(String::as_str)
            .ok_or_else(|| format!("form field {name:?} missing"))
    };
    if field("grant_type")? != "client_credentials" {
        return Err(format!("grant_type is {:?}", field("grant_type")?));
    }
    if field("client_assertion_type")? != ASSERTION_TYPE {
        return Err(format!(
            "client_assertion_type is {:?}",
            field("client_assertion_type")?
        ));
    }
    let client_id = field("client_id")?;
    if client_id != creds.client_id {
        return Err(format!("client_id {client_id:?} is not the test client's"));
    }
    verify_assertion(creds, field("client_assertion")?, now)
}

fn verify_assertion(creds: &Credentials, jwt: &str, now: i64) -> Result<String, String> {
    let parts: Vec<&str> = jwt.split('.').collect();
    let [header_b64, claims_b64, signature_b64] = parts[..] else {
        return Err(format!("assertion has {} parts, not 3", parts.len()));
    };
    let decode = |what: &str, text: &str| {
        B64.decode(text)
            .map_err(|e| format!("assertion {what} is not unpadded base64url: {e}"))
    };
    let header: Value = serde_json::from_slice(&decode("header", header_b64)?)
        .map_err(|e| format!("assertion header is not JSON: {e}"))?;
    let claims: Value = serde_json::from_slice(&decode("payload", claims_b64)?)
        .map_err(|e| format!("assertion payload is not JSON: {e}"))?;
    let signature = Signature::from_slice(&decode("signature", signature_b64)?)
        .map_err(|e| format!("assertion signature is malformed: {e}"))?;

    if header["alg"] != "EdDSA" {
        return Err(format!("header alg is {}, not \"EdDSA\"", header["alg"]));
    }
    let nonce = header["nonce"].as_str().unwrap_or_default();
    if nonce.len() != 32
        || !nonce
            .bytes()
            .all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
    {
        return Err(format!(
            "header nonce {} is not 32 lowercase hex characters",
            header["nonce"]
        ));
    }
    let signing_input = &jwt[..header_b64.len() + 1 + claims_b64.len()];
    creds
        .verifying_key
        .verify_strict(signing_input.as_bytes(), &signature)
        .map_err(|_| "assertion signature does not verify with the test key".to_string())?;

    for claim in ["iss", "sub"] {
        if claims[claim] != creds.client_id.as_str() {
            return Err(format!(
                "{claim} is {}, not the client ID {:?}",
                claims[claim], creds.client_id
            ));
        }
    }
    if claims["aud"] != creds.audience.as_str() {
        return Err(format!(
            "aud is {}, not the single string {:?}",
            claims["aud"], creds.audience
        ));
    }
    let time = |claim: &str| {
        claims[claim]
            .as_i64()
            .ok_or_else(|| format!("{claim} is {}, not an integer", claims[claim]))
    };
    let (exp, iat, nbf) = (time("exp")?, time("iat")?, time("nbf")?);
    if exp - iat != ASSERTION_WINDOW {
        return Err(format!("exp - iat is {}, not 120", exp - iat));
    }
    if iat - nbf != ASSERTION_WINDOW {
        return Err(format!("iat - nbf is {}, not 120", iat - nbf));
    }
    if now < nbf || now > exp {
        return Err(format!(
            "assertion not valid now ({now}): nbf {nbf}, exp {exp}"
        ));
    }
    Ok(nonce.to_string())
}

/// Serves one request to [`TOKEN_PATH`].
pub(crate) async fn handle(
    inner: Arc<Inner>,
    req: Request<hyper::body::Incoming>,
) -> Response<Body> {
    if req.method() != Method::POST {
        inner.update(|s| {
            s.token_fetches += 1;
            s.token_rejections
                .push(format!("method {} instead of POST", req.method()));
        });
        return reply(
            StatusCode::METHOD_NOT_ALLOWED,
            json!({"error": "invalid_request"}),
        );
    }
    let content_type = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    let body = Limited::new(req.into_body(), MAX_BODY).collect().await;
    let verdict = match body {
        Ok(body) => verify_request(
            &inner.creds,
            content_type.as_deref(),
            &body.to_bytes(),
            unix_now(),
        ),
        Err(e) => Err(format!("token request body unreadable: {e}")),
    };
    inner.update(|s| {
        s.token_fetches += 1;
        let verdict = verdict.and_then(|nonce| match s.nonces.insert(nonce.clone()) {
            true => Ok(()),
            false => Err(format!("nonce {nonce} reused")),
        });
        let (event, status, body) = if let Err(reason) = verdict {
            s.token_rejections.push(reason.clone());
            let body = json!({"error": "invalid_client", "error_description": reason});
            ("token:rejected", StatusCode::UNAUTHORIZED, body)
        } else if s.fail_tokens > 0 {
            s.fail_tokens -= 1;
            let body = json!({"error": "invalid_client", "error_description": "injected failure"});
            ("token:failed", StatusCode::UNAUTHORIZED, body)
        } else {
            let body = json!({"access_token": s.mint_token(), "token_type": "bearer",
                "expires_in": TOKEN_TTL_SECS});
            ("token", StatusCode::OK, body)
        };
        s.events.push(event.to_string());
        reply(status, body)
    })
}

fn reply(status: StatusCode, body: Value) -> Response<Body> {
    let mut response = Response::new(Body::new(Full::new(Bytes::from(body.to_string()))));
    *response.status_mut() = status;
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        header::HeaderValue::from_static("application/json"),
    );
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn audience_drops_the_port() {
        assert_eq!(audience_of("a@host:8443/pcc").as_deref(), Some("host"));
        assert_eq!(audience_of("a@localhost/pcc").as_deref(), Some("localhost"));
        assert_eq!(audience_of("a@localhost/").as_deref(), Some("localhost"));
        assert_eq!(audience_of("nohost"), None);
    }
}
