//! A native stand-in for `connector-host`, reusable by tests, the
//! native-vs-wasm benchmark and `examples/native_sync.rs`.
//!
//! - [`Transport`]: blocking HTTP with the host's duties: the OAuth2
//!   client-credentials exchange (HTTP Basic), bearer header, one refresh on a
//!   401, retries of 429/5xx/connection failures (idempotent requests only,
//!   honouring `Retry-After`, capped at 250 ms to keep tests fast), bounded
//!   concurrency for `send_batch`, and request accounting.
//! - [`Driver`]: runs a sync the way the host does: every `list-resources`
//!   task, then every `list-entitlements`, then every `list-grants`, one call
//!   at a time or (`run_with`) several at once; a fresh call context per
//!   task; `next-page-token` re-queues the task (it must
//!   change and stay under 64 KiB); follow-ups join the queue of their phase;
//!   every uploaded resource of a type without `skip-entitlements-and-grants`
//!   gets one entitlements and one grants task, except the tasks its
//!   `put_resources_with` skipped. Uploads are validated like the host does
//!   (an entitlement's resource and a grant's entitlement and principal must
//!   already be stored; entitlements only in the entitlements phase or with
//!   their resources; grants only in the grants phase) and stored under
//!   Baton's derived IDs.
#![allow(dead_code)]

pub mod expect;

use std::collections::{BTreeMap, VecDeque};
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use base64::Engine as _;
use connector_sdk::bindings::idgov::connector::upload::UploadError;
use connector_sdk::http::{HttpError, Method, Request, Response};
use connector_sdk::{
    Auth, Config, Connector, ConnectorError, Context, Entitlement, Grant, Host, Level, Resource,
    SkipTasks, SyncOp, SyncTask,
};
use pingone_connector::PingOne;

/// What the transport did, for request-count assertions and benchmarks.
#[derive(Debug, Default, Clone)]
pub struct Counters {
    /// Requests the guest asked for (`send` + every `send_batch` element).
    pub logical: u64,
    /// HTTP attempts on the API host, retries included.
    pub attempts: u64,
    pub retries: u64,
    pub token_requests: u64,
    pub refreshes_on_401: u64,
    /// Largest `send_batch`.
    pub max_batch: usize,
    /// Logical requests per "METHOD path-with-ids-replaced".
    pub by_route: BTreeMap<String, u64>,
}

pub struct Transport {
    client: reqwest::blocking::Client,
    token_url: String,
    client_id: String,
    client_secret: String,
    token: Mutex<Option<(String, Instant)>>,
    pub concurrency: usize,
    pub max_attempts: u32,
    logical: AtomicU64,
    attempts: AtomicU64,
    retries: AtomicU64,
    token_requests: AtomicU64,
    refreshes: AtomicU64,
    max_batch: AtomicUsize,
    routes: Mutex<BTreeMap<String, u64>>,
}

impl Transport {
    pub fn new(token_url: &str, client_id: &str, client_secret: &str) -> Transport {
        Transport {
            client: reqwest::blocking::Client::builder()
                .timeout(Duration::from_secs(30))
                .pool_max_idle_per_host(32)
                .build()
                .expect("http client"),
            token_url: token_url.into(),
            client_id: client_id.into(),
            client_secret: client_secret.into(),
            token: Mutex::new(None),
            concurrency: 8,
            max_attempts: 10,
            logical: AtomicU64::new(0),
            attempts: AtomicU64::new(0),
            retries: AtomicU64::new(0),
            token_requests: AtomicU64::new(0),
            refreshes: AtomicU64::new(0),
            max_batch: AtomicUsize::new(0),
            routes: Mutex::new(BTreeMap::new()),
        }
    }

    pub fn counters(&self) -> Counters {
        Counters {
            logical: self.logical.load(Ordering::Relaxed),
            attempts: self.attempts.load(Ordering::Relaxed),
            retries: self.retries.load(Ordering::Relaxed),
            token_requests: self.token_requests.load(Ordering::Relaxed),
            refreshes_on_401: self.refreshes.load(Ordering::Relaxed),
            max_batch: self.max_batch.load(Ordering::Relaxed),
            by_route: self.routes.lock().unwrap().clone(),
        }
    }

