//! Member listings, and users' and groups' group lists, decoded by a
//! scanner that keeps only each item's `id` (and a membership's `type`).
//!
//! Decision: a member listing (`/users?filter=memberOfGroups[...]`) carries
//! whole user objects, about 1 KB each (PingOne has no field selection), of
//! which the connector needs the id alone; these pages are most of the bytes
//! a sync reads. The per-user group lists are small but many, and serde's
//! derived decoders run several times slower in wasm than natively. serde_json
//! would run every skipped key and value through its deserialiser; this
//! scanner checks the JSON grammar of what it skips at byte level, eight
//! bytes at a time inside strings, and hands serde_json only what it keeps
//! (`_links`, `count`, `size`). The result and the error class (malformed
//! JSON is `unavailable`, a wrong shape is `internal`) are [`parse_page`]'s:
//! the tests here check it on every truncation and on mutations of a real
//! page, and the end-to-end test `idpage_fuzz_wasm` checks it in
//! wasm32-wasip2 on real-shaped and random pages and their mutations.
//!
//! [`parse_page`]: crate::client::paging::parse_page

use crate::client::model::{GroupMembership, IdOnly};
use crate::client::paging::{Links, Page, RawPage};
use connector_sdk::ConnectorError;
use connector_sdk::http::Response;

/// A listed object the scanner can decode: a required string `id` and at
/// most one more field, an optional string; the rest is skipped. Its
/// serde derive must have exactly these fields, in this order.
pub trait Slim: Sized {
    /// The struct's name, as serde's invalid-length errors give it.
    const STRUCT: &'static str;
    /// The JSON key of the optional string field, if there is one.
    const EXTRA: Option<&'static [u8]>;
    fn from_fields(id: String, extra: Option<String>) -> Self;
}

impl Slim for IdOnly {
    const STRUCT: &'static str = "IdOnly";
    const EXTRA: Option<&'static [u8]> = None;
    fn from_fields(id: String, _: Option<String>) -> Self {
        IdOnly { id }
    }
}

/// A user's groups or a group's parents (`.../memberOfGroups`); per user, after
/// the member listings, the most frequent response of a sync.
impl Slim for GroupMembership {
    const STRUCT: &'static str = "GroupMembership";
    const EXTRA: Option<&'static [u8]> = Some(b"type");
    fn from_fields(id: String, kind: Option<String>) -> Self {
        GroupMembership { id, kind }
    }
}

/// Decodes a collection page whose `_embedded.<key>` items are objects with
/// a string `id`, keeping the ids only (and `T`'s one other field).
pub fn parse_id_page<T: Slim>(
    resp: &Response,
    key: &str,
    what: &str,
) -> Result<Page<T>, ConnectorError> {
    let raw = Scanner::new(&resp.body)
        .page::<T>(key.as_bytes())
        .map_err(|e| {
            let msg = format!(
                "{what}: cannot decode the response ({}): {}",
                e.message(),
                resp.body_snippet()
            );
            match e {
                ScanError::Syntax(..) => ConnectorError::Unavailable(msg),
                ScanError::Data(_) => ConnectorError::Internal(msg),
            }
        })?;
    raw.into_page(resp, key, what)
}

#[derive(Debug)]
enum ScanError {
    /// Not JSON (or cut short): the byte offset and what was expected.
    Syntax(usize, &'static str),
    /// JSON of the wrong shape.
    Data(String),
}

impl ScanError {
    fn message(&self) -> String {
        match self {
            ScanError::Syntax(at, expected) => format!("malformed JSON at byte {at}: {expected}"),
            ScanError::Data(m) => m.clone(),
        }
    }
}

/// A JSON string's bytes between its quotes.
struct Str {
    start: usize,
    end: usize,
    escaped: bool,
    /// Every byte is ASCII, so the bytes are valid UTF-8 as they stand.
    ascii: bool,
}

/// A cursor over one body. Where it decodes (the envelope, `_embedded`, the
/// item list, each item) it follows serde_json's rules for a map, a
/// sequence and a derived struct step by step, so a body fails here exactly
/// when and as it fails there; where it skips, it checks what serde_json's
/// `ignore_value` checks.
struct Scanner<'a> {
    b: &'a [u8],
    i: usize,
    /// Open brackets of the value being skipped (no recursion: nesting is
    /// unbounded for skipped values, as in serde_json).
    open: Vec<u8>,
}

const ONES: u64 = 0x0101_0101_0101_0101;
const HIGHS: u64 = 0x8080_8080_8080_8080;

