//! One test per item of the 25-point simulator checklist, against a
//! simulator started in-process and spoken to over loopback HTTP.

mod common;

use std::collections::BTreeSet;
use std::time::Duration;

use common::*;
use pingone_sim::{
    AuthMethod, ClientAccess, ClientConfig, DuplicateMembership, DuplicateUsername, ErrorBurst,
    Faults, SimConfig, builtin_role_id,
};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

fn keys(v: &Value) -> BTreeSet<String> {
    v.as_object().expect("object").keys().cloned().collect()
}

fn set(items: &[&str]) -> BTreeSet<String> {
    items.iter().map(|s| s.to_string()).collect()
}

#[tokio::test]
async fn item_01_token_basic() {
    let sim = start(SimConfig::tiny(1)).await;
    let r = http()
        .post(sim.token_url())
        .header("Authorization", basic("sim-client-id", "sim-client-secret"))
        .header("Content-Type", "application/x-www-form-urlencoded")
        .body("grant_type=client_credentials")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["content-type"], "application/json");
    let v: Value = r.json().await.unwrap();
    assert_eq!(keys(&v), set(&["access_token", "token_type", "expires_in"]));
    assert_eq!(v["token_type"], "Bearer");
    assert_eq!(v["expires_in"], 3600);
    assert!(v["access_token"].as_str().unwrap().len() >= 32);

    let short = start(SimConfig {
        token_lifetime_secs: 5,
        ..SimConfig::tiny(1)
    })
    .await;
    let r = http()
        .post(short.token_url())
        .header("Authorization", basic("sim-client-id", "sim-client-secret"))
        .form(&[("grant_type", "client_credentials")])
        .send()
        .await
        .unwrap();
    assert_eq!(r.json::<Value>().await.unwrap()["expires_in"], 5);
}

#[tokio::test]
async fn item_02_token_auth_method() {
    let mut cfg = SimConfig::tiny(2);
    cfg.clients.push(ClientConfig {
        client_id: "post-client".into(),
        client_secret: "post-secret".into(),
        auth_method: AuthMethod::ClientSecretPost,
        ..ClientConfig::default()
    });
    let sim = start(cfg).await;
    let c = http();
    let form = |id: &str, secret: &str, grant: Option<&str>| {
        let mut f = vec![
            ("client_id".to_string(), id.to_string()),
            ("client_secret".to_string(), secret.to_string()),
        ];
        if let Some(g) = grant {
            f.push(("grant_type".into(), g.into()));
        }
        f
    };
    let expect = |status: u16, error: &str, desc: Option<&str>| {
        let error = error.to_string();
        let desc = desc.map(String::from);
        move |r: (StatusCode, Value)| {
            assert_eq!(r.0.as_u16(), status, "{}", r.1);
            assert_eq!(r.1["error"], error.as_str());
            if let Some(d) = &desc {
                assert_eq!(r.1["error_description"], d.as_str());
            }
        }
    };
    let send = |req: reqwest::RequestBuilder| async move {
        let r = req.send().await.unwrap();
        (r.status(), r.json::<Value>().await.unwrap())
    };
    // A BASIC client presenting its secret in the body.
    expect(
        401,
        "invalid_client",
        Some("Unsupported authentication method"),
    )(
        send(c.post(sim.token_url()).form(&form(
            "sim-client-id",
            "sim-client-secret",
            Some("client_credentials"),
        )))
        .await,
    );
    // A POST client works in the body and is refused in the header.
    let ok = send(c.post(sim.token_url()).form(&form(
        "post-client",
        "post-secret",
        Some("client_credentials"),
    )))
    .await;
    assert_eq!(ok.0, 200);
    assert_eq!(ok.1["token_type"], "Bearer");
    expect(
        401,
        "invalid_client",
        Some("Unsupported authentication method"),
    )(
        send(
            c.post(sim.token_url())
                .header("Authorization", basic("post-client", "post-secret"))
                .form(&[("grant_type", "client_credentials")]),
        )
        .await,
    );
    // Wrong secret, unknown client.
    expect(401, "invalid_client", None)(
        send(
            c.post(sim.token_url())
                .header("Authorization", basic("sim-client-id", "wrong"))
                .form(&[("grant_type", "client_credentials")]),
        )
        .await,
    );
    expect(401, "invalid_client", None)(
        send(
            c.post(sim.token_url())
                .header("Authorization", basic("nobody", "x"))
                .form(&[("grant_type", "client_credentials")]),
        )
        .await,
    );
    // Missing or other grant type.
    expect(400, "unsupported_grant_type", None)(
        send(
            c.post(sim.token_url())
                .header("Authorization", basic("sim-client-id", "sim-client-secret"))
                .form(&[("scope", "x")]),
        )
        .await,
    );
    expect(400, "unsupported_grant_type", None)(
        send(
            c.post(sim.token_url())
                .header("Authorization", basic("sim-client-id", "sim-client-secret"))
                .form(&[("grant_type", "password")]),
        )
        .await,
    );
}

#[tokio::test]
async fn item_03_bearer_checks() {
    let mut cfg = SimConfig {
        token_lifetime_secs: 1,
        ..SimConfig::tiny(3)
    };
    cfg.clients.push(ClientConfig {
        client_id: "no-roles".into(),
        client_secret: "s".into(),
        access: ClientAccess::None,
        ..ClientConfig::default()
    });
    cfg.clients.push(ClientConfig {
        client_id: "reader".into(),
        client_secret: "s".into(),
        access: ClientAccess::ReadOnly,
        ..ClientConfig::default()
    });
    let sim = start(cfg).await;
    let other = sim.other_environment_id().to_string();
    let users = format!("{}/users", env_url(&sim));
    let c = http();
    let check_401 = |r: (StatusCode, Value)| {
        assert_eq!(r.0, 401, "{}", r.1);
        assert_error(&r.1, "ACCESS_FAILED", Some(("INVALID_TOKEN", None)));
    };
    let send = |req: reqwest::RequestBuilder| async move {
        let r = req.send().await.unwrap();
        (r.status(), r.json::<Value>().await.unwrap())
    };
    check_401(send(c.get(&users)).await);
    check_401(send(c.get(&users).header("Authorization", "Bearer")).await);
    check_401(send(c.get(&users).header("Authorization", "Basic Zm9vOmJhcg==")).await);
    check_401(send(c.get(&users).bearer_auth("made-up-token")).await);
    let t = token(&sim).await;
    assert_eq!(send(c.get(&users).bearer_auth(&t)).await.0, 200);
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let expired = send(c.get(&users).bearer_auth(&t)).await;
    check_401(expired.clone());
    assert_eq!(
        expired.1["details"][0]["message"],
        "The access token has expired."
    );

    let check_403 = |r: (StatusCode, Value)| {
        assert_eq!(r.0, 403, "{}", r.1);
        assert_error(
            &r.1,
            "ACCESS_FAILED",
            Some(("INSUFFICIENT_PERMISSIONS", None)),
        );
        assert_eq!(
            r.1["message"],
            "The actor attempting to perform the request is not authorized."
        );
    };
    let none = token_for(&sim, sim.environment_id(), "no-roles", "s").await;
    check_403(send(c.get(&users).bearer_auth(&none)).await);
    let reader = token_for(&sim, sim.environment_id(), "reader", "s").await;
    assert_eq!(send(c.get(&users).bearer_auth(&reader)).await.0, 200);
    check_403(
        send(
            c.post(&users)
                .bearer_auth(&reader)
                .json(&json!({"username": "x", "email": "x@example.com"})),
        )
        .await,
    );
    // A main-environment token used on the other environment.
    let fresh = token(&sim).await;
    let other_users = format!("{}/v1/environments/{other}/users", sim.api_base_url());
    check_403(send(c.get(&other_users).bearer_auth(&fresh)).await);

    // A client of the other environment used on the main one.
    let mut cfg2 = SimConfig::tiny(3);
    cfg2.clients.push(ClientConfig {
        client_id: "elsewhere".into(),
        client_secret: "s".into(),
        environment_id: Some(other.clone()),
        ..ClientConfig::default()
    });
    let sim2 = start(cfg2).await;
    assert_eq!(
        sim2.other_environment_id(),
        other,
        "same seed, same environments"
    );
    let foreign = token_for(&sim2, &other, "elsewhere", "s").await;
    check_403(
        send(
            c.get(format!("{}/users", env_url(&sim2)))
                .bearer_auth(&foreign),
        )
        .await,
    );
    // ...and the main client cannot get a token for the other environment.
    let r = c
        .post(format!("{}/{other}/as/token", sim2.auth_base_url()))
        .header("Authorization", basic("sim-client-id", "sim-client-secret"))
        .form(&[("grant_type", "client_credentials")])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
}

