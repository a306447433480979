//! Collecting a call's records and handing them to the host at the end.
//!
//! Decision: a call first makes all its requests, then uploads. A call that
//! fails half way has uploaded nothing, so the host can retry it without
//! duplicates. Uploads go in slices so no single host call carries an
//! unbounded list.

use connector_sdk::bindings::idgov::connector::upload::UploadError;
use connector_sdk::{
    ConnectorError, Context, Entitlement, Grant, GrantExpansion, Resource, ResourceId,
};

/// Upload in slices of this many records (the host caps records per call,
/// not per upload).
const SLICE: usize = 2_000;

#[derive(Default)]
pub struct Out {
    pub resources: Vec<Resource>,
    pub entitlements: Vec<Entitlement>,
    pub grants: Vec<Grant>,
}

impl Out {
    pub fn new() -> Self {
        Self::default()
    }

    /// A grant of `<resource>:<slug>` to `principal`; `metadata_json` is a
    /// JSON object already serialised (most grants share a constant one).
    pub fn grant(
        &mut self,
        resource: ResourceId,
        slug: impl Into<String>,
        principal: ResourceId,
        expansion: Option<GrantExpansion>,
        immutable_reason: Option<String>,
        metadata_json: Option<String>,
    ) {
        self.grants.push(Grant {
            entitlement_resource: resource,
            entitlement_slug: slug.into(),
            principal,
            expansion,
            immutable_reason,
            metadata_json,
        });
    }

    pub fn flush(self, cx: &Context) -> Result<(), ConnectorError> {
        for s in self.resources.chunks(SLICE) {
            cx.host
                .put_resources(s)
                .map_err(|e| upload_error(e, "resources"))?;
        }
        for s in self.entitlements.chunks(SLICE) {
            cx.host
                .put_entitlements(s)
                .map_err(|e| upload_error(e, "entitlements"))?;
        }
        for s in self.grants.chunks(SLICE) {
            cx.host
                .put_grants(s)
                .map_err(|e| upload_error(e, "grants"))?;
        }
        Ok(())
    }
}

fn upload_error(e: UploadError, what: &str) -> ConnectorError {
    ConnectorError::from(e).context(format!("uploading {what}"))
}
