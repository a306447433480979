//! The audit log over HTTP: API writes record activities in the documented
//! shapes, `/activities` enforces its window, pages newest first, delays
//! and duplicates records as configured, has its own rate limit, and the
//! admin change script records what it changes.

mod common;

use std::collections::HashSet;

use common::*;
use pingone_sim::util::{fmt_ts, now_ms};
use pingone_sim::{AuditConfig, NestingAudit, SimConfig, SimHandle};
use reqwest::StatusCode;
use serde_json::{Value, json};

fn no_limit() -> AuditConfig {
    AuditConfig {
        rate_limit_per_sec: None,
        ..AuditConfig::default()
    }
}

async fn sim_with(audit: AuditConfig) -> SimHandle {
    start(SimConfig {
        dynamic_groups: 0,
        audit,
        ..SimConfig::tiny(31)
    })
    .await
}

/// `filter=` for the last hour (to a minute from now) plus `extra`.
fn window(extra: &str) -> String {
    let now = now_ms();
    let mut f = format!(
        "recordedAt ge \"{}\" and recordedAt le \"{}\"",
        fmt_ts(now - 3_600_000),
        fmt_ts(now + 60_000)
    );
    if !extra.is_empty() {
        f = format!("{f} and {extra}");
    }
    format!("filter={}", enc(&f))
}

async fn activities(api: &Api, query: &str) -> Vec<Value> {
    api.all(&format!("/activities?{query}"), "activities").await
}

fn types(items: &[Value]) -> Vec<String> {
    items
        .iter()
        .map(|a| a["action"]["type"].as_str().unwrap().to_string())
        .collect()
}

