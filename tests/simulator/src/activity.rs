//! The audit log behind `/v1/environments/{env}/activities`
//! (pingone-activities.md), the groundwork for testing an incremental sync.
//!
//! Every change the store applies (API writes and scripted changes alike)
//! appends one activity in the shape the captured records show (§2, §3):
//! `USER.CREATED|UPDATED|DELETED|MOVED|LOCKED|UNLOCKED`, `GROUP.*`,
//! `POPULATION.*`, `MEMBER_OF_GROUP.CREATED|DELETED` whose only USER/GROUP
//! ids are in the resource href (the resource `id` is neither),
//! `ROLE_ASSIGNMENT.CREATED|DELETED` whose resource is the principal and
//! whose role is named only in `result.description` (and not at all on
//! delete). Enabling or disabling is `USER.UPDATED` with
//! `modifiedAttributes: ["enabled"]`; an attribute change that moves a user
//! in or out of a dynamic group records only the `USER.UPDATED`.
//!
//! What the reference marks **unknown** is a switch in [`AuditConfig`],
//! defaulting to the reading that tells a connector least: nesting changes
//! leave no record, dynamic-membership changes leave none of their own,
//! side effects (memberships a population move drops, groups a population
//! delete takes) leave none, a `USER.MOVED` names only the new population,
//! `ROLE_ASSIGNMENT.*` hrefs lack `/v1` (as one captured record does),
//! records older than 14 days are silently left out (the reference does not
//! say whether the API refuses such a window or answers it empty), `or`,
//! `in` and `createdAt` are refused, and `count`/`size` are not sent.
//!
//! Reading follows §1: the filter must hold a `recordedAt` range with both
//! a lower (`gt`/`ge`) and an upper (`lt`/`le`) bound at most 14 days wide,
//! plus at most one of the documented companions (§1.2); results are newest
//! first; paging is by cursor with `limit` (default 100); the audit API has
//! its own rate limit (10/s per environment). Activities become visible
//! only after a configurable delay (with jitter, so late records surface
//! behind newer ones), and a page boundary may repeat its last record on
//! the next page (the same id twice): a poller must overlap and dedupe.

use std::ops::Bound::{self, Excluded, Included};
use std::ops::RangeBounds;
use std::sync::{LazyLock, Mutex};
use std::time::Instant;

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde_json::{Value, json};

use crate::config::AuditConfig;
use crate::filter::{Expr, Lit, Op};
use crate::util::{fmt_ts, fnv64, now_ms, unit_f64, uuid_from_name, uuid_from_rng};

pub const DAY_MS: i64 = 86_400_000;
/// Data up to 14 days old is available directly, and one query spans at
/// most 14 days (§1.5).
pub const HOT_WINDOW_MS: i64 = 14 * DAY_MS;
/// `limit` default (§1.3).
pub const DEFAULT_PAGE: usize = 100;
/// The documented maximum is unknown; the platform-wide bound.
pub const MAX_PAGE: usize = 1000;

const PURPOSE_DUPLICATE: u64 = 0x0064_7570;

/// The administrator scripted changes are attributed to.
static CONSOLE_ADMIN_ID: LazyLock<String> =
    LazyLock::new(|| uuid_from_name("simulated console administrator"));
const CONSOLE_ADMIN_NAME: &str = "admin@example.com";

/// Who made a change.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Actor {
    /// No `actors` object (system-generated events, §2).
    System,
    /// A worker application calling the API (its id doubles as its name).
    Client { id: String },
    /// An administrator in the admin console (scripted changes).
    ConsoleAdmin,
}

impl Actor {
    /// The `actors` object (§2), absent for system events.
    fn to_json(&self, env_id: &str) -> Option<Value> {
        match self {
            Actor::System => None,
            Actor::Client { id } => Some(json!({ "client": {
                "id": id, "name": id, "type": "CLIENT",
                "environment": { "id": env_id },
            } })),
            Actor::ConsoleAdmin => Some(json!({
                "client": { "id": "adminui", "name": "adminui", "type": "CLIENT" },
                "user": {
                    "id": *CONSOLE_ADMIN_ID, "name": CONSOLE_ADMIN_NAME, "type": "USER",
                    "environment": { "id": env_id },
                    "population": {},
                },
            })),
        }
    }
}

