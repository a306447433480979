//! Page tokens and follow-up tasks: everything a later call needs.
//!
//! Decisions:
//! - No state survives a call, so every piece of deferred work is a token:
//!   a `next` URL for a paged listing, or a follow-up `list-grants` task
//!   (`resource: None`) whose token says what to do ("role assignments of
//!   these 200 users, with their populations"). Tokens are the SDK's
//!   base64url JSON of [`Work`], tagged by kind so one dispatcher routes them.
//! - The groups listing carries the nesting edges it has discovered from page
//!   to page, so that the last page knows every group's children. Edges are
//!   UUID pairs, so that token uses a compact binary form ([`GroupsChain`]):
//!   32 bytes per edge keeps about 1,400 edges under the host's 64 KiB token
//!   cap. Past [`EDGE_BUDGET`] the chain stops carrying edges (`overflow`)
//!   and the membership plan falls back to its children-unknown mode.

use connector_sdk::{ConnectorError, paging};
use serde::{Deserialize, Serialize};

/// Raw bytes of edges a groups-chain token may carry (~60 KiB encoded).
pub const EDGE_BUDGET: usize = 44_000;
/// Host cap on a stored page token.
pub const TOKEN_CAP: usize = 64 << 10;

/// A unit of deferred work, as carried by a page token.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "k")]
pub enum Work {
    /// Next page of `GET /users`.
    #[serde(rename = "users")]
    UsersPage { next: String, empty: u32 },
    /// Next page of `GET /populations`.
    #[serde(rename = "pops")]
    PopulationsPage { next: String, empty: u32 },
    /// Next page of one group's role assignments.
    #[serde(rename = "gra")]
    GroupRolesPage { next: String, empty: u32 },
    /// Role assignments of a chunk of groups (every page of each).
    #[serde(rename = "grs")]
    GroupRoles { groups: Vec<String> },
    /// Role assignments and population grants of one users page.
    #[serde(rename = "ub")]
    UserBatch(UserBatch),
    /// Nesting grants (child group → parent group) found on a groups page.
    #[serde(rename = "nest")]
    Nesting { edges: Vec<(String, String)> },
    /// Members of a group whose listing is unambiguous (a token of an
    /// earlier version: it goes on as a batch of one).
    #[serde(rename = "gm")]
    GroupMembers(GroupMembers),
    /// Members of several such groups, a page of each per call.
    #[serde(rename = "gms")]
    Members { groups: Vec<GroupMembers> },
    /// Groups whose direct members must be told apart from nested or dynamic ones.
    #[serde(rename = "rs")]
    Resolve(ResolveChunk),
    /// Direct memberships of every user of a users page (mode [`Mode::ByUsers`]).
    #[serde(rename = "sweep")]
    Sweep(Sweep),
    /// Per-user DIRECT checks split off a large resolution.
    #[serde(rename = "ck")]
    Check(CheckChunk),
    /// Role entitlements (one per role and scope) for a set of roles.
    #[serde(rename = "re")]
    RoleEntitlements(RoleEntitlements),
    /// One group's user grants, read from the group's side: the per-user
    /// checks still to make (`list-resource-grants`).
    #[serde(rename = "gu")]
    GroupUsers(GroupUsers),
}

/// Where one group's per-user checks go on ([`crate::membership::group_users`]).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GroupUsers {
    /// The last user checked (users are checked in id order).
    pub after: String,
    /// Direct members still to find among the users after it, when the
    /// group's count says.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub left: Option<i64>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct UserBatch {
    /// Population ids, interned.
    pub pops: Vec<String>,
    /// (user id, index into `pops` or `u32::MAX` for none).
    pub users: Vec<(String, u32)>,
}