    /// A cached token, refreshed 20% before it expires (or when `force`).
    fn token(&self, force: bool, stale: Option<&str>) -> Result<String, HttpError> {
        let mut slot = self.token.lock().unwrap();
        if let Some((t, exp)) = slot.as_ref() {
            let is_stale = stale.is_some_and(|s| s == t);
            if !(force && is_stale) && Instant::now() < *exp {
                return Ok(t.clone());
            }
        }
        let basic = base64::engine::general_purpose::STANDARD.encode(format!(
            "{}:{}",
            form(&self.client_id),
            form(&self.client_secret)
        ));
        let mut last = String::new();
        for attempt in 0..5u32 {
            self.token_requests.fetch_add(1, Ordering::Relaxed);
            let r = self
                .client
                .post(&self.token_url)
                .header("authorization", format!("Basic {basic}"))
                .header("content-type", "application/x-www-form-urlencoded")
                .body("grant_type=client_credentials")
                .send();
            match r {
                Ok(resp) => {
                    let status = resp.status().as_u16();
                    let body = resp.text().unwrap_or_default();
                    if status == 200 {
                        let v: serde_json::Value = serde_json::from_str(&body)
                            .map_err(|e| HttpError::Credential(format!("token response: {e}")))?;
                        let tok = v["access_token"].as_str().unwrap_or_default().to_string();
                        let life = v["expires_in"].as_u64().unwrap_or(3600);
                        let exp = Instant::now() + Duration::from_millis(life * 800);
                        *slot = Some((tok.clone(), exp));
                        return Ok(tok);
                    }
                    if status == 429 || status >= 500 {
                        last = format!("token endpoint answered {status}: {body}");
                    } else {
                        return Err(HttpError::Credential(format!(
                            "token endpoint answered {status}: {body}"
                        )));
                    }
                }
                Err(e) => last = format!("token endpoint: {e}"),
            }
            std::thread::sleep(Duration::from_millis(20 << attempt));
        }
        Err(HttpError::Credential(last))
    }

    fn count_route(&self, req: &Request) {
        let path = req.url.split('?').next().unwrap_or("");
        let path = path.split("/v1").nth(1).unwrap_or(path);
        let shape: Vec<&str> = path
            .split('/')
            .map(|seg| {
                if seg.len() == 36 && seg.matches('-').count() == 4 {
                    "{id}"
                } else {
                    seg
                }
            })
            .collect();
        let filter = if req.url.contains("memberOfGroups%5Bid") {
            "?filter=memberOfGroups"
        } else if req.url.contains("filter=type") {
            "?filter=type"
        } else if req.url.contains("/users?filter=") {
            "?filter=userFilter"
        } else {
            ""
        };
        let key = format!("{:?} {}{}", req.method, shape.join("/"), filter);
        *self.routes.lock().unwrap().entry(key).or_insert(0) += 1;
    }

