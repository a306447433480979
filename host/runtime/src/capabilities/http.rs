//! Outbound HTTP on a guest's behalf.
//!
//! Threat: the guest chooses URLs, headers and bodies. Decisions:
//! - Every request, every retry and every hop passes the instance's
//!   [`EgressPolicy`]; the DNS resolver re-checks resolved addresses, and the
//!   connection goes to exactly those vetted addresses (no second lookup to
//!   rebind). Redirects are returned to the guest, never followed.
//! - The guest may not set `Authorization` (or other hop or credential
//!   headers); the host adds credentials from handles. Header and body sizes
//!   are capped both ways, a request's headers in count and total bytes,
//!   and the response bodies a call holds at once by one budget that the
//!   requests of a batch share ([`ResponseBudget`]).
//! - Retries live here, so every connector gets them right: 429 always
//!   (nothing was applied; `Retry-After` honoured and shared through the
//!   limiter), 5xx/408 and dropped connections only for idempotent requests,
//!   so a create is never applied twice.
//! - TLS certificates are verified against the system roots plus an optional
//!   operator CA bundle; the usual proxy variables are honoured, and a
//!   proxied target is resolved and checked by the host before the request
//!   goes to the proxy, which would otherwise resolve it unchecked (`proxy`).
//! - A credential goes only to the origins it is bound to
//!   ([`CredentialBindings`]); anything else is `PolicyDenied`, naming the
//!   credential and the origin.
//! - What comes back passes the instance's [`Redactor`] before the guest
//!   sees it: status line aside, every header value, body and error text is
//!   scrubbed of every form of every credential (see `scrub`), so an
//!   upstream that echoes a request cannot hand its credentials over.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, SystemTime};

use base64::Engine as _;
use secrecy::{ExposeSecret, SecretString};

use super::egress::{Denial, EgressPolicy};
use super::limiter::AdaptiveLimiter;
use super::proxy::ProxyRoutes;
use super::secrets::{
    ClientAuth, CredentialBindings, OAUTH2_TOKEN, OAuth2Recipe, Redactor, TokenBroker,
};
use crate::backoff::Backoff;
use crate::bindings::http::{HttpError, Method, Request, Response};
use crate::limits::Limits;

/// Attempts for a 429 before the response goes back to the guest.
const MAX_THROTTLE_ATTEMPTS: u32 = 8;
/// Attempts for 5xx, 408 and connection failures of idempotent requests.
const MAX_ERROR_ATTEMPTS: u32 = 4;
/// Longest `Retry-After` the host waits out; PingOne sends 1-60 s.
const MAX_RETRY_AFTER: Duration = Duration::from_secs(60);
/// Connect timeout: a TLS handshake to a healthy API takes < 1 s.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// Per-attempt timeout, headers and body: PingOne pages arrive in < 5 s.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(60);

/// Framing and hop-by-hop headers: they describe a connection, which is the
/// host's. A guest may not set them (they would let it smuggle requests),
/// and does not get them on responses, where they describe the connection
/// the host read rather than the body it hands over (a body the client
/// decompressed would not match its `content-length`). Each response header
/// the guest gets also costs it two allocations.
const FRAMING_HEADERS: &[&str] = &[
    "content-length",
    "transfer-encoding",
    "connection",
    "keep-alive",
    "proxy-connection",
    "te",
    "trailer",
    "upgrade",
];

/// Headers only the host may set besides [`FRAMING_HEADERS`]: credentials
/// and the target host.
const CREDENTIAL_HEADERS: &[&str] = &["authorization", "proxy-authorization", "cookie", "host"];

/// TLS trust beyond the system roots, and the way out.
#[derive(Debug, Clone, Default)]
pub struct TlsOptions {
    /// PEM bundles of extra CAs (a corporate proxy's, or a test CA).
    pub extra_roots_pem: Vec<Vec<u8>>,
    /// Which requests go through a proxy; `None`: the usual variables.
    pub proxy: Option<ProxyRoutes>,
}

/// Adds the operator's extra CAs to a client: the one place every HTTP
/// client of the host (connector egress, uploads, ConductorOne's token
/// endpoint) reads the CA bundle.
pub fn with_extra_roots(
    mut builder: reqwest::ClientBuilder,
    extra_roots_pem: &[Vec<u8>],
) -> anyhow::Result<reqwest::ClientBuilder> {
    for pem in extra_roots_pem {
        for cert in ca_bundle_certificates(pem)? {
            builder = builder.add_root_certificate(cert);
        }
    }
    Ok(builder)
}

/// The certificates of one CA bundle, or why it is none. Clients that take
/// PEM themselves (the ConductorOne gRPC channel) check it here first, so a
/// bad bundle fails the same way for every client.
pub fn ca_bundle_certificates(pem: &[u8]) -> anyhow::Result<Vec<reqwest::Certificate>> {
    let certs = reqwest::Certificate::from_pem_bundle(pem)
        .map_err(|e| anyhow::anyhow!("reading the CA bundle: not a PEM bundle ({e})"))?;
    // A file with no certificate in it trusts nothing: a wrong path or
    // format, which must not pass silently.
    if certs.is_empty() {
        anyhow::bail!("reading the CA bundle: it holds no PEM certificate");
    }
    Ok(certs)
}

/// Counters for one connector instance.
#[derive(Debug, Default)]
pub struct HttpStats {
    pub requests: AtomicU64,
    pub retries: AtomicU64,
    pub throttled: AtomicU64,
    pub denied: AtomicU64,
}

/// How a request authenticates.
#[derive(Clone)]
pub enum AuthUse {
    None,
    /// A secret config field's value, by field name.
    Bearer {
        field: String,
        value: SecretString,
    },
    OAuth2,
}

impl AuthUse {
    /// The credential's name, as bound and reported.
    fn credential(&self) -> Option<&str> {
        match self {
            AuthUse::None => None,
            AuthUse::Bearer { field, .. } => Some(field),
            AuthUse::OAuth2 => Some(OAUTH2_TOKEN),
        }
    }
}

/// What an instance's HTTP capability authenticates with, and what it keeps
/// out of the answers.
#[derive(Default)]
pub struct HttpCredentials {
    pub broker: Option<Arc<TokenBroker>>,
    pub bindings: CredentialBindings,
    pub redactor: Arc<Redactor>,
}

