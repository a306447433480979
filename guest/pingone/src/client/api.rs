//! Endpoint URLs and requests: one listing's page size, many requests at
//! once.
//!
//! Decisions:
//! - Independent requests always go out together through `send_batch`
//!   (chunks of [`MAX_BATCH`]); the host bounds their concurrency, retries
//!   and rate-limits them.
//! - `limit` is sent only where the reference documents its bounds (users
//!   and groups, [`DOCUMENTED_MAX`]): an undocumented or
//!   out-of-range `limit` may be a 400 on a real tenant, one a simulator
//!   that accepted any `limit` could never show. Should PingOne still
//!   refuse a `limit` (a 400 whose detail targets `limit`), the request is
//!   sent once more without it and PingOne's default page size is paged.

use connector_sdk::http::{Request, Response, encode};
use connector_sdk::{Auth, ConnectorError, Host};

use crate::client::errors;
use crate::config::Settings;

/// Requests per `send_batch` (the host accepts up to 256).
pub const MAX_BATCH: usize = 250;

/// Page size of `GET /users` (PingOne's documented cap).
pub const USERS_PAGE: u32 = 200;

/// Page size wanted of the groups listing (the spec's maximum).
pub const BIG_PAGE: u32 = 1000;

/// The `limit` maximum the reference documents (pingone-api.md §5.1,
/// §11), for users and groups only: every other listing is sent without
/// `limit`, and PingOne serves its own page size ("the lesser of the
/// service-defined maximum page size or the number of items"), which
/// paging follows.
const DOCUMENTED_MAX: u32 = 1000;

/// `url` with `limit=<wanted>`, capped by the documented maximum.
fn with_limit(url: String, wanted: u32) -> String {
    let sep = if url.contains('?') { '&' } else { '?' };
    format!("{url}{sep}limit={}", wanted.clamp(1, DOCUMENTED_MAX))
}

/// `url` without its `limit` query parameter, or `None` when it has none:
/// the request to send again when PingOne refuses the `limit` (a 400 about
/// `limit`), so that it serves its default page size instead.
pub fn without_limit(url: &str) -> Option<String> {
    let (base, query) = url.split_once('?')?;
    let kept: Vec<&str> = query
        .split('&')
        .filter(|p| *p != "limit" && !p.starts_with("limit="))
        .collect();
    if kept.len() == query.split('&').count() {
        return None;
    }
    Some(if kept.is_empty() {
        base.to_string()
    } else {
        format!("{base}?{}", kept.join("&"))
    })
}

/// The management API of one environment, over the host.
pub struct Api<'a> {
    pub host: &'a dyn Host,
    pub settings: &'a Settings,
}

impl<'a> Api<'a> {
    pub fn new(host: &'a dyn Host, settings: &'a Settings) -> Self {
        Api { host, settings }
    }

    pub fn env_id(&self) -> &str {
        &self.settings.environment_id
    }

    pub fn environment(&self) -> String {
        format!(
            "{}/environments/{}",
            self.settings.api_base, self.settings.environment_id
        )
    }

    /// `{environment}/{path}`.
    fn at(&self, path: &str) -> String {
        format!("{}/{path}", self.environment())
    }

    pub fn users(&self) -> String {
        with_limit(self.at("users"), USERS_PAGE)
    }

    /// Users matching a SCIM filter (group members, dynamic filters).
    pub fn users_filtered(&self, filter: &str) -> String {
        with_limit(
            self.at(&format!("users?filter={}", encode(filter))),
            USERS_PAGE,
        )
    }

    /// Direct and indirect members of a group.
    pub fn group_members(&self, group_id: &str) -> String {
        self.users_filtered(&format!("memberOfGroups[id eq \"{group_id}\"]"))
    }

    pub fn groups(&self, limit: u32) -> String {
        with_limit(self.at("groups"), limit)
    }

    /// The groups a group is nested in.
    pub fn group_parents(&self, group_id: &str) -> String {
        self.at(&format!("groups/{}/memberOfGroups", encode(group_id)))
    }

    pub fn group_role_assignments(&self, group_id: &str) -> String {
        self.at(&format!("groups/{}/roleAssignments", encode(group_id)))
    }

    pub fn user_role_assignments(&self, user_id: &str) -> String {
        self.at(&format!("users/{}/roleAssignments", encode(user_id)))
    }