    /// One logical request with the host's retry and refresh rules.
    pub fn execute(&self, req: &Request, auth: &Auth) -> Result<Response, HttpError> {
        self.logical.fetch_add(1, Ordering::Relaxed);
        self.count_route(req);
        let mut refreshed = false;
        let mut token = match auth {
            Auth::OAuth2 => Some(self.token(false, None)?),
            Auth::None => None,
            Auth::SecretField(f) => {
                return Err(HttpError::Credential(format!(
                    "no secret field {f} in tests"
                )));
            }
        };
        let mut attempt = 0u32;
        loop {
            attempt += 1;
            self.attempts.fetch_add(1, Ordering::Relaxed);
            let method = match req.method {
                Method::Get => reqwest::Method::GET,
                Method::Head => reqwest::Method::HEAD,
                Method::Post => reqwest::Method::POST,
                Method::Put => reqwest::Method::PUT,
                Method::Patch => reqwest::Method::PATCH,
                Method::Delete => reqwest::Method::DELETE,
            };
            let mut b = self.client.request(method, &req.url);
            for (k, v) in &req.headers {
                if k.eq_ignore_ascii_case("authorization") {
                    return Err(HttpError::ForbiddenHeader(k.clone()));
                }
                b = b.header(k, v);
            }
            if let Some(t) = &token {
                b = b.header("authorization", format!("Bearer {t}"));
            }
            if let Some(body) = &req.body {
                b = b.body(body.clone());
            }
            let retry = |why: String| -> Option<String> { Some(why) };
            let outcome: Result<Response, Option<String>> = match b.send() {
                Ok(resp) => {
                    let status = resp.status().as_u16();
                    let headers: Vec<(String, String)> = resp
                        .headers()
                        .iter()
                        .map(|(k, v)| (k.to_string(), v.to_str().unwrap_or("").to_string()))
                        .collect();
                    match resp.bytes() {
                        Ok(body) => Ok(Response {
                            status,
                            headers,
                            body: body.to_vec(),
                        }),
                        Err(e) => Err(retry(format!("reading the body: {e}"))),
                    }
                }
                Err(e) => Err(retry(format!("{e}"))),
            };
            match outcome {
                Ok(resp) if resp.status == 401 && token.is_some() && !refreshed => {
                    refreshed = true;
                    self.refreshes.fetch_add(1, Ordering::Relaxed);
                    token = Some(self.token(true, token.as_deref())?);
                }
                Ok(resp) => {
                    let transient = resp.status == 429 || (resp.status >= 500 && req.idempotent);
                    if transient && attempt < self.max_attempts {
                        self.retries.fetch_add(1, Ordering::Relaxed);
                        let wait = resp
                            .header("retry-after")
                            .and_then(|v| v.trim().parse::<u64>().ok())
                            .map(|s| Duration::from_millis((s * 1000).min(250)))
                            .unwrap_or(Duration::from_millis(10 << attempt.min(6)));
                        std::thread::sleep(wait);
                        continue;
                    }
                    return Ok(resp);
                }
                Err(why) => {
                    if req.idempotent && attempt < self.max_attempts {
                        self.retries.fetch_add(1, Ordering::Relaxed);
                        std::thread::sleep(Duration::from_millis(10 << attempt.min(6)));
                        continue;
                    }
                    return Err(HttpError::Connection(why.unwrap_or_default()));
                }
            }
        }
    }

    pub fn execute_batch(&self, reqs: &[Request], auth: &Auth) -> Vec<Result<Response, HttpError>> {
        self.max_batch.fetch_max(reqs.len(), Ordering::Relaxed);
        if reqs.len() <= 1 {
            return reqs.iter().map(|r| self.execute(r, auth)).collect();
        }
        let results: Vec<Mutex<Option<Result<Response, HttpError>>>> =
            reqs.iter().map(|_| Mutex::new(None)).collect();
        let next = AtomicUsize::new(0);
        std::thread::scope(|s| {
            for _ in 0..self.concurrency.min(reqs.len()) {
                s.spawn(|| {
                    loop {
                        let i = next.fetch_add(1, Ordering::Relaxed);
                        if i >= reqs.len() {
                            break;
                        }
                        let r = self.execute(&reqs[i], auth);
                        *results[i].lock().unwrap() = Some(r);
                    }
                });
            }
        });
        results
            .into_iter()
            .map(|m| m.into_inner().unwrap().unwrap_or(Err(HttpError::Timeout)))
            .collect()
    }
}

/// RFC 6749 §2.3.1: client credentials are form-encoded inside Basic.
fn form(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// One `put_resources_with`: the resource ids, their entitlements, what
/// they skip.
pub type ListedPut = (Vec<String>, Vec<Entitlement>, SkipTasks);

/// What one call uploaded and logged.
pub struct CallOutput {
    pub outcome: connector_sdk::PageOutcome,
    pub resources: Vec<Resource>,
    pub entitlements: Vec<Entitlement>,
    /// `put_resources_with` calls (the resources are in `resources` too).
    pub listed: Vec<ListedPut>,
    pub grants: Vec<Grant>,
    pub logs: Vec<(Level, String)>,
}

/// One call's view of the host: the shared transport plus this call's uploads.
pub struct CallHost<'a> {
    pub transport: &'a Transport,
    pub resources: std::cell::RefCell<Vec<Resource>>,
    pub entitlements: std::cell::RefCell<Vec<Entitlement>>,
    pub listed: std::cell::RefCell<Vec<ListedPut>>,
    pub grants: std::cell::RefCell<Vec<Grant>>,
    /// Kept as sets, as the host keeps them, until the call has returned.
    pub grant_sets: std::cell::RefCell<Vec<connector_sdk::GrantSet>>,
    pub logs: std::cell::RefCell<Vec<(Level, String)>>,
    /// This thread's CPU inside the transport (HTTP is the host's work).
    pub transport_cpu: std::cell::Cell<Duration>,
}