#[tokio::test]
async fn item_04_missing_environment() {
    let sim = start(SimConfig::tiny(4)).await;
    let api = Api::new(&sim).await;
    let missing = "00000000-0000-4000-8000-000000000000";
    let (s, v) = api.get(&format!("/v1/environments/{missing}/users")).await;
    assert_eq!(s, 403);
    assert_error(
        &v,
        "ACCESS_FAILED",
        Some(("INSUFFICIENT_PERMISSIONS", None)),
    );
    let (s, v) = api
        .get(&format!("/v1/environments/{missing}/groups/abc"))
        .await;
    assert_eq!(s, 403, "{v}");
    let (s, v) = api.get(&format!("/v1/environments/{missing}")).await;
    assert_eq!(s, 404);
    assert_error(&v, "NOT_FOUND", None);
    let (s, v) = api
        .get(&format!("/v1/environments/{}", sim.environment_id()))
        .await;
    assert_eq!(s, 200);
    assert_eq!(v["id"], sim.environment_id());
    assert_eq!(v["organization"]["id"], sim.organization_id());
    assert_eq!(v["_links"]["self"]["href"], env_url(&sim));
}

#[tokio::test]
async fn item_05_list_users_envelope() {
    let sim = start(SimConfig::tiny(5)).await;
    let api = Api::new(&sim).await;
    let r = api
        .http
        .get(format!("{}/users", env_url(&sim)))
        .bearer_auth(&api.token)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert!(
        r.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("application/hal+json")
    );
    let v: Value = r.json().await.unwrap();
    assert_eq!(keys(&v), set(&["_links", "_embedded", "count", "size"]));
    assert_eq!(keys(&v["_links"]), set(&["self"]));
    assert_eq!(
        v["_links"]["self"]["href"],
        format!("{}/users", env_url(&sim))
    );
    assert_eq!(v["count"], 12);
    assert_eq!(v["size"], 12);
    let users = v["_embedded"]["users"].as_array().unwrap();
    assert_eq!(ids(users), ids(&sim.ground_truth().users));
    // List items never carry include-only fields.
    assert!(users.iter().all(|u| u.get("memberOfGroupIDs").is_none()));
    // Empty result.
    let q = format!("/users?filter={}", enc("username eq \"nobody-at-all\""));
    let (s, v) = api.get(&q).await;
    assert_eq!(s, 200);
    assert_eq!(v["_embedded"]["users"], json!([]));
    assert_eq!(v["count"], 0);
    assert_eq!(v["size"], 0);
    assert!(v["_links"].get("next").is_none());
    assert_eq!(v["_links"]["self"]["href"], format!("{}{q}", env_url(&sim)));
}

#[tokio::test]
async fn item_06_page_size() {
    let sim = start(SimConfig {
        users: 250,
        ..SimConfig::tiny(6)
    })
    .await;
    let api = Api::new(&sim).await;
    for bad in ["0", "1001", "-3", "abc", "2.5"] {
        let (s, v) = api.get(&format!("/users?limit={bad}")).await;
        assert_eq!(s, 400, "limit={bad}");
        assert_eq!(v["code"], "INVALID_DATA");
        assert_eq!(v["details"][0]["target"], "limit");
    }
    let (_, v) = api.get("/users?limit=7").await;
    assert_eq!(v["size"], 7);
    assert_eq!(v["count"], 250);
    let (_, v) = api.get("/users?limit=1000").await;
    assert_eq!(v["size"], 200, "users are capped at 200 per page");
    assert!(
        v["_links"]["next"]["href"]
            .as_str()
            .unwrap()
            .contains("limit=1000")
    );
    let (_, v) = api.get("/users").await;
    assert_eq!(v["size"], 200);
    let (_, v) = api.get("/groups?limit=1000").await;
    assert_eq!(v["size"], 6, "other collections cap at 1000");

    // Per endpoint: `limit` where the reference documents it, a 400 about
    // `limit` where it does not (role assignments, roles).
    let t = sim.ground_truth();
    let uid = t.users[0]["id"].as_str().unwrap().to_string();
    let gid = t.groups[0]["id"].as_str().unwrap().to_string();
    for ok in [
        "/groups?limit=1".to_string(),
        "/populations?limit=1000".to_string(),
        format!("/users/{uid}/memberOfGroups?limit=5"),
        format!("/groups/{gid}/memberOfGroups?limit=5"),
    ] {
        let (s, v) = api.get(&ok).await;
        assert_eq!(s, 200, "{ok}: {v}");
    }
    for (bad, path) in [
        ("/groups?limit=1001", "/groups?limit=1001".to_string()),
        ("populations 0", "/populations?limit=0".to_string()),
        (
            "user roles",
            format!("/users/{uid}/roleAssignments?limit=10"),
        ),
        (
            "group roles",
            format!("/groups/{gid}/roleAssignments?limit=10"),
        ),
        ("custom roles", "/roles?limit=10".to_string()),
        ("built-in roles", "/v1/roles?limit=10".to_string()),
    ] {
        let (s, v) = api.get(&path).await;
        assert_eq!(s, 400, "{bad}: {v}");
        assert_eq!(v["code"], "INVALID_DATA", "{bad}");
        assert_eq!(v["details"][0]["target"], "limit", "{bad}");
    }
    for plain in [
        format!("/users/{uid}/roleAssignments"),
        "/v1/roles".to_string(),
    ] {
        assert_eq!(api.get(&plain).await.0, 200, "{plain}");
    }

    // Short pages still carry next; following them yields every user once.
    sim.set_faults(Faults {
        short_pages: true,
        ..Faults::default()
    });
    let (_, v) = api.get("/users?limit=50").await;
    let size = v["size"].as_u64().unwrap();
    assert!((1..50).contains(&size), "short page size {size}");
    assert!(v["_links"]["next"].is_object());
    let all = api.all("/users?limit=50", "users").await;
    assert_eq!(ids(&all), ids(&sim.ground_truth().users));
    assert!(sim.stats().faults.short_pages >= 5);
}

#[tokio::test]
async fn item_07_cursor_links() {
    let sim = start(SimConfig {
        users: 25,
        ..SimConfig::tiny(7)
    })
    .await;
    let api = Api::new(&sim).await;
    let (_, p1) = api.get("/users?limit=10").await;
    assert_eq!(p1["size"], 10);
    assert!(p1["_links"].get("prev").is_none());
    let next = p1["_links"]["next"]["href"].as_str().unwrap().to_string();
    let prefix = format!("{}/users?limit=10&cursor=", env_url(&sim));
    assert!(next.starts_with(&prefix), "{next}");
    let cursor = &next[prefix.len()..];
    assert!(
        cursor
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    );
    let (_, p2) = api.get(&next).await;
    assert_eq!(p2["size"], 10);
    assert_eq!(p2["_links"]["self"]["href"], next);
    assert!(
        p2["_links"]["prev"]["href"]
            .as_str()
            .unwrap()
            .starts_with(&prefix)
    );
    let (_, p3) = api
        .get(p2["_links"]["next"]["href"].as_str().unwrap())
        .await;
    assert_eq!(p3["size"], 5);
    assert_eq!(p3["count"], 25);
    assert!(p3["_links"].get("next").is_none());
    let mut seen = ids(p1["_embedded"]["users"].as_array().unwrap());
    seen.extend(ids(p2["_embedded"]["users"].as_array().unwrap()));
    seen.extend(ids(p3["_embedded"]["users"].as_array().unwrap()));
    assert_eq!(
        seen,
        ids(&sim.ground_truth().users),
        "creation order, no repeats"
    );
    // Going back lands on the first page.
    let (_, back) = api
        .get(p2["_links"]["prev"]["href"].as_str().unwrap())
        .await;
    assert_eq!(back["_embedded"]["users"], p1["_embedded"]["users"]);
    // The filter is kept in next links.
    let q = format!("/users?filter={}&limit=2", enc("enabled eq true"));
    let (_, v) = api.get(&q).await;
    assert!(
        v["_links"]["next"]["href"]
            .as_str()
            .unwrap()
            .contains(&format!("filter={}", enc("enabled eq true")))
    );
    // Garbled, or replayed on another filter: 400 INVALID_DATA.
    let (s, v) = api
        .get(&format!(
            "/users?limit=10&cursor={}x",
            &cursor[..cursor.len() - 1]
        ))
        .await;
    assert_eq!(s, 400);
    assert_error(&v, "INVALID_DATA", Some(("INVALID_VALUE", Some("cursor"))));
    let (s, _) = api.get("/users?limit=10&cursor=!!!").await;
    assert_eq!(s, 400);
    let (s, _) = api.get(&format!("{q}&cursor={cursor}")).await;
    assert_eq!(s, 400);
}

