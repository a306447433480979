//! ConductorOne connector credentials: the client id names the tenant's API
//! host, the client secret holds an Ed25519 key, and an access token is
//! obtained with a signed JWT client assertion (RFC 7523).
//!
//! Threats and decisions:
//! - The secret never leaves this module in any form but a signature: its
//!   `Debug` is redacted, errors about it name the problem and never echo
//!   it, and the access tokens it buys are kept out of logs the same way.
//! - Clock skew: the assertion is valid from two minutes before to two
//!   minutes after our clock, as Baton's SDK issues it, so a host up to two
//!   minutes off still authenticates.
//! - One cached token serves every call until ten seconds before it
//!   expires; a call then fetches a new one. Unlike Baton's SDK, a server
//!   that answers `UNAUTHENTICATED` also drops the cache (`invalidate`), so
//!   a token revoked early is replaced on the next attempt instead of being
//!   reused until its own expiry.

use std::sync::Mutex;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::{Context as _, bail};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use ed25519_dalek::{Signer as _, SigningKey};
use secrecy::{ExposeSecret as _, SecretString};

/// Assertions are valid this long either side of now (Baton's SDK: 2 min).
const ASSERTION_SKEW: u64 = 120;
/// A cached token is replaced this long before it expires (oauth2's expiry delta).
const EXPIRY_MARGIN: Duration = Duration::from_secs(10);
/// Token lifetimes are minutes to hours; a longer `expires_in` (bogus, or
/// large enough to overflow the clock) is capped at a day.
const MAX_TOKEN_LIFETIME: Duration = Duration::from_secs(24 * 3600);
/// Baton's SDK allows 300 s for a token request; a token endpoint that has
/// not answered in a minute is down, and the caller's backoff handles that.
const TOKEN_TIMEOUT: Duration = Duration::from_secs(60);

/// `<client-name>@<api-host>/<suffix>`.
#[derive(Debug, Clone, PartialEq)]
pub struct ClientId {
    /// The whole id: the assertion's `iss` and `sub`, the form's `client_id`.
    pub full: String,
    /// The part before `@`: starts the user agent.
    pub name: String,
    /// `host[:port]` between `@` and `/`: the token and gRPC host.
    pub api_host: String,
}

impl ClientId {
    pub fn parse(s: &str) -> anyhow::Result<Self> {
        let s = s.trim();
        let (name, rest) = s.split_once('@').context(
            "invalid client id (BATON_CLIENT_ID): expected <name>@<tenant host>/<suffix>, found no '@'",
        )?;
        let (api_host, _suffix) = rest.split_once('/').context(
            "invalid client id (BATON_CLIENT_ID): expected <name>@<tenant host>/<suffix>, found no '/' after the host",
        )?;
        if name.is_empty() || api_host.is_empty() {
            bail!(
                "invalid client id (BATON_CLIENT_ID): the name and the tenant host must not be empty"
            );
        }
        Ok(Self {
            full: s.to_string(),
            name: name.to_string(),
            api_host: api_host.to_string(),
        })
    }

    /// The assertion's audience: the API host without a port.
    pub fn audience(&self) -> &str {
        host_without_port(&self.api_host)
    }
}

pub fn host_without_port(host: &str) -> &str {
    if let Some(rest) = host.strip_prefix('[') {
        return rest.split(']').next().unwrap_or(rest);
    }
    match host.rsplit_once(':') {
        Some((h, port)) if port.chars().all(|c| c.is_ascii_digit()) => h,
        _ => host,
    }
}

/// The Ed25519 key inside `secret-token:conductorone.com:v1:<jwk>`.
pub struct ClientSecret {
    key: SigningKey,
    kid: Option<String>,
}

impl std::fmt::Debug for ClientSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ClientSecret(redacted)")
    }
}

#[derive(serde::Deserialize)]
struct Jwk {
    kty: Option<String>,
    crv: Option<String>,
    x: Option<String>,
    d: Option<String>,
    kid: Option<String>,
}

