//! Helpers for the unit tests: a scripted `MockHost` keyed by exact URL, and
//! PingOne-shaped collection pages.

use connector_sdk::http::{HttpError, Response};
use connector_sdk::testing::MockHost;
use connector_sdk::{Config, Context, EntitlementRef, PageOutcome, SyncTask, resource_id};
use serde_json::{Value, json};

use crate::client::api::Api;
use crate::client::model::Group;
use crate::config::{API_URL, ENVIRONMENT_ID, Settings};
use crate::tokens::Work;

pub const ENV: &str = "b4f5e266-a946-4f77-9cc5-5dc91b046431";
pub const API: &str = "https://api.test";

pub fn config() -> Config {
    Config::new(vec![
        (ENVIRONMENT_ID.into(), ENV.into()),
        (API_URL.into(), API.into()),
    ])
}

pub fn settings() -> Settings {
    Settings::from_config(&config()).expect("test settings")
}

/// A collection page: `_embedded.<key>`, optional `next`.
pub fn page(key: &str, items: Value, next: Option<&str>) -> Value {
    let n = items.as_array().map_or(0, Vec::len);
    let mut links = json!({ "self": { "href": "https://api.test/v1/self" } });
    if let Some(next) = next {
        links["next"] = json!({ "href": next });
    }
    json!({ "_links": links, "_embedded": { key: items }, "count": n, "size": n })
}

pub fn ok(v: Value) -> Result<Response, HttpError> {
    MockHost::json(200, v)
}

pub fn status(code: u16, v: Value) -> Result<Response, HttpError> {
    MockHost::json(code, v)
}

/// A host answering exact URLs; any other request fails the test.
pub fn host(routes: Vec<(String, Result<Response, HttpError>)>) -> MockHost {
    MockHost::new(move |req, _| {
        routes
            .iter()
            .find(|(u, _)| *u == req.url)
            .map(|(_, r)| r.clone())
            .unwrap_or_else(|| panic!("unexpected request {}", req.url))
    })
}

/// Runs one task through the dispatcher.
pub fn run(host: &MockHost, task: SyncTask) -> Result<PageOutcome, connector_sdk::ConnectorError> {
    let config = config();
    let settings = settings();
    let cx = Context {
        host,
        config: &config,
    };
    crate::run(&cx, &Api::new(host, &settings), task)
}

/// URLs built like the connector builds them.
pub fn urls() -> Api<'static> {
    static SETTINGS: std::sync::OnceLock<Settings> = std::sync::OnceLock::new();
    static HOST: std::sync::OnceLock<NoHost> = std::sync::OnceLock::new();
    Api::new(HOST.get_or_init(|| NoHost), SETTINGS.get_or_init(settings))
}

/// A host for building URLs only.
pub struct NoHost;

impl connector_sdk::Host for NoHost {
    fn send(
        &self,
        _: &connector_sdk::http::Request,
        _: &connector_sdk::Auth,
    ) -> Result<Response, HttpError> {
        unreachable!("URL builder only")
    }
    fn send_batch(
        &self,
        _: &[connector_sdk::http::Request],
        _: &connector_sdk::Auth,
    ) -> Vec<Result<Response, HttpError>> {
        unreachable!("URL builder only")
    }
    fn put_resources(
        &self,
        _: &[connector_sdk::Resource],
    ) -> Result<(), connector_sdk::bindings::idgov::connector::upload::UploadError> {
        unreachable!()
    }
    fn put_entitlements(
        &self,
        _: &[connector_sdk::Entitlement],
    ) -> Result<(), connector_sdk::bindings::idgov::connector::upload::UploadError> {
        unreachable!()
    }
    fn put_grants(
        &self,
        _: &[connector_sdk::Grant],
    ) -> Result<(), connector_sdk::bindings::idgov::connector::upload::UploadError> {
        unreachable!()
    }
    fn log(&self, _: connector_sdk::Level, _: &str) {}
}

pub fn task(
    op: connector_sdk::SyncOp,
    rt: &str,
    resource: Option<&str>,
    token: Option<String>,
) -> SyncTask {
    SyncTask {
        op,
        resource_type: rt.into(),
        resource: resource.map(|r| connector_sdk::resource_id(rt, r)),
        page_token: token,
    }
}

/// `"<ent rt>:<ent id>:<slug>:<principal rt>:<principal id>"` of each grant.
pub fn grant_ids(h: &MockHost) -> Vec<String> {
    h.grants
        .borrow()
        .iter()
        .map(|g| {
            format!(
                "{}:{}:{}:{}:{}",
                g.entitlement_resource.resource_type,
                g.entitlement_resource.resource,
                g.entitlement_slug,
                g.principal.resource_type,
                g.principal.resource
            )
        })
        .collect()
}

/// A group as the groups listing decodes it.
pub fn group(v: Value) -> Group {
    serde_json::from_value(v).unwrap()
}

// Ids of the provisioning tests.
pub const U: &str = "0f2c1e1a-0000-4000-8000-000000000001";
pub const G: &str = "0f2c1e1a-0000-4000-8000-000000000002";
pub const R: &str = "0f2c1e1a-0000-4000-8000-000000000003";
pub const X: &str = "0f2c1e1a-0000-4000-8000-000000000004";
pub const P1: &str = "0f2c1e1a-0000-4000-8000-000000000005";
pub const ORG: &str = "0f2c1e1a-0000-4000-8000-000000000006";
pub const A1: &str = "0f2c1e1a-0000-4000-8000-0000000000a1";
pub const A2: &str = "0f2c1e1a-0000-4000-8000-0000000000a2";
pub const A3: &str = "0f2c1e1a-0000-4000-8000-0000000000a3";

pub fn ent(rt: &str, id: &str, slug: &str, meta: Option<Value>) -> EntitlementRef {
    EntitlementRef {
        id: format!("{rt}:{id}:{slug}"),
        resource: resource_id(rt, id),
        slug: slug.into(),
        metadata_json: meta.map(|m| m.to_string()),
    }
}

pub fn with<T>(h: &connector_sdk::testing::MockHost, f: impl FnOnce(&Context) -> T) -> T {
    let c = config();
    f(&Context {
        host: h,
        config: &c,
    })
}

/// The work each follow-up task carries.
pub fn kinds(tasks: &[SyncTask]) -> Vec<Work> {
    tasks
        .iter()
        .map(|t| Work::decode(t.page_token.as_deref().unwrap()).unwrap())
        .collect()
}

/// A users page's items: `{"id": …}` for each of `ids`.
pub fn users(ids: &[&str]) -> Value {
    Value::Array(ids.iter().map(|i| json!({ "id": i })).collect())
}

/// A user's `memberOfGroups` rows, each DIRECT.
pub fn direct_rows(groups: &[&str]) -> Value {
    Value::Array(
        groups
            .iter()
            .map(|g| json!({"id": g, "type": "DIRECT"}))
            .collect(),
    )
}
