//! The capabilities a connector uses, behind one trait.
//!
//! In a component the calls go to the host's imports. The trait exists so
//! the same connector logic runs natively against a test double.

use std::cell::RefCell;

use crate::bindings::idgov::connector::{http, log, secrets, upload};
use crate::{Entitlement, Grant, GrantSet, Level, Resource, grant_set_grants};
use http::{HttpError, Request, Response};
use upload::UploadError;

/// Which credential a request carries. The host adds the header; the guest
/// never sees the value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Auth {
    None,
    /// The OAuth2 token the host brokers from the component's recipe.
    OAuth2,
    /// A secret config field, sent as a bearer token.
    SecretField(String),
}

/// Per-resource tasks the resources of one [`Host::put_resources_with`] do
/// without (contract 0.1.2, `upload.skip-tasks`): Baton's
/// `SkipEntitlements` and `SkipGrants`, said per listing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct SkipTasks {
    /// No `list-entitlements` task: the entitlements are put with the
    /// resources or come from other tasks.
    pub list_entitlements: bool,
    /// No `list-grants` task: the grants come from other tasks.
    pub list_grants: bool,
}

impl SkipTasks {
    /// Neither task: everything the host would ask is answered elsewhere.
    pub const BOTH: SkipTasks = SkipTasks {
        list_entitlements: true,
        list_grants: true,
    };
}

/// What a connector may ask of its host.
pub trait Host {
    fn send(&self, req: &Request, auth: &Auth) -> Result<Response, HttpError>;
    /// Independent requests, run concurrently by the host; results in order.
    fn send_batch(&self, reqs: &[Request], auth: &Auth) -> Vec<Result<Response, HttpError>>;
    fn put_resources(&self, items: &[Resource]) -> Result<(), UploadError>;
    fn put_entitlements(&self, items: &[Entitlement]) -> Result<(), UploadError>;
    fn put_grants(&self, items: &[Grant]) -> Result<(), UploadError>;
    /// Grants in sets, one per principal id (see [`GrantSet`]). The default
    /// hands them over one by one, for hosts (and doubles) that take only
    /// single grants.
    fn put_grant_sets(&self, items: &[GrantSet]) -> Result<(), UploadError> {
        self.put_grants(&grant_set_grants(items))
    }
    /// Resources with their entitlements, and the per-resource tasks they
    /// do without. The default puts both lists and skips nothing, as a host
    /// before contract 0.1.2 does: the host then still asks for the tasks,
    /// so a connector must keep answering them (with the same records).
    fn put_resources_with(
        &self,
        items: &[Resource],
        entitlements: &[Entitlement],
        _skip: SkipTasks,
    ) -> Result<(), UploadError> {
        self.put_resources(items)?;
        if entitlements.is_empty() {
            return Ok(());
        }
        self.put_entitlements(entitlements)
    }
    fn log(&self, level: Level, message: &str);
}

/// The real host, through the component's imports. Secret handles are
/// fetched once per call and reused.
#[derive(Default)]
pub struct WasmHost {
    secrets: RefCell<Vec<(Auth, secrets::Secret)>>,
    /// [`crate::Connector::RESPONSE_HEADERS`]: `None` keeps them all.
    keep_headers: Option<Vec<String>>,
}

impl WasmHost {
    pub fn new() -> Self {
        Self::default()
    }

    /// Responses carry only these headers (see
    /// [`crate::Connector::RESPONSE_HEADERS`]).
    pub fn keeping_headers(mut self, names: Option<&[&str]>) -> Self {
        self.keep_headers = names.map(|n| n.iter().map(|h| h.to_ascii_lowercase()).collect());
        self
    }

    fn with_secret<T>(
        &self,
        auth: &Auth,
        f: impl FnOnce(Option<&secrets::Secret>) -> T,
        on_error: impl FnOnce(HttpError) -> T,
    ) -> T {
        let fetched = match auth {
            Auth::None => return f(None),
            _ if self.secrets.borrow().iter().any(|(a, _)| a == auth) => None,
            Auth::OAuth2 => Some(secrets::oauth2_token()),
            Auth::SecretField(name) => Some(secrets::field(name)),
        };
        let mut cache = self.secrets.borrow_mut();
        match fetched {
            Some(Ok(secret)) => cache.push((auth.clone(), secret)),
            Some(Err(e)) => return on_error(HttpError::Credential(secret_error_text(&e))),
            None => {}
        }
        f(cache.iter().find(|(a, _)| a == auth).map(|(_, s)| s))
    }
}

fn secret_error_text(e: &secrets::SecretError) -> String {
    match e {
        secrets::SecretError::Unknown(m) => format!("unknown secret {m}"),
        secrets::SecretError::Missing(m) => format!("secret {m} is not configured"),
        secrets::SecretError::ExchangeFailed(m) => m.clone(),
    }
}

/// What a 0.1.1 host does with `keep`, done in the guest for a 0.1.0 one.
#[cfg(feature = "contract-0-1-0")]
fn keep_only(r: Result<Response, HttpError>, keep: &[String]) -> Result<Response, HttpError> {
    r.map(|mut resp| {
        resp.headers
            .retain(|(name, _)| keep.iter().any(|k| k.eq_ignore_ascii_case(name)));
        resp
    })
}

impl Host for WasmHost {
    fn send(&self, req: &Request, auth: &Auth) -> Result<Response, HttpError> {
        self.with_secret(
            auth,
            |s| match &self.keep_headers {
                None => http::send(req, s),
                #[cfg(not(feature = "contract-0-1-0"))]
                Some(keep) => http::send_keep_headers(req, s, keep),
                #[cfg(feature = "contract-0-1-0")]
                Some(keep) => keep_only(http::send(req, s), keep),
            },
            Err,
        )
    }

    fn send_batch(&self, reqs: &[Request], auth: &Auth) -> Vec<Result<Response, HttpError>> {
        self.with_secret(
            auth,
            |s| match &self.keep_headers {
                None => http::send_batch(reqs, s),
                #[cfg(not(feature = "contract-0-1-0"))]
                Some(keep) => http::send_batch_keep_headers(reqs, s, keep),
                #[cfg(feature = "contract-0-1-0")]
                Some(keep) => http::send_batch(reqs, s)
                    .into_iter()
                    .map(|r| keep_only(r, keep))
                    .collect(),
            },
            |e| reqs.iter().map(|_| Err(e.clone())).collect(),
        )
    }

    fn put_resources(&self, items: &[Resource]) -> Result<(), UploadError> {
        upload::put_resources(items)
    }

    fn put_entitlements(&self, items: &[Entitlement]) -> Result<(), UploadError> {
        upload::put_entitlements(items)
    }

    fn put_grants(&self, items: &[Grant]) -> Result<(), UploadError> {
        upload::put_grants(items)
    }

    #[cfg(not(feature = "contract-0-1-0"))]
    fn put_grant_sets(&self, items: &[GrantSet]) -> Result<(), UploadError> {
        upload::put_grant_sets(items)
    }

    #[cfg(not(feature = "contract-0-1-0"))]
    fn put_resources_with(
        &self,
        items: &[Resource],
        entitlements: &[Entitlement],
        skip: SkipTasks,
    ) -> Result<(), UploadError> {
        let mut flags = upload::SkipTasks::empty();
        flags.set(upload::SkipTasks::LIST_ENTITLEMENTS, skip.list_entitlements);
        flags.set(upload::SkipTasks::LIST_GRANTS, skip.list_grants);
        upload::put_resources_with(items, entitlements, flags)
    }

    fn log(&self, level: Level, message: &str) {
        log::emit(level, message)
    }
}
