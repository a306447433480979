//! Write-throughput benchmark of `C1zWriter`.
//!
//! Streams one full sync of a PingOne-shaped tenant (users, groups,
//! populations, roles, one entitlement per group/population/role, and at
//! least `--grants` grants) through the writer in pages of 250 records,
//! checkpointing every `--checkpoint-every` records, then finishes (stats,
//! self-contained database, zstd, atomic rename). Reports records per second
//! and peak resident memory (VmHWM from /proc/self/status), then streams every
//! grant back through `C1zReader` to show reading is bounded too.
//!
//! Run: `cargo run --release -p c1z --example write_bench -- --grants 1000000`

use std::time::Instant;

use c1z::pb::{self, entitlement::PurposeValue, resource_type::Trait, user_trait};
use c1z::{C1zReader, C1zWriter, GrantFilter, WriterOptions};

const PAGE: usize = 250;

struct Args {
    grants: usize,
    checkpoint_every: usize,
    cache_mib: u32,
    dir: Option<std::path::PathBuf>,
}

fn args() -> Args {
    let mut a = Args {
        grants: 1_000_000,
        checkpoint_every: 10_000,
        cache_mib: 64,
        dir: None,
    };
    let mut it = std::env::args().skip(1);
    while let Some(k) = it.next() {
        let v = it.next().unwrap_or_default();
        match k.as_str() {
            "--grants" => a.grants = v.parse().expect("--grants N"),
            "--checkpoint-every" => a.checkpoint_every = v.parse().expect("--checkpoint-every N"),
            "--dir" => a.dir = Some(v.into()),
            "--cache-mib" => a.cache_mib = v.parse().expect("--cache-mib N"),
            other => panic!("unknown argument {other}"),
        }
    }
    a
}

fn vm_hwm_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1).and_then(|n| n.parse().ok()))
        })
        .unwrap_or(0)
}

fn rt(id: &str, name: &str, t: Trait, skip: bool) -> pb::ResourceType {
    pb::ResourceType {
        id: id.into(),
        display_name: name.into(),
        traits: vec![t as i32],
        annotations: if skip {
            vec![pb::pack_any(&pb::SkipEntitlementsAndGrants {})]
        } else {
            vec![]
        },
        ..Default::default()
    }
}

fn user(i: usize) -> pb::Resource {
    let id = format!("9b2c{i:08x}-5d1e-4a7b-8c3d-1f2e3d4c5b6a");
    let email = format!("user{i}@example.com");
    let ut = pb::UserTrait {
        emails: vec![user_trait::Email {
            address: email.clone(),
            is_primary: true,
        }],
        status: Some(user_trait::Status {
            status: if i.is_multiple_of(10) { 2 } else { 1 },
            details: String::new(),
        }),
        profile: pb::json_to_struct(&serde_json::json!({
            "email": email, "first_name": format!("First{i}"), "last_name": format!("Last{i}"),
            "user_id": id,
        })),
        account_type: user_trait::AccountType::Human as i32,
        login: email,
        ..Default::default()
    };
    pb::Resource {
        id: Some(pb::ResourceId::new("user", id.clone())),
        display_name: format!("First{i} Last{i}"),
        annotations: vec![pb::pack_any(&ut)],
        external_id: Some(pb::ExternalId {
            id,
            ..Default::default()
        }),
        creation_source: 1,
        ..Default::default()
    }
}

fn group_like(rt: &str, i: usize) -> pb::Resource {
    let id = format!("{rt}-{i:06}-4f1d-9a7e-0c2b3d4e5f6a");
    let name = format!("{rt} {i}");
    let profile = pb::json_to_struct(&serde_json::json!({"id": id, "name": name}));
    let anno = if rt == "role" {
        pb::pack_any(&pb::RoleTrait {
            profile,
            ..Default::default()
        })
    } else {
        pb::pack_any(&pb::GroupTrait {
            profile,
            ..Default::default()
        })
    };
    pb::Resource {
        id: Some(pb::ResourceId::new(rt, id)),
        display_name: name,
        annotations: vec![anno],
        creation_source: 1,
        ..Default::default()
    }
}

