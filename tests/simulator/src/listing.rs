//! The one skeleton every collection handler follows: read the query,
//! parse and vet `filter` against the collection's schema, read `limit` and
//! `cursor`, then (once the handler has chosen the items) cut the page and
//! render PingOne's envelope with `_links`, `_embedded`, `count` and `size`.
//!
//! Keeping it in one place is what keeps the listings consistent with the
//! reference and with each other: the order of the checks (a bad filter is
//! reported before a bad `limit` or `cursor`), the traversal a cursor is
//! bound to (the collection, its parent and the filter text, so a cursor
//! replayed elsewhere is refused), and the envelope bytes. A handler only
//! says what its collection is, which items match, and how one item renders.

use axum::body::Bytes;
use axum::http::{StatusCode, Uri};
use axum::response::Response;

use crate::AppState;
use crate::errors::ApiResult;
use crate::filter::{Expr, Schema};
use crate::paging::{PageReq, Params, parse_filter};
use crate::routes::hal_bytes;

/// What a collection is, for the skeleton.
pub struct ListSpec<'a> {
    /// Names the traversal a cursor belongs to (`"users"`, `"userGroups"`).
    pub kind: &'a str,
    /// The id of the object the collection hangs under, if any.
    pub parent: Option<&'a str>,
    /// The filter schema; `None` for a collection that takes no `filter`
    /// (a `filter` parameter is then ignored, as before).
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
            kind,
            parent: None,
            schema: Some(schema),
            page_max,
            page_default: None,
            counts: true,
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
    page: PageReq,
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
        let filter = match spec.schema {
            Some(schema) => parse_filter(&params, schema)?,
            None => None,
        };
        let vetted = vet(filter.as_ref())?;
        let filter_text = params.get("filter").unwrap_or("");
        let mut traversal = vec![spec.kind];
        traversal.extend(spec.parent);
        if spec.schema.is_some() {
            traversal.push(filter_text);
        }
        let mut page = PageReq::new(
            app,
            uri,
            &params,
            spec.page_max,
            spec.page_default,
            &traversal,
        )?;
        page.counts = spec.counts;
        Ok((
            Listing {
                params,
                filter,
                page,
            },
            vetted,
        ))
    }

    /// The filter as sent (`""` without one).
    pub fn filter_text(&self) -> &str {
        self.params.get("filter").unwrap_or("")
    }

    /// True when a comma-separated parameter (`expand`, `include`) lists `v`.
    pub fn lists(&self, key: &str, v: &str) -> bool {
        self.params.lists(key, v)
    }

    /// The page of `items` (sorted by `pos`, the store position a cursor
    /// points at) rendered one JSON value per item. `count` is every item,
    /// `size` the page's share of them.
    pub fn respond<T>(
        &self,
        key: &str,
        items: &[T],
        pos: impl Fn(&T) -> u32,
        render: impl FnMut(&T) -> Option<serde_json::Value>,
    ) -> Response {
        self.respond_repeating(key, items, pos, |_| false, render)
    }

    /// Like [`Listing::respond`]; when `repeat_last` holds for the page's
    /// last item, the next page starts with it again.
    pub fn respond_repeating<T>(
        &self,
        key: &str,
        items: &[T],
        pos: impl Fn(&T) -> u32,
        repeat_last: impl Fn(&T) -> bool,
        mut render: impl FnMut(&T) -> Option<serde_json::Value>,
    ) -> Response {
        let w = self.page.window_repeating(items, pos, repeat_last);
        let docs: Vec<_> = items[w.from..w.to].iter().filter_map(&mut render).collect();
        let body = self.page.envelope(key, &w, items.len(), 0, |out| {
            for (i, v) in docs.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                let _ = serde_json::to_writer(&mut *out, v);
            }
        });
        hal_bytes(StatusCode::OK, body)
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
        let w = self.page.window(items, pos);
        let rendered: Vec<Bytes> = items[w.from..w.to].iter().filter_map(render).collect();
        let len = rendered.iter().map(|b| b.len() + 1).sum();
        let body = self.page.envelope(key, &w, items.len(), len, |out| {
            for (i, b) in rendered.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                out.extend_from_slice(b);
            }
        });
        hal_bytes(StatusCode::OK, body)
    }
}
