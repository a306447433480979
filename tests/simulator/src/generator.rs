//! The deterministic, seeded tenant generator: from a handful of objects to
//! 100k users / 5k groups / 1M memberships in a couple of seconds.
//!
//! One ChaCha8 stream drives every choice, in a fixed order, so the same
//! config gives a byte-identical ground truth. Small tenants still contain
//! every awkward case (the first users and groups are forced): a disabled
//! user, a locked one, one without email, one without a name, unicode
//! names, a nested group, a population group, a dynamic group (`userFilter`)
//! whose members are INDIRECT, role assignments at ENVIRONMENT and
//! POPULATION scope, to users and to groups, and a read-only assignment.
//! Payloads carry unknown extra fields (`_x_extra`, custom attributes) and
//! leave optional attributes out rather than null.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, OnceLock};

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde_json::{Map, json};

use crate::config::SimConfig;
use crate::filter;
use crate::model::{Group, Population, Pos, Profile, Role, ScopeType, Subject, User};
use crate::store::Store;
use crate::util::{uuid_from_name, uuid_from_rng};

const GIVEN: &[&str] = &[
    "Emma",
    "Liam",
    "Olivia",
    "Noah",
    "Ava",
    "Ethan",
    "Sophia",
    "Mason",
    "Isabella",
    "Lucas",
    "Mia",
    "Oliver",
    "Amelia",
    "Elijah",
    "Harper",
    "James",
    "Zoë",
    "José",
    "Łukasz",
    "Søren",
    "Ingrid",
    "Aurélie",
    "François",
    "Chloé",
    "Björn",
    "Małgorzata",
    "Jürgen",
    "Siobhán",
    "Thảo",
    "Aarav",
    "Priya",
    "Mei",
    "Hiroshi",
    "Yuki",
    "Олег",
    "Мария",
    "Ahmed",
    "Fatima",
    "Kwame",
    "Amara",
    "Grace",
    "Daniel",
    "Nora",
    "Mateo",
    "Leila",
    "Ravi",
];

const FAMILY: &[&str] = &[
    "Smith",
    "Johnson",
    "Williams",
    "Brown",
    "Jones",
    "Garcia",
    "Miller",
    "Davis",
    "Martinez",
    "Lopez",
    "Wilson",
    "Anderson",
    "Taylor",
    "Thomas",
    "Moore",
    "Jackson",
    "Martin",
    "Lee",
    "Thompson",
    "White",
    "Harris",
    "Clark",
    "Lewis",
    "Young",
    "Allen",
    "King",
    "Wright",
    "Scott",
    "O'Brien",
    "Müller",
    "Ångström",
    "Żółć",
    "García-Márquez",
    "Nakamura",
    "Иванова",
    "Dubois",
    "Van der Berg",
    "Kowalski",
    "Nguyen",
    "Okafor",
    "Østergaard",
    "Schäfer",
    "Da Silva",
    "Sharp",
    "Anand",
    "Bergström",
    "Château",
    "Papadopoulos",
];

const TITLES: &[&str] = &[
    "Engineer",
    "Senior Engineer",
    "Manager",
    "Director",
    "Analyst",
    "Designer",
    "Sales Representative",
    "Support Specialist",
    "Accountant",
    "Recruiter",
    "Product Manager",
    "Intern",
];

const DEPARTMENTS: &[&str] = &[
    "Engineering",
    "Sales",
    "Marketing",
    "Finance",
    "HR",
    "Support",
    "Legal",
    "Operations",
    "Research",
    "IT",
];

/// (locality, region, countryCode, timezone, locale)
const PLACES: &[(&str, &str, &str, &str, &str)] = &[
    ("Vancouver", "BC", "CA", "America/Vancouver", "en-CA"),
    ("Denver", "CO", "US", "America/Denver", "en-US"),
    ("New York", "NY", "US", "America/New_York", "en-US"),
    ("London", "England", "GB", "Europe/London", "en-GB"),
    ("Paris", "Île-de-France", "FR", "Europe/Paris", "fr-FR"),
    ("Berlin", "Berlin", "DE", "Europe/Berlin", "de-DE"),
    ("São Paulo", "SP", "BR", "America/Sao_Paulo", "pt-BR"),
    ("Tokyo", "Tokyo", "JP", "Asia/Tokyo", "ja-JP"),
    ("Sydney", "NSW", "AU", "Australia/Sydney", "en-AU"),
    ("Montréal", "QC", "CA", "America/Toronto", "fr-CA"),
];

