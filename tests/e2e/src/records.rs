//! One sync's records, sorted, so two c1z files compare record for record.

use std::path::Path;

use connector_runtime::c1z::{C1zReader, GrantFilter, pb};

/// Everything one sync holds, each kind sorted by id.
#[derive(Debug, PartialEq)]
pub struct SyncRecords {
    pub sync_type: String,
    pub resource_types: Vec<pb::ResourceType>,
    pub resources: Vec<pb::Resource>,
    pub entitlements: Vec<pb::Entitlement>,
    pub grants: Vec<pb::Grant>,
}

/// The records of the sync readers show by default in `file` (the latest
/// full one), which must be finished.
pub fn default_sync(file: &Path) -> SyncRecords {
    let reader = C1zReader::open(file).expect("opening the c1z");
    let run = reader.default_sync().unwrap().expect("a sync");
    assert!(run.ended_at.is_some(), "the sync is finished");
    of_sync(&reader, &run.sync_id, &run.sync_type)
}

/// The records of the only sync in `file`, which must be finished.
pub fn only_sync(file: &Path) -> SyncRecords {
    let reader = C1zReader::open(file).expect("opening the c1z");
    let syncs = reader.syncs().expect("listing syncs");
    assert_eq!(syncs.len(), 1, "one sync in {}", file.display());
    let run = &syncs[0];
    assert!(run.ended_at.is_some(), "the sync is finished");
    of_sync(&reader, &run.sync_id, &run.sync_type)
}

fn of_sync(reader: &C1zReader, id: &str, sync_type: &str) -> SyncRecords {
    let mut resource_types = reader.resource_types(id).unwrap();
    resource_types.sort_by(|a, b| a.id.cmp(&b.id));
    let mut resources: Vec<pb::Resource> = reader
        .resources(id, None)
        .collect::<Result<_, _>>()
        .unwrap();
    resources.sort_by_key(|r| {
        r.id.as_ref()
            .map(|i| (i.resource_type.clone(), i.resource.clone()))
    });
    let mut entitlements: Vec<pb::Entitlement> = reader
        .entitlements(id, None)
        .collect::<Result<_, _>>()
        .unwrap();
    entitlements.sort_by(|a, b| a.id.cmp(&b.id));
    let mut grants: Vec<pb::Grant> = reader
        .grants(id, &GrantFilter::default())
        .collect::<Result<_, _>>()
        .unwrap();
    grants.sort_by(|a, b| a.id.cmp(&b.id));
    SyncRecords {
        sync_type: sync_type.to_string(),
        resource_types,
        resources,
        entitlements,
        grants,
    }
}