#[tokio::test]
async fn item_08_scim_filter() {
    let sim = start(SimConfig::small(8)).await;
    let api = Api::new(&sim).await;
    let gt = sim.ground_truth();
    let u = &gt.users[0];
    let username = u["username"].as_str().unwrap();
    let count = |v: &Value| v["count"].as_u64().unwrap() as usize;
    let (s, v) = api
        .get(&format!(
            "/users?filter={}",
            enc(&format!("username eq \"{}\"", username.to_uppercase()))
        ))
        .await;
    assert_eq!(s, 200);
    assert_eq!(count(&v), 1, "username compares case-insensitively");
    assert_eq!(v["_embedded"]["users"][0]["id"], u["id"]);
    let family = u["name"]["family"].as_str().unwrap();
    let given = u["name"]["given"].as_str().unwrap();
    let expected = gt
        .users
        .iter()
        .filter(|x| {
            x["name"]["family"] == family
                && x["name"]["given"]
                    .as_str()
                    .is_some_and(|g| g.starts_with(&given[..1]))
        })
        .count();
    let f = format!(
        "(name.family eq \"{family}\") and (name.given sw \"{}\")",
        &given[..1]
    );
    let (_, v) = api.get(&format!("/users?filter={}", enc(&f))).await;
    assert_eq!(count(&v), expected);
    let pop = gt.populations[1]["id"].as_str().unwrap();
    let in_pop = gt
        .users
        .iter()
        .filter(|x| x["population"]["id"] == pop)
        .count();
    let f = format!(
        "((username eq \"{username}\") OR (population.id eq \"{pop}\")) AND ((enabled eq true) or (enabled eq false))"
    );
    let (_, v) = api
        .get(&format!("/users?filter={}&limit=200", enc(&f)))
        .await;
    let extra = usize::from(u["population"]["id"] != pop);
    assert_eq!(count(&v), in_pop + extra);
    // Unsupported attribute, operator, or syntax.
    for bad in [
        "shoeSize eq \"9\"",
        "username ne \"x\"",
        "username eq",
        "(username eq \"x\"",
        "email co \"x\"",
    ] {
        let (s, v) = api.get(&format!("/users?filter={}", enc(bad))).await;
        assert_eq!(s, 400, "{bad}");
        assert_eq!(v["code"], "INVALID_DATA");
        assert_eq!(
            v["message"],
            "The request could not be completed. One or more validation errors were in the request."
        );
        let d = &v["details"][0];
        assert_eq!(d["code"], "INVALID_FILTER");
        assert_eq!(d["target"], "filter");
        let attrs = d["innerError"]["supportedAttributes"].as_array().unwrap();
        assert!(attrs.contains(&json!("username")) && attrs.contains(&json!("memberOfGroups")));
        let ops = d["innerError"]["supportedOperators"].as_array().unwrap();
        assert!(ops.contains(&json!("eq")) && ops.contains(&json!("sw")));
    }
    // Other collections have their own attribute lists.
    let (s, _) = api
        .get(&format!("/groups?filter={}", enc("name sw \"Eng\"")))
        .await;
    assert_eq!(s, 200);
    let (s, _) = api
        .get(&format!("/groups?filter={}", enc("title eq \"x\"")))
        .await;
    assert_eq!(s, 400);
}

#[tokio::test]
async fn item_09_create_user() {
    let sim = start(SimConfig::tiny(9)).await;
    let api = Api::new(&sim).await;
    let gt = sim.ground_truth();
    let default_pop = gt
        .populations
        .iter()
        .find(|p| p["default"] == true)
        .unwrap()["id"]
        .clone();
    let (s, v) = api
        .post(
            "/users",
            json!({"username": "new.person", "email": "new.person@example.com"}),
        )
        .await;
    assert_eq!(s, 201, "{v}");
    assert_uuid(&v["id"]);
    assert_eq!(v["environment"]["id"], sim.environment_id());
    assert_eq!(v["population"]["id"], default_pop);
    assert_eq!(v["createdAt"], v["updatedAt"]);
    assert_eq!(v["enabled"], true);
    assert_eq!(
        v["account"],
        json!({"canAuthenticate": true, "status": "OK"})
    );
    assert_eq!(v["lifecycle"], json!({"status": "ACCOUNT_OK"}));
    assert_eq!(v["identityProvider"], json!({"type": "PING_ONE"}));
    assert_eq!(v["mfaEnabled"], false);
    assert_eq!(v["verifyStatus"], "NOT_INITIATED");
    assert_eq!(
        v["_links"]["self"]["href"],
        format!("{}/users/{}", env_url(&sim), v["id"].as_str().unwrap())
    );
    assert!(
        v.get("name").is_none() && v.get("title").is_none(),
        "absent attributes are omitted"
    );
    assert!(!v.to_string().contains("null"));
    // Explicit population.
    let other_pop = gt
        .populations
        .iter()
        .find(|p| p["default"] == false)
        .unwrap()["id"]
        .clone();
    let (s, v) = api
        .post(
            "/users",
            json!({"username": "p2", "email": "p2@example.com", "population": {"id": other_pop}}),
        )
        .await;
    assert_eq!(s, 201);
    assert_eq!(v["population"]["id"], other_pop);
    // Missing username / email, unknown population.
    let (s, v) = api.post("/users", json!({"email": "x@example.com"})).await;
    assert_eq!(s, 400);
    assert_error(
        &v,
        "INVALID_DATA",
        Some(("REQUIRED_VALUE", Some("username"))),
    );
    let (s, v) = api.post("/users", json!({"username": "no-email"})).await;
    assert_eq!(s, 400);
    assert_error(&v, "INVALID_DATA", Some(("REQUIRED_VALUE", Some("email"))));
    let (s, v) = api
        .post("/users", json!({"username": "q", "email": "q@example.com", "population": {"id": "00000000-0000-4000-8000-000000000000"}}))
        .await;
    assert_eq!(s, 400);
    assert_error(
        &v,
        "INVALID_DATA",
        Some(("INVALID_VALUE", Some("population.id"))),
    );
    // Email optional when configured so.
    sim.set_faults(Faults {
        require_email: false,
        ..Faults::default()
    });
    let (s, v) = api.post("/users", json!({"username": "no-email"})).await;
    assert_eq!(s, 201);
    assert!(v.get("email").is_none());
    // An environment without any population.
    let empty = start(SimConfig {
        populations: 0,
        ..SimConfig::tiny(9)
    })
    .await;
    let api2 = Api::new(&empty).await;
    let (s, v) = api2
        .post("/users", json!({"username": "a", "email": "a@example.com"}))
        .await;
    assert_eq!(s, 400);
    assert_eq!(v["code"], "INVALID_DATA");
}

#[tokio::test]
async fn item_10_username_uniqueness() {
    let sim = start(SimConfig::tiny(10)).await;
    let api = Api::new(&sim).await;
    let (s, _) = api
        .post(
            "/users",
            json!({"username": "alice", "email": "a@example.com"}),
        )
        .await;
    assert_eq!(s, 201);
    let (s, v) = api
        .post(
            "/users",
            json!({"username": "Alice", "email": "b@example.com"}),
        )
        .await;
    assert_eq!(s, 400);
    assert_error(
        &v,
        "INVALID_DATA",
        Some(("UNIQUENESS_VIOLATION", Some("username"))),
    );
    // Same check on PUT/PATCH that changes the username.
    let other = sim.ground_truth().users[0]["id"]
        .as_str()
        .unwrap()
        .to_string();
    let (s, v) = api
        .patch(&format!("/users/{other}"), json!({"username": "ALICE"}))
        .await;
    assert_eq!(s, 400);
    assert_eq!(v["details"][0]["code"], "UNIQUENESS_VIOLATION");
    let (s, _) = api
        .put(
            &format!("/users/{other}"),
            json!({"username": "aLiCe", "email": "z@example.com"}),
        )
        .await;
    assert_eq!(s, 400);
    sim.set_faults(Faults {
        duplicate_username: DuplicateUsername::Conflict409,
        ..Faults::default()
    });
    let (s, v) = api
        .post(
            "/users",
            json!({"username": "ALICE", "email": "c@example.com"}),
        )
        .await;
    assert_eq!(s, 409);
    assert_eq!(v["details"][0]["code"], "UNIQUENESS_VIOLATION");
}

