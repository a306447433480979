//! Differential fuzz of the PingOne connector's id-page scanner
//! ([`parse_id_page`]) against the plain serde_json path ([`parse_page`]),
//! built for wasm32-wasip2 and run by `tests/e2e/tests/idpage_fuzz_wasm.rs`.
//!
//! Threat: the scanner re-implements, byte by byte, the part of serde_json a
//! collection page goes through, and it only earns its place while it
//! decodes exactly as serde_json does *in the guest*, where the connector
//! runs: the eight-bytes-a-turn string loop, word loads and allocator all
//! behave differently on wasm32 than on the native test build. So this
//! runs in the target itself, with the system allocator, and compares what
//! callers see (the items, `next`, `count`, or the error class) on:
//! real-shaped pages (users, group members, `memberOfGroups`, role
//! assignments) with every truncation and every grammar-byte substitution;
//! random pages with single- and multi-byte mutations, insertions,
//! deletions and splices; and random valid JSON with ids in odd places,
//! escapes, deep nesting, huge numbers, duplicate keys, BOMs and
//! whitespace. The first differing input is printed and the exit status is
//! non-zero.
//!
//! Usage: `idpage-fuzz [--seed N] [--cases N]`. The same seed gives the
//! same inputs on every machine (the generator is a fixed SplitMix64).

use std::process::ExitCode;

use connector_sdk::ConnectorError;
use connector_sdk::http::Response;
use pingone_connector::client::idpage::{Slim, parse_id_page};
use pingone_connector::client::model::{GroupMembership, IdOnly};
use pingone_connector::client::paging::{Page, parse_page};
use serde::de::DeserializeOwned;

fn main() -> ExitCode {
    let (seed, cases) = match parse_args(std::env::args().skip(1)) {
        Ok(a) => a,
        Err(e) => {
            eprintln!("idpage-fuzz: {e}");
            return ExitCode::from(2);
        }
    };
    match run(seed, cases) {
        Ok(stats) => {
            println!(
                "idpage-fuzz: seed {seed}: {} inputs agree ({} decoded, {} refused)",
                stats.inputs, stats.decoded, stats.refused
            );
            ExitCode::SUCCESS
        }
        Err(mismatch) => {
            eprintln!("{mismatch}");
            ExitCode::FAILURE
        }
    }
}

fn parse_args(mut args: impl Iterator<Item = String>) -> Result<(u64, u64), String> {
    let (mut seed, mut cases) = (1, 2_000);
    while let Some(flag) = args.next() {
        let value = args.next().ok_or_else(|| format!("{flag} needs a value"))?;
        let n: u64 = value
            .parse()
            .map_err(|_| format!("{flag}: not a number: {value:?}"))?;
        match flag.as_str() {
            "--seed" => seed = n,
            "--cases" => cases = n,
            _ => return Err(format!("unknown argument {flag:?}")),
        }
    }
    Ok((seed, cases))
}

#[derive(Default)]
struct Stats {
    inputs: u64,
    decoded: u64,
    refused: u64,
}

/// The page kinds the scanner decodes in the connector (and role
/// assignments, a listing of objects with ids nested beside the item's
/// own), with the `_embedded` key each is read under.
#[derive(Clone, Copy, Debug)]
enum Kind {
    Users,
    GroupMembers,
    MemberOfGroups,
    RoleAssignments,
}

const KINDS: [Kind; 4] = [
    Kind::Users,
    Kind::GroupMembers,
    Kind::MemberOfGroups,
    Kind::RoleAssignments,
];

impl Kind {
    fn key(self) -> &'static str {
        match self {
            Kind::Users | Kind::GroupMembers => "users",
            Kind::MemberOfGroups => "groupMemberships",
            Kind::RoleAssignments => "roleAssignments",
        }
    }
}

/// Both decoders, reduced to what callers see.
fn outcomes(kind: Kind, body: &[u8]) -> (String, String) {
    match kind {
        Kind::MemberOfGroups => {
            both::<GroupMembership>(body, kind.key(), |m| format!("{}/{:?}", m.id, m.kind))
        }
        _ => both::<IdOnly>(body, kind.key(), |i| i.id.clone()),
    }
}

fn both<T: Slim + DeserializeOwned>(
    body: &[u8],
    key: &str,
    item: fn(&T) -> String,
) -> (String, String) {
    let resp = Response {
        status: 200,
        headers: vec![],
        body: body.to_vec(),
    };
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
        show(parse_page::<T>(&resp, key, "fuzz")),
        show(parse_id_page::<T>(&resp, key, "fuzz")),
    )
}