pub const NO_POPULATION: u32 = u32::MAX;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Sweep {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next: Option<String>,
    #[serde(default)]
    pub empty: u32,
    /// Dynamic groups, whose direct members their resolution reports.
    #[serde(default)]
    pub skip: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GroupMembers {
    pub group: String,
    /// Set for a dynamic group: every member listed is there through this filter.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub filter: Option<String>,
    /// List `GET /users?filter=<filter>` instead of the group's members.
    #[serde(default)]
    pub by_filter: bool,
    /// Population of a population group (restricts its dynamic members).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub population: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next: Option<String>,
    #[serde(default)]
    pub empty: u32,
    /// A resolution task settles this group's members should PingOne
    /// refuse the filter (it may have direct members): the listing then
    /// reports nothing rather than every member as dynamic.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub resolved: bool,
    /// A static group's `directMemberCounts.users`, which the listing
    /// checks (and warns about) but never relies on.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub count: Option<u64>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ResolveGroup {
    pub id: String,
    /// `directMemberCounts.users`, when PingOne reported it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub direct: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub filter: Option<String>,
    /// Population of a population group (restricts its dynamic members).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub population: Option<String>,
    /// Groups nested directly in this one; `None` when unknown (overflow).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub children: Option<Vec<String>>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ResolveChunk {
    pub groups: Vec<ResolveGroup>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CheckChunk {
    pub groups: Vec<String>,
    /// (user id, indexes into `groups` to settle for this user). An index
    /// with [`DYNAMIC_UNLESS_DIRECT`] set names a group whose filter PingOne
    /// refused: the user, if not a direct member, is a dynamic one.
    pub users: Vec<(String, Vec<u32>)>,
    /// Per group, the `userFilter` of a group whose filter was refused.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub filters: Vec<Option<String>>,
}

/// Flag on a [`CheckChunk`] group index: "dynamic member unless direct".
pub const DYNAMIC_UNLESS_DIRECT: u32 = 1 << 31;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RoleSpec {
    pub id: String,
    pub name: String,
    /// Scope types the role can be assigned at (`applicableTo`).
    pub scopes: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RoleEntitlements {
    /// Also emit the entitlements that are not per population (the first
    /// task of a role chunk does; the others carry more populations).
    pub base: bool,
    /// (population id, population name).
    pub pops: Vec<(String, String)>,
    pub roles: Vec<RoleSpec>,
}

impl Work {
    pub fn encode(&self) -> String {
        paging::encode(self)
    }

    pub fn decode(token: &str) -> Result<Work, ConnectorError> {
        paging::decode::<Work>(Some(token))?
            .ok_or_else(|| ConnectorError::InvalidArgument("empty page token".into()))
    }
}

/// How direct memberships of static groups are read (decided at the end of
/// the groups listing, see [`crate::resources::groups`]).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Mode {
    /// Group member listings, set algebra and per-user checks.
    #[default]
    ByGroups,
    /// One DIRECT listing per user (a sweep over all users).
    ByUsers,
}

/// The groups listing's state between pages (pass 1 lists groups and their
/// parents; pass 2 re-lists groups once every edge is known).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct GroupsChain {
    pub pass: u8,
    pub next: Option<String>,
    pub empty: u32,
    /// Pages already read.
    pub pages: u32,
    /// Edges were dropped for size: children are unknown.
    pub overflow: bool,
    /// (child group, parent group).
    pub edges: Vec<(String, String)>,
    pub mode: Mode,
    /// Cost estimate inputs: Σ member pages of static groups with members,
    /// Σ direct members of nested groups, and every edge seen.
    pub static_pages: u64,
    pub nested_direct: u64,
    pub edge_count: u64,
    /// Dynamic groups (their direct members are never read by a sweep).
    pub dynamic: Vec<String>,
}

impl GroupsChain {
    const PREFIX: &'static str = "G.";
    const VERSION: u8 = 2;

    pub fn is_chain_token(token: &str) -> bool {
        token.starts_with(Self::PREFIX)
    }

    /// Encoded size of the edges, to decide when to stop carrying them.
    pub fn edge_bytes(edges: &[(String, String)]) -> usize {
        edges.iter().map(|(a, b)| id_len(a) + id_len(b)).sum()
    }

    pub fn encode(&self) -> String {
        let mut out =
            Vec::with_capacity(96 + Self::edge_bytes(&self.edges) + 17 * self.dynamic.len());
        out.push(Self::VERSION);
        out.push(self.pass);
        out.push(u8::from(self.overflow));
        out.push(match self.mode {
            Mode::ByGroups => 0,
            Mode::ByUsers => 1,
        });
        out.extend_from_slice(&self.empty.to_le_bytes());
        out.extend_from_slice(&self.pages.to_le_bytes());
        for n in [self.static_pages, self.nested_direct, self.edge_count] {
            out.extend_from_slice(&n.to_le_bytes());
        }
        let next = self.next.as_deref().unwrap_or("");
        out.extend_from_slice(&(next.len() as u32).to_le_bytes());
        out.extend_from_slice(next.as_bytes());
        out.extend_from_slice(&(self.edges.len() as u32).to_le_bytes());
        for (a, b) in &self.edges {
            put_id(&mut out, a);
            put_id(&mut out, b);
        }
        out.extend_from_slice(&(self.dynamic.len() as u32).to_le_bytes());
        for d in &self.dynamic {
            put_id(&mut out, d);
        }
        format!("{}{}", Self::PREFIX, b64::encode(&out))
    }

    pub fn decode(token: &str) -> Result<GroupsChain, ConnectorError> {
        let bad = |why: &str| {
            ConnectorError::InvalidArgument(format!("unreadable groups page token: {why}"))
        };
        let body = token
            .strip_prefix(Self::PREFIX)
            .ok_or_else(|| bad("prefix"))?;
        let bytes = b64::decode(body).ok_or_else(|| bad("base64"))?;
        let mut r = Reader { b: &bytes, at: 0 };
        if r.u8()? != Self::VERSION {
            return Err(bad("version"));
        }
        let pass = r.u8()?;
        let overflow = r.u8()? != 0;
        let mode = match r.u8()? {
            0 => Mode::ByGroups,
            1 => Mode::ByUsers,
            _ => return Err(bad("mode")),
        };
        let empty = r.u32()?;
        let pages = r.u32()?;
        let static_pages = r.u64()?;
        let nested_direct = r.u64()?;
        let edge_count = r.u64()?;
        let n = r.u32()? as usize;
        let next = String::from_utf8(r.take(n)?.to_vec()).map_err(|_| bad("utf-8"))?;
        let count = r.u32()? as usize;
        let mut edges = Vec::with_capacity(count.min(1 << 16));
        for _ in 0..count {
            let a = r.id()?;
            let b = r.id()?;
            edges.push((a, b));
        }
        let count = r.u32()? as usize;
        let mut dynamic = Vec::with_capacity(count.min(1 << 16));
        for _ in 0..count {
            dynamic.push(r.id()?);
        }
        if r.at != bytes.len() {
            return Err(bad("trailing bytes"));
        }
        Ok(GroupsChain {
            pass,
            next: (!next.is_empty()).then_some(next),
            empty,
            pages,
            overflow,
            edges,
            mode,
            static_pages,
            nested_direct,
            edge_count,
            dynamic,
        })
    }
}

fn id_len(id: &str) -> usize {
    if uuid_bytes(id).is_some() {
        17
    } else {
        2 + id.len().min(255)
    }
}

/// Tag 0 + 16 bytes for a UUID, tag 1 + length + bytes otherwise.
fn put_id(out: &mut Vec<u8>, id: &str) {
    match uuid_bytes(id) {
        Some(b) => {
            out.push(0);
            out.extend_from_slice(&b);
        }
        None => {
            let s = &id.as_bytes()[..id.len().min(255)];
            out.push(1);
            out.push(s.len() as u8);
            out.extend_from_slice(s);
        }
    }
}

/// The 16 bytes of a lower-case canonical UUID (upper case would not round-trip).
fn uuid_bytes(id: &str) -> Option<[u8; 16]> {
    if !crate::config::is_uuid(id) || id.bytes().any(|c| c.is_ascii_uppercase()) {
        return None;
    }
    let hex: Vec<u8> = id.bytes().filter(|c| *c != b'-').collect();
    let mut out = [0u8; 16];
    for (i, pair) in hex.chunks(2).enumerate() {
        let s = std::str::from_utf8(pair).ok()?;
        out[i] = u8::from_str_radix(s, 16).ok()?;
    }
    Some(out)
}

fn uuid_string(b: &[u8]) -> String {
    let mut s = String::with_capacity(36);
    for (i, byte) in b.iter().enumerate() {
        if matches!(i, 4 | 6 | 8 | 10) {
            s.push('-');
        }
        s.push_str(&format!("{byte:02x}"));
    }
    s
}

struct Reader<'a> {
    b: &'a [u8],
    at: usize,
}

