//! Simulator configuration: tenant size, registered worker clients, paging
//! caps, token lifetime and the fault/behaviour switches.
//!
//! Everything is serde (JSON) so the binary can take a config file and the
//! admin API can replace the faults at runtime. Defaults describe a small,
//! readable tenant served by a well-behaved PingOne: faults are all off and
//! the behaviour switches take PingOne's most likely defaults (§6.3, §9).

use clap::ValueEnum;
use serde::{Deserialize, Serialize};

/// How a registered client must authenticate at the token endpoint
/// (`tokenEndpointAuthMethod` on the PingOne application).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, Default, ValueEnum)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum AuthMethod {
    #[default]
    #[value(name = "basic")]
    ClientSecretBasic,
    #[value(name = "post")]
    ClientSecretPost,
}

/// What the client's admin role assignments allow: `Full` is Identity
/// Data Admin at environment scope (reads and writes), `ReadOnly` Identity
/// Data Read Only (writes get 403 INSUFFICIENT_PERMISSIONS), `None` no
/// roles (every API call gets 403 INSUFFICIENT_PERMISSIONS).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, Default, ValueEnum)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum ClientAccess {
    #[default]
    Full,
    ReadOnly,
    None,
}

/// A worker application registered with the simulated auth host.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct ClientConfig {
    pub client_id: String,
    pub client_secret: String,
    pub auth_method: AuthMethod,
    pub access: ClientAccess,
    /// The environment the application lives in; `None` = the main one.
    /// Set it to [`SimConfig::other_environment_id`] to get a token for a
    /// second environment (its token is refused on the main one).
    pub environment_id: Option<String>,
}

impl Default for ClientConfig {
    fn default() -> Self {
        ClientConfig {
            client_id: "sim-client-id".into(),
            client_secret: "sim-client-secret".into(),
            auth_method: AuthMethod::ClientSecretBasic,
            access: ClientAccess::Full,
            environment_id: None,
        }
    }
}

/// Answer to adding a user to a group they are already a direct member of
/// (unconfirmed in PingOne, so a test picks): 400 INVALID_DATA with detail
/// UNIQUENESS_VIOLATION, 409 Conflict, or 201 with the existing
/// membership, as if it had been created.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, Default, ValueEnum)]
#[serde(rename_all = "snake_case")]
pub enum DuplicateMembership {
    #[default]
    Reject400,
    Conflict409,
    Idempotent201,
}

/// Answer to a duplicate (case-insensitive) username: 400 INVALID_DATA
/// with detail UNIQUENESS_VIOLATION target `username`, or 409 Conflict
/// (the status the SDK spec declares).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, Default, ValueEnum)]
#[serde(rename_all = "snake_case")]
pub enum DuplicateUsername {
    #[default]
    Reject400,
    Conflict409,
}

/// A deterministic burst of server errors: requests number `n` (counting
/// `/v1` requests from 0 since the faults were applied) with
/// `n % every < length` fail with `status`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorBurst {
    pub every: u64,
    pub length: u64,
    #[serde(default = "default_error_status")]
    pub status: u16,
}

fn default_error_status() -> u16 {
    500
}

fn default_true() -> bool {
    true
}

