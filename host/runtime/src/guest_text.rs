//! Text a component hands the host, made safe to log and show.
//!
//! Threat: every string a component produces is untrusted, and some of it
//! reaches the operator's logs and terminal: log lines, connector error
//! messages (logged again on every retry), panic text from its stderr, a
//! validation summary and its warnings, and whatever ends up inside a
//! `CallError` message. A guest can make such a text huge (a 12 MiB error
//! logged on each of five attempts is 60 MiB of stderr) or shape it: a CR or
//! LF starts what looks like a new host log line in console format, an ANSI
//! escape rewrites the terminal, a Unicode line separator or a bidi override
//! reorders what a reader sees.
//!
//! Decision: one function, [`sanitize`], applied where such text enters the
//! host (the `log` import, the end of every call for its error and its
//! validation output, the component's metadata text at load), so every log
//! format and every caller sees the same bounded, single-line text:
//! - secret values are redacted first, over the whole text, so a cut can
//!   never leave the visible half of a secret behind;
//! - control characters (C0 with tab, CR and LF, DEL, C1), the Unicode line
//!   and paragraph separators and the bidi embedding, override and isolate
//!   characters become visible escapes (`\n`, `\r`, `\t`, `\u{1b}`, ...);
//!   backslashes are left alone, so a guest can make a text look escaped
//!   but never make it span two lines;
//! - the result is cut to [`GUEST_TEXT_BYTES`] (marker included), at a
//!   character boundary, ending with `…[N bytes cut]`, where N counts the
//!   bytes of the redacted text that were left out.
//!
//! The output holds no character the function would change, and is never
//! longer than the cap, so sanitizing twice changes nothing.

use std::fmt::Write as _;

use crate::capabilities::secrets::{Secrets, redact};

/// The most bytes of one guest text the host keeps (escapes and the cut
/// marker included). A useful error or log line is a sentence or two, and
/// an upstream error body quoted in it rarely passes 1 KiB; 4 KiB keeps all
/// of that while bounding a line in the operator's logs.
pub const GUEST_TEXT_BYTES: usize = 4 << 10;

/// Room kept for the cut marker: `…[` + up to 20 digits + ` bytes cut]`.
const MARKER_ROOM: usize = 40;

/// Redacts `secrets` from a guest text, escapes its control characters and
/// caps it at [`GUEST_TEXT_BYTES`] (see the module documentation).
pub fn sanitize(text: &str, secrets: &Secrets) -> String {
    escape_and_cap(&redact(text, secrets))
}

/// [`sanitize`] without redaction: for text that holds no secret to find
/// (and for tests).
pub fn escape_and_cap(text: &str) -> String {
    let mut out = String::with_capacity(text.len().min(GUEST_TEXT_BYTES));
    // Where a text too long to keep whole is cut: the output's length and
    // the text's offset before the first character that leaves no room for
    // the marker (whole characters only).
    let mut cut = None;
    for (at, c) in text.char_indices() {
        let before = out.len();
        push_escaped(&mut out, c);
        if cut.is_none() && out.len() + MARKER_ROOM > GUEST_TEXT_BYTES {
            cut = Some((before, at));
        }
        if out.len() > GUEST_TEXT_BYTES {
            let (keep, at) = cut.expect("the marker's room runs out before the cap");
            out.truncate(keep);
            write!(out, "…[{} bytes cut]", text.len() - at).expect("writing to a String");
            break;
        }
    }
    out
}

/// Characters that could break a line, move the cursor, recolour or
/// reorder what the reader sees.
fn needs_escape(c: char) -> bool {
    c.is_control() // C0 (tab, LF, CR, ESC, ...), DEL and C1
        || matches!(
            c,
            '\u{2028}' | '\u{2029}' // line and paragraph separators
                | '\u{200e}' | '\u{200f}' // left-to-right and right-to-left marks
                | '\u{202a}'..='\u{202e}' // bidi embeddings and overrides
                | '\u{2066}'..='\u{2069}' // bidi isolates
        )
}