#[tokio::test]
async fn item_11_field_validation() {
    let sim = start(SimConfig::tiny(11)).await;
    let api = Api::new(&sim).await;
    let base = || json!({"username": "valid.name", "email": "v@example.com"});
    // (attributes to set, expected detail target, expected innerError entry)
    type Case<'a> = (Value, &'a str, Option<(&'a str, Value)>);
    let cases: Vec<Case> = vec![
        (
            json!({"username": "u".repeat(129)}),
            "username",
            Some(("rangeMaximumValue", json!(128))),
        ),
        (
            json!({"name": {"given": "g".repeat(257)}}),
            "name.given",
            Some(("rangeMaximumValue", json!(256))),
        ),
        (json!({"primaryPhone": "call me"}), "primaryPhone", None),
        (
            json!({"mobilePhone": "1".repeat(33)}),
            "mobilePhone",
            Some(("rangeMaximumValue", json!(32))),
        ),
        (
            json!({"address": {"countryCode": "usa"}}),
            "address.countryCode",
            None,
        ),
        (
            json!({"address": {"countryCode": "us"}}),
            "address.countryCode",
            None,
        ),
        (
            json!({"timezone": "Mars"}),
            "timezone",
            Some(("allowedPattern", json!("^\\w+\\/\\w+$"))),
        ),
        (json!({"email": "not-an-email"}), "email", None),
        (
            json!({"name": {"family": "Smith, Jr"}}),
            "name.family",
            None,
        ),
    ];
    for (patch, target, inner) in cases {
        let mut body = base();
        for (k, v) in patch.as_object().unwrap() {
            body[k] = v.clone();
        }
        let (s, v) = api.post("/users", body).await;
        assert_eq!(s, 400, "{target}: {v}");
        assert_error(&v, "INVALID_DATA", Some(("INVALID_VALUE", Some(target))));
        if let Some((k, want)) = inner {
            assert_eq!(v["details"][0]["innerError"][k], want, "{v}");
        }
    }
    let (s, v) = api
        .post(
            "/users",
            json!({"username": "ok", "email": "ok@example.com", "timezone": "America/Denver",
                   "address": {"countryCode": "US"}, "primaryPhone": "+1 555 0100"}),
        )
        .await;
    assert_eq!(s, 201, "{v}");
}

#[tokio::test]
async fn item_12_read_user() {
    let sim = start(SimConfig::small(12)).await;
    let api = Api::new(&sim).await;
    let gt = sim.ground_truth();
    // A user with direct and indirect groups.
    let (uid, (direct, all)) = gt
        .users
        .iter()
        .map(|u| u["id"].as_str().unwrap().to_string())
        .map(|id| {
            let g = expected_groups(&gt, &id);
            (id, g)
        })
        .find(|(_, (d, a))| !d.is_empty() && a.len() > d.len())
        .expect("a user with indirect groups");
    let (s, v) = api.get(&format!("/users/{uid}")).await;
    assert_eq!(s, 200);
    assert!(v["_embedded"]["password"]["status"].is_string() || v.get("_embedded").is_none());
    assert!(v.get("memberOfGroupIDs").is_none());
    let (_, v) = api
        .get(&format!("/users/{uid}?include=memberOfGroupIDs"))
        .await;
    let got: BTreeSet<String> = v["memberOfGroupIDs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_str().unwrap().to_string())
        .collect();
    assert_eq!(got, all);
    assert!(direct.is_subset(&got));
    let (_, v) = api
        .get(&format!("/users/{uid}?include=memberOfGroupNames"))
        .await;
    assert_eq!(v["memberOfGroupNames"].as_array().unwrap().len(), all.len());
    assert!(v.get("memberOfGroupIDs").is_none());
    // A created user has a password status.
    let (_, created) = api
        .post(
            "/users",
            json!({"username": "pw", "email": "pw@example.com"}),
        )
        .await;
    let (_, v) = api
        .get(&format!("/users/{}", created["id"].as_str().unwrap()))
        .await;
    assert_eq!(v["_embedded"]["password"]["status"], "NO_PASSWORD");
    let (s, v) = api.get("/users/00000000-0000-4000-8000-000000000000").await;
    assert_eq!(s, 404);
    assert_error(&v, "NOT_FOUND", None);
    assert_eq!(keys(&v), set(&["id", "code", "message"]));
}

#[tokio::test]
async fn item_13_put_vs_patch() {
    let sim = start(SimConfig::tiny(13)).await;
    let api = Api::new(&sim).await;
    let (_, u) = api
        .post(
            "/users",
            json!({"username": "pp", "email": "pp@example.com", "title": "Engineer", "nickname": "p",
                   "name": {"given": "Pat", "family": "Poe"}}),
        )
        .await;
    let id = u["id"].as_str().unwrap();
    tokio::time::sleep(Duration::from_millis(5)).await;
    let (s, v) = api
        .patch(&format!("/users/{id}"), json!({"title": "Boss", "nickname": null, "name": {"given": "Patricia"}, "mfaEnabled": true}))
        .await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["title"], "Boss");
    assert!(v.get("nickname").is_none());
    assert_eq!(v["email"], "pp@example.com");
    assert_eq!(v["name"], json!({"given": "Patricia", "family": "Poe"}));
    assert_eq!(v["mfaEnabled"], false, "mfaEnabled cannot be set by PATCH");
    assert_ne!(v["updatedAt"], u["updatedAt"]);
    assert_eq!(v["createdAt"], u["createdAt"]);
    let other_pop = sim.ground_truth().populations[1]["id"].clone();
    let (s, v) = api
        .put(
            &format!("/users/{id}"),
            json!({"username": "pp", "email": "pp@example.com", "enabled": false, "id": "ignored",
                   "population": {"id": other_pop}, "createdAt": "2000-01-01T00:00:00.000Z"}),
        )
        .await;
    assert_eq!(s, 200, "{v}");
    assert!(
        v.get("title").is_none() && v.get("name").is_none(),
        "PUT removes omitted attributes"
    );
    assert_eq!(v["enabled"], true, "read-only fields are ignored");
    assert_eq!(v["id"], u["id"]);
    assert_eq!(v["population"], u["population"]);
    assert_eq!(v["createdAt"], u["createdAt"]);
    // Later reads see the change.
    let (_, r) = api.get(&format!("/users/{id}")).await;
    assert!(r.get("title").is_none());
}

#[tokio::test]
async fn item_14_enable_disable() {
    let sim = start(SimConfig::tiny(14)).await;
    let api = Api::new(&sim).await;
    let id = sim.ground_truth().users[0]["id"]
        .as_str()
        .unwrap()
        .to_string();
    let (s, v) = api
        .put(&format!("/users/{id}/enabled"), json!({"enabled": false}))
        .await;
    assert_eq!(s, 200);
    assert_eq!(v["enabled"], false);
    assert_eq!(
        v["_links"]["self"]["href"],
        format!("{}/users/{id}/enabled", env_url(&sim))
    );
    assert_eq!(keys(&v), set(&["_links", "enabled"]));
    let (_, u) = api.get(&format!("/users/{id}")).await;
    assert_eq!(u["enabled"], false);
    assert_eq!(u["account"]["canAuthenticate"], false);
    let (_, e) = api.get(&format!("/users/{id}/enabled")).await;
    assert_eq!(e["enabled"], false);
    let (s, _) = api
        .put(&format!("/users/{id}/enabled"), json!({"enabled": "no"}))
        .await;
    assert_eq!(s, 400);
    api.put(&format!("/users/{id}/enabled"), json!({"enabled": true}))
        .await;
    let (_, u) = api.get(&format!("/users/{id}")).await;
    assert_eq!(u["account"]["canAuthenticate"], true);
}

#[tokio::test]
async fn item_15_move_population() {
    let sim = start(SimConfig::tiny(15)).await;
    let api = Api::new(&sim).await;
    let gt = sim.ground_truth();
    let pop_a = gt.populations[0]["id"].as_str().unwrap().to_string();
    let pop_b = gt.populations[1]["id"].as_str().unwrap().to_string();
    let (_, g) = api
        .post(
            "/groups",
            json!({"name": "Pop A only", "population": {"id": pop_a}}),
        )
        .await;
    let (_, env_g) = api.post("/groups", json!({"name": "Everyone"})).await;
    let (_, u) = api
        .post(
            "/users",
            json!({"username": "mover", "email": "m@example.com", "population": {"id": pop_a}}),
        )
        .await;
    let uid = u["id"].as_str().unwrap();
    for gid in [&g["id"], &env_g["id"]] {
        let (s, _) = api
            .post(&format!("/users/{uid}/memberOfGroups"), json!({"id": gid}))
            .await;
        assert_eq!(s, 201);
    }
    let count = |gt: &pingone_sim::GroundTruth, p: &str| {
        gt.populations.iter().find(|x| x["id"] == p).unwrap()["userCount"]
            .as_u64()
            .unwrap()
    };
    let before = sim.ground_truth();
    let (s, v) = api
        .put(&format!("/users/{uid}/population"), json!({"id": pop_b}))
        .await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["id"], pop_b);
    assert!(
        v["_links"]["self"]["href"]
            .as_str()
            .unwrap()
            .ends_with("/population")
    );
    let (_, u2) = api.get(&format!("/users/{uid}")).await;
    assert_eq!(u2["population"]["id"], pop_b);
    let (_, pg) = api.get(&format!("/users/{uid}/population")).await;
    assert_eq!(pg["id"], pop_b);
    let after = sim.ground_truth();
    let mine: Vec<_> = after
        .memberships
        .iter()
        .filter(|m| m.user_id == uid)
        .map(|m| m.group_id.clone())
        .collect();
    assert_eq!(
        mine,
        vec![env_g["id"].as_str().unwrap().to_string()],
        "population-group membership dropped"
    );
    assert_eq!(count(&after, &pop_a), count(&before, &pop_a) - 1);
    assert_eq!(count(&after, &pop_b), count(&before, &pop_b) + 1);
    let (_, p) = api.get(&format!("/populations/{pop_b}")).await;
    assert_eq!(p["userCount"].as_u64().unwrap(), count(&after, &pop_b));
}

