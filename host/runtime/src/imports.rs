//! The contract's imports, implemented for the Store's data.
//!
//! Each function either answers the guest (a typed error it can handle,
//! such as an egress denial) or, when the guest broke a hard limit, records
//! the typed cause in the call state and traps, ending the call.

use wasmtime::component::Resource;

use crate::bindings::{http, log, secrets, types, upload};
use crate::capabilities::http::{AuthUse, KeepHeaders};
use crate::capabilities::secrets::{FieldLookup, SecretHandle};
use crate::capabilities::upload as checks;
use crate::cpu_clock::thread_cpu_time;
use crate::error::CallError;
use crate::state::{HostState, UploadBuffer};

/// What a `put-*` import answers.
type PutResult = wasmtime::Result<Result<(), upload::UploadError>>;
/// A guest's optional credential handle for a request.
type Auth = Option<Resource<SecretHandle>>;
/// What a `send` import answers.
type Answer = wasmtime::Result<Result<http::Response, http::HttpError>>;

impl types::Host for HostState {}

impl secrets::Host for HostState {
    async fn field(
        &mut self,
        name: String,
    ) -> wasmtime::Result<Result<Resource<SecretHandle>, secrets::SecretError>> {
        match self.instance.secrets.field(&name) {
            Ok(_) => Ok(Ok(self.table.push(SecretHandle::Field(name))?)),
            Err(FieldLookup::Missing) => Ok(Err(secrets::SecretError::Missing(name))),
            Err(FieldLookup::Unknown) => Ok(Err(secrets::SecretError::Unknown(name))),
        }
    }

    async fn oauth2_token(
        &mut self,
    ) -> wasmtime::Result<Result<Resource<SecretHandle>, secrets::SecretError>> {
        if self.instance.secrets.broker.is_none() {
            return Ok(Err(secrets::SecretError::Unknown(
                "oauth2-token (the component declares no credential recipe)".into(),
            )));
        }
        Ok(Ok(self.table.push(SecretHandle::OAuth2)?))
    }
}

impl secrets::HostSecret for HostState {
    async fn name(&mut self, handle: Resource<SecretHandle>) -> wasmtime::Result<String> {
        Ok(self.table.get(&handle)?.name())
    }

    async fn drop(&mut self, handle: Resource<SecretHandle>) -> wasmtime::Result<()> {
        self.table.delete(handle)?;
        Ok(())
    }
}

impl HostState {
    fn auth_use(&mut self, auth: Auth) -> wasmtime::Result<AuthUse> {
        let Some(handle) = auth else {
            return Ok(AuthUse::None);
        };
        let handle = self.table.get(&handle)?.clone();
        Ok(match handle {
            SecretHandle::OAuth2 => AuthUse::OAuth2,
            SecretHandle::Field(name) => match self.instance.secrets.field(&name) {
                Ok(v) => AuthUse::Bearer {
                    value: v.clone(),
                    field: name,
                },
                Err(_) => AuthUse::None,
            },
        })
    }

    fn note_http_error(&mut self, err: &http::HttpError) {
        match err {
            http::HttpError::PolicyDenied(m) => self.call.denials.push(m.clone()),
            http::HttpError::ForbiddenHeader(h) => self
                .call
                .denials
                .push(format!("a connector may not set the {h:?} header")),
            _ => {}
        }
    }
}

impl http::Host for HostState {
    async fn send(&mut self, req: http::Request, auth: Auth) -> Answer {
        self.one(req, auth, None).await
    }

    async fn send_batch(
        &mut self,
        reqs: Vec<http::Request>,
        auth: Auth,
    ) -> wasmtime::Result<Vec<Result<http::Response, http::HttpError>>> {
        self.batch(reqs, auth, None).await
    }

    async fn send_keep_headers(
        &mut self,
        req: http::Request,
        auth: Auth,
        keep: Vec<String>,
    ) -> Answer {
        let keep = self.keep_list(keep)?;
        self.one(req, auth, Some(keep)).await
    }

    async fn send_batch_keep_headers(
        &mut self,
        reqs: Vec<http::Request>,
        auth: Auth,
        keep: Vec<String>,
    ) -> wasmtime::Result<Vec<Result<http::Response, http::HttpError>>> {
        let keep = self.keep_list(keep)?;
        self.batch(reqs, auth, Some(keep)).await
    }
}

