//! Scripted tenant changes: a random but seed-determined sequence of the
//! writes an administrator makes, applied through the same store
//! operations the API uses, so each one validates, mutates and records its
//! activities exactly as an API write would (attributed to a console
//! administrator, one correlation id per change).
//!
//! It exists for incremental-sync tests: sync fully, apply a sequence,
//! then compare an incremental sync (driven by `/activities`) with a fresh
//! full sync. The sequence covers every change an incremental sync must
//! notice (each [`ChangeKind`]), including attribute changes that move
//! users in and out of dynamic groups (flagged in the report).
//!
//! A step that does not apply to the current tenant (nothing to remove, a
//! duplicate, a cycle) is redrawn, so `steps` changes are applied unless
//! the tenant runs out of candidates.

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};

use crate::activity::Actor;
use crate::config::{DuplicateMembership, Faults};
use crate::model::{Group, Population, Pos, Subject, User, merge_patch};
use crate::store::Store;

/// What one applied change was.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ChangeKind {
    CreateUser,
    UpdateUser,
    /// An attribute a dynamic group's `userFilter` reads.
    DynamicAttribute,
    DisableUser,
    EnableUser,
    LockUser,
    UnlockUser,
    MoveUser,
    DeleteUser,
    AddMembership,
    RemoveMembership,
    Nest,
    Unnest,
    AssignUserRole,
    AssignGroupRole,
    RemoveRoleAssignment,
    CreateGroup,
    UpdateGroup,
    DeleteGroup,
    CreatePopulation,
    DeletePopulation,
}

const WEIGHTS: &[(ChangeKind, u32)] = &[
    (ChangeKind::CreateUser, 8),
    (ChangeKind::UpdateUser, 6),
    (ChangeKind::DynamicAttribute, 10),
    (ChangeKind::DisableUser, 4),
    (ChangeKind::EnableUser, 3),
    (ChangeKind::LockUser, 1),
    (ChangeKind::UnlockUser, 1),
    (ChangeKind::MoveUser, 5),
    (ChangeKind::DeleteUser, 3),
    (ChangeKind::AddMembership, 12),
    (ChangeKind::RemoveMembership, 8),
    (ChangeKind::Nest, 4),
    (ChangeKind::Unnest, 3),
    (ChangeKind::AssignUserRole, 5),
    (ChangeKind::AssignGroupRole, 3),
    (ChangeKind::RemoveRoleAssignment, 4),
    (ChangeKind::CreateGroup, 3),
    (ChangeKind::UpdateGroup, 3),
    (ChangeKind::DeleteGroup, 2),
    (ChangeKind::CreatePopulation, 2),
    (ChangeKind::DeletePopulation, 2),
];

/// Filters the scripted dynamic groups use: attributes the
/// [`ChangeKind::DynamicAttribute`] step toggles.
const DYNAMIC_FILTERS: &[&str] = &[
    "title eq \"Manager\"",
    "department eq \"Sales\" and enabled eq true",
    "(address.countryCode eq \"US\") or (address.countryCode eq \"CA\")",
    "name.family sw \"S\"",
    "email ew \"@example.org\"",
];

/// One change as applied.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AppliedChange {
    pub step: usize,
    pub kind: ChangeKind,
    /// The ids the change touched (subject first).
    pub ids: Vec<String>,
    /// The change moved the user in or out of a dynamic group.
    #[serde(default)]
    pub moves_dynamic_membership: bool,
}

/// Request body of `POST /__sim/changes`.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct ChangeRequest {
    pub seed: u64,
    pub steps: usize,
}

struct Script<'a> {
    st: &'a mut Store,
    rng: ChaCha8Rng,
    seed: u64,
    step: usize,
}

/// Applies `steps` random changes chosen by `seed` to the store.
pub fn apply_random_changes(st: &mut Store, seed: u64, steps: usize) -> Vec<AppliedChange> {
    apply_weighted_changes(st, seed, steps, WEIGHTS)
}

