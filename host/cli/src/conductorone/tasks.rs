//! One ConductorOne task, run to its FinishTask.
//!
//! Decisions (Baton's SDK is the contract; see the module docs of
//! `conductorone` for where we differ):
//! - Status codes are Baton's, since ConductorOne's handling of them is
//!   unknown beyond what the SDK sends: a malformed task (a grant without
//!   its principal, a delete without a resource id) is finished as
//!   `UNKNOWN`, non-retryable, without calling the connector, as the SDK
//!   finishes its plain "malformed task" errors; an unsupported task type
//!   as `UNKNOWN`, retryable ("unsupported task type", naming it); a
//!   connector's failure with the connector's own code (provisioning:
//!   non-retryable; sync: retryable); a stopped sync as `CANCELLED`; a
//!   host-side failure that is no gRPC status (copying the c1z) as
//!   `UNKNOWN`.
//! - Deliberate differences: a sync past its deadline is
//!   `DEADLINE_EXCEEDED` and one that reached a limit `FAILED_PRECONDITION`
//!   (see the sync limits); a create-account task this host cannot serve
//!   (SSO, no usable encryption key, a password no one can make) is refused
//!   with `INVALID_ARGUMENT`, non-retryable, before the connector is
//!   called. In Baton those checks sit in the connector's credential and
//!   encryption layers, which answer `INVALID_ARGUMENT` for such requests
//!   (its password generator's length errors are plain and would arrive as
//!   `UNKNOWN`; they are the same kind of refusal, so they get one code).
//! - Provisioning is refused with `FAILED_PRECONDITION` unless the host runs
//!   with `--provisioning`, before anything reaches the connector.
//! - A sync heartbeats from before its first connector call to just before
//!   its FinishTask; a heartbeat answer of `cancelled`, nine failed
//!   heartbeats in a row, or host shutdown stop the sync at its next
//!   checkpoint. Nothing is uploaded then, and the next sync task resumes
//!   from that checkpoint instead of starting over. A cancel or lost
//!   heartbeats during the upload end it too (`CANCELLED`); a shutdown lets
//!   it finish within the drain.
//! - A sync task uploads a c1z holding that task's sync alone, as Baton's
//!   does: the kept file (which later tasks resume in) also holds the
//!   previous sync, which ConductorOne did not ask for and which would
//!   double the upload. The copy is made next to the kept file and removed
//!   however the task ends.
//! - A sync task naming `targeted_sync_resources` uploads a `partial` sync
//!   holding what Baton's targeted sync holds: those resources, their
//!   entitlements, the grants of those and the grants' principals. A
//!   component that reads single resources of the targets' types and of
//!   its user and group types (contract 0.1.3) syncs just those, in a file of their own, so the kept full sync and
//!   its checkpoint are untouched; any other gets a full traversal, and
//!   the partial sync is cut from it (logged, with the reason). The other
//!   options that narrow a sync (types, skipped phases) still get the
//!   whole, a superset, with a warning.
//! - Error messages come from the runtime, which has already redacted the
//!   connector's secrets; nothing here adds a credential to them.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use baton_api::connector::{
    CreateAccountResponse, DeleteResourceResponse, GrantResponse, RevokeResponse,
    create_account_response as car, credential_options::Options as CredentialChoice, names,
};
use baton_api::rpc::{Status, code};
use baton_api::v1::{FinishTaskRequest, Task, finish_task_request as finish, task::TaskType};
use c1z::pb;
use connector_runtime::bindings::{meta, prov};
use connector_runtime::convert::{entitlement_ref, grant_ref, wit_resource_id};
use connector_runtime::sync::{SyncError, SyncOptions, run_sync};
use connector_runtime::targeted::SyncTarget;
use connector_runtime::{CallError, Operation, Output};
use prost_types::Any;
use tokio::sync::watch;

use super::client::BatonClient;
use super::connector::{Connector, Shutdown};
use super::encryption;
use super::password;

