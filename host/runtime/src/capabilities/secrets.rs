//! Secrets: values the guest can use but never read.
//!
//! Threat: a connector that can read a secret can leak it (into records,
//! logs, or a request to a host it controls). Decisions:
//! - The guest holds `SecretHandle`s: a name and a kind, no value. The only
//!   operation on a handle is "authenticate this request", done by the host.
//! - The host brokers the OAuth2 client-credentials exchange declared by the
//!   component's recipe, so neither the client secret nor the access token
//!   enters guest memory. Tokens are cached per connector instance until
//!   shortly before expiry, on the monotonic clock (immune to wall-clock
//!   skew), and refreshed once on a 401.
//! - Each credential is bound to the origins of its own config group (see
//!   [`CredentialBindings`]): a handle attached to a request for any other
//!   origin is refused, so a component cannot send the PingOne token to a
//!   second service the operator allowed for something else.
//! - Values live in `SecretString` (zeroised on drop, redacted in `Debug`).
//!   Errors from the token endpoint carry PingOne's error code and
//!   description, never request bodies or headers, and everything handed to
//!   the guest or written out passes the instance's [`Redactor`].

use std::collections::{BTreeMap, VecDeque};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use secrecy::{ExposeSecret, SecretString};
use tokio::sync::Mutex;

use super::egress::EgressPolicy;
use super::scrub::Scrubber;

/// What a guest-held handle stands for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SecretHandle {
    /// A secret config field, by name.
    Field(String),
    /// The brokered OAuth2 access token.
    OAuth2,
}

impl SecretHandle {
    pub fn name(&self) -> String {
        match self {
            SecretHandle::Field(n) => n.clone(),
            SecretHandle::OAuth2 => OAUTH2_TOKEN.to_string(),
        }
    }
}

/// How a client authenticates at the token endpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClientAuth {
    Basic,
    Post,
}

/// A fully resolved OAuth2 client-credentials recipe (its `Debug` shows
/// the secret as `[REDACTED]`, as `SecretString`'s does).
#[derive(Clone, Debug)]
pub struct OAuth2Recipe {
    pub token_url: String,
    pub client_id: String,
    pub client_secret: SecretString,
    pub auth: ClientAuth,
    pub scope: Option<String>,
}

/// A cached access token.
struct CachedToken {
    value: SecretString,
    refresh_at: Instant,
    generation: u64,
}

/// The token broker of one connector instance.
pub struct TokenBroker {
    pub recipe: OAuth2Recipe,
    cached: Mutex<Option<CachedToken>>,
    generation: AtomicU64,
    pub exchanges: AtomicU64,
    /// The latest access tokens, so text leaving the host is scrubbed of
    /// them too (a request in flight may still carry the previous one).
    recent: std::sync::Mutex<VecDeque<SecretString>>,
}

/// Access tokens remembered for redaction: the current one and the three
/// before it cover every request that can still be in flight after a refresh.
const RECENT_TOKENS: usize = 4;

impl TokenBroker {
    pub fn new(recipe: OAuth2Recipe) -> Self {
        Self {
            recipe,
            cached: Mutex::new(None),
            generation: Default::default(),
            exchanges: Default::default(),
            recent: Default::default(),
        }
    }

    /// The latest access tokens' values, for redaction only.
    pub fn recent_tokens(&self) -> Vec<String> {
        self.recent
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .iter()
            .map(|t| t.expose_secret().to_string())
            .collect()
    }

    /// A valid token, exchanging for a new one when none is cached or the
    /// cached one is about to expire. Concurrent callers share one exchange.
    pub async fn token<F, Fut, E>(&self, exchange: F) -> Result<(SecretString, u64), E>
    where
        F: FnOnce(OAuth2Recipe) -> Fut,
        Fut: std::future::Future<Output = Result<(SecretString, Duration), E>>,
    {
        let mut slot = self.cached.lock().await;
        if let Some(t) = slot.as_ref()
            && Instant::now() < t.refresh_at
        {
            return Ok((t.value.clone(), t.generation));
        }
        let started = Instant::now();
        let (value, lifetime) = exchange(self.recipe.clone()).await?;
        self.exchanges.fetch_add(1, Ordering::Relaxed);
        // Remembered for scrubbing before the generation moves, so a
        // scrubber built for the new generation always knows the new token.
        {
            let mut recent = self.recent.lock().unwrap_or_else(|e| e.into_inner());
            if recent.len() == RECENT_TOKENS {
                recent.pop_front();
            }
            recent.push_back(value.clone());
        }
        let generation = self.generation.fetch_add(1, Ordering::SeqCst) + 1;
        *slot = Some(CachedToken {
            value: value.clone(),
            refresh_at: started + refresh_after(lifetime),
            generation,
        });
        Ok((value, generation))
    }