/// The one element of `resources[]`.
#[derive(Clone, Debug, PartialEq)]
pub struct ActivityResource {
    pub kind: &'static str,
    pub id: String,
    pub name: String,
    pub href: String,
    pub population_id: Option<String>,
}

/// What a store operation asks to record.
#[derive(Clone, Debug, PartialEq)]
pub struct Draft {
    pub action_type: &'static str,
    pub resource: ActivityResource,
    pub description: String,
    pub modified_attributes: Option<Vec<String>>,
    pub admin_identity: bool,
}

impl Draft {
    /// A record without `modifiedAttributes` or the admin-identity tag.
    pub fn new(action_type: &'static str, resource: ActivityResource, description: String) -> Self {
        Draft {
            action_type,
            resource,
            description,
            modified_attributes: None,
            admin_identity: false,
        }
    }
}

/// One recorded activity.
#[derive(Clone, Debug, PartialEq)]
pub struct Activity {
    /// Append order (newest = highest).
    pub seq: u64,
    pub id: String,
    pub recorded_at: i64,
    pub created_at: i64,
    /// When a query first sees it.
    pub visible_at: i64,
    pub correlation_id: String,
    pub actor: Actor,
    pub draft: Draft,
}

/// "MEMBER_OF_GROUP.CREATED" → "Member Of Group Created".
pub fn action_description(action_type: &str) -> String {
    let words: Vec<String> = action_type
        .split(['.', '_'])
        .filter(|w| !w.is_empty())
        .map(|w| w[..1].to_ascii_uppercase() + &w[1..].to_ascii_lowercase())
        .collect();
    words.join(" ")
}

impl Activity {
    /// The record as the API serves it (§2).
    pub fn to_json(&self, env_id: &str, env_url: &str) -> Value {
        let d = &self.draft;
        let r = &d.resource;
        let mut resource = json!({
            "type": r.kind, "id": r.id, "name": r.name,
            "environment": { "id": env_id }, "href": r.href,
        });
        if let Some(p) = &r.population_id {
            resource["population"] = json!({ "id": p });
        }
        let mut v = json!({
            "_links": { "self": { "href": format!("{env_url}/activities/{}", self.id) } },
            "id": self.id,
            "recordedAt": fmt_ts(self.recorded_at),
            "createdAt": fmt_ts(self.created_at),
            "correlationId": self.correlation_id,
            "action": { "type": d.action_type, "description": action_description(d.action_type) },
            "resources": [resource],
            "result": { "status": "SUCCESS", "description": d.description },
        });
        if let Some(actors) = self.actor.to_json(env_id) {
            v["actors"] = actors;
        }
        if d.admin_identity {
            v["tags"] = json!(["adminIdentityEvent"]);
        }
        if let Some(attrs) = &d.modified_attributes {
            v["_embedded"] = json!({ "modifiedAttributes": attrs });
        }
        v
    }

    /// The value of a filter attribute, if the record has one.
    fn field(&self, attr: &str) -> Option<&str> {
        let r = &self.draft.resource;
        match (attr, &self.actor) {
            ("correlationId", _) => Some(&self.correlation_id),
            ("action.type", _) => Some(self.draft.action_type),
            ("resources.id", _) => Some(&r.id),
            ("resources.type", _) => Some(r.kind),
            ("resources.population.id", _) => r.population_id.as_deref(),
            ("actors.client.id", Actor::Client { id }) => Some(id),
            ("actors.client.id", Actor::ConsoleAdmin) => Some("adminui"),
            ("actors.user.id", Actor::ConsoleAdmin) => Some(&CONSOLE_ADMIN_ID),
            ("actors.user.name", Actor::ConsoleAdmin) => Some(CONSOLE_ADMIN_NAME),
            _ => None,
        }
    }
}

