//! Keep-two cleanup and diffs across three syncs written into the same file.

mod common;

use c1z::inspect::{CommonArgs, InspectCommand, OutputFormat};
use c1z::pb;
use c1z::{C1zReader, C1zWriter, SyncStart, WriterOptions, run_inspect};
use common::{Fixture, User, user_resource};

fn write(
    target: &std::path::Path,
    fx: &Fixture,
    extra_user: Option<&User>,
    drop_grant: Option<&str>,
) -> String {
    let (mut w, start) = C1zWriter::open(target, WriterOptions::default()).unwrap();
    assert!(matches!(start, SyncStart::New { .. }));
    w.put_resource_types(&fx.resource_types()).unwrap();
    let mut resources = fx.all_resources();
    if let Some(u) = extra_user {
        resources.push(user_resource(u));
    }
    w.put_resources(&resources).unwrap();
    w.put_entitlements(&fx.entitlements()).unwrap();
    let grants: Vec<pb::Grant> = fx
        .grants()
        .into_iter()
        .filter(|g| Some(g.id.as_str()) != drop_grant)
        .collect();
    w.put_grants(&grants).unwrap();
    w.checkpoint("{}").unwrap();
    let id = w.sync_id().to_string();
    w.finish().unwrap();
    id
}

fn count_rows(target: &std::path::Path, sync_id: &str) -> i64 {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("db");
    c1z::envelope::decompress_to(target, &db, c1z::envelope::DEFAULT_MAX_DECODED).unwrap();
    let conn = rusqlite::Connection::open(&db).unwrap();
    let mut n = 0;
    for t in c1z::schema::ALL_TABLES {
        n += conn
            .query_row(
                &format!("select count(*) from {t} where sync_id = ?1"),
                [sync_id],
                |r| r.get::<_, i64>(0),
            )
            .unwrap();
    }
    n
}

#[test]
fn keeps_newest_two_syncs_and_diffs_them() {
    let dir = tempfile::tempdir().unwrap();
    let target = dir.path().join("sync.c1z");
    let fx = Fixture::pingone();

    let s1 = write(&target, &fx, None, None);
    let frank = User {
        id: "u-frank",
        name: "Frank Fox",
        email: "frank@example.com",
        enabled: true,
    };
    let s2 = write(
        &target,
        &fx,
        Some(&frank),
        Some("group:g-eng:member:user:u-bob"),
    );
    {
        let r = C1zReader::open(&target).unwrap();
        let ids: Vec<String> = r.syncs().unwrap().into_iter().map(|s| s.sync_id).collect();
        assert_eq!(ids, vec![s1.clone(), s2.clone()], "two runs give two syncs");
        let d = r.diff(&s1, &s2).unwrap();
        assert_eq!(d.resources.added.len(), 1);
        assert_eq!(
            d.resources.added[0].id.as_ref().unwrap().resource,
            "u-frank"
        );
        assert!(d.resources.removed.is_empty() && d.resources.changed.is_empty());
        assert_eq!(d.grants.removed.len(), 1);
        assert_eq!(d.grants.removed[0].id, "group:g-eng:member:user:u-bob");
        assert!(
            d.entitlements == Default::default(),
            "deterministic blobs: no spurious changes"
        );
    }

    // Third sync: Frank renamed (a change), Bob's grant back (an addition).
    let frank2 = User {
        name: "Frank Fox-Renamed",
        ..frank
    };
    let s3 = write(&target, &fx, Some(&frank2), None);
    assert_ne!(s3, s2);

    let r = C1zReader::open(&target).unwrap();
    let syncs = r.syncs().unwrap();
    let ids: Vec<&str> = syncs.iter().map(|s| s.sync_id.as_str()).collect();
    assert_eq!(
        ids,
        vec![s2.as_str(), s3.as_str()],
        "only the newest two are kept"
    );
    assert!(
        syncs
            .iter()
            .all(|s| s.is_finished() && s.sync_type == "full")
    );
    assert_eq!(
        count_rows(&target, &s1),
        0,
        "every row of the oldest sync is deleted"
    );
    assert!(count_rows(&target, &s2) > 0);

    let newer = r.default_sync().unwrap().unwrap();
    let older = r.finished_full_before(&newer).unwrap().unwrap();
    assert_eq!(
        (older.sync_id.as_str(), newer.sync_id.as_str()),
        (s2.as_str(), s3.as_str())
    );
    let d = r.diff(&s2, &s3).unwrap();
    assert_eq!(d.resources.changed.len(), 1);
    let (old, new) = &d.resources.changed[0];
    assert_eq!(old.display_name, "Frank Fox");
    assert_eq!(new.display_name, "Frank Fox-Renamed");
    assert_eq!(d.grants.added.len(), 1);
    assert!(d.grants.removed.is_empty() && d.grants.changed.is_empty());
    assert_eq!(
        r.default_sync().unwrap().unwrap().sync_id,
        s3,
        "view is the latest sync"
    );

    // `inspect diff` compares the latest two syncs.
    let mut out = Vec::new();
    let cmd = InspectCommand::Diff {
        base_sync_id: None,
        common: CommonArgs::default(),
    };
    run_inspect(&target, &cmd, &mut out).unwrap();
    let text = String::from_utf8(out).unwrap();
    assert!(text.contains(&format!("diff {s2} -> {s3}")), "{text}");
    assert!(text.contains("changed  resource"), "{text}");
    assert!(text.contains("user:u-frank"), "{text}");
    assert!(text.contains("added    grant"), "{text}");
    assert!(text.contains("2 changes"), "{text}");

    let mut out = Vec::new();
    let cmd = InspectCommand::Diff {
        base_sync_id: None,
        common: CommonArgs {
            output_format: OutputFormat::Json,
            sync_id: None,
        },
    };
    run_inspect(&target, &cmd, &mut out).unwrap();
    let v: serde_json::Value = serde_json::from_slice(&out).unwrap();
    assert_eq!(
        v["resources"]["modified"][0]["displayName"],
        "Frank Fox-Renamed"
    );
    assert_eq!(
        v["grants"]["created"][0]["id"],
        "group:g-eng:member:user:u-bob"
    );
    assert_eq!(v["baseSyncId"], s2.as_str());
}

#[test]
fn keep_count_is_configurable() {
    let dir = tempfile::tempdir().unwrap();
    let target = dir.path().join("sync.c1z");
    let fx = Fixture::pingone();
    let opts = WriterOptions {
        keep_syncs: 1,
        ..Default::default()
    };
    for _ in 0..2 {
        let (mut w, _) = C1zWriter::open(&target, opts.clone()).unwrap();
        w.put_resource_types(&fx.resource_types()).unwrap();
        let report = w.finish().unwrap();
        assert_eq!(report.c1z_bytes, std::fs::metadata(&target).unwrap().len());
    }
    let r = C1zReader::open(&target).unwrap();
    assert_eq!(r.syncs().unwrap().len(), 1);
    let only = r.default_sync().unwrap().unwrap();
    assert!(r.finished_full_before(&only).unwrap().is_none());
}