    /// How many tokens have been obtained; moves whenever a new one is.
    pub fn generation(&self) -> u64 {
        self.generation.load(Ordering::SeqCst)
    }

    /// Drops the cached token if it is still the one that got a 401, so the
    /// next `token` call exchanges again (others may have refreshed already).
    pub async fn invalidate(&self, generation: u64) {
        let mut slot = self.cached.lock().await;
        if slot.as_ref().is_some_and(|t| t.generation == generation) {
            *slot = None;
        }
    }
}

/// When to refresh a token of the given lifetime: a minute early for normal
/// tokens (PingOne issues 1 h), a fifth early for short test tokens, so a
/// request never leaves with a token that expires in flight.
pub fn refresh_after(lifetime: Duration) -> Duration {
    let margin = Duration::from_secs(60).min(lifetime / 5);
    lifetime.saturating_sub(margin)
}

/// The secrets of one connector instance.
#[derive(Default)]
pub struct Secrets {
    fields: BTreeMap<String, SecretString>,
    /// Names of secret fields in the schema, configured or not.
    declared: Vec<String>,
    pub broker: Option<Arc<TokenBroker>>,
    redactor: Arc<Redactor>,
}

impl Secrets {
    pub fn new(
        declared: Vec<String>,
        fields: BTreeMap<String, SecretString>,
        broker: Option<Arc<TokenBroker>>,
    ) -> Self {
        let mut fixed: Vec<SecretString> = fields.values().cloned().collect();
        fixed.extend(broker.iter().map(|b| b.recipe.client_secret.clone()));
        let redactor = Arc::new(Redactor {
            fixed,
            broker: broker.clone(),
            current: Default::default(),
        });
        Self {
            fields,
            declared,
            broker,
            redactor,
        }
    }

    pub fn field(&self, name: &str) -> Result<&SecretString, FieldLookup> {
        match self.fields.get(name) {
            Some(v) => Ok(v),
            None if self.declared.iter().any(|d| d == name) => Err(FieldLookup::Missing),
            None => Err(FieldLookup::Unknown),
        }
    }

    /// The scrubber of this instance's credentials, shared with its HTTP
    /// capability.
    pub fn redactor(&self) -> Arc<Redactor> {
        self.redactor.clone()
    }
}

pub enum FieldLookup {
    Unknown,
    Missing,
}

/// Keeps one [`Scrubber`] current with the instance's credentials: its
/// secret values, the brokered client secret and the access tokens still in
/// use, rebuilt only when the broker has obtained a new token.
#[derive(Default)]
pub struct Redactor {
    fixed: Vec<SecretString>,
    broker: Option<Arc<TokenBroker>>,
    current: std::sync::Mutex<Option<(u64, Arc<Scrubber>)>>,
}

impl Redactor {
    /// The scrubber for the tokens obtained so far.
    pub fn scrubber(&self) -> Arc<Scrubber> {
        let generation = self.broker.as_ref().map_or(0, |b| b.generation());
        let mut current = self.current.lock().unwrap_or_else(|e| e.into_inner());
        if let Some((g, s)) = current.as_ref()
            && *g == generation
        {
            return s.clone();
        }
        let tokens = self
            .broker
            .as_ref()
            .map(|b| b.recent_tokens())
            .unwrap_or_default();
        let values = self
            .fixed
            .iter()
            .map(|s| s.expose_secret())
            .chain(tokens.iter().map(String::as_str));
        let scrubber = Arc::new(Scrubber::new(values));
        *current = Some((generation, scrubber.clone()));
        scrubber
    }
}

/// Replaces every form of every credential occurring in `text` with
/// `[redacted]`: for text that leaves the host (logs, errors, artifacts).
pub fn redact(text: &str, secrets: &Secrets) -> String {
    secrets.redactor.scrubber().text(text).into_owned()
}

/// The name under which the brokered access token is bound and reported.
pub const OAUTH2_TOKEN: &str = "oauth2-token";

/// Which origins each credential may be sent to.
///
/// Decision: a credential belongs to its config group, the fields whose
/// names share its first word (`pingone-client-secret` belongs to
/// `pingone`, with `pingone-api-url` and `pingone-auth-url`), as Baton
/// connectors name their flags. A secret field may authenticate requests to
/// the origins of its group's egress URL fields only; the brokered token
/// belongs to the group of its recipe's client secret field.
#[derive(Debug, Default, Clone)]
pub struct CredentialBindings {
    by_name: BTreeMap<String, EgressPolicy>,
}

impl CredentialBindings {
    pub fn new(by_name: BTreeMap<String, EgressPolicy>) -> Self {
        Self { by_name }
    }

    /// The group a config field belongs to.
    pub fn group_of(field: &str) -> &str {
        field.split_once('-').map_or(field, |(group, _)| group)
    }

