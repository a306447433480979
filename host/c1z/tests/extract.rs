//! `extract_sync`: one finished sync out of a c1z that holds several.

mod common;

use std::path::Path;

use c1z::{C1zError, C1zReader, ExtractOptions, extract_sync};
use common::{Fixture, snapshot};

/// Row counts of `sync_id` in every per-sync table, and of all rows.
fn rows(path: &Path, sync_id: &str) -> (i64, i64) {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("db");
    c1z::envelope::decompress_to(path, &db, c1z::envelope::DEFAULT_MAX_DECODED).unwrap();
    let conn = rusqlite::Connection::open(&db).unwrap();
    let (mut mine, mut all) = (0, 0);
    for t in c1z::schema::ALL_TABLES {
        let count = |sql: String| conn.query_row(&sql, [], |r| r.get::<_, i64>(0)).unwrap();
        mine += count(format!(
            "select count(*) from {t} where sync_id = '{sync_id}'"
        ));
        all += count(format!("select count(*) from {t}"));
    }
    (mine, all)
}

#[test]
fn the_copy_holds_one_sync_exactly_as_the_source_had_it() {
    let dir = tempfile::tempdir().unwrap();
    let source = dir.path().join("kept.c1z");
    let fx = Fixture::pingone();
    let (first, _) = fx.write_sync(&source);
    let first_view = snapshot(&source);
    let (second, _) = fx.write_sync(&source);
    let before = std::fs::read(&source).unwrap();
    assert_eq!(
        C1zReader::open(&source).unwrap().syncs().unwrap().len(),
        2,
        "the source keeps both syncs"
    );

    for (id, other) in [(&first, &second), (&second, &first)] {
        let out = dir.path().join(format!("{id}.c1z"));
        let report = extract_sync(&source, id, &out, &ExtractOptions::default()).unwrap();
        assert_eq!(&report.sync_id, id);
        assert_eq!(&report.dropped_syncs, std::slice::from_ref(other));
        assert_eq!(report.c1z_bytes, std::fs::metadata(&out).unwrap().len());
        let r = C1zReader::open(&out).unwrap();
        let syncs = r.syncs().unwrap();
        assert_eq!(syncs.len(), 1, "{syncs:?}");
        assert_eq!(&syncs[0].sync_id, id);
        assert!(syncs[0].is_finished() && syncs[0].sync_type == "full");
        // Its run row is the source's, stats included.
        let original = C1zReader::open(&source).unwrap().sync(id).unwrap().unwrap();
        assert_eq!(
            (&syncs[0].started_at, &syncs[0].ended_at, &syncs[0].stats),
            (&original.started_at, &original.ended_at, &original.stats)
        );
        assert_eq!(report.stats, r.stats(id).unwrap());
        let (mine, all) = rows(&out, id);
        assert_eq!(mine, all, "no row of another sync");
        let st = &report.stats;
        assert_eq!(
            decode_all(&r, id),
            st.resource_types + st.resources + st.entitlements + st.grants,
            "every object row is this sync's and decodes"
        );
    }
    // The records are the source's, byte for byte.
    assert_eq!(
        snapshot(&dir.path().join(format!("{first}.c1z"))),
        first_view
    );
    // The source is read, never written.
    assert_eq!(std::fs::read(&source).unwrap(), before);
}

#[test]
fn a_missing_or_unfinished_sync_is_refused_and_nothing_is_written() {
    let dir = tempfile::tempdir().unwrap();
    let source = dir.path().join("kept.c1z");
    let fx = Fixture::pingone();
    fx.write_sync(&source);
    let out = dir.path().join("out.c1z");
    let e = extract_sync(
        &source,
        "2N0nesuchsyncid000000000000",
        &out,
        &Default::default(),
    )
    .unwrap_err();
    assert!(matches!(e, C1zError::NotFound(_)), "{e}");
    assert!(!out.exists());

    // An unfinished sync in a file (as an interrupted run left it).
    let db_dir = tempfile::tempdir().unwrap();
    let db = db_dir.path().join("db");
    c1z::envelope::decompress_to(&source, &db, c1z::envelope::DEFAULT_MAX_DECODED).unwrap();
    {
        let conn = rusqlite::Connection::open(&db).unwrap();
        conn.execute("update v1_sync_runs set ended_at = null", [])
            .unwrap();
    }
    let unfinished = dir.path().join("unfinished.c1z");
    c1z::envelope::compress_to(&db, &unfinished, 3).unwrap();
    let id = C1zReader::open(&unfinished).unwrap().syncs().unwrap()[0]
        .sync_id
        .clone();
    let e = extract_sync(&unfinished, &id, &out, &Default::default()).unwrap_err();
    assert!(matches!(e, C1zError::NotFound(_)), "{e}");
    assert!(!out.exists());
}

