//! Request builders and response helpers over the host's `http` import.
//!
//! Decision: requests are plain records built here and sent by the host, so
//! egress policy, credentials, retries and concurrency stay host-side; this
//! module only makes them pleasant to write and to decode.

use serde::de::DeserializeOwned;

use crate::ConnectorError;
pub use crate::bindings::idgov::connector::http::{HttpError, Method, Request, Response};

impl Request {
    pub fn new(method: Method, url: impl Into<String>) -> Self {
        let idempotent = matches!(
            method,
            Method::Get | Method::Head | Method::Put | Method::Delete
        );
        Request {
            method,
            url: url.into(),
            headers: Vec::new(),
            body: None,
            idempotent,
        }
    }

    pub fn get(url: impl Into<String>) -> Self {
        Self::new(Method::Get, url)
    }

    pub fn post(url: impl Into<String>) -> Self {
        Self::new(Method::Post, url)
    }

    pub fn put(url: impl Into<String>) -> Self {
        Self::new(Method::Put, url)
    }

    pub fn delete(url: impl Into<String>) -> Self {
        Self::new(Method::Delete, url)
    }

    pub fn header(mut self, name: &str, value: &str) -> Self {
        self.headers.push((name.to_string(), value.to_string()));
        self
    }

    /// A JSON body with its content type.
    pub fn json<T: serde::Serialize + ?Sized>(mut self, body: &T) -> Self {
        self.body = Some(serde_json::to_vec(body).expect("serializing a JSON body"));
        self.header("content-type", "application/json")
    }

    /// Marks a request safe to repeat (or not), overriding the method's default.
    pub fn idempotent(mut self, yes: bool) -> Self {
        self.idempotent = yes;
        self
    }
}

impl Response {
    /// The first header with this name (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    pub fn is_success(&self) -> bool {
        (200..300).contains(&self.status)
    }

    /// Decodes a JSON body; a malformed body is an `unavailable` error that
    /// quotes the start of the body (bodies never carry secrets).
    pub fn json<T: DeserializeOwned>(&self) -> Result<T, ConnectorError> {
        serde_json::from_slice(&self.body).map_err(|e| {
            ConnectorError::Unavailable(format!(
                "malformed JSON in a {} response ({e}): {}",
                self.status,
                self.body_snippet()
            ))
        })
    }

    /// At most 200 bytes of the body, lossily decoded, for error messages.
    pub fn body_snippet(&self) -> String {
        let end = self.body.len().min(200);
        let mut s = String::from_utf8_lossy(&self.body[..end]).into_owned();
        if self.body.len() > end {
            s.push('…');
        }
        s
    }
}

/// Percent-encodes a value for use in a query string or path segment.
pub fn encode(value: &str) -> String {
    // Ids (the usual value) need no escaping: copy them as they are instead
    // of assembling the output piece by piece.
    if value
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'*' | b'-' | b'.' | b'_'))
    {
        return value.to_string();
    }
    form_encode(value)
}

/// Form-urlencoding with spaces as `%20`, which both query strings and path
/// segments accept.
fn form_encode(value: &str) -> String {
    url::form_urlencoded::byte_serialize(value.as_bytes())
        .collect::<String>()
        .replace('+', "%20")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encode_escapes_exactly_what_form_urlencoding_does_with_spaces_as_percent_20() {
        for v in [
            "",
            "0b8a6a9e-3c1d-4f2e-9d7a-5b6c7d8e9f00",
            "a.b_c*d-e",
            "type eq \"DIRECT\"",
            "a+b",
            "~tilde",
            "é",
            "x/y?z&w=1#f",
        ] {
            assert_eq!(encode(v), form_encode(v), "{v:?}");
        }
        for b in 0u8..=127 {
            let v = (b as char).to_string();
            assert_eq!(encode(&v), form_encode(&v), "byte {b}");
        }
    }

    #[test]
    fn methods_default_to_their_idempotency() {
        assert!(Request::get("https://x").idempotent);
        assert!(Request::delete("https://x").idempotent);
        assert!(!Request::post("https://x").idempotent);
        assert!(Request::post("https://x").idempotent(true).idempotent);
    }

    #[test]
    fn json_errors_quote_the_body() {
        let r = Response {
            status: 200,
            headers: vec![("Content-Type".into(), "text/html".into())],
            body: b"<html>oops</html>".to_vec(),
        };
        assert_eq!(r.header("content-type"), Some("text/html"));
        let e = r.json::<serde_json::Value>().unwrap_err();
        assert!(e.describe().contains("<html>oops</html>"), "{e}");
    }

    #[test]
    fn encode_escapes_filter_syntax() {
        assert_eq!(
            encode(r#"memberOfGroups[id eq "a b"]"#),
            "memberOfGroups%5Bid%20eq%20%22a%20b%22%5D"
        );
    }
}