/// High bit of each byte of `w` that is zero; exact up to the first one.
fn zero_bytes(w: u64) -> u64 {
    w.wrapping_sub(ONES) & !w & HIGHS
}

/// High bit of each byte of `w` that ends a string's plain run (a quote, a
/// backslash or a control byte); exact up to the first one.
#[inline(always)]
fn special(w: u64) -> u64 {
    zero_bytes(w ^ (ONES * u64::from(b'"')))
        | zero_bytes(w ^ (ONES * u64::from(b'\\')))
        | (w.wrapping_sub(ONES * 0x20) & !w & HIGHS)
}

/// The cursor and high bits once the word `w` at `i` has its first hit:
/// the bytes before the hit belong to the string.
#[inline(always)]
fn before_hit(i: usize, high: u64, w: u64, hits: u64) -> (usize, u64) {
    let before = hits.trailing_zeros() / 8;
    (
        i + before as usize,
        high | (w & HIGHS & ((1u64 << (before * 8)) - 1)),
    )
}

fn classify(e: serde_json::Error) -> ScanError {
    match e.classify() {
        serde_json::error::Category::Data => ScanError::Data(e.to_string()),
        _ => ScanError::Syntax(e.column(), "a valid value"),
    }
}

impl<'a> Scanner<'a> {
    fn new(b: &'a [u8]) -> Self {
        Scanner {
            b,
            i: 0,
            open: Vec::new(),
        }
    }

    fn syntax(&self, expected: &'static str) -> ScanError {
        ScanError::Syntax(self.i, expected)
    }

    /// The next byte that is not whitespace (PingOne sends none between
    /// tokens, so the loop is off the hot path).
    #[inline(always)]
    fn peek(&mut self) -> Option<u8> {
        // One comparison: every JSON whitespace byte is at most b' ' (a
        // four-way match compiled to a jump table in wasm).
        match self.b.get(self.i) {
            Some(&c) if c > b' ' => Some(c),
            _ => self.peek_past_whitespace(),
        }
    }

    #[inline(never)]
    fn peek_past_whitespace(&mut self) -> Option<u8> {
        while let Some(b' ' | b'\n' | b'\r' | b'\t') = self.b.get(self.i) {
            self.i += 1;
        }
        self.b.get(self.i).copied()
    }

    fn page<T: Slim>(mut self, key: &[u8]) -> Result<RawPage<T>, ScanError> {
        let mut out = RawPage::new();
        if self.peek() != Some(b'{') {
            return Err(self.invalid_type("a PingOne collection object"));
        }
        self.map(|s, k| {
            s.colon()?;
            match k {
                b"_links" => {
                    let links: Option<Links> = s.decode()?;
                    out.next = links.and_then(|l| l.next).and_then(|n| n.href);
                }
                b"_embedded" => {
                    out.embedded = true;
                    out.items = s.embedded::<T>(key)?;
                }
                b"count" => out.count = s.decode()?,
                b"size" => out.size = s.decode()?,
                _ => s.skip()?,
            }
            Ok(())
        })?;
        if self.peek().is_some() {
            return Err(self.syntax("the end of the document"));
        }
        Ok(out)
    }

    /// `_embedded`: the wanted key's array; the rest skipped.
    fn embedded<T: Slim>(&mut self, key: &[u8]) -> Result<Option<Vec<T>>, ScanError> {
        if self.peek() != Some(b'{') {
            return Err(self.invalid_type("an _embedded object"));
        }
        let mut items = None;
        self.map(|s, k| {
            s.colon()?;
            if k == key {
                if s.peek() != Some(b'[') {
                    return Err(s.invalid_type("a sequence"));
                }
                let mut ids = Vec::new();
                s.seq(|s| {
                    ids.push(s.item::<T>()?);
                    Ok(())
                })?;
                items = Some(ids);
                Ok(())
            } else {
                s.skip()
            }
        })?;
        Ok(items)
    }

