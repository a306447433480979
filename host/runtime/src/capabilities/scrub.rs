//! Scrubbing: no credential reaches the guest, or leaves the host, in any
//! form an upstream might echo.
//!
//! Threat: the guest never holds a credential, but an upstream can hand one
//! back: an API that echoes the request it got (headers or body), or a token
//! endpoint whose `error_description` quotes the `Authorization` header. The
//! guest could then copy it into a record, a log line or an error, encoded
//! so that a search for the raw value misses it.
//!
//! Decisions:
//! - One matcher per instance covers every secret value and the brokered
//!   access tokens still in use. Every response body and header value handed
//!   to the guest, every error text the guest gets, and every guest log line
//!   and error message pass through it.
//! - Forms searched for: the raw value; JSON-escaped; URL-encoded (form
//!   style with `+`, and `%20` style, with upper- and lower-case escapes);
//!   hex (both cases); base64 (standard and URL-safe alphabets) of each of
//!   those texts at each of the three byte alignments, so the value is found
//!   inside a longer base64 string too, as in HTTP Basic's `id:secret`.
//! - A match becomes `[redacted]`. Values shorter than
//!   [`MIN_SECRET_BYTES`] cannot be told from ordinary data, so the config
//!   resolver refuses them instead of scrubbing them here.

use std::borrow::Cow;

use aho_corasick::{AhoCorasick, MatchKind};
use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD_NO_PAD, URL_SAFE_NO_PAD};

/// The shortest secret the host accepts: a shorter one would match ordinary
/// text and corrupt responses when scrubbed. Real credentials are far longer
/// (PingOne client secrets are 64 characters, access tokens are JWTs).
pub const MIN_SECRET_BYTES: usize = 8;

/// What replaces a scrubbed form.
pub const REDACTED: &str = "[redacted]";

/// A matcher for every form of a set of secret values.
#[derive(Debug, Default)]
pub struct Scrubber {
    matcher: Option<AhoCorasick>,
}

impl Scrubber {
    /// Builds the matcher; values shorter than [`MIN_SECRET_BYTES`] are left
    /// out (the resolver refuses them for configured secrets).
    pub fn new<'a>(values: impl IntoIterator<Item = &'a str>) -> Self {
        let mut patterns: Vec<String> = values
            .into_iter()
            .filter(|v| v.len() >= MIN_SECRET_BYTES)
            .flat_map(forms)
            .collect();
        patterns.sort();
        patterns.dedup();
        if patterns.is_empty() {
            return Self::default();
        }
        let matcher = AhoCorasick::builder()
            .match_kind(MatchKind::LeftmostLongest)
            .build(&patterns)
            .expect("literal patterns of bounded size always build");
        Self {
            matcher: Some(matcher),
        }
    }

    /// Whether any form of any value occurs in `bytes`.
    pub fn finds(&self, bytes: &[u8]) -> bool {
        self.matcher.as_ref().is_some_and(|m| m.is_match(bytes))
    }

    /// `bytes` with every form replaced; no copy when nothing matches.
    pub fn bytes(&self, bytes: Vec<u8>) -> Vec<u8> {
        match &self.matcher {
            Some(m) if m.is_match(&bytes) => {
                let mut out = Vec::with_capacity(bytes.len());
                m.replace_all_with_bytes(&bytes, &mut out, |_, _, dst| {
                    dst.extend_from_slice(REDACTED.as_bytes());
                    true
                });
                out
            }
            _ => bytes,
        }
    }

    /// `text` with every form replaced.
    pub fn text<'t>(&self, text: &'t str) -> Cow<'t, str> {
        match &self.matcher {
            Some(m) if m.is_match(text) => {
                let mut out = String::with_capacity(text.len());
                m.replace_all_with(text, &mut out, |_, _, dst| {
                    dst.push_str(REDACTED);
                    true
                });
                Cow::Owned(out)
            }
            _ => Cow::Borrowed(text),
        }
    }
}

