//! The one skeleton every collection handler follows (§4.1, §5.1,
//! checklist items 5–7): read the query, parse and vet `filter` against the
//! collection's schema, read `limit` and `cursor`, then (once the handler
//! has chosen the items) cut the page and render PingOne's HAL envelope.
//!
//! Keeping it in one place is what keeps the listings consistent with the
//! reference and with each other: the order of the checks (a bad filter is
//! reported before a bad `limit` or `cursor`), the traversal a cursor is
//! bound to (the collection, its parent and the filter text, so a cursor
//! replayed elsewhere is refused), and the envelope bytes. A handler only
//! says what its collection is, which items match, and how one item renders.
//!
//! `_links.self` is the absolute request URL; `next`/`prev` keep the
//! original query (filter, limit, expand: as sent) and swap in a new
//! `cursor`. `count` is the size of the whole result, `size` the items on
//! this page (the audit log, which does not promise them, leaves both out).
//! The page size is `min(limit or default, cap)`; `limit` outside 1..=1000
//! or not an integer is 400 INVALID_DATA, and so is any `limit` on a
//! collection whose `limit` the reference does not document
//! ([`limit_documented`]). With the short-pages fault a page holds fewer
//! items than that and still links `next`.

use axum::body::Bytes;
use axum::http::{StatusCode, Uri};
use axum::response::Response;
use serde_json::{Value, json};

use crate::AppState;
use crate::cursor::CursorCodec;
use crate::errors::{ApiResult, Detail};
use crate::filter::{self, Expr, Schema};
use crate::routes::hal_bytes;
use crate::util::push_json_str;

/// Decoded query parameters (first value wins) plus the raw query.
pub struct Params {
    pairs: Vec<(String, String)>,
    raw: String,
}

impl Params {
    pub fn from_uri(uri: &Uri) -> Params {
        let raw = uri.query().unwrap_or("").to_string();
        let pairs = url::form_urlencoded::parse(raw.as_bytes())
            .map(|(k, v)| (k.into_owned(), v.into_owned()))
            .collect();
        Params { pairs, raw }
    }

    pub fn get(&self, k: &str) -> Option<&str> {
        self.pairs
            .iter()
            .find(|(a, _)| a == k)
            .map(|(_, v)| v.as_str())
    }

    /// True when a comma-separated parameter (`expand`, `include`) lists `v`.
    pub fn lists(&self, k: &str, v: &str) -> bool {
        self.pairs
            .iter()
            .filter(|(a, _)| a == k)
            .any(|(_, x)| x.split(',').any(|p| p.trim().eq_ignore_ascii_case(v)))
    }
}

/// Whether the reference documents `limit` on a collection path
/// (pingone-api.md §3, §5.1, §11): on users, groups, populations, both
/// `memberOfGroups` listings and activities (pingone-activities.md §1.1);
/// not on role assignments or roles. Where it is undocumented, PingOne's
/// answer to one is unconfirmed, so the strict reading: 400 INVALID_DATA
/// with detail `INVALID_PARAMETER` targeting `limit`.
fn limit_documented(path: &str) -> bool {
    matches!(
        path.rsplit('/').next(),
        Some("users" | "groups" | "populations" | "memberOfGroups" | "activities")
    )
}

/// What a collection is, for the skeleton.
pub struct ListSpec<'a> {
    /// Names the traversal a cursor belongs to (`"users"`, `"userGroups"`).
    pub kind: &'a str,
    /// The id of the object the collection hangs under, if any.
    pub parent: Option<&'a str>,
    /// The filter schema; `None` for a collection that takes no `filter`
    /// (a `filter` parameter is then ignored).
    pub schema: Option<&'static Schema>,
    /// The collection's page cap.
    pub page_max: usize,
    /// The page size when no `limit` is sent; `None` = the cap.
    pub page_default: Option<usize>,
    /// Whether the envelope carries `count` and `size`.
    pub counts: bool,
}

impl<'a> ListSpec<'a> {
    /// A top-level collection with a filter schema.
    pub fn filtered(kind: &'a str, schema: &'static Schema, page_max: usize) -> Self {
        ListSpec {
            schema: Some(schema),
            ..Self::plain(kind, page_max)
        }
    }