/// Compares both decoders on one input; the error describes the input.
fn check(stats: &mut Stats, kind: Kind, how: &str, body: &[u8]) -> Result<(), String> {
    stats.inputs += 1;
    let (plain, scanned) = outcomes(kind, body);
    if plain != scanned {
        return Err(format!(
            "MISMATCH ({kind:?} page, {how})\n  serde_json: {plain}\n  scanner:    {scanned}\n  \
             input ({} bytes, as a Rust byte string): b\"{}\"",
            body.len(),
            body.escape_ascii()
        ));
    }
    if plain.starts_with("ok") {
        stats.decoded += 1;
    } else {
        stats.refused += 1;
    }
    Ok(())
}

fn run(seed: u64, cases: u64) -> Result<Stats, String> {
    let mut stats = Stats::default();
    let mut rng = Rng(seed);
    // Real-shaped pages, exhaustively: every cut and every grammar byte at
    // every offset.
    for kind in KINDS {
        let page = real_page(&mut rng, kind, 3);
        let (plain, _) = outcomes(kind, &page);
        if !plain.starts_with("ok") {
            return Err(format!(
                "the {kind:?} corpus page does not decode: {plain}: {}",
                String::from_utf8_lossy(&page)
            ));
        }
        check(&mut stats, kind, "as generated", &page)?;
        for end in 0..page.len() {
            check(&mut stats, kind, &format!("cut at {end}"), &page[..end])?;
        }
        for at in 0..page.len() {
            for &c in GRAMMAR {
                let mut body = page.clone();
                body[at] = c;
                check(&mut stats, kind, &format!("byte {at} -> {c:#04x}"), &body)?;
            }
        }
    }
    // Random cases: a fresh page each time, mutated.
    for case in 0..cases {
        let kind = KINDS[rng.below(4) as usize];
        let page = if rng.chance(2) {
            let items = rng.below(4) as usize;
            real_page(&mut rng, kind, items)
        } else {
            odd_page(&mut rng, kind)
        };
        let (how, body) = mutate(&mut rng, &page);
        check(&mut stats, kind, &format!("case {case}: {how}"), &body)?;
    }
    Ok(stats)
}

/// The bytes JSON's grammar turns on, and a few it forbids.
const GRAMMAR: &[u8] = b"\"\\{}[],:0-.eE an\t\x01\xff\x7f/u";

/// SplitMix64: tiny, seedable, the same on every target.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
    /// A number in `0..n` (`n` > 0).
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
    /// True one time in `n`.
    fn chance(&mut self, n: u64) -> bool {
        self.below(n) == 0
    }
    fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len() as u64) as usize]
    }
}

/// A PingOne-style id: a UUID, or now and then something odd but valid.
fn id(rng: &mut Rng) -> String {
    match rng.below(12) {
        0 => "".into(),
        1 => r"a\u0062c".into(),
        2 => "Zo\u{eb}-\u{1F600}".into(),
        3 => r#"q\"uote\\d\/\n"#.into(),
        4 => "x".repeat(rng.below(40) as usize),
        _ => {
            let h = rng.next();
            let l = rng.next();
            format!(
                "{:08x}-{:04x}-{:04x}-{:04x}-{:012x}",
                h >> 32,
                (h >> 16) & 0xffff,
                h & 0xffff,
                l >> 48,
                l & 0xffff_ffff_ffff
            )
        }
    }
}

/// Text for a skipped string field: plain, escaped, non-ASCII, long runs
/// (for the eight-byte loop) and the odd control escape.
fn text(rng: &mut Rng) -> String {
    let parts = [
        "Alice",
        "Smith",
        " ",
        r#"\""#,
        r"\\",
        r"\/",
        r"\b\f\n\r\t",
        r"\u00e9",
        r"\uD83D\uDE00",
        "\u{e9}",
        "\u{4e2d}\u{6587}",
        "\u{1F600}",
        "abcdefghijklmnopqrstuvwxyz0123456789",
        "https://api.pingone.com/v1/environments/abc/users?limit=100",
        "2021-10-11T16:29:08.197Z",
        "\x7f",
        "id",
        r#"\"id\":\"fake\""#,
    ];
    let n = rng.below(6) as usize;
    (0..n).map(|_| *rng.pick(&parts)).collect()
}