    /// One listed object (a derived struct: a map, or a sequence of its
    /// fields in order).
    fn item<T: Slim>(&mut self) -> Result<T, ScanError> {
        match self.peek() {
            Some(b'{') => {
                let mut id = None;
                let mut extra: Option<Option<String>> = None;
                self.map(|s, k| {
                    if k == b"id" {
                        if id.is_some() {
                            return Err(ScanError::Data("duplicate field `id`".into()));
                        }
                        s.colon()?;
                        id = Some(s.string_value()?);
                    } else if T::EXTRA == Some(k) {
                        if extra.is_some() {
                            return Err(ScanError::Data(format!(
                                "duplicate field `{}`",
                                String::from_utf8_lossy(k)
                            )));
                        }
                        s.colon()?;
                        extra = Some(s.optional_string()?);
                    } else {
                        s.colon()?;
                        s.skip()?;
                    }
                    Ok(())
                })?;
                let id = id.ok_or_else(|| ScanError::Data("missing field `id`".into()))?;
                Ok(T::from_fields(id, extra.flatten()))
            }
            Some(b'[') => {
                let fields = if T::EXTRA.is_some() { 2 } else { 1 };
                let short = |n: usize| {
                    ScanError::Data(format!(
                        "invalid length {n}, expected struct {} with {fields} element{}",
                        T::STRUCT,
                        if fields == 1 { "" } else { "s" }
                    ))
                };
                self.i += 1;
                match self.peek() {
                    Some(b']') => return Err(short(0)),
                    None => return Err(self.syntax("a list element")),
                    Some(_) => {}
                }
                let id = self.string_value()?;
                let mut extra = None;
                if T::EXTRA.is_some() {
                    match self.peek() {
                        Some(b']') => return Err(short(1)),
                        Some(b',') => self.i += 1,
                        _ => return Err(self.syntax("`,` or `]`")),
                    }
                    if self.peek() == Some(b']') {
                        return Err(self.syntax("a value after `,`"));
                    }
                    extra = self.optional_string()?;
                }
                if self.peek() != Some(b']') {
                    return Err(self.syntax("`]` after the last field"));
                }
                self.i += 1;
                Ok(T::from_fields(id, extra))
            }
            _ => Err(self.invalid_type("a struct")),
        }
    }

    /// An `Option<String>` field: `null`, or as [`Self::string_value`].
    fn optional_string(&mut self) -> Result<Option<String>, ScanError> {
        if self.peek() == Some(b'n') {
            self.literal(b"null")?;
            return Ok(None);
        }
        self.string_value().map(Some)
    }

    /// The map at the cursor (on its `{`); `field` gets each key with the
    /// cursor before its `:`, and reads the `:` ([`Self::colon`]) and the
    /// value: serde's derive refuses a duplicate field on the key alone,
    /// before serde_json reads the `:`, so a field reader makes that check
    /// first.
    fn map(
        &mut self,
        mut field: impl FnMut(&mut Self, &[u8]) -> Result<(), ScanError>,
    ) -> Result<(), ScanError> {
        self.i += 1;
        let mut first = true;
        loop {
            match self.peek() {
                Some(b'}') => {
                    self.i += 1;
                    return Ok(());
                }
                Some(b',') if !first => {
                    self.i += 1;
                    if self.peek() != Some(b'"') {
                        return Err(self.syntax("a key string"));
                    }
                }
                Some(b'"') if first => {}
                _ => return Err(self.syntax("a key string, `,` or `}`")),
            }
            first = false;
            let k = self.string()?;
            // The key's bytes, borrowed from the body unless escaped, and
            // checked for UTF-8 only when not all ASCII: the ASCII flag
            // comes free from the scan, a separate check would read the
            // bytes again.
            let b = self.b;
            let decoded;
            let key: &[u8] = if k.escaped {
                decoded = self.text(&k)?.into_bytes();
                &decoded
            } else if k.ascii || std::str::from_utf8(&b[k.start..k.end]).is_ok() {
                &b[k.start..k.end]
            } else {
                return Err(ScanError::Syntax(k.start, "valid UTF-8 in a key"));
            };
            field(self, key)?;
        }
    }

    /// The `:` after a map's key.
    #[inline(always)]
    fn colon(&mut self) -> Result<(), ScanError> {
        if self.peek() != Some(b':') {
            return Err(self.syntax("`:`"));
        }
        self.i += 1;
        Ok(())
    }

    /// The sequence at the cursor (on its `[`); `elem` reads each element.
    fn seq(
        &mut self,
        mut elem: impl FnMut(&mut Self) -> Result<(), ScanError>,
    ) -> Result<(), ScanError> {
        self.i += 1;
        let mut first = true;
        loop {
            match self.peek() {
                Some(b']') => {
                    self.i += 1;
                    return Ok(());
                }
                Some(b',') if !first => {
                    self.i += 1;
                    if self.peek() == Some(b']') {
                        return Err(self.syntax("a value after `,`"));
                    }
                }
                Some(_) if first => {}
                _ => return Err(self.syntax("`,` or `]`")),
            }
            first = false;
            elem(self)?;
        }
    }

