//! Guest request paths that would not stay where they were written.
//!
//! Threat: a connector builds a URL from an id it was handed (a task, a
//! flag, a c1z record) and an id such as `../groups/<gid>` climbs out of
//! its path segment. The URL parser resolves dot-segments (`.`, `..` and
//! their `%2e` forms) and treats `\` as `/`, so the request goes to
//! another resource of the same allowed origin, with the same credential:
//! `DELETE …/users/../groups/<gid>` deletes the group. Encoded slashes
//! (`%2f`, `%5c`) are decoded by many servers and proxies into the same
//! climb.
//!
//! Decision: defence in depth beside the guest's own id checks. A guest
//! URL whose raw path (before any parsing, which would already have
//! resolved the dot-segments) has a `.` or `..` segment in any spelling,
//! an encoded slash or backslash, or a literal backslash is refused as an
//! invalid request, naming what it found. A URL that legitimately needs
//! these is not something the connectors we run send.

/// `Err(reason)` when the path of `url` has a dot-segment or an encoded or
/// alternate slash. The reason names the offending part, not the whole URL.
pub fn check(url: &str) -> Result<(), String> {
    let path = raw_path(url);
    let lower = path.to_ascii_lowercase();
    for (enc, what) in [("%2f", "an encoded slash"), ("%5c", "an encoded backslash")] {
        if lower.contains(enc) {
            return Err(format!(
                "the URL path has {what} ({}), which servers may decode into another path",
                &path[lower.find(enc).unwrap_or(0)..][..3]
            ));
        }
    }
    if path.contains('\\') {
        return Err("the URL path has a backslash, which URL parsers read as a slash".into());
    }
    for segment in path.split('/') {
        let dots = segment.to_ascii_lowercase().replace("%2e", ".");
        if dots == "." || dots == ".." {
            return Err(format!(
                "the URL path has the dot-segment {segment:?}, which would send the request \
                 to another path"
            ));
        }
    }
    Ok(())
}

/// The path of `url` as written: after `scheme://authority`, before `?`
/// or `#`. A URL without `://` is taken as a path.
fn raw_path(url: &str) -> &str {
    let rest = match url.find("://") {
        Some(i) => {
            let after = &url[i + 3..];
            // The authority ends where the parser ends it for http(s):
            // at `/`, `\`, `?` or `#`.
            let end = after.find(['/', '\\', '?', '#']).unwrap_or(after.len());
            &after[end..]
        }
        None => url,
    };
    let end = rest.find(['?', '#']).unwrap_or(rest.len());
    &rest[..end]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ordinary_paths_pass() {
        for ok in [
            "https://api.pingone.com/v1/environments/e/users/u/memberOfGroups",
            "https://api.pingone.com",
            "https://api.pingone.com/",
            "https://api.pingone.com/v1/users?filter=a%2Fb&x=../y#..",
            "https://h/v1/a.b/..c/c../...",
            "https://h/v1/users/%2e%2e%2e",
            "http://127.0.0.1:8080/v1/x",
        ] {
            assert_eq!(check(ok), Ok(()), "{ok}");
        }
    }

    #[test]
    fn dot_segments_in_any_spelling_are_refused() {
        for (bad, seg) in [
            ("https://h/v1/users/../groups/g", "\"..\""),
            ("https://h/v1/users/./x", "\".\""),
            ("https://h/v1/users/..", "\"..\""),
            ("https://h/v1/users/%2e%2e/groups/g", "\"%2e%2e\""),
            ("https://h/v1/users/%2E./groups/g", "\"%2E.\""),
            ("https://h/v1/users/.%2e?x=1", "\".%2e\""),
            ("https://h/v1/users/%2e/x", "\"%2e\""),
            ("https://h/..", "\"..\""),
        ] {
            let e = check(bad).unwrap_err();
            assert!(e.contains("dot-segment") && e.contains(seg), "{bad}: {e}");
        }
    }

    #[test]
    fn encoded_and_alternate_slashes_are_refused() {
        for (bad, what) in [
            ("https://h/v1/users/..%2fgroups%2fg", "encoded slash (%2f)"),
            ("https://h/v1/users/x%2Fy", "encoded slash (%2F)"),
            ("https://h/v1/users/x%5cy", "encoded backslash (%5c)"),
            ("https://h/v1/users/x\\..\\groups", "backslash"),
            ("https://h\\..\\v1", "backslash"),
        ] {
            let e = check(bad).unwrap_err();
            assert!(e.contains(what), "{bad}: {e}");
        }
    }
}