#[tokio::test]
async fn api_writes_record_the_documented_shapes() {
    let sim = sim_with(no_limit()).await;
    let api = Api::new(&sim).await;
    let truth = sim.ground_truth();
    let (_, u) = api
        .post(
            "/users",
            json!({"username": "audit.me", "email": "audit@example.com"}),
        )
        .await;
    let uid = u["id"].as_str().unwrap().to_string();
    api.patch(
        &format!("/users/{uid}"),
        json!({"title": "Manager", "nickname": "A"}),
    )
    .await;
    api.put(&format!("/users/{uid}/enabled"), json!({"enabled": false}))
        .await;
    let other_pop = truth.populations[1]["id"].as_str().unwrap();
    api.put(
        &format!("/users/{uid}/population"),
        json!({"id": other_pop}),
    )
    .await;
    let (_, g) = api.post("/groups", json!({"name": "Audited"})).await;
    let gid = g["id"].as_str().unwrap().to_string();
    let (s, _) = api
        .post(&format!("/users/{uid}/memberOfGroups"), json!({"id": gid}))
        .await;
    assert_eq!(s, StatusCode::CREATED);
    api.delete(&format!("/users/{uid}/memberOfGroups/{gid}"))
        .await;
    let role = pingone_sim::builtin_role_id("Identity Data Read Only");
    let (s, ra) = api
        .post(
            &format!("/users/{uid}/roleAssignments"),
            json!({"role": {"id": role}, "scope": {"id": sim.environment_id(), "type": "ENVIRONMENT"}}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{ra}");
    let raid = ra["id"].as_str().unwrap().to_string();
    api.delete(&format!("/users/{uid}/roleAssignments/{raid}"))
        .await;
    let (_, p) = api
        .post("/populations", json!({"name": "Audited pop"}))
        .await;
    let pid = p["id"].as_str().unwrap().to_string();
    api.delete(&format!("/populations/{pid}")).await;
    api.delete(&format!("/groups/{gid}")).await;
    api.delete(&format!("/users/{uid}")).await;
    // A refused write records nothing.
    let (s, _) = api.post("/groups", json!({})).await;
    assert_eq!(s, StatusCode::BAD_REQUEST);

    let got = activities(&api, &window("")).await;
    let mut oldest_first = got.clone();
    oldest_first.reverse();
    assert_eq!(
        types(&oldest_first),
        [
            "USER.CREATED",
            "USER.UPDATED",
            "USER.UPDATED",
            "USER.MOVED",
            "GROUP.CREATED",
            "MEMBER_OF_GROUP.CREATED",
            "MEMBER_OF_GROUP.DELETED",
            "ROLE_ASSIGNMENT.CREATED",
            "ROLE_ASSIGNMENT.DELETED",
            "POPULATION.CREATED",
            "POPULATION.DELETED",
            "GROUP.DELETED",
            "USER.DELETED",
        ]
    );
    let by = |t: &str| -> Vec<&Value> {
        oldest_first
            .iter()
            .filter(|a| a["action"]["type"] == t)
            .collect()
    };
    for a in &got {
        assert_uuid(&a["id"]);
        assert_eq!(a["actors"]["client"]["id"], sim.client_id());
        assert_eq!(a["result"]["status"], "SUCCESS");
        assert!(a["recordedAt"].as_str().unwrap().ends_with('Z'));
        assert_eq!(
            a["_links"]["self"]["href"],
            api.url(&format!("/activities/{}", a["id"].as_str().unwrap()))
        );
    }
    let created = by("USER.CREATED")[0];
    assert_eq!(created["resources"][0]["type"], "USER");
    assert_eq!(created["resources"][0]["id"], uid.as_str());
    assert_eq!(created["resources"][0]["name"], "audit.me");
    assert_eq!(created["action"]["description"], "User Created");
    let updates = by("USER.UPDATED");
    assert_eq!(
        updates[0]["_embedded"]["modifiedAttributes"],
        json!(["nickname", "title"])
    );
    assert_eq!(
        updates[1]["_embedded"]["modifiedAttributes"],
        json!(["enabled"])
    );
    assert_eq!(
        updates[1]["result"]["description"],
        "Updated enabled for User audit.me"
    );
    assert_eq!(
        by("USER.MOVED")[0]["resources"][0]["population"]["id"],
        other_pop
    );
    // Membership: both ids only in the href; the resource id is neither.
    let m = &by("MEMBER_OF_GROUP.CREATED")[0]["resources"][0];
    assert_eq!(m["type"], "MEMBER_OF_GROUP");
    assert_eq!(m["name"], "Audited");
    assert!(
        m["href"]
            .as_str()
            .unwrap()
            .ends_with(&format!("/users/{uid}/memberOfGroups/{gid}"))
    );
    assert!(m["id"] != uid.as_str() && m["id"] != gid.as_str());
    // Role assignments: the principal is the resource; the role only in the
    // creation's description, not at all on delete.
    let rc = by("ROLE_ASSIGNMENT.CREATED")[0];
    assert_eq!(rc["resources"][0]["type"], "USER");
    assert_eq!(rc["resources"][0]["id"], uid.as_str());
    let rc_text = rc.to_string();
    assert_eq!(rc_text.matches(&role).count(), 1, "{rc_text}");
    assert!(
        rc["result"]["description"]
            .as_str()
            .unwrap()
            .contains(&format!("for role '{role}' scoped for ENVIRONMENT"))
    );
    let href = rc["resources"][0]["href"].as_str().unwrap();
    assert!(href.ends_with(&format!("/users/{uid}/roleAssignments/{raid}")));
    assert!(
        !href.contains("/v1/"),
        "the captured record lacks /v1: {href}"
    );
    let rd = by("ROLE_ASSIGNMENT.DELETED")[0];
    assert!(!rd.to_string().contains(&role));
    assert!(
        rd["result"]["description"]
            .as_str()
            .unwrap()
            .contains(&raid)
    );
    // One request, one correlation id; different requests, different ids.
    let correlations: HashSet<&str> = got
        .iter()
        .map(|a| a["correlationId"].as_str().unwrap())
        .collect();
    assert_eq!(correlations.len(), got.len());
    // Read one by id.
    let one = &got[0];
    let (s, v) = api
        .get(&format!("/activities/{}", one["id"].as_str().unwrap()))
        .await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(&v, one);
    let (s, v) = api.get("/activities/nope").await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    assert_error(&v, "NOT_FOUND", None);
}

#[tokio::test]
async fn the_window_is_mandatory_and_bounded() {
    let sim = sim_with(no_limit()).await;
    let api = Api::new(&sim).await;
    let now = now_ms();
    let range = |from: i64, to: i64| {
        format!(
            "recordedAt gt \"{}\" and recordedAt lt \"{}\"",
            fmt_ts(from),
            fmt_ts(to)
        )
    };
    let day = 86_400_000;
    for (query, why) in [
        (String::new(), "no filter"),
        (
            format!(
                "filter={}",
                enc(&format!("recordedAt gt \"{}\"", fmt_ts(now - day)))
            ),
            "no upper bound",
        ),
        (
            format!("filter={}", enc(&range(now - 15 * day, now))),
            "wider than 14 days",
        ),
        (
            format!(
                "filter={}",
                enc("recordedAt gt \"yesterday\" and recordedAt lt \"today\"")
            ),
            "not a date",
        ),
        (
            format!(
                "filter={}",
                enc(&format!(
                    "{} or action.type eq \"USER.CREATED\"",
                    range(now - day, now)
                ))
            ),
            "or",
        ),
        (
            format!(
                "filter={}",
                enc(&format!(
                    "{} and resources.id eq \"x\" and action.type eq \"USER.CREATED\"",
                    range(now - day, now)
                ))
            ),
            "two companions",
        ),
    ] {
        let (s, v) = api.get(&format!("/activities?{query}")).await;
        assert_eq!(s, StatusCode::BAD_REQUEST, "{why}: {v}");
        assert_error(&v, "INVALID_DATA", Some(("INVALID_FILTER", Some("filter"))));
    }
    let (s, v) = api
        .get(&format!(
            "/activities?filter={}",
            enc(&range(now - 14 * day, now))
        ))
        .await;
    assert_eq!(s, StatusCode::OK, "exactly 14 days is fine: {v}");
    // The documented envelope; count and size are not promised.
    assert!(v["_embedded"]["activities"].as_array().unwrap().is_empty());
    assert!(v["_links"]["self"]["href"].is_string());
    assert!(v.get("count").is_none() && v.get("size").is_none());
    let (s, v) = api
        .get(&format!("/activities?{}&limit=1001", window("")))
        .await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "{v}");
}

#[tokio::test]
async fn pages_are_newest_first_and_keep_the_filter() {
    let sim = sim_with(no_limit()).await;
    let api = Api::new(&sim).await;
    let applied = sim.apply_random_changes(4, 40);
    assert_eq!(applied.len(), 40);
    let recorded = sim.activities();
    let (s, first) = api
        .get(&format!("/activities?{}&limit=7", window("")))
        .await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(
        first["_embedded"]["activities"].as_array().unwrap().len(),
        7
    );
    let next = first["_links"]["next"]["href"].as_str().unwrap();
    assert!(next.contains("filter=") && next.contains("limit=7") && next.contains("cursor="));
    let all = activities(&api, &format!("{}&limit=7", window(""))).await;
    let mut expected = recorded.clone();
    expected.reverse();
    assert_eq!(all, expected, "every record once, newest first");
    let times: Vec<&str> = all
        .iter()
        .map(|a| a["recordedAt"].as_str().unwrap())
        .collect();
    assert!(times.windows(2).all(|w| w[0] >= w[1]));
    // Without `limit` a page holds 100.
    sim.apply_random_changes(5, 120);
    let (_, v) = api.get(&format!("/activities?{}", window(""))).await;
    assert_eq!(v["_embedded"]["activities"].as_array().unwrap().len(), 100);
    // A companion filter narrows it; its cursor does not fit another filter.
    let users = activities(&api, &window("action.type eq \"USER.UPDATED\"")).await;
    assert!(!users.is_empty());
    assert!(users.iter().all(|a| a["action"]["type"] == "USER.UPDATED"));
    let (_, v) = api
        .get(&format!(
            "/activities?{}&limit=1",
            window("action.type eq \"USER.UPDATED\"")
        ))
        .await;
    let cursor = v["_links"]["next"]["href"]
        .as_str()
        .unwrap()
        .split("cursor=")
        .nth(1)
        .unwrap()
        .to_string();
    let (s, _) = api
        .get(&format!("/activities?{}&cursor={cursor}", window("")))
        .await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "a cursor belongs to its filter");
}