impl<'a> CallHost<'a> {
    pub fn new(transport: &'a Transport) -> Self {
        CallHost {
            transport,
            resources: Default::default(),
            entitlements: Default::default(),
            listed: Default::default(),
            grants: Default::default(),
            grant_sets: Default::default(),
            logs: Default::default(),
            transport_cpu: Default::default(),
        }
    }

    fn metered<T>(&self, f: impl FnOnce() -> T) -> T {
        let started = thread_cpu_time();
        let out = f();
        let spent = thread_cpu_time().saturating_sub(started);
        self.transport_cpu.set(self.transport_cpu.get() + spent);
        out
    }
}

impl Host for CallHost<'_> {
    fn send(&self, req: &Request, auth: &Auth) -> Result<Response, HttpError> {
        self.metered(|| self.transport.execute(req, auth))
    }

    fn send_batch(&self, reqs: &[Request], auth: &Auth) -> Vec<Result<Response, HttpError>> {
        assert!(
            reqs.len() <= 256,
            "send_batch of {} requests exceeds the host's 256",
            reqs.len()
        );
        self.metered(|| self.transport.execute_batch(reqs, auth))
    }

    fn put_resources(&self, items: &[Resource]) -> Result<(), UploadError> {
        self.resources.borrow_mut().extend_from_slice(items);
        Ok(())
    }

    fn put_entitlements(&self, items: &[Entitlement]) -> Result<(), UploadError> {
        self.entitlements.borrow_mut().extend_from_slice(items);
        Ok(())
    }

    fn put_grants(&self, items: &[Grant]) -> Result<(), UploadError> {
        self.grants.borrow_mut().extend_from_slice(items);
        Ok(())
    }

    fn put_grant_sets(&self, items: &[connector_sdk::GrantSet]) -> Result<(), UploadError> {
        self.grant_sets.borrow_mut().extend_from_slice(items);
        Ok(())
    }

    fn put_resources_with(
        &self,
        items: &[Resource],
        entitlements: &[Entitlement],
        skip: SkipTasks,
    ) -> Result<(), UploadError> {
        // Checked after the call, as the host's checks are not connector CPU.
        self.resources.borrow_mut().extend_from_slice(items);
        let ids = items.iter().map(|r| rid(&r.id)).collect();
        self.listed
            .borrow_mut()
            .push((ids, entitlements.to_vec(), skip));
        Ok(())
    }

    fn log(&self, level: Level, message: &str) {
        self.logs.borrow_mut().push((level, message.to_string()));
    }
}

pub fn rid(r: &connector_sdk::ResourceId) -> String {
    format!("{}:{}", r.resource_type, r.resource)
}

pub fn entitlement_id(e: &Entitlement) -> String {
    format!("{}:{}", rid(&e.resource), e.slug)
}

pub fn grant_entitlement_id(g: &Grant) -> String {
    format!("{}:{}", rid(&g.entitlement_resource), g.entitlement_slug)
}

pub fn grant_id(g: &Grant) -> String {
    format!("{}:{}", grant_entitlement_id(g), rid(&g.principal))
}

/// Everything a sync produced, keyed by Baton ID.
#[derive(Default, Debug)]
pub struct Store {
    pub resources: BTreeMap<String, Resource>,
    pub entitlements: BTreeMap<String, Entitlement>,
    pub grants: BTreeMap<String, Grant>,
    pub duplicates: Vec<String>,
    pub warnings: Vec<String>,
}

#[derive(Debug, Default, Clone)]
pub struct Report {
    pub calls: u64,
    pub calls_by_phase: [u64; 3],
    pub retried_calls: u64,
    pub max_token_bytes: usize,
    pub max_records_per_call: usize,
    pub elapsed: Duration,
    /// Time spent inside the connector's `sync` calls (CPU of the guest
    /// logic plus the HTTP it waited for).
    pub in_calls: Duration,
    /// CPU of the calling thread inside the connector's `sync` calls, minus
    /// its CPU inside the transport: the connector's logic and its record
    /// handoff, measured as the host measures a wasm call (whose HTTP work
    /// is the host's).
    pub logic_cpu: Duration,
}