#[tokio::test]
async fn item_16_delete_user() {
    let sim = start(SimConfig::tiny(16)).await;
    let api = Api::new(&sim).await;
    let gt = sim.ground_truth();
    // User 0 holds a role assignment and (usually) memberships.
    let uid = gt.users[0]["id"].as_str().unwrap().to_string();
    let gid = gt.groups[0]["id"].as_str().unwrap().to_string();
    api.post(&format!("/users/{uid}/memberOfGroups"), json!({"id": gid}))
        .await;
    assert!(
        sim.ground_truth()
            .role_assignments
            .iter()
            .any(|a| a.subject_id == uid)
    );
    let r = api
        .http
        .delete(api.url(&format!("/users/{uid}")))
        .bearer_auth(&api.token)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 204);
    assert!(r.bytes().await.unwrap().is_empty());
    let (s, v) = api.delete(&format!("/users/{uid}")).await;
    assert_eq!(s, 404);
    assert_error(&v, "NOT_FOUND", None);
    let (s, _) = api.get(&format!("/users/{uid}")).await;
    assert_eq!(s, 404);
    let after = sim.ground_truth();
    assert!(after.memberships.iter().all(|m| m.user_id != uid));
    assert!(after.role_assignments.iter().all(|a| a.subject_id != uid));
    assert!(
        after
            .dynamic_group_members
            .iter()
            .all(|d| !d.user_ids.contains(&uid))
    );
    let members = api
        .all(
            &format!(
                "/users?filter={}",
                enc(&format!("memberOfGroups[id eq \"{gid}\"]"))
            ),
            "users",
        )
        .await;
    assert!(!ids(&members).contains(&uid));
    let (_, v) = api.get("/users").await;
    assert_eq!(v["count"], 11);
}

#[tokio::test]
async fn item_17_add_membership() {
    let sim = start(SimConfig::tiny(17)).await;
    let api = Api::new(&sim).await;
    let gt = sim.ground_truth();
    let pop_a = gt.populations[0]["id"].as_str().unwrap();
    let pop_b = gt.populations[1]["id"].as_str().unwrap();
    let (_, g) = api.post("/groups", json!({"name": "Managers"})).await;
    let gid = g["id"].as_str().unwrap();
    let (_, u) = api
        .post(
            "/users",
            json!({"username": "m1", "email": "m1@example.com", "population": {"id": pop_a}}),
        )
        .await;
    let uid = u["id"].as_str().unwrap();
    let (s, v) = api
        .post(&format!("/users/{uid}/memberOfGroups"), json!({"id": gid}))
        .await;
    assert_eq!(s, 201);
    let env = env_url(&sim);
    assert_eq!(
        v,
        json!({
            "_links": {
                "self": {"href": format!("{env}/users/{uid}/memberOfGroups/{gid}")},
                "user": {"href": format!("{env}/users/{uid}")},
                "environment": {"href": env},
                "group": {"href": format!("{env}/groups/{gid}")}
            },
            "id": gid,
            "environment": {"id": sim.environment_id()},
            "name": "Managers",
            "type": "DIRECT"
        })
    );
    // Unknown group; population group of another population.
    let (s, v) = api
        .post(
            &format!("/users/{uid}/memberOfGroups"),
            json!({"id": "00000000-0000-4000-8000-000000000000"}),
        )
        .await;
    assert_eq!(s, 404);
    assert_error(&v, "NOT_FOUND", None);
    let (_, pg) = api
        .post(
            "/groups",
            json!({"name": "B only", "population": {"id": pop_b}}),
        )
        .await;
    let (s, v) = api
        .post(
            &format!("/users/{uid}/memberOfGroups"),
            json!({"id": pg["id"]}),
        )
        .await;
    assert_eq!(s, 400);
    assert_eq!(v["code"], "INVALID_DATA");
    // Duplicate: 400 by default, then 409, then idempotent 201.
    let (s, v) = api
        .post(&format!("/users/{uid}/memberOfGroups"), json!({"id": gid}))
        .await;
    assert_eq!(s, 400);
    assert_error(&v, "INVALID_DATA", Some(("UNIQUENESS_VIOLATION", None)));
    sim.set_faults(Faults {
        duplicate_membership: DuplicateMembership::Conflict409,
        ..Faults::default()
    });
    let (s, _) = api
        .post(&format!("/users/{uid}/memberOfGroups"), json!({"id": gid}))
        .await;
    assert_eq!(s, 409);
    sim.set_faults(Faults {
        duplicate_membership: DuplicateMembership::Idempotent201,
        ..Faults::default()
    });
    let (s, v) = api
        .post(&format!("/users/{uid}/memberOfGroups"), json!({"id": gid}))
        .await;
    assert_eq!(s, 201);
    assert_eq!(v["type"], "DIRECT");
    let (_, g2) = api.get(&format!("/groups/{gid}")).await;
    assert_eq!(g2["directMemberCounts"]["users"], 1);
}

