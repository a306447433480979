//! Targeted syncs: Baton's `partial` sync of named resources.
//!
//! Decision: a sync that names resources reads only those, with the
//! component's optional `resource-getter.get-resource` (contract 0.1.3,
//! Baton's `ResourceTargetedSyncer.Get`), then lists their entitlements and
//! grants as a full sync would, and reads each grant's principal the sync
//! has not stored the same way (Baton's "related resources"). What it
//! stores is what `c1z::extract_targeted` cuts from a full sync: every
//! resource type, the targets, their entitlements, those entitlements'
//! grants and the grants' principals, as a sync of type `partial`. A target
//! the upstream does not have is warned about and skipped, as Baton skips
//! a targeted resource its connector cannot find; so is a grant whose
//! principal is gone.
//!
//! Threat: the component answers a read of one resource. What it uploads
//! is checked ([`check_get_upload`]): the resource asked for and nothing
//! else, no grant, entitlements only of that resource; "not found" uploads
//! nothing. A principal read stores the resource alone, so a principal
//! cannot smuggle in entitlements the targeted sync did not ask for.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use c1z::C1zWriter;
use tokio::task::JoinSet;

use crate::bindings::{sync_api, types as wit};
use crate::convert;
use crate::engine::{CallReport, Operation, Output, Plugin, WarmInstances};
use crate::error::CallError;
use crate::state::{InstanceCtx, UploadBuffer};
use crate::sync::SyncError;

/// A resource a targeted sync reads, with its parent when the caller knows
/// it (ConductorOne's task carries it; `--sync-resources` does not).
#[derive(Debug, Clone)]
pub struct SyncTarget {
    pub id: wit::ResourceId,
    pub parent: Option<wit::ResourceId>,
}

impl SyncTarget {
    /// `<resource-type>:<resource-id>`, as `--sync-resources` takes it. The
    /// id may itself contain `:`; the type may not (as resource type ids).
    pub fn parse(text: &str) -> Result<Self, String> {
        match text.split_once(':') {
            Some((t, r)) if !t.trim().is_empty() && !r.trim().is_empty() => Ok(Self {
                id: wit::ResourceId {
                    resource_type: t.trim().to_string(),
                    resource: r.trim().to_string(),
                },
                parent: None,
            }),
            _ => Err(format!(
                "targeted resource {text:?} is not <resource-type>:<resource-id>"
            )),
        }
    }

    pub fn describe(&self) -> String {
        format!("{}:{}", self.id.resource_type, self.id.resource)
    }
}

fn same(a: &wit::ResourceId, b: &wit::ResourceId) -> bool {
    a.resource_type == b.resource_type && a.resource == b.resource
}

/// Refuses targets the component cannot read: an undeclared type, or one
/// its `resource-getter` does not cover.
pub(crate) fn check_targets(plugin: &Plugin, targets: &[SyncTarget]) -> Result<(), SyncError> {
    for t in targets {
        let declared = plugin
            .metadata
            .resource_types
            .iter()
            .any(|d| d.id == t.id.resource_type);
        if !declared {
            return Err(SyncError::Connector(format!(
                "targeted resource {}: the connector declares no resource type {:?}",
                t.describe(),
                t.id.resource_type
            )));
        }
        if !plugin.can_get(&t.id.resource_type) {
            return Err(SyncError::Connector(format!(
                "targeted resource {}: the connector cannot read single resources of type {:?} \
                 (its resource-getter does not cover it)",
                t.describe(),
                t.id.resource_type
            )));
        }
    }
    Ok(())
}

/// What a `get-resource` call of `target` may have uploaded: with `found`,
/// that resource and entitlements of it; otherwise nothing.
pub(crate) fn check_get_upload(
    upload: &UploadBuffer,
    target: &wit::ResourceId,
    found: bool,
) -> Result<(), String> {
    let name = format!("{}:{}", target.resource_type, target.resource);
    if !found {
        if !upload.is_empty() {
            return Err(format!(
                "get-resource of {name} answered \"not found\" but uploaded {} records",
                upload.len()
            ));
        }
        return Ok(());
    }
    if !upload.grants.is_empty() || !upload.grant_sets.is_empty() {
        return Err(format!("get-resource of {name} uploaded grants"));
    }
    match upload.resources.as_slice() {
        [r] if same(&r.id, target) => {}
        [] => {
            return Err(format!(
                "get-resource of {name} found it but uploaded no resource"
            ));
        }
        [r] => {
            return Err(format!(
                "get-resource of {name} uploaded resource {}:{} instead",
                r.id.resource_type, r.id.resource
            ));
        }
        more => {
            return Err(format!(
                "get-resource of {name} uploaded {} resources, not one",
                more.len()
            ));
        }
    }
    if let Some(e) = upload
        .entitlements
        .iter()
        .find(|e| !same(&e.resource, target))
    {
        return Err(format!(
            "get-resource of {name} uploaded entitlement {} of another resource",
            convert::entitlement_id(&e.resource, &e.slug)
        ));
    }
    Ok(())
}