impl HostState {
    /// One request: a batch of one.
    async fn one(&mut self, req: http::Request, auth: Auth, keep: Option<KeepHeaders>) -> Answer {
        let mut answers = self.batch(vec![req], auth, keep).await?;
        Ok(answers.pop().expect("a batch answers every request"))
    }

    async fn batch(
        &mut self,
        reqs: Vec<http::Request>,
        auth: Auth,
        keep: Option<KeepHeaders>,
    ) -> wasmtime::Result<Vec<Result<http::Response, http::HttpError>>> {
        let cap = self.instance.limits.batch_requests;
        if reqs.len() > cap {
            return Err(self.violate(CallError::LimitExceeded(format!(
                "send-batch of {} requests, over the cap of {cap}",
                reqs.len()
            ))));
        }
        let auth = self.auth_use(auth)?;
        let instance = self.instance.clone();
        let Some(client) = instance.http.as_ref() else {
            let e = http::HttpError::PolicyDenied("this call has no network access".into());
            self.note_http_error(&e);
            return Ok(reqs.iter().map(|_| Err(e.clone())).collect());
        };
        // HTTP work is the host's: it runs on tasks of its own, outside the
        // polls of the call that the connector CPU is metered over.
        let results = client
            .send_batch_detached(self.call.rank, reqs, auth, keep)
            .await;
        for r in &results {
            if let Err(e) = r {
                self.note_http_error(e);
            }
        }
        Ok(results)
    }

    /// A guest's list of response headers to keep, within the response
    /// header cap (a longer list could not match more headers than that).
    fn keep_list(&mut self, keep: Vec<String>) -> wasmtime::Result<KeepHeaders> {
        let cap = self.instance.limits.response_headers;
        if keep.len() > cap {
            return Err(self.violate(CallError::LimitExceeded(format!(
                "keep-headers lists {} names, over the cap of {cap} response headers",
                keep.len()
            ))));
        }
        Ok(KeepHeaders::new(keep))
    }
}

impl HostState {
    /// Counts records and their bytes against the per-call caps; over
    /// either, the call ends with `LimitExceeded` naming the cap.
    fn admit(&mut self, n: usize, bytes: usize) -> wasmtime::Result<()> {
        let limits = &self.instance.limits;
        let cap = limits.upload_records_per_call;
        let total = self.call.upload.len() + n;
        if total > cap {
            return Err(self.violate(CallError::LimitExceeded(format!(
                "the call uploaded {total} records, over the cap of {cap}"
            ))));
        }
        let cap = limits.upload_bytes_per_call;
        let total = self.call.upload.bytes.saturating_add(bytes);
        if total > cap {
            return Err(self.violate(CallError::LimitExceeded(format!(
                "the call uploaded {total} bytes of records, over the \
                 upload_bytes_per_call cap of {cap}"
            ))));
        }
        self.call.upload.bytes = total;
        Ok(())
    }

    fn refuse(&mut self, message: String) -> upload::UploadError {
        self.call
            .violation
            .get_or_insert(CallError::InvalidRecord(message.clone()));
        upload::UploadError::Invalid(message)
    }
}

impl upload::Host for HostState {
    async fn put_resources(&mut self, items: Vec<types::Resource>) -> PutResult {
        let (cost, check) = (checks::resource_cost, checks::validate_resource);
        self.put(items.len(), items, cost, check, |u| &mut u.resources)
    }

    async fn put_entitlements(&mut self, items: Vec<types::Entitlement>) -> PutResult {
        let (cost, check) = (checks::entitlement_cost, checks::validate_entitlement);
        self.put(items.len(), items, cost, check, |u| &mut u.entitlements)
    }

    async fn put_grants(&mut self, items: Vec<types::Grant>) -> PutResult {
        let (cost, check) = (checks::grant_cost, checks::validate_grant);
        self.put(items.len(), items, cost, check, |u| &mut u.grants)
    }