    /// A `String` field: a string, else serde_json's invalid-type error.
    fn string_value(&mut self) -> Result<String, ScanError> {
        if self.peek() != Some(b'"') {
            return Err(self.invalid_type("a string"));
        }
        let s = self.string()?;
        self.text(&s)
    }

    /// Skips one value, checking its grammar as serde_json's `ignore_value`.
    /// A string (most skipped values) is passed over inline; anything else
    /// goes to [`Self::skip_value`].
    #[inline(always)]
    fn skip(&mut self) -> Result<(), ScanError> {
        if self.peek() == Some(b'"') {
            self.string()?;
            return Ok(());
        }
        self.skip_value()
    }

    fn skip_value(&mut self) -> Result<(), ScanError> {
        let base = self.open.len();
        'value: loop {
            match self.peek() {
                Some(b'"') => {
                    self.string()?;
                }
                Some(c @ (b'{' | b'[')) => {
                    self.i += 1;
                    let close = if c == b'{' { b'}' } else { b']' };
                    if self.peek() == Some(close) {
                        self.i += 1;
                    } else {
                        self.open.push(c);
                        if c == b'{' {
                            self.member_key()?;
                        }
                        continue 'value;
                    }
                }
                Some(b't') => self.literal(b"true")?,
                Some(b'f') => self.literal(b"false")?,
                Some(b'n') => self.literal(b"null")?,
                Some(b'-' | b'0'..=b'9') => self.number()?,
                _ => return Err(self.syntax("a value")),
            }
            // A value ended: close what it ended, or go on to the next one.
            while let Some(&top) = self.open.get(base..).and_then(|o| o.last()) {
                match self.peek() {
                    Some(b',') => {
                        self.i += 1;
                        if top == b'{' {
                            self.member_key()?;
                        }
                        continue 'value;
                    }
                    Some(b']') if top == b'[' => {}
                    Some(b'}') if top == b'{' => {}
                    _ => return Err(self.syntax("`,` or a closing bracket")),
                }
                self.i += 1;
                self.open.pop();
            }
            return Ok(());
        }
    }

    /// A skipped object's `"key":`.
    #[inline(always)]
    fn member_key(&mut self) -> Result<(), ScanError> {
        if self.peek() != Some(b'"') {
            return Err(self.syntax("a key string"));
        }
        self.string()?;
        self.colon()
    }

    fn literal(&mut self, word: &[u8]) -> Result<(), ScanError> {
        if self.b[self.i..].starts_with(word) {
            self.i += word.len();
            Ok(())
        } else {
            Err(self.syntax("a literal"))
        }
    }

    fn digits(&mut self) -> usize {
        let start = self.i;
        while let Some(b'0'..=b'9') = self.b.get(self.i) {
            self.i += 1;
        }
        self.i - start
    }

    fn number(&mut self) -> Result<(), ScanError> {
        if self.b.get(self.i) == Some(&b'-') {
            self.i += 1;
        }
        match self.b.get(self.i) {
            Some(b'0') => {
                self.i += 1;
                if let Some(b'0'..=b'9') = self.b.get(self.i) {
                    return Err(self.syntax("a number without a leading zero"));
                }
            }
            Some(b'1'..=b'9') => {
                self.digits();
            }
            _ => return Err(self.syntax("a number")),
        }
        if self.b.get(self.i) == Some(&b'.') {
            self.i += 1;
            if self.digits() == 0 {
                return Err(self.syntax("a digit after `.`"));
            }
        }
        if let Some(b'e' | b'E') = self.b.get(self.i) {
            self.i += 1;
            if let Some(b'+' | b'-') = self.b.get(self.i) {
                self.i += 1;
            }
            if self.digits() == 0 {
                return Err(self.syntax("an exponent"));
            }
        }
        Ok(())
    }

    /// The string at the cursor (on its opening quote), checked for escapes
    /// and control characters; its content is not copied.
    ///
    /// The cursor is a local until the string ends: advanced through
    /// `self` on every step, it would live in memory, and this loop is the
    /// scanner's hot path.
    #[inline(always)]
    fn string(&mut self) -> Result<Str, ScanError> {
        let b = self.b;
        let start = self.i + 1;
        let mut i = start;
        let mut escaped = false;
        // High bits of the bytes passed so far: zero while all are ASCII.
        let mut high = 0u64;
        loop {
            // Eight bytes at a time to the next quote, backslash or control
            // byte, two words a turn while sixteen bytes remain: a loop turn
            // in wasm also pays a deadline check (docs/benchmarks.md), and a
            // string that ends in the first word costs no more than before.
            // The two loops repeat the word test on purpose: one helper per
            // word would merge the high bits per word instead of per turn.
            'scan: {
                while i + 16 <= b.len() {
                    let w = word(b, i);
                    let hits = special(w);
                    if hits != 0 {
                        (i, high) = before_hit(i, high, w, hits);
                        break 'scan;
                    }
                    let v = word(b, i + 8);
                    let hits = special(v);
                    if hits != 0 {
                        (i, high) = before_hit(i + 8, high | (w & HIGHS), v, hits);
                        break 'scan;
                    }
                    high |= (w | v) & HIGHS;
                    i += 16;
                }
                while i + 8 <= b.len() {
                    let w = word(b, i);
                    let hits = special(w);
                    if hits != 0 {
                        (i, high) = before_hit(i, high, w, hits);
                        break 'scan;
                    }
                    high |= w & HIGHS;
                    i += 8;
                }
            }
            match b.get(i) {
                Some(b'"') => {
                    self.i = i + 1;
                    return Ok(Str {
                        start,
                        end: i,
                        escaped,
                        ascii: high == 0,
                    });
                }
                Some(b'\\') => {
                    escaped = true;
                    match b.get(i + 1) {
                        Some(b'"' | b'\\' | b'/' | b'b' | b'f' | b'n' | b'r' | b't') => i += 2,
                        Some(b'u')
                            if b.get(i + 2..i + 6)
                                .is_some_and(|h| h.iter().all(u8::is_ascii_hexdigit)) =>
                        {
                            i += 6
                        }
                        Some(b'u') => return Err(self.fail_at(i, "a \\u escape")),
                        _ => return Err(self.fail_at(i, "an escape")),
                    }
                }
                Some(&c) if c >= 0x20 => {
                    high |= u64::from(c & 0x80);
                    i += 1
                }
                Some(_) => return Err(self.fail_at(i, "no control character in a string")),
                None => return Err(self.fail_at(i, "the end of a string")),
            }
        }
    }

    #[cold]
    fn fail_at(&mut self, i: usize, expected: &'static str) -> ScanError {
        self.i = i;
        self.syntax(expected)
    }

    /// A string's text: checked UTF-8, escapes decoded by serde_json.
    fn text(&self, s: &Str) -> Result<String, ScanError> {
        if s.escaped {
            serde_json::from_slice::<String>(&self.b[s.start - 1..s.end + 1])
                .map_err(|_| ScanError::Syntax(s.start, "a valid string (escape or UTF-8)"))
        } else if s.ascii {
            // The scan saw every byte's high bit clear: each byte is its
            // own character, so no UTF-8 check is needed.
            Ok(self.b[s.start..s.end]
                .iter()
                .map(|&c| char::from(c))
                .collect())
        } else {
            std::str::from_utf8(&self.b[s.start..s.end])
                .map(str::to_string)
                .map_err(|_| ScanError::Syntax(s.start, "valid UTF-8 in a string"))
        }
    }

    /// A value decoded by serde_json from the cursor on.
    fn decode<T: serde::de::DeserializeOwned>(&mut self) -> Result<T, ScanError> {
        if self.peek().is_none() {
            return Err(self.syntax("a value"));
        }
        let mut values = serde_json::Deserializer::from_slice(&self.b[self.i..]).into_iter::<T>();
        match values.next() {
            Some(Ok(v)) => {
                self.i += values.byte_offset();
                Ok(v)
            }
            Some(Err(e)) => Err(classify(e)),
            None => Err(self.syntax("a value")),
        }
    }

    /// serde_json's error for a value of the wrong kind at the cursor: a
    /// shape error, unless the scalar there is itself malformed.
    fn invalid_type(&mut self, expected: &'static str) -> ScanError {
        let at = self.i;
        let scanned = match self.peek() {
            Some(b'[' | b'{') => Ok(()),
            Some(b'"') => self.string().and_then(|s| self.text(&s).map(|_| ())),
            Some(b't') => self.literal(b"true"),
            Some(b'f') => self.literal(b"false"),
            Some(b'n') => self.literal(b"null"),
            Some(b'-' | b'0'..=b'9') => {
                let start = self.i;
                self.number().and_then(|()| {
                    // serde_json parses the number before it reports the
                    // wrong type, and one beyond f64 (`1e400`) is malformed.
                    serde_json::from_slice::<serde_json::Number>(&self.b[start..self.i])
                        .map(|_| ())
                        .map_err(|_| ScanError::Syntax(start, "a number in range"))
                })
            }
            _ => Err(self.syntax("a value")),
        };
        match scanned {
            Err(e) => e,
            Ok(()) => ScanError::Data(format!("invalid type at byte {at}, expected {expected}")),
        }
    }
}