/// Fault injection and behaviour switches. Faults are off by default; all of
/// it can be replaced at runtime (`PUT /__sim/faults`). Random decisions are
/// a pure function of (`seed`, request number), so a sequential client sees
/// the same faults on every run.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Faults {
    /// Seed for fault decisions; `None` = the tenant seed.
    pub seed: Option<u64>,
    /// Fixed delay added to every request (API and token endpoint).
    pub latency_ms: u64,
    /// Extra uniform random delay in `[0, jitter_ms]`.
    pub jitter_ms: u64,
    /// Token bucket refill rate per client (requests per second).
    pub rate_limit_per_sec: Option<f64>,
    /// Bucket capacity; defaults to one second's worth (`rate_limit_per_sec`).
    pub rate_limit_burst: Option<f64>,
    /// Probability that a `/v1` request fails with `error_status`.
    pub error_rate: f64,
    /// 500 (UNEXPECTED_ERROR) or 503 (with `Retry-After`).
    #[serde(default = "default_error_status")]
    pub error_status: u16,
    /// Deterministic bursts of 5xx.
    pub error_burst: Option<ErrorBurst>,
    /// Probability that the connection is closed without any response.
    pub reset_rate: f64,
    /// Apply the request before dropping the connection (a lost response),
    /// instead of dropping it unprocessed.
    pub reset_after_processing: bool,
    /// Probability that a response announces its full Content-Length and
    /// then stops half way.
    pub truncate_rate: f64,
    /// Return fewer items than the page size while still linking `next`.
    pub short_pages: bool,
    /// After a create, reads of the new object 404 and writes referencing
    /// it 403 for this long (eventual consistency).
    pub consistency_window_ms: u64,
    /// For this long after the faults are applied, the environment behaves
    /// as freshly created: single reads 404, everything else 403 (DOCS-8830),
    /// and `GET /environments/{env}` reports `createdAt` as that moment.
    pub environment_warmup_ms: u64,
    /// For this long after the faults are applied, the actor's own role is
    /// still propagating (§7 quirk 2): creating a role assignment answers
    /// 400 INVALID_DATA, detail "Must have role at the same or broader
    /// scope" (§6.2), the refusal Terraform waits out.
    pub own_role_propagation_ms: u64,
    /// Expire every issued token once, when the `/v1` request counter
    /// (since the faults were applied) reaches this number.
    pub expire_tokens_after_requests: Option<u64>,
    /// Refuse `limit` on every collection, as on those whose `limit` the
    /// reference does not document (400 INVALID_DATA, `INVALID_PARAMETER`
    /// on `limit`): a tenant stricter than documented, for the connector's
    /// fallback to PingOne's default page size.
    pub refuse_limit: bool,
    /// Refuse every users filter that is not a `memberOfGroups[...]`
    /// filter with 400 INVALID_FILTER, as PingOne does for a filter it
    /// does not support (§5.2): a dynamic group's `userFilter` asked as a
    /// users filter is then refused while the group itself still works.
    pub refuse_user_filters: bool,
    /// Serve groups (listing and single read) without
    /// `directMemberCounts`: a stand-in that leaves the field out.
    pub omit_member_counts: bool,
    /// Fraction of groups whose served `directMemberCounts.users` reads 0
    /// whatever they hold (chosen per group id from the fault seed, see
    /// [`Faults::zeroes_member_count`]): a stand-in whose counts lie. The
    /// ground truth keeps the true memberships.
    pub zero_member_counts: f64,
    pub duplicate_membership: DuplicateMembership,
    pub duplicate_username: DuplicateUsername,
    /// Require `email` on user create (PingOne's default schema does).
    #[serde(default = "default_true")]
    pub require_email: bool,
}

impl Default for Faults {
    fn default() -> Self {
        Faults {
            seed: None,
            latency_ms: 0,
            jitter_ms: 0,
            rate_limit_per_sec: None,
            rate_limit_burst: None,
            error_rate: 0.0,
            error_status: 500,
            error_burst: None,
            reset_rate: 0.0,
            reset_after_processing: false,
            truncate_rate: 0.0,
            short_pages: false,
            consistency_window_ms: 0,
            environment_warmup_ms: 0,
            own_role_propagation_ms: 0,
            expire_tokens_after_requests: None,
            refuse_limit: false,
            refuse_user_filters: false,
            omit_member_counts: false,
            zero_member_counts: 0.0,
            duplicate_membership: DuplicateMembership::Reject400,
            duplicate_username: DuplicateUsername::Reject400,
            require_email: true,
        }
    }
}

impl Faults {
    /// A bad day on the network, the mix the sync tests survive: 8 % 503s,
    /// 3 % connection resets, 2 % bodies cut mid-stream, short pages, and a
    /// 400 req/s rate limit with a burst of 40.
    pub fn unreliable_network() -> Faults {
        Faults {
            error_rate: 0.08,
            error_status: 503,
            reset_rate: 0.03,
            truncate_rate: 0.02,
            short_pages: true,
            rate_limit_per_sec: Some(400.0),
            rate_limit_burst: Some(40.0),
            jitter_ms: 3,
            ..Faults::default()
        }
    }

    /// Whether [`Faults::zero_member_counts`] zeroes this group's count;
    /// `tenant_seed` stands in when the faults carry no seed of their own.
    /// Depends on the group id alone, so every read of a group agrees and a
    /// test can tell which groups the fault hits.
    pub fn zeroes_member_count(&self, tenant_seed: u64, group_id: &str) -> bool {
        const PURPOSE_ZERO_COUNT: u64 = 6;
        let seed = self.seed.unwrap_or(tenant_seed);
        self.zero_member_counts > 0.0
            && crate::util::unit_f64(
                crate::util::fnv64(seed, group_id.as_bytes()),
                0,
                PURPOSE_ZERO_COUNT,
            ) < self.zero_member_counts
    }