/// The HTTP capability of one connector instance.
pub struct HttpCapability {
    client: reqwest::Client,
    policy: Arc<EgressPolicy>,
    proxy: ProxyRoutes,
    limiter: AdaptiveLimiter,
    limits: Limits,
    credentials: HttpCredentials,
    pub stats: HttpStats,
    /// Hands each call its rank in the limiter's queue, in the order calls
    /// start.
    calls_started: AtomicU64,
}

/// Resolves names through the egress policy: only vetted addresses come back,
/// and the connection is made to exactly those.
struct PolicyResolver {
    policy: Arc<EgressPolicy>,
    proxy_hosts: Vec<String>,
}

impl reqwest::dns::Resolve for PolicyResolver {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        let policy = self.policy.clone();
        let host = name.as_str().to_string();
        let is_proxy = self
            .proxy_hosts
            .iter()
            .any(|p| p.eq_ignore_ascii_case(&host));
        Box::pin(async move {
            let addrs: Vec<IpAddr> = tokio::net::lookup_host((host.as_str(), 0))
                .await?
                .map(|a| a.ip())
                .collect();
            // The operator's proxy is trusted configuration, not guest input.
            let vetted = if is_proxy {
                addrs
            } else {
                policy
                    .check_resolved(&host, &addrs)
                    .map_err(|d| Box::new(d) as Box<dyn std::error::Error + Send + Sync>)?
            };
            let iter = vetted.into_iter().map(|ip| SocketAddr::new(ip, 0));
            Ok(Box::new(iter) as Box<dyn Iterator<Item = SocketAddr> + Send>)
        })
    }
}

impl HttpCapability {
    pub fn new(
        policy: EgressPolicy,
        tls: &TlsOptions,
        limits: &Limits,
        credentials: HttpCredentials,
    ) -> anyhow::Result<Self> {
        let policy = Arc::new(policy);
        let proxy = tls.proxy.clone().unwrap_or_else(ProxyRoutes::from_env);
        let mut builder = reqwest::Client::builder()
            .use_rustls_tls()
            .redirect(reqwest::redirect::Policy::none())
            .connect_timeout(CONNECT_TIMEOUT)
            .timeout(REQUEST_TIMEOUT)
            .pool_idle_timeout(Duration::from_secs(90))
            .user_agent(concat!("connector-host/", env!("CARGO_PKG_VERSION")))
            .dns_resolver(Arc::new(PolicyResolver {
                policy: policy.clone(),
                proxy_hosts: proxy.proxy_hosts(),
            }))
            // The client routes exactly as `vet_route` decides, never by
            // reading the environment itself.
            .no_proxy();
        for rule in proxy.reqwest_proxies() {
            builder = builder.proxy(rule);
        }
        let builder = with_extra_roots(builder, &tls.extra_roots_pem)?;
        Ok(Self {
            client: builder.build()?,
            policy,
            proxy,
            limiter: AdaptiveLimiter::new(
                limits.max_concurrent_requests,
                limits.requests_per_second,
            ),
            limits: limits.clone(),
            credentials,
            stats: HttpStats::default(),
            calls_started: AtomicU64::new(0),
        })
    }

    /// The next call's rank: its requests queue behind older calls' ones.
    pub fn next_call_rank(&self) -> u64 {
        self.calls_started.fetch_add(1, Ordering::Relaxed)
    }

    pub fn policy(&self) -> &EgressPolicy {
        &self.policy
    }

    pub fn limiter(&self) -> &AdaptiveLimiter {
        &self.limiter
    }

    /// Checks what the guest asked for before anything leaves the host.
    pub fn vet(&self, req: &Request) -> Result<(), HttpError> {
        if req.headers.len() > self.limits.request_headers {
            return Err(HttpError::InvalidRequest(format!(
                "{} headers, over the cap of {}",
                req.headers.len(),
                self.limits.request_headers
            )));
        }
        let header_bytes = req
            .headers
            .iter()
            .fold(0usize, |sum, (k, v)| sum.saturating_add(k.len() + v.len()));
        if header_bytes > self.limits.request_header_bytes {
            return Err(HttpError::InvalidRequest(format!(
                "headers total {header_bytes} bytes, over the cap of {}",
                self.limits.request_header_bytes
            )));
        }
        for (name, value) in &req.headers {
            let lower = name.to_ascii_lowercase();
            if CREDENTIAL_HEADERS.contains(&lower.as_str())
                || FRAMING_HEADERS.contains(&lower.as_str())
            {
                return Err(HttpError::ForbiddenHeader(lower));
            }
            if reqwest::header::HeaderName::from_bytes(name.as_bytes()).is_err()
                || reqwest::header::HeaderValue::from_str(value).is_err()
            {
                return Err(HttpError::InvalidRequest(format!(
                    "malformed header {name:?}"
                )));
            }
        }
        if let Some(body) = &req.body
            && body.len() > self.limits.request_body_bytes
        {
            return Err(HttpError::InvalidRequest(format!(
                "body of {} bytes, over the cap of {}",
                body.len(),
                self.limits.request_body_bytes
            )));
        }
        // Checked on the raw string: parsing resolves dot-segments (see
        // `url_path`), so a climbing path would pass the policy unseen.
        super::url_path::check(&req.url).map_err(HttpError::InvalidRequest)?;
        self.policy.check_url(&req.url).map_err(|d| self.deny(d))?;
        Ok(())
    }

    /// A refusal by the egress policy or a credential binding, counted.
    fn deny(&self, why: impl ToString) -> HttpError {
        self.stats.denied.fetch_add(1, Ordering::Relaxed);
        HttpError::PolicyDenied(why.to_string())
    }

    /// Through a proxy the resolver never sees the target, so the host
    /// resolves and checks it here first (see `proxy`).
    pub async fn vet_route(&self, url: &str) -> Result<(), HttpError> {
        let vetted = self.proxy.vet_target(&self.policy, url).await;
        vetted.map_err(|r| self.deny(r))
    }

    /// Sends one guest request with retries and credentials; what comes
    /// back is scrubbed of every credential.
    pub async fn send(&self, req: &Request, auth: &AuthUse) -> Result<Response, HttpError> {
        let budget = ResponseBudget::new(self.limits.response_bytes_per_call);
        self.send_within(req, auth, &budget, u64::MAX).await
    }

