//! The change feed (contract 0.1.3 `change-feed.list-changes`): PingOne's
//! audit log (`GET /environments/{env}/activities`) read as hints of what
//! to re-read.
//!
//! Decisions:
//! - A record is a hint, never data: it names what to re-read (a resource,
//!   or one principal's grants); the host re-reads current state. So a
//!   record repeated across pages or overlapping windows costs a repeated
//!   read, never a wrong record.
//! - The window is `recordedAt ge since and recordedAt lt until` (the
//!   filter PingOne requires), paged by `_links.next.href` as sent (newest
//!   first). PingOne serves at most 14 days directly: an older `since` is a
//!   `full-sync` naming why, never a silently shorter window.
//! - What PingOne does not audit is recomputed from what it does: a user
//!   record re-reads that user's grants (population, direct, dynamic, role
//!   assignments), which covers dynamic-group joins and leaves and the group
//!   memberships a population move drops. Nested membership needs no
//!   per-user grant (Baton expands the nesting grant), so a nesting change
//!   re-reads the child group's grants, when PingOne records it at all.
//! - A group created or updated re-reads the group with every grant on it
//!   (its members, so a changed dynamic filter is applied) and the grants
//!   it holds; a group deleted is gone with them.
//! - What cannot be bounded from the log is a `full-sync` with the reason:
//!   a population created, renamed or deleted (every population-scoped
//!   role has an entitlement per population, and a role's grants take a
//!   full traversal; a deleted population may take its groups without a
//!   record), a schema change (filters may select others), and any record
//!   type that is not known to leave identity data alone.
//! - Sign-on, session and password records re-read only the user they
//!   name: its last sign-on and lock state are in its record.
//! - A 401/403 on the log is `permission-denied` naming
//!   `audit_reporting:read:activity`; the host falls back to a full sync.
//!   429 and 5xx are left to the host's retries.

use connector_sdk::{
    Change, ChangePage, ConnectorError, Context, Level, ResourceId, Timestamp, http::encode,
    resource_id,
};
use serde::Deserialize;

use crate::client::api::Api;
use crate::client::errors;
use crate::client::paging::{Page, parse_page};
use crate::config::is_uuid;
use crate::{GROUP, USER, time};

/// The permission the audit log needs.
pub const AUDIT_PERMISSION: &str = "audit_reporting:read:activity";

/// PingOne serves 14 days of activities directly.
pub const MAX_WINDOW_SECS: i64 = 14 * 86_400;

/// Records per page (PingOne's default is 100; the platform bound 1000).
const PAGE_SIZE: u32 = 1000;

/// Record types that change no group, population, membership or role
/// assignment: sign-ons, sessions, passwords, MFA. They re-read the user
/// they name (its last sign-on and lock state), nothing else.
const SIGN_ON_PREFIXES: &[&str] = &[
    "SESSION.",
    "AUTHENTICATION.",
    "FLOW.",
    "OTP.",
    "PASSWORD.",
    "MFA.",
    "DEVICE.",
    "DEVICE_AUTHENTICATION.",
    "AUTHORIZATION.",
];
const SIGN_ON_TYPES: &[&str] = &["USER.ACCESS_ALLOWED", "USER.ACCESS_DENIED"];

#[derive(Debug, Deserialize)]
pub struct Activity {
    pub id: String,
    #[serde(rename = "recordedAt")]
    pub recorded_at: Option<String>,
    pub action: Option<Action>,
    #[serde(default)]
    pub resources: Vec<ActivityResource>,
    pub result: Option<ActivityResult>,
}

#[derive(Debug, Deserialize)]
pub struct Action {
    #[serde(rename = "type")]
    pub kind: Option<String>,
}

#[derive(Debug, Deserialize)]
pub struct ActivityResource {
    #[serde(rename = "type")]
    pub kind: Option<String>,
    pub id: Option<String>,
    pub href: Option<String>,
}

#[derive(Debug, Deserialize)]
pub struct ActivityResult {
    pub status: Option<String>,
}

/// RFC 3339 with milliseconds, UTC (the literal the filter takes).
pub fn format_timestamp(t: &Timestamp) -> String {
    let secs = t.seconds;
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400);
    // Civil date from days since 1970-01-01 (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{:03}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60,
        t.nanos / 1_000_000
    )
}