impl<'a> Reader<'a> {
    fn err() -> ConnectorError {
        ConnectorError::InvalidArgument("unreadable groups page token: truncated".into())
    }

    fn take(&mut self, n: usize) -> Result<&'a [u8], ConnectorError> {
        let end = self
            .at
            .checked_add(n)
            .filter(|e| *e <= self.b.len())
            .ok_or_else(Self::err)?;
        let s = &self.b[self.at..end];
        self.at = end;
        Ok(s)
    }

    fn u8(&mut self) -> Result<u8, ConnectorError> {
        Ok(self.take(1)?[0])
    }

    fn u32(&mut self) -> Result<u32, ConnectorError> {
        let s = self.take(4)?;
        Ok(u32::from_le_bytes([s[0], s[1], s[2], s[3]]))
    }

    fn u64(&mut self) -> Result<u64, ConnectorError> {
        let s = self.take(8)?;
        let mut b = [0u8; 8];
        b.copy_from_slice(s);
        Ok(u64::from_le_bytes(b))
    }

    fn id(&mut self) -> Result<String, ConnectorError> {
        match self.u8()? {
            0 => Ok(uuid_string(self.take(16)?)),
            1 => {
                let n = self.u8()? as usize;
                String::from_utf8(self.take(n)?.to_vec()).map_err(|_| Self::err())
            }
            _ => Err(Self::err()),
        }
    }
}