const POPULATION_NAMES: &[&str] = &[
    "Default",
    "Employees",
    "Contractors",
    "Partners",
    "Customers",
    "Alumni",
    "Interns",
    "Vendors",
    "Auditors",
    "Service Accounts",
];

const GROUP_STEMS: &[&str] = &[
    "Engineering",
    "Sales",
    "Marketing",
    "Finance",
    "Human Resources",
    "Support",
    "Legal",
    "Operations",
    "Research",
    "IT Admins",
    "Équipe Montréal",
    "Ventas España",
    "開発チーム",
    "Vertrieb DACH",
    "Platform",
    "Security",
    "Data Science",
    "Design",
    "Customer Success",
    "Procurement",
    "Facilities",
    "Executives",
    "On-call",
    "Release Managers",
    "Auditors",
    "Interns",
    "Contractors",
    "Partners EMEA",
    "APAC Field",
    "QA",
];

const CUSTOM_ROLE_NAMES: &[&str] = &[
    "Helpdesk Tier 1",
    "Auditor",
    "Onboarding Manager",
    "Group Steward",
    "Access Reviewer",
];

/// Built-in roles: (name, applicableTo, permissions). Ids are fixed UUIDs
/// derived from the name, the same for every seed.
const BUILT_IN_ROLES: &[(&str, &[&str], &[&str])] = &[
    (
        "Organization Admin",
        &["ORGANIZATION"],
        &[
            "permissions:read:organizations",
            "permissions:update:organizations",
            "permissions:create:environments",
        ],
    ),
    (
        "Environment Admin",
        &["ORGANIZATION", "ENVIRONMENT"],
        &[
            "permissions:read:environments",
            "permissions:update:environments",
            "permissions:read:applications",
            "permissions:create:applications",
        ],
    ),
    (
        "Identity Data Admin",
        &["ENVIRONMENT", "POPULATION"],
        &[
            "permissions:read:users",
            "permissions:create:users",
            "permissions:update:users",
            "permissions:delete:users",
            "permissions:read:groups",
            "permissions:update:groupMemberships",
            "permissions:read:userRoleAssignments",
            "permissions:create:userRoleAssignments",
        ],
    ),
    (
        "Identity Data Read Only",
        &["ENVIRONMENT", "POPULATION"],
        &[
            "permissions:read:users",
            "permissions:read:groups",
            "permissions:read:groupMemberships",
            "permissions:read:populations",
        ],
    ),
    (
        "Client Application Developer",
        &["ENVIRONMENT"],
        &[
            "permissions:read:applications",
            "permissions:create:applications",
            "permissions:read:groups",
        ],
    ),
    (
        "Configuration Read Only",
        &["ORGANIZATION", "ENVIRONMENT"],
        &[
            "permissions:read:environments",
            "permissions:read:applications",
        ],
    ),
    (
        "Application Owner",
        &["APPLICATION"],
        &[
            "permissions:read:applications",
            "permissions:update:applications",
        ],
    ),
    (
        "Custom Roles Admin",
        &["ORGANIZATION", "ENVIRONMENT"],
        &[
            "permissions:read:customRoles",
            "permissions:create:customRoles",
            "permissions:update:customRoles",
        ],
    ),
    (
        "Help Desk Admin",
        &["ENVIRONMENT", "POPULATION"],
        &[
            "permissions:read:users",
            "permissions:update:userPasswords",
            "permissions:update:userMfa",
        ],
    ),
    (
        "DaVinci Admin",
        &["ENVIRONMENT"],
        &[
            "permissions:read:davinciFlows",
            "permissions:update:davinciFlows",
        ],
    ),
    (
        "DaVinci Admin Read Only",
        &["ENVIRONMENT"],
        &["permissions:read:davinciFlows"],
    ),
];

/// The fixed id of a built-in role, by name.
pub fn builtin_role_id(name: &str) -> String {
    uuid_from_name(&format!("pingone-sim builtin role: {name}"))
}