/// The first page's URL of the window `[since, until)`.
pub fn activities_url(api: &Api, since: &Timestamp, until: &Timestamp) -> String {
    let filter = format!(
        "recordedAt ge \"{}\" and recordedAt lt \"{}\"",
        format_timestamp(since),
        format_timestamp(until)
    );
    format!(
        "{}/activities?filter={}&limit={PAGE_SIZE}",
        api.environment(),
        encode(&filter)
    )
}

/// One page of hints (see the module documentation).
pub fn list_changes(
    cx: &Context,
    api: &Api,
    since: Timestamp,
    until: Timestamp,
    page_token: Option<String>,
) -> Result<ChangePage, ConnectorError> {
    let full = |reason: String| ChangePage {
        changes: vec![Change::FullSync(reason)],
        record_ids: Vec::new(),
        newest: None,
        next_page_token: None,
    };
    if until.seconds - since.seconds > MAX_WINDOW_SECS {
        return Ok(full(format!(
            "the change window starts {} before its end; PingOne serves 14 days of \
             activities directly",
            days_text(until.seconds - since.seconds)
        )));
    }
    if until.seconds < since.seconds {
        return Err(ConnectorError::InvalidArgument(
            "the change window ends before it starts".into(),
        ));
    }
    let url = match page_token {
        None => activities_url(api, &since, &until),
        Some(t) => next_from_token(api, &t)?,
    };
    let what = "reading the audit log (GET /activities)";
    let resp = api.send(&url, what)?;
    if matches!(resp.status, 401 | 403) {
        return Err(ConnectorError::PermissionDenied(format!(
            "{what}: {} {}; the worker application needs the permission {AUDIT_PERMISSION} \
             (a role that includes it, scoped to this environment)",
            resp.status,
            errors::describe_body(&resp)
        )));
    }
    errors::check(&resp, what)?;
    let page: Page<Activity> = parse_page(&resp, "activities", what)?;
    let mut hints = Hints::default();
    let mut newest: Option<Timestamp> = None;
    let mut record_ids = Vec::with_capacity(page.items.len());
    for a in &page.items {
        record_ids.push(a.id.clone());
        if let Some(t) = a.recorded_at.as_deref().and_then(time::parse)
            && newest
                .as_ref()
                .is_none_or(|n| (t.seconds, t.nanos) > (n.seconds, n.nanos))
        {
            newest = Some(t);
        }
        hints.record(a);
        if hints.full.is_some() {
            break;
        }
    }
    let changes = hints.into_changes();
    cx.log(
        Level::Debug,
        format!(
            "audit log page: {} records, {} changes",
            record_ids.len(),
            changes.len()
        ),
    );
    let next_page_token = match page.next.as_deref().map(|n| api.resolve(n)) {
        Some(n) if n == url => return Err(crate::client::paging::loop_error(what)),
        next => next,
    };
    let full_sync = changes.iter().any(|c| matches!(c, Change::FullSync(_)));
    Ok(ChangePage {
        changes,
        record_ids,
        newest,
        next_page_token: if full_sync { None } else { next_page_token },
    })
}

/// A page token is the next link PingOne sent; only links under this
/// environment's activities are followed.
fn next_from_token(api: &Api, token: &str) -> Result<String, ConnectorError> {
    let prefix = format!("{}/activities?", api.environment());
    if token.starts_with(&prefix) {
        Ok(token.to_string())
    } else {
        Err(ConnectorError::InvalidArgument(
            "change-feed page token is not a link to this environment's activities".into(),
        ))
    }
}

fn days_text(secs: i64) -> String {
    let hours = secs / 3600;
    if hours >= 48 {
        format!("{} days", hours / 24)
    } else {
        format!("{hours} hours")
    }
}

/// What one page's records ask for, before the reads some kinds need.
#[derive(Default, Debug)]
pub struct Hints {
    pub changes: Vec<Change>,
    pub full: Option<String>,
}

impl Hints {
    fn resource(&mut self, t: &str, id: &str) {
        let c = Change::Resource(resource_id(t, id));
        if !self.changes.contains(&c) {
            self.changes.push(c);
        }
    }

    fn principal(&mut self, t: &str, id: &str) {
        let c = Change::PrincipalGrants(resource_id(t, id));
        if !self.changes.contains(&c) {
            self.changes.push(c);
        }
    }

    fn full_sync(&mut self, reason: String) {
        if self.full.is_none() {
            self.full = Some(reason);
        }
    }