impl ClientSecret {
    /// Errors say what is wrong with the secret's shape, never its content.
    pub fn parse(secret: &SecretString) -> anyhow::Result<Self> {
        const WHAT: &str = "invalid client secret (BATON_CLIENT_SECRET)";
        let parts: Vec<&str> = secret.expose_secret().trim().splitn(4, ':').collect();
        if parts.len() != 4 {
            bail!("{WHAT}: expected secret-token:conductorone.com:v1:<key>");
        }
        if parts[2] != "v1" {
            bail!("{WHAT}: unsupported version (the third part must be v1)");
        }
        let json = URL_SAFE_NO_PAD
            .decode(parts[3])
            .map_err(|_| anyhow::anyhow!("{WHAT}: the key is not unpadded base64url"))?;
        let jwk: Jwk = serde_json::from_slice(&json)
            .map_err(|_| anyhow::anyhow!("{WHAT}: the key is not a JSON web key"))?;
        if jwk.kty.as_deref() != Some("OKP") || jwk.crv.as_deref() != Some("Ed25519") {
            bail!("{WHAT}: the key must be an Ed25519 (OKP) key");
        }
        let bytes32 = |field: Option<String>, name: &str| -> anyhow::Result<[u8; 32]> {
            let v = field.with_context(|| format!("{WHAT}: the key has no {name:?} member"))?;
            let raw = URL_SAFE_NO_PAD
                .decode(v)
                .map_err(|_| anyhow::anyhow!("{WHAT}: the key's {name:?} is not base64url"))?;
            raw.try_into()
                .map_err(|_| anyhow::anyhow!("{WHAT}: the key's {name:?} is not 32 bytes"))
        };
        let seed = bytes32(jwk.d, "d")?;
        let public = bytes32(jwk.x, "x")?;
        let key = SigningKey::from_bytes(&seed);
        if key.verifying_key().to_bytes() != public {
            bail!("{WHAT}: the key's public half does not match its private half");
        }
        Ok(Self { key, kid: jwk.kid })
    }

    #[cfg(test)]
    pub fn verifying_key(&self) -> ed25519_dalek::VerifyingKey {
        self.key.verifying_key()
    }
}

/// A fresh client assertion: a compact JWS signed with EdDSA.
pub fn client_assertion(id: &ClientId, secret: &ClientSecret, now_unix: u64) -> String {
    let nonce: [u8; 16] = rand::random();
    let mut header = serde_json::json!({ "alg": "EdDSA", "nonce": hex::encode(nonce) });
    if let Some(kid) = &secret.kid {
        header["kid"] = serde_json::json!(kid);
    }
    let claims = serde_json::json!({
        "iss": id.full,
        "sub": id.full,
        "aud": id.audience(),
        "exp": now_unix + ASSERTION_SKEW,
        "nbf": now_unix.saturating_sub(ASSERTION_SKEW),
        "iat": now_unix,
    });
    let signing_input = format!(
        "{}.{}",
        URL_SAFE_NO_PAD.encode(header.to_string()),
        URL_SAFE_NO_PAD.encode(claims.to_string())
    );
    let signature = secret.key.sign(signing_input.as_bytes());
    format!(
        "{signing_input}.{}",
        URL_SAFE_NO_PAD.encode(signature.to_bytes())
    )
}

struct CachedToken {
    /// `<type> <token>`, ready for the `authorization` header.
    header: SecretString,
    fresh_until: Instant,
}

/// Why a token could not be had; maps to the gRPC code Baton's SDK reports.
#[derive(Debug, thiserror::Error)]
pub enum TokenError {
    /// The endpoint refused (non-200, or no token): `UNAUTHENTICATED`.
    #[error("failed to get token: {0}")]
    Refused(String),
    /// The endpoint could not be reached: `UNAVAILABLE`.
    #[error("token endpoint unreachable: {0}")]
    Unreachable(String),
}

/// Fetches, caches and refreshes the access token.
pub struct TokenSource {
    http: reqwest::Client,
    url: String,
    id: ClientId,
    secret: ClientSecret,
    cached: tokio::sync::Mutex<Option<CachedToken>>,
    /// Tokens seen, for redaction of anything that might echo them.
    recent: Mutex<Vec<String>>,
}

impl TokenSource {
    /// `token_host` is `BATON_C1_API_HOST` when set, else the client id's host.
    pub fn new(
        id: ClientId,
        secret: ClientSecret,
        token_host: &str,
        extra_roots_pem: &[Vec<u8>],
    ) -> anyhow::Result<Self> {
        let http = reqwest::Client::builder()
            .timeout(TOKEN_TIMEOUT)
            .user_agent(concat!(
                "baton-c1-credential-provider connector-host/",
                env!("CARGO_PKG_VERSION")
            ))
            .https_only(true);
        let http = connector_runtime::capabilities::http::with_extra_roots(http, extra_roots_pem)
            .context("--ca-bundle")?;
        Ok(Self {
            http: http.build().context("building the token HTTP client")?,
            url: format!("https://{token_host}/auth/v1/token"),
            id,
            secret,
            cached: tokio::sync::Mutex::new(None),
            recent: Mutex::new(Vec::new()),
        })
    }

    pub fn client_id(&self) -> &ClientId {
        &self.id
    }