    /// Refuses `url` unless `credential` is bound to its origin. The text
    /// names the credential, the origin and the origins it is bound to (as
    /// `scheme://host:port`), never a value.
    pub fn check(&self, credential: &str, url: &str) -> Result<(), String> {
        let policy = self.by_name.get(credential);
        if policy.is_some_and(|p| p.check_url(url).is_ok()) {
            return Ok(());
        }
        let origin = url::Url::parse(url)
            .map(|u| u.origin().ascii_serialization())
            .unwrap_or_else(|_| "a malformed URL".into());
        let bound: Vec<String> = (policy.map_or(&[][..], |p| p.origins()).iter())
            .map(|o| format!("{}://{}:{}", o.scheme, o.host, o.port))
            .collect();
        Err(format!(
            "credential {credential} may not be sent to {origin}: it is bound to {}",
            if bound.is_empty() {
                "no origin (its config group has no egress URL field)".to_string()
            } else {
                bound.join(", ")
            }
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn recipe() -> OAuth2Recipe {
        OAuth2Recipe {
            token_url: "https://auth.example/env/as/token".into(),
            client_id: "id".into(),
            client_secret: SecretString::from("s3cret-value"),
            auth: ClientAuth::Basic,
            scope: None,
        }
    }

    #[test]
    fn refresh_margin_scales_with_lifetime() {
        assert_eq!(
            refresh_after(Duration::from_secs(3600)),
            Duration::from_secs(3540)
        );
        assert_eq!(
            refresh_after(Duration::from_secs(5)),
            Duration::from_secs(4)
        );
        assert_eq!(refresh_after(Duration::ZERO), Duration::ZERO);
    }

    #[test]
    fn debug_never_shows_the_secret() {
        let shown = format!("{:?}", recipe());
        assert!(!shown.contains("s3cret-value"), "{shown}");
    }

    #[tokio::test]
    async fn tokens_are_cached_and_invalidated_by_generation() {
        let broker = TokenBroker::new(recipe());
        let ex = |_r| async {
            Ok::<_, String>((SecretString::from("tok-1"), Duration::from_secs(3600)))
        };
        let (t1, g1) = broker.token(ex).await.unwrap();
        let (_, g2) = broker
            .token(|_r| async { Err::<(SecretString, Duration), _>("not called".to_string()) })
            .await
            .unwrap();
        assert_eq!(t1.expose_secret(), "tok-1");
        assert_eq!(g1, g2);
        broker.invalidate(g1 + 100).await; // stale generation: ignored
        assert!(
            broker
                .token(|_r| async { Err("unused".to_string()) })
                .await
                .is_ok()
        );
        broker.invalidate(g1).await;
        let (t3, g3) = broker
            .token(|_r| async {
                Ok::<_, String>((SecretString::from("tok-2"), Duration::from_secs(3600)))
            })
            .await
            .unwrap();
        assert_eq!(t3.expose_secret(), "tok-2");
        assert!(g3 > g1);
        assert_eq!(broker.exchanges.load(Ordering::Relaxed), 2);
    }

    #[test]
    fn redaction_replaces_values() {
        let mut fields = BTreeMap::new();
        fields.insert("k".to_string(), SecretString::from("hunter22"));
        let s = Secrets::new(vec!["k".into()], fields, None);
        assert_eq!(redact("token hunter22 here", &s), "token [redacted] here");
        assert!(matches!(s.field("nope"), Err(FieldLookup::Unknown)));
        // The brokered client secret is redacted too, though no guest can use it.
        let broker = Arc::new(TokenBroker::new(recipe()));
        let s = Secrets::new(vec![], BTreeMap::new(), Some(broker));
        assert_eq!(redact("x s3cret-value y", &s), "x [redacted] y");
    }

    #[tokio::test]
    async fn brokered_access_tokens_are_redacted() {
        let broker = Arc::new(TokenBroker::new(recipe()));
        let s = Secrets::new(vec![], BTreeMap::new(), Some(broker.clone()));
        let (t, _) = broker
            .token(|_| async {
                Ok::<_, String>((SecretString::from("at-0123456789"), Duration::from_secs(0)))
            })
            .await
            .unwrap();
        assert_eq!(t.expose_secret(), "at-0123456789");
        assert_eq!(redact("Bearer at-0123456789", &s), "Bearer [redacted]");
        // After a refresh both the old and the new token are scrubbed.
        broker
            .token(|_| async {
                Ok::<_, String>((
                    SecretString::from("at-abcdefghij"),
                    Duration::from_secs(3600),
                ))
            })
            .await
            .unwrap();
        assert_eq!(
            redact("at-0123456789 at-abcdefghij", &s),
            "[redacted] [redacted]"
        );
    }
}