    /// Maps one record to hints.
    pub fn record(&mut self, a: &Activity) {
        let Some(kind) = a.action.as_ref().and_then(|x| x.kind.as_deref()) else {
            self.full_sync(format!("activity {} has no action type", a.id));
            return;
        };
        let kind = kind.to_ascii_uppercase();
        // A failed action changed nothing.
        if a.result
            .as_ref()
            .and_then(|r| r.status.as_deref())
            .is_some_and(|s| s.eq_ignore_ascii_case("FAILED"))
        {
            return;
        }
        if SIGN_ON_TYPES.contains(&kind.as_str())
            || SIGN_ON_PREFIXES.iter().any(|p| kind.starts_with(p))
        {
            // No grant changes, but the user's last sign-on and lock state
            // (failed passwords lock accounts) are in its record.
            if let Some(user) = subject(a, "USER", "users") {
                self.resource(USER, &user);
            }
            return;
        }
        let unknown = |h: &mut Hints, why: &str| {
            h.full_sync(format!("activity {} ({kind}): {why}", a.id));
        };
        let (noun, verb) = kind.split_once('.').unwrap_or((kind.as_str(), ""));
        match noun {
            "USER" => {
                let Some(user) = subject(a, "USER", "users") else {
                    return unknown(self, "names no user");
                };
                match verb {
                    "DELETED" => self.resource(USER, &user),
                    "CREATED" | "UPDATED" | "MOVED" | "LOCKED" | "UNLOCKED" | "ENABLED"
                    | "DISABLED" => {
                        self.resource(USER, &user);
                        self.principal(USER, &user);
                    }
                    _ => unknown(self, "a user change this connector does not know"),
                }
            }
            "MEMBER_OF_GROUP" => match membership_of(a) {
                Some(Member::User(u)) => self.principal(USER, &u),
                Some(Member::Group(child)) => self.principal(GROUP, &child),
                None => unknown(self, "its href names no user or group membership"),
            },
            "GROUP" => {
                let Some(g) = subject(a, "GROUP", "groups") else {
                    return unknown(self, "names no group");
                };
                match verb {
                    "DELETED" => self.resource(GROUP, &g),
                    // The group and every grant on it (a changed filter
                    // changes its dynamic members), and the grants it holds
                    // (a nesting PingOne records as an update of the
                    // nested group; role assignments).
                    "CREATED" | "UPDATED" => {
                        self.resource(GROUP, &g);
                        self.principal(GROUP, &g);
                    }
                    _ => unknown(self, "a group change this connector does not know"),
                }
            }
            "POPULATION" => match verb {
                // Every population-scoped role has an entitlement per
                // population, named after it: created, renamed or deleted,
                // the roles change, and a role's grants only a full
                // traversal finds. A deleted population may also take its
                // groups without a record.
                "CREATED" | "UPDATED" | "DELETED" => self.full_sync(format!(
                    "activity {} ({kind}): a population changed, and with it the entitlements \
                     of every population-scoped role",
                    a.id
                )),
                _ => unknown(self, "a population change this connector does not know"),
            },
            "ROLE_ASSIGNMENT" => match assignment_principal(a) {
                Some(Principal::Synced(t, id)) => self.principal(t, &id),
                // Applications, gateways: not principals this connector syncs.
                Some(Principal::Other) => {}
                None => unknown(self, "names no principal"),
            },
            "SCHEMA_ATTRIBUTE" | "SCHEMA" => unknown(
                self,
                "the user schema changed, which can change whom dynamic groups select",
            ),
            _ => unknown(
                self,
                "a record type this connector cannot prove leaves identity data alone",
            ),
        }
    }

    /// The page's changes: only the full sync when one is asked for.
    pub fn into_changes(mut self) -> Vec<Change> {
        match self.full.take() {
            Some(reason) => vec![Change::FullSync(reason)],
            None => self.changes,
        }
    }
}

/// The object a record is about: its resource of `kind`, by id, or the
/// `/<collection>/<id>` segment of its href.
fn subject(a: &Activity, kind: &str, collection: &str) -> Option<String> {
    let r = a.resources.iter().find(|r| {
        r.kind
            .as_deref()
            .is_some_and(|k| k.eq_ignore_ascii_case(kind))
    })?;
    if let Some(id) = r.id.as_deref().filter(|id| is_uuid(id)) {
        return Some(id.to_string());
    }
    segment_after(r.href.as_deref()?, collection)
}