    /// A user's DIRECT group memberships (one call settles every group).
    pub fn user_direct_groups(&self, user_id: &str) -> String {
        let user = encode(user_id);
        self.at(&format!("users/{user}/memberOfGroups?filter={DIRECT_ONLY}"))
    }

    pub fn populations(&self) -> String {
        self.at("populations")
    }

    /// The environment's custom roles, with the filter PingOne documents
    /// for them (platform roles come from [`Self::builtin_roles`]).
    pub fn custom_roles(&self) -> String {
        self.at(&format!("roles?filter={CUSTOM_ONLY}"))
    }

    /// Built-in roles at organization level (no environment in the path).
    pub fn builtin_roles(&self) -> String {
        format!("{}/roles", self.settings.api_base)
    }

    /// One GET; transport failures become errors, statuses are left to the
    /// caller. A 400 refusing `limit` is sent once more without it.
    pub fn send(&self, url: &str, what: &str) -> Result<Response, ConnectorError> {
        let get = |url: &str| {
            self.host
                .send(&Request::get(url), &Auth::OAuth2)
                .map_err(|e| ConnectorError::from(e).context(what))
        };
        let resp = get(url)?;
        match without_limit(url) {
            Some(plain) if errors::is_invalid_limit(&resp) => get(&plain),
            _ => Ok(resp),
        }
    }

    /// One GET that must succeed.
    pub fn get(&self, url: &str, what: &str) -> Result<Response, ConnectorError> {
        let r = self.send(url, what)?;
        errors::check(&r, what)?;
        Ok(r)
    }

    /// Many GETs at once, in order; transport failures become errors. The
    /// answers that refuse `limit` are asked again without it, together.
    pub fn send_all(&self, urls: &[String], what: &str) -> Vec<Result<Response, ConnectorError>> {
        let mut out = self.send_all_once(urls, what);
        let again: Vec<(usize, String)> = out
            .iter()
            .enumerate()
            .filter(|(_, r)| r.as_ref().is_ok_and(errors::is_invalid_limit))
            .filter_map(|(i, _)| without_limit(&urls[i]).map(|u| (i, u)))
            .collect();
        if !again.is_empty() {
            let plain: Vec<String> = again.iter().map(|(_, u)| u.clone()).collect();
            for ((i, _), r) in again.iter().zip(self.send_all_once(&plain, what)) {
                out[*i] = r;
            }
        }
        out
    }

    fn send_all_once(&self, urls: &[String], what: &str) -> Vec<Result<Response, ConnectorError>> {
        let mut out = Vec::with_capacity(urls.len());
        for chunk in urls.chunks(MAX_BATCH) {
            let reqs: Vec<Request> = chunk.iter().map(Request::get).collect();
            let results = self.host.send_batch(&reqs, &Auth::OAuth2);
            if results.len() != reqs.len() {
                let msg = format!(
                    "{what}: the host answered {} of {} batched requests",
                    results.len(),
                    reqs.len()
                );
                out.extend(
                    chunk
                        .iter()
                        .map(|_| Err(ConnectorError::Internal(msg.clone()))),
                );
                continue;
            }
            out.extend(
                results
                    .into_iter()
                    .map(|r| r.map_err(|e| ConnectorError::from(e).context(what))),
            );
        }
        out
    }

    /// Resolves a `next` link: absolute links are used as they are,
    /// path-only ones are joined to the API origin.
    pub fn resolve(&self, href: &str) -> String {
        if href.starts_with("http://") || href.starts_with("https://") {
            href.to_string()
        } else {
            let base = &self.settings.api_base;
            let origin_end = base
                .find("://")
                .and_then(|i| base[i + 3..].find('/').map(|j| i + 3 + j))
                .unwrap_or(base.len());
            format!("{}/{}", &base[..origin_end], href.trim_start_matches('/'))
        }
    }
}

/// `type eq "CUSTOM"`, encoded.
const CUSTOM_ONLY: &str = "type%20eq%20%22CUSTOM%22";

/// `type eq "DIRECT"`, encoded once rather than for each of a sync's
/// thousands of per-user requests.
const DIRECT_ONLY: &str = "type%20eq%20%22DIRECT%22";

#[cfg(test)]
mod tests {
    use super::*;
    use crate::client::model::IdOnly;