fn builtin_roles() -> Vec<Role> {
    BUILT_IN_ROLES
        .iter()
        .map(|(name, applicable, perms)| Role {
            id: builtin_role_id(name),
            name: name.to_string(),
            description: format!("Built-in {name} role."),
            applicable_to: applicable.iter().map(|s| s.to_string()).collect(),
            permissions: perms.to_vec(),
            custom: false,
            can_be_assigned_by: Vec::new(),
        })
        .collect()
}

// 2021-01-04T09:00:00.000Z
const BASE_MS: i64 = 1_609_750_800_000;
const DAY_MS: i64 = 86_400_000;

struct Gen {
    rng: ChaCha8Rng,
}

impl Gen {
    fn chance(&mut self, p: f64) -> bool {
        p > 0.0 && self.rng.random_bool(p.min(1.0))
    }

    fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.rng.random_range(0..items.len())]
    }

    fn below(&mut self, n: usize) -> usize {
        if n == 0 {
            0
        } else {
            self.rng.random_range(0..n)
        }
    }

    fn ms(&mut self, max: i64) -> i64 {
        if max <= 0 {
            0
        } else {
            self.rng.random_range(0..max)
        }
    }
}

fn username_base(given: &str, family: &str) -> String {
    let clean = |s: &str| -> String {
        s.chars()
            .filter(|c| !c.is_whitespace() && *c != '\'')
            .flat_map(|c| c.to_lowercase())
            .collect()
    };
    format!("{}.{}", clean(given), clean(family))
}

fn ascii_local(s: &str) -> String {
    s.chars()
        .filter(|c| c.is_ascii_alphanumeric() || *c == '.' || *c == '-')
        .collect::<String>()
        .trim_matches('.')
        .to_string()
}