    /// [`Self::send`], its body held against `budget`, which the requests
    /// of one guest call share.
    async fn send_within(
        &self,
        req: &Request,
        auth: &AuthUse,
        budget: &Arc<ResponseBudget>,
        call_rank: u64,
    ) -> Result<Response, HttpError> {
        let answer = self.send_unscrubbed(req, auth, budget, call_rank).await;
        let scrubber = self.credentials.redactor.scrubber();
        match answer {
            Ok(mut resp) => {
                for (_, value) in &mut resp.headers {
                    if scrubber.finds(value.as_bytes()) {
                        *value = scrubber.text(value).into_owned();
                    }
                }
                resp.body = scrubber.bytes(std::mem::take(&mut resp.body));
                Ok(resp)
            }
            Err(e) => Err(scrub_error(e, |t| scrubber.text(t).into_owned())),
        }
    }

    async fn send_unscrubbed(
        &self,
        req: &Request,
        auth: &AuthUse,
        budget: &Arc<ResponseBudget>,
        call_rank: u64,
    ) -> Result<Response, HttpError> {
        self.vet(req)?;
        if let Some(credential) = auth.credential() {
            let bindings = &self.credentials.bindings;
            bindings
                .check(credential, &req.url)
                .map_err(|m| self.deny(m))?;
        }
        self.vet_route(&req.url).await?;
        let mut refreshed = false;
        let mut throttles = 0;
        let mut errors = 0;
        loop {
            let (attempt, generation) = {
                let _permit = self.limiter.acquire_for(call_rank).await;
                // The token is taken once the request may leave: a request
                // that queued behind the limiter for longer than a short
                // token lives would otherwise carry an expired one.
                let (bearer, generation) = match auth {
                    AuthUse::None => (None, 0),
                    AuthUse::Bearer { value, .. } => (Some(value.clone()), 0),
                    AuthUse::OAuth2 => {
                        let (t, g) = self.oauth2_token().await?;
                        (Some(t), g)
                    }
                };
                self.stats.requests.fetch_add(1, Ordering::Relaxed);
                (self.attempt(req, bearer.as_ref(), budget).await, generation)
            };
            match attempt {
                Ok((resp, _held)) if resp.status == 429 => {
                    self.stats.throttled.fetch_add(1, Ordering::Relaxed);
                    throttles += 1;
                    let wait =
                        RETRY_BACKOFF.delay_or_retry_after(throttles, retry_after(&resp.headers));
                    self.limiter.on_throttle(wait);
                    if throttles >= MAX_THROTTLE_ATTEMPTS {
                        return Ok(resp);
                    }
                    self.stats.retries.fetch_add(1, Ordering::Relaxed);
                }
                Ok((resp, _held))
                    if resp.status == 401 && matches!(auth, AuthUse::OAuth2) && !refreshed =>
                {
                    // The token may have been revoked or expired early: one
                    // fresh exchange, one retry, then the guest sees the 401.
                    if let Some(b) = &self.credentials.broker {
                        b.invalidate(generation).await;
                    }
                    refreshed = true;
                    self.stats.retries.fetch_add(1, Ordering::Relaxed);
                }
                Ok((resp, _held))
                    if req.idempotent
                        && matches!(resp.status, 408 | 500 | 502 | 503 | 504)
                        && errors + 1 < MAX_ERROR_ATTEMPTS =>
                {
                    errors += 1;
                    self.stats.retries.fetch_add(1, Ordering::Relaxed);
                    let wait =
                        RETRY_BACKOFF.delay_or_retry_after(errors, retry_after(&resp.headers));
                    tokio::time::sleep(wait).await;
                }
                Ok((resp, held)) => {
                    if resp.status < 500 {
                        self.limiter.on_success();
                    }
                    // Delivered: its bytes stay reserved until the call's
                    // budget goes (a retried body's are released on drop).
                    held.keep();
                    return Ok(resp);
                }
                Err(Failure::Fatal(e)) => return Err(e),
                Err(Failure::Transport { error, before_send }) => {
                    errors += 1;
                    // A request that never reached the server is safe to repeat.
                    if (req.idempotent || before_send) && errors < MAX_ERROR_ATTEMPTS {
                        self.stats.retries.fetch_add(1, Ordering::Relaxed);
                        tokio::time::sleep(RETRY_BACKOFF.delay(errors)).await;
                        continue;
                    }
                    return Err(error);
                }
            }
        }
    }

    /// Sends independent requests concurrently; results in request order.
    ///
    /// Decision: every request runs as a task of its own and the batch as one
    /// more, instead of as futures polled inside the guest's call. The call
    /// then wakes once, when the whole batch is answered, not once per
    /// response (each wake-up resumes the guest's fiber and reads the CPU
    /// clock twice); a request's future is polled only when its own I/O
    /// woke it, not with every other one; and the requests spread over the
    /// runtime's worker threads. Dropping the call (its wall-clock limit)
    /// aborts the batch and with it every request still in flight. The
    /// requests queue behind those of older calls (`call_rank`, from
    /// [`Self::next_call_rank`]).
    pub async fn send_batch_detached(
        self: &Arc<Self>,
        call_rank: u64,
        reqs: Vec<Request>,
        auth: AuthUse,
        keep: Option<KeepHeaders>,
    ) -> Vec<Result<Response, HttpError>> {
        let n = reqs.len();
        let me = self.clone();
        // One budget for the whole batch: its bodies reach the guest together.
        let budget = ResponseBudget::new(self.limits.response_bytes_per_call);
        let batch = async move {
            let mut tasks = tokio::task::JoinSet::new();
            for (i, req) in reqs.into_iter().enumerate() {
                let (me, auth, keep) = (me.clone(), auth.clone(), keep.clone());
                let budget = budget.clone();
                tasks.spawn(async move {
                    let answer = me.send_within(&req, &auth, &budget, call_rank).await;
                    (i, keep_headers(answer, keep.as_ref()))
                });
            }
            let mut out: Vec<Option<Result<Response, HttpError>>> = (0..n).map(|_| None).collect();
            while let Some(done) = tasks.join_next().await {
                match done {
                    Ok((i, answer)) => out[i] = Some(answer),
                    Err(e) if e.is_panic() => std::panic::resume_unwind(e.into_panic()),
                    Err(_) => {}
                }
            }
            out.into_iter()
                .map(|o| o.unwrap_or_else(|| Err(cancelled())))
                .collect::<Vec<_>>()
        };
        match detached_task(batch).await {
            Ok(out) => out,
            Err(e) => (0..n).map(|_| Err(e.clone())).collect(),
        }
    }

    async fn oauth2_token(&self) -> Result<(SecretString, u64), HttpError> {
        let Some(broker) = &self.credentials.broker else {
            return Err(HttpError::Credential(
                "this component declares no OAuth2 credential recipe".into(),
            ));
        };
        broker.token(|recipe| self.exchange(recipe)).await
    }

