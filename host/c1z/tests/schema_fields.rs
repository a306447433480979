//! Fields of Baton's schema that the hand-written messages once left out
//! (a group's source type, a role's scope conditions) survive a c1z round
//! trip, are shown by `inspect` and make `diff` report the record changed.

mod common;

use c1z::inspect::{CommonArgs, InspectCommand, OutputFormat};
use c1z::{C1zReader, C1zWriter, SyncStart, WriterOptions, pb, run_inspect};
use common::{Fixture, resource};
use prost::Message;

fn group(raw_source: &str) -> pb::Resource {
    let group_trait = pb::GroupTrait {
        group_source_type: 3,
        raw_group_source_type: raw_source.into(),
        ..Default::default()
    };
    let role_trait = pb::RoleTrait {
        role_scope_conditions: Some(pb::RoleScopeConditions {
            r#type: "cel".into(),
            conditions: vec![pb::RoleScopeCondition {
                expression: "subject.department == 'eng'".into(),
            }],
        }),
        ..Default::default()
    };
    resource(
        "group",
        "g-scoped",
        "Scoped",
        vec![pb::pack_any(&group_trait), pb::pack_any(&role_trait)],
    )
}

fn write_sync(target: &std::path::Path, fx: &Fixture, extra: pb::Resource) -> String {
    let (mut w, start) = C1zWriter::open(target, WriterOptions::default()).unwrap();
    assert!(matches!(start, SyncStart::New { .. }));
    w.put_resource_types(&fx.resource_types()).unwrap();
    let mut resources = fx.all_resources();
    resources.push(extra);
    w.put_resources(&resources).unwrap();
    w.checkpoint("{}").unwrap();
    let id = w.sync_id().to_string();
    w.finish().unwrap();
    id
}

fn inspect_json(path: &std::path::Path, cmd: InspectCommand) -> serde_json::Value {
    let mut out = Vec::new();
    run_inspect(path, &cmd, &mut out).unwrap();
    serde_json::from_slice(&out).unwrap()
}

fn json_args(sync_id: Option<&str>) -> CommonArgs {
    CommonArgs {
        output_format: OutputFormat::Json,
        sync_id: sync_id.map(str::to_string),
    }
}

/// The group's rendered annotations in an `inspect resources` listing.
fn annotations_of(listing: &serde_json::Value) -> Vec<serde_json::Value> {
    listing["resources"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["resource"]["id"]["resource"] == "g-scoped")
        .expect("the scoped group is listed")["resource"]["annotations"]
        .as_array()
        .unwrap()
        .clone()
}

#[test]
fn once_dropped_fields_round_trip_show_in_inspect_and_count_in_diff() {
    let dir = tempfile::tempdir().unwrap();
    let target = dir.path().join("sync.c1z");
    let fx = Fixture::pingone();
    let before = group("LDAP");

    // Round trip: the stored blob decodes to the same record, byte for byte.
    let older = write_sync(&target, &fx, before.clone());
    let reader = C1zReader::open(&target).unwrap();
    let stored = reader
        .resource_in(&older, before.id.as_ref().unwrap())
        .unwrap()
        .expect("stored");
    assert_eq!(stored, before);
    assert_eq!(stored.encode_to_vec(), before.encode_to_vec());
    let decoded: pb::GroupTrait = pb::find_annotation(&stored.annotations).unwrap().unwrap();
    assert_eq!(decoded.raw_group_source_type, "LDAP");
    assert_eq!(decoded.group_source_type, 3);
    drop(reader);

    // inspect shows the fields (an enum number with no declared name stays a number).
    let listing = inspect_json(
        &target,
        InspectCommand::Resources {
            resource_type: Some("group".into()),
            common: json_args(Some(&older)),
        },
    );
    let annotations = annotations_of(&listing);
    let group_json = annotations
        .iter()
        .find(|a| a["@type"] == "type.googleapis.com/c1.connector.v2.GroupTrait")
        .expect("group trait shown");
    assert_eq!(group_json["rawGroupSourceType"], "LDAP");
    assert_eq!(group_json["groupSourceType"], 3);
    let role_json = annotations
        .iter()
        .find(|a| a["@type"] == "type.googleapis.com/c1.connector.v2.RoleTrait")
        .expect("role trait shown");
    assert_eq!(
        role_json["roleScopeConditions"],
        serde_json::json!({
            "type": "cel",
            "conditions": [{"expression": "subject.department == 'eng'"}]
        })
    );

    // A change confined to one of those fields is a modification in diff,
    // and the rendered record carries the new value.
    let newer = write_sync(&target, &fx, group("SCIM"));
    let reader = C1zReader::open(&target).unwrap();
    let d = reader.diff(&older, &newer).unwrap();
    assert!(d.resources.added.is_empty() && d.resources.removed.is_empty());
    assert_eq!(d.resources.changed.len(), 1, "{:?}", d.resources.changed);
    let (old, new) = &d.resources.changed[0];
    assert_eq!(old.display_name, new.display_name);
    drop(reader);
    let diff = inspect_json(
        &target,
        InspectCommand::Diff {
            base_sync_id: Some(older.clone()),
            common: json_args(Some(&newer)),
        },
    );
    let modified = diff["resources"]["modified"].as_array().unwrap();
    assert_eq!(modified.len(), 1);
    let shown = modified[0]["annotations"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["@type"] == "type.googleapis.com/c1.connector.v2.GroupTrait")
        .expect("group trait in the diff");
    assert_eq!(shown["rawGroupSourceType"], "SCIM");
}