    /// The `authorization` header value, from the cache or a new fetch.
    pub async fn authorization(&self) -> Result<SecretString, TokenError> {
        let mut cached = self.cached.lock().await;
        if let Some(t) = cached.as_ref()
            && Instant::now() < t.fresh_until
        {
            return Ok(t.header.clone());
        }
        let fetched = self.fetch().await?;
        let header = fetched.header.clone();
        *cached = Some(fetched);
        Ok(header)
    }

    /// Forgets the cached token (the server refused it).
    pub async fn invalidate(&self) {
        *self.cached.lock().await = None;
    }

    /// Replaces every token this source has issued with `[redacted]`.
    pub fn redact(&self, text: &str) -> String {
        let recent = self.recent.lock().unwrap_or_else(|e| e.into_inner());
        let mut out = text.to_string();
        for t in recent.iter() {
            out = out.replace(t.as_str(), "[redacted]");
        }
        out
    }

    async fn fetch(&self) -> Result<CachedToken, TokenError> {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0);
        let assertion = client_assertion(&self.id, &self.secret, now);
        let form = [
            ("client_assertion", assertion.as_str()),
            (
                "client_assertion_type",
                "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
            ),
            ("client_id", self.id.full.as_str()),
            ("grant_type", "client_credentials"),
        ];
        let asked = Instant::now();
        let resp = self
            .http
            .post(&self.url)
            .form(&form)
            .send()
            .await
            .map_err(|e| TokenError::Unreachable(describe_transport(e)))?;
        let status = resp.status();
        if !status.is_success() {
            return Err(TokenError::Refused(format!(
                "{} {}",
                status.as_u16(),
                status.canonical_reason().unwrap_or("")
            )));
        }
        let body: TokenResponse = resp.json().await.map_err(|e| {
            TokenError::Unreachable(format!(
                "reading the token response: {}",
                describe_transport(e)
            ))
        })?;
        if body.access_token.is_empty() {
            return Err(TokenError::Refused(
                "the response has no access_token".into(),
            ));
        }
        let kind = match body.token_type.to_ascii_lowercase().as_str() {
            "" | "bearer" => "Bearer".to_string(),
            "mac" => "MAC".to_string(),
            "basic" => "Basic".to_string(),
            _ => body.token_type.clone(),
        };
        {
            let mut recent = self.recent.lock().unwrap_or_else(|e| e.into_inner());
            recent.push(body.access_token.clone());
            let excess = recent.len().saturating_sub(8);
            recent.drain(..excess);
        }
        Ok(CachedToken {
            header: SecretString::from(format!("{kind} {}", body.access_token)),
            fresh_until: fresh_until(asked, body.expires_in),
        })
    }
}

/// When a token asked for at `asked` must be replaced. The lifetime counts
/// from when we asked: a slow answer shortens it, never lengthens it.
fn fresh_until(asked: Instant, expires_in: Option<u64>) -> Instant {
    let lifetime = Duration::from_secs(expires_in.unwrap_or(0)).min(MAX_TOKEN_LIFETIME);
    (asked + lifetime)
        .checked_sub(EXPIRY_MARGIN)
        .filter(|t| *t >= asked)
        .unwrap_or(asked)
}

#[derive(serde::Deserialize)]
struct TokenResponse {
    #[serde(default)]
    access_token: String,
    #[serde(default)]
    token_type: String,
    expires_in: Option<u64>,
}

/// A transport error without its URL (which is not secret, but is noise).
fn describe_transport(e: reqwest::Error) -> String {
    let e = e.without_url();
    let mut msg = e.to_string();
    let mut source = std::error::Error::source(&e);
    while let Some(s) = source {
        msg.push_str(": ");
        msg.push_str(&s.to_string());
        source = s.source();
    }
    msg
}

#[cfg(test)]
mod tests {
    use super::*;
    use ed25519_dalek::Verifier as _;

    fn secret_for(seed: [u8; 32]) -> String {
        let key = SigningKey::from_bytes(&seed);
        let jwk = serde_json::json!({
            "kty": "OKP", "crv": "Ed25519",
            "x": URL_SAFE_NO_PAD.encode(key.verifying_key().to_bytes()),
            "d": URL_SAFE_NO_PAD.encode(seed),
        });
        format!(
            "secret-token:conductorone.com:v1:{}",
            URL_SAFE_NO_PAD.encode(jwk.to_string())
        )
    }

    #[test]
    fn token_lifetimes_are_bounded() {
        let asked = Instant::now();
        assert_eq!(
            fresh_until(asked, Some(3600)),
            asked + Duration::from_secs(3590)
        );
        // Absent, zero or shorter than the margin: stale at once.
        for short in [None, Some(0), Some(5)] {
            assert_eq!(fresh_until(asked, short), asked, "{short:?}");
        }
        // A huge claim neither overflows the clock nor pins the token.
        assert_eq!(
            fresh_until(asked, Some(u64::MAX)),
            asked + MAX_TOKEN_LIFETIME - EXPIRY_MARGIN
        );
    }