/// Heartbeat interval bounds and default (Baton's SDK).
const HEARTBEAT_MIN: Duration = Duration::from_secs(1);
const HEARTBEAT_MAX: Duration = Duration::from_secs(300);
const HEARTBEAT_DEFAULT: Duration = Duration::from_secs(30);
/// Consecutive heartbeat failures that abort a sync (Baton's SDK).
const HEARTBEAT_FAILURES: u32 = 9;
/// Upload attempts and the wait before each retry (Baton's SDK: 3; 0 s, 1 s).
const UPLOAD_WAITS: [Duration; 3] = [Duration::ZERO, Duration::ZERO, Duration::from_secs(1)];

/// How a task ends.
#[derive(Debug)]
pub enum Outcome {
    Success {
        response: Option<Any>,
        annotations: Vec<Any>,
    },
    Failure(Failure),
    /// Nothing to report: a hello task (the Hello is the answer), or a sync
    /// whose first heartbeat was refused.
    Silent,
}

#[derive(Debug, Clone)]
pub struct Failure {
    pub code: i32,
    pub message: String,
    pub non_retryable: bool,
}

fn fail(code: i32, message: impl Into<String>, non_retryable: bool) -> Outcome {
    Outcome::Failure(Failure {
        code,
        message: message.into(),
        non_retryable,
    })
}

/// Baton's SDK finishes a malformed task with a plain error: `UNKNOWN`.
fn malformed(message: impl Into<String>) -> Outcome {
    fail(code::UNKNOWN, message, true)
}

/// A connector answer of the wrong kind.
fn unexpected(output: &Output) -> Outcome {
    fail(
        code::INTERNAL,
        format!("the connector answered {output:?}"),
        true,
    )
}

/// Whether a resource id names both a type and a resource.
fn named(id: &&pb::ResourceId) -> bool {
    !id.resource_type.is_empty() && !id.resource.is_empty()
}

impl Outcome {
    /// The FinishTask for this outcome, if one is sent.
    pub fn finish_request(self, host_id: &str, task_id: &str) -> Option<FinishTaskRequest> {
        let (status, state) = match self {
            Outcome::Silent => return None,
            Outcome::Success {
                response,
                annotations,
            } => (
                None,
                finish::FinalState::Success(finish::Success {
                    annotations,
                    response,
                }),
            ),
            Outcome::Failure(f) => (
                Some(Status {
                    code: f.code,
                    message: f.message,
                    details: vec![],
                }),
                finish::FinalState::Error(finish::Error {
                    non_retryable: f.non_retryable,
                    annotations: vec![],
                    response: None,
                }),
            ),
        };
        Some(FinishTaskRequest {
            host_id: host_id.to_string(),
            task_id: task_id.to_string(),
            status,
            final_state: Some(state),
        })
    }
}

/// The gRPC code for a failed connector call.
pub fn call_code(e: &CallError) -> i32 {
    match e {
        CallError::Connector { kind, .. } => match *kind {
            "not-found" => code::NOT_FOUND,
            "permission-denied" => code::PERMISSION_DENIED,
            "invalid-argument" => code::INVALID_ARGUMENT,
            "already-exists" => code::ALREADY_EXISTS,
            "unauthenticated" => code::UNAUTHENTICATED,
            "invalid-config" => code::FAILED_PRECONDITION,
            "unavailable" => code::UNAVAILABLE,
            "unsupported" => code::UNIMPLEMENTED,
            _ => code::INTERNAL,
        },
        CallError::PolicyDenied(_) => code::PERMISSION_DENIED,
        CallError::Timeout(_) => code::DEADLINE_EXCEEDED,
        _ => code::INTERNAL,
    }
}

