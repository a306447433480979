//! A native test double for [`Host`].
//!
//! Connector unit tests run natively: they script HTTP responses with a
//! closure and inspect what the connector uploaded and logged.

use std::cell::RefCell;

use crate::bindings::idgov::connector::upload::UploadError;
use crate::host::{Auth, Host, SkipTasks};
use crate::http::{HttpError, Request, Response};
use crate::{Entitlement, Grant, Level, Resource};

type Responder = dyn Fn(&Request, &Auth) -> Result<Response, HttpError>;

/// Records every request and upload; answers requests with `responder`.
pub struct MockHost {
    responder: Box<Responder>,
    pub requests: RefCell<Vec<Request>>,
    pub resources: RefCell<Vec<Resource>>,
    pub entitlements: RefCell<Vec<Entitlement>>,
    pub grants: RefCell<Vec<Grant>>,
    /// `put_resources_with` calls: (resource ids, what they skip).
    pub skipped: RefCell<Vec<(Vec<String>, SkipTasks)>>,
    pub logs: RefCell<Vec<(Level, String)>>,
}

impl MockHost {
    pub fn new(
        responder: impl Fn(&Request, &Auth) -> Result<Response, HttpError> + 'static,
    ) -> Self {
        Self {
            responder: Box::new(responder),
            requests: RefCell::default(),
            resources: RefCell::default(),
            entitlements: RefCell::default(),
            grants: RefCell::default(),
            skipped: RefCell::default(),
            logs: RefCell::default(),
        }
    }

    /// A JSON response with the given status.
    pub fn json(status: u16, body: serde_json::Value) -> Result<Response, HttpError> {
        Ok(Response {
            status,
            headers: vec![("content-type".into(), "application/json".into())],
            body: serde_json::to_vec(&body).unwrap(),
        })
    }
}

impl Host for MockHost {
    fn send(&self, req: &Request, auth: &Auth) -> Result<Response, HttpError> {
        self.requests.borrow_mut().push(req.clone());
        (self.responder)(req, auth)
    }

    fn send_batch(&self, reqs: &[Request], auth: &Auth) -> Vec<Result<Response, HttpError>> {
        reqs.iter().map(|r| self.send(r, auth)).collect()
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

    fn put_resources_with(
        &self,
        items: &[Resource],
        entitlements: &[Entitlement],
        skip: SkipTasks,
    ) -> Result<(), UploadError> {
        self.put_resources(items)?;
        self.put_entitlements(entitlements)?;
        let ids = items
            .iter()
            .map(|r| format!("{}:{}", r.id.resource_type, r.id.resource))
            .collect();
        self.skipped.borrow_mut().push((ids, skip));
        Ok(())
    }

    fn log(&self, level: Level, message: &str) {
        self.logs.borrow_mut().push((level, message.to_string()));
    }
}