#[tokio::test]
async fn item_18_list_user_memberships() {
    let sim = start(SimConfig {
        dynamic_groups: 0,
        ..SimConfig::tiny(18)
    })
    .await;
    let api = Api::new(&sim).await;
    let (_, parent) = api.post("/groups", json!({"name": "Parent"})).await;
    let (_, child) = api.post("/groups", json!({"name": "Child"})).await;
    let (_, dynamic) = api
        .post(
            "/groups",
            json!({"name": "Dyn", "userFilter": "title eq \"Chief\""}),
        )
        .await;
    let (pid, cid, did) = (
        parent["id"].as_str().unwrap(),
        child["id"].as_str().unwrap(),
        dynamic["id"].as_str().unwrap(),
    );
    api.post(&format!("/groups/{cid}/memberOfGroups"), json!({"id": pid}))
        .await;
    let (_, u) = api
        .post(
            "/users",
            json!({"username": "mm", "email": "mm@example.com", "title": "Chief"}),
        )
        .await;
    let uid = u["id"].as_str().unwrap();
    api.post(&format!("/users/{uid}/memberOfGroups"), json!({"id": cid}))
        .await;
    let (s, v) = api.get(&format!("/users/{uid}/memberOfGroups")).await;
    assert_eq!(s, 200);
    let rows = v["_embedded"]["groupMemberships"].as_array().unwrap();
    let by_id = |id: &str| {
        rows.iter()
            .find(|r| r["id"] == id)
            .cloned()
            .unwrap_or(Value::Null)
    };
    assert_eq!(v["count"], 3);
    assert_eq!(by_id(cid)["type"], "DIRECT");
    assert_eq!(by_id(pid)["type"], "INDIRECT");
    assert_eq!(by_id(did)["type"], "INDIRECT");
    assert_eq!(by_id(cid)["name"], "Child");
    assert_eq!(by_id(cid)["environment"]["id"], sim.environment_id());
    assert!(by_id(cid).get("_embedded").is_none());
    let (_, v) = api
        .get(&format!(
            "/users/{uid}/memberOfGroups?filter={}",
            enc("type eq \"DIRECT\"")
        ))
        .await;
    assert_eq!(v["count"], 1);
    assert_eq!(v["_embedded"]["groupMemberships"][0]["id"], cid);
    let (_, v) = api
        .get(&format!("/users/{uid}/memberOfGroups?expand=group"))
        .await;
    assert_eq!(
        v["_embedded"]["groupMemberships"][0]["_embedded"]["group"]["id"],
        v["_embedded"]["groupMemberships"][0]["id"]
    );
    let paged = api
        .all(
            &format!("/users/{uid}/memberOfGroups?limit=1"),
            "groupMemberships",
        )
        .await;
    assert_eq!(paged.len(), 3);
    // Population groups carry their population.
    let gt = sim.ground_truth();
    let pop = gt.populations[0]["id"].as_str().unwrap();
    let (_, pg) = api
        .post(
            "/groups",
            json!({"name": "Pop group", "population": {"id": pop}}),
        )
        .await;
    let (_, u2) = api
        .post(
            "/users",
            json!({"username": "pm", "email": "pm@example.com", "population": {"id": pop}}),
        )
        .await;
    api.post(
        &format!("/users/{}/memberOfGroups", u2["id"].as_str().unwrap()),
        json!({"id": pg["id"]}),
    )
    .await;
    let (_, v) = api
        .get(&format!(
            "/users/{}/memberOfGroups",
            u2["id"].as_str().unwrap()
        ))
        .await;
    assert_eq!(
        v["_embedded"]["groupMemberships"][0]["population"]["id"],
        pop
    );
}

#[tokio::test]
async fn item_19_remove_membership() {
    let sim = start(SimConfig {
        dynamic_groups: 0,
        ..SimConfig::tiny(19)
    })
    .await;
    let api = Api::new(&sim).await;
    let (_, parent) = api.post("/groups", json!({"name": "P"})).await;
    let (_, child) = api.post("/groups", json!({"name": "C"})).await;
    let (pid, cid) = (
        parent["id"].as_str().unwrap(),
        child["id"].as_str().unwrap(),
    );
    api.post(&format!("/groups/{cid}/memberOfGroups"), json!({"id": pid}))
        .await;
    let (_, u) = api
        .post(
            "/users",
            json!({"username": "rm", "email": "rm@example.com"}),
        )
        .await;
    let uid = u["id"].as_str().unwrap();
    api.post(&format!("/users/{uid}/memberOfGroups"), json!({"id": cid}))
        .await;
    let (s, v) = api
        .delete(&format!("/users/{uid}/memberOfGroups/{pid}"))
        .await;
    assert_eq!(s, 404, "indirect membership cannot be removed");
    assert_error(&v, "NOT_FOUND", None);
    let (s, _) = api
        .delete(&format!("/users/{uid}/memberOfGroups/{cid}"))
        .await;
    assert_eq!(s, 204);
    let (s, _) = api
        .delete(&format!("/users/{uid}/memberOfGroups/{cid}"))
        .await;
    assert_eq!(s, 404);
    let (_, v) = api.get(&format!("/users/{uid}/memberOfGroups")).await;
    assert_eq!(v["count"], 0);
}