impl Report {
    /// What one call counted into its own report (on a worker thread).
    fn add_call(&mut self, call: &Report) {
        self.calls += call.calls;
        self.retried_calls += call.retried_calls;
        self.in_calls += call.in_calls;
        self.logic_cpu += call.logic_cpu;
    }
}

/// CPU time consumed so far by the calling thread (the clock the host's
/// `cpu_clock` reads around wasm calls).
pub fn thread_cpu_time() -> Duration {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid, writable timespec.
    if unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) } != 0 {
        return Duration::ZERO;
    }
    Duration::new(ts.tv_sec as u64, ts.tv_nsec as u32)
}

pub struct Driver<'a> {
    pub transport: &'a Transport,
    pub config: Vec<(String, String)>,
    /// Retries of a call that failed with `unavailable`.
    pub call_retries: u32,
}

fn phase(op: SyncOp) -> usize {
    match op {
        SyncOp::ListResources => 0,
        SyncOp::ListEntitlements => 1,
        SyncOp::ListGrants => 2,
    }
}

impl<'a> Driver<'a> {
    pub fn new(transport: &'a Transport, config: Vec<(String, String)>) -> Self {
        Driver {
            transport,
            config,
            call_retries: 5,
        }
    }

    /// One call at a time, on this thread.
    pub fn run(&self) -> Result<(Store, Report), String> {
        self.run_with(1)
    }