    #[test]
    fn the_direct_filter_is_encoded() {
        assert_eq!(DIRECT_ONLY, encode("type eq \"DIRECT\""));
        assert_eq!(CUSTOM_ONLY, encode("type eq \"CUSTOM\""));
    }

    #[test]
    fn limit_goes_only_where_its_bounds_are_documented() {
        let a = crate::testutil::urls();
        let env = a.environment();
        assert_eq!(a.users(), format!("{env}/users?limit=200"));
        assert_eq!(a.groups(5_000), format!("{env}/groups?limit=1000"));
        assert_eq!(a.groups(200), format!("{env}/groups?limit=200"));
        for url in [
            a.populations(),
            a.group_parents("g"),
            a.user_direct_groups("u"),
            a.user_role_assignments("u"),
            a.group_role_assignments("g"),
            a.custom_roles(),
            a.builtin_roles(),
        ] {
            assert!(!url.contains("limit"), "{url}");
        }
        assert_eq!(
            without_limit("https://x/users?filter=a&limit=200&cursor=c").as_deref(),
            Some("https://x/users?filter=a&cursor=c")
        );
        assert_eq!(
            without_limit("https://x/groups?limit=1000").as_deref(),
            Some("https://x/groups")
        );
        assert_eq!(without_limit("https://x/groups?cursor=limit"), None);
        assert_eq!(without_limit("https://x/roles"), None);
    }

    #[test]
    fn a_refused_limit_is_asked_again_without_it() {
        use crate::testutil::{ok, page, status};
        let a = crate::testutil::urls();
        let refused = json_body(400, "INVALID_PARAMETER");
        let users = a.users();
        let plain = without_limit(&users).unwrap();
        let groups = a.groups(BIG_PAGE);
        let h = crate::testutil::host(vec![
            (users.clone(), refused.clone()),
            (
                plain.clone(),
                ok(page("users", serde_json::json!([{"id": "u"}]), None)),
            ),
            (
                groups.clone(),
                ok(page("users", serde_json::json!([{"id": "g"}]), None)),
            ),
        ]);
        let settings = crate::testutil::settings();
        let api = Api::new(&h, &settings);
        let r = api.get(&users, "listing users").unwrap();
        assert_eq!(r.status, 200);
        let out = api.list_all::<IdOnly>(
            "users",
            vec![(users.clone(), "u".into()), (groups.clone(), "g".into())],
        );
        assert!(out.iter().all(Result::is_ok), "{out:?}");
        let sent: Vec<String> = h.requests.borrow().iter().map(|r| r.url.clone()).collect();
        assert_eq!(sent, [users.clone(), plain.clone(), users, groups, plain]);
        // Any other 400 is the caller's.
        let h = crate::testutil::host(vec![(
            a.groups(BIG_PAGE),
            status(
                400,
                serde_json::json!({"code": "INVALID_DATA", "details": [{"code": "INVALID_VALUE", "target": "name"}]}),
            ),
        )]);
        let api = Api::new(&h, &settings);
        assert_eq!(api.send(&a.groups(BIG_PAGE), "x").unwrap().status, 400);
        assert_eq!(h.requests.borrow().len(), 1);
    }

    fn json_body(code: u16, detail: &str) -> Result<Response, connector_sdk::http::HttpError> {
        crate::testutil::status(
            code,
            serde_json::json!({"id": "x", "code": "INVALID_DATA",
                "message": "The request could not be completed. One or more validation errors were in the request.",
                "details": [{"code": detail, "target": "limit", "message": "m"}]}),
        )
    }

    #[test]
    fn relative_links_join_the_origin() {
        let s = Settings {
            api_base: "https://api.pingone.eu/v1".into(),
            environment_id: "e".into(),
            region: "EU".into(),
            exact_membership: false,
        };
        let host = connector_sdk::testing::MockHost::new(|_, _| unreachable!());
        let api = Api::new(&host, &s);
        assert_eq!(
            api.resolve("/v1/environments/e/users?cursor=x"),
            "https://api.pingone.eu/v1/environments/e/users?cursor=x"
        );
        assert_eq!(api.resolve("https://other/x"), "https://other/x");
        assert_eq!(
            api.group_members("g-1"),
            "https://api.pingone.eu/v1/environments/e/users?filter=memberOfGroups%5Bid%20eq%20%22g-1%22%5D&limit=200"
        );
    }
}