/// Runs `task` and says how it ended; a sync stops at `shutdown`.
pub async fn run(
    task: &Task,
    connector: &Connector,
    client: &BatonClient,
    shutdown: Shutdown,
) -> Outcome {
    let Some(kind) = &task.task_type else {
        return fail(code::UNKNOWN, "unsupported task type", false);
    };
    match kind {
        TaskType::None(_) => Outcome::Silent,
        TaskType::Hello(_) => {
            let plugin = connector.target().plugin;
            let req = super::hello::request(
                &client.host_id,
                &task.id,
                &plugin.metadata,
                &plugin.targetable_types(),
            );
            if let Err(e) = client.hello(req).await {
                tracing::warn!(task = %task.id, "hello task: {}", e.message());
            }
            Outcome::Silent
        }
        TaskType::SyncFull(options) => sync(task, options, connector, client, shutdown).await,
        TaskType::Grant(t) => {
            let (Some(ent), Some(principal)) = (&t.entitlement, &t.principal) else {
                return malformed("grant task needs an entitlement and a principal");
            };
            let Some(pid) = principal.id.as_ref() else {
                return malformed("grant task: the principal has no id");
            };
            match entitlement_ref(ent) {
                Ok(e) => provision(connector, Operation::Grant(e, wit_resource_id(pid))).await,
                Err(e) => malformed(format!("grant task: {}", crate::errors::Chain(&e))),
            }
        }
        TaskType::Revoke(t) => {
            let Some(g) = &t.grant else {
                return malformed("revoke task needs a grant");
            };
            let Some(ent) = &g.entitlement else {
                return malformed("revoke task: the grant has no entitlement");
            };
            match grant_ref(g, ent) {
                Ok(r) => provision(connector, Operation::Revoke(r)).await,
                Err(e) => malformed(format!("revoke task: {}", crate::errors::Chain(&e))),
            }
        }
        TaskType::CreateAccount(t) => create_account(t, connector).await,
        TaskType::DeleteResource(t) => {
            let Some(id) = t.resource_id.as_ref().filter(named) else {
                return malformed("delete_resource task needs a resource id with a type and an id");
            };
            provision(connector, Operation::DeleteResource(wit_resource_id(id))).await
        }
        other => fail(
            code::UNKNOWN,
            format!("unsupported task type: {}", other.name()),
            false,
        ),
    }
}

fn not_enabled() -> Outcome {
    fail(
        code::FAILED_PRECONDITION,
        "provisioning is not enabled (start the host with --provisioning / BATON_PROVISIONING=true)",
        true,
    )
}

/// Calls the component for a provisioning operation and packs its answer as
/// Baton's connector would.
async fn provision(connector: &Connector, op: Operation) -> Outcome {
    if !connector.provisioning {
        return not_enabled();
    }
    let target = connector.target();
    let output = match target.plugin.call(&target.instance, op).await {
        Ok((output, _)) => output,
        Err(e) => return fail(call_code(&e), e.to_string(), true),
    };
    // Baton's marker annotation for an operation that had nothing to do.
    let marker = |nothing_to_do: bool, name: &str| -> Vec<Any> {
        let any = Any {
            type_url: baton_api::type_url(name),
            value: vec![],
        };
        nothing_to_do.then_some(any).into_iter().collect()
    };
    let (response, annotations) = match output {
        Output::Granted(r) => {
            let already = matches!(r, prov::GrantResult::AlreadyExists);
            let annotations = marker(already, names::GRANT_ALREADY_EXISTS);
            let resp = GrantResponse {
                annotations: annotations.clone(),
                grants: vec![],
            };
            (baton_api::pack(names::GRANT_RESPONSE, &resp), annotations)
        }
        Output::Revoked(r) => {
            let already = matches!(r, prov::RevokeResult::AlreadyRevoked);
            let annotations = marker(already, names::GRANT_ALREADY_REVOKED);
            let resp = RevokeResponse {
                annotations: annotations.clone(),
            };
            (baton_api::pack(names::REVOKE_RESPONSE, &resp), annotations)
        }
        Output::Deleted(_) => {
            let resp = DeleteResourceResponse::default();
            (
                baton_api::pack(names::DELETE_RESOURCE_RESPONSE, &resp),
                vec![],
            )
        }
        other => return unexpected(&other),
    };
    Outcome::Success {
        response: Some(response),
        annotations,
    }
}

