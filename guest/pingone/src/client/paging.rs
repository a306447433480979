//! HAL collection paging: decoding a page, and the one rule that moves
//! every listing on, whether it pages within a call ([`Api::list_all`]) or
//! from call to call through page tokens ([`next_page`]).
//!
//! Decisions:
//! - Paging follows `_links.next.href` verbatim until it is absent, never
//!   stopping on a short page (PingOne's `/users` pages can be shorter than
//!   `limit` and still link `next`). An empty page that still links `next`
//!   is allowed a few times, then treated as a loop; a `next` equal to the
//!   page just read is a loop at once.
//! - A collection is decoded in one pass with serde_json: only the wanted
//!   `_embedded` key is materialised, everything else is skipped without
//!   building a tree. A 200 without `_embedded` is a structurally broken
//!   answer and fails with an error naming the endpoint; malformed JSON is
//!   `unavailable` (it may be a truncated body), well-formed JSON of the
//!   wrong shape is `internal`.

use std::fmt;
use std::marker::PhantomData;

use connector_sdk::ConnectorError;
use connector_sdk::http::Response;
use serde::de::{DeserializeOwned, DeserializeSeed, IgnoredAny, MapAccess, Visitor};
use serde::{Deserialize, Deserializer};

use crate::client::api::Api;
use crate::client::errors;

/// Consecutive empty pages that still link `next` before we call it a loop.
pub const MAX_EMPTY_PAGES: u32 = 10;

/// One page of a HAL collection.
#[derive(Debug)]
pub struct Page<T> {
    pub items: Vec<T>,
    /// `_links.next.href`, as sent.
    pub next: Option<String>,
    /// Size of the whole result, when PingOne sent it.
    pub count: Option<u64>,
}

/// The next page to read, with its empty-page streak, or `None` when the
/// listing is done. Only an absent `next` ends a listing; a `next` that
/// points back at the page just read, or a long run of empty pages that
/// keep linking on, is a paging loop.
pub fn next_page<T>(
    api: &Api,
    current: &str,
    page: &Page<T>,
    empty: u32,
    what: &str,
) -> Result<Option<(String, u32)>, ConnectorError> {
    let Some(next) = page.next.as_deref() else {
        return Ok(None);
    };
    let next = api.resolve(next);
    let empty = if page.items.is_empty() { empty + 1 } else { 0 };
    if next == current || empty > MAX_EMPTY_PAGES {
        return Err(loop_error(what));
    }
    Ok(Some((next, empty)))
}

impl Api<'_> {
    /// Reads every page of each listing, all listings advancing together
    /// (one `send_batch` per round). Each listing's outcome is returned in
    /// order, so a caller can tolerate one failing (e.g. a filter PingOne
    /// refuses) without losing the rest.
    pub fn list_all<T: DeserializeOwned>(
        &self,
        key: &str,
        jobs: Vec<(String, String)>,
    ) -> Vec<Result<Vec<T>, ListError>> {
        self.list_all_with(key, jobs, parse_page::<T>)
    }

    /// [`Self::list_all`] with another page decoder (e.g.
    /// [`crate::client::idpage::parse_id_page`] for member and group
    /// listings).
    pub fn list_all_with<T>(
        &self,
        key: &str,
        jobs: Vec<(String, String)>,
        parse: impl Fn(&Response, &str, &str) -> Result<Page<T>, ConnectorError>,
    ) -> Vec<Result<Vec<T>, ListError>> {
        struct Job<T> {
            url: Option<String>,
            what: String,
            items: Vec<T>,
            empty: u32,
            err: Option<ListError>,
        }
        let mut jobs: Vec<Job<T>> = jobs
            .into_iter()
            .map(|(url, what)| Job {
                url: Some(url),
                what,
                items: Vec::new(),
                empty: 0,
                err: None,
            })
            .collect();
        loop {
            let live: Vec<usize> = (0..jobs.len()).filter(|i| jobs[*i].url.is_some()).collect();
            if live.is_empty() {
                break;
            }
            let urls: Vec<String> = live.iter().filter_map(|i| jobs[*i].url.clone()).collect();
            let results = self.send_all(&urls, "listing");
            for (i, res) in live.into_iter().zip(results) {
                let job = &mut jobs[i];
                let url = job.url.take().unwrap_or_default();
                let next = res
                    .map_err(ListError::plain)
                    .and_then(|resp| match resp.is_success() {
                        true => parse(&resp, key, &job.what).map_err(ListError::plain),
                        false => Err(ListError::from_response(&resp, &job.what)),
                    })
                    .and_then(|page| {
                        let next = next_page(self, &url, &page, job.empty, &job.what);
                        job.items.extend(page.items);
                        next.map_err(ListError::plain)
                    });
                match next {
                    Ok(Some((next, empty))) => (job.url, job.empty) = (Some(next), empty),
                    Ok(None) => {}
                    Err(e) => job.err = Some(e),
                }
            }
        }
        jobs.into_iter()
            .map(|j| j.err.map_or(Ok(j.items), Err))
            .collect()
    }

    /// Every page of one listing.
    pub fn list_one<T: DeserializeOwned>(
        &self,
        key: &str,
        url: String,
        what: &str,
    ) -> Result<Vec<T>, ListError> {
        self.list_all::<T>(key, vec![(url, what.to_string())])
            .pop()
            .unwrap_or_else(|| Ok(Vec::new()))
    }
}