    /// A collection without a filter.
    pub fn plain(kind: &'a str, page_max: usize) -> Self {
        ListSpec {
            kind,
            parent: None,
            schema: None,
            page_max,
            page_default: None,
            counts: true,
        }
    }

    /// The same collection under a parent object.
    pub fn under(mut self, parent: &'a str) -> Self {
        self.parent = Some(parent);
        self
    }
}

/// One parsed list request.
pub struct Listing {
    pub params: Params,
    pub filter: Option<Expr>,
    /// Items on a full page.
    size: usize,
    /// Position the page starts at (from the cursor).
    start: Option<u32>,
    traversal: u32,
    counts: bool,
    self_href: String,
    /// `next`/`prev` links: this prefix plus a cursor.
    next_prefix: String,
    codec: CursorCodec,
}

impl Listing {
    /// Parses the query for `spec`.
    pub fn parse(app: &AppState, uri: &Uri, spec: ListSpec<'_>) -> ApiResult<Listing> {
        Self::parse_vetted(app, uri, spec, |_| Ok(())).map(|(l, ())| l)
    }

    /// Parses the query; `vet` sees the parsed filter before `limit` and
    /// `cursor` are read, may refuse it, and may derive something from it
    /// (a collection's own rules beyond the schema).
    pub fn parse_vetted<V>(
        app: &AppState,
        uri: &Uri,
        spec: ListSpec<'_>,
        vet: impl FnOnce(Option<&Expr>) -> ApiResult<V>,
    ) -> ApiResult<(Listing, V)> {
        let params = Params::from_uri(uri);
        let filter_text = params.get("filter");
        let filter = match (spec.schema, filter_text) {
            (Some(schema), Some(f)) => Some(filter::parse(f, schema).map_err(|e| {
                Detail::new("INVALID_FILTER", Some("filter"), &e.message).inner(json!({
                    "supportedAttributes": schema.supported_attributes(),
                    "supportedOperators": schema.supported_operators(),
                }))
            })?),
            _ => None,
        };
        let vetted = vet(filter.as_ref())?;

        let max = spec.page_max;
        let size = match params.get("limit") {
            None => spec.page_default.unwrap_or(max).min(max),
            Some(_) if app.faults.get().refuse_limit || !limit_documented(uri.path()) => {
                return Err(Detail::new(
                    "INVALID_PARAMETER",
                    Some("limit"),
                    "limit is not a supported query parameter for this resource",
                )
                .into());
            }
            Some(s) => match s.parse::<i64>() {
                Ok(n) if (1..=1000).contains(&n) => (n as usize).min(max),
                Ok(_) => {
                    return Err(Detail::new(
                        "OUT_OF_RANGE",
                        Some("limit"),
                        "limit must be between 1 and 1000",
                    )
                    .inner(json!({ "rangeMinimumValue": 1, "rangeMaximumValue": 1000 }))
                    .into());
                }
                Err(_) => {
                    return Err(Detail::invalid_value("limit", "limit must be an integer").into());
                }
            },
        };

        let mut traversal = vec![spec.kind];
        traversal.extend(spec.parent);
        if spec.schema.is_some() {
            traversal.push(filter_text.unwrap_or(""));
        }
        let codec = app.codec;
        let traversal = codec.traversal(&traversal);
        let start = match params.get("cursor") {
            None => None,
            Some(c) => Some(
                codec
                    .decode(c, traversal)
                    .ok_or_else(|| Detail::invalid_value("cursor", "The cursor is not valid."))?,
            ),
        };

        let path = format!("{}{}", app.api_base, uri.path());
        let self_href = match params.raw.as_str() {
            "" => path.clone(),
            raw => format!("{path}?{raw}"),
        };
        let rest: Vec<&str> = params
            .raw
            .split('&')
            .filter(|p| !p.is_empty() && !p.starts_with("cursor=") && *p != "cursor")
            .collect();
        let next_prefix = match rest.join("&") {
            rest if rest.is_empty() => format!("{path}?cursor="),
            rest => format!("{path}?{rest}&cursor="),
        };
        let f = app.faults.get();
        let size = match app.faults.short_page(&f, size) {
            Some(short) => {
                app.stats.fault(|f| &mut f.short_pages);
                short
            }
            None => size,
        };
        let listing = Listing {
            params,
            filter,
            size,
            start,
            traversal,
            counts: spec.counts,
            self_href,
            next_prefix,
            codec,
        };
        Ok((listing, vetted))
    }

