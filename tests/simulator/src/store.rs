//! The tenant's in-memory state: entity vectors, the indexes that keep the
//! hot paths cheap, and derived membership (direct + nested + dynamic).
//!
//! Entities live in `Vec<Option<T>>` in creation order: a position never
//! changes and a delete leaves a hole, which is what makes position-based
//! cursors stable and lists ordered by creation time (item 7). Derived
//! lists (all users, a filter's result, a group's transitive members, a
//! dynamic group's members) are cached per state version and dropped on any
//! write, so paging through 100k users or a big group costs O(page).

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rand_chacha::ChaCha8Rng;

use crate::activity::ActivityLog;
use crate::config::AuditConfig;
use crate::filter::{AttrVal, Expr, Hint, Target};
use crate::model::{Assignment, Group, Population, Pos, Role, Subject, User};
use crate::util::uuid_from_rng;

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
enum CacheKey {
    AllUsers,
    UserFilter(String),
    Members(Pos),
    Dynamic(Pos),
}

pub struct Store {
    pub seed: u64,
    pub env_id: String,
    pub env_name: String,
    pub org_id: String,
    pub other_env_id: String,
    pub env_created_at: i64,
    /// API base URL (scheme, loopback host, port) for absolute links.
    pub base: String,
    pub populations: Vec<Option<Population>>,
    pub pop_by_id: HashMap<String, Pos>,
    pub users: Vec<Option<User>>,
    pub user_by_id: HashMap<String, Pos>,
    pub user_by_name: HashMap<String, Pos>,
    pub live_users: usize,
    pub groups: Vec<Option<Group>>,
    pub group_by_id: HashMap<String, Pos>,
    pub roles: Vec<Role>,
    pub role_by_id: HashMap<String, usize>,
    pub assignments: Vec<Option<Assignment>>,
    pub ra_by_id: HashMap<String, usize>,
    pub ra_by_subject: HashMap<Subject, Vec<usize>>,
    /// Ids for objects created at runtime (deterministic for a request sequence).
    pub rng: ChaCha8Rng,
    pub version: u64,
    /// Creation instants of objects made at runtime (consistency window).
    pub recent: HashMap<String, Instant>,
    /// Every change applied since start (`/activities`).
    pub audit: ActivityLog,
    caches: Mutex<HashMap<CacheKey, Arc<Vec<Pos>>>>,
}

/// A user seen through the filter engine. A dynamic group's `userFilter`
/// is evaluated without membership support (`members: false`: it cannot
/// refer to groups, which keeps evaluation acyclic).
pub struct UserView<'a> {
    pub store: &'a Store,
    pub user: &'a User,
    pub pos: Pos,
    pub members: bool,
}

impl Target for UserView<'_> {
    fn attr(&self, path: &str) -> Option<AttrVal<'_>> {
        match path {
            "id" => Some(AttrVal::Str(&self.user.id)),
            "population.id" => self
                .store
                .pop(self.user.population)
                .map(|p| AttrVal::Str(&p.id)),
            "enabled" => Some(AttrVal::Bool(self.user.enabled)),
            other => self.user.profile.attr(other).map(AttrVal::Str),
        }
    }

    fn member_of(&self, group_id: &str) -> bool {
        match self.store.group_by_id.get(group_id) {
            Some(&g) if self.members => self.store.members(g).binary_search(&self.pos).is_ok(),
            _ => false,
        }
    }
}

/// The entities of a store vector that were not deleted, with positions.
fn live<T>(v: &[Option<T>]) -> impl Iterator<Item = (Pos, &T)> {
    let all = v.iter().enumerate();
    all.filter_map(|(i, x)| x.as_ref().map(|x| (i as Pos, x)))
}

/// Inserts into a sorted vector; false if already present.
pub fn sorted_insert(v: &mut Vec<Pos>, x: Pos) -> bool {
    match v.binary_search(&x) {
        Ok(_) => false,
        Err(i) => {
            v.insert(i, x);
            true
        }
    }
}

/// Removes from a sorted vector; false if absent.
pub fn sorted_remove(v: &mut Vec<Pos>, x: Pos) -> bool {
    match v.binary_search(&x) {
        Ok(i) => {
            v.remove(i);
            true
        }
        Err(_) => false,
    }
}

