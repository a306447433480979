//! `inspect` subcommands render readable tables and Baton-shaped JSON.

mod common;

use c1z::inspect::{CommonArgs, InspectCommand, OutputFormat};
use c1z::{C1zReader, run_inspect};
use clap::{Parser, Subcommand};
use common::Fixture;

fn setup() -> (tempfile::TempDir, std::path::PathBuf, String) {
    let dir = tempfile::tempdir().unwrap();
    let target = dir.path().join("sync.c1z");
    let (id, _) = Fixture::pingone().write_sync(&target);
    (dir, target, id)
}

fn run(path: &std::path::Path, cmd: InspectCommand) -> String {
    let mut out = Vec::new();
    run_inspect(path, &cmd, &mut out).unwrap();
    String::from_utf8(out).unwrap()
}

fn json(path: &std::path::Path, cmd: InspectCommand) -> serde_json::Value {
    serde_json::from_str(&run(path, cmd)).unwrap()
}

fn js() -> CommonArgs {
    CommonArgs {
        output_format: OutputFormat::Json,
        sync_id: None,
    }
}

#[derive(Parser)]
struct Cli {
    #[command(subcommand)]
    cmd: Wrapper,
}

#[derive(Subcommand)]
enum Wrapper {
    Inspect {
        #[command(subcommand)]
        cmd: InspectCommand,
    },
}

fn parse(args: &[&str]) -> InspectCommand {
    let mut all = vec!["prog", "inspect"];
    all.extend_from_slice(args);
    let Wrapper::Inspect { cmd } = Cli::try_parse_from(all).unwrap().cmd;
    cmd
}

#[test]
fn clap_arguments_match_baton() {
    let cmd = parse(&[
        "grants",
        "-e",
        "group:g-eng:member",
        "-t",
        "group",
        "-r",
        "g-eng",
        "-o",
        "json",
    ]);
    match &cmd {
        InspectCommand::Grants {
            entitlement,
            resource_type,
            resource,
            common,
        } => {
            assert_eq!(entitlement.as_deref(), Some("group:g-eng:member"));
            assert_eq!(resource_type.as_deref(), Some("group"));
            assert_eq!(resource.as_deref(), Some("g-eng"));
            assert_eq!(common.output_format, OutputFormat::Json);
        }
        other => panic!("{other:?}"),
    }
    let cmd = parse(&["resources", "--resource-type", "user", "--sync-id", "abc"]);
    assert_eq!(cmd.common().sync_id.as_deref(), Some("abc"));
    for sub in ["resource-types", "entitlements", "syncs", "stats", "diff"] {
        parse(&[sub, "--output-format", "console"]);
    }
}

#[test]
fn console_tables() {
    let (_d, p, id) = setup();
    let out = run(&p, parse(&["resource-types"]));
    assert!(out.starts_with("ID"), "{out}");
    assert!(out.contains("population  Population    group"), "{out}");
    assert!(out.trim_end().ends_with("4 resource types"), "{out}");

    let out = run(&p, parse(&["resources", "-t", "user"]));
    assert!(out.contains("user           u-alice  Alice Adams"), "{out}");
    assert!(out.trim_end().ends_with("5 resources"), "{out}");

    let out = run(&p, parse(&["entitlements", "-t", "role"]));
    assert!(out.contains("role:r-admin:assigned"), "{out}");
    assert!(out.contains("assignment"), "{out}");
    assert!(out.trim_end().ends_with("2 entitlements"), "{out}");

    let out = run(&p, parse(&["grants", "-e", "group:g-eng:member"]));
    assert!(out.contains("u-alice") && out.contains("u-bob"), "{out}");
    assert!(!out.contains("u-carol"), "{out}");
    assert!(out.trim_end().ends_with("2 grants"), "{out}");

    let out = run(&p, parse(&["grants", "-t", "role", "-r", "r-admin"]));
    assert!(out.trim_end().ends_with("2 grants"), "{out}");

    let out = run(&p, parse(&["syncs"]));
    assert!(out.contains(&id) && out.contains("finished"), "{out}");
    assert!(out.trim_end().ends_with("1 sync"), "{out}");

    let out = run(&p, parse(&["stats"]));
    assert!(out.contains("total"), "{out}");
    assert!(out.contains("group"), "{out}");

    // Columns are aligned: every header starts at the same offset in each row.
    let out = run(&p, parse(&["resources"]));
    let lines: Vec<&str> = out.lines().take_while(|l| !l.is_empty()).collect();
    let col = lines[0].find("ID").unwrap();
    for l in &lines[2..] {
        assert_eq!(&l[col - 2..col], "  ", "misaligned row {l:?}");
    }
}