    /// The OAuth2 client-credentials exchange (RFC 6749 §4.4).
    ///
    /// Only a refusal of the client (400 or 401 from the endpoint) is a
    /// `Credential` error; a name that does not resolve, a refused
    /// connection, a TLS failure or a timeout is a `Connection` error naming
    /// the host, so an operator chasing a network problem is not sent to
    /// rotate credentials.
    async fn exchange(&self, recipe: OAuth2Recipe) -> Result<(SecretString, Duration), HttpError> {
        let refused = |d: String| {
            HttpError::PolicyDenied(format!("token URL refused by the egress policy: {d}"))
        };
        self.policy
            .check_url(&recipe.token_url)
            .map_err(|d| refused(d.to_string()))?;
        self.proxy
            .vet_target(&self.policy, &recipe.token_url)
            .await
            .map_err(|r| refused(r.to_string()))?;
        let host = url::Url::parse(&recipe.token_url)
            .ok()
            .and_then(|u| u.host_str().map(str::to_string))
            .unwrap_or_default();
        let network = |what: String| HttpError::Connection(format!("token endpoint {host} {what}"));
        let mut form: Vec<(&str, &str)> = vec![("grant_type", "client_credentials")];
        if let Some(scope) = &recipe.scope {
            form.push(("scope", scope));
        }
        let secret = recipe.client_secret.expose_secret();
        let basic = match recipe.auth {
            ClientAuth::Basic => {
                let enc = |s: &str| {
                    url::form_urlencoded::byte_serialize(s.as_bytes()).collect::<String>()
                };
                let pair = format!("{}:{}", enc(&recipe.client_id), enc(secret));
                let pair = base64::engine::general_purpose::STANDARD.encode(pair);
                Some(format!("Basic {pair}"))
            }
            ClientAuth::Post => {
                form.extend([
                    ("client_id", recipe.client_id.as_str()),
                    ("client_secret", secret),
                ]);
                None
            }
        };
        let mut last = network("was not tried".into());
        for attempt in 1..=MAX_ERROR_ATTEMPTS {
            let mut rb = (self.client.post(&recipe.token_url))
                .header("accept", "application/json")
                .form(&form);
            if let Some(h) = &basic {
                rb = rb.header("authorization", h);
            }
            self.stats.requests.fetch_add(1, Ordering::Relaxed);
            let resp = match rb.send().await {
                Ok(r) => r,
                Err(e) => {
                    last = if e.is_timeout() {
                        network("timed out".into())
                    } else {
                        network(format!("unreachable: {}", describe_reqwest(&e)))
                    };
                    tokio::time::sleep(RETRY_BACKOFF.delay(attempt)).await;
                    continue;
                }
            };
            let status = resp.status().as_u16();
            let wait = resp
                .headers()
                .get(reqwest::header::RETRY_AFTER)
                .and_then(|v| parse_retry_after(v.to_str().ok()?));
            let (bytes, _) = read_capped(resp, 1 << 20, None)
                .await
                .map_err(|e| match e {
                    Failure::Fatal(e) | Failure::Transport { error: e, .. } => {
                        network(format!("failed mid-answer: {e:?}"))
                    }
                })?;
            if status == 429 || status >= 500 {
                self.stats.retries.fetch_add(1, Ordering::Relaxed);
                last = network(format!("answered {status}"));
                tokio::time::sleep(RETRY_BACKOFF.delay_or_retry_after(attempt, wait)).await;
                continue;
            }
            let json: serde_json::Value = serde_json::from_slice(&bytes)
                .map_err(|_| network(format!("answered {status} with a non-JSON body")))?;
            if status != 200 {
                let code = json["error"].as_str().unwrap_or("unknown_error");
                let desc = json["error_description"].as_str().unwrap_or("");
                let detail = format!(
                    "{status} {code}{}{desc}",
                    if desc.is_empty() { "" } else { ": " }
                );
                return Err(if matches!(status, 400 | 401) {
                    HttpError::Credential(format!(
                        "token endpoint refused the client credentials ({detail})"
                    ))
                } else {
                    network(format!("answered {detail}"))
                });
            }
            let token = json["access_token"]
                .as_str()
                .filter(|t| !t.is_empty())
                .ok_or_else(|| network("answered without an access_token".into()))?;
            let lifetime = json["expires_in"].as_u64().unwrap_or(3600);
            return Ok((
                SecretString::from(token.to_string()),
                Duration::from_secs(lifetime),
            ));
        }
        Err(last)
    }

    async fn attempt(
        &self,
        req: &Request,
        bearer: Option<&SecretString>,
        budget: &Arc<ResponseBudget>,
    ) -> Result<(Response, Held), Failure> {
        let method = match req.method {
            Method::Get => reqwest::Method::GET,
            Method::Head => reqwest::Method::HEAD,
            Method::Post => reqwest::Method::POST,
            Method::Put => reqwest::Method::PUT,
            Method::Patch => reqwest::Method::PATCH,
            Method::Delete => reqwest::Method::DELETE,
        };
        let mut rb = self.client.request(method, &req.url);
        for (k, v) in &req.headers {
            rb = rb.header(k, v);
        }
        if let Some(token) = bearer {
            let mut value = reqwest::header::HeaderValue::from_str(&format!(
                "Bearer {}",
                token.expose_secret()
            ))
            .map_err(|_| {
                Failure::Fatal(HttpError::Credential("token has invalid characters".into()))
            })?;
            value.set_sensitive(true);
            rb = rb.header(reqwest::header::AUTHORIZATION, value);
        }
        if let Some(body) = &req.body {
            rb = rb.body(body.clone());
        }
        let resp = rb.send().await.map_err(|e| {
            if let Some(denial) = policy_denial(&e) {
                return Failure::Fatal(self.deny(denial));
            }
            if e.is_timeout() {
                return Failure::Transport {
                    error: HttpError::Timeout,
                    before_send: false,
                };
            }
            Failure::Transport {
                before_send: e.is_connect(),
                error: HttpError::Connection(describe_reqwest(&e)),
            }
        })?;
        let status = resp.status().as_u16();
        let headers = resp.headers();
        if headers.len() > self.limits.response_headers {
            return Err(Failure::Fatal(HttpError::Connection(format!(
                "response has {} headers, over the cap of {}",
                headers.len(),
                self.limits.response_headers
            ))));
        }
        let mut total = 0;
        let mut out_headers = Vec::with_capacity(headers.len());
        for (k, v) in headers {
            total += k.as_str().len() + v.len();
            if FRAMING_HEADERS.contains(&k.as_str()) {
                continue;
            }
            if let Ok(v) = v.to_str() {
                out_headers.push((k.as_str().to_string(), v.to_string()));
            }
        }
        if total > self.limits.response_header_bytes {
            return Err(Failure::Fatal(HttpError::Connection(format!(
                "response headers total {total} bytes, over the cap of {}",
                self.limits.response_header_bytes
            ))));
        }
        let (body, held) = read_capped(resp, self.limits.response_body_bytes, Some(budget)).await?;
        Ok((
            Response {
                status,
                headers: out_headers,
                body,
            },
            held,
        ))
    }
}