impl Store {
    #[allow(clippy::too_many_arguments)]
    pub fn empty(
        seed: u64,
        env_id: String,
        org_id: String,
        other_env_id: String,
        env_created_at: i64,
        base: String,
        rng: ChaCha8Rng,
    ) -> Store {
        Store {
            seed,
            env_name: "Simulated".into(),
            env_id,
            org_id,
            other_env_id,
            env_created_at,
            base,
            populations: Vec::new(),
            pop_by_id: HashMap::new(),
            users: Vec::new(),
            user_by_id: HashMap::new(),
            user_by_name: HashMap::new(),
            live_users: 0,
            groups: Vec::new(),
            group_by_id: HashMap::new(),
            roles: Vec::new(),
            role_by_id: HashMap::new(),
            assignments: Vec::new(),
            ra_by_id: HashMap::new(),
            ra_by_subject: HashMap::new(),
            rng,
            version: 0,
            recent: HashMap::new(),
            audit: ActivityLog::new(seed, AuditConfig::default()),
            caches: Mutex::new(HashMap::new()),
        }
    }

    /// Call after every write: derived lists and rendered users go stale.
    pub fn bump(&mut self) {
        self.version += 1;
        self.caches
            .get_mut()
            .unwrap_or_else(|e| e.into_inner())
            .clear();
    }

    pub fn new_id(&mut self) -> String {
        uuid_from_rng(&mut self.rng)
    }

    pub fn note_created(&mut self, id: &str) {
        if self.recent.len() > 10_000 {
            let cutoff = Duration::from_secs(120);
            self.recent.retain(|_, t| t.elapsed() < cutoff);
        }
        self.recent.insert(id.to_string(), Instant::now());
    }

    /// True while `id` is inside the consistency window after its creation.
    pub fn is_fresh(&self, id: &str, window_ms: u64) -> bool {
        window_ms > 0
            && self
                .recent
                .get(id)
                .is_some_and(|t| t.elapsed() < Duration::from_millis(window_ms))
    }

    pub fn pop(&self, p: Pos) -> Option<&Population> {
        self.populations.get(p as usize).and_then(|x| x.as_ref())
    }

    pub fn user(&self, p: Pos) -> Option<&User> {
        self.users.get(p as usize).and_then(|x| x.as_ref())
    }

    pub fn group(&self, p: Pos) -> Option<&Group> {
        self.groups.get(p as usize).and_then(|x| x.as_ref())
    }

    pub fn user_pos(&self, id: &str) -> Option<Pos> {
        self.user_by_id.get(id).copied()
    }

    pub fn group_pos(&self, id: &str) -> Option<Pos> {
        self.group_by_id.get(id).copied()
    }

    pub fn pop_pos(&self, id: &str) -> Option<Pos> {
        self.pop_by_id.get(id).copied()
    }

    pub fn default_pop(&self) -> Option<Pos> {
        self.populations
            .iter()
            .position(|p| p.as_ref().is_some_and(|p| p.default))
            .map(|i| i as Pos)
    }

    pub fn live_groups(&self) -> impl Iterator<Item = (Pos, &Group)> {
        live(&self.groups)
    }

    pub fn live_users_iter(&self) -> impl Iterator<Item = (Pos, &User)> {
        live(&self.users)
    }

    pub fn live_pops(&self) -> impl Iterator<Item = (Pos, &Population)> {
        live(&self.populations)
    }

    fn cached(&self, key: CacheKey, compute: impl FnOnce() -> Vec<Pos>) -> Arc<Vec<Pos>> {
        if let Some(v) = self
            .caches
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(&key)
        {
            return v.clone();
        }
        // Computed without the lock: computing may itself consult the cache.
        let v = Arc::new(compute());
        let mut c = self.caches.lock().unwrap_or_else(|e| e.into_inner());
        if c.len() > 4096 {
            c.clear();
        }
        c.entry(key).or_insert(v).clone()
    }

    /// Positions of every live user, in creation order.
    pub fn all_users(&self) -> Arc<Vec<Pos>> {
        self.cached(CacheKey::AllUsers, || {
            self.live_users_iter().map(|(p, _)| p).collect()
        })
    }

    /// Users matched by a dynamic group's `userFilter` (restricted to the
    /// group's population for population groups).
    pub fn dynamic_members(&self, g: Pos) -> Arc<Vec<Pos>> {
        self.cached(CacheKey::Dynamic(g), || {
            let Some(group) = self.group(g) else {
                return Vec::new();
            };
            let Some((_, expr)) = &group.user_filter else {
                return Vec::new();
            };
            self.live_users_iter()
                .filter(|(_, u)| group.population.is_none_or(|p| p == u.population))
                .filter(|(p, u)| expr.matches(&self.view(*p, u, false)))
                .map(|(p, _)| p)
                .collect()
        })
    }