/// Like [`apply_random_changes`], drawing kinds by `weights` instead of the
/// default mix, which exercises every kind (populations included) rather
/// than resembling a day's administration: benchmarks pass their own mix.
pub fn apply_weighted_changes(
    st: &mut Store,
    seed: u64,
    steps: usize,
    weights: &[(ChangeKind, u32)],
) -> Vec<AppliedChange> {
    let total: u32 = weights.iter().map(|(_, w)| w).sum();
    if total == 0 {
        return Vec::new();
    }
    let mut s = Script {
        st,
        rng: ChaCha8Rng::seed_from_u64(seed ^ 0x6368_616e_6765),
        seed,
        step: 0,
    };
    let mut out = Vec::with_capacity(steps);
    while s.step < steps {
        let Some(change) = (0..200).find_map(|_| s.draw(weights, total)) else {
            break;
        };
        out.push(change);
        s.step += 1;
    }
    out
}

type Outcome = Option<(Vec<String>, bool)>;

/// The positions of the live entities `keep` accepts.
fn kept<'a, T: 'a>(
    live: impl Iterator<Item = (Pos, &'a T)>,
    keep: impl Fn(&T) -> bool,
) -> Vec<Pos> {
    live.filter(|(_, x)| keep(x)).map(|(p, _)| p).collect()
}

impl Script<'_> {
    /// Draws a kind by weight and applies it; `None` when it does not apply.
    fn draw(&mut self, weights: &[(ChangeKind, u32)], total: u32) -> Option<AppliedChange> {
        let roll = self.rng.random_range(0..total);
        let mut upto = 0;
        let &(kind, _) = weights.iter().find(|(_, w)| {
            upto += w;
            roll < upto
        })?;
        self.st.audit.begin(Actor::ConsoleAdmin);
        let (ids, moves_dynamic_membership) = self.try_apply(kind)?;
        Some(AppliedChange {
            step: self.step,
            kind,
            ids,
            moves_dynamic_membership,
        })
    }

    fn pick<T: Copy>(&mut self, items: &[T]) -> Option<T> {
        (!items.is_empty()).then(|| items[self.rng.random_range(0..items.len())])
    }

    fn users(&self, keep: impl Fn(&User) -> bool) -> Vec<Pos> {
        kept(self.st.live_users_iter(), keep)
    }

    fn groups(&self, keep: impl Fn(&Group) -> bool) -> Vec<Pos> {
        kept(self.st.live_groups(), keep)
    }

    fn pops(&self, keep: impl Fn(&Population) -> bool) -> Vec<Pos> {
        kept(self.st.live_pops(), keep)
    }

    fn user_id(&self, u: Pos) -> String {
        self.st.user(u).map(|x| x.id.clone()).unwrap_or_default()
    }

    fn group_id(&self, g: Pos) -> String {
        self.st.group(g).map(|x| x.id.clone()).unwrap_or_default()
    }

    fn pop_id(&self, p: Pos) -> String {
        self.st.pop(p).map(|x| x.id.clone()).unwrap_or_default()
    }

    fn tag(&self) -> String {
        format!("{}-{}", self.seed, self.step)
    }

    /// Runs a user change and reports whether dynamic membership moved.
    fn on_user(&mut self, u: Pos, change: impl FnOnce(&mut Store) -> Option<()>) -> Outcome {
        let id = self.user_id(u);
        let before = self.st.dynamic_groups_of(u);
        change(self.st)?;
        // No user change here deletes the user.
        Some((vec![id], self.st.dynamic_groups_of(u) != before))
    }

    fn patch(&mut self, u: Pos, body: Value) -> Outcome {
        let Value::Object(obj) = body else {
            return None;
        };
        // A patch that changes nothing is no change: redraw.
        let current = self.st.user(u)?.profile.to_json();
        let mut merged = current.clone();
        merge_patch(&mut merged, &obj);
        if merged == current {
            return None;
        }
        let faults = Faults::default();
        self.on_user(u, |st| st.patch_user(u, &obj, &faults).ok())
    }

    fn try_apply(&mut self, kind: ChangeKind) -> Outcome {
        match kind {
            ChangeKind::CreateUser => {
                let pop = self.pick(&self.pops(|_| true))?;
                let tag = self.tag();
                let mut body = json!({
                    "username": format!("changed.user.{tag}"),
                    "email": format!("changed.user.{tag}@example.com"),
                    "name": { "given": "Changed", "family": "Person" },
                    "population": { "id": self.pop_id(pop) },
                });
                if self.rng.random_bool(0.3) {
                    body["title"] = json!("Manager");
                }
                if self.rng.random_bool(0.3) {
                    body["department"] = json!("Sales");
                }
                let obj = body.as_object().cloned().unwrap_or_default();
                let pos = self.st.create_user(&obj, false, &Faults::default()).ok()?;
                let moves = !self.st.dynamic_groups_of(pos).is_empty();
                Some((vec![self.user_id(pos)], moves))
            }
            ChangeKind::UpdateUser => {
                let u = self.pick(&self.users(|_| true))?;
                let body = match self.rng.random_range(0..3) {
                    0 => json!({ "nickname": format!("nick-{}", self.tag()) }),
                    1 => json!({ "mobilePhone": format!("+1 555 01{:02}", self.step % 100) }),
                    _ => json!({ "name": { "given": format!("Given{}", self.step) } }),
                };
                self.patch(u, body)
            }
            ChangeKind::DynamicAttribute => {
                let u = self.pick(&self.users(|_| true))?;
                let flip = self.rng.random_bool(0.5);
                let body = match self.rng.random_range(0..5) {
                    0 => json!({ "title": if flip { "Manager" } else { "Engineer" } }),
                    1 => json!({ "department": if flip { "Sales" } else { "Support" } }),
                    2 => json!({ "address": { "countryCode": if flip { "US" } else { "DE" } } }),
                    3 => json!({ "name": { "family": if flip { "Smith" } else { "Ortiz" } } }),
                    _ => {
                        let user = self.st.user(u)?.profile.username.clone();
                        let local: String = user
                            .chars()
                            .filter(|c| c.is_ascii_alphanumeric() || *c == '.')
                            .collect();
                        let domain = if flip { "example.org" } else { "example.com" };
                        json!({ "email": format!("{local}@{domain}") })
                    }
                };
                self.patch(u, body)
            }
            ChangeKind::DisableUser | ChangeKind::EnableUser => {
                let enable = kind == ChangeKind::EnableUser;
                let u = self.pick(&self.users(|x| x.enabled != enable))?;
                self.on_user(u, |st| {
                    st.set_enabled(u, enable);
                    Some(())
                })
            }
            ChangeKind::LockUser | ChangeKind::UnlockUser => {
                let lock = kind == ChangeKind::LockUser;
                let u = self.pick(&self.users(|x| x.locked_at.is_some() != lock))?;
                self.on_user(u, |st| {
                    st.set_locked(u, lock);
                    Some(())
                })
            }
            ChangeKind::MoveUser => {
                let u = self.pick(&self.users(|_| true))?;
                let from = self.pop_id(self.st.user(u)?.population);
                let to = self.pick(&self.pops(|p| p.id != from))?;
                let to_id = self.pop_id(to);
                let (mut ids, moves) = self.on_user(u, |st| st.move_user(u, &to_id).ok())?;
                ids.push(to_id);
                Some((ids, moves))
            }
            ChangeKind::DeleteUser => {
                let u = self.pick(&self.users(|_| true))?;
                let id = self.user_id(u);
                self.st.delete_user(u);
                Some((vec![id], false))
            }
            ChangeKind::AddMembership => {
                let u = self.pick(&self.users(|_| true))?;
                let g = self.pick(&self.groups(|g| g.user_filter.is_none()))?;
                self.st
                    .add_membership(u, g, DuplicateMembership::Reject400)
                    .ok()?;
                Some((vec![self.user_id(u), self.group_id(g)], false))
            }
            ChangeKind::RemoveMembership => {
                let u = self.pick(&self.users(|x| !x.direct_groups.is_empty()))?;
                let g = self.pick(&self.st.user(u)?.direct_groups.clone())?;
                self.st.remove_membership(u, g).then_some(())?;
                Some((vec![self.user_id(u), self.group_id(g)], false))
            }
            ChangeKind::Nest => {
                let all = self.groups(|_| true);
                let (c, p) = (self.pick(&all)?, self.pick(&all)?);
                self.st.nest(c, p, DuplicateMembership::Reject400).ok()?;
                Some((vec![self.group_id(c), self.group_id(p)], false))
            }
            ChangeKind::Unnest => {
                let c = self.pick(&self.groups(|g| !g.parents.is_empty()))?;
                let p = self.pick(&self.st.group(c)?.parents.clone())?;
                self.st.unnest(c, p).then_some(())?;
                Some((vec![self.group_id(c), self.group_id(p)], false))
            }
            ChangeKind::AssignUserRole | ChangeKind::AssignGroupRole => {
                let subject = if kind == ChangeKind::AssignUserRole {
                    Subject::User(self.pick(&self.users(|_| true))?)
                } else {
                    Subject::Group(self.pick(&self.groups(|_| true))?)
                };
                let roles: Vec<usize> = (0..self.st.roles.len()).collect();
                let role = self.pick(&roles)?;
                let scopes = self.st.roles[role].applicable_to.clone();
                let scope_type = scopes.get(self.rng.random_range(0..scopes.len().max(1)))?;
                let scope_id = match scope_type.as_str() {
                    "ORGANIZATION" => self.st.org_id.clone(),
                    "ENVIRONMENT" => self.st.env_id.clone(),
                    "POPULATION" => {
                        let p = self.pick(&self.pops(|_| true))?;
                        self.pop_id(p)
                    }
                    _ => crate::util::uuid_from_rng(&mut self.rng),
                };
                let body = json!({
                    "role": { "id": self.st.roles[role].id },
                    "scope": { "id": scope_id, "type": scope_type },
                });
                let obj = body.as_object().cloned().unwrap_or_default();
                let idx = self.st.create_assignment(subject, &obj).ok()?;
                let ra = self.st.assignments[idx].as_ref()?.id.clone();
                let who = match subject {
                    Subject::User(u) => self.user_id(u),
                    Subject::Group(g) => self.group_id(g),
                };
                Some((vec![who, ra], false))
            }
            ChangeKind::RemoveRoleAssignment => {
                let assignments = &self.st.assignments;
                let removable: Vec<usize> = (0..assignments.len())
                    .filter(|&i| assignments[i].as_ref().is_some_and(|a| !a.read_only))
                    .collect();
                let idx = self.pick(&removable)?;
                let ra = self.st.assignments[idx].as_ref()?.id.clone();
                self.st.delete_assignment(idx).ok()?;
                Some((vec![ra], false))
            }
            ChangeKind::CreateGroup => {
                let mut body = Map::new();
                body.insert(
                    "name".into(),
                    json!(format!("Changed group {}", self.tag())),
                );
                match self.rng.random_range(0..4) {
                    0 => {
                        let p = self.pick(&self.pops(|_| true))?;
                        body.insert("population".into(), json!({ "id": self.pop_id(p) }));
                    }
                    1 => {
                        let f = self.pick(DYNAMIC_FILTERS)?;
                        body.insert("userFilter".into(), json!(f));
                    }
                    _ => {}
                }
                let g = self.st.create_group(&body).ok()?;
                Some((vec![self.group_id(g)], false))
            }
            ChangeKind::UpdateGroup => {
                let g = self.pick(&self.groups(|_| true))?;
                let group = self.st.group(g)?;
                let Value::Object(mut body) = self.st.group_json(g, group, false, false) else {
                    return None;
                };
                let dynamic = group.user_filter.is_some();
                if dynamic && self.rng.random_bool(0.5) {
                    let f = self.pick(DYNAMIC_FILTERS)?;
                    body.insert("userFilter".into(), json!(f));
                } else {
                    body.insert(
                        "description".into(),
                        json!(format!("Changed at step {}", self.tag())),
                    );
                }
                self.st.replace_group(g, &body).ok()?;
                Some((vec![self.group_id(g)], false))
            }
            ChangeKind::DeleteGroup => {
                let g = self.pick(&self.groups(|_| true))?;
                let id = self.group_id(g);
                self.st.delete_group(g);
                Some((vec![id], false))
            }
            ChangeKind::CreatePopulation => {
                let body = json!({ "name": format!("Changed population {}", self.tag()) });
                let obj = body.as_object().cloned().unwrap_or_default();
                let p = self.st.create_population(&obj).ok()?;
                Some((vec![self.pop_id(p)], false))
            }
            ChangeKind::DeletePopulation => {
                let p = self.pick(&self.pops(|p| !p.default && p.user_count == 0))?;
                let id = self.pop_id(p);
                self.st.delete_population(p).ok()?;
                Some((vec![id], false))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::SimConfig;

    fn store(seed: u64) -> Store {
        crate::generator::generate(&SimConfig::small(seed), "http://127.0.0.1:0")
    }

    #[test]
    fn the_same_seed_applies_the_same_changes() {
        let (mut a, mut b) = (store(5), store(5));
        let ca = apply_random_changes(&mut a, 11, 120);
        let cb = apply_random_changes(&mut b, 11, 120);
        assert_eq!(ca.len(), 120);
        assert_eq!(ca, cb);
        let strip = |s: &Store| {
            let mut v = serde_json::to_value(s.ground_truth()).unwrap();
            // Timestamps are wall-clock; everything else must agree.
            fn scrub(v: &mut Value) {
                match v {
                    Value::Object(m) => {
                        m.remove("createdAt");
                        m.remove("updatedAt");
                        m.remove("lockedAt");
                        m.values_mut().for_each(scrub);
                    }
                    Value::Array(a) => a.iter_mut().for_each(scrub),
                    _ => {}
                }
            }
            scrub(&mut v);
            v
        };
        assert_eq!(strip(&a), strip(&b));
        assert_ne!(ca, apply_random_changes(&mut store(5), 12, 120));
    }

    #[test]
    fn a_weighted_mix_draws_only_its_kinds() {
        let weights = [(ChangeKind::UpdateUser, 3), (ChangeKind::AddMembership, 1)];
        let changes = apply_weighted_changes(&mut store(4), 2, 80, &weights);
        assert_eq!(changes.len(), 80);
        assert!(changes.iter().any(|c| c.kind == ChangeKind::UpdateUser));
        assert!(changes.iter().any(|c| c.kind == ChangeKind::AddMembership));
        assert!(
            changes
                .iter()
                .all(|c| matches!(c.kind, ChangeKind::UpdateUser | ChangeKind::AddMembership))
        );
        assert!(apply_weighted_changes(&mut store(4), 2, 5, &[]).is_empty());
    }

    #[test]
    fn a_long_sequence_covers_every_kind_and_records_each_change() {
        let mut st = store(9);
        let before = st.audit.all().len();
        let changes = apply_random_changes(&mut st, 3, 600);
        assert_eq!(changes.len(), 600);
        for (kind, _) in WEIGHTS {
            assert!(
                changes.iter().any(|c| c.kind == *kind),
                "{kind:?} never applied"
            );
        }
        assert!(changes.iter().any(|c| c.moves_dynamic_membership));
        // Role assignments at every scope type, to users and to groups.
        for scope in ["ORGANIZATION", "ENVIRONMENT", "POPULATION", "APPLICATION"] {
            for principal in ["USER", "GROUP"] {
                assert!(
                    st.audit.all().iter().any(|a| {
                        a.draft.action_type == "ROLE_ASSIGNMENT.CREATED"
                            && a.draft.resource.kind == principal
                            && a.draft
                                .description
                                .contains(&format!("scoped for {scope} "))
                    }),
                    "no {principal} assignment at {scope}"
                );
            }
        }
        // Default audit config: nesting leaves no record, so every other
        // change records at least one activity, all by the console admin.
        let recorded = st.audit.all().len() - before;
        let silent = changes
            .iter()
            .filter(|c| matches!(c.kind, ChangeKind::Nest | ChangeKind::Unnest))
            .count();
        assert!(recorded >= changes.len() - silent, "{recorded}");
        assert!(
            st.audit
                .all()
                .iter()
                .all(|a| a.actor == Actor::ConsoleAdmin)
        );
        let correlations: std::collections::HashSet<&str> = st
            .audit
            .all()
            .iter()
            .map(|a| a.correlation_id.as_str())
            .collect();
        assert_eq!(correlations.len(), changes.len() - silent);
    }
}