/// The activities a store has recorded, plus the current write context.
pub struct ActivityLog {
    pub config: AuditConfig,
    seed: u64,
    records: Vec<Activity>,
    rng: ChaCha8Rng,
    actor: Actor,
    correlation_id: String,
    last_recorded: i64,
}

impl ActivityLog {
    pub fn new(tenant_seed: u64, config: AuditConfig) -> ActivityLog {
        let seed = config.seed.unwrap_or(tenant_seed);
        let mut rng = ChaCha8Rng::seed_from_u64(seed ^ 0x0061_7564_6974);
        let correlation_id = uuid_from_rng(&mut rng);
        ActivityLog {
            config,
            seed,
            records: Vec::new(),
            rng,
            actor: Actor::System,
            correlation_id,
            last_recorded: i64::MIN,
        }
    }

    /// Replaces the configuration (recorded activities keep their times).
    pub fn set_config(&mut self, config: AuditConfig) {
        if let Some(s) = config.seed {
            self.seed = s;
        }
        self.config = config;
    }

    /// Starts one transaction: what follows is `actor`'s and shares one
    /// correlation id (one API request, one scripted change).
    pub fn begin(&mut self, actor: Actor) {
        self.actor = actor;
        self.correlation_id = uuid_from_rng(&mut self.rng);
    }

    /// A fresh id for a resource whose id the reference could not see
    /// (`MEMBER_OF_GROUP` records).
    pub fn opaque_id(&mut self) -> String {
        uuid_from_rng(&mut self.rng)
    }

    pub fn record(&mut self, draft: Draft) {
        self.record_at(draft, now_ms());
    }

    /// Appends with a given `recordedAt` (kept non-decreasing).
    pub fn record_at(&mut self, draft: Draft, at: i64) {
        let recorded_at = at.max(self.last_recorded);
        self.last_recorded = recorded_at;
        let id = uuid_from_rng(&mut self.rng);
        let created_at = recorded_at + self.rng.random_range(15..=400);
        let jitter = match self.config.visibility_jitter_ms {
            0 => 0,
            j => self.rng.random_range(0..=j),
        };
        let visible_at = recorded_at + (self.config.visibility_delay_ms + jitter) as i64;
        self.records.push(Activity {
            seq: self.records.len() as u64,
            id,
            recorded_at,
            created_at,
            visible_at,
            correlation_id: self.correlation_id.clone(),
            actor: self.actor.clone(),
            draft,
        });
    }

    /// Every record, visible or not, oldest first.
    pub fn all(&self) -> &[Activity] {
        &self.records
    }

    /// Whether `a` is served at `now`: visible, and inside the hot window.
    fn served(a: &Activity, now: i64) -> bool {
        a.visible_at <= now && a.recorded_at >= now - HOT_WINDOW_MS
    }

    /// One record by id, if served.
    pub fn get(&self, id: &str, now: i64) -> Option<&Activity> {
        self.records
            .iter()
            .find(|a| a.id == id && Self::served(a, now))
    }

    /// The matching records served at `now`, newest first.
    pub fn query(&self, q: &ActivityQuery, now: i64) -> Vec<&Activity> {
        self.records
            .iter()
            .rev()
            .filter(|a| Self::served(a, now) && q.matches(a))
            .collect()
    }

    /// Whether a page that ends on `a` repeats it on the next page.
    pub fn repeats_at_boundary(&self, a: &Activity) -> bool {
        self.config.duplicate_rate > 0.0
            && unit_f64(
                self.seed,
                fnv64(self.seed, a.id.as_bytes()),
                PURPOSE_DUPLICATE,
            ) < self.config.duplicate_rate
    }
}

/// The cursor position of a record: newest first means descending `seq`,
/// and the paging helper wants ascending positions.
pub fn position(a: &Activity) -> u32 {
    u32::MAX - a.seq as u32
}

