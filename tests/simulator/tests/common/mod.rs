//! Helpers shared by the integration tests: start a simulator, get a token,
//! make requests and read JSON, and compute expected memberships from the
//! ground truth independently of the simulator's own indexes.

#![allow(dead_code)]

use std::collections::{BTreeSet, HashMap};

use base64::Engine;
use pingone_sim::{GroundTruth, ServeOptions, SimConfig, SimHandle};
use reqwest::{Client, Method, StatusCode};
use serde_json::Value;

pub fn http() -> Client {
    Client::builder().no_proxy().build().expect("client")
}

pub async fn start(cfg: SimConfig) -> SimHandle {
    pingone_sim::start(cfg, ServeOptions::default())
        .await
        .expect("simulator starts")
}

pub fn basic(id: &str, secret: &str) -> String {
    format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!("{id}:{secret}"))
    )
}

pub async fn token_for(sim: &SimHandle, env: &str, id: &str, secret: &str) -> String {
    let r = http()
        .post(format!("{}/{env}/as/token", sim.auth_base_url()))
        .header("Authorization", basic(id, secret))
        .header("Content-Type", "application/x-www-form-urlencoded")
        .body("grant_type=client_credentials")
        .send()
        .await
        .expect("token call");
    assert_eq!(r.status(), StatusCode::OK);
    let v: Value = r.json().await.expect("token json");
    v["access_token"]
        .as_str()
        .expect("access_token")
        .to_string()
}

pub async fn token(sim: &SimHandle) -> String {
    token_for(
        sim,
        sim.environment_id(),
        sim.client_id(),
        sim.client_secret(),
    )
    .await
}

pub fn env_url(sim: &SimHandle) -> String {
    format!(
        "{}/v1/environments/{}",
        sim.api_base_url(),
        sim.environment_id()
    )
}

/// A tiny API client bound to one simulator and token.
pub struct Api {
    pub http: Client,
    pub token: String,
    pub env: String,
    pub base: String,
}

impl Api {
    pub async fn new(sim: &SimHandle) -> Api {
        Api {
            http: http(),
            token: token(sim).await,
            env: env_url(sim),
            base: sim.api_base_url().to_string(),
        }
    }

    /// `path` is relative to the environment URL unless it starts with `http`
    /// or `/v1`.
    pub fn url(&self, path: &str) -> String {
        if path.starts_with("http") {
            path.to_string()
        } else if path.starts_with("/v1") {
            format!("{}{path}", self.base)
        } else {
            format!("{}{path}", self.env)
        }
    }

    pub async fn call(
        &self,
        method: Method,
        path: &str,
        body: Option<&Value>,
    ) -> (StatusCode, Value) {
        let mut req = self
            .http
            .request(method, self.url(path))
            .bearer_auth(&self.token);
        if let Some(b) = body {
            req = req.json(b);
        }
        let r = req.send().await.expect("request");
        let status = r.status();
        let bytes = r.bytes().await.expect("body");
        let v = if bytes.is_empty() {
            Value::Null
        } else {
            serde_json::from_slice(&bytes)
                .unwrap_or_else(|e| panic!("json body ({e}): {}", String::from_utf8_lossy(&bytes)))
        };
        (status, v)
    }

    pub async fn get(&self, path: &str) -> (StatusCode, Value) {
        self.call(Method::GET, path, None).await
    }

    pub async fn post(&self, path: &str, body: Value) -> (StatusCode, Value) {
        self.call(Method::POST, path, Some(&body)).await
    }

    pub async fn put(&self, path: &str, body: Value) -> (StatusCode, Value) {
        self.call(Method::PUT, path, Some(&body)).await
    }

    pub async fn patch(&self, path: &str, body: Value) -> (StatusCode, Value) {
        self.call(Method::PATCH, path, Some(&body)).await
    }

    pub async fn delete(&self, path: &str) -> (StatusCode, Value) {
        self.call(Method::DELETE, path, None).await
    }

    /// Follows `next` links, collecting `_embedded.<key>` items.
    pub async fn all(&self, first: &str, key: &str) -> Vec<Value> {
        let mut out = Vec::new();
        let mut url = self.url(first);
        for _ in 0..10_000 {
            let (s, v) = self.get(&url).await;
            assert_eq!(s, StatusCode::OK, "{url}: {v}");
            out.extend(
                v["_embedded"][key]
                    .as_array()
                    .expect("items")
                    .iter()
                    .cloned(),
            );
            match v["_links"]["next"]["href"].as_str() {
                Some(n) => url = n.to_string(),
                None => return out,
            }
        }
        panic!("too many pages");
    }
}

pub fn ids(items: &[Value]) -> Vec<String> {
    items
        .iter()
        .map(|v| v["id"].as_str().expect("id").to_string())
        .collect()
}

pub fn enc(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

pub fn assert_uuid(v: &Value) {
    let s = v.as_str().unwrap_or_else(|| panic!("not a string: {v}"));
    assert!(pingone_sim::util::is_uuid(s), "not a uuid: {s}");
}

/// Asserts a PingOne error body: `id` uuid, `code`, and optionally the
/// first detail's code and target.
pub fn assert_error(v: &Value, code: &str, detail: Option<(&str, Option<&str>)>) {
    assert_uuid(&v["id"]);
    assert_eq!(v["code"], code, "{v}");
    assert!(v["message"].as_str().is_some_and(|m| !m.is_empty()), "{v}");
    if let Some((dcode, target)) = detail {
        assert_eq!(v["details"][0]["code"], dcode, "{v}");
        if let Some(t) = target {
            assert_eq!(v["details"][0]["target"], t, "{v}");
        }
    }
}

/// Every group a user is in (direct, nested ancestors, dynamic), computed
/// from the ground truth alone. Dynamic membership is taken from the
/// ground truth's listing.
pub fn expected_groups(gt: &GroundTruth, user_id: &str) -> (BTreeSet<String>, BTreeSet<String>) {
    let mut parents: HashMap<&str, Vec<&str>> = HashMap::new();
    for n in &gt.nestings {
        parents
            .entry(&n.child_group_id)
            .or_default()
            .push(&n.parent_group_id);
    }
    let direct: BTreeSet<String> = gt
        .memberships
        .iter()
        .filter(|m| m.user_id == user_id)
        .map(|m| m.group_id.clone())
        .collect();
    let mut seeds: Vec<String> = direct.iter().cloned().collect();
    for d in &gt.dynamic_group_members {
        if d.user_ids.iter().any(|u| u == user_id) {
            seeds.push(d.group_id.clone());
        }
    }
    let mut all = BTreeSet::new();
    while let Some(g) = seeds.pop() {
        if all.insert(g.clone()) {
            for p in parents.get(g.as_str()).into_iter().flatten() {
                seeds.push(p.to_string());
            }
        }
    }
    (direct, all)
}

/// All members of a group (direct, dynamic, nested), from the ground truth.
pub fn expected_members(gt: &GroundTruth, group_id: &str) -> BTreeSet<String> {
    gt.users
        .iter()
        .map(|u| u["id"].as_str().unwrap().to_string())
        .filter(|u| expected_groups(gt, u).1.contains(group_id))
        .collect()
}