/// Builds the tenant described by `cfg`, with links under `base`.
pub fn generate(cfg: &SimConfig, base: &str) -> Store {
    let mut g = Gen {
        rng: ChaCha8Rng::seed_from_u64(cfg.seed),
    };
    let env_id = cfg
        .environment_id
        .clone()
        .unwrap_or_else(|| uuid_from_rng(&mut g.rng));
    let org_id = uuid_from_rng(&mut g.rng);
    let other_env = cfg
        .other_environment_id
        .clone()
        .unwrap_or_else(|| uuid_from_rng(&mut g.rng));
    let base_ms = BASE_MS + g.ms(180 * DAY_MS);
    // Runtime ids come from their own stream, derived from the seed.
    let runtime_rng = ChaCha8Rng::seed_from_u64(cfg.seed ^ 0x0072_756e_7469_6d65);
    let mut st = Store::empty(
        cfg.seed,
        env_id.clone(),
        org_id,
        other_env,
        base_ms - 30 * DAY_MS,
        base.to_string(),
        runtime_rng,
    );
    st.audit = crate::activity::ActivityLog::new(cfg.seed, cfg.audit.clone());

    // Populations: the first is the default.
    let n_pops = cfg.populations;
    for i in 0..n_pops {
        let id = uuid_from_rng(&mut g.rng);
        let name = POPULATION_NAMES
            .get(i)
            .map_or_else(|| format!("Population {}", i + 1), |n| n.to_string());
        let created = base_ms + i as i64 * DAY_MS + g.ms(DAY_MS);
        let mut extra = Map::new();
        if i % 3 == 1 {
            extra.insert("preferredLanguage".into(), json!("en"));
        }
        if i % 4 == 2 {
            extra.insert(
                "alternativeIdentifiers".into(),
                json!([name.to_lowercase().replace(' ', "-")]),
            );
        }
        let description = (i % 2 == 1).then(|| format!("{name} of the simulated organization"));
        st.pop_by_id.insert(id.clone(), i as Pos);
        st.populations.push(Some(Population {
            id,
            name,
            description,
            default: i == 0,
            user_count: 0,
            created_at: created,
            updated_at: created + g.ms(30 * DAY_MS),
            extra,
        }));
    }

    // Users (none without a population to hold them).
    let n_users = if n_pops == 0 { 0 } else { cfg.users };
    let span = 3 * 365 * DAY_MS;
    let step = (span / (n_users.max(1) as i64)).max(1);
    let users_start = base_ms + 7 * DAY_MS;
    let mut taken: HashMap<String, u32> = HashMap::with_capacity(n_users);
    st.users.reserve(n_users);
    for i in 0..n_users {
        let pop = if n_pops == 1 || g.chance(0.5) {
            0
        } else {
            1 + g.below(n_pops - 1)
        } as Pos;
        let no_email = i == 3 || (i > 5 && g.chance(0.03));
        let no_name = i == 4 || (i > 5 && g.chance(0.02));
        let (given, family) = if i == 5 {
            ("Zoë".to_string(), "Ångström-Żółć".to_string())
        } else {
            (g.pick(GIVEN).to_string(), g.pick(FAMILY).to_string())
        };
        let base_name = if no_name {
            format!(
                "svc-{}",
                ["backup", "reports", "sync", "ci", "kiosk"][i % 5]
            )
        } else {
            username_base(&given, &family)
        };
        let n = taken.entry(base_name.clone()).or_insert(0);
        *n += 1;
        let username = if *n == 1 {
            base_name
        } else {
            format!("{base_name}{n}")
        };
        let mut p = Profile {
            username: username.clone(),
            ..Profile::default()
        };
        if !no_email {
            let local = match ascii_local(&username) {
                l if l.is_empty() => format!("user{i}"),
                l => l,
            };
            let domain = ["example.com", "example.org", "corp.example.net"][g.below(3)];
            p.set("email", format!("{local}@{domain}"));
        }
        if !no_name {
            p.set("name.given", given.clone());
            p.set("name.family", family.clone());
            p.set("name.formatted", format!("{given} {family}"));
            if g.chance(0.1) {
                p.set("name.middle", *g.pick(GIVEN));
            }
            if g.chance(0.05) {
                p.set(
                    "name.honorificPrefix",
                    ["Dr.", "Ms.", "Mr.", "Prof."][g.below(4)],
                );
            }
        }
        if g.chance(0.6) {
            p.set("title", *g.pick(TITLES));
        }
        if g.chance(0.7) {
            p.set(
                "type",
                ["Employee", "Employee", "Contractor", "Partner"][g.below(4)],
            );
        }
        if g.chance(0.5) {
            p.set("externalId", format!("HR-{:06}", i + 1));
        }
        if g.chance(0.3) {
            p.set("primaryPhone", format!("+1 604-555-{:04}", g.below(10_000)));
        }
        if g.chance(0.3) {
            p.set("mobilePhone", format!("+1 778-555-{:04}", g.below(10_000)));
        }
        if g.chance(0.1) {
            p.set("nickname", given.to_lowercase());
        }
        if g.chance(0.5) {
            let (loc, region, cc, tz, locale) = *g.pick(PLACES);
            if g.chance(0.5) {
                p.set(
                    "address.streetAddress",
                    format!("{} Marine Drive", 100 + g.below(9900)),
                );
            }
            p.set("address.locality", loc);
            p.set("address.region", region);
            if g.chance(0.7) {
                p.set("address.postalCode", format!("{:05}", g.below(100_000)));
            }
            p.set("address.countryCode", cc);
            p.set("timezone", tz);
            p.set("locale", locale);
            if g.chance(0.5) {
                p.set("preferredLanguage", &locale[..2]);
            }
        }
        if g.chance(0.05) {
            p.set(
                "photo.href",
                format!("https://photos.example.com/u/{i}.png"),
            );
        }
        let mut custom = BTreeMap::new();
        if g.chance(0.4) {
            custom.insert("department".to_string(), json!(*g.pick(DEPARTMENTS)));
        }
        if g.chance(0.3) {
            custom.insert(
                "costCenter".to_string(),
                json!(format!("CC-{}", 100 + g.below(50))),
            );
        }
        p.custom = custom;

        let created = users_start + i as i64 * step + g.ms(step);
        let updated = created + g.ms(200 * DAY_MS);
        let enabled = !(i == 1 || (i > 5 && g.chance(0.05)));
        let locked = i == 2 || (i > 5 && g.chance(0.02));
        let federated = i > 5 && g.chance(0.03);
        let server_extra = g.chance(0.15).then(|| {
            let mut m = Map::new();
            m.insert(
                "_x_extra".into(),
                json!({ "shard": g.below(64), "flags": ["beta-ui"], "note": "unknown to clients" }),
            );
            Box::new(m)
        });
        let last_sign_on = g.chance(0.6).then(|| {
            (
                updated + g.ms(30 * DAY_MS),
                format!("127.0.0.{}", 1 + g.below(254)),
            )
        });
        let password_status = match g.below(20) {
            0 => None,
            1 => Some("MUST_CHANGE_PASSWORD"),
            2 => Some("NO_PASSWORD"),
            _ => Some("OK"),
        };
        let lifecycle = if g.chance(0.03) {
            "VERIFICATION_REQUIRED"
        } else {
            "ACCOUNT_OK"
        };
        let email_verified = p.get("email").map(|_| g.chance(0.7));
        let mfa_enabled = g.chance(0.2);
        let lc = username.to_lowercase();
        let id = uuid_from_rng(&mut g.rng);
        st.user_by_id.insert(id.clone(), i as Pos);
        st.user_by_name.insert(lc.clone(), i as Pos);
        if let Some(Some(pp)) = st.populations.get_mut(pop as usize) {
            pp.user_count += 1;
        }
        st.users.push(Some(User {
            id,
            population: pop,
            username_lc: lc,
            profile: p,
            enabled,
            locked_at: locked.then_some(updated),
            lifecycle: lifecycle.into(),
            mfa_enabled,
            idp_type: if federated {
                "OPENID_CONNECT".into()
            } else {
                "PING_ONE".into()
            },
            idp_id: federated.then(|| uuid_from_name("pingone-sim external idp")),
            verify_status: "NOT_INITIATED".into(),
            email_verified,
            last_sign_on,
            password_status: password_status.map(String::from),
            created_at: created,
            updated_at: updated,
            server_extra,
            direct_groups: Vec::new(),
            cache: OnceLock::new(),
        }));
    }
    st.live_users = n_users;

    // Groups: 0 and 1 environment-level (1 nested in 0), 2 a population
    // group, the last `dynamic_groups` dynamic.
    let n_groups = cfg.groups;
    let n_dynamic = cfg.dynamic_groups.min(n_groups);
    let first_dynamic = n_groups - n_dynamic;
    let groups_start = base_ms + 2 * DAY_MS;
    for j in 0..n_groups {
        let stem = GROUP_STEMS[j % GROUP_STEMS.len()];
        let round = j / GROUP_STEMS.len();
        let dynamic = j >= first_dynamic;
        let population = if dynamic || j < 2 || n_pops == 0 {
            None
        } else if j == 2 || g.chance(cfg.population_group_fraction) {
            Some(g.below(n_pops) as Pos)
        } else {
            None
        };
        let name = match (dynamic, round) {
            (true, 0) => format!("{stem} (dynamic)"),
            (true, r) => format!("{stem} (dynamic) {}", r + 1),
            (false, 0) => stem.to_string(),
            (false, r) => format!("{stem} {}", r + 1),
        };
        let user_filter = if dynamic {
            let k = j - first_dynamic;
            let text = match k % 6 {
                0 if n_pops > 0 => {
                    let pid = &st.populations[k % n_pops].as_ref().expect("population").id;
                    format!("population.id eq \"{pid}\"")
                }
                1 => format!(
                    "name.family sw \"{}\"",
                    ["S", "M", "B", "G", "J", "W"][k / 6 % 6]
                ),
                2 => "title eq \"Manager\"".to_string(),
                3 => {
                    "(address.countryCode eq \"US\") or (address.countryCode eq \"CA\")".to_string()
                }
                4 => "department eq \"Sales\" and enabled eq true".to_string(),
                _ => "email ew \"@example.org\"".to_string(),
            };
            let expr = filter::parse(&text, &filter::USERS).expect("generated filters parse");
            Some((text, Arc::new(expr)))
        } else {
            None
        };
        let created = groups_start + j as i64 * 3_600_000 + g.ms(3_600_000);
        let description = g.chance(0.7).then(|| format!("{name} team"));
        let external_id = g
            .chance(0.3)
            .then(|| format!("ad-{}", name.to_lowercase().replace(' ', "-")));
        let custom_data = g
            .chance(0.1)
            .then(|| json!({ "costCenter": format!("{}", 40 + g.below(20)) }));
        let id = uuid_from_rng(&mut g.rng);
        st.group_by_id.insert(id.clone(), j as Pos);
        st.groups.push(Some(Group {
            id,
            name,
            description,
            population,
            user_filter,
            external_id,
            custom_data,
            created_at: created,
            updated_at: created + g.ms(90 * DAY_MS),
            direct_members: Vec::new(),
            parents: Vec::new(),
            children: Vec::new(),
        }));
    }

    // Nesting: a child only ever gets parents with a lower position, so
    // there are no cycles; a population parent needs a same-population child.
    for j in 1..n_groups {
        let forced = j == 1;
        if !forced && !g.chance(cfg.nested_fraction) {
            continue;
        }
        let want = if !forced && g.chance(0.15) { 2 } else { 1 };
        let child_pop = st.groups[j].as_ref().expect("group").population;
        let mut got = 0;
        for _ in 0..8 {
            if got == want {
                break;
            }
            let k = if forced { 0 } else { g.below(j) };
            let parent_pop = st.groups[k].as_ref().expect("group").population;
            let ok = parent_pop.is_none() || parent_pop == child_pop;
            let child = st.groups[j].as_ref().expect("group");
            if ok && !child.parents.contains(&(k as Pos)) {
                st.groups[j].as_mut().expect("group").parents.push(k as Pos);
                st.groups[k]
                    .as_mut()
                    .expect("group")
                    .children
                    .push(j as Pos);
                got += 1;
            }
        }
    }

    // Direct memberships: the exact total, spread over users (every 7th
    // user has none), only in static groups the user's population may join.
    let total = cfg.total_memberships();
    let mut eligible: Vec<Vec<Pos>> = vec![Vec::new(); n_pops.max(1)];
    for (j, gr) in st.groups.iter().enumerate() {
        let gr = gr.as_ref().expect("group");
        if gr.user_filter.is_some() {
            continue;
        }
        match gr.population {
            None => eligible.iter_mut().for_each(|e| e.push(j as Pos)),
            Some(p) => eligible[p as usize].push(j as Pos),
        }
    }
    let mut carry = 0usize;
    let mut members: Vec<Vec<Pos>> = vec![Vec::new(); n_groups];
    for i in 0..n_users {
        let share = (i + 1) * total / n_users.max(1) - i * total / n_users.max(1);
        carry += share;
        if i % 7 == 6 && n_users > 7 {
            continue;
        }
        let pop = st.users[i].as_ref().expect("user").population as usize;
        let el = &eligible[pop];
        let k = carry.min(el.len());
        carry -= k.min(carry);
        let mut chosen: Vec<Pos> = Vec::with_capacity(k);
        if k * 2 >= el.len() {
            chosen.extend_from_slice(el);
            while chosen.len() > k {
                let idx = g.below(chosen.len());
                chosen.swap_remove(idx);
            }
        } else {
            while chosen.len() < k {
                let c = el[g.below(el.len())];
                if !chosen.contains(&c) {
                    chosen.push(c);
                }
            }
        }
        chosen.sort_unstable();
        for &c in &chosen {
            members[c as usize].push(i as Pos);
        }
        st.users[i].as_mut().expect("user").direct_groups = chosen;
    }
    for (j, m) in members.into_iter().enumerate() {
        st.groups[j].as_mut().expect("group").direct_members = m;
    }

    // Roles: built-ins, then the environment's custom roles.
    st.roles = builtin_roles();
    let env_admin = builtin_role_id("Environment Admin");
    let custom_admin = builtin_role_id("Custom Roles Admin");
    for c in 0..cfg.custom_roles {
        let name = match (
            CUSTOM_ROLE_NAMES.get(c % CUSTOM_ROLE_NAMES.len()),
            c / CUSTOM_ROLE_NAMES.len(),
        ) {
            (Some(n), 0) => n.to_string(),
            (Some(n), r) => format!("{n} {}", r + 1),
            (None, _) => format!("Custom Role {c}"),
        };
        st.roles.push(Role {
            id: uuid_from_rng(&mut g.rng),
            description: format!("Custom role: {name}."),
            name,
            applicable_to: vec!["ENVIRONMENT".into(), "POPULATION".into()],
            permissions: vec!["permissions:read:users", "permissions:read:groups"],
            custom: true,
            can_be_assigned_by: vec![env_admin.clone(), custom_admin.clone()],
        });
    }
    st.role_by_id = st
        .roles
        .iter()
        .enumerate()
        .map(|(i, r)| (r.id.clone(), i))
        .collect();
    let role = |name: &str| {
        BUILT_IN_ROLES
            .iter()
            .position(|r| r.0 == name)
            .expect("built-in")
    };
    let (ida, idro, helpdesk, envadm, cad, cro) = (
        role("Identity Data Admin"),
        role("Identity Data Read Only"),
        role("Help Desk Admin"),
        role("Environment Admin"),
        role("Client Application Developer"),
        role("Configuration Read Only"),
    );
    let n_builtin = BUILT_IN_ROLES.len();
    let pop_id = |st: &Store, p: Pos| {
        st.populations[p as usize]
            .as_ref()
            .expect("population")
            .id
            .clone()
    };

    // User role assignments (user 0 and 1 forced: ENVIRONMENT read-only,
    // POPULATION scope).
    for i in 0..n_users {
        let forced = i < 2;
        if !forced && !g.chance(cfg.role_assignment_density) {
            continue;
        }
        let upop = st.users[i].as_ref().expect("user").population;
        let n = if forced {
            1
        } else {
            1 + usize::from(g.chance(0.3))
        };
        let mut held: Vec<usize> = Vec::new();
        for a in 0..n {
            let template = if i == 0 {
                0
            } else if i == 1 {
                1
            } else {
                g.below(7)
            };
            let (r, scope) = match template {
                0 => (ida, ScopeType::Environment),
                1 => (idro, ScopeType::Population),
                2 => (helpdesk, ScopeType::Population),
                3 => (envadm, ScopeType::Environment),
                4 => (cad, ScopeType::Environment),
                5 => (cro, ScopeType::Environment),
                _ if cfg.custom_roles > 0 => (
                    n_builtin + g.below(cfg.custom_roles),
                    ScopeType::Environment,
                ),
                _ => (idro, ScopeType::Environment),
            };
            if held.contains(&r) {
                continue;
            }
            held.push(r);
            let scope_id = match scope {
                ScopeType::Population if g.chance(0.8) => pop_id(&st, upop),
                ScopeType::Population => pop_id(&st, g.below(n_pops) as Pos),
                _ => env_id.clone(),
            };
            let read_only = (i == 0 && a == 0) || g.chance(0.1);
            let created = st.users[i].as_ref().expect("user").created_at + g.ms(DAY_MS);
            st.insert_assignment(
                Subject::User(i as Pos),
                r,
                scope,
                scope_id,
                read_only,
                created,
            );
        }
    }
    // Group role assignments (group 0 forced).
    for j in 0..n_groups {
        if j != 0 && !g.chance(cfg.group_role_assignment_fraction) {
            continue;
        }
        let gpop = st.groups[j].as_ref().expect("group").population;
        let (r, scope, scope_id) = match (j, gpop) {
            (0, _) => (envadm, ScopeType::Environment, env_id.clone()),
            (_, Some(p)) => (helpdesk, ScopeType::Population, pop_id(&st, p)),
            _ if g.chance(0.5) => (idro, ScopeType::Environment, env_id.clone()),
            _ => (cad, ScopeType::Environment, env_id.clone()),
        };
        let created = st.groups[j].as_ref().expect("group").created_at + g.ms(DAY_MS);
        let read_only = g.chance(0.1);
        st.insert_assignment(
            Subject::Group(j as Pos),
            r,
            scope,
            scope_id,
            read_only,
            created,
        );
    }
    // The scopes a tenant rarely has but a sync must not lose: one user each
    // with a role at ORGANIZATION scope, at APPLICATION scope, and at the
    // scope of another environment. Added last and without the seeded
    // stream, so every other generated record stays as it was.
    if n_users >= 5 {
        let org_id = st.org_id.clone();
        let other_env = st.other_env_id.clone();
        let app_id = st.new_id();
        let app_owner = role("Application Owner");
        for (i, r, scope, scope_id) in [
            (2usize, envadm, ScopeType::Organization, org_id),
            (3, app_owner, ScopeType::Application, app_id),
            (4, idro, ScopeType::Environment, other_env),
        ] {
            let created = st.users[i].as_ref().expect("user").created_at + DAY_MS;
            st.insert_assignment(Subject::User(i as Pos), r, scope, scope_id, false, created);
        }
    }
    st.version = 0;
    st
}