/// The eight bytes of `b` from `i` on, as one little-endian word, for the
/// string loop's eight-bytes-a-turn test.
#[inline(always)]
fn word(b: &[u8], i: usize) -> u64 {
    u64::from_le_bytes(b[i..i + 8].try_into().expect("8 bytes"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::client::paging::parse_page;

    fn resp(body: &[u8]) -> Response {
        Response {
            status: 200,
            headers: vec![],
            body: body.to_vec(),
        }
    }

    /// Both decoders, reduced to what callers see: the items, next, count,
    /// or the error class.
    fn both_as<T>(body: &[u8], key: &str, item: fn(&T) -> String) -> (String, String)
    where
        T: Slim + serde::de::DeserializeOwned,
    {
        let show = |r: Result<Page<T>, ConnectorError>| match r {
            Ok(p) => format!(
                "ok {:?} {:?} {:?}",
                p.items.iter().map(item).collect::<Vec<_>>(),
                p.next,
                p.count
            ),
            Err(ConnectorError::Unavailable(_)) => "unavailable".into(),
            Err(ConnectorError::Internal(_)) => "internal".into(),
            Err(e) => format!("other {e:?}"),
        };
        (
            show(parse_page::<T>(&resp(body), key, "x")),
            show(parse_id_page::<T>(&resp(body), key, "x")),
        )
    }

    fn both(body: &[u8]) -> (String, String) {
        both_as::<IdOnly>(body, "users", |i| i.id.clone())
    }

    fn both_memberships(body: &[u8]) -> (String, String) {
        both_as::<GroupMembership>(body, "groupMemberships", |m| {
            format!("{}/{:?}", m.id, m.kind)
        })
    }

    /// A user's groups as PingOne lists them, with the field shapes serde
    /// accepts for `GroupMembership`: `type` a string, null or absent, and
    /// the sequence form.
    const MEMBERSHIPS: &str = r#"{"_links":{"self":{"href":"https://api/u/1/memberOfGroups?filter=type+eq+%22DIRECT%22"}},
        "_embedded":{"groupMemberships":[
          {"_links":{"self":{"href":"https://api/u/1/memberOfGroups/g1"}},"environment":{"id":"e"},"id":"g1","name":"On-call \"3\"","type":"DIRECT"},
          {"type":null,"id":"g\u0032"},
          {"id":"g3","extra":[1,{"type":"x"}]},
          ["g4","INDIRECT"],
          ["g5",null]]},
        "count":5,"size":5}"#;

    #[test]
    fn memberships_agree_with_serde_on_every_truncation_and_mutation() {
        let (a, b) = both_memberships(MEMBERSHIPS.as_bytes());
        assert_eq!(a, b);
        assert!(
            a.starts_with(
                r#"ok ["g1/Some(\"DIRECT\")", "g2/None", "g3/None", "g4/Some(\"INDIRECT\")", "g5/None"]"#
            ),
            "{a}"
        );
        agree_on_every_cut(MEMBERSHIPS.as_bytes(), both_memberships);
        agree_on_every_mutation(MEMBERSHIPS.as_bytes(), both_memberships);
    }

    #[test]
    fn membership_shapes() {
        for body in [
            r#"{"_embedded":{"groupMemberships":[{"id":"a","type":"X","type":"Y"}]}}"#,
            r#"{"_embedded":{"groupMemberships":[{"id":"a","type":"X","type"}]}}"#,
            r#"{"_embedded":{"groupMemberships":[{"id":"a","type":null,"id" "b"}]}}"#,
            r#"{"_embedded":{"groupMemberships":[{"id":"a","type":null,"type":null}]}}"#,
            r#"{"_embedded":{"groupMemberships":[{"id":"a","type":7}]}}"#,
            r#"{"_embedded":{"groupMemberships":[{"id":"a","type":nul}]}}"#,
            r#"{"_embedded":{"groupMemberships":[{"type":"X"}]}}"#,
            r#"{"_embedded":{"groupMemberships":[["a"]]}}"#,
            r#"{"_embedded":{"groupMemberships":[["a",]]}}"#,
            r#"{"_embedded":{"groupMemberships":[["a","X","Y"]]}}"#,
            r#"{"_embedded":{"groupMemberships":[["a" "X"]]}}"#,
            r#"{"_embedded":{"groupMemberships":[["a",5]]}}"#,
            r#"{"_embedded":{"groupMemberships":[[]]}}"#,
            r#"{"_embedded":{"groupMemberships":["a"]}}"#,
            r#"{"_embedded":{"groupMemberships":[{"id":"a","\u0074ype":"E"}]}}"#,
        ] {
            let (a, b) = both_memberships(body.as_bytes());
            assert_eq!(a, b, "{body}");
        }
    }

    const PAGE: &str = r#" {"_links":{"self":{"href":"s"},"next":{"href":"https://api/x?cursor=1"}},
        "_embedded":{"other":[{"x":1}],"users":[
          {"_links":{"self":{"href":"https://api/u/a"}},"id":"a","name":{"given":"Zoë \"Z\" \u00e9","family":"\\"},
           "n":[1,-2.5e3,0.1,true,false,null,{"deep":[[],{}]}],"enabled":true},
          {"id":"b\u0041","title":"tab\tless","lastSignOn":{"at":"2021-10-11T16:29:08.197Z"}},
          {"x":{},"id":"c"}]},
        "count":5,"size":3} "#;

    #[test]
    fn agrees_with_serde_on_a_page_and_every_truncation() {
        let (a, b) = both(PAGE.replace("tab\tless", "tab less").as_bytes());
        assert_eq!(a, b);
        assert!(
            a.starts_with(r#"ok ["a", "bA", "c"] Some("https://api/x?cursor=1") Some(5)"#),
            "{a}"
        );
        agree_on_every_cut(PAGE.replace("tab\tless", "tab less").as_bytes(), both);
    }

    #[test]
    fn agrees_with_serde_on_mutated_bytes() {
        agree_on_every_mutation(PAGE.replace("tab\tless", "tab less").as_bytes(), both);
    }

    /// Both decoders agree on every prefix of `page`.
    fn agree_on_every_cut(page: &[u8], both: fn(&[u8]) -> (String, String)) {
        for end in 0..page.len() {
            let (a, b) = both(&page[..end]);
            assert_eq!(
                a,
                b,
                "cut at {end}: {}",
                String::from_utf8_lossy(&page[..end])
            );
        }
    }

    /// Both decoders agree with every byte of `page` replaced by each of
    /// the bytes JSON's grammar turns on.
    fn agree_on_every_mutation(page: &[u8], both: fn(&[u8]) -> (String, String)) {
        for at in 0..page.len() {
            for &c in b"\"\\{}[],:0-.eE an\t\x01\xff" {
                let mut body = page.to_vec();
                body[at] = c;
                let (a, b) = both(&body);
                assert_eq!(
                    a,
                    b,
                    "byte {at} -> {c:?}: {}",
                    String::from_utf8_lossy(&body)
                );
            }
        }
    }

    #[test]
    fn shapes_and_limits() {
        for body in [
            r#"{"_embedded":{"users":[{"id":7}]}}"#,
            r#"{"_embedded":{"users":[{"name":"no id"}]}}"#,
            r#"{"_embedded":{"users":[{"id":"a","id":"b"}]}}"#,
            r#"{"_embedded":{"users":[{"id":"a","id""b"}]}}"#,
            r#"{"_embedded":{"users":[{"id":"a","id"}]}}"#,
            r#"{"_embedded":{"users":[{"id":"a","x""b"}]}}"#,
            r#"{"_embedded":{"users":{"id":"a"}}}"#,
            r#"{"_embedded":{"users":[["a"]]}}"#,
            r#"{"_embedded":{"users":[["a","b"]]}}"#,
            r#"{"_embedded":{"users":[[]]}}"#,
            r#"{"_embedded":{"users":[{"id":null}]}}"#,
            r#"{"_embedded":null}"#,
            r#"{"_links":[],"_embedded":{"users":[]}}"#,
            r#"{"_links":{"next":{"href":5}},"_embedded":{"users":[]}}"#,
            r#"{"count":1e400,"_embedded":{"users":[]}}"#,
            r#"{"_embedded":1e400}"#,
            r#"{"_embedded":-1e400}"#,
            r#"{"_embedded":1e-400}"#,
            r#"{"_embedded":{"users":[{"id":1e400}]}}"#,
            r#"{"_embedded":{"users":[{"id":18446744073709551616}]}}"#,
            r#"{"count":-1,"_embedded":{"users":[]}}"#,
            r#"{"_embedded":[]}"#,
            r#"[]"#,
            r#"{"count":3}"#,
            r#"{"_embedded":{},"count":0}"#,
            r#"{"_embedded":{},"size":"0"}"#,
            r#"{"_links":{"next":{"href":"n"}},"_embedded":{"users":[]}} x"#,
            r#"{"_embedded":{"users":[{"id":"a"}]},"_embedded":{"other":[]},"count":0}"#,
            r#"{"_embedded":{"us\u0065rs":[{"\u0069d":"a"}]}}"#,
            "{\"_embedded\":{\"users\":[{\"id\":\"\u{e9}\"}]}}",
            "{\"_embedded\":{\"users\":[{\"id\":\"\\ud800\"}]}}",
            "{\"_embedded\":{\"users\":[{\"id\":\"a\\x\"}]}}",
            "{\"_embedded\":{\"users\":[{\"id\":\"\x7f\"}]}}",
            "{\"_embedded\":{\"users\":[{\"x\":01}]}}",
            "{\"_embedded\":{\"users\":[{\"x\":1.}]}}",
            "{\"_embedded\":{\"users\":[{\"x\":-}]}}",
            "{\"_embedded\":{\"users\":[{\"x\":tru}]}}",
            "{\"_embedded\":{\"users\":[{\"x\":1,}]}}",
        ] {
            let (a, b) = both(body.as_bytes());
            assert_eq!(a, b, "{body}");
        }
        // Keys and ids with non-ASCII bytes: in the eight-byte loop, just
        // before the closing quote in the same word, and in the byte loop
        // at a body's end; valid UTF-8 and not.
        for body in [
            &b"{\"_embedded\":{\"users\":[{\"\xc3\xafd\":\"a\",\"id\":\"b\"}]}}"[..],
            b"{\"_embedded\":{\"users\":[{\"abcdefgh\xc3\xa9\":1,\"id\":\"b\"}]}}",
            b"{\"_embedded\":{\"users\":[{\"abcdefgh\xff\":1,\"id\":\"b\"}]}}",
            b"{\"_embedded\":{\"users\":[{\"abcdefghijklmn\xff\":1,\"id\":\"b\"}]}}",
            b"{\"_embedded\":{\"users\":[{\"ab\xffcdefghijklmn\":1,\"id\":\"b\"}]}}",
            b"{\"_embedded\":{\"users\":[{\"id\":\"abcdefghijklmnop\xc3\xa9\"}]}}",
            b"{\"_embedded\":{\"users\":[{\"id\":\"abcdefghijklmnop\xc3\"}]}}",
            b"{\"_embedded\":{\"us\xc3\xa9rs\":[{\"id\":\"a\"}],\"users\":[]}}",
            b"{\"_embedded\":{\"users\":[{\"id\":\"a\"}]},\"\xff",
        ] {
            let (a, b) = both(body);
            assert_eq!(a, b, "{}", String::from_utf8_lossy(body));
        }
        let deep = format!(
            r#"{{"_embedded":{{"users":[{{"id":"a","x":{}1{}}}]}}}}"#,
            "[".repeat(200),
            "]".repeat(200)
        );
        // Skipped values may nest without limit, as serde_json allows.
        let (a, b) = both(deep.as_bytes());
        assert_eq!(a, b);
        assert!(a.starts_with(r#"ok ["a"]"#), "{a}");

        // Objects and arrays mixed, deeply; then closers swapped for the
        // other kind, which both decoders must refuse alike.
        let levels = 150;
        let kinds: Vec<bool> = (0..levels).map(|d| d % 3 != 1).collect();
        let opening: String = kinds
            .iter()
            .map(|&object| if object { r#"{"k":"# } else { "[" })
            .collect();
        let closers: Vec<char> = kinds
            .iter()
            .rev()
            .map(|&o| if o { '}' } else { ']' })
            .collect();
        let page = |closers: &[char]| {
            format!(
                r#"{{"_embedded":{{"users":[{{"x":{opening}1{}, "id":"a"}}]}}}}"#,
                closers.iter().collect::<String>()
            )
        };
        let (a, b) = both(page(&closers).as_bytes());
        assert_eq!(a, b);
        assert!(a.starts_with(r#"ok ["a"]"#), "{a}");
        for at in [0, 1, 40, 85, 86, 87, 100, 149] {
            let mut wrong = closers.clone();
            wrong[at] = if wrong[at] == '}' { ']' } else { '}' };
            let (a, b) = both(page(&wrong).as_bytes());
            assert_eq!(a, b, "closer {at} swapped");
            assert!(!a.starts_with("ok"), "closer {at} swapped: {a}");
        }
    }
}