    /// Up to `concurrency` calls at once, as the host runs them (a pool of
    /// that many worker threads, each call on one; every outcome is stored
    /// on this thread, in the order the calls finish). With 1, every call
    /// runs on this thread.
    pub fn run_with(&self, concurrency: usize) -> Result<(Store, Report), String> {
        type Done = (SyncTask, Result<CallOutput, String>, Report);
        let (task_tx, task_rx) = std::sync::mpsc::channel::<SyncTask>();
        let task_rx = Mutex::new(task_rx);
        let (done_tx, done_rx) = std::sync::mpsc::channel::<Done>();
        std::thread::scope(|s| {
            let workers = if concurrency > 1 { concurrency } else { 0 };
            for _ in 0..workers {
                let (task_rx, done_tx) = (&task_rx, done_tx.clone());
                s.spawn(move || {
                    loop {
                        let next = task_rx.lock().unwrap().recv();
                        let Ok(task) = next else { break };
                        let mut report = Report::default();
                        // A panic comes back as this call's error: the
                        // driver would otherwise wait for it for ever.
                        let out = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                            self.call(&task, &mut report)
                        }))
                        .unwrap_or_else(|_| Err(format!("{task:?} panicked")));
                        if done_tx.send((task, out, report)).is_err() {
                            break;
                        }
                    }
                });
            }
            drop(done_tx);
            // Dropping `task_tx` when this returns stops the workers.
            self.drive(concurrency.max(1), task_tx, &done_rx)
        })
    }

    fn drive(
        &self,
        concurrency: usize,
        task_tx: std::sync::mpsc::Sender<SyncTask>,
        done_rx: &std::sync::mpsc::Receiver<(SyncTask, Result<CallOutput, String>, Report)>,
    ) -> Result<(Store, Report), String> {
        let started = Instant::now();
        let meta = PingOne::metadata();
        let skip: BTreeMap<String, bool> = meta
            .resource_types
            .iter()
            .map(|t| (t.id.clone(), t.skip_entitlements_and_grants))
            .collect();
        let mut store = Store::default();
        let mut report = Report::default();
        let mut skipped: BTreeMap<String, SkipTasks> = BTreeMap::new();
        let mut queues: [VecDeque<SyncTask>; 3] = Default::default();
        for t in &meta.resource_types {
            queues[0].push_back(SyncTask {
                op: SyncOp::ListResources,
                resource_type: t.id.clone(),
                resource: None,
                page_token: None,
            });
        }
        for current in 0..3 {
            let mut in_flight = 0;
            loop {
                let (task, out) = if concurrency == 1 {
                    let Some(task) = queues[current].pop_front() else {
                        break;
                    };
                    let out = self.call(&task, &mut report)?;
                    (task, out)
                } else {
                    while in_flight < concurrency {
                        let Some(task) = queues[current].pop_front() else {
                            break;
                        };
                        task_tx
                            .send(task)
                            .map_err(|_| "the workers stopped".to_string())?;
                        in_flight += 1;
                    }
                    if in_flight == 0 {
                        break;
                    }
                    let (task, out, call_report) = done_rx
                        .recv()
                        .map_err(|_| "the workers stopped".to_string())?;
                    in_flight -= 1;
                    report.add_call(&call_report);
                    (task, out?)
                };
                report.calls_by_phase[current] += 1;
                // Store uploads (validated).
                let records = out.resources.len()
                    + out.entitlements.len()
                    + out.listed.iter().map(|(_, e, _)| e.len()).sum::<usize>()
                    + out.grants.len();
                report.max_records_per_call = report.max_records_per_call.max(records);
                if records > 10_000 {
                    return Err(format!("{task:?} uploaded {records} records in one call"));
                }
                // As the host checks: each put takes only its own resources'
                // entitlements, and a resource skips a task only if every
                // put of it skipped it.
                let mut entitlements_with = Vec::new();
                let mut listed_ids = std::collections::HashSet::new();
                for (ids, entitlements, skip) in out.listed {
                    let own: std::collections::HashSet<&String> = ids.iter().collect();
                    if let Some(e) = entitlements
                        .iter()
                        .find(|e| !own.contains(&rid(&e.resource)))
                    {
                        return Err(format!(
                            "entitlement {} was put with resources it does not belong to",
                            entitlement_id(e)
                        ));
                    }
                    entitlements_with.extend(entitlements);
                    for id in ids {
                        let merged = skipped.entry(id.clone()).or_insert(skip);
                        merged.list_entitlements &= skip.list_entitlements;
                        merged.list_grants &= skip.list_grants;
                        listed_ids.insert(id);
                    }
                }
                for r in &out.resources {
                    let id = rid(&r.id);
                    if !listed_ids.contains(&id) {
                        skipped.insert(id, SkipTasks::default());
                    }
                }
                for r in out.resources {
                    if current != 0 {
                        return Err(format!(
                            "resource {} uploaded outside the resources phase",
                            rid(&r.id)
                        ));
                    }
                    let id = rid(&r.id);
                    if store.resources.insert(id.clone(), r).is_some() {
                        store.duplicates.push(id);
                    }
                }
                let with = entitlements_with.into_iter().map(|e| (e, true));
                for (e, with_resource) in
                    out.entitlements.into_iter().map(|e| (e, false)).chain(with)
                {
                    if current != 1 && !with_resource {
                        return Err(format!(
                            "entitlement {} uploaded outside the entitlements phase",
                            entitlement_id(&e)
                        ));
                    }
                    let id = entitlement_id(&e);
                    if !store.resources.contains_key(&rid(&e.resource)) {
                        return Err(format!("entitlement {id}: its resource is not stored"));
                    }
                    if store.entitlements.insert(id.clone(), e).is_some() {
                        store.duplicates.push(id);
                    }
                }
                for g in out.grants {
                    let id = grant_id(&g);
                    if current != 2 {
                        return Err(format!("grant {id} uploaded outside the grants phase"));
                    }
                    if !store.entitlements.contains_key(&grant_entitlement_id(&g)) {
                        return Err(format!("grant {id}: its entitlement is not stored"));
                    }
                    if !store.resources.contains_key(&rid(&g.principal)) {
                        return Err(format!("grant {id}: its principal is not stored"));
                    }
                    if let Some(x) = &g.expansion {
                        for e in &x.entitlement_ids {
                            if !e.starts_with(&format!("{}:", rid(&g.principal))) {
                                return Err(format!(
                                    "grant {id}: expansion source {e} is not on the principal"
                                ));
                            }
                        }
                    }
                    if store.grants.insert(id.clone(), g).is_some() {
                        store.duplicates.push(id);
                    }
                }
                for (level, msg) in out.logs {
                    if matches!(level, Level::Warn | Level::Error) {
                        store.warnings.push(msg);
                    }
                }
                if let Some(next) = out.outcome.next_page_token {
                    if Some(&next) == task.page_token.as_ref() {
                        return Err(format!("{task:?} returned its own token as the next one"));
                    }
                    report.max_token_bytes = report.max_token_bytes.max(next.len());
                    if next.len() > 64 << 10 {
                        return Err(format!("token of {} bytes exceeds 64 KiB", next.len()));
                    }
                    queues[current].push_back(SyncTask {
                        page_token: Some(next),
                        ..task.clone()
                    });
                }
                for f in out.outcome.follow_ups {
                    let p = phase(f.op);
                    if p < current {
                        return Err(format!("follow-up {f:?} for a phase that already ended"));
                    }
                    if let Some(t) = &f.page_token {
                        report.max_token_bytes = report.max_token_bytes.max(t.len());
                        if t.len() > 64 << 10 {
                            return Err(format!(
                                "follow-up token of {} bytes exceeds 64 KiB",
                                t.len()
                            ));
                        }
                    }
                    queues[p].push_back(f);
                }
            }
            if current == 0 {
                for r in store.resources.values() {
                    if skip.get(&r.id.resource_type).copied().unwrap_or(false) {
                        continue;
                    }
                    let without = skipped.get(&rid(&r.id)).copied().unwrap_or_default();
                    for (q, op, skip) in [
                        (1, SyncOp::ListEntitlements, without.list_entitlements),
                        (2, SyncOp::ListGrants, without.list_grants),
                    ] {
                        if skip {
                            continue;
                        }
                        queues[q].push_back(SyncTask {
                            op,
                            resource_type: r.id.resource_type.clone(),
                            resource: Some(r.id.clone()),
                            page_token: None,
                        });
                    }
                }
            }
        }
        report.elapsed = started.elapsed();
        Ok((store, report))
    }

    fn call(&self, task: &SyncTask, report: &mut Report) -> Result<CallOutput, String> {
        let mut attempt = 0;
        loop {
            attempt += 1;
            report.calls += 1;
            let config = Config::new(self.config.clone());
            let host = CallHost::new(self.transport);
            let cx = Context {
                host: &host,
                config: &config,
            };
            let t0 = Instant::now();
            let cpu0 = thread_cpu_time();
            let out = PingOne::sync(&cx, task.clone());
            let cpu = thread_cpu_time().saturating_sub(cpu0);
            report.logic_cpu += cpu.saturating_sub(host.transport_cpu.get());
            report.in_calls += t0.elapsed();
            match out {
                Ok(outcome) => {
                    // Sets expanded after the call, as the host expands them.
                    let mut grants = connector_sdk::grant_set_grants(&host.grant_sets.into_inner());
                    grants.extend(host.grants.into_inner());
                    return Ok(CallOutput {
                        outcome,
                        resources: host.resources.into_inner(),
                        entitlements: host.entitlements.into_inner(),
                        listed: host.listed.into_inner(),
                        grants,
                        logs: host.logs.into_inner(),
                    });
                }
                Err(ConnectorError::Unavailable(m)) if attempt <= self.call_retries => {
                    report.retried_calls += 1;
                    eprintln!("retrying {:?} {} after: {m}", task.op, task.resource_type);
                    std::thread::sleep(Duration::from_millis(50 * attempt as u64));
                }
                // Like the host: a resource that vanished after a later
                // phase was queued is skipped with a warning.
                Err(ConnectorError::NotFound(m)) if task.op != SyncOp::ListResources => {
                    return Ok(CallOutput {
                        outcome: connector_sdk::PageOutcome {
                            next_page_token: None,
                            follow_ups: Vec::new(),
                        },
                        resources: Vec::new(),
                        entitlements: Vec::new(),
                        listed: Vec::new(),
                        grants: Vec::new(),
                        logs: vec![(Level::Warn, format!("skipped, not found: {m}"))],
                    });
                }
                Err(e) => {
                    return Err(format!(
                        "{:?} {} failed: {}",
                        task.op,
                        task.resource_type,
                        e.describe()
                    ));
                }
            }
        }
    }
}

/// The connector config for a simulator.
pub fn sim_config(api: &str, auth: &str, env: &str, client_id: &str) -> Vec<(String, String)> {
    vec![
        ("pingone-client-id".into(), client_id.into()),
        ("pingone-environment-id".into(), env.into()),
        ("pingone-region".into(), "NA".into()),
        ("pingone-api-url".into(), api.into()),
        ("pingone-auth-url".into(), auth.into()),
    ]
}