    /// The page of `items` (sorted by `pos`, the store position a cursor
    /// points at) rendered one JSON value per item. `count` is every item,
    /// `size` the page's share of them.
    pub fn respond<T>(
        &self,
        key: &str,
        items: &[T],
        pos: impl Fn(&T) -> u32,
        render: impl FnMut(&T) -> Option<Value>,
    ) -> Response {
        self.respond_repeating(key, items, pos, |_| false, render)
    }

    /// Like [`Listing::respond`]; when `repeat_last` holds for the page's
    /// last item, the next page starts with it again (a duplicate delivery).
    pub fn respond_repeating<T>(
        &self,
        key: &str,
        items: &[T],
        pos: impl Fn(&T) -> u32,
        repeat_last: impl Fn(&T) -> bool,
        mut render: impl FnMut(&T) -> Option<Value>,
    ) -> Response {
        let to_bytes =
            |t: &T| render(t).map(|v| Bytes::from(serde_json::to_vec(&v).unwrap_or_default()));
        self.page(key, items, pos, repeat_last, to_bytes)
    }

    /// Like [`Listing::respond`] with items already rendered to bytes (the
    /// users hot path: cached bytes, one exact allocation, memcpy).
    pub fn respond_bytes<T>(
        &self,
        key: &str,
        items: &[T],
        pos: impl Fn(&T) -> u32,
        render: impl FnMut(&T) -> Option<Bytes>,
    ) -> Response {
        self.page(key, items, pos, |_| false, render)
    }

    /// Cuts the page out of `items` and writes the envelope around it;
    /// `prev` steps back one requested page.
    fn page<T>(
        &self,
        key: &str,
        items: &[T],
        pos: impl Fn(&T) -> u32,
        repeat_last: impl Fn(&T) -> bool,
        render: impl FnMut(&T) -> Option<Bytes>,
    ) -> Response {
        let from = self
            .start
            .map_or(0, |s| items.partition_point(|x| pos(x) < s));
        let to = (from + self.size).min(items.len());
        let link = |i: usize| {
            let cursor = self.codec.encode(pos(&items[i]), self.traversal);
            format!("{}{cursor}", self.next_prefix)
        };
        let resume = if to > from + 1 && repeat_last(&items[to - 1]) {
            to - 1
        } else {
            to
        };
        let next = (to < items.len()).then(|| link(resume));
        let prev = (from > 0).then(|| link(from.saturating_sub(self.size)));

        let rendered: Vec<Bytes> = items[from..to].iter().filter_map(render).collect();
        let len: usize = rendered.iter().map(|b| b.len() + 1).sum();
        let mut out = Vec::with_capacity(3 * self.next_prefix.len() + 200 + len);
        out.extend_from_slice(b"{\"_links\":{\"self\":{\"href\":");
        push_json_str(&mut out, &self.self_href);
        out.push(b'}');
        for (name, href) in [("next", next), ("prev", prev)] {
            if let Some(href) = href {
                out.extend_from_slice(format!(",\"{name}\":{{\"href\":").as_bytes());
                push_json_str(&mut out, &href);
                out.push(b'}');
            }
        }
        out.extend_from_slice(format!("}},\"_embedded\":{{\"{key}\":[").as_bytes());
        for (i, item) in rendered.iter().enumerate() {
            if i > 0 {
                out.push(b',');
            }
            out.extend_from_slice(item);
        }
        out.extend_from_slice(b"]}");
        if self.counts {
            let counts = format!(",\"count\":{},\"size\":{}", items.len(), to - from);
            out.extend_from_slice(counts.as_bytes());
        }
        out.push(b'}');
        hal_bytes(StatusCode::OK, out)
    }
}
