//! Collecting a call's records and handing them to the host at the end.
//!
//! Decision: a call first makes all its requests, then uploads. A call that
//! fails half way has uploaded nothing, so the host can retry it without
//! duplicates. Uploads go in slices so no single host call carries an
//! unbounded list. Grants that share all but the principal's id (a group's
//! members, a population's users) collect in grant sets: each crosses the
//! boundary as one string, and the entitlement's strings are built once
//! per set. A listing's resources whose entitlements are known up front
//! (a group's or population's `member`) go with those entitlements in
//! `put-resources-with`, which also tells the host which per-resource tasks
//! they do without: each skipped task is a call the host does not make.

use connector_sdk::bindings::idgov::connector::upload::UploadError;
use connector_sdk::{
    ConnectorError, Context, Entitlement, Grant, GrantExpansion, GrantSet, Resource, ResourceId,
    SkipTasks,
};

/// Upload in slices of this many records (the host caps records per call,
/// not per upload).
const SLICE: usize = 2_000;

#[derive(Default)]
pub struct Out {
    pub resources: Vec<Resource>,
    pub entitlements: Vec<Entitlement>,
    pub grants: Vec<Grant>,
    pub grant_sets: Vec<GrantSet>,
    /// Resources put with their entitlements ([`Out::listed`]).
    pub listed: Vec<Resource>,
    pub listed_entitlements: Vec<Entitlement>,
    /// Per resource of `listed`, where its entitlements end in
    /// `listed_entitlements`.
    listed_ends: Vec<usize>,
    /// The per-resource tasks every resource of `listed` does without.
    pub skip: SkipTasks,
}

/// Everything a grant shares with the others of its set.
pub struct SetKey<'a> {
    pub resource_type: &'a str,
    pub resource: &'a str,
    pub slug: &'a str,
    pub principal_type: &'a str,
    pub expansion: Option<&'a GrantExpansion>,
    pub immutable_reason: Option<&'a str>,
    pub metadata_json: Option<&'a str>,
}

impl SetKey<'_> {
    fn is_of(&self, s: &GrantSet) -> bool {
        s.entitlement_resource.resource == self.resource
            && s.entitlement_slug == self.slug
            && s.entitlement_resource.resource_type == self.resource_type
            && s.principal_type == self.principal_type
            && s.expansion.as_ref() == self.expansion
            && s.immutable_reason.as_deref() == self.immutable_reason
            && s.metadata_json.as_deref() == self.metadata_json
    }

    fn new_set(&self, first: String) -> GrantSet {
        GrantSet {
            entitlement_resource: ResourceId {
                resource_type: self.resource_type.to_string(),
                resource: self.resource.to_string(),
            },
            entitlement_slug: self.slug.to_string(),
            principal_type: self.principal_type.to_string(),
            principal_ids: vec![first],
            expansion: self.expansion.cloned(),
            immutable_reason: self.immutable_reason.map(str::to_string),
            metadata_json: self.metadata_json.map(str::to_string),
        }
    }
}

impl Out {
    pub fn new() -> Self {
        Self::default()
    }