#[test]
fn tables_it_cannot_attribute_to_a_sync_are_left_out() {
    let dir = tempfile::tempdir().unwrap();
    let source = dir.path().join("kept.c1z");
    let (id, _) = Fixture::pingone().write_sync(&source);
    // A newer writer's table, holding something of another sync.
    let db_dir = tempfile::tempdir().unwrap();
    let db = db_dir.path().join("db");
    c1z::envelope::decompress_to(&source, &db, c1z::envelope::DEFAULT_MAX_DECODED).unwrap();
    {
        let conn = rusqlite::Connection::open(&db).unwrap();
        conn.execute_batch(
            "create table v2_elsewhere (sync_id text, secret text); \
             insert into v2_elsewhere values ('other', 'do not copy');",
        )
        .unwrap();
    }
    let with_extra = dir.path().join("extra.c1z");
    c1z::envelope::compress_to(&db, &with_extra, 3).unwrap();

    let out = dir.path().join("out.c1z");
    extract_sync(&with_extra, &id, &out, &Default::default()).unwrap();
    let check = tempfile::tempdir().unwrap();
    let copy = check.path().join("db");
    c1z::envelope::decompress_to(&out, &copy, c1z::envelope::DEFAULT_MAX_DECODED).unwrap();
    let bytes = std::fs::read(&copy).unwrap();
    assert!(
        !bytes.windows(11).any(|w| w == b"do not copy"),
        "the dropped table's rows are not in the file's free pages either"
    );
    let conn = rusqlite::Connection::open(&copy).unwrap();
    let tables: i64 = conn
        .query_row(
            "select count(*) from sqlite_master where name = 'v2_elsewhere'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(tables, 0);
}

#[test]
fn a_targeted_copy_is_a_partial_sync_of_those_resources() {
    let dir = tempfile::tempdir().unwrap();
    let source = dir.path().join("kept.c1z");
    let fx = Fixture::pingone();
    let (full, _) = fx.write_sync(&source);
    let out = dir.path().join("partial.c1z");
    let targets = [
        c1z::pb::ResourceId::new("group", "g-eng"),
        c1z::pb::ResourceId::new("user", "u-nobody"),
    ];
    let report =
        c1z::extract_targeted(&source, &full, &targets, &out, &Default::default()).unwrap();
    assert_ne!(report.sync_id, full, "a sync of its own");
    assert_eq!(report.missing_targets, ["user:u-nobody"]);

    let src = C1zReader::open(&source).unwrap();
    let on_eng = |e: &c1z::pb::Entitlement| {
        e.resource.as_ref().and_then(|r| r.id.as_ref()) == Some(&targets[0])
    };
    let want_entitlements: Vec<String> = src
        .entitlements(&full, None)
        .map(|e| e.unwrap())
        .filter(on_eng)
        .map(|e| e.id)
        .collect();
    let want_grants: Vec<c1z::pb::Grant> = src
        .grants(&full, &Default::default())
        .map(|g| g.unwrap())
        .filter(|g| g.entitlement.as_ref().is_some_and(on_eng))
        .collect();
    assert!(!want_grants.is_empty(), "the fixture's group has members");
    let mut want_resources: Vec<String> = want_grants
        .iter()
        .map(|g| {
            g.principal
                .as_ref()
                .unwrap()
                .id
                .as_ref()
                .unwrap()
                .external_id()
        })
        .chain(["group:g-eng".to_string()])
        .collect();
    want_resources.sort();
    want_resources.dedup();

    let r = C1zReader::open(&out).unwrap();
    let syncs = r.syncs().unwrap();
    assert_eq!(syncs.len(), 1);
    let s = &syncs[0];
    assert_eq!(
        (s.sync_id.as_str(), s.sync_type.as_str()),
        (report.sync_id.as_str(), "partial")
    );
    assert!(s.is_finished());
    assert_eq!(
        r.resource_types(&s.sync_id).unwrap().len(),
        fx.resource_types().len(),
        "every resource type, as Baton's partial sync lists them"
    );
    let mut resources: Vec<String> = r
        .resources(&s.sync_id, None)
        .map(|x| x.unwrap().id.unwrap().external_id())
        .collect();
    resources.sort();
    assert_eq!(resources, want_resources);
    let entitlements: Vec<String> = r
        .entitlements(&s.sync_id, None)
        .map(|e| e.unwrap().id)
        .collect();
    assert_eq!(entitlements, want_entitlements);
    let grants: Vec<String> = r
        .grants(&s.sync_id, &Default::default())
        .map(|g| g.unwrap().id)
        .collect();
    assert_eq!(
        grants,
        want_grants.iter().map(|g| g.id.clone()).collect::<Vec<_>>()
    );
    let (mine, all) = rows(&out, &s.sync_id);
    assert_eq!(mine, all);
    assert!(
        s.stats
            .as_deref()
            .unwrap()
            .contains(&format!("\"grants\":{}", grants.len()))
    );
}

/// Decodes every record of `sync_id`; returns their count.
fn decode_all(r: &C1zReader, sync_id: &str) -> u64 {
    let n = r.resource_types(sync_id).unwrap().len()
        + r.resources(sync_id, None).map(Result::unwrap).count()
        + r.entitlements(sync_id, None).map(Result::unwrap).count()
        + r.grants(sync_id, &Default::default())
            .map(Result::unwrap)
            .count();
    n as u64
}