/// The response headers a guest asked to keep (`send-keep-headers`),
/// lowercased once; shared by the requests of a batch.
#[derive(Clone, Debug)]
pub struct KeepHeaders(Arc<[String]>);

impl KeepHeaders {
    pub fn new(names: Vec<String>) -> Self {
        KeepHeaders(names.into_iter().map(|n| n.to_ascii_lowercase()).collect())
    }

    /// `name` as the client gives it: header names are always lowercase.
    fn keeps(&self, name: &str) -> bool {
        self.0.iter().any(|k| k == name)
    }
}

/// Drops the headers the guest did not ask for, after the host's retries
/// (which read `retry-after`) and before the response is copied into the
/// guest: each header handed over costs the guest two allocations.
fn keep_headers(
    result: Result<Response, HttpError>,
    keep: Option<&KeepHeaders>,
) -> Result<Response, HttpError> {
    match (result, keep) {
        (Ok(mut resp), Some(keep)) => {
            resp.headers.retain(|(name, _)| keep.keeps(name));
            Ok(resp)
        }
        (other, _) => other,
    }
}

/// An error's text with `scrub` applied, for the guest.
fn scrub_error(e: HttpError, scrub: impl Fn(&str) -> String) -> HttpError {
    match e {
        HttpError::PolicyDenied(m) => HttpError::PolicyDenied(scrub(&m)),
        HttpError::ForbiddenHeader(m) => HttpError::ForbiddenHeader(scrub(&m)),
        HttpError::InvalidRequest(m) => HttpError::InvalidRequest(scrub(&m)),
        HttpError::Connection(m) => HttpError::Connection(scrub(&m)),
        HttpError::Credential(m) => HttpError::Credential(scrub(&m)),
        e @ (HttpError::Timeout | HttpError::BodyTooLarge(_)) => e,
    }
}

enum Failure {
    /// Not retryable: the answer goes back to the guest as is.
    Fatal(HttpError),
    /// Transport failure; `before_send` means the server never got it.
    Transport { error: HttpError, before_send: bool },
}

/// Response bytes the requests of one guest call hold at once
/// (`Limits::response_bytes_per_call`).
///
/// Threat: each body is capped, but a batch of 256 requests could hold 256
/// capped bodies in host memory together. Decision: a request reserves its
/// body's bytes here before it reads them (the buffer's whole capacity, as
/// it grows), and the request that would go over the budget fails with
/// `body-too-large` naming the budget; the others are answered. A body that
/// is dropped (a retried 429 or 5xx) gives its bytes back; a delivered one
/// keeps them until the call's import returns and the budget goes with it.
pub struct ResponseBudget {
    cap: usize,
    used: AtomicUsize,
}

impl ResponseBudget {
    pub fn new(cap: usize) -> Arc<Self> {
        Arc::new(Self {
            cap,
            used: AtomicUsize::new(0),
        })
    }

    /// Reserves `n` bytes, or says no without reserving any.
    fn reserve(&self, n: usize) -> bool {
        self.used
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |used| {
                used.checked_add(n).filter(|total| *total <= self.cap)
            })
            .is_ok()
    }

    /// Bytes reserved now.
    pub fn used(&self) -> usize {
        self.used.load(Ordering::Acquire)
    }
}

/// The bytes one body holds of a [`ResponseBudget`]; given back on drop
/// unless [`Held::keep`] says the body was delivered.
struct Held {
    budget: Option<Arc<ResponseBudget>>,
    bytes: usize,
}

impl Held {
    fn new(budget: Option<&Arc<ResponseBudget>>) -> Self {
        Self {
            budget: budget.cloned(),
            bytes: 0,
        }
    }

    /// Reserves `n` more bytes; `body-too-large`, naming the budget, when
    /// it has no room.
    fn grow(&mut self, n: usize) -> Result<(), Failure> {
        if let Some(b) = &self.budget
            && !b.reserve(n)
        {
            return Err(Failure::Fatal(HttpError::BodyTooLarge(b.cap as u64)));
        }
        self.bytes += n;
        Ok(())
    }

    fn keep(mut self) {
        self.budget = None;
    }
}

impl Drop for Held {
    fn drop(&mut self) {
        if let Some(b) = &self.budget {
            b.used.fetch_sub(self.bytes, Ordering::AcqRel);
        }
    }
}

/// Reads a body, stopping at `cap` bytes, its buffer reserved against
/// `budget` as it grows. A body cut short mid-stream is a transport
/// failure (retryable for idempotent requests).
async fn read_capped(
    mut resp: reqwest::Response,
    cap: usize,
    budget: Option<&Arc<ResponseBudget>>,
) -> Result<(Vec<u8>, Held), Failure> {
    let mut held = Held::new(budget);
    let mut body = Vec::new();
    if let Some(len) = resp.content_length() {
        if len as usize > cap {
            return Err(Failure::Fatal(HttpError::BodyTooLarge(cap as u64)));
        }
        held.grow(len as usize)?;
        body.reserve_exact(len as usize);
        // The allocator may round up; what was reserved is what it gave.
        held.grow(body.capacity() - len as usize)?;
    }
    loop {
        match resp.chunk().await {
            Ok(Some(chunk)) => {
                let need = body.len() + chunk.len();
                if need > cap {
                    return Err(Failure::Fatal(HttpError::BodyTooLarge(cap as u64)));
                }
                if need > body.capacity() {
                    // Grow as `Vec` would (doubling), within the caps, and
                    // reserve what the buffer will take before taking it.
                    let doubled = need.max(body.capacity() * 2).min(cap);
                    let target = match held.grow(doubled - body.capacity()) {
                        Ok(()) => doubled,
                        Err(_) => held.grow(need - body.capacity()).map(|()| need)?,
                    };
                    body.reserve_exact(target - body.len());
                    held.grow(body.capacity() - target)?;
                }
                body.extend_from_slice(&chunk);
            }
            Ok(None) => return Ok((body, held)),
            Err(e) => {
                return Err(Failure::Transport {
                    error: HttpError::Connection(format!(
                        "response body cut short: {}",
                        describe_reqwest(&e)
                    )),
                    before_send: false,
                });
            }
        }
    }
}