async fn create_account(
    t: &baton_api::v1::task::CreateAccountTask,
    connector: &Connector,
) -> Outcome {
    let Some(info) = &t.account_info else {
        return malformed("create_account task needs account_info");
    };
    if !connector.provisioning {
        return not_enabled();
    }
    // A generated password may only leave the host encrypted: find the
    // recipient, and make the password the task asks for, before anything
    // is created.
    let random = |asked| {
        let recipient = encryption::recipient(&t.encryption_configs)?;
        let password = password::Request::new(asked)?.generate()?;
        Ok((
            meta::CredentialOption::RandomPassword,
            Some(recipient),
            Some(password),
        ))
    };
    let chosen = match t
        .credential_options
        .as_ref()
        .and_then(|o| o.options.as_ref())
    {
        None => random(None),
        Some(CredentialChoice::RandomPassword(r)) => random(Some(r)),
        Some(CredentialChoice::NoPassword(_)) => {
            Ok((meta::CredentialOption::NoPassword, None, None))
        }
        Some(CredentialChoice::Sso(_)) => {
            Err("SSO credentials are not supported by this connector".to_string())
        }
    };
    let (credential, recipient, password) = match chosen {
        Ok(chosen) => chosen,
        Err(e) => return fail(code::INVALID_ARGUMENT, format!("create_account: {e}"), true),
    };
    let mut profile = info
        .profile
        .as_ref()
        .map(pb::struct_to_json)
        .unwrap_or_else(|| serde_json::json!({}));
    let login = if !info.login.is_empty() {
        info.login.clone()
    } else {
        match profile["login"].as_str().or(profile["username"].as_str()) {
            Some(l) => l.to_string(),
            None => return malformed("create_account task: the account has no login"),
        }
    };
    let mut emails: Vec<String> = Vec::new();
    // The primary address first: the connector takes the first as the user's email.
    for e in info
        .emails
        .iter()
        .filter(|e| e.is_primary)
        .chain(info.emails.iter().filter(|e| !e.is_primary))
    {
        if !e.address.is_empty() && !emails.contains(&e.address) {
            emails.push(e.address.clone());
        }
    }
    if let Some(obj) = profile.as_object_mut() {
        obj.remove("login");
        // The component sets the password the host made, and no other: a
        // `password` in the task's profile is not passed on.
        obj.remove("password");
        if let Some(p) = &password {
            obj.insert("password".into(), serde_json::Value::String(p.clone()));
        }
    }
    let account = prov::AccountInfo {
        login,
        emails,
        profile_json: profile
            .as_object()
            .filter(|o| !o.is_empty())
            .map(|_| profile.to_string()),
    };
    let op = Operation::CreateAccount(account, credential);
    let target = connector.target();
    let outcome = match target.plugin.call(&target.instance, op).await {
        Ok((Output::AccountCreated(o), _)) => o,
        Ok((other, _)) => return unexpected(&other),
        Err(e) => return fail(call_code(&e), e.to_string(), true),
    };
    let resource = Some(connector_runtime::convert::resource(&outcome.account));
    let result = match outcome.status {
        prov::CreateAccountResult::Created => car::Result::Success(car::SuccessResult {
            resource,
            is_create_account_result: true,
            invitation_expires_at: None,
        }),
        prov::CreateAccountResult::AlreadyExists => {
            car::Result::AlreadyExists(car::AlreadyExistsResult {
                resource,
                is_create_account_result: true,
            })
        }
    };
    let mut encrypted_data = Vec::new();
    if let Some(set) = outcome.one_time_password {
        // A component that predates the host-made password sets its own;
        // that one is the account's, so it is the one returned.
        if password.as_deref() != Some(set.as_str()) {
            tracing::warn!(
                "the component set a password of its own; the task's length and \
                 constraints were not applied to it"
            );
        }
        let Some(recipient) = &recipient else {
            return fail(
                code::INTERNAL,
                "the connector generated a password although none was asked for; it was not returned",
                true,
            );
        };
        match recipient.encrypt_password(set.as_bytes()) {
            Ok(data) => encrypted_data.push(data),
            Err(e) => {
                let message =
                    format!("the account was created, but encrypting its password failed: {e}");
                return fail(code::INTERNAL, message, true);
            }
        }
    }
    let resp = CreateAccountResponse {
        encrypted_data,
        annotations: vec![],
        result: Some(result),
    };
    Outcome::Success {
        response: Some(baton_api::pack(names::CREATE_ACCOUNT_RESPONSE, &resp)),
        annotations: vec![],
    }
}

/// Why heartbeats ended a running sync, once they have.
type Ended = watch::Receiver<Option<&'static str>>;