    /// True when no request-level fault is active (the fast path).
    pub fn is_quiet(&self) -> bool {
        self.latency_ms == 0
            && self.jitter_ms == 0
            && self.rate_limit_per_sec.is_none()
            && self.error_rate <= 0.0
            && self.error_burst.is_none()
            && self.reset_rate <= 0.0
            && self.truncate_rate <= 0.0
            && self.environment_warmup_ms == 0
            && self.expire_tokens_after_requests.is_none()
    }
}

/// How a group nesting change shows up in the audit log. The reference
/// found no record type for it (pingone-activities.md §3, §4), so every
/// reading is a choice; the default is the most conservative one.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum NestingAudit {
    /// Nesting changes leave no record at all.
    #[default]
    NotRecorded,
    /// `MEMBER_OF_GROUP.CREATED|DELETED` with a
    /// `/groups/{child}/memberOfGroups/{parent}` href.
    MemberOfGroup,
    /// `GROUP.UPDATED` on the nested (child) group.
    GroupUpdated,
}

/// The audit log (`/activities`, pingone-activities.md): what is recorded,
/// how late it becomes visible, duplicates, and the audit rate limit.
/// Defaults follow the simulator's convention that faults are off (no
/// delay, no duplicates) and, where the reference says **unknown**, take
/// the reading that tells a connector least.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct AuditConfig {
    /// Seed for activity ids, delays and duplicate decisions; `None` = the
    /// tenant seed.
    pub seed: Option<u64>,
    /// An activity becomes visible this long after its `recordedAt`.
    pub visibility_delay_ms: u64,
    /// Extra uniform random delay in `[0, visibility_jitter_ms]` per
    /// activity, so records can surface out of `recordedAt` order.
    pub visibility_jitter_ms: u64,
    /// Probability that a page boundary repeats its last activity as the
    /// first of the next page (the same id delivered twice).
    pub duplicate_rate: f64,
    /// The audit API's own limit per environment (`rlgAuditRps`, 10/s);
    /// `None` = unlimited.
    pub rate_limit_per_sec: Option<f64>,
    /// Bucket capacity; defaults to one second's worth.
    pub rate_limit_burst: Option<f64>,
    /// How nesting changes are recorded (unknown in the reference).
    pub nesting: NestingAudit,
    /// Record `MEMBER_OF_GROUP.*` when an attribute or filter change moves
    /// a user in or out of a dynamic group (unknown; default: only the
    /// `USER.UPDATED` / `GROUP.UPDATED` that caused it).
    pub dynamic_membership: bool,
    /// Record the side effects of a change: `MEMBER_OF_GROUP.DELETED` for
    /// population-group memberships a population move drops, and
    /// `GROUP.DELETED` for the groups a population delete takes with it
    /// (unknown; default: only the change itself).
    pub cascades: bool,
    /// Write `ROLE_ASSIGNMENT.*` resource hrefs without `/v1`, as one
    /// captured record does (forces parsing hrefs by segment names).
    pub role_assignment_href_without_v1: bool,
}

impl Default for AuditConfig {
    fn default() -> Self {
        AuditConfig {
            seed: None,
            visibility_delay_ms: 0,
            visibility_jitter_ms: 0,
            duplicate_rate: 0.0,
            rate_limit_per_sec: Some(10.0),
            rate_limit_burst: None,
            nesting: NestingAudit::NotRecorded,
            dynamic_membership: false,
            cascades: false,
            role_assignment_href_without_v1: true,
        }
    }
}

impl AuditConfig {
    /// A log that is late (100–400 ms), repeats 30 % of its records, and
    /// records nestings, dynamic joins and cascades in a way that varies
    /// with `seed`: what the randomized incremental-sync proofs run under.
    pub fn varied(seed: u64) -> Self {
        AuditConfig {
            visibility_delay_ms: 100,
            visibility_jitter_ms: 300,
            duplicate_rate: 0.3,
            rate_limit_per_sec: Some(1000.0),
            nesting: if seed.is_multiple_of(2) {
                NestingAudit::MemberOfGroup
            } else {
                NestingAudit::GroupUpdated
            },
            dynamic_membership: seed.is_multiple_of(3),
            cascades: seed.is_multiple_of(4),
            ..AuditConfig::default()
        }
    }
}