/// A vetted `/activities` filter.
#[derive(Clone, Debug, PartialEq)]
pub struct ActivityQuery {
    /// The `recordedAt` range: lower and upper bound in epoch milliseconds.
    pub from: Bound<i64>,
    pub to: Bound<i64>,
    /// `attr eq value` companions (canonical attribute names).
    pub eq: Vec<(String, String)>,
}

impl ActivityQuery {
    pub fn matches(&self, a: &Activity) -> bool {
        (self.from, self.to).contains(&a.recorded_at)
            && self
                .eq
                .iter()
                .all(|(attr, v)| a.field(attr) == Some(v.as_str()))
    }
}

/// Checks the rules the schema cannot express (§1.2, §1.5): a conjunction,
/// exactly one lower and one upper `recordedAt` bound at most 14 days
/// apart, valid timestamps, and at most one documented companion.
pub fn vet(expr: Option<&Expr>) -> Result<ActivityQuery, String> {
    const NEED_RANGE: &str = "The filter must include a recordedAt date range: \
         recordedAt gt|ge \"<start>\" and recordedAt lt|le \"<end>\".";
    let Some(expr) = expr else {
        return Err(NEED_RANGE.into());
    };
    let parts: Vec<&Expr> = match expr {
        Expr::And(v) => v.iter().collect(),
        e => vec![e],
    };
    let (mut from, mut to) = (None, None);
    let mut eq: Vec<(String, String)> = Vec::new();
    for p in parts {
        let Expr::Cmp {
            attr,
            op,
            value: Lit::Str(v),
            ..
        } = p
        else {
            return Err("Only 'and' of simple comparisons is supported for activities.".into());
        };
        if attr == "recordedAt" {
            let ms = parse_timestamp(v).ok_or_else(|| {
                format!("Invalid date '{v}' for recordedAt; expected yyyy-MM-dd'T'HH:mm:ss.SSSZ.")
            })?;
            let (slot, bound) = match op {
                Op::Gt => (&mut from, Excluded(ms)),
                Op::Ge => (&mut from, Included(ms)),
                Op::Lt => (&mut to, Excluded(ms)),
                Op::Le => (&mut to, Included(ms)),
                _ => return Err(format!("Unsupported operator '{}'", op.as_str())),
            };
            if slot.is_some() {
                return Err("The filter may hold one lower and one upper recordedAt bound.".into());
            }
            *slot = Some((bound, ms));
        } else {
            if eq.iter().any(|(a, _)| a == attr) {
                return Err(format!("Attribute '{attr}' may appear once."));
            }
            eq.push((attr.clone(), v.clone()));
        }
    }
    let (Some((from, from_ms)), Some((to, to_ms))) = (from, to) else {
        return Err(NEED_RANGE.into());
    };
    if to_ms - from_ms > HOT_WINDOW_MS {
        return Err("The recordedAt range may span at most 14 days.".into());
    }
    // §1.2: one companion, and a population ID may join an actor, an
    // action type or a resource type.
    let mut attrs: Vec<&str> = eq.iter().map(|(a, _)| a.as_str()).collect();
    let population = attrs.iter().position(|a| *a == "resources.population.id");
    let with_population = population.map(|i| attrs.swap_remove(i)).is_some();
    let allowed = match attrs.as_slice() {
        [] => true,
        ["actors.client.id" | "actors.user.id" | "actors.user.name"] => true,
        ["action.type" | "resources.type"] => true,
        ["resources.id" | "correlationId"] => !with_population,
        _ => false,
    };
    if !allowed {
        return Err(
            "Besides the date range the filter may include one of: population ID; \
             actor ID (+ population ID); action type (+ population ID); resource ID; \
             resource type (+ population ID); correlation ID."
                .into(),
        );
    }
    Ok(ActivityQuery { from, to, eq })
}

fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = if y >= 0 { y } else { y - 399 } / 400;
    let yoe = y - era * 400;
    let mp = (m as i64 + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d as i64 - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// ISO-8601 with a zone: `2024-04-16T20:33:15.525Z`, `…T20:33:15Z`,
/// `…+02:00` or `…+0200`. Fractions beyond milliseconds are cut.
pub fn parse_timestamp(s: &str) -> Option<i64> {
    let b = s.as_bytes();
    let separators = [(4, b'-'), (7, b'-'), (10, b'T'), (13, b':'), (16, b':')];
    if b.len() < 20 || separators.iter().any(|&(i, c)| b[i] != c) {
        return None;
    }
    let num = |r: std::ops::Range<usize>| -> Option<i64> {
        let t = s.get(r)?;
        t.bytes()
            .all(|c| c.is_ascii_digit())
            .then(|| t.parse().ok())?
    };
    let (y, mo, d) = (num(0..4)?, num(5..7)?, num(8..10)?);
    let (h, mi, se) = (num(11..13)?, num(14..16)?, num(17..19)?);
    if !(1..=12).contains(&mo) || !(1..=31).contains(&d) || h > 23 || mi > 59 || se > 59 {
        return None;
    }
    let mut zone = &s[19..];
    let mut millis = 0i64;
    if let Some(fraction) = zone.strip_prefix('.') {
        let digits = fraction.bytes().take_while(u8::is_ascii_digit).count();
        let kept = &fraction[..digits.min(3)];
        millis = kept.parse::<i64>().ok()? * 10i64.pow(3 - kept.len() as u32);
        zone = &fraction[digits..];
    }
    let offset_min = match zone {
        "Z" => 0,
        z if (z.len() == 6 && z.as_bytes()[3] == b':') || z.len() == 5 => {
            let sign = match z.as_bytes()[0] {
                b'+' => 1,
                b'-' => -1,
                _ => return None,
            };
            let hh: i64 = z.get(1..3)?.parse().ok()?;
            let mm: i64 = z.get(z.len() - 2..)?.parse().ok()?;
            sign * (hh * 60 + mm)
        }
        _ => return None,
    };
    let days = days_from_civil(y, mo as u32, d as u32);
    Some(((days * 86_400 + h * 3600 + mi * 60 + se) - offset_min * 60) * 1000 + millis)
}

/// The audit API's own token bucket (one per environment, §1.6).
#[derive(Default)]
pub struct AuditLimiter {
    bucket: Mutex<Option<(f64, Instant)>>,
}

impl AuditLimiter {
    /// Takes a token, or says how many seconds to wait.
    pub fn take(&self, config: &AuditConfig) -> Result<(), f64> {
        let Some(rate) = config.rate_limit_per_sec.filter(|r| *r > 0.0) else {
            return Ok(());
        };
        let cap = config.rate_limit_burst.unwrap_or(rate).max(1.0);
        let now = Instant::now();
        let mut b = self.bucket.lock().unwrap_or_else(|e| e.into_inner());
        let (tokens, last) = b.get_or_insert((cap, now));
        *tokens = (*tokens + now.duration_since(*last).as_secs_f64() * rate).min(cap);
        *last = now;
        if *tokens >= 1.0 {
            *tokens -= 1.0;
            Ok(())
        } else {
            Err((1.0 - *tokens) / rate)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::filter::{self, ACTIVITIES};

    fn user_draft(kind: &'static str, id: &str) -> Draft {
        let resource = ActivityResource {
            kind: "USER",
            id: id.into(),
            name: format!("{id}-name"),
            href: format!("https://x/v1/environments/E/users/{id}"),
            population_id: Some("P".into()),
        };
        Draft::new(kind, resource, format!("{kind} {id}"))
    }

    fn vet_text(f: &str) -> Result<ActivityQuery, String> {
        let e = filter::parse(f, &ACTIVITIES).map_err(|e| e.message)?;
        vet(Some(&e))
    }

    const T0: &str = "2024-04-16T00:00:00Z";

    #[test]
    fn timestamps_parse_in_every_documented_precision() {
        let base = parse_timestamp("2024-04-16T20:33:15Z").unwrap();
        assert_eq!(fmt_ts(base), "2024-04-16T20:33:15.000Z");
        assert_eq!(
            parse_timestamp("2024-04-16T20:33:15.525Z"),
            Some(base + 525)
        );
        assert_eq!(parse_timestamp("2024-04-16T20:33:15.5Z"), Some(base + 500));
        assert_eq!(
            parse_timestamp("2024-04-16T20:33:15.525999Z"),
            Some(base + 525)
        );
        assert_eq!(
            parse_timestamp("2024-04-16T22:33:15+02:00"),
            Some(base),
            "offsets are honoured"
        );
        assert_eq!(parse_timestamp("2024-04-16T18:33:15-0200"), Some(base));
        for bad in [
            "2024-04-16",
            "2024-04-16T20:33:15",
            "2024-13-16T20:33:15Z",
            "2024-04-16 20:33:15Z",
            "2024-04-16T20:33:15.Z",
            "yesterday",
        ] {
            assert_eq!(parse_timestamp(bad), None, "{bad}");
        }
    }

    #[test]
    fn the_filter_needs_a_bounded_window_of_at_most_14_days() {
        let ok = vet_text(&format!(
            "recordedAt ge \"{T0}\" AND recordedAt lt \"2024-04-30T00:00:00Z\""
        ))
        .unwrap();
        assert!(matches!((ok.from, ok.to), (Included(_), Excluded(_))));
        // Lower-case attribute and keyword, as Sentinel's poller sends.
        assert!(
            vet_text(&format!(
                "recordedat gt \"{T0}\" and recordedat le \"2024-04-17T00:00:00.000Z\""
            ))
            .is_ok()
        );
        let missing = vet(None).unwrap_err();
        assert!(missing.contains("recordedAt date range"), "{missing}");
        let open = vet_text(&format!("recordedAt gt \"{T0}\"")).unwrap_err();
        assert!(open.contains("recordedAt date range"), "{open}");
        let no_range = vet_text("action.type eq \"USER.CREATED\"").unwrap_err();
        assert!(no_range.contains("recordedAt date range"), "{no_range}");
        let wide = vet_text(&format!(
            "recordedAt gt \"{T0}\" and recordedAt lt \"2024-04-30T00:00:00.001Z\""
        ))
        .unwrap_err();
        assert!(wide.contains("14 days"), "{wide}");
        let bad_date =
            vet_text("recordedAt gt \"2024-04-16\" and recordedAt lt \"2024-04-17T00:00:00Z\"")
                .unwrap_err();
        assert!(bad_date.contains("Invalid date"), "{bad_date}");
        let twice = vet_text(&format!(
            "recordedAt gt \"{T0}\" and recordedAt ge \"{T0}\" and recordedAt lt \"{T0}\""
        ))
        .unwrap_err();
        assert!(twice.contains("one lower"), "{twice}");
    }

    #[test]
    fn the_filter_refuses_undocumented_operators_and_combinations() {
        let w = format!("recordedAt gt \"{T0}\" and recordedAt lt \"2024-04-17T00:00:00Z\"");
        for (extra, ok) in [
            ("action.type eq \"USER.CREATED\"", true),
            (
                "action.type eq \"USER.CREATED\" and resources.population.id eq \"P\"",
                true,
            ),
            ("resources.id eq \"U\"", true),
            (
                "resources.id eq \"U\" and resources.population.id eq \"P\"",
                false,
            ),
            (
                "resources.type eq \"USER\" and resources.population.id eq \"P\"",
                true,
            ),
            (
                "actors.client.id eq \"c\" and action.type eq \"USER.CREATED\"",
                false,
            ),
            (
                "actors.user.id eq \"u\" and actors.client.id eq \"c\"",
                false,
            ),
            ("correlationId eq \"c\"", true),
        ] {
            assert_eq!(vet_text(&format!("{w} and {extra}")).is_ok(), ok, "{extra}");
        }
        // Refused by the schema itself: `or`, `in`, `createdAt`, `ne`, `sw`.
        for bad in [
            format!("{w} or action.type eq \"USER.CREATED\""),
            format!("{w} and action.type in [\"USER.CREATED\"]"),
            "createdAt gt \"2024-04-16T00:00:00Z\" and createdAt lt \"2024-04-17T00:00:00Z\""
                .into(),
            format!("{w} and action.type ne \"USER.CREATED\""),
            format!("{w} and action.type sw \"USER.\""),
            format!("{w} and result.status eq \"SUCCESS\""),
        ] {
            assert!(filter::parse(&bad, &ACTIVITIES).is_err(), "{bad}");
        }
    }

    #[test]
    fn queries_are_newest_first_and_match_companions() {
        let mut log = ActivityLog::new(1, AuditConfig::default());
        let t = parse_timestamp(T0).unwrap();
        log.record_at(user_draft("USER.CREATED", "a"), t + 1000);
        log.record_at(user_draft("USER.UPDATED", "a"), t + 2000);
        log.record_at(user_draft("USER.CREATED", "b"), t + 3000);
        // Clock going backwards: recordedAt stays non-decreasing.
        log.record_at(user_draft("USER.DELETED", "b"), t + 2500);
        let now = t + 10_000;
        let q = vet_text(&format!(
            "recordedAt ge \"{T0}\" and recordedAt lt \"2024-04-17T00:00:00Z\""
        ))
        .unwrap();
        let got: Vec<&str> = log
            .query(&q, now)
            .iter()
            .map(|a| a.draft.action_type)
            .collect();
        assert_eq!(
            got,
            [
                "USER.DELETED",
                "USER.CREATED",
                "USER.UPDATED",
                "USER.CREATED"
            ]
        );
        let times: Vec<i64> = log.query(&q, now).iter().map(|a| a.recorded_at).collect();
        assert!(times.windows(2).all(|w| w[0] >= w[1]), "{times:?}");
        let created = vet_text(&format!(
            "recordedAt ge \"{T0}\" and recordedAt lt \"2024-04-17T00:00:00Z\" \
             and action.type eq \"USER.CREATED\""
        ))
        .unwrap();
        assert_eq!(log.query(&created, now).len(), 2);
        let about_a = vet_text(&format!(
            "recordedAt ge \"{T0}\" and recordedAt lt \"2024-04-17T00:00:00Z\" \
             and resources.id eq \"a\""
        ))
        .unwrap();
        assert_eq!(log.query(&about_a, now).len(), 2);
        // The window's bounds are honoured, exclusive and inclusive (the
        // delete was clamped to t+3000 when the clock went back).
        let window = |to_inclusive: bool| ActivityQuery {
            from: Excluded(t + 1000),
            to: if to_inclusive {
                Included(t + 3000)
            } else {
                Excluded(t + 3000)
            },
            eq: vec![],
        };
        let kinds = |q: &ActivityQuery| -> Vec<&str> {
            log.query(q, now)
                .iter()
                .map(|a| a.draft.action_type)
                .collect()
        };
        assert_eq!(
            kinds(&window(true)),
            ["USER.DELETED", "USER.CREATED", "USER.UPDATED"]
        );
        assert_eq!(kinds(&window(false)), ["USER.UPDATED"]);
    }

    #[test]
    fn records_surface_after_the_delay_and_age_out_after_14_days() {
        let cfg = AuditConfig {
            visibility_delay_ms: 5_000,
            visibility_jitter_ms: 3_000,
            ..AuditConfig::default()
        };
        let mut log = ActivityLog::new(7, cfg);
        let t = 1_700_000_000_000;
        for i in 0..20 {
            log.record_at(user_draft("USER.CREATED", &format!("u{i}")), t + i);
        }
        let all = ActivityQuery {
            from: Included(t - DAY_MS),
            to: Included(t + DAY_MS),
            eq: vec![],
        };
        assert!(
            log.query(&all, t + 4_999).is_empty(),
            "nothing before the delay"
        );
        let mid = log.query(&all, t + 6_500).len();
        assert!(0 < mid && mid < 20, "jitter spreads arrivals: {mid}");
        // Some record surfaces after a newer one: late arrival.
        let late = log
            .all()
            .windows(2)
            .any(|w| w[0].visible_at > w[1].visible_at);
        assert!(late, "jitter reorders visibility");
        assert_eq!(log.query(&all, t + 8_019).len(), 20);
        let id = log.all()[0].id.clone();
        assert!(log.get(&id, t + 8_019).is_some());
        assert!(
            log.get(&id, t + HOT_WINDOW_MS + 1).is_none(),
            "older than 14 days is not served"
        );
        assert!(log.query(&all, t + HOT_WINDOW_MS + 100).is_empty());
    }

    #[test]
    fn duplicates_follow_the_rate_and_the_seed() {
        let mut log = ActivityLog::new(
            3,
            AuditConfig {
                duplicate_rate: 0.3,
                ..AuditConfig::default()
            },
        );
        for i in 0..400 {
            log.record_at(user_draft("USER.UPDATED", &format!("u{i}")), 1000 + i);
        }
        let hits = log
            .all()
            .iter()
            .filter(|a| log.repeats_at_boundary(a))
            .count();
        assert!((80..160).contains(&hits), "{hits}");
        let again: Vec<bool> = log
            .all()
            .iter()
            .map(|a| log.repeats_at_boundary(a))
            .collect();
        let first: Vec<bool> = log
            .all()
            .iter()
            .map(|a| log.repeats_at_boundary(a))
            .collect();
        assert_eq!(again, first, "a pure function of seed and id");
        log.set_config(AuditConfig::default());
        assert!(!log.all().iter().any(|a| log.repeats_at_boundary(a)));
    }

    #[test]
    fn records_render_in_the_documented_shape() {
        let mut log = ActivityLog::new(1, AuditConfig::default());
        log.begin(Actor::Client { id: "app".into() });
        log.record_at(
            Draft::new(
                "MEMBER_OF_GROUP.CREATED",
                ActivityResource {
                    kind: "MEMBER_OF_GROUP",
                    id: "R".into(),
                    name: "Sales".into(),
                    href: "https://x/v1/environments/E/users/U/memberOfGroups/G".into(),
                    population_id: None,
                },
                "Created Member Of Group Sales".into(),
            ),
            1_713_299_595_525,
        );
        let v = log.all()[0].to_json("E", "https://x/v1/environments/E");
        assert_eq!(v["recordedAt"], "2024-04-16T20:33:15.525Z");
        assert_eq!(v["action"]["description"], "Member Of Group Created");
        assert_eq!(v["actors"]["client"]["id"], "app");
        assert_eq!(v["actors"]["client"]["type"], "CLIENT");
        assert_eq!(v["resources"][0]["type"], "MEMBER_OF_GROUP");
        assert_eq!(v["result"]["status"], "SUCCESS");
        assert_eq!(
            v["_links"]["self"]["href"],
            format!(
                "https://x/v1/environments/E/activities/{}",
                v["id"].as_str().unwrap()
            )
        );
        let created = parse_timestamp(v["createdAt"].as_str().unwrap()).unwrap();
        assert!((1_713_299_595_540..=1_713_299_595_925).contains(&created));
        assert!(v.get("_embedded").is_none() && v.get("tags").is_none());
        assert!(crate::util::is_uuid(v["correlationId"].as_str().unwrap()));
    }

    #[test]
    fn the_audit_limiter_allows_a_burst_then_refuses() {
        let cfg = AuditConfig::default();
        let lim = AuditLimiter::default();
        for _ in 0..10 {
            assert!(lim.take(&cfg).is_ok());
        }
        let wait = lim.take(&cfg).unwrap_err();
        assert!(wait > 0.0 && wait <= 0.1 + 1e-9, "{wait}");
        let off = AuditConfig {
            rate_limit_per_sec: None,
            ..AuditConfig::default()
        };
        assert!((0..100).all(|_| lim.take(&off).is_ok()));
    }
}