    /// The group itself and every group nested in it, transitively.
    pub fn descendants(&self, g: Pos) -> Vec<Pos> {
        self.closure(g, |gr| &gr.children)
    }

    /// The group itself and every group it is nested in, transitively.
    pub fn ancestors(&self, g: Pos) -> Vec<Pos> {
        self.closure(g, |gr| &gr.parents)
    }

    /// `g` and every group reachable from it through `next`, breadth first.
    fn closure(&self, g: Pos, next: impl Fn(&Group) -> &Vec<Pos>) -> Vec<Pos> {
        let mut seen = HashSet::from([g]);
        let mut out = vec![g];
        let mut i = 0;
        while i < out.len() {
            if let Some(gr) = self.group(out[i]) {
                out.extend(next(gr).iter().filter(|c| seen.insert(**c)));
            }
            i += 1;
        }
        out
    }

    /// All members of a group (direct, dynamic, and those of nested groups),
    /// sorted by user position.
    pub fn members(&self, g: Pos) -> Arc<Vec<Pos>> {
        self.cached(CacheKey::Members(g), || {
            let mut all: Vec<Pos> = Vec::new();
            for d in self.descendants(g) {
                if let Some(gr) = self.group(d) {
                    all.extend_from_slice(&gr.direct_members);
                    if gr.user_filter.is_some() {
                        all.extend_from_slice(&self.dynamic_members(d));
                    }
                }
            }
            all.sort_unstable();
            all.dedup();
            all
        })
    }

    /// A user's groups: `(group, direct)` sorted by group position. Indirect
    /// rows come from dynamic filters and from the ancestors of every group
    /// the user is in.
    pub fn user_groups(&self, u: Pos) -> Vec<(Pos, bool)> {
        let Some(user) = self.user(u) else {
            return Vec::new();
        };
        let mut seeds: Vec<Pos> = user.direct_groups.clone();
        for (gp, g) in self.live_groups() {
            if g.user_filter.is_some() && self.dynamic_members(gp).binary_search(&u).is_ok() {
                seeds.push(gp);
            }
        }
        let mut all: HashSet<Pos> = HashSet::new();
        for s in seeds {
            all.extend(self.ancestors(s));
        }
        let mut out: Vec<(Pos, bool)> = all
            .into_iter()
            .map(|g| (g, user.direct_groups.binary_search(&g).is_ok()))
            .collect();
        out.sort_unstable();
        out
    }

    fn view<'a>(&'a self, pos: Pos, user: &'a User, members: bool) -> UserView<'a> {
        UserView {
            store: self,
            user,
            pos,
            members,
        }
    }

    /// Users matched by a parsed `/users` filter, in creation order.
    pub fn filter_users(&self, key: &str, expr: &Expr) -> Arc<Vec<Pos>> {
        self.cached(CacheKey::UserFilter(key.to_string()), || {
            let candidates: Vec<Pos> = match expr.hint() {
                Some(Hint::Id(id)) => self.user_pos(id).into_iter().collect(),
                // In the order a scan finds them, each once.
                Some(Hint::Ids(ids)) => {
                    let mut found: Vec<Pos> =
                        ids.iter().filter_map(|id| self.user_pos(id)).collect();
                    found.sort_unstable();
                    found.dedup();
                    found
                }
                Some(Hint::Username(lc)) => {
                    self.user_by_name.get(lc).copied().into_iter().collect()
                }
                Some(Hint::MemberOf(g)) => match self.group_pos(g) {
                    Some(gp) => self.members(gp).as_ref().clone(),
                    None => Vec::new(),
                },
                None => {
                    let all = self.live_users_iter();
                    let matching = all.filter(|(p, u)| expr.matches(&self.view(*p, u, true)));
                    return matching.map(|(p, _)| p).collect();
                }
            };
            candidates
                .into_iter()
                .filter(|&p| {
                    self.user(p)
                        .is_some_and(|u| expr.matches(&self.view(p, u, true)))
                })
                .collect()
        })
    }

    /// Role assignments of one subject, in creation order.
    pub fn assignments_of(&self, s: Subject) -> Vec<usize> {
        self.ra_by_subject.get(&s).cloned().unwrap_or_default()
    }

    pub fn role_index(&self, id: &str) -> Option<usize> {
        self.role_by_id.get(id).copied()
    }
}