#[cfg(test)]
mod tests {
    use super::*;

    fn truth(cfg: &SimConfig) -> String {
        serde_json::to_string(&generate(cfg, "http://127.0.0.1:1").ground_truth()).unwrap()
    }

    #[test]
    fn same_seed_same_bytes() {
        let a = truth(&SimConfig::small(42));
        assert_eq!(a, truth(&SimConfig::small(42)));
        assert_ne!(a, truth(&SimConfig::small(43)));
    }

    #[test]
    fn tiny_tenant_has_every_awkward_case() {
        let st = generate(&SimConfig::tiny(3), "http://127.0.0.1:1");
        let gt = st.ground_truth();
        assert_eq!(gt.users.len(), 12);
        assert_eq!(gt.groups.len(), 6);
        assert_eq!(gt.populations.len(), 2);
        assert_eq!(gt.users[1]["enabled"], false);
        assert_eq!(gt.users[2]["account"]["status"], "LOCKED");
        assert_eq!(gt.users[2]["account"]["canAuthenticate"], false);
        assert!(gt.users[3].get("email").is_none());
        assert!(gt.users[4].get("name").is_none());
        assert_eq!(gt.users[5]["name"]["given"], "Zoë");
        // Optional attributes are omitted, never null.
        let text = serde_json::to_string(&gt).unwrap();
        assert!(!text.contains(":null"), "no nulls in payloads");
        assert!(
            gt.users
                .iter()
                .all(|u| u["createdAt"].as_str().unwrap().len() == 24)
        );
        assert!(!gt.nestings.is_empty());
        assert!(gt.groups.iter().any(|g| g.get("population").is_some()));
        assert_eq!(gt.dynamic_group_members.len(), 1);
        assert!(!gt.dynamic_group_members[0].user_ids.is_empty());
        let scopes: Vec<&str> = gt
            .role_assignments
            .iter()
            .map(|a| a.scope.scope_type.as_str())
            .collect();
        for scope in ["ENVIRONMENT", "POPULATION", "ORGANIZATION", "APPLICATION"] {
            assert!(scopes.contains(&scope), "{scope} in {scopes:?}");
        }
        assert!(
            gt.role_assignments
                .iter()
                .any(|a| a.scope.scope_type == "ENVIRONMENT" && a.scope.id != gt.environment.id)
        );
        assert!(gt.role_assignments.iter().any(|a| a.read_only));
        assert!(
            gt.role_assignments
                .iter()
                .any(|a| a.subject_type == "GROUP")
        );
        assert_eq!(
            gt.populations
                .iter()
                .filter(|p| p["default"] == true)
                .count(),
            1
        );
        let counted: u64 = gt
            .populations
            .iter()
            .map(|p| p["userCount"].as_u64().unwrap())
            .sum();
        assert_eq!(counted, 12);
        assert_eq!(gt.roles.len(), BUILT_IN_ROLES.len());
        assert_eq!(gt.custom_roles.len(), 1);
    }