#[tokio::test]
async fn records_surface_after_the_delay() {
    let sim = sim_with(AuditConfig {
        visibility_delay_ms: 700,
        ..no_limit()
    })
    .await;
    let api = Api::new(&sim).await;
    api.post("/groups", json!({"name": "Late"})).await;
    assert_eq!(sim.activities().len(), 1, "recorded at once");
    assert!(
        activities(&api, &window("")).await.is_empty(),
        "not yet visible"
    );
    tokio::time::sleep(std::time::Duration::from_millis(900)).await;
    assert_eq!(
        types(&activities(&api, &window("")).await),
        ["GROUP.CREATED"]
    );
}

#[tokio::test]
async fn duplicates_repeat_a_boundary_record_on_the_next_page() {
    let sim = sim_with(AuditConfig {
        duplicate_rate: 1.0,
        ..no_limit()
    })
    .await;
    let api = Api::new(&sim).await;
    sim.apply_random_changes(8, 30);
    let unique = sim.activities().len();
    let mut pages = Vec::new();
    let mut url = api.url(&format!("/activities?{}&limit=5", window("")));
    loop {
        let (s, v) = api.get(&url).await;
        assert_eq!(s, StatusCode::OK);
        pages.push(ids(v["_embedded"]["activities"].as_array().unwrap()));
        match v["_links"]["next"]["href"].as_str() {
            Some(n) => url = n.to_string(),
            None => break,
        }
    }
    for w in pages.windows(2) {
        assert_eq!(w[0].last(), w[1].first(), "the boundary record repeats");
    }
    let delivered: Vec<&String> = pages.iter().flatten().collect();
    let distinct: HashSet<&String> = delivered.iter().copied().collect();
    assert_eq!(distinct.len(), unique, "nothing lost");
    assert_eq!(delivered.len(), unique + pages.len() - 1);
    // Off again: each record once.
    sim.set_audit_config(no_limit());
    assert_eq!(
        activities(&api, &format!("{}&limit=5", window("")))
            .await
            .len(),
        unique
    );
}