/// Resolves, with the reason, once heartbeats end the task.
async fn ended(mut why: Ended) -> &'static str {
    match why.wait_for(Option::is_some).await.map(|why| *why) {
        Ok(why) => why.unwrap_or_default(),
        // The heartbeats stopped without ending the task: it never ends.
        Err(_) => std::future::pending().await,
    }
}

async fn sync(
    task: &Task,
    options: &baton_api::v1::task::SyncFullTask,
    connector: &Connector,
    client: &BatonClient,
    shutdown: Shutdown,
) -> Outcome {
    // Baton: a refused or failed first heartbeat ends the task silently.
    let first = match client.heartbeat(&task.id).await {
        Ok(r) if r.cancelled => {
            tracing::info!(task = %task.id, "sync cancelled before it started");
            return Outcome::Silent;
        }
        Ok(r) => r,
        Err(e) => {
            tracing::warn!(task = %task.id, "first heartbeat failed: {}", e.message());
            return Outcome::Silent;
        }
    };
    if options.skip_entitlements_and_grants
        || options.skip_grants
        || !options.sync_resource_type_ids.is_empty()
    {
        tracing::warn!(
            task = %task.id,
            "the sync task asks to skip some types or phases; this host syncs them all, a superset"
        );
    }
    // The sync stops when heartbeats say so or the host shuts down.
    let stop = Arc::new(AtomicBool::new(false));
    let (end, why) = watch::channel(None);
    let heartbeats = tokio::spawn(heartbeat_loop(
        client.clone(),
        task.id.clone(),
        interval(first.next_heartbeat.as_ref()),
        stop.clone(),
        end,
    ));
    let relay = tokio::spawn({
        let (shutdown, stop) = (shutdown.clone(), stop.clone());
        async move {
            shutdown.interruptible(std::future::pending::<()>()).await;
            stop.store(true, Ordering::SeqCst);
        }
    });
    let outcome = sync_and_upload(task, options, connector, client, stop, why, &shutdown).await;
    // Heartbeats stop before FinishTask, so none arrives after it.
    heartbeats.abort();
    relay.abort();
    let _ = heartbeats.await;
    outcome
}

