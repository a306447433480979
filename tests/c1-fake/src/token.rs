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
//! - Tokens are opaque random strings. A token is accepted for its
//!   `expires_in`, but for at least [`MIN_TOKEN_LIFETIME`], so a client
//!   that fetches a token per RPC when told `expires_in = 0` can still use
//!   the one it just fetched.
//! - The `*_for_test` helpers sign assertions the way the SDK does, so the
//!   self-test (and any test that wants a token without the client under
//!   test) can talk to the fake.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::Engine;
pub(crate) use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use bytes::Bytes;
use ed25519_dalek::{Signature, Signer, SigningKey, VerifyingKey};
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
/// The shortest time an issued token is accepted, whatever its `expires_in`.
pub const MIN_TOKEN_LIFETIME: Duration = Duration::from_secs(5);
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

/// The signing key inside a `secret-token:conductorone.com:v1:<jwk>` secret.
fn signing_key_from_secret(client_secret: &str) -> anyhow::Result<SigningKey> {
    let parts: Vec<&str> = client_secret.splitn(4, ':').collect();
    anyhow::ensure!(
        parts.len() == 4 && parts[2] == "v1",
        "not a v1 client secret"
    );
    let jwk: Value = serde_json::from_slice(&B64.decode(parts[3])?)?;
    let field = |name: &str| -> anyhow::Result<[u8; 32]> {
        let text = jwk[name]
            .as_str()
            .ok_or_else(|| anyhow::anyhow!("JWK has no {name}"))?;
        B64.decode(text)?
            .try_into()
            .map_err(|_| anyhow::anyhow!("JWK {name} is not 32 bytes"))
    };
    let key = SigningKey::from_bytes(&field("d")?);
    anyhow::ensure!(
        key.verifying_key().as_bytes() == &field("x")?,
        "JWK x does not match d"
    );
    Ok(key)
}

/// A compact JWS over arbitrary `header` and `claims`, signed with the key
/// in `client_secret`. For tests that need a malformed assertion.
pub fn sign_jwt_for_test(
    client_secret: &str,
    header: &Value,
    claims: &Value,
) -> anyhow::Result<String> {
    let key = signing_key_from_secret(client_secret)?;
    let input = format!(
        "{}.{}",
        B64.encode(header.to_string()),
        B64.encode(claims.to_string())
    );
    let signature = key.sign(input.as_bytes());
    Ok(format!("{input}.{}", B64.encode(signature.to_bytes())))
}

/// A client assertion exactly as the SDK builds it, issued at `now_unix`:
/// header `{alg: EdDSA, nonce: <32 hex>}`, `iss = sub = client_id`,
/// `aud` = the client ID's host without port, `exp`/`nbf` ±120 s.
pub fn sign_assertion_for_test(
    client_id: &str,
    client_secret: &str,
    now_unix: i64,
) -> anyhow::Result<String> {
    let audience =
        audience_of(client_id).ok_or_else(|| anyhow::anyhow!("invalid client id {client_id}"))?;
    let nonce: [u8; 16] = rand::random();
    let header = json!({"alg": "EdDSA", "nonce": hex::encode(nonce)});
    let claims = json!({
        "iss": client_id,
        "sub": client_id,
        "aud": audience,
        "exp": now_unix + ASSERTION_WINDOW,
        "nbf": now_unix - ASSERTION_WINDOW,
        "iat": now_unix,
    });
    sign_jwt_for_test(client_secret, &header, &claims)
}

/// The form body of a token request carrying `assertion`.
pub fn token_form_for_test(client_id: &str, assertion: &str) -> String {
    url::form_urlencoded::Serializer::new(String::new())
        .append_pair("client_assertion", assertion)
        .append_pair("client_assertion_type", ASSERTION_TYPE)
        .append_pair("client_id", client_id)
        .append_pair("grant_type", "client_credentials")
        .finish()
}