#[tokio::test]
async fn the_audit_api_has_its_own_rate_limit() {
    let sim = sim_with(AuditConfig::default()).await;
    let api = Api::new(&sim).await;
    let mut limited = None;
    for i in 0..30 {
        let (s, v) = api.get(&format!("/activities?{}", window(""))).await;
        if s == StatusCode::TOO_MANY_REQUESTS {
            limited = Some((i, v));
            break;
        }
        assert_eq!(s, StatusCode::OK, "{v}");
    }
    let (i, v) = limited.expect("the 10/s audit limit answers 429");
    assert!(i >= 10, "a burst of 10 passes first, got {i}");
    assert_error(&v, "REQUEST_LIMITED", None);
    // Other endpoints are not affected by the audit bucket.
    let (s, _) = api.get("/users?limit=1").await;
    assert_eq!(s, StatusCode::OK);
    let r = api
        .http
        .get(api.url(&format!("/activities?{}", window(""))))
        .bearer_auth(&api.token)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::TOO_MANY_REQUESTS);
    assert!(r.headers().get("retry-after").is_some());
}

#[tokio::test]
async fn unknowns_follow_the_configuration() {
    let sim = start(SimConfig {
        audit: no_limit(),
        ..SimConfig::tiny(32)
    })
    .await;
    let api = Api::new(&sim).await;
    let (_, a) = api.post("/groups", json!({"name": "Parent"})).await;
    let (_, b) = api.post("/groups", json!({"name": "Child"})).await;
    let (pa, ch) = (a["id"].as_str().unwrap(), b["id"].as_str().unwrap());
    let (s, _) = api
        .post(&format!("/groups/{ch}/memberOfGroups"), json!({"id": pa}))
        .await;
    assert_eq!(s, StatusCode::CREATED);
    // Default: nesting leaves no record.
    assert_eq!(types(&activities(&api, &window("")).await).len(), 2);
    sim.set_audit_config(AuditConfig {
        nesting: NestingAudit::MemberOfGroup,
        ..no_limit()
    });
    api.delete(&format!("/groups/{ch}/memberOfGroups/{pa}"))
        .await;
    let got = activities(&api, &window("")).await;
    assert_eq!(got[0]["action"]["type"], "MEMBER_OF_GROUP.DELETED");
    assert!(
        got[0]["resources"][0]["href"]
            .as_str()
            .unwrap()
            .ends_with(&format!("/groups/{ch}/memberOfGroups/{pa}"))
    );

    // A dynamic group: an attribute change records only the user update,
    // unless dynamic membership recording is switched on.
    let (_, d) = api
        .post(
            "/groups",
            json!({"name": "Managers", "userFilter": "title eq \"Auditor\""}),
        )
        .await;
    let did = d["id"].as_str().unwrap().to_string();
    let truth = sim.ground_truth();
    let uid = truth.users[3]["id"].as_str().unwrap().to_string();
    let before = sim.activities().len();
    api.patch(&format!("/users/{uid}"), json!({"title": "Auditor"}))
        .await;
    let new: Vec<Value> = sim.activities()[before..].to_vec();
    assert_eq!(types(&new), ["USER.UPDATED"]);
    sim.set_audit_config(AuditConfig {
        dynamic_membership: true,
        ..no_limit()
    });
    let before = sim.activities().len();
    api.patch(&format!("/users/{uid}"), json!({"title": "Clerk"}))
        .await;
    let new: Vec<Value> = sim.activities()[before..].to_vec();
    assert_eq!(types(&new), ["USER.UPDATED", "MEMBER_OF_GROUP.DELETED"]);
    assert!(
        new[1]["resources"][0]["href"]
            .as_str()
            .unwrap()
            .ends_with(&format!("/users/{uid}/memberOfGroups/{did}"))
    );
}

#[tokio::test]
async fn admin_changes_over_http_record_as_the_console_admin() {
    let sim = sim_with(no_limit()).await;
    let http = http();
    let admin = format!("{}/__sim", sim.api_base_url());
    let r = http
        .post(format!("{admin}/changes"))
        .json(&json!({"seed": 9, "steps": 25}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["applied"].as_array().unwrap().len(), 25);
    let r = http
        .post(format!("{admin}/changes"))
        .json(&json!({"seed": "x"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    let v: Value = http
        .get(format!("{admin}/activities"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let all = v["activities"].as_array().unwrap();
    assert!(all.len() >= 20, "{}", all.len());
    assert!(all.iter().all(|a| a["actors"]["client"]["id"] == "adminui"
        && a["actors"]["user"]["name"] == "admin@example.com"));
    let r = http
        .put(format!("{admin}/audit"))
        .json(&json!({"visibility_delay_ms": 5}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(sim.audit_config().visibility_delay_ms, 5);
    assert_eq!(
        sim.audit_config().rate_limit_per_sec,
        Some(10.0),
        "omitted fields take defaults"
    );
}