async fn sync_and_upload(
    task: &Task,
    options: &baton_api::v1::task::SyncFullTask,
    connector: &Connector,
    client: &BatonClient,
    stop: Arc<AtomicBool>,
    why: Ended,
    shutdown: &Shutdown,
) -> Outcome {
    // A targeted sync names its resources; one without a type or id is
    // no target (Baton's syncer fails such a sync, retryably, as here).
    let targets: Option<Vec<(pb::ResourceId, SyncTarget)>> = options
        .targeted_sync_resources
        .iter()
        .map(|r| {
            let id = r.id.as_ref().filter(named)?;
            let parent = r.parent_resource_id.as_ref().filter(named);
            let target = SyncTarget {
                id: wit_resource_id(id),
                parent: parent.map(wit_resource_id),
            };
            Some((id.clone(), target))
        })
        .collect();
    let Some((targets, sync_targets)) =
        targets.map(|t| t.into_iter().unzip::<_, _, Vec<_>, Vec<_>>())
    else {
        return fail(
            code::UNKNOWN,
            "targeted sync: a targeted resource has no type or id",
            false,
        );
    };
    // One sync at a time per connector: they share the checkpointed c1z.
    let _exclusive = connector.sync_lock.lock().await;
    // The deployment of the moment; a hot swap applies from the next task.
    let target = connector.target();
    if let Err(e) = target
        .plugin
        .call(&target.instance, Operation::Validate)
        .await
    {
        let message = format!("the connector's configuration check failed: {e}");
        return fail(call_code(&e), message, false);
    }
    // Targets alone when the component can read them and their grants'
    // principals; otherwise a full traversal, cut below.
    let read_targets = !sync_targets.is_empty()
        && target
            .plugin
            .can_target(sync_targets.iter().map(|t| t.id.resource_type.as_str()));
    if !sync_targets.is_empty() && !read_targets {
        tracing::info!(
            task = %task.id,
            "targeted sync: the component cannot read single resources of the targets' types \
             and of its principal types (contract 0.1.3 resource-getter); syncing the whole \
             tenant and cutting the targets out of it"
        );
    }
    let targeted_file = c1z::envelope::with_suffix(&connector.sync_file, ".targeted");
    let file = if read_targets {
        // A partial sync of its own: never resumed, so nothing to keep.
        for stale in [targeted_file.clone(), c1z::working_path(&targeted_file)] {
            if let Err(e) = std::fs::remove_file(&stale)
                && e.kind() != std::io::ErrorKind::NotFound
            {
                let message = format!("removing the last targeted sync {}: {e}", stale.display());
                return fail(code::UNKNOWN, message, false);
            }
        }
        &targeted_file
    } else {
        &connector.sync_file
    };
    let options = SyncOptions {
        concurrency: connector.sync_concurrency,
        checkpoint_interval: connector.checkpoint_interval,
        limits: connector.sync_limits.clone(),
        stop: Some(stop),
        targets: if read_targets {
            sync_targets
        } else {
            Vec::new()
        },
        ..SyncOptions::default()
    };
    let summary = match run_sync(&target.plugin, &target.instance, file, &options).await {
        Ok(summary) => {
            tracing::info!(
                task = %task.id,
                sync_id = %summary.sync_id,
                resumed = summary.resumed,
                grants = summary.grants,
                "sync finished; uploading"
            );
            summary
        }
        Err(SyncError::Interrupted) => {
            let why = why.borrow().unwrap_or(if shutdown.is_set() {
                "the host is shutting down"
            } else {
                "the sync was stopped"
            });
            let message = format!("{why}; the next sync resumes from its checkpoint");
            return fail(code::CANCELLED, message, false);
        }
        Err(e) => {
            let code = match &e {
                // Stopped at a checkpoint: the next sync task resumes.
                SyncError::DeadlineExceeded { .. } => code::DEADLINE_EXCEEDED,
                // Discarded: the operator must raise a limit or fix the component.
                SyncError::TokenCycle { .. } | SyncError::LimitReached { .. } => {
                    code::FAILED_PRECONDITION
                }
                e => e.call_error().map(call_code).unwrap_or(code::UNKNOWN),
            };
            return fail(code, format!("sync failed: {e}"), false);
        }
    };
    // The kept file also holds the previous sync (for resume and diffs);
    // ConductorOne gets this task's sync alone, as Baton uploads it. A
    // targeted task gets the partial sync Baton's syncer would make of its
    // resources: the one just written, or one cut from the full sync when
    // the component could not read single resources.
    let upload = UploadFile(c1z::envelope::with_suffix(file, ".upload"));
    let extracted = {
        let (source, dest) = (file.clone(), upload.0.clone());
        let sync_id = summary.sync_id.clone();
        let cut = if read_targets {
            Vec::new()
        } else {
            targets.clone()
        };
        tokio::task::spawn_blocking(move || {
            let opts = c1z::ExtractOptions {
                temp_dir: source.parent().map(std::path::Path::to_path_buf),
            };
            if cut.is_empty() {
                c1z::extract_sync(&source, &sync_id, &dest, &opts)
            } else {
                c1z::extract_targeted(&source, &sync_id, &cut, &dest, &opts)
            }
        })
        .await
    };
    match extracted
        .map_err(|e| e.to_string())
        .and_then(|r| r.map_err(|e| e.to_string()))
    {
        Ok(report) => {
            for missing in &report.missing_targets {
                tracing::warn!(task = %task.id, "targeted resource {missing} not found; skipped");
            }
            tracing::debug!(
                task = %task.id,
                bytes = report.c1z_bytes,
                targets = targets.len(),
                left_out = report.dropped_syncs.len(),
                "this task's sync copied for the upload"
            )
        }
        Err(e) => {
            let message = format!("copying the sync for the upload failed: {e}");
            return fail(code::UNKNOWN, message, false);
        }
    }
    let file = &upload.0;
    let mut last = None;
    for wait in UPLOAD_WAITS {
        // A cancel or lost heartbeats end the upload too, as Baton's task
        // context does; a shutdown does not: a finished sync's upload may
        // complete within the drain.
        let attempt = async {
            tokio::time::sleep(wait).await;
            client.upload_asset(&task.id, file).await
        };
        let result = tokio::select! {
            r = attempt => r,
            why = ended(why.clone()) => {
                let message = format!("{why} during the upload; the next sync starts afresh");
                return fail(code::CANCELLED, message, false);
            }
        };
        match result {
            Ok(()) => {
                return Outcome::Success {
                    response: None,
                    annotations: vec![],
                };
            }
            Err(e) => {
                tracing::warn!(task = %task.id, "upload failed: {}", e.message());
                last = Some(e);
            }
        }
    }
    let e = last.expect("at least one attempt");
    let message = format!("uploading the c1z failed: {}", e.message());
    fail(e.code() as i32, message, false)
}