    /// A resource with all its entitlements, put together; the host asks
    /// none of the tasks in [`Out::skip`] for it.
    pub fn listed(
        &mut self,
        resource: Resource,
        entitlements: impl IntoIterator<Item = Entitlement>,
    ) {
        self.listed.push(resource);
        self.listed_entitlements.extend(entitlements);
        self.listed_ends.push(self.listed_entitlements.len());
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

    /// A grant of `key`'s entitlement to `<key.principal_type>:<principal_id>`:
    /// joins the last set when that set has the same key (and room).
    pub fn grant_in_set(&mut self, key: &SetKey, principal_id: String) {
        match self.grant_sets.last_mut() {
            Some(s) if s.principal_ids.len() < SLICE && key.is_of(s) => {
                s.principal_ids.push(principal_id)
            }
            _ => self.grant_sets.push(key.new_set(principal_id)),
        }
    }

    /// Keeps only the grants (single or in sets) on entitlements of the
    /// resources `keep` accepts: a scoped re-read uploads nothing else.
    pub fn retain_grants(&mut self, keep: impl Fn(&ResourceId) -> bool) {
        self.grants.retain(|g| keep(&g.entitlement_resource));
        self.grant_sets.retain(|s| keep(&s.entitlement_resource));
    }

    pub fn flush(self, cx: &Context) -> Result<(), ConnectorError> {
        for s in self.resources.chunks(SLICE) {
            cx.host
                .put_resources(s)
                .map_err(|e| upload_error(e, "resources"))?;
        }
        // A slice of resources goes with exactly its own entitlements, and
        // ends before the resource that would take it over SLICE records
        // (a resource with more entitlements than that goes alone).
        let (mut first, mut from) = (0, 0);
        while first < self.listed.len() {
            let mut last = first;
            while last + 1 < self.listed.len()
                && (last + 2 - first) + (self.listed_ends[last + 1] - from) <= SLICE
            {
                last += 1;
            }
            let to = self.listed_ends[last];
            cx.host
                .put_resources_with(
                    &self.listed[first..=last],
                    &self.listed_entitlements[from..to],
                    self.skip,
                )
                .map_err(|e| upload_error(e, "resources"))?;
            (first, from) = (last + 1, to);
        }
        for s in self.entitlements.chunks(SLICE) {
            cx.host
                .put_entitlements(s)
                .map_err(|e| upload_error(e, "entitlements"))?;
        }
        // Sets hold at most SLICE principals each: a slice of sets ends
        // before the one that would take it over SLICE grants.
        let mut rest = &self.grant_sets[..];
        while !rest.is_empty() {
            let mut grants = 0;
            let n = rest
                .iter()
                .take_while(|s| {
                    grants += s.principal_ids.len();
                    grants <= SLICE
                })
                .count()
                .max(1);
            cx.host
                .put_grant_sets(&rest[..n])
                .map_err(|e| upload_error(e, "grants"))?;
            rest = &rest[n..];
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::membership::members::{DynamicGrant, push_direct, push_dynamic};
    use connector_sdk::testing::MockHost;
    use std::cell::RefCell;

    /// Records the size of each `put-grant-sets` call, then stores as the
    /// mock does.
    struct Slices {
        mock: MockHost,
        calls: RefCell<Vec<Vec<usize>>>,
    }

    impl connector_sdk::Host for Slices {
        fn send(
            &self,
            r: &connector_sdk::http::Request,
            a: &connector_sdk::Auth,
        ) -> Result<connector_sdk::http::Response, connector_sdk::http::HttpError> {
            self.mock.send(r, a)
        }
        fn send_batch(
            &self,
            r: &[connector_sdk::http::Request],
            a: &connector_sdk::Auth,
        ) -> Vec<Result<connector_sdk::http::Response, connector_sdk::http::HttpError>> {
            self.mock.send_batch(r, a)
        }
        fn put_resources(&self, items: &[Resource]) -> Result<(), UploadError> {
            self.mock.put_resources(items)
        }
        fn put_entitlements(&self, items: &[Entitlement]) -> Result<(), UploadError> {
            self.mock.put_entitlements(items)
        }
        fn put_grants(&self, items: &[Grant]) -> Result<(), UploadError> {
            self.mock.put_grants(items)
        }
        fn put_grant_sets(&self, items: &[GrantSet]) -> Result<(), UploadError> {
            self.calls
                .borrow_mut()
                .push(items.iter().map(|s| s.principal_ids.len()).collect());
            self.mock.put_grant_sets(items)
        }
        fn log(&self, level: connector_sdk::Level, message: &str) {
            self.mock.log(level, message)
        }
    }

    #[test]
    fn grants_that_differ_in_the_principal_share_a_set_of_at_most_a_slice() {
        let mut out = Out::new();
        for i in 0..2 * SLICE + 5 {
            push_direct(&mut out, "g1", format!("u{i}"));
        }
        push_direct(&mut out, "g2", "a");
        push_direct(&mut out, "g2", "b");
        let dynamic = DynamicGrant::new("name.given eq \"x\"");
        push_dynamic(&mut out, "g2", "c".into(), &dynamic);
        push_direct(&mut out, "g1", "again");
        let sizes: Vec<usize> = out
            .grant_sets
            .iter()
            .map(|s| s.principal_ids.len())
            .collect();
        assert_eq!(sizes, [SLICE, SLICE, 5, 2, 1, 1]);

        let host = Slices {
            mock: MockHost::new(|_, _| unreachable!()),
            calls: RefCell::default(),
        };
        let config = connector_sdk::Config::new(vec![]);
        out.flush(&Context {
            host: &host,
            config: &config,
        })
        .unwrap();
        // No call carries more than a slice of grants.
        assert_eq!(
            *host.calls.borrow(),
            [vec![SLICE], vec![SLICE], vec![5, 2, 1, 1]]
        );
        let grants = host.mock.grants.borrow();
        assert_eq!(grants.len(), 2 * SLICE + 9);
        assert_eq!(grants[0].principal.resource, "u0");
        assert_eq!(
            grants[2 * SLICE + 4].principal.resource,
            format!("u{}", 2 * SLICE + 4)
        );
        let last: Vec<String> = grants[2 * SLICE + 5..]
            .iter()
            .map(|g| {
                format!(
                    "{}:{}:{}:{}:{} {}",
                    g.entitlement_resource.resource_type,
                    g.entitlement_resource.resource,
                    g.entitlement_slug,
                    g.principal.resource_type,
                    g.principal.resource,
                    g.immutable_reason.is_some()
                )
            })
            .collect();
        assert_eq!(
            last,
            [
                "group:g2:member:user:a false",
                "group:g2:member:user:b false",
                "group:g2:member:user:c true",
                "group:g1:member:user:again false",
            ]
        );
    }

    #[test]
    fn listed_resources_go_with_their_own_entitlements_a_slice_at_a_time() {
        use crate::resources::groups::{group_resource, member_entitlement};
        let group = |i: usize| -> crate::client::model::Group {
            serde_json::from_value(serde_json::json!({"id": format!("g{i}")})).unwrap()
        };
        let mut out = Out::new();
        out.skip = SkipTasks::BOTH;
        for i in 0..1_500 {
            let r = group_resource(&group(i));
            let e = member_entitlement(&r.id);
            out.listed(r, [e]);
        }
        // Two entitlements for one resource, and one with none.
        let r = group_resource(&group(9_000));
        let e = member_entitlement(&r.id);
        out.listed(
            r,
            [
                e.clone(),
                Entitlement {
                    slug: "owner".into(),
                    ..e
                },
            ],
        );
        out.listed(group_resource(&group(9_001)), []);
        let host = MockHost::new(|_, _| unreachable!());
        let config = connector_sdk::Config::new(vec![]);
        out.flush(&Context {
            host: &host,
            config: &config,
        })
        .unwrap();
        let puts = host.skipped.borrow();
        let sizes: Vec<usize> = puts.iter().map(|(ids, _)| ids.len()).collect();
        // 1,000 resources and their 1,000 entitlements make a full slice.
        assert_eq!(sizes, [1_000, 502]);
        assert!(puts.iter().all(|(_, skip)| *skip == SkipTasks::BOTH));
        let ents = host.entitlements.borrow();
        assert_eq!(ents.len(), 1_502);
        assert_eq!(ents[999].resource.resource, "g999");
        assert_eq!(ents[1_000].resource.resource, "g1000");
        assert_eq!(ents[1_501].slug, "owner");
        assert_eq!(host.resources.borrow().len(), 1_502);
    }
}