mod b64 {
    use base64::Engine as _;
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;

    pub fn encode(data: &[u8]) -> String {
        URL_SAFE_NO_PAD.encode(data)
    }

    pub fn decode(s: &str) -> Option<Vec<u8>> {
        URL_SAFE_NO_PAD.decode(s).ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn work_round_trips() {
        let w = Work::UserBatch(UserBatch {
            pops: vec!["p".into()],
            users: vec![("u1".into(), 0), ("u2".into(), NO_POPULATION)],
        });
        assert_eq!(Work::decode(&w.encode()).unwrap(), w);
        assert!(Work::decode("!!").is_err());
    }

    #[test]
    fn chain_round_trips_uuids_and_other_ids() {
        let c = GroupsChain {
            pass: 2,
            next: Some("https://api/v1/environments/e/groups?limit=200&cursor=abc".into()),
            empty: 1,
            pages: 3,
            overflow: false,
            mode: Mode::ByUsers,
            static_pages: 7,
            nested_direct: 90,
            edge_count: 2,
            dynamic: vec!["4cd45bdb-0eb2-42fe-8475-4bcd908269f1".into(), "x".into()],
            edges: vec![
                (
                    "8c33d93e-a614-457a-80ed-5e922fccd906".into(),
                    "4cd45bdb-0eb2-42fe-8475-4bcd908269f1".into(),
                ),
                (
                    "not-a-uuid".into(),
                    "ABCDEF00-0000-0000-0000-000000000000".into(),
                ),
            ],
        };
        let t = c.encode();
        assert!(GroupsChain::is_chain_token(&t));
        assert!(!t.contains('+') && !t.contains('/') && !t.contains('='));
        assert_eq!(GroupsChain::decode(&t).unwrap(), c);
        assert_eq!(
            GroupsChain::decode(&GroupsChain::default().encode()).unwrap(),
            GroupsChain::default()
        );
        assert!(GroupsChain::decode("G.AQ").is_err());
        assert!(GroupsChain::decode("G.!!").is_err());
    }

    #[test]
    fn edge_budget_fits_the_token_cap() {
        let id = "8c33d93e-a614-457a-80ed-5e922fccd906".to_string();
        let n = EDGE_BUDGET / 34;
        let c = GroupsChain {
            edges: vec![(id.clone(), id); n],
            next: Some("x".repeat(400)),
            ..Default::default()
        };
        assert!(c.encode().len() < TOKEN_CAP, "{}", c.encode().len());
    }
}