#[tokio::test]
async fn item_20_members_filter() {
    let sim = start(SimConfig::small(20)).await;
    let api = Api::new(&sim).await;
    let gt = sim.ground_truth();
    // Group 0 has a nested child; the dynamic groups have INDIRECT members.
    let mut checked = 0;
    for g in gt.groups.iter() {
        let gid = g["id"].as_str().unwrap();
        let expected = expected_members(&gt, gid);
        let q = format!(
            "/users?filter={}&limit=3",
            enc(&format!("memberOfGroups[id eq \"{gid}\"]"))
        );
        let (_, first) = api.get(&q).await;
        assert_eq!(
            first["count"].as_u64().unwrap() as usize,
            expected.len(),
            "{}",
            g["name"]
        );
        let got: BTreeSet<String> = ids(&api.all(&q, "users").await).into_iter().collect();
        assert_eq!(got, expected, "{}", g["name"]);
        checked += 1;
    }
    assert_eq!(checked, 10);
    let parent = gt.nestings[0].parent_group_id.clone();
    let child = gt.nestings[0].child_group_id.clone();
    let child_members = expected_members(&gt, &child);
    assert!(child_members.is_subset(&expected_members(&gt, &parent)));
    // Combined with another condition.
    let q = format!(
        "/users?filter={}",
        enc(&format!(
            "memberOfGroups[id eq \"{parent}\"] and enabled eq false"
        ))
    );
    let (_, v) = api.get(&q).await;
    let disabled: BTreeSet<String> = gt
        .users
        .iter()
        .filter(|u| u["enabled"] == false)
        .map(|u| u["id"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(
        v["count"].as_u64().unwrap() as usize,
        expected_members(&gt, &parent)
            .intersection(&disabled)
            .count()
    );
}

#[tokio::test]
async fn item_21_groups_crud() {
    let sim = start(SimConfig {
        dynamic_groups: 0,
        ..SimConfig::tiny(21)
    })
    .await;
    let api = Api::new(&sim).await;
    let gt = sim.ground_truth();
    let (s, v) = api.post("/groups", json!({"description": "no name"})).await;
    assert_eq!(s, 400);
    assert_error(&v, "INVALID_DATA", Some(("REQUIRED_VALUE", Some("name"))));
    let existing = gt.groups[0]["name"].as_str().unwrap();
    let (s, v) = api.post("/groups", json!({"name": existing})).await;
    assert_eq!(s, 400);
    assert_error(
        &v,
        "INVALID_DATA",
        Some(("UNIQUENESS_VIOLATION", Some("name"))),
    );
    let (s, g) = api
        .post(
            "/groups",
            json!({"name": "Crud", "description": "d", "externalId": "x-1"}),
        )
        .await;
    assert_eq!(s, 201);
    assert_eq!(g["directMemberCounts"], json!({"users": 0}));
    assert!(g.get("totalMemberCounts").is_none());
    assert!(g.get("population").is_none());
    let gid = g["id"].as_str().unwrap();
    let (_, u) = api
        .post(
            "/users",
            json!({"username": "gm", "email": "gm@example.com"}),
        )
        .await;
    let uid = u["id"].as_str().unwrap();
    api.post(&format!("/users/{uid}/memberOfGroups"), json!({"id": gid}))
        .await;
    let (_, r) = api
        .get(&format!("/groups/{gid}?include=totalMemberCounts"))
        .await;
    assert_eq!(r["totalMemberCounts"], json!({"users": 1}));
    assert_eq!(r["directMemberCounts"], json!({"users": 1}));
    let list = api.all("/groups", "groups").await;
    assert!(list.iter().all(|x| x.get("totalMemberCounts").is_none()));
    assert_eq!(list.len(), 7);
    let pop = gt.populations[0]["id"].as_str().unwrap();
    let (s, v) = api
        .put(
            &format!("/groups/{gid}"),
            json!({"name": "Crud", "population": {"id": pop}}),
        )
        .await;
    assert_eq!(s, 400);
    assert_eq!(v["code"], "INVALID_DATA");
    let (s, v) = api
        .put(&format!("/groups/{gid}"), json!({"name": "Crud 2"}))
        .await;
    assert_eq!(s, 200);
    assert_eq!(v["name"], "Crud 2");
    assert!(
        v.get("description").is_none() && v.get("externalId").is_none(),
        "PUT replaces"
    );
    let (s, _) = api.delete(&format!("/groups/{gid}")).await;
    assert_eq!(s, 204);
    let (s, _) = api.get(&format!("/groups/{gid}")).await;
    assert_eq!(s, 404);
    let (_, v) = api.get(&format!("/users/{uid}/memberOfGroups")).await;
    assert_eq!(v["count"], 0);
    assert!(
        sim.ground_truth()
            .memberships
            .iter()
            .all(|m| m.group_id != gid)
    );
}

#[tokio::test]
async fn item_22_nesting() {
    let sim = start(SimConfig {
        dynamic_groups: 0,
        ..SimConfig::tiny(22)
    })
    .await;
    let api = Api::new(&sim).await;
    let (_, a) = api.post("/groups", json!({"name": "A"})).await;
    let (_, b) = api.post("/groups", json!({"name": "B"})).await;
    let (_, c) = api.post("/groups", json!({"name": "C"})).await;
    let (aid, bid, cid) = (
        a["id"].as_str().unwrap(),
        b["id"].as_str().unwrap(),
        c["id"].as_str().unwrap(),
    );
    // B nested in A; C nested in B.
    let (s, v) = api
        .post(&format!("/groups/{bid}/memberOfGroups"), json!({"id": aid}))
        .await;
    assert_eq!(s, 201);
    assert_eq!(v["id"], aid);
    assert_eq!(v["type"], "DIRECT");
    assert_eq!(
        v["_links"]["self"]["href"],
        format!("{}/groups/{bid}/memberOfGroups/{aid}", env_url(&sim))
    );
    api.post(&format!("/groups/{cid}/memberOfGroups"), json!({"id": bid}))
        .await;
    let (_, v) = api.get(&format!("/groups/{bid}/memberOfGroups")).await;
    assert_eq!(v["count"], 1);
    assert_eq!(v["_embedded"]["groupMemberships"][0]["id"], aid);
    let (s, _) = api
        .get(&format!("/groups/{bid}/memberOfGroups/{aid}"))
        .await;
    assert_eq!(s, 200);
    // A cycle is refused: A into C.
    let (s, v) = api
        .post(&format!("/groups/{aid}/memberOfGroups"), json!({"id": cid}))
        .await;
    assert_eq!(s, 400);
    assert_error(&v, "INVALID_DATA", Some(("CONSTRAINT_VIOLATION", None)));
    let (s, _) = api
        .post(&format!("/groups/{aid}/memberOfGroups"), json!({"id": aid}))
        .await;
    assert_eq!(s, 400);
    // C's member is an INDIRECT member of A and B.
    let (_, u) = api
        .post(
            "/users",
            json!({"username": "nest", "email": "n@example.com"}),
        )
        .await;
    let uid = u["id"].as_str().unwrap();
    api.post(&format!("/users/{uid}/memberOfGroups"), json!({"id": cid}))
        .await;
    let (_, v) = api
        .get(&format!(
            "/users?filter={}",
            enc(&format!("memberOfGroups[id eq \"{aid}\"]"))
        ))
        .await;
    assert_eq!(
        ids(v["_embedded"]["users"].as_array().unwrap()),
        vec![uid.to_string()]
    );
    let (_, v) = api
        .get(&format!(
            "/users/{uid}/memberOfGroups?filter={}",
            enc("type eq \"INDIRECT\"")
        ))
        .await;
    assert_eq!(v["count"], 2);
    let (_, g) = api
        .get(&format!("/groups/{aid}?include=totalMemberCounts"))
        .await;
    assert_eq!(g["totalMemberCounts"]["users"], 1);
    assert_eq!(g["directMemberCounts"]["users"], 0);
    let (s, _) = api
        .delete(&format!("/groups/{bid}/memberOfGroups/{aid}"))
        .await;
    assert_eq!(s, 204);
    let (s, _) = api
        .delete(&format!("/groups/{bid}/memberOfGroups/{aid}"))
        .await;
    assert_eq!(s, 404);
    let (_, v) = api
        .get(&format!(
            "/users?filter={}",
            enc(&format!("memberOfGroups[id eq \"{aid}\"]"))
        ))
        .await;
    assert_eq!(v["count"], 0);
}

#[tokio::test]
async fn item_23_populations() {
    let sim = start(SimConfig::tiny(23)).await;
    let api = Api::new(&sim).await;
    let list = api.all("/populations", "populations").await;
    assert_eq!(list.len(), 2);
    assert_eq!(list.iter().filter(|p| p["default"] == true).count(), 1);
    assert!(list.iter().all(|p| p["userCount"].is_u64()));
    let total: u64 = list.iter().map(|p| p["userCount"].as_u64().unwrap()).sum();
    assert_eq!(total, 12);
    let default = list.iter().find(|p| p["default"] == true).unwrap()["id"]
        .as_str()
        .unwrap()
        .to_string();
    let (s, v) = api.delete(&format!("/populations/{default}")).await;
    assert_eq!(s, 400);
    assert_error(&v, "INVALID_DATA", Some(("CONSTRAINT_VIOLATION", None)));
    let with_users = list
        .iter()
        .find(|p| p["default"] == false && p["userCount"].as_u64().unwrap() > 0)
        .unwrap();
    let (s, v) = api
        .delete(&format!(
            "/populations/{}",
            with_users["id"].as_str().unwrap()
        ))
        .await;
    assert_eq!(s, 400);
    assert_error(&v, "INVALID_DATA", Some(("CONSTRAINT_VIOLATION", None)));
    let (s, p) = api
        .post("/populations", json!({"name": "Temp", "description": "t"}))
        .await;
    assert_eq!(s, 201);
    assert_eq!(p["userCount"], 0);
    assert_eq!(p["default"], false);
    let (s, v) = api.post("/populations", json!({"name": "temp"})).await;
    assert_eq!(s, 400);
    assert_eq!(v["details"][0]["code"], "UNIQUENESS_VIOLATION");
    let pid = p["id"].as_str().unwrap();
    let (s, _) = api
        .get(&format!(
            "/populations?filter={}",
            enc(&format!("id eq \"{pid}\""))
        ))
        .await;
    assert_eq!(s, 200);
    let (_, v) = api
        .get(&format!("/populations?filter={}", enc("name sw \"Te\"")))
        .await;
    assert_eq!(v["count"], 1);
    // Making it the default moves the flag.
    let (s, v) = api
        .put(
            &format!("/populations/{pid}"),
            json!({"name": "Temp", "default": true}),
        )
        .await;
    assert_eq!(s, 200);
    assert_eq!(v["default"], true);
    let list = api.all("/populations", "populations").await;
    assert_eq!(list.iter().filter(|p| p["default"] == true).count(), 1);
    api.put(&format!("/populations/{default}"), json!({"name": list.iter().find(|p| p["id"] == default.as_str()).unwrap()["name"], "default": true})).await;
    let (s, _) = api.delete(&format!("/populations/{pid}")).await;
    assert_eq!(s, 204);
    let (s, _) = api.get(&format!("/populations/{pid}")).await;
    assert_eq!(s, 404);
}

#[tokio::test]
async fn item_24_roles_and_assignments() {
    let sim = start(SimConfig::tiny(24)).await;
    let api = Api::new(&sim).await;
    let (s, v) = api.get("/v1/roles").await;
    assert_eq!(s, 200);
    let roles = v["_embedded"]["roles"].as_array().unwrap();
    let ida = roles
        .iter()
        .find(|r| r["name"] == "Identity Data Admin")
        .unwrap();
    assert_eq!(ida["id"], builtin_role_id("Identity Data Admin"));
    assert_eq!(ida["applicableTo"], json!(["ENVIRONMENT", "POPULATION"]));
    assert!(!ida["permissions"].as_array().unwrap().is_empty());
    for name in [
        "Identity Data Read Only",
        "Environment Admin",
        "Organization Admin",
        "Client Application Developer",
    ] {
        let r = roles
            .iter()
            .find(|r| r["name"] == name)
            .unwrap_or_else(|| panic!("{name}"));
        assert!(r["permissions"].as_array().unwrap()[0]["id"].is_string());
    }
    let (s, one) = api
        .get(&format!("/v1/roles/{}", ida["id"].as_str().unwrap()))
        .await;
    assert_eq!(s, 200);
    assert_eq!(one["name"], "Identity Data Admin");

    let (_, u) = api
        .post(
            "/users",
            json!({"username": "admin", "email": "ad@example.com"}),
        )
        .await;
    let uid = u["id"].as_str().unwrap();
    let env = sim.environment_id();
    let body = json!({"role": {"id": ida["id"]}, "scope": {"id": env, "type": "ENVIRONMENT"}});
    let (s, ra) = api
        .post(&format!("/users/{uid}/roleAssignments"), body.clone())
        .await;
    assert_eq!(s, 201, "{ra}");
    assert_eq!(ra["readOnly"], false);
    assert_eq!(ra["role"]["id"], ida["id"]);
    assert_eq!(ra["scope"], json!({"id": env, "type": "ENVIRONMENT"}));
    let dup = json!({"code": "UNIQUENESS_VIOLATION", "message": "May not assign duplicate Role", "target": "role"});
    let (s, v) = api
        .post(&format!("/users/{uid}/roleAssignments"), body.clone())
        .await;
    assert_eq!(s, 400);
    assert_eq!(v["code"], "INVALID_DATA");
    assert_eq!(
        v["message"],
        "The request could not be completed. One or more validation errors were in the request."
    );
    assert_eq!(v["details"], json!([dup]));
    // Already held at a broader scope.
    let pop = sim.ground_truth().populations[0]["id"].clone();
    let (s, v) = api
        .post(
            &format!("/users/{uid}/roleAssignments"),
            json!({"role": {"id": ida["id"]}, "scope": {"id": pop, "type": "POPULATION"}}),
        )
        .await;
    assert_eq!(s, 400);
    assert_eq!(v["details"], json!([dup]));
    // Scope type outside applicableTo.
    let org_admin = builtin_role_id("Organization Admin");
    let (s, v) = api
        .post(
            &format!("/users/{uid}/roleAssignments"),
            json!({"role": {"id": org_admin}, "scope": {"id": env, "type": "ENVIRONMENT"}}),
        )
        .await;
    assert_eq!(s, 400);
    assert_eq!(v["details"][0]["target"], "scope");
    // Listing with expand=role; read one; delete.
    let (_, v) = api
        .get(&format!("/users/{uid}/roleAssignments?expand=role"))
        .await;
    assert_eq!(v["count"], 1);
    assert_eq!(
        v["_embedded"]["roleAssignments"][0]["_embedded"]["role"]["name"],
        "Identity Data Admin"
    );
    let raid = ra["id"].as_str().unwrap();
    let (s, _) = api
        .get(&format!("/users/{uid}/roleAssignments/{raid}"))
        .await;
    assert_eq!(s, 200);
    let (s, _) = api
        .delete(&format!("/users/{uid}/roleAssignments/{raid}"))
        .await;
    assert_eq!(s, 204);
    let (s, _) = api
        .get(&format!("/users/{uid}/roleAssignments/{raid}"))
        .await;
    assert_eq!(s, 404);
    // Read-only assignment (generated on user 0).
    let gt = sim.ground_truth();
    let ro = gt
        .role_assignments
        .iter()
        .find(|a| a.read_only && a.subject_type == "USER")
        .unwrap();
    let (s, v) = api
        .delete(&format!(
            "/users/{}/roleAssignments/{}",
            ro.subject_id, ro.id
        ))
        .await;
    assert_eq!(s, 400);
    assert_eq!(
        v["message"],
        format!(
            "Role assignment {} cannot be deleted as it is read only",
            ro.id
        )
    );
    // Group role assignments.
    let (_, fresh_group) = api.post("/groups", json!({"name": "Role holders"})).await;
    let gid = fresh_group["id"].as_str().unwrap();
    let idro = builtin_role_id("Identity Data Read Only");
    let (s, gra) = api
        .post(
            &format!("/groups/{gid}/roleAssignments"),
            json!({"role": {"id": idro}, "scope": {"id": pop, "type": "POPULATION"}}),
        )
        .await;
    assert_eq!(s, 201, "{gra}");
    assert_eq!(gra["group"]["id"], gid);
    let (_, v) = api.get(&format!("/groups/{gid}/roleAssignments")).await;
    assert!(
        ids(v["_embedded"]["roleAssignments"].as_array().unwrap())
            .contains(&gra["id"].as_str().unwrap().to_string())
    );
    let (s, _) = api
        .delete(&format!(
            "/groups/{gid}/roleAssignments/{}",
            gra["id"].as_str().unwrap()
        ))
        .await;
    assert_eq!(s, 204);
    // Custom roles live in the environment.
    let (_, v) = api
        .get(&format!("/roles?filter={}", enc("type eq \"CUSTOM\"")))
        .await;
    let custom = v["_embedded"]["roles"].as_array().unwrap();
    assert_eq!(custom.len(), 1);
    assert_eq!(custom[0]["type"], "CUSTOM");
    assert!(
        custom[0]["canBeAssignedBy"]
            .as_array()
            .is_some_and(|a| !a.is_empty())
    );
    let (_, all) = api.get("/roles").await;
    assert_eq!(all["count"].as_u64().unwrap() as usize, roles.len() + 1);
}

#[tokio::test]
async fn item_25_rate_limit_and_faults() {
    let sim = start(SimConfig::tiny(25)).await;
    let api = Api::new(&sim).await;
    // Rate limit: 2 per second, burst 2: the third immediate call is 429.
    sim.set_faults(Faults {
        rate_limit_per_sec: Some(2.0),
        rate_limit_burst: Some(2.0),
        ..Faults::default()
    });
    let mut statuses = Vec::new();
    let mut limited = None;
    for _ in 0..3 {
        let r = api
            .http
            .get(api.url("/users"))
            .bearer_auth(&api.token)
            .send()
            .await
            .unwrap();
        statuses.push(r.status().as_u16());
        if r.status() == 429 {
            let ra = r.headers()["retry-after"].to_str().unwrap().to_string();
            limited = Some((ra, r.json::<Value>().await.unwrap()));
        }
    }
    assert_eq!(statuses, [200, 200, 429]);
    let (retry_after, body) = limited.unwrap();
    let secs: u64 = retry_after.parse().expect("integer Retry-After");
    assert!(secs >= 1);
    assert_error(&body, "REQUEST_LIMITED", Some(("LIMIT_EXCEEDED", None)));
    let at = body["details"][0]["innerError"]["retryAfter"]
        .as_str()
        .unwrap();
    assert!(at.ends_with('Z') && at.len() == 24, "{at}");
    assert_eq!(sim.stats().rate_limited, 1);

    // 5xx: a deterministic 503 burst then 500s at random.
    sim.set_faults(Faults {
        error_burst: Some(ErrorBurst {
            every: 4,
            length: 1,
            status: 503,
        }),
        ..Faults::default()
    });
    let r = api
        .http
        .get(api.url("/users"))
        .bearer_auth(&api.token)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 503);
    assert!(r.headers().contains_key("retry-after"));
    let (s, _) = api.get("/users").await;
    assert_eq!(s, 200);
    sim.set_faults(Faults {
        error_rate: 1.0,
        ..Faults::default()
    });
    let (s, v) = api.get("/users").await;
    assert_eq!(s, 500);
    assert_error(&v, "UNEXPECTED_ERROR", None);
    sim.set_faults(Faults::default());

    // Unknown /v1 path: the gateway's 403.
    let (s, v) = api.get("/v1/nonsense/path").await;
    assert_eq!(s, 403);
    assert_eq!(
        v["message"],
        "Invalid key=value pair (missing equal-sign) in Authorization header"
    );
    let (s, _) = api.get("/users/x/unknown-subresource").await;
    assert_eq!(s, 403);
    // Unsupported method: 405.
    let gid = sim.ground_truth().groups[0]["id"]
        .as_str()
        .unwrap()
        .to_string();
    let (s, v) = api
        .call(
            Method::PATCH,
            &format!("/groups/{gid}"),
            Some(&json!({"name": "x"})),
        )
        .await;
    assert_eq!(s, 405);
    assert_eq!(v["code"], "INVALID_REQUEST");
    // Wrong custom media type: 415 INVALID_REQUEST.
    let r = api
        .http
        .post(api.url("/users"))
        .bearer_auth(&api.token)
        .header(
            "Content-Type",
            "application/vnd.pingidentity.account.lock+json",
        )
        .body("{}")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 415);
    assert_error(&r.json::<Value>().await.unwrap(), "INVALID_REQUEST", None);
    let uid = sim.ground_truth().users[0]["id"]
        .as_str()
        .unwrap()
        .to_string();
    let r = api
        .http
        .post(api.url(&format!("/users/{uid}")))
        .bearer_auth(&api.token)
        .header("Content-Type", "application/vnd.pingidentity.nonsense+json")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 415);
    // The right custom media type locks the account.
    let r = api
        .http
        .post(api.url(&format!("/users/{uid}")))
        .bearer_auth(&api.token)
        .header(
            "Content-Type",
            "application/vnd.pingidentity.account.lock+json",
        )
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["account"]["status"], "LOCKED");
    assert_eq!(v["account"]["canAuthenticate"], false);
}