/// The forms of one value an upstream could echo.
fn forms(value: &str) -> Vec<String> {
    let form_encoded: String = url::form_urlencoded::byte_serialize(value.as_bytes()).collect();
    let percent = form_encoded.replace('+', "%20");
    let json = serde_json::to_string(value).expect("a string always serialises");
    let mut out = vec![
        value.to_string(),
        json[1..json.len() - 1].to_string(),
        form_encoded.clone(),
        lower_escapes(&form_encoded),
        lower_escapes(&percent),
        percent,
        hex::encode(value),
        hex::encode_upper(value),
    ];
    for text in [value, form_encoded.as_str()] {
        for alignment in 0..3 {
            out.extend(base64_core(text.as_bytes(), alignment));
        }
    }
    out
}

/// `%2B` as `%2b`: some encoders write lower-case escapes.
fn lower_escapes(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        out.push(c);
        if c == '%' {
            out.extend(chars.by_ref().take(2).map(|h| h.to_ascii_lowercase()));
        }
    }
    out
}

/// The base64 characters that depend only on `value` when it starts
/// `alignment` bytes into a longer encoded string, in both alphabets.
fn base64_core(value: &[u8], alignment: usize) -> Vec<String> {
    let mut prefixed = vec![0u8; alignment];
    prefixed.extend_from_slice(value);
    // Character j covers bits [6j, 6j + 6); it is the value's alone when
    // those bits lie within the value's bytes.
    let start = (8 * alignment).div_ceil(6);
    let end = 8 * prefixed.len() / 6;
    [STANDARD_NO_PAD, URL_SAFE_NO_PAD]
        .iter()
        .map(|engine| engine.encode(&prefixed)[start..end].to_string())
        .filter(|core| core.len() >= MIN_SECRET_BYTES)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use base64::engine::general_purpose::{STANDARD, URL_SAFE};

    const SECRET: &str = "s3cr3t/value+with spaces&more?";

    fn scrubbed(s: &Scrubber, text: &str) -> String {
        s.text(text).into_owned()
    }

    #[test]
    fn every_encoded_form_is_removed() {
        let s = Scrubber::new([SECRET]);
        let form: String = url::form_urlencoded::byte_serialize(SECRET.as_bytes()).collect();
        let basic = STANDARD.encode(format!("client-id:{form}"));
        // Prefixes of 2, 3 and 4 bytes: each of the three alignments.
        let basic_two = STANDARD.encode(format!("x:{SECRET}"));
        let basic_three = STANDARD.encode(format!("ab:{SECRET}"));
        let basic_four = STANDARD.encode(format!("abc:{SECRET}"));
        let cases = [
            SECRET.to_string(),
            serde_json::to_string(SECRET).unwrap(),
            form.clone(),
            form.replace('+', "%20"),
            form.to_lowercase(),
            hex::encode(SECRET),
            hex::encode_upper(SECRET),
            STANDARD.encode(SECRET),
            URL_SAFE.encode(SECRET),
            basic,
            basic_two,
            basic_three,
            basic_four,
        ];
        for case in cases {
            let text = format!("echo: Basic {case} end");
            let out = scrubbed(&s, &text);
            assert!(out.contains(REDACTED), "{case:?} was not found in {text:?}");
            assert!(!out.contains(SECRET) && !s.finds(out.as_bytes()), "{out}");
        }
    }

    #[test]
    fn text_without_secrets_is_untouched() {
        let s = Scrubber::new([SECRET, "short"]);
        let body = br#"{"_embedded":{"users":[{"id":"5a1b","username":"ana"}]}}"#.to_vec();
        assert!(!s.finds(&body));
        assert_eq!(s.bytes(body.clone()), body);
        // Too short to tell from data: left to the resolver to refuse.
        assert_eq!(scrubbed(&s, "a short word"), "a short word");
    }

    #[test]
    fn bodies_are_scrubbed_in_place_of_each_match() {
        let s = Scrubber::new([SECRET, "tok-0123456789abcdef"]);
        let body = format!(
            r#"{{"headers":{{"authorization":"Bearer tok-0123456789abcdef"}},"b":"{}"}}"#,
            hex::encode(SECRET)
        );
        let out = String::from_utf8(s.bytes(body.into_bytes())).unwrap();
        assert_eq!(
            out,
            r#"{"headers":{"authorization":"Bearer [redacted]"},"b":"[redacted]"}"#
        );
    }

    #[test]
    fn an_empty_scrubber_finds_nothing() {
        let s = Scrubber::new([]);
        assert!(!s.finds(b"anything"));
        assert_eq!(s.text("anything"), "anything");
    }
}