/// Decodes a collection page whose items live under `_embedded.<key>`.
pub fn parse_page<T: DeserializeOwned>(
    resp: &Response,
    key: &str,
    what: &str,
) -> Result<Page<T>, ConnectorError> {
    let mut de = serde_json::Deserializer::from_slice(&resp.body);
    let envelope = EnvelopeSeed::<T> {
        key,
        _t: PhantomData,
    };
    let raw = (&mut de)
        .deserialize_map(envelope)
        .and_then(|r| de.end().map(|_| r))
        .map_err(|e| decode_error(e, resp, what))?;
    raw.into_page(resp, key, what)
}

/// Decodes a single object (not a collection).
pub fn parse_one<T: DeserializeOwned>(resp: &Response, what: &str) -> Result<T, ConnectorError> {
    serde_json::from_slice(&resp.body).map_err(|e| decode_error(e, resp, what))
}

fn decode_error(e: serde_json::Error, resp: &Response, what: &str) -> ConnectorError {
    use serde_json::error::Category;
    let msg = format!(
        "{what}: cannot decode the response ({e}): {}",
        resp.body_snippet()
    );
    match e.classify() {
        Category::Data => ConnectorError::Internal(msg),
        Category::Syntax | Category::Eof | Category::Io => ConnectorError::Unavailable(msg),
    }
}

/// Why one listing of [`Api::list_all`] failed.
#[derive(Debug, Clone, PartialEq)]
pub struct ListError {
    pub error: ConnectorError,
    /// PingOne refused the `filter` (400 INVALID_FILTER).
    pub invalid_filter: bool,
}

impl ListError {
    fn plain(error: ConnectorError) -> Self {
        ListError {
            error,
            invalid_filter: false,
        }
    }

    fn from_response(resp: &Response, what: &str) -> Self {
        ListError {
            error: errors::status_error(resp, what),
            invalid_filter: errors::is_invalid_filter(resp),
        }
    }
}

pub fn loop_error(what: &str) -> ConnectorError {
    ConnectorError::Internal(format!(
        "{what}: PingOne keeps linking a next page without progress (a paging loop)"
    ))
}

/// A decoded envelope, before its structural checks.
pub(crate) struct RawPage<T> {
    pub embedded: bool,
    pub items: Option<Vec<T>>,
    pub next: Option<String>,
    pub count: Option<u64>,
    pub size: Option<u64>,
}

impl<T> RawPage<T> {
    /// Nothing seen yet.
    pub(crate) fn new() -> Self {
        RawPage {
            embedded: false,
            items: None,
            next: None,
            count: None,
            size: None,
        }
    }

    /// A 200 without `_embedded`, or without the key on a page that is
    /// not empty, is structurally broken: the error names the endpoint.
    pub(crate) fn into_page(
        self,
        resp: &Response,
        key: &str,
        what: &str,
    ) -> Result<Page<T>, ConnectorError> {
        if !self.embedded {
            return Err(ConnectorError::Internal(format!(
                "{what}: the response has no _embedded (expected _embedded.{key}): {}",
                resp.body_snippet()
            )));
        }
        let items = match self.items {
            Some(items) => items,
            // Tolerate an omitted key only where the page says it is empty.
            None if self.count == Some(0) || self.size == Some(0) => Vec::new(),
            None => {
                return Err(ConnectorError::Internal(format!(
                    "{what}: the response has no _embedded.{key}: {}",
                    resp.body_snippet()
                )));
            }
        };
        Ok(Page {
            items,
            next: self.next,
            count: self.count,
        })
    }
}

#[derive(Deserialize)]
pub(crate) struct Links {
    pub next: Option<Href>,
}

#[derive(Deserialize)]
pub(crate) struct Href {
    pub href: Option<String>,
}

struct EnvelopeSeed<'k, T> {
    key: &'k str,
    _t: PhantomData<T>,
}

impl<'de, T: DeserializeOwned> Visitor<'de> for EnvelopeSeed<'_, T> {
    type Value = RawPage<T>;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a PingOne collection object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut out = RawPage::new();
        while let Some(k) = map.next_key::<std::borrow::Cow<'de, str>>()? {
            match k.as_ref() {
                "_links" => {
                    let links: Option<Links> = map.next_value()?;
                    out.next = links.and_then(|l| l.next).and_then(|n| n.href);
                }
                "_embedded" => {
                    out.embedded = true;
                    out.items = map.next_value_seed(EmbeddedSeed::<T> {
                        key: self.key,
                        _t: PhantomData,
                    })?;
                }
                "count" => out.count = map.next_value()?,
                "size" => out.size = map.next_value()?,
                _ => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        Ok(out)
    }
}