#[test]
fn json_shapes() {
    let (_d, p, id) = setup();
    let v = json(&p, InspectCommand::ResourceTypes { common: js() });
    let types = v["resourceTypes"].as_array().unwrap();
    assert_eq!(types.len(), 4);
    let user = types
        .iter()
        .find(|t| t["resourceType"]["id"] == "user")
        .unwrap();
    assert_eq!(user["resourceType"]["traits"][0], "TRAIT_USER");
    assert_eq!(
        user["resourceType"]["annotations"][0]["@type"],
        "type.googleapis.com/c1.connector.v2.SkipEntitlementsAndGrants"
    );

    let v = json(
        &p,
        InspectCommand::Resources {
            resource_type: Some("user".into()),
            common: js(),
        },
    );
    let list = v["resources"].as_array().unwrap();
    assert_eq!(list.len(), 5);
    let alice = &list[0];
    assert_eq!(alice["resource"]["id"]["resource"], "u-alice");
    assert_eq!(alice["resourceType"]["id"], "user");
    let ut = &alice["resource"]["annotations"][0];
    assert_eq!(ut["@type"], "type.googleapis.com/c1.connector.v2.UserTrait");
    assert_eq!(ut["emails"][0]["address"], "alice@example.com");
    assert_eq!(ut["status"]["status"], "STATUS_ENABLED");
    assert_eq!(ut["profile"]["first_name"], "Alice");

    let v = json(
        &p,
        InspectCommand::Entitlements {
            resource_type: None,
            common: js(),
        },
    );
    let e = &v["entitlements"][0];
    assert_eq!(e["entitlement"]["purpose"], "PURPOSE_VALUE_ASSIGNMENT");
    assert!(e["resource"]["id"].is_object());
    assert!(e["resourceType"]["id"].is_string());

    let v = json(
        &p,
        InspectCommand::Grants {
            entitlement: Some("role:r-admin:assigned".into()),
            resource_type: None,
            resource: None,
            common: js(),
        },
    );
    let grants = v["grants"].as_array().unwrap();
    assert_eq!(grants.len(), 2);
    let g = grants
        .iter()
        .find(|g| g["grant"]["id"] == "role:r-admin:assigned:group:g-ops")
        .unwrap();
    assert_eq!(
        g["principal"]["displayName"], "Operations",
        "principal resolved from the file"
    );
    assert_eq!(g["entitlement"]["slug"], "assigned");
    assert_eq!(g["resourceType"]["id"], "role");
    assert_eq!(
        g["grant"]["annotations"][0]["entitlementIds"][0],
        "group:g-ops:member"
    );

    let v = json(&p, InspectCommand::Syncs { common: js() });
    assert_eq!(v["syncs"][0]["id"], id.as_str());
    assert_eq!(v["syncs"][0]["syncType"], "full");
    assert!(v["syncs"][0]["endedAt"].as_str().unwrap().ends_with('Z'));

    let v = json(&p, InspectCommand::Stats { common: js() });
    assert_eq!(v["grants"], 12);
    assert_eq!(v["resourcesByResourceType"]["user"], 5);

    // Only one sync: diff has nothing to compare against.
    let mut out = Vec::new();
    let err = run_inspect(
        &p,
        &InspectCommand::Diff {
            base_sync_id: None,
            common: js(),
        },
        &mut out,
    )
    .unwrap_err();
    assert!(err.to_string().contains("to diff against"), "{err}");
}

#[test]
fn provisioning_lookups_use_latest_finished_sync() {
    let (_d, p, _) = setup();
    let r = C1zReader::open(&p).unwrap();
    let e = r.entitlement("group:g-eng:member").unwrap().unwrap();
    assert_eq!(e.slug, "member");
    let u = r.resource("user", "u-bob").unwrap().unwrap();
    assert_eq!(u.display_name, "Bob Brown");
    let g = r.grant("group:g-eng:member:user:u-bob").unwrap().unwrap();
    assert_eq!(g.principal.unwrap().id.unwrap().resource, "u-bob");
    assert!(r.grant("nope").unwrap().is_none());
}

#[test]
fn empty_listing_renders() {
    let (_d, p, _) = setup();
    let out = run(
        &p,
        InspectCommand::Resources {
            resource_type: Some("nothing".into()),
            common: CommonArgs::default(),
        },
    );
    assert!(out.trim_end().ends_with("0 resources"), "{out}");
    let v = json(
        &p,
        InspectCommand::Resources {
            resource_type: Some("nothing".into()),
            common: js(),
        },
    );
    assert_eq!(v["resources"], serde_json::json!([]));
}

/// Listings read a page of rows per query: more rows than a page come out
/// whole, in insertion order, and a filter applies on every page.
#[test]
fn listings_page_through_many_rows() {
    let dir = tempfile::tempdir().unwrap();
    let target = dir.path().join("sync.c1z");
    let fx = Fixture::pingone();
    let (mut w, _) = c1z::C1zWriter::open(&target, Default::default()).unwrap();
    w.put_resource_types(&fx.resource_types()).unwrap();
    let users: Vec<_> = (0..1234)
        .map(|i| common::resource("user", &format!("u{i:04}"), "U", Vec::new()))
        .collect();
    let groups: Vec<_> = (0..700)
        .map(|i| common::resource("group", &format!("g{i:04}"), "G", Vec::new()))
        .collect();
    for (u, g) in users.chunks(100).zip(groups.chunks(57)) {
        w.put_resources(u).unwrap();
        w.put_resources(g).unwrap();
    }
    let sync_id = w.sync_id().to_string();
    w.finish().unwrap();
    let r = C1zReader::open(&target).unwrap();
    let ids = |t: Option<&str>| -> Vec<String> {
        r.resources(&sync_id, t)
            .map(|x| x.unwrap().id.unwrap().resource)
            .collect()
    };
    let want: Vec<String> = users
        .iter()
        .map(|u| u.id.clone().unwrap().resource)
        .collect();
    assert_eq!(ids(Some("user")), want);
    assert_eq!(ids(None).len(), 1234 + 700);
}