fn push_escaped(out: &mut String, c: char) {
    if !needs_escape(c) {
        out.push(c);
        return;
    }
    match c {
        '\n' => out.push_str("\\n"),
        '\r' => out.push_str("\\r"),
        '\t' => out.push_str("\\t"),
        _ => write!(out, "\\u{{{:x}}}", c as u32).expect("writing to a String"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_plain_text_is_unchanged() {
        assert_eq!(
            escape_and_cap("page 2 of users: 200 ok"),
            "page 2 of users: 200 ok"
        );
        assert_eq!(escape_and_cap(""), "");
        assert_eq!(escape_and_cap("naïve – ünïcode ✓"), "naïve – ünïcode ✓");
        // A backslash stays: text may look escaped, never break a line.
        assert_eq!(escape_and_cap(r"C:\dir\n"), r"C:\dir\n");
    }

    #[test]
    fn control_and_separator_characters_become_visible_escapes() {
        let forged = "ok\r\n2026-01-01T00:00:00Z ERROR host: forged\x1b[2J\x1b]0;t\x07";
        assert_eq!(
            escape_and_cap(forged),
            r"ok\r\n2026-01-01T00:00:00Z ERROR host: forged\u{1b}[2J\u{1b}]0;t\u{7}"
        );
        assert_eq!(
            escape_and_cap("a\tb\u{0}c\u{7f}d\u{85}e\u{9b}f"),
            r"a\tb\u{0}c\u{7f}d\u{85}e\u{9b}f"
        );
        assert_eq!(
            escape_and_cap("x\u{2028}y\u{2029}z\u{202e}w\u{2066}v\u{200f}"),
            r"x\u{2028}y\u{2029}z\u{202e}w\u{2066}v\u{200f}"
        );
        for c in (0u32..0x20).chain(0x7f..0xa0).chain([0x2028, 0x2029]) {
            let c = char::from_u32(c).unwrap();
            let out = escape_and_cap(&format!("a{c}b"));
            assert!(!out.contains(c), "{c:?} survived in {out:?}");
        }
    }

    #[test]
    fn long_text_is_cut_with_a_marker_within_the_cap() {
        let huge = "e".repeat(12 << 20);
        let out = escape_and_cap(&huge);
        assert!(out.len() <= GUEST_TEXT_BYTES, "{}", out.len());
        assert!(out.len() > GUEST_TEXT_BYTES - MARKER_ROOM, "{}", out.len());
        let kept = out.find('…').unwrap();
        let cut = (12 << 20) - kept;
        assert!(
            out.ends_with(&format!("…[{cut} bytes cut]")),
            "{}",
            &out[kept..]
        );

        // Exactly at the cap: kept whole; one byte over: cut.
        let at_cap = "x".repeat(GUEST_TEXT_BYTES);
        assert_eq!(escape_and_cap(&at_cap), at_cap);
        let over = "x".repeat(GUEST_TEXT_BYTES + 1);
        assert!(escape_and_cap(&over).ends_with(" bytes cut]"));
    }

    #[test]
    fn escapes_count_against_the_cap_and_the_cut_respects_characters() {
        // Every byte escapes to 6: the cap still holds.
        let out = escape_and_cap(&"\x1b".repeat(10_000));
        assert!(out.len() <= GUEST_TEXT_BYTES, "{}", out.len());
        assert!(out.starts_with(r"\u{1b}\u{1b}"));
        // Multi-byte characters are never split.
        let out = escape_and_cap(&"✓".repeat(5_000));
        assert!(out.len() <= GUEST_TEXT_BYTES);
        assert!(
            out.trim_end_matches(|c| c != '…')
                .chars()
                .all(|c| c == '✓' || c == '…')
        );
    }

    /// Redaction runs over the whole text before the cut, so a secret that
    /// straddles the cut shows no half of itself.
    #[test]
    fn secrets_are_redacted_before_the_cut() {
        use secrecy::SecretString;
        let secret = "s3cret-value-0123456789";
        let mut fields = std::collections::BTreeMap::new();
        fields.insert("k".to_string(), SecretString::from(secret));
        let secrets = Secrets::new(vec!["k".into()], fields, None);
        for at in [0, GUEST_TEXT_BYTES - MARKER_ROOM - 10, GUEST_TEXT_BYTES - 5] {
            let text = format!("{}{secret}\n{}", "a".repeat(at), "b".repeat(10_000));
            let out = sanitize(&text, &secrets);
            assert!(out.len() <= GUEST_TEXT_BYTES);
            assert!(
                !out.contains("s3cret"),
                "at {at}: {}",
                &out[out.len() - 80..]
            );
            assert!(!out.contains('\n'));
        }
        let out = sanitize(&format!("x {secret}\r\ny"), &secrets);
        assert_eq!(out, r"x [redacted]\r\ny");
    }

    /// Every text a guest could shape in a `CallError` goes through the
    /// function; the host's own and the typed limits stay as they are.
    #[test]
    fn call_errors_carry_sanitized_text() {
        use crate::error::CallError;
        let huge = format!("a\r\nb{}", "x".repeat(1 << 20));
        let clean = |e: CallError| e.map_text(escape_and_cap);
        for e in [
            CallError::GuestPanic(huge.clone()),
            CallError::GuestTrap(huge.clone()),
            CallError::PolicyDenied(huge.clone()),
            CallError::LimitExceeded(huge.clone()),
            CallError::InvalidRecord(huge.clone()),
            CallError::Connector {
                kind: "unavailable",
                message: huge.clone(),
                transient: true,
            },
        ] {
            let kind = e.kind();
            let transient = e.is_transient();
            let e = clean(e);
            let text = e.to_string();
            assert!(
                text.len() < GUEST_TEXT_BYTES + 100,
                "{kind}: {}",
                text.len()
            );
            assert!(text.contains(r"a\r\nb") && !text.contains('\n'), "{kind}");
            assert_eq!((e.kind(), e.is_transient()), (kind, transient));
        }
        let host = clean(CallError::Host("line one\nline two".into()));
        assert!(matches!(host, CallError::Host(m) if m == "line one\nline two"));
    }

    #[test]
    fn sanitizing_twice_changes_nothing() {
        for text in [
            "plain".to_string(),
            "a\r\nb\x1b[31m".to_string(),
            "y".repeat(1 << 20),
            "\n".repeat(5_000),
            format!("{}\u{2028}", "z".repeat(GUEST_TEXT_BYTES - 3)),
        ] {
            let once = escape_and_cap(&text);
            assert_eq!(escape_and_cap(&once), once);
        }
    }
}