fn entitlement(r: &pb::Resource, slug: &str, user_rt: &pb::ResourceType) -> pb::Entitlement {
    let id = r.id.as_ref().unwrap();
    pb::Entitlement {
        resource: Some(r.clone()),
        id: format!("{}:{}:{}", id.resource_type, id.resource, slug),
        display_name: format!("{} {}", r.display_name, slug),
        grantable_to: vec![user_rt.clone()],
        purpose: PurposeValue::Assignment as i32,
        slug: slug.into(),
        ..Default::default()
    }
}

fn grant(ent: &pb::Entitlement, principal: &pb::ResourceId) -> pb::Grant {
    pb::Grant {
        entitlement: Some(pb::Entitlement {
            resource: ent.resource.clone(),
            id: ent.id.clone(),
            ..Default::default()
        }),
        principal: Some(pb::Resource {
            id: Some(principal.clone()),
            ..Default::default()
        }),
        id: format!(
            "{}:{}:{}",
            ent.id, principal.resource_type, principal.resource
        ),
        ..Default::default()
    }
}

fn main() {
    let a = args();
    // Shape: 50k users for 1M grants; each user is in 20 groups, one
    // population and (every 10th user) one role.
    let users = (a.grants / 20).max(1000);
    let mut groups = (users / 25).max(10);
    if groups.is_multiple_of(7) {
        groups += 1;
    }
    let roles = 100;
    let populations = 10;
    let per_user_groups = a.grants.div_ceil(users);

    let tmp;
    let dir = match &a.dir {
        Some(d) => d.clone(),
        None => {
            tmp = tempfile::tempdir().unwrap();
            tmp.path().to_path_buf()
        }
    };
    let target = dir.join("bench.c1z");
    let _ = std::fs::remove_file(&target);

    let t0 = Instant::now();
    let opts = WriterOptions {
        cache_size_kib: a.cache_mib * 1024,
        ..Default::default()
    };
    let (mut w, _) = C1zWriter::open(&target, opts).unwrap();
    let user_rt = rt("user", "User", Trait::User, true);
    w.put_resource_types(&[
        user_rt.clone(),
        rt("group", "Group", Trait::Group, false),
        rt("population", "Population", Trait::Group, false),
        rt("role", "Role", Trait::Role, false),
    ])
    .unwrap();

    let mut records: u64 = 4;
    let mut since_cp = 0usize;
    let mut checkpoints = 0u64;
    let mut cp = |w: &mut C1zWriter, n: usize, token: &str, force: bool| {
        since_cp += n;
        if force || since_cp >= a.checkpoint_every {
            w.checkpoint(token).unwrap();
            since_cp = 0;
            checkpoints += 1;
        }
    };

    // Resources, in pages.
    let mut page = Vec::with_capacity(PAGE);
    for i in 0..users {
        page.push(user(i));
        if page.len() == PAGE {
            w.put_resources(&page).unwrap();
            records += page.len() as u64;
            cp(&mut w, page.len(), &format!("users:{i}"), false);
            page.clear();
        }
    }
    let mut entitled: Vec<pb::Resource> = Vec::new();
    for (rt, n) in [
        ("group", groups),
        ("population", populations),
        ("role", roles),
    ] {
        for i in 0..n {
            let r = group_like(rt, i);
            entitled.push(r.clone());
            page.push(r);
        }
    }
    for chunk in page.chunks(PAGE).chain(std::iter::once(&[][..])) {
        if !chunk.is_empty() {
            w.put_resources(chunk).unwrap();
            records += chunk.len() as u64;
        }
    }
    page.clear();
    cp(&mut w, 0, "resources-done", true);

    // Entitlements.
    let ents: Vec<pb::Entitlement> = entitled
        .iter()
        .map(|r| {
            let slug = if r.id.as_ref().unwrap().resource_type == "role" {
                "assigned"
            } else {
                "member"
            };
            entitlement(r, slug, &user_rt)
        })
        .collect();
    for chunk in ents.chunks(PAGE) {
        w.put_entitlements(chunk).unwrap();
        records += chunk.len() as u64;
    }
    cp(&mut w, 0, "entitlements-done", true);
    let group_ents = &ents[..groups];
    let pop_ents = &ents[groups..groups + populations];
    let role_ents = &ents[groups + populations..];

    // Grants, generated per entitlement as a connector lists them.
    let t_grants = Instant::now();
    let mut grants: u64 = 0;
    let mut buf: Vec<pb::Grant> = Vec::with_capacity(PAGE);
    let uid =
        |u: usize| pb::ResourceId::new("user", format!("9b2c{u:08x}-5d1e-4a7b-8c3d-1f2e3d4c5b6a"));
    let mut flush = |w: &mut C1zWriter, buf: &mut Vec<pb::Grant>, token: &str| {
        if buf.is_empty() {
            return;
        }
        w.put_grants(buf).unwrap();
        grants += buf.len() as u64;
        let n = buf.len();
        buf.clear();
        cp(w, n, token, false);
    };
    // User u is in groups (7u + k) mod G for k < K: for group g and slot k the
    // members are u = (g - k) * 7^-1 (mod G), stepping by G. Grants are
    // emitted per entitlement, as a connector lists them.
    let inv7 = (1..groups)
        .find(|x| (x * 7) % groups == 1)
        .expect("G coprime to 7");
    for (g, ent) in group_ents.iter().enumerate() {
        for k in 0..per_user_groups {
            let mut u = ((g + groups - k % groups) % groups) * inv7 % groups;
            while u < users {
                buf.push(grant(ent, &uid(u)));
                if buf.len() == PAGE {
                    flush(&mut w, &mut buf, &format!("grants:group:{g}:{k}:{u}"));
                }
                u += groups;
            }
        }
    }
    for (p, ent) in pop_ents.iter().enumerate() {
        for u in (p..users).step_by(populations) {
            buf.push(grant(ent, &uid(u)));
            if buf.len() == PAGE {
                flush(&mut w, &mut buf, &format!("grants:population:{p}:{u}"));
            }
        }
    }
    for (r, ent) in role_ents.iter().enumerate() {
        for u in (r * 10..users).step_by(roles * 10) {
            buf.push(grant(ent, &uid(u)));
            if buf.len() == PAGE {
                flush(&mut w, &mut buf, &format!("grants:role:{r}:{u}"));
            }
        }
    }
    flush(&mut w, &mut buf, "grants-done");
    w.checkpoint(r#"{"actions":[],"current_action":null}"#)
        .unwrap();
    let grant_secs = t_grants.elapsed().as_secs_f64();
    records += grants;
    let write_secs = t0.elapsed().as_secs_f64();
    let hwm_write = vm_hwm_kib();

    let t_fin = Instant::now();
    let report = w.finish().unwrap();
    let finish_secs = t_fin.elapsed().as_secs_f64();
    let total_secs = t0.elapsed().as_secs_f64();
    let hwm_finish = vm_hwm_kib();

    println!("users={users} groups={groups} populations={populations} roles={roles}");
    println!(
        "records={records} grants={grants} checkpoints={}",
        checkpoints + 1
    );
    println!(
        "write phase: {write_secs:.2} s, {:.0} records/s (grants alone: {:.0} grants/s)",
        records as f64 / write_secs,
        grants as f64 / grant_secs
    );
    println!(
        "finish (stats, WAL fold, zstd, fsync, rename): {finish_secs:.2} s; database {:.1} MiB -> c1z {:.1} MiB",
        report.database_bytes as f64 / 1048576.0,
        report.c1z_bytes as f64 / 1048576.0
    );
    println!(
        "end to end: {total_secs:.2} s, {:.0} records/s",
        records as f64 / total_secs
    );
    println!(
        "peak RSS (VmHWM): {:.1} MiB after writing, {:.1} MiB after finish",
        hwm_write as f64 / 1024.0,
        hwm_finish as f64 / 1024.0
    );
    assert_eq!(report.stats.grants, grants, "every grant stored once");

    let t_read = Instant::now();
    let r = C1zReader::open(&target).unwrap();
    let sync = r.default_sync().unwrap().unwrap();
    let mut n = 0u64;
    for g in r.grants(&sync.sync_id, &GrantFilter::default()) {
        g.unwrap();
        n += 1;
    }
    assert_eq!(n, grants);
    println!(
        "read back: open + decode all {n} grants in {:.2} s; peak RSS now {:.1} MiB",
        t_read.elapsed().as_secs_f64(),
        vm_hwm_kib() as f64 / 1024.0
    );
}