    #[test]
    fn memberships_respect_population_groups() {
        let st = generate(&SimConfig::medium(9), "http://127.0.0.1:1");
        let gt = st.ground_truth();
        assert_eq!(gt.users.len(), 1000);
        let total: usize = st
            .live_users_iter()
            .map(|(_, u)| u.direct_groups.len())
            .sum();
        assert!(total > 3500 && total <= 4000, "{total}");
        for (_, u) in st.live_users_iter() {
            for g in &u.direct_groups {
                let g = st.group(*g).unwrap();
                assert!(g.population.is_none_or(|p| p == u.population));
                assert!(g.user_filter.is_none());
            }
        }
        // No cycles: a group is never its own ancestor through a parent.
        for (gp, g) in st.live_groups() {
            for p in &g.parents {
                assert!(!st.ancestors(*p).contains(&gp));
            }
        }
    }

    #[test]
    fn builtin_role_ids_are_fixed() {
        assert_eq!(
            builtin_role_id("Identity Data Admin"),
            builtin_role_id("Identity Data Admin")
        );
        let st = generate(&SimConfig::tiny(1), "http://127.0.0.1:1");
        let st2 = generate(&SimConfig::tiny(2), "http://127.0.0.1:1");
        assert_eq!(st.roles[0].id, st2.roles[0].id);
        assert!(crate::util::is_uuid(&st.roles[0].id));
    }
}