    async fn put_resources_with(
        &mut self,
        items: Vec<types::Resource>,
        entitlements: Vec<types::Entitlement>,
        skip: upload::SkipTasks,
    ) -> PutResult {
        // One admission for both lists, so the caps see the whole upload.
        let bytes = self
            .cost(&items, checks::resource_cost)
            .saturating_add(self.cost(&entitlements, checks::entitlement_cost));
        self.admit(items.len() + entitlements.len(), bytes)?;
        if let Some(refused) = self.check_upload(&items, checks::validate_resource) {
            return Ok(Err(refused));
        }
        if let Some(refused) = self.check_upload(&entitlements, checks::validate_entitlement) {
            return Ok(Err(refused));
        }
        let started = thread_cpu_time();
        let stray = checks::entitlements_belong_to(&entitlements, &items);
        self.call.host_cpu += thread_cpu_time().saturating_sub(started);
        if let Some(m) = stray {
            return Ok(Err(self.refuse(m)));
        }
        let upload = &mut self.call.upload;
        let start = upload.resources.len();
        upload.resources.extend(items);
        // An empty put records nothing: a guest cannot grow this list
        // without records that count against the per-call cap.
        let end = upload.resources.len();
        if skip != upload::SkipTasks::empty() && end > start {
            upload.skipped.push((start..end, skip));
        }
        upload.entitlements.extend(entitlements);
        Ok(Ok(()))
    }

    async fn put_grant_sets(&mut self, items: Vec<types::GrantSet>) -> PutResult {
        // A set counts as the grants it stands for, records and bytes.
        let grants = items.iter().map(|s| s.principal_ids.len()).sum();
        let (cost, check) = (checks::grant_set_cost, checks::validate_grant_set);
        self.put(grants, items, cost, check, |u| &mut u.grant_sets)
    }
}

impl HostState {
    /// One `put-*` of `records` records: admitted against the per-call
    /// caps, each item checked, then buffered in `list` of the upload.
    fn put<T>(
        &mut self,
        records: usize,
        items: Vec<T>,
        cost: fn(&T) -> usize,
        check: Check<T>,
        list: fn(&mut UploadBuffer) -> &mut Vec<T>,
    ) -> PutResult {
        let bytes = self.cost(&items, cost);
        self.admit(records, bytes)?;
        if let Some(refused) = self.check_upload(&items, check) {
            return Ok(Err(refused));
        }
        list(&mut self.call.upload).extend(items);
        Ok(Ok(()))
    }
}

/// An upload check: the item, the declared resource types, the record cap.
type Check<T> = fn(&T, &[types::ResourceType], usize) -> Result<(), String>;

impl HostState {
    /// What `items` cost against the upload byte budgets. Host work, kept
    /// out of connector CPU like the checks.
    fn cost<T>(&mut self, items: &[T], cost: fn(&T) -> usize) -> usize {
        let started = thread_cpu_time();
        let bytes = items
            .iter()
            .fold(0usize, |sum, item| sum.saturating_add(cost(item)));
        self.call.host_cpu += thread_cpu_time().saturating_sub(started);
        bytes
    }

    /// Checks each item of an admitted upload; the first refusal comes back
    /// for the guest. The checking time is the host's, kept out of
    /// connector CPU.
    fn check_upload<T>(&mut self, items: &[T], check: Check<T>) -> Option<upload::UploadError> {
        let max = self.instance.limits.upload_record_bytes;
        let started = thread_cpu_time();
        let checked = items
            .iter()
            .try_for_each(|item| check(item, &self.instance.resource_types, max));
        self.call.host_cpu += thread_cpu_time().saturating_sub(started);
        checked.err().map(|m| self.refuse(m))
    }
}

impl log::Host for HostState {
    async fn emit(&mut self, level: log::Level, message: String) -> wasmtime::Result<()> {
        self.call.log_lines += 1;
        self.call.log_bytes += message.len();
        let limits = &self.instance.limits;
        if self.call.log_lines > limits.log_lines_per_call
            || self.call.log_bytes > limits.log_bytes_per_call
        {
            let (lines, bytes) = (limits.log_lines_per_call, limits.log_bytes_per_call);
            return Err(self.violate(CallError::LimitExceeded(format!(
                "log volume over {lines} lines or {bytes} bytes in one call"
            ))));
        }
        // Guest text is untrusted: redact secret values, escape control
        // characters and cap the line (`guest_text`).
        let text = crate::guest_text::sanitize(&message, &self.instance.secrets);
        let instance = self.instance.name.as_str();
        match level {
            log::Level::Trace => tracing::trace!(target: "connector", instance, "{text}"),
            log::Level::Debug => tracing::debug!(target: "connector", instance, "{text}"),
            log::Level::Info => tracing::info!(target: "connector", instance, "{text}"),
            log::Level::Warn => tracing::warn!(target: "connector", instance, "{text}"),
            log::Level::Error => tracing::error!(target: "connector", instance, "{text}"),
        }
        Ok(())
    }
}