/// The whole simulator configuration.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct SimConfig {
    pub seed: u64,
    /// The environment that holds the data; derived from the seed if unset.
    pub environment_id: Option<String>,
    /// A second environment in the same organization that holds no data;
    /// derived from the seed if unset.
    pub other_environment_id: Option<String>,
    pub populations: usize,
    pub users: usize,
    pub groups: usize,
    /// Total direct user→group memberships; `None` = `users * avg_groups_per_user`.
    pub memberships: Option<usize>,
    pub avg_groups_per_user: f64,
    /// Fraction of groups nested under another group.
    pub nested_fraction: f64,
    /// Fraction of static groups that belong to a population.
    pub population_group_fraction: f64,
    /// Groups with a `userFilter` (members listed as INDIRECT).
    pub dynamic_groups: usize,
    pub custom_roles: usize,
    /// Fraction of users holding at least one admin role assignment.
    pub role_assignment_density: f64,
    /// Fraction of groups holding a role assignment.
    pub group_role_assignment_fraction: f64,
    pub clients: Vec<ClientConfig>,
    pub token_lifetime_secs: u64,
    /// Page cap of `GET /users` (the docs' 200).
    pub users_page_max: usize,
    /// Page cap of every other collection.
    pub other_page_max: usize,
    pub faults: Faults,
    pub audit: AuditConfig,
}

impl Default for SimConfig {
    fn default() -> Self {
        SimConfig {
            seed: 1,
            environment_id: None,
            other_environment_id: None,
            populations: 3,
            users: 40,
            groups: 10,
            memberships: None,
            avg_groups_per_user: 2.0,
            nested_fraction: 0.3,
            population_group_fraction: 0.25,
            dynamic_groups: 2,
            custom_roles: 1,
            role_assignment_density: 0.2,
            group_role_assignment_fraction: 0.2,
            clients: vec![ClientConfig::default()],
            token_lifetime_secs: 3600,
            users_page_max: 200,
            other_page_max: 1000,
            faults: Faults::default(),
            audit: AuditConfig::default(),
        }
    }
}

impl SimConfig {
    /// A handful of objects: easy to read in a test failure.
    pub fn tiny(seed: u64) -> Self {
        SimConfig {
            seed,
            populations: 2,
            users: 12,
            groups: 6,
            avg_groups_per_user: 1.5,
            nested_fraction: 0.4,
            dynamic_groups: 1,
            custom_roles: 1,
            role_assignment_density: 0.25,
            group_role_assignment_fraction: 0.34,
            ..SimConfig::default()
        }
    }

    /// The default small tenant (40 users, 10 groups, 3 populations).
    pub fn small(seed: u64) -> Self {
        SimConfig {
            seed,
            ..SimConfig::default()
        }
    }

    /// 1,000 users and 100 groups: multi-page without being slow.
    pub fn medium(seed: u64) -> Self {
        SimConfig {
            seed,
            populations: 4,
            users: 1_000,
            groups: 100,
            avg_groups_per_user: 4.0,
            nested_fraction: 0.2,
            dynamic_groups: 4,
            custom_roles: 2,
            role_assignment_density: 0.05,
            group_role_assignment_fraction: 0.1,
            ..SimConfig::default()
        }
    }

    /// 100k users, 5k groups, 1M direct memberships.
    pub fn large(seed: u64) -> Self {
        SimConfig {
            seed,
            populations: 10,
            users: 100_000,
            groups: 5_000,
            memberships: Some(1_000_000),
            avg_groups_per_user: 10.0,
            nested_fraction: 0.2,
            population_group_fraction: 0.25,
            dynamic_groups: 20,
            custom_roles: 5,
            role_assignment_density: 0.02,
            group_role_assignment_fraction: 0.05,
            ..SimConfig::default()
        }
    }

    /// A named preset: `tiny`, `small`, `medium` or `large`.
    pub fn preset(name: &str, seed: u64) -> Option<Self> {
        match name {
            "tiny" => Some(Self::tiny(seed)),
            "small" => Some(Self::small(seed)),
            "medium" => Some(Self::medium(seed)),
            "large" => Some(Self::large(seed)),
            _ => None,
        }
    }

    pub fn total_memberships(&self) -> usize {
        self.memberships
            .unwrap_or_else(|| (self.users as f64 * self.avg_groups_per_user).round() as usize)
    }
}