/// The error's causes, outermost first.
fn causes(e: &reqwest::Error) -> impl Iterator<Item = &(dyn std::error::Error + 'static)> {
    std::iter::successors(Some(e as &(dyn std::error::Error + 'static)), |s| {
        s.source()
    })
}

/// The policy denial the resolver raised, if that is why `e` failed.
fn policy_denial(e: &reqwest::Error) -> Option<String> {
    causes(e).find_map(|s| s.downcast_ref::<Denial>().map(Denial::to_string))
}

/// A short cause chain without URLs' query strings (which may carry filters
/// but never secrets; credentials travel only in headers).
fn describe_reqwest(e: &reqwest::Error) -> String {
    let mut first = e.to_string();
    if let Some(url) = e.url() {
        first = first.replace(&format!(" ({url})"), "");
        first = first.replace(url.as_str(), "<url>");
    }
    let mut parts: Vec<String> = causes(e).skip(1).map(|s| s.to_string()).collect();
    parts.insert(0, first);
    parts.dedup();
    parts.join(": ")
}

/// Retries of one request: 250 ms doubling to 8 s, jittered; a server's
/// `Retry-After` is believed up to [`MAX_RETRY_AFTER`].
const RETRY_BACKOFF: Backoff = Backoff::new(Duration::from_millis(250), Duration::from_secs(8))
    .with_retry_after_max(MAX_RETRY_AFTER);

/// `Retry-After` as delta seconds or an HTTP date (compared with our clock;
/// a date in the past means "now").
pub fn retry_after(headers: &[(String, String)]) -> Option<Duration> {
    let (_, v) = headers
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case("retry-after"))?;
    parse_retry_after(v)
}

fn parse_retry_after(v: &str) -> Option<Duration> {
    let v = v.trim();
    if let Ok(secs) = v.parse::<u64>() {
        return Some(Duration::from_secs(secs));
    }
    let when = httpdate::parse_http_date(v).ok()?;
    Some(
        when.duration_since(SystemTime::now())
            .unwrap_or(Duration::ZERO),
    )
}

/// The answer for a request whose task was cancelled without a panic.
fn cancelled() -> HttpError {
    HttpError::Connection("the request was cancelled: the host is shutting down".into())
}