/// The id after `name` in a path (`…/users/{id}/…`), if it is a PingOne id.
fn segment_after(href: &str, name: &str) -> Option<String> {
    let path = href.split(['?', '#']).next().unwrap_or(href);
    let segs: Vec<&str> = path.split('/').collect();
    segs.windows(2)
        .find(|w| w[0] == name && is_uuid(w[1]))
        .map(|w| w[1].to_string())
}

enum Member {
    User(String),
    Group(String),
}

/// `…/users/{user}/memberOfGroups/{group}` is a user's membership,
/// `…/groups/{child}/memberOfGroups/{parent}` a nesting; segments are
/// found by name (one captured href lacks `/v1`).
fn membership_of(a: &Activity) -> Option<Member> {
    for r in &a.resources {
        let Some(href) = r.href.as_deref() else {
            continue;
        };
        let path = href.split(['?', '#']).next().unwrap_or(href);
        let segs: Vec<&str> = path.split('/').collect();
        for w in segs.windows(4) {
            if w[2] == "memberOfGroups" && is_uuid(w[1]) && is_uuid(w[3]) {
                match w[0] {
                    "users" => return Some(Member::User(w[1].to_string())),
                    "groups" => return Some(Member::Group(w[1].to_string())),
                    _ => {}
                }
            }
        }
    }
    None
}