/// A target's read as the page the engine commits: no next page, no
/// follow-ups, the upload checked. Not found is a warning and an empty page.
pub(crate) fn found_as_page(
    target: &wit::ResourceId,
    found: bool,
    report: CallReport,
    what: &str,
    warnings: &mut Vec<String>,
) -> Result<(Output, CallReport), CallError> {
    check_get_upload(&report.upload, target, found).map_err(CallError::InvalidRecord)?;
    if !found {
        // Worded as the cut from a full sync words it, whichever ran.
        let w = format!(
            "targeted resource {}:{} not found; skipped ({what})",
            target.resource_type, target.resource
        );
        tracing::warn!("{w}");
        warnings.push(w);
    }
    let page = sync_api::PageOutcome {
        next_page_token: None,
        follow_ups: Vec::new(),
    };
    Ok((Output::Page(Box::new(page)), report))
}

/// How the principal reads of one grants page went.
pub(crate) struct RelatedReads {
    /// Calls made, retries included.
    pub calls: u64,
    pub warnings: Vec<String>,
}

/// What [`fetch_principals`] needs of the running sync.
pub(crate) struct RelatedContext<'a> {
    pub plugin: &'a Arc<Plugin>,
    pub instance: &'a Arc<InstanceCtx>,
    pub warm: &'a Arc<WarmInstances>,
    pub concurrency: usize,
    pub max_attempts: u32,
    /// Calls the sync made before this page's reads, across resumes.
    pub calls_before: u64,
    /// The sync's `max_calls`.
    pub max_calls: u64,
}