/// Spawns `fut` and awaits it, aborting it when the waiter is dropped; a
/// panic in the task resumes in the waiter, as it would have inline.
async fn detached_task<T: Send + 'static>(
    fut: impl std::future::Future<Output = T> + Send + 'static,
) -> Result<T, HttpError> {
    struct AbortOnDrop<T>(tokio::task::JoinHandle<T>);
    impl<T> Drop for AbortOnDrop<T> {
        fn drop(&mut self) {
            self.0.abort();
        }
    }
    let mut task = AbortOnDrop(tokio::spawn(fut));
    match (&mut task.0).await {
        Ok(v) => Ok(v),
        Err(e) if e.is_panic() => std::panic::resume_unwind(e.into_panic()),
        Err(_) => Err(cancelled()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_ca_bundle_without_certificates_is_refused() {
        let builder = || reqwest::Client::builder();
        assert!(with_extra_roots(builder(), &[]).is_ok());
        let e = with_extra_roots(builder(), &[b"not a certificate\n".to_vec()]).unwrap_err();
        assert!(e.to_string().contains("holds no PEM certificate"), "{e}");
    }

    #[test]
    fn retry_after_forms() {
        let h = |v: &str| vec![("Retry-After".to_string(), v.to_string())];
        assert_eq!(retry_after(&h("7")), Some(Duration::from_secs(7)));
        assert_eq!(
            retry_after(&h("Wed, 21 Oct 2015 07:28:00 GMT")),
            Some(Duration::ZERO)
        );
        assert_eq!(retry_after(&h("soon")), None);
        assert_eq!(retry_after(&[]), None);
    }

    #[test]
    fn backoff_grows_and_is_capped() {
        assert!(RETRY_BACKOFF.delay(1) <= Duration::from_millis(250));
        assert!(RETRY_BACKOFF.delay(10) <= Duration::from_secs(8));
        assert!(RETRY_BACKOFF.delay(10) >= Duration::from_secs(4));
        let slow_down = Some(Duration::from_secs(600));
        assert_eq!(
            RETRY_BACKOFF.delay_or_retry_after(1, slow_down),
            MAX_RETRY_AFTER
        );
    }

    fn capability() -> HttpCapability {
        let policy = EgressPolicy::from_urls(["https://api.example.com"]).unwrap();
        HttpCapability::new(
            policy,
            &TlsOptions::default(),
            &Limits::default(),
            HttpCredentials::default(),
        )
        .unwrap()
    }

    fn request(url: &str, headers: Vec<(String, String)>) -> Request {
        Request {
            method: Method::Get,
            url: url.into(),
            headers,
            body: None,
            idempotent: true,
        }
    }

    #[tokio::test]
    async fn guest_may_not_set_authorization() {
        let http = capability();
        let r = request(
            "https://api.example.com/x",
            vec![("Authorization".into(), "Bearer stolen".into())],
        );
        assert!(matches!(
            http.vet(&r),
            Err(HttpError::ForbiddenHeader(h)) if h == "authorization"
        ));
        // Credentials and framing alike, in any case.
        for name in [
            "Cookie",
            "Content-Length",
            "transfer-encoding",
            "Connection",
        ] {
            let r = request("https://api.example.com/x", vec![(name.into(), "x".into())]);
            assert!(
                matches!(http.vet(&r), Err(HttpError::ForbiddenHeader(h)) if h == name.to_ascii_lowercase()),
                "{name} was allowed"
            );
        }
    }

    /// A path that climbs out of its segment (the parser would resolve it
    /// to another resource of the allowed origin) never reaches the network.
    #[tokio::test]
    async fn climbing_paths_are_refused_before_sending() {
        let http = capability();
        for url in [
            "https://api.example.com/v1/users/../groups/g",
            "https://api.example.com/v1/users/%2E%2e/groups/g",
            "https://api.example.com/v1/users/..%2fgroups%2fg",
            "https://api.example.com/v1/users/x%5c..",
        ] {
            let got = http.send(&request(url, vec![]), &AuthUse::None).await;
            assert!(
                matches!(&got, Err(HttpError::InvalidRequest(m)) if m.contains("URL path")),
                "{url}: {got:?}"
            );
        }
        assert_eq!(http.stats.requests.load(Ordering::Relaxed), 0);
    }

    #[tokio::test]
    async fn denied_urls_never_reach_the_network() {
        let http = capability();
        for url in [
            "https://169.254.169.254/latest/meta-data",
            "https://evil.example/",
            "http://api.example.com/",
            "https://[::ffff:127.0.0.1]/",
        ] {
            let got = http.send(&request(url, vec![]), &AuthUse::None).await;
            assert!(
                matches!(got, Err(HttpError::PolicyDenied(_))),
                "{url}: {got:?}"
            );
        }
        assert_eq!(http.stats.requests.load(Ordering::Relaxed), 0);
        assert_eq!(http.stats.denied.load(Ordering::Relaxed), 4);
    }

    /// A loopback server: `/echo/...` answers with its path, `/hang` never
    /// answers; it counts hanging connections opened and closed.
    async fn hanging_server() -> (String, Arc<AtomicU64>, Arc<AtomicU64>) {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let (opened, closed) = (Arc::new(AtomicU64::new(0)), Arc::new(AtomicU64::new(0)));
        let (o, c) = (opened.clone(), closed.clone());
        tokio::spawn(async move {
            loop {
                let Ok((mut conn, _)) = listener.accept().await else {
                    return;
                };
                let (o, c) = (o.clone(), c.clone());
                tokio::spawn(async move {
                    let mut head = Vec::new();
                    let mut buf = [0u8; 1024];
                    while !head.windows(4).any(|w| w == b"\r\n\r\n") {
                        match conn.read(&mut buf).await {
                            Ok(0) | Err(_) => return,
                            Ok(n) => head.extend_from_slice(&buf[..n]),
                        }
                    }
                    let line = String::from_utf8_lossy(&head)
                        .lines()
                        .next()
                        .unwrap_or("")
                        .to_string();
                    let path = line.split(' ').nth(1).unwrap_or("").to_string();
                    if path == "/hang" {
                        o.fetch_add(1, Ordering::SeqCst);
                        while !matches!(conn.read(&mut buf).await, Ok(0) | Err(_)) {}
                        c.fetch_add(1, Ordering::SeqCst);
                    } else {
                        let reply = format!(
                            "HTTP/1.1 200 OK\r\ncontent-length: {}\r\nconnection: close\r\nX-Request-Id: r1\r\n\r\n{path}",
                            path.len()
                        );
                        let _ = conn.write_all(reply.as_bytes()).await;
                    }
                });
            }
        });
        (base, opened, closed)
    }

    fn loopback_capability(base: &str) -> Arc<HttpCapability> {
        let policy = EgressPolicy::from_urls([base]).unwrap();
        Arc::new(
            HttpCapability::new(
                policy,
                &TlsOptions::default(),
                &Limits::default(),
                HttpCredentials::default(),
            )
            .unwrap(),
        )
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn detached_batches_answer_in_request_order() {
        let (base, _, _) = hanging_server().await;
        let http = loopback_capability(&base);
        let reqs: Vec<Request> = (0..40)
            .map(|i| request(&format!("{base}/echo/{i}"), vec![]))
            .collect();
        let got = http.send_batch_detached(0, reqs, AuthUse::None, None).await;
        assert_eq!(got.len(), 40);
        for (i, r) in got.into_iter().enumerate() {
            let r = r.unwrap_or_else(|e| panic!("request {i}: {e:?}"));
            assert_eq!(r.body, format!("/echo/{i}").into_bytes());
        }
        let one = http
            .send_batch_detached(
                0,
                vec![request(&format!("{base}/echo/x"), vec![])],
                AuthUse::None,
                None,
            )
            .await
            .remove(0)
            .unwrap();
        assert_eq!(one.body, b"/echo/x");
    }

    #[tokio::test]
    async fn the_guest_gets_end_to_end_headers_but_not_framing() {
        let (base, _, _) = hanging_server().await;
        let http = loopback_capability(&base);
        let got = http
            .send(&request(&format!("{base}/echo/h"), vec![]), &AuthUse::None)
            .await
            .unwrap();
        let names: Vec<&str> = got.headers.iter().map(|(k, _)| k.as_str()).collect();
        assert_eq!(names, ["x-request-id"], "headers handed to the guest");
        assert_eq!(got.body, b"/echo/h");
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn keep_headers_hands_over_only_the_named_ones() {
        let (base, _, _) = hanging_server().await;
        let http = loopback_capability(&base);
        let url = format!("{base}/echo/k");
        let names =
            |r: &Response| -> Vec<String> { r.headers.iter().map(|(k, _)| k.clone()).collect() };
        // Named in another case: kept.
        let keep = Some(KeepHeaders::new(vec!["X-Request-ID".into()]));
        let one = http
            .send_batch_detached(0, vec![request(&url, vec![])], AuthUse::None, keep.clone())
            .await
            .remove(0)
            .unwrap();
        assert_eq!(names(&one), ["x-request-id"]);
        let batch = http
            .send_batch_detached(0, vec![request(&url, vec![]); 3], AuthUse::None, keep)
            .await;
        for r in batch {
            assert_eq!(names(&r.unwrap()), ["x-request-id"]);
        }
        // Not named: dropped, the body untouched.
        let none = http
            .send_batch_detached(
                0,
                vec![request(&url, vec![])],
                AuthUse::None,
                Some(KeepHeaders::new(vec![])),
            )
            .await
            .remove(0)
            .unwrap();
        assert!(none.headers.is_empty(), "{:?}", none.headers);
        assert_eq!(none.body, b"/echo/k");
        // Errors pass through unchanged.
        let err = keep_headers(Err(HttpError::Timeout), Some(&KeepHeaders::new(vec![])));
        assert!(matches!(err, Err(HttpError::Timeout)), "{err:?}");
    }

    /// A request's headers are capped in total bytes, not only in count:
    /// one 1 MiB header is refused before anything leaves the host.
    #[tokio::test]
    async fn request_headers_are_capped_in_bytes() {
        let http = capability();
        let cap = Limits::default().request_header_bytes;
        let fat = request(
            "https://api.example.com/x",
            vec![("x-fat".into(), "a".repeat(1 << 20))],
        );
        match http.vet(&fat) {
            Err(HttpError::InvalidRequest(m)) => assert_eq!(
                m,
                format!(
                    "headers total {} bytes, over the cap of {cap}",
                    5 + (1 << 20)
                )
            ),
            other => panic!("expected InvalidRequest, got {other:?}"),
        }
        // Many small ones add up the same way.
        let many = request(
            "https://api.example.com/x",
            (0..60)
                .map(|i| (format!("x-h{i}"), "b".repeat(2 << 10)))
                .collect(),
        );
        assert!(
            matches!(http.vet(&many), Err(HttpError::InvalidRequest(m)) if m.contains("over the cap"))
        );
        let fine = request(
            "https://api.example.com/x",
            vec![("x-ok".into(), "c".repeat(cap - 4))],
        );
        assert!(http.vet(&fine).is_ok());
    }

    /// A loopback server answering `/sized/<n>` with `n` bytes and a
    /// content-length, and `/chunked/<n>` with `n` bytes in 64 KiB chunks
    /// and no length.
    async fn body_server() -> String {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(async move {
            loop {
                let Ok((mut conn, _)) = listener.accept().await else {
                    return;
                };
                tokio::spawn(async move {
                    let mut head = Vec::new();
                    let mut buf = [0u8; 1024];
                    while !head.windows(4).any(|w| w == b"\r\n\r\n") {
                        match conn.read(&mut buf).await {
                            Ok(0) | Err(_) => return,
                            Ok(n) => head.extend_from_slice(&buf[..n]),
                        }
                    }
                    let line = String::from_utf8_lossy(&head)
                        .lines()
                        .next()
                        .unwrap_or("")
                        .to_string();
                    let path = line.split(' ').nth(1).unwrap_or("").to_string();
                    let mut parts = path.trim_start_matches('/').split('/');
                    let kind = parts.next().unwrap_or("").to_string();
                    let n: usize = parts.next().and_then(|n| n.parse().ok()).unwrap_or(0);
                    if kind == "sized" {
                        let head = format!(
                            "HTTP/1.1 200 OK\r\ncontent-length: {n}\r\nconnection: close\r\n\r\n"
                        );
                        let _ = conn.write_all(head.as_bytes()).await;
                        let _ = conn.write_all(&vec![b'x'; n]).await;
                    } else {
                        let head = "HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\nconnection: close\r\n\r\n";
                        let _ = conn.write_all(head.as_bytes()).await;
                        let mut left = n;
                        while left > 0 {
                            let k = left.min(64 << 10);
                            let _ = conn.write_all(format!("{k:x}\r\n").as_bytes()).await;
                            let _ = conn.write_all(&vec![b'y'; k]).await;
                            let _ = conn.write_all(b"\r\n").await;
                            left -= k;
                        }
                        let _ = conn.write_all(b"0\r\n\r\n").await;
                    }
                });
            }
        });
        base
    }

    /// The bodies of one batch share one budget: requests are answered until
    /// it is spent, the one that would go over gets `body-too-large` naming
    /// it, and the next batch starts with the whole budget again.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_batch_shares_one_response_budget() {
        let base = body_server().await;
        let limits = Limits {
            response_bytes_per_call: 1 << 20,
            ..Limits::default()
        };
        let policy = EgressPolicy::from_urls([base.as_str()]).unwrap();
        let http = Arc::new(
            HttpCapability::new(
                policy,
                &TlsOptions::default(),
                &limits,
                HttpCredentials::default(),
            )
            .unwrap(),
        );
        for kind in ["sized", "chunked"] {
            let reqs: Vec<Request> = (0..6)
                .map(|_| request(&format!("{base}/{kind}/{}", 300 << 10), vec![]))
                .collect();
            for round in 0..2 {
                let got = http
                    .send_batch_detached(0, reqs.clone(), AuthUse::None, None)
                    .await;
                let ok = got.iter().filter(|r| r.is_ok()).count();
                let over = got
                    .iter()
                    .filter(|r| matches!(r, Err(HttpError::BodyTooLarge(n)) if *n == 1 << 20))
                    .count();
                // 300 KiB bodies in a 1 MiB budget: never four. A chunked
                // body reserves its buffer's next size before reading into
                // it, so bodies read side by side may hold enough of the
                // budget that only one completes; at least one always does.
                assert!((1..=3).contains(&ok), "{kind} round {round}: {ok} answered");
                assert_eq!(ok + over, 6, "{kind} round {round}: {got:?}");
                for r in got.into_iter().flatten() {
                    assert_eq!(r.body.len(), 300 << 10);
                }
            }
        }
        // One request at a time, each gets the whole budget.
        for _ in 0..4 {
            let one = http
                .send_batch_detached(
                    0,
                    vec![request(&format!("{base}/sized/{}", 900 << 10), vec![])],
                    AuthUse::None,
                    None,
                )
                .await
                .remove(0)
                .unwrap();
            assert_eq!(one.body.len(), 900 << 10);
        }
    }

    /// A body dropped before delivery gives its bytes back.
    #[test]
    fn held_bytes_go_back_unless_kept() {
        let budget = ResponseBudget::new(100);
        let mut a = Held::new(Some(&budget));
        assert!(a.grow(60).is_ok());
        let mut b = Held::new(Some(&budget));
        assert!(b.grow(50).is_err(), "over the budget");
        assert!(b.grow(40).is_ok());
        assert_eq!(budget.used(), 100);
        drop(b);
        assert_eq!(budget.used(), 60);
        a.keep();
        assert_eq!(budget.used(), 60, "a delivered body keeps its bytes");
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn dropping_a_detached_batch_aborts_its_requests() {
        let (base, opened, closed) = hanging_server().await;
        let http = loopback_capability(&base);
        let reqs: Vec<Request> = (0..3)
            .map(|_| request(&format!("{base}/hang"), vec![]))
            .collect();
        let batch = http.send_batch_detached(0, reqs, AuthUse::None, None);
        // The call's wall-clock limit firing is this drop.
        let waited = tokio::time::timeout(Duration::from_secs(10), async {
            tokio::pin!(batch);
            while opened.load(Ordering::SeqCst) < 3 {
                tokio::select! {
                    _ = &mut batch => panic!("a hanging request was answered"),
                    _ = tokio::time::sleep(Duration::from_millis(10)) => {}
                }
            }
        })
        .await;
        assert!(waited.is_ok(), "the server never saw the three requests");
        // Left running, the requests would hold their connections for the
        // 60 s attempt timeout; aborted, they close them at once.
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        while closed.load(Ordering::SeqCst) < 3 && std::time::Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        assert_eq!(
            closed.load(Ordering::SeqCst),
            3,
            "requests outlived their batch"
        );
    }
}