enum Principal {
    Synced(&'static str, String),
    Other,
}

/// A role assignment's principal: its resource (USER or GROUP), or the
/// `/users/{id}` or `/groups/{id}` segment of its href.
fn assignment_principal(a: &Activity) -> Option<Principal> {
    let r = a.resources.first()?;
    let kind = r.kind.as_deref().unwrap_or("").to_ascii_uppercase();
    let href = r.href.as_deref().unwrap_or("");
    let by_id = r.id.as_deref().filter(|id| is_uuid(id)).map(String::from);
    match kind.as_str() {
        "USER" => by_id
            .or_else(|| segment_after(href, "users"))
            .map(|id| Principal::Synced(USER, id)),
        "GROUP" => by_id
            .or_else(|| segment_after(href, "groups"))
            .map(|id| Principal::Synced(GROUP, id)),
        "" => match (segment_after(href, "users"), segment_after(href, "groups")) {
            (Some(u), _) => Some(Principal::Synced(USER, u)),
            (None, Some(g)) => Some(Principal::Synced(GROUP, g)),
            _ => None,
        },
        _ => Some(Principal::Other),
    }
}

/// A change's resource id, for tests and logs.
pub fn change_id(c: &Change) -> String {
    let id = |r: &ResourceId| format!("{}:{}", r.resource_type, r.resource);
    match c {
        Change::Resource(r) => format!("resource {}", id(r)),
        Change::PrincipalGrants(r) => format!("grants {}", id(r)),
        Change::FullSync(reason) => format!("full-sync {reason}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testutil::{ENV, host, ok, status, urls};
    use serde_json::{Value, json};

    const U: &str = "11111111-1111-4111-8111-111111111111";
    const G: &str = "22222222-2222-4222-8222-222222222222";
    const G2: &str = "33333333-3333-4333-8333-333333333333";
    const P: &str = "44444444-4444-4444-8444-444444444444";

    fn ts(seconds: i64) -> Timestamp {
        Timestamp { seconds, nanos: 0 }
    }

    fn activity(id: &str, kind: &str, resources: Value) -> Value {
        json!({
            "id": id, "recordedAt": "2026-12-01T10:00:00.000Z",
            "action": {"type": kind}, "resources": resources,
            "result": {"status": "SUCCESS"}
        })
    }

    fn hints_of(records: Vec<Value>) -> Hints {
        let mut h = Hints::default();
        for r in records {
            h.record(&serde_json::from_value(r).unwrap());
        }
        h
    }

    fn ids(h: &Hints) -> Vec<String> {
        h.changes.iter().map(change_id).collect()
    }

    #[test]
    fn timestamps_format_as_the_filter_wants() {
        assert_eq!(format_timestamp(&ts(0)), "1970-01-01T00:00:00.000Z");
        let t = Timestamp {
            seconds: 1_630_692_243,
            nanos: 916_000_000,
        };
        assert_eq!(format_timestamp(&t), "2021-09-03T18:04:03.916Z");
        assert_eq!(time::parse(&format_timestamp(&t)), Some(t));
        assert_eq!(
            format_timestamp(&ts(951_782_400)),
            "2000-02-29T00:00:00.000Z"
        );
    }

    #[test]
    fn user_records_re_read_the_user_and_its_grants() {
        let env = format!("https://api.test/v1/environments/{ENV}");
        let user = json!([{"type": "USER", "id": U, "href": format!("{env}/users/{U}")}]);
        let h = hints_of(vec![
            activity("a1", "USER.UPDATED", user.clone()),
            activity("a2", "USER.MOVED", user.clone()),
            activity("a3", "USER.ACCESS_ALLOWED", user.clone()),
            activity("a4", "PASSWORD.RESET", user.clone()),
        ]);
        assert_eq!(
            ids(&h),
            [format!("resource user:{U}"), format!("grants user:{U}")]
        );
        assert!(h.full.is_none());
        // A sign-on re-reads only the user (last sign-on, lock state).
        let h = hints_of(vec![
            activity("s1", "AUTHENTICATION.CREATED", user.clone()),
            activity("s2", "SESSION.DELETED", json!([])),
        ]);
        assert_eq!(ids(&h), [format!("resource user:{U}")]);
        let h = hints_of(vec![activity("a5", "USER.DELETED", user.clone())]);
        assert_eq!(ids(&h), [format!("resource user:{U}")]);
        // A failed action changed nothing.
        let mut failed = activity("a6", "USER.CREATED", user.clone());
        failed["result"]["status"] = json!("FAILED");
        assert!(hints_of(vec![failed]).changes.is_empty());
        // A user verb nobody knows, or a record type nobody knows.
        assert!(
            hints_of(vec![activity("a7", "USER.MERGED", user.clone())])
                .full
                .is_some()
        );
        let h = hints_of(vec![activity("a8", "APPLICATION.CREATED", json!([]))]);
        assert!(h.full.unwrap().contains("APPLICATION.CREATED"));
    }

    #[test]
    fn memberships_are_parsed_from_the_href_by_segment_name() {
        let h = hints_of(vec![
            activity(
                "m1",
                "MEMBER_OF_GROUP.CREATED",
                json!([{"type": "MEMBER_OF_GROUP", "id": "x", "href": format!("https://api.test/v1/environments/{ENV}/users/{U}/memberOfGroups/{G}")}]),
            ),
            // A nesting, and an href without /v1.
            activity(
                "m2",
                "MEMBER_OF_GROUP.DELETED",
                json!([{"type": "MEMBER_OF_GROUP", "id": "y", "href": format!("https://api.test/environments/{ENV}/groups/{G2}/memberOfGroups/{G}")}]),
            ),
        ]);
        assert_eq!(
            ids(&h),
            [format!("grants user:{U}"), format!("grants group:{G2}")]
        );
        let h = hints_of(vec![activity(
            "m3",
            "MEMBER_OF_GROUP.CREATED",
            json!([{"type": "MEMBER_OF_GROUP", "href": "https://api.test/v1/x"}]),
        )]);
        assert!(h.full.is_some());
    }

    #[test]
    fn role_assignments_name_their_principal() {
        let h = hints_of(vec![
            activity(
                "r1",
                "ROLE_ASSIGNMENT.CREATED",
                json!([{"type": "USER", "id": U, "href": format!("https://api.test/environments/{ENV}/users/{U}/roleAssignments/abc")}]),
            ),
            activity(
                "r2",
                "ROLE_ASSIGNMENT.DELETED",
                json!([{"type": "GROUP", "id": G, "href": format!("https://api.test/environments/{ENV}/groups/{G}/roleAssignments/abc")}]),
            ),
            activity(
                "r3",
                "ROLE_ASSIGNMENT.DELETED",
                json!([{"type": "GATEWAY", "id": G2}]),
            ),
        ]);
        assert_eq!(
            ids(&h),
            [format!("grants user:{U}"), format!("grants group:{G}")]
        );
    }

    #[test]
    fn populations_fall_back_and_groups_re_read() {
        let pop = json!([{"type": "POPULATION", "id": P}]);
        for kind in [
            "POPULATION.CREATED",
            "POPULATION.UPDATED",
            "POPULATION.DELETED",
        ] {
            let h = hints_of(vec![activity("p", kind, pop.clone())]);
            assert!(h.full.unwrap().contains("population-scoped role"), "{kind}");
        }
        let group = json!([{"type": "GROUP", "id": G}]);
        for kind in ["GROUP.CREATED", "GROUP.UPDATED"] {
            let h = hints_of(vec![activity("g1", kind, group.clone())]);
            assert_eq!(
                ids(&h),
                [format!("resource group:{G}"), format!("grants group:{G}")]
            );
        }
        let h = hints_of(vec![activity("g2", "GROUP.DELETED", group)]);
        assert_eq!(ids(&h), [format!("resource group:{G}")]);
        // A full sync asked for on a page replaces its other changes.
        let h = hints_of(vec![
            activity("u", "USER.DELETED", json!([{"type": "USER", "id": U}])),
            activity("s", "SCHEMA_ATTRIBUTE.UPDATED", json!([{"type": "SCHEMA"}])),
        ]);
        assert!(matches!(&h.into_changes()[..], [Change::FullSync(r)] if r.contains("schema")));
    }

    fn page(items: Value, next: Option<&str>) -> Value {
        let mut links = json!({"self": {"href": "x"}});
        if let Some(n) = next {
            links["next"] = json!({ "href": n });
        }
        json!({"_links": links, "_embedded": {"activities": items}})
    }

    fn cx_call(
        h: &connector_sdk::testing::MockHost,
        since: i64,
        until: i64,
        token: Option<String>,
    ) -> Result<ChangePage, ConnectorError> {
        let config = crate::testutil::config();
        let cx = Context {
            host: h,
            config: &config,
        };
        let settings = crate::config::Settings::from_config(&config).unwrap();
        let api = Api::new(h, &settings);
        list_changes(&cx, &api, ts(since), ts(until), token)
    }

    #[test]
    fn a_page_reads_the_window_and_links_the_next() {
        let a = urls();
        let since = 1_764_583_200; // 2025-12-01T10:00:00Z
        let first = activities_url(&a, &ts(since), &ts(since + 3600));
        assert!(
            first.contains("recordedAt%20ge%20%222025-12-01T10%3A00%3A00.000Z%22"),
            "{first}"
        );
        let next = format!("{}/activities?cursor=2", a.environment());
        let user = json!([{"type": "USER", "id": U}]);
        let h = host(vec![
            (
                first.clone(),
                ok(page(
                    json!([activity("a1", "USER.UPDATED", user.clone())]),
                    Some(&next),
                )),
            ),
            (
                next.clone(),
                ok(page(json!([activity("a0", "USER.CREATED", user)]), None)),
            ),
        ]);
        let p = cx_call(&h, since, since + 3600, None).unwrap();
        assert_eq!(p.record_ids, ["a1"]);
        assert_eq!(p.next_page_token.as_deref(), Some(next.as_str()));
        assert_eq!(p.newest.unwrap().seconds, 1_796_119_200);
        let p = cx_call(&h, since, since + 3600, p.next_page_token).unwrap();
        assert_eq!(p.record_ids, ["a0"]);
        assert!(p.next_page_token.is_none());
        // A token that is no link to this environment's activities.
        let e = cx_call(&h, since, since + 3600, Some("https://evil.test/x".into()));
        assert!(matches!(e, Err(ConnectorError::InvalidArgument(_))));
    }

    #[test]
    fn an_old_window_or_a_refusal_falls_back() {
        let h = host(vec![]);
        let p = cx_call(&h, 0, MAX_WINDOW_SECS + 10, None).unwrap();
        assert!(
            matches!(&p.changes[..], [Change::FullSync(r)] if r.contains("14 days")),
            "{p:?}"
        );
        assert!(h.requests.borrow().is_empty());
        let a = urls();
        let since = 1_764_583_200;
        let h = host(vec![(
            activities_url(&a, &ts(since), &ts(since + 60)),
            status(403, json!({"code": "ACCESS_FAILED", "message": "no"})),
        )]);
        let e = cx_call(&h, since, since + 60, None).unwrap_err();
        assert!(matches!(&e, ConnectorError::PermissionDenied(m) if m.contains(AUDIT_PERMISSION)));
        let h = host(vec![(
            activities_url(&a, &ts(since), &ts(since + 60)),
            status(429, json!({"code": "REQUEST_LIMITED"})),
        )]);
        let e = cx_call(&h, since, since + 60, None).unwrap_err();
        assert!(matches!(e, ConnectorError::Unavailable(_)));
    }
}