/// Reads and stores the principals of `upload`'s grants that the sync has
/// not stored, then drops the grants whose principal the upstream does not
/// have (remembered in `gone`, so later pages do not ask again).
pub(crate) async fn fetch_principals(
    cx: RelatedContext<'_>,
    writer: &mut C1zWriter,
    upload: &mut UploadBuffer,
    gone: &mut HashSet<(String, String)>,
    task: &str,
) -> Result<RelatedReads, SyncError> {
    let mut wanted: Vec<wit::ResourceId> = Vec::new();
    let mut asked: HashSet<(String, String)> = HashSet::new();
    let principals =
        upload
            .grants
            .iter()
            .map(|g| g.principal.clone())
            .chain(upload.grant_sets.iter().flat_map(|s| {
                s.principal_ids.iter().map(|id| wit::ResourceId {
                    resource_type: s.principal_type.clone(),
                    resource: id.clone(),
                })
            }));
    for p in principals {
        let key = (p.resource_type.clone(), p.resource.clone());
        if gone.contains(&key) || asked.contains(&key) {
            continue;
        }
        if writer.resource_exists(&p.resource_type, &p.resource)? {
            continue;
        }
        if !cx.plugin.can_get(&p.resource_type) {
            return Err(SyncError::Connector(format!(
                "{task}: grant principal {}:{} is not stored, and the connector cannot read \
                 single resources of type {:?} to fetch it",
                p.resource_type, p.resource, p.resource_type
            )));
        }
        asked.insert(key);
        wanted.push(p);
    }
    let mut reads = RelatedReads {
        calls: 0,
        warnings: Vec::new(),
    };
    let mut pending = wanted.into_iter();
    let mut inflight: JoinSet<(wit::ResourceId, u32, Result<_, CallError>)> = JoinSet::new();
    let spawn = |set: &mut JoinSet<_>, id: wit::ResourceId, attempt: u32| {
        let plugin = cx.plugin.clone();
        let instance = cx.instance.clone();
        let warm = cx.warm.clone();
        set.spawn(async move {
            if attempt > 0 {
                tokio::time::sleep(Duration::from_millis(500u64 << attempt.min(6))).await;
            }
            let result = plugin
                .call_warm(&instance, Operation::GetResource(id.clone(), None), &warm)
                .await;
            (id, attempt, result)
        });
    };
    loop {
        while inflight.len() < cx.concurrency.max(1)
            && let Some(id) = pending.next()
        {
            spawn(&mut inflight, id, 0);
        }
        let Some(joined) = inflight.join_next().await else {
            break;
        };
        let (id, attempt, result) = joined
            .map_err(|e| SyncError::Connector(format!("a connector call task failed: {e}")))?;
        reads.calls += 1;
        let what = format!(
            "{task}: get-resource of principal {}:{}",
            id.resource_type, id.resource
        );
        if cx.calls_before + reads.calls > cx.max_calls {
            inflight.abort_all();
            return Err(SyncError::LimitReached {
                bound: crate::sync::SyncBound::Calls,
                limit: cx.max_calls,
                task: what,
            });
        }
        let found = match result {
            Ok((Output::Found(found), report)) => {
                check_get_upload(&report.upload, &id, found).map_err(|m| SyncError::Call {
                    task: what.clone(),
                    error: CallError::InvalidRecord(m),
                })?;
                if found {
                    // The principal alone: its entitlements are not the
                    // targets' and stay out of a targeted sync.
                    let r = convert::resource(&report.upload.resources[0]);
                    writer
                        .put_resources(std::slice::from_ref(&r))
                        .map_err(|e| match e {
                            c1z::C1zError::IdCollision { .. } => SyncError::Call {
                                task: what.clone(),
                                error: CallError::InvalidRecord(e.to_string()),
                            },
                            e => SyncError::Artifact(e),
                        })?;
                }
                found
            }
            Ok((other, _)) => {
                inflight.abort_all();
                return Err(SyncError::Connector(format!(
                    "{what}: the connector returned {other:?} instead of found or not"
                )));
            }
            Err(e) if e.is_transient() && attempt + 1 < cx.max_attempts => {
                tracing::warn!(task = what, attempt = attempt + 1, "retrying after: {e}");
                spawn(&mut inflight, id, attempt + 1);
                continue;
            }
            Err(CallError::Connector {
                kind: "not-found", ..
            }) => false,
            Err(error) => {
                inflight.abort_all();
                return Err(SyncError::Call { task: what, error });
            }
        };
        if !found {
            let w = format!("{what}: not found; its grants are skipped");
            tracing::warn!("{w}");
            reads.warnings.push(w);
            gone.insert((id.resource_type, id.resource));
        }
    }
    if !gone.is_empty() {
        let kept = |t: &str, r: &str| !gone.contains(&(t.to_string(), r.to_string()));
        upload
            .grants
            .retain(|g| kept(&g.principal.resource_type, &g.principal.resource));
        for s in &mut upload.grant_sets {
            let t = s.principal_type.clone();
            s.principal_ids.retain(|id| kept(&t, id));
        }
        upload.grant_sets.retain(|s| !s.principal_ids.is_empty());
    }
    Ok(reads)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(t: &str, r: &str) -> wit::ResourceId {
        wit::ResourceId {
            resource_type: t.into(),
            resource: r.into(),
        }
    }

    fn resource(t: &str, r: &str) -> wit::Resource {
        wit::Resource {
            id: id(t, r),
            parent: None,
            display_name: r.into(),
            description: None,
            external_id: None,
            status: wit::ResourceStatus::Unspecified,
            created_at: None,
            trait_: None,
        }
    }

    fn entitlement(t: &str, r: &str) -> wit::Entitlement {
        wit::Entitlement {
            resource: id(t, r),
            slug: "member".into(),
            display_name: "Member".into(),
            description: None,
            purpose: wit::EntitlementPurpose::Assignment,
            grantable_to: vec!["user".into()],
            immutable: false,
            metadata_json: None,
        }
    }

    #[test]
    fn a_target_parses_as_type_and_id() {
        let t = SyncTarget::parse("group:a:b").unwrap();
        assert!(same(&t.id, &id("group", "a:b")));
        assert_eq!(t.describe(), "group:a:b");
        for bad in ["group", ":x", "group:", ""] {
            let e = SyncTarget::parse(bad).unwrap_err();
            assert!(e.contains("<resource-type>:<resource-id>"), "{e}");
        }
    }

    #[test]
    fn a_get_uploads_the_target_and_its_entitlements_only() {
        let target = id("group", "g1");
        let mut up = UploadBuffer::default();
        assert!(check_get_upload(&up, &target, false).is_ok());
        let e = check_get_upload(&up, &target, true).unwrap_err();
        assert!(e.contains("uploaded no resource"), "{e}");

        up.resources.push(resource("group", "g1"));
        up.entitlements.push(entitlement("group", "g1"));
        assert!(check_get_upload(&up, &target, true).is_ok());
        let e = check_get_upload(&up, &target, false).unwrap_err();
        assert!(e.contains("not found"), "{e}");

        up.entitlements.push(entitlement("group", "g2"));
        let e = check_get_upload(&up, &target, true).unwrap_err();
        assert!(e.contains("entitlement group:g2:member"), "{e}");
        up.entitlements.pop();

        up.resources.push(resource("group", "g2"));
        let e = check_get_upload(&up, &target, true).unwrap_err();
        assert!(e.contains("2 resources"), "{e}");
        up.resources.remove(0);
        let e = check_get_upload(&up, &target, true).unwrap_err();
        assert!(e.contains("uploaded resource group:g2 instead"), "{e}");
        up.resources[0] = resource("group", "g1");

        up.grants.push(wit::Grant {
            entitlement_resource: id("group", "g1"),
            entitlement_slug: "member".into(),
            principal: id("user", "u1"),
            expansion: None,
            immutable_reason: None,
            metadata_json: None,
        });
        let e = check_get_upload(&up, &target, true).unwrap_err();
        assert!(e.contains("uploaded grants"), "{e}");
    }
}