    #[test]
    fn client_ids_split_like_batons() {
        let id = ClientId::parse("strange-hydra-68836@acme.conductor.one/pcc").unwrap();
        assert_eq!(id.name, "strange-hydra-68836");
        assert_eq!(id.api_host, "acme.conductor.one");
        assert_eq!(id.audience(), "acme.conductor.one");
        let id = ClientId::parse("c@localhost:8443/").unwrap();
        assert_eq!(id.api_host, "localhost:8443");
        assert_eq!(id.audience(), "localhost");
        for bad in ["no-at-sign/x", "c@no-slash", "@host/x"] {
            let e = ClientId::parse(bad).unwrap_err().to_string();
            assert!(e.contains("invalid client id"), "{bad}: {e}");
        }
    }

    #[test]
    fn secrets_are_checked_without_being_echoed() {
        let good = secret_for([7; 32]);
        ClientSecret::parse(&SecretString::from(good.clone())).unwrap();
        let cases = [
            (
                "secret-token:conductorone.com:v2:abc".to_string(),
                "version",
            ),
            ("just-a-string".to_string(), "expected"),
            (format!("{good}="), "base64url"),
            ("secret-token:x:v1:e30".to_string(), "Ed25519"),
        ];
        for (bad, why) in cases {
            let e = ClientSecret::parse(&SecretString::from(bad.clone()))
                .unwrap_err()
                .to_string();
            assert!(e.contains(why), "{e}");
            assert!(!e.contains(&bad), "the error echoes the secret: {e}");
        }
        // A public half that does not match the seed is refused.
        let key = SigningKey::from_bytes(&[1; 32]);
        let jwk = serde_json::json!({
            "kty": "OKP", "crv": "Ed25519",
            "x": URL_SAFE_NO_PAD.encode(key.verifying_key().to_bytes()),
            "d": URL_SAFE_NO_PAD.encode([2u8; 32]),
        });
        let mismatched = format!("a:b:v1:{}", URL_SAFE_NO_PAD.encode(jwk.to_string()));
        let e = ClientSecret::parse(&SecretString::from(mismatched)).unwrap_err();
        assert!(e.to_string().contains("does not match"), "{e}");
        assert_eq!(
            format!(
                "{:?}",
                ClientSecret::parse(&SecretString::from(good)).unwrap()
            ),
            "ClientSecret(redacted)"
        );
    }

    #[test]
    fn assertions_carry_batons_claims_and_verify() {
        let id = ClientId::parse("c@tenant.example:8443/pcc").unwrap();
        let secret = ClientSecret::parse(&SecretString::from(secret_for([9; 32]))).unwrap();
        let jwt = client_assertion(&id, &secret, 1_000_000);
        let parts: Vec<&str> = jwt.split('.').collect();
        assert_eq!(parts.len(), 3);
        let header: serde_json::Value =
            serde_json::from_slice(&URL_SAFE_NO_PAD.decode(parts[0]).unwrap()).unwrap();
        assert_eq!(header["alg"], "EdDSA");
        let nonce = header["nonce"].as_str().unwrap();
        assert_eq!(nonce.len(), 32);
        assert!(
            nonce
                .chars()
                .all(|c| c.is_ascii_hexdigit() && !c.is_ascii_uppercase())
        );
        assert!(header.get("typ").is_none() && header.get("kid").is_none());
        let claims: serde_json::Value =
            serde_json::from_slice(&URL_SAFE_NO_PAD.decode(parts[1]).unwrap()).unwrap();
        assert_eq!(claims["iss"], "c@tenant.example:8443/pcc");
        assert_eq!(claims["sub"], claims["iss"]);
        assert_eq!(claims["aud"], "tenant.example");
        assert_eq!(claims["iat"], 1_000_000);
        assert_eq!(claims["exp"], 1_000_120);
        assert_eq!(claims["nbf"], 999_880);
        assert!(claims.get("jti").is_none());
        let sig = ed25519_dalek::Signature::from_slice(&URL_SAFE_NO_PAD.decode(parts[2]).unwrap())
            .unwrap();
        secret
            .verifying_key()
            .verify(format!("{}.{}", parts[0], parts[1]).as_bytes(), &sig)
            .unwrap();
        // Each assertion has its own nonce.
        assert_ne!(jwt, client_assertion(&id, &secret, 1_000_000));
    }
}