/// Seconds since the Unix epoch.
pub fn unix_now() -> i64 {
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

    fn creds() -> Credentials {
        Credentials::generate("test-client@localhost/pcc")
    }

    #[test]
    fn audience_drops_the_port() {
        assert_eq!(audience_of("a@host:8443/pcc").as_deref(), Some("host"));
        assert_eq!(audience_of("a@localhost/pcc").as_deref(), Some("localhost"));
        assert_eq!(audience_of("a@localhost/").as_deref(), Some("localhost"));
        assert_eq!(audience_of("nohost"), None);
    }

    #[test]
    fn the_secret_round_trips() {
        let c = creds();
        let key = signing_key_from_secret(&c.client_secret).unwrap();
        assert_eq!(key.verifying_key(), c.verifying_key);
        let encoded = c.client_secret.strip_prefix(SECRET_PREFIX).unwrap();
        let jwk: Value = serde_json::from_slice(&B64.decode(encoded).unwrap()).unwrap();
        assert_eq!(jwk.as_object().unwrap().len(), 4);
        assert_eq!(jwk["kty"], "OKP");
        assert_eq!(jwk["crv"], "Ed25519");
    }

    #[test]
    fn a_correct_request_passes_and_each_rule_is_enforced() {
        let c = creds();
        let now = unix_now();
        let form_ct = Some("application/x-www-form-urlencoded");
        let good = sign_assertion_for_test(&c.client_id, &c.client_secret, now).unwrap();
        let body = token_form_for_test(&c.client_id, &good);
        let nonce = verify_request(&c, form_ct, body.as_bytes(), now).unwrap();
        assert_eq!(nonce.len(), 32);

        // Content type.
        let err = verify_request(&c, Some("application/json"), body.as_bytes(), now);
        assert!(err.unwrap_err().contains("content type"));
        // A fifth field.
        let extra = format!("{body}&scope=x");
        assert!(
            verify_request(&c, form_ct, extra.as_bytes(), now)
                .unwrap_err()
                .contains("scope")
        );

        let header = json!({"alg": "EdDSA", "nonce": "0123456789abcdef0123456789abcdef"});
        let claims = json!({"iss": c.client_id, "sub": c.client_id, "aud": "localhost",
            "exp": now + 120, "nbf": now - 120, "iat": now});
        let check = |header: &Value, claims: &Value| {
            let jwt = sign_jwt_for_test(&c.client_secret, header, claims).unwrap();
            let body = token_form_for_test(&c.client_id, &jwt);
            verify_request(&c, form_ct, body.as_bytes(), now)
        };
        assert!(check(&header, &claims).is_ok());
        let mut h = header.clone();
        h["alg"] = json!("HS256");
        assert!(check(&h, &claims).unwrap_err().contains("alg"));
        h = header.clone();
        h["nonce"] = json!("0123456789ABCDEF0123456789ABCDEF");
        assert!(check(&h, &claims).unwrap_err().contains("nonce"));
        let mut cl = claims.clone();
        cl["aud"] = json!(["localhost"]);
        assert!(check(&header, &cl).unwrap_err().contains("aud"));
        cl = claims.clone();
        cl["sub"] = json!("someone-else");
        assert!(check(&header, &cl).unwrap_err().contains("sub"));
        cl = claims.clone();
        cl["exp"] = json!(now + 300);
        assert!(check(&header, &cl).unwrap_err().contains("exp - iat"));
        cl = claims.clone();
        cl["nbf"] = json!(now - 60);
        assert!(check(&header, &cl).unwrap_err().contains("iat - nbf"));

        // Signed by another key.
        let other = creds();
        let jwt = sign_jwt_for_test(&other.client_secret, &header, &claims).unwrap();
        let body = token_form_for_test(&c.client_id, &jwt);
        assert!(
            verify_request(&c, form_ct, body.as_bytes(), now)
                .unwrap_err()
                .contains("signature")
        );
    }
}