/// The copy of one sync made for an upload, removed however the task ends.
struct UploadFile(std::path::PathBuf);

impl Drop for UploadFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

fn interval(next: Option<&prost_types::Duration>) -> Duration {
    match next {
        Some(d) if d.seconds > 0 || d.nanos > 0 => {
            let d = Duration::new(d.seconds.max(0) as u64, d.nanos.max(0) as u32);
            d.clamp(HEARTBEAT_MIN, HEARTBEAT_MAX)
        }
        _ => HEARTBEAT_DEFAULT,
    }
}

/// Heartbeats until ConductorOne cancels the task or too many fail in a
/// row; either sets `stop` and says why through `end`.
async fn heartbeat_loop(
    client: BatonClient,
    task_id: String,
    mut every: Duration,
    stop: Arc<AtomicBool>,
    end: watch::Sender<Option<&'static str>>,
) {
    let mut failures = 0;
    let why = loop {
        tokio::time::sleep(every).await;
        match client.heartbeat(&task_id).await {
            Ok(r) => {
                failures = 0;
                every = interval(r.next_heartbeat.as_ref());
                if r.cancelled {
                    tracing::info!(task = %task_id, "ConductorOne cancelled the task");
                    break "task was cancelled";
                }
            }
            Err(e) => {
                failures += 1;
                tracing::warn!(task = %task_id, failures, "heartbeat failed: {}", e.message());
                if failures >= HEARTBEAT_FAILURES {
                    break "task failed heartbeat";
                }
            }
        }
    };
    end.send_replace(Some(why));
    stop.store(true, Ordering::SeqCst);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn heartbeat_intervals_are_clamped_like_batons() {
        let d = |s, n| prost_types::Duration {
            seconds: s,
            nanos: n,
        };
        assert_eq!(interval(None), HEARTBEAT_DEFAULT);
        assert_eq!(interval(Some(&d(0, 0))), HEARTBEAT_DEFAULT);
        assert_eq!(interval(Some(&d(0, 1_000))), HEARTBEAT_MIN);
        assert_eq!(interval(Some(&d(7, 0))), Duration::from_secs(7));
        assert_eq!(interval(Some(&d(3600, 0))), HEARTBEAT_MAX);
        assert_eq!(interval(Some(&d(-5, 0))), HEARTBEAT_DEFAULT);
    }

    #[test]
    fn failures_become_finish_errors_with_status() {
        let req = fail(code::NOT_FOUND, "gone", true)
            .finish_request("h", "t")
            .unwrap();
        assert_eq!(req.status.as_ref().unwrap().code, code::NOT_FOUND);
        match req.final_state {
            Some(finish::FinalState::Error(e)) => assert!(e.non_retryable),
            other => panic!("{other:?}"),
        }
        let ok = Outcome::Success {
            response: None,
            annotations: vec![],
        }
        .finish_request("h", "t")
        .unwrap();
        assert!(ok.status.is_none());
        assert!(Outcome::Silent.finish_request("h", "t").is_none());
    }

    #[test]
    fn connector_error_kinds_map_to_grpc_codes() {
        let e = |kind| CallError::Connector {
            kind,
            message: String::new(),
            transient: false,
        };
        assert_eq!(call_code(&e("not-found")), code::NOT_FOUND);
        assert_eq!(call_code(&e("permission-denied")), code::PERMISSION_DENIED);
        assert_eq!(call_code(&e("invalid-config")), code::FAILED_PRECONDITION);
        assert_eq!(
            call_code(&CallError::PolicyDenied("x".into())),
            code::PERMISSION_DENIED
        );
        assert_eq!(call_code(&CallError::StackOverflow), code::INTERNAL);
    }
}