struct EmbeddedSeed<'k, T> {
    key: &'k str,
    _t: PhantomData<T>,
}

impl<'de, T: DeserializeOwned> DeserializeSeed<'de> for EmbeddedSeed<'_, T> {
    type Value = Option<Vec<T>>;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_map(self)
    }
}

impl<'de, T: DeserializeOwned> Visitor<'de> for EmbeddedSeed<'_, T> {
    type Value = Option<Vec<T>>;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("an _embedded object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut items = None;
        while let Some(k) = map.next_key::<std::borrow::Cow<'de, str>>()? {
            if k == self.key {
                items = Some(map.next_value::<Vec<T>>()?);
            } else {
                map.next_value::<IgnoredAny>()?;
            }
        }
        Ok(items)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::client::model::IdOnly;

    fn resp(body: &str) -> Response {
        Response {
            status: 200,
            headers: vec![],
            body: body.as_bytes().to_vec(),
        }
    }

    #[test]
    fn decodes_only_the_wanted_key() {
        let r = resp(
            r#"{"_links":{"self":{"href":"s"},"next":{"href":"https://api/x?cursor=1"}},
                "_embedded":{"other":[{"x":1}],"users":[{"id":"a","n":{"deep":[1,2]}},{"id":"b"}]},
                "count":5,"size":2}"#,
        );

        let p = parse_page::<IdOnly>(&r, "users", "listing users").unwrap();
        assert_eq!(
            p.items.iter().map(|i| i.id.as_str()).collect::<Vec<_>>(),
            ["a", "b"]
        );
        assert_eq!(p.next.as_deref(), Some("https://api/x?cursor=1"));
        assert_eq!(p.count, Some(5));
    }

    #[test]
    fn broken_envelopes_name_the_endpoint() {
        let e =
            parse_page::<IdOnly>(&resp(r#"{"count":3}"#), "users", "listing users").unwrap_err();
        assert!(
            matches!(&e, ConnectorError::Internal(m) if m.starts_with("listing users: the response has no _embedded")),
            "{e:?}"
        );
        let e =
            parse_page::<IdOnly>(&resp(r#"{"_embedded":{},"count":3}"#), "users", "x").unwrap_err();
        assert!(matches!(e, ConnectorError::Internal(_)));
        let p = parse_page::<IdOnly>(&resp(r#"{"_embedded":{},"count":0}"#), "users", "x").unwrap();
        assert!(p.items.is_empty());
        let e = parse_page::<IdOnly>(
            &resp(r#"{"_embedded":{"users":[{"name":"no id"}]}}"#),
            "users",
            "x",
        )
        .unwrap_err();
        assert!(matches!(e, ConnectorError::Internal(_)), "{e:?}");
        let e = parse_page::<IdOnly>(&resp(r#"{"_embedded":{"users":[{"id":"a"}"#), "users", "x")
            .unwrap_err();
        assert!(matches!(e, ConnectorError::Unavailable(_)), "{e:?}");
    }

    #[test]
    fn list_all_follows_next_until_absent_and_spots_loops() {
        use crate::testutil::{host, ok, page, urls};
        let a = urls();
        let p1 = a.group_parents("g");
        let p2 = format!("{p1}&cursor=2");
        let p3 = format!("{p1}&cursor=3");
        let h = host(vec![
            // A short page, then an empty one, both linking on.
            (
                p1.clone(),
                ok(page(
                    "groupMemberships",
                    serde_json::json!([{"id": "a"}]),
                    Some(&p2),
                )),
            ),
            (
                p2.clone(),
                ok(page("groupMemberships", serde_json::json!([]), Some(&p3))),
            ),
            (
                p3.clone(),
                ok(page(
                    "groupMemberships",
                    serde_json::json!([{"id": "b"}]),
                    None,
                )),
            ),
            (
                a.group_parents("loop"),
                ok(page(
                    "groupMemberships",
                    serde_json::json!([]),
                    Some(&a.group_parents("loop")),
                )),
            ),
            (
                a.group_parents("gone"),
                crate::testutil::status(404, serde_json::json!({"code": "NOT_FOUND"})),
            ),
        ]);
        let settings = crate::testutil::settings();
        let api = Api::new(&h, &settings);
        let jobs = ["g", "loop", "gone"]
            .iter()
            .map(|g| (a.group_parents(g), format!("parents of {g}")))
            .collect();
        let mut r = api.list_all::<IdOnly>("groupMemberships", jobs).into_iter();
        let ids: Vec<String> = r
            .next()
            .unwrap()
            .unwrap()
            .into_iter()
            .map(|i| i.id)
            .collect();
        assert_eq!(ids, ["a", "b"]);
        assert!(
            r.next()
                .unwrap()
                .unwrap_err()
                .error
                .message()
                .contains("paging loop")
        );
        assert!(matches!(
            r.next().unwrap().unwrap_err().error,
            ConnectorError::NotFound(_)
        ));
        // All three listings advanced together: 3 requests in the first round.
        assert_eq!(h.requests.borrow().len(), 5);
    }
}