fn number(rng: &mut Rng) -> String {
    rng.pick(&[
        "0",
        "-0",
        "1",
        "42",
        "-17",
        "3.25",
        "-2.5e3",
        "1E-7",
        "0.1e+10",
        "18446744073709551615",
        "18446744073709551616",
        "-9223372036854775809",
        "1e400",
        "-1e400",
        "123456789012345678901234567890",
        "0.0000000000000000000000000000001",
        "1.7976931348623157e308",
    ])
    .to_string()
}

fn links(rng: &mut Rng, next: bool) -> String {
    let base = "https://api.pingone.com/v1/environments/0f3c/users";
    let mut s = format!(r#""_links":{{"self":{{"href":"{base}?limit=100"}}"#);
    if next {
        s.push_str(&format!(
            r#","next":{{"href":"{base}?cursor={}&limit=100"}}"#,
            rng.next()
        ));
    }
    s.push('}');
    s
}

/// One listed item as PingOne sends it for `kind`.
fn real_item(rng: &mut Rng, kind: Kind) -> String {
    let env = id(rng);
    match kind {
        Kind::Users | Kind::GroupMembers => format!(
            r#"{{"_links":{{"self":{{"href":"https://api.pingone.com/v1/environments/{env}/users/{uid}"}},"password":{{"href":"https://api.pingone.com/v1/environments/{env}/users/{uid}/password"}}}},"id":"{uid}","environment":{{"id":"{env}"}},"account":{{"canAuthenticate":true,"status":"OK"}},"createdAt":"2021-10-11T16:29:08.197Z","email":"{t}@example.com","enabled":{en},"identityProvider":{{"type":"PING_ONE"}},"lifecycle":{{"status":"ACCOUNT_OK"}},"mfaEnabled":false,"name":{{"given":"{t}","family":"{t2}","formatted":"{t} {t2}"}},"population":{{"id":"{pop}"}},"updatedAt":"2022-01-01T00:00:00Z","username":"{t}","verifyStatus":"NOT_INITIATED","memberOfGroupIDs":["{g}","{g2}"],"custom":{{"level":{n},"tags":[{n},null,true,"{t}"]}}}}"#,
            uid = id(rng),
            t = text(rng),
            t2 = text(rng),
            en = rng.chance(2),
            pop = id(rng),
            g = id(rng),
            g2 = id(rng),
            n = number(rng),
        ),
        Kind::MemberOfGroups => {
            let kind = rng.pick(&[
                r#","type":"DIRECT""#,
                r#","type":"INDIRECT""#,
                r#","type":null"#,
                "",
            ]);
            format!(
                r#"{{"_links":{{"self":{{"href":"https://api.pingone.com/v1/environments/{env}/users/u/memberOfGroups/{gid}"}}}},"environment":{{"id":"{env}"}},"id":"{gid}","name":"{t}"{kind},"population":{{"id":"{pop}"}}}}"#,
                gid = id(rng),
                t = text(rng),
                pop = id(rng),
            )
        }
        Kind::RoleAssignments => format!(
            r#"{{"_links":{{"self":{{"href":"https://api.pingone.com/v1/environments/{env}/users/u/roleAssignments/{rid}"}}}},"role":{{"id":"{role}"}},"scope":{{"id":"{scope}","type":"{st}"}},"environment":{{"id":"{env}"}},"id":"{rid}","readOnly":{ro}}}"#,
            rid = id(rng),
            role = id(rng),
            scope = id(rng),
            st = rng.pick(&["ENVIRONMENT", "POPULATION", "ORGANIZATION", "APPLICATION"]),
            ro = rng.chance(3),
        ),
    }
}

/// A page as PingOne sends it: `_links`, `_embedded.<key>`, `count`, `size`.
fn real_page(rng: &mut Rng, kind: Kind, items: usize) -> Vec<u8> {
    let list: Vec<String> = (0..items).map(|_| real_item(rng, kind)).collect();
    let next = rng.chance(2);
    format!(
        r#"{{{},"_embedded":{{"{}":[{}]}},"count":{},"size":{}}}"#,
        links(rng, next),
        kind.key(),
        list.join(","),
        items + rng.below(500) as usize,
        items
    )
    .into_bytes()
}

/// A random JSON value, at most `depth` levels deep; objects may hide `id`
/// keys and repeat keys.
fn value(rng: &mut Rng, depth: u32) -> String {
    let leaf = depth == 0 || rng.chance(3);
    match rng.below(if leaf { 5 } else { 8 }) {
        0 => format!("\"{}\"", text(rng)),
        1 => number(rng),
        2 => rng.pick(&["true", "false", "null"]).to_string(),
        3 => format!("\"{}\"", id(rng)),
        4 => ws(rng),
        5 | 6 => {
            let n = rng.below(4);
            let fields: Vec<String> = (0..n)
                .map(|_| {
                    let k = rng
                        .pick(&[
                            "id",
                            "\\u0069d",
                            "type",
                            "_links",
                            "_embedded",
                            "users",
                            "name",
                            "\u{e9}",
                            "",
                            "count",
                        ])
                        .to_string();
                    format!("\"{k}\":{}", value(rng, depth - 1))
                })
                .collect();
            format!("{{{}}}", fields.join(","))
        }
        _ => {
            let n = rng.below(4);
            let items: Vec<String> = (0..n).map(|_| value(rng, depth - 1)).collect();
            format!("[{}]", items.join(","))
        }
    }
}

/// Whitespace JSON allows, or none, around a value that follows.
fn ws(rng: &mut Rng) -> String {
    let pad = rng.pick(&["", " ", "\n", "\r\n\t ", "  "]);
    format!("{pad}\"{pad}\"{pad}")
}

/// Nested brackets around a scalar, objects and arrays mixed.
fn deep(rng: &mut Rng) -> String {
    let levels = 1 + rng.below(300) as usize;
    let mut open = String::new();
    let mut close = Vec::new();
    for _ in 0..levels {
        if rng.chance(2) {
            open.push_str(r#"{"id":"#);
            close.push('}');
        } else {
            open.push('[');
            close.push(']');
        }
    }
    close.reverse();
    format!("{open}1{}", close.into_iter().collect::<String>())
}

/// One listed item of an odd but mostly valid shape.
fn odd_item(rng: &mut Rng, kind: Kind) -> String {
    let extra = matches!(kind, Kind::MemberOfGroups);
    match rng.below(12) {
        0 => format!(r#"["{}"]"#, id(rng)),
        1 => format!(r#"["{}",{}]"#, id(rng), value(rng, 1)),
        2 => format!(r#"{{"id":"{}","id":"{}"}}"#, id(rng), id(rng)),
        3 => format!(r#"{{"type":"A","id":"{}","type":"B"}}"#, id(rng)),
        4 => format!(r#"{{"x":{},"id":"{}"}}"#, deep(rng), id(rng)),
        5 => format!(r#"{{"\u0069d":"{}"}}"#, id(rng)),
        6 => format!(r#"{{"id":{}}}"#, value(rng, 2)),
        7 => value(rng, 3),
        8 if extra => format!(r#"{{"id":"{}","type":{}}}"#, id(rng), value(rng, 1)),
        9 => format!(
            "{{ \"id\" :\t\"{}\" ,\n \"nested\" : {{ \"id\" : \"{}\" }} }}",
            id(rng),
            id(rng)
        ),
        _ => {
            let n = rng.below(4);
            let mut fields: Vec<String> = (0..n)
                .map(|i| format!(r#""f{i}":{}"#, value(rng, 3)))
                .collect();
            let at = rng.below(n + 1) as usize;
            fields.insert(at, format!(r#""id":"{}""#, id(rng)));
            format!("{{{}}}", fields.join(","))
        }
    }
}

/// A random envelope: the wanted key, other keys, repeated keys, odd
/// `_links`, `count` and `size`, in any order, with a BOM or whitespace
/// now and then.
fn odd_page(rng: &mut Rng, kind: Kind) -> Vec<u8> {
    let items: Vec<String> = (0..rng.below(5)).map(|_| odd_item(rng, kind)).collect();
    let list = format!("[{}]", items.join(","));
    let mut embedded = vec![format!("\"{}\":{list}", kind.key())];
    for _ in 0..rng.below(3) {
        embedded.push(match rng.below(4) {
            0 => format!(r#""other":[{}]"#, value(rng, 3)),
            1 => format!(r#""{}":[]"#, kind.key()),
            2 => format!(r#""x":{}"#, deep(rng)),
            _ => format!(r#""{}":{}"#, kind.key(), value(rng, 2)),
        });
    }
    let at = rng.below(embedded.len() as u64) as usize;
    let last = embedded.len() - 1;
    embedded.swap(at, last);
    let mut fields = vec![format!("\"_embedded\":{{{}}}", embedded.join(","))];
    for _ in 0..rng.below(5) {
        fields.push(match rng.below(8) {
            0 => links(rng, true),
            1 => format!(r#""_links":{}"#, value(rng, 3)),
            2 => format!(r#""_links":{{"next":{{"href":{}}}}}"#, value(rng, 1)),
            3 => format!(r#""count":{}"#, number(rng)),
            4 => format!(r#""size":{}"#, number(rng)),
            5 => format!(r#""_embedded":{}"#, value(rng, 2)),
            6 => format!(r#""\u005fembedded":{{"{}":[]}}"#, kind.key()),
            _ => format!(r#""{}":{}"#, text(rng), value(rng, 3)),
        });
    }
    let n = fields.len() as u64;
    fields.swap(0, rng.below(n) as usize);
    let sep = rng.pick(&[",", " , ", ",\n"]);
    let mut page = String::new();
    match rng.below(8) {
        0 => page.push('\u{feff}'),
        1 => page.push_str(" \n\t"),
        _ => {}
    }
    page.push('{');
    page.push_str(&fields.join(sep));
    page.push('}');
    if rng.chance(8) {
        let tail = *rng.pick(&[" ", "\n", " x", "{}", "\u{feff}", ","]);
        page.push_str(tail);
    }
    page.into_bytes()
}

/// One random change to `page`, and what it was.
fn mutate(rng: &mut Rng, page: &[u8]) -> (String, Vec<u8>) {
    let mut body = page.to_vec();
    let len = body.len() as u64;
    let pos = |rng: &mut Rng| rng.below(len.max(1)) as usize;
    let how = match rng.below(9) {
        0 => "unchanged".to_string(),
        1 => {
            let end = pos(rng);
            body.truncate(end);
            format!("cut at {end}")
        }
        2 => {
            let at = pos(rng);
            let c = *rng.pick(GRAMMAR);
            if let Some(b) = body.get_mut(at) {
                *b = c;
            }
            format!("byte {at} -> {c:#04x}")
        }
        3 => {
            let at = pos(rng);
            let c = rng.next() as u8;
            if let Some(b) = body.get_mut(at) {
                *b = c;
            }
            format!("byte {at} -> random {c:#04x}")
        }
        4 => {
            let n = 2 + rng.below(6);
            for _ in 0..n {
                let at = pos(rng);
                let c = if rng.chance(2) {
                    *rng.pick(GRAMMAR)
                } else {
                    rng.next() as u8
                };
                if let Some(b) = body.get_mut(at) {
                    *b = c;
                }
            }
            format!("{n} bytes changed")
        }
        5 => {
            let at = pos(rng).min(body.len());
            let piece = rng
                .pick(&[
                    &b"\""[..],
                    b"\\",
                    b",",
                    b"\xef\xbb\xbf",
                    b" ",
                    b"\\u00",
                    b"\xc3",
                    b"\xed\xa0\x80",
                    b"\"id\":\"i\",",
                    b"{",
                    b"]",
                ])
                .to_vec();
            body.splice(at..at, piece);
            format!("insert at {at}")
        }
        6 => {
            let at = pos(rng).min(body.len());
            let n = (1 + rng.below(8) as usize).min(body.len() - at);
            body.drain(at..at + n);
            format!("delete {n} at {at}")
        }
        7 => {
            // A chunk of the page copied elsewhere: repeated keys, items and
            // brackets in places they do not belong.
            let from = pos(rng).min(body.len());
            let n = (rng.below(64) as usize).min(body.len() - from);
            let chunk = body[from..from + n].to_vec();
            let to = pos(rng).min(body.len());
            body.splice(to..to, chunk);
            format!("copy {n} from {from} to {to}")
        }
        _ => {
            body.splice(0..0, b"\xef\xbb\xbf".iter().copied());
            "BOM prefixed".to_string()
        }
    };
    (how, body)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The same checks natively, on a short run, so a generator bug shows
    /// up in `cargo test` without the wasm build.
    #[test]
    fn a_short_native_run_agrees() {
        let stats = run(7, 300).expect("decoders agree");
        assert!(stats.decoded > 0 && stats.refused > 0);
    }

    #[test]
    fn arguments() {
        let args = |a: &[&str]| parse_args(a.iter().map(|s| s.to_string()));
        assert_eq!(args(&[]), Ok((1, 2_000)));
        assert_eq!(args(&["--seed", "9", "--cases", "5"]), Ok((9, 5)));
        assert!(args(&["--seed"]).is_err());
        assert!(args(&["--cases", "x"]).is_err());
        assert!(args(&["--what", "1"]).is_err());
    }
}
