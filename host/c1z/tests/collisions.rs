//! Records whose derived ids collide are refused, naming both; re-putting
//! the same record (a retried call) is accepted.
//!
//! Ids are joined with `:` from parts that may themselves hold `:`, so
//! different records can derive one id. Before this check the second
//! silently replaced the first in the artifact.

use c1z::pb;
use c1z::{C1zError, C1zWriter, WriterOptions};

fn writer(dir: &tempfile::TempDir) -> C1zWriter {
    C1zWriter::open(&dir.path().join("sync.c1z"), WriterOptions::default())
        .expect("opening a writer")
        .0
}

fn resource(t: &str, id: &str) -> pb::Resource {
    pb::Resource {
        id: Some(pb::ResourceId::new(t, id)),
        display_name: id.into(),
        ..Default::default()
    }
}

fn entitlement(t: &str, id: &str, slug: &str) -> pb::Entitlement {
    pb::Entitlement {
        resource: Some(resource(t, id)),
        id: format!("{t}:{id}:{slug}"),
        slug: slug.into(),
        display_name: slug.into(),
        ..Default::default()
    }
}

fn grant(ent: &pb::Entitlement, pt: &str, pid: &str) -> pb::Grant {
    pb::Grant {
        id: format!("{}:{pt}:{pid}", ent.id),
        entitlement: Some(pb::Entitlement {
            id: ent.id.clone(),
            resource: ent.resource.clone(),
            ..Default::default()
        }),
        principal: Some(resource(pt, pid)),
        ..Default::default()
    }
}

fn collision(e: C1zError) -> (String, String, String) {
    match e {
        C1zError::IdCollision {
            id, stored, new, ..
        } => (id, stored, new),
        other => panic!("expected IdCollision, got {other}"),
    }
}

#[test]
fn colliding_entitlement_ids_are_refused_naming_both() {
    let dir = tempfile::tempdir().unwrap();
    let mut w = writer(&dir);
    let first = entitlement("group", "a:b", "c");
    let second = entitlement("group", "a", "b:c");
    assert_eq!(first.id, second.id);
    w.put_entitlements(std::slice::from_ref(&first)).unwrap();
    // A retried call puts the same record again: accepted, one row.
    let mut again = first.clone();
    again.display_name = "renamed upstream".into();
    w.put_entitlements(&[again]).unwrap();
    let err = w.put_entitlements(&[second]).unwrap_err();
    let text = err.to_string();
    let (id, stored, new) = collision(err);
    assert_eq!(id, "group:a:b:c");
    assert_eq!(stored, "resource group:a:b slug \"c\"");
    assert_eq!(new, "resource group:a slug \"b:c\"");
    assert!(
        text.contains("derived from two different records"),
        "{text}"
    );
    // The stored record is the first one, with its re-put's data.
    let kept = w.get_entitlement("group:a:b:c").unwrap().unwrap();
    assert_eq!(kept.slug, "c");
    assert_eq!(kept.display_name, "renamed upstream");
}

/// Within one put as well as across puts.
#[test]
fn colliding_grant_ids_are_refused_naming_both() {
    let dir = tempfile::tempdir().unwrap();
    let mut w = writer(&dir);
    let member = entitlement("group", "g1", "member");
    let odd = entitlement("group", "g1", "member:user:u");
    let one = grant(&member, "user", "u:user:v");
    let two = grant(&odd, "user", "v");
    assert_eq!(one.id, two.id);
    let err = w.put_grants(&[one.clone(), one.clone(), two]).unwrap_err();
    let (id, stored, new) = collision(err);
    assert_eq!(id, "group:g1:member:user:u:user:v");
    assert_eq!(stored, "entitlement group:g1:member to user:u:user:v");
    assert_eq!(new, "entitlement group:g1:member:user:u to user:v");
}

#[test]
fn colliding_resource_ids_are_refused_naming_both() {
    let dir = tempfile::tempdir().unwrap();
    let mut w = writer(&dir);
    // Only a writer fed by hand can do this: the host refuses `:` in
    // resource type ids.
    w.put_resources(&[resource("a", "b:c")]).unwrap();
    w.put_resources(&[resource("a", "b:c")]).unwrap();
    let (id, stored, new) = collision(w.put_resources(&[resource("a:b", "c")]).unwrap_err());
    assert_eq!(id, "a:b:c");
    assert_eq!(stored, "a resource of type a");
    assert_eq!(new, "a resource of type a:b");
}
