//! RFC 3339 timestamps (`2021-09-03T18:04:03.916Z`) → contract timestamps.
//!
//! Decision: a small exact parser instead of a date crate. PingOne sends UTC
//! with milliseconds and `Z`; offsets and missing fractions are accepted too,
//! and anything unparseable is dropped (`None`) rather than failing a page.

use connector_sdk::Timestamp;

pub fn parse(s: &str) -> Option<Timestamp> {
    let b = s.trim().as_bytes();
    if b.len() < 19 || b[4] != b'-' || b[7] != b'-' || !matches!(b[10], b'T' | b't' | b' ') {
        return None;
    }
    let num = |from: usize, to: usize| -> Option<i64> {
        let part = std::str::from_utf8(b.get(from..to)?).ok()?;
        if !part.bytes().all(|c| c.is_ascii_digit()) {
            return None;
        }
        part.parse().ok()
    };
    let (year, month, day) = (num(0, 4)?, num(5, 7)?, num(8, 10)?);
    if b[13] != b':' || b[16] != b':' {
        return None;
    }
    let (hour, min, sec) = (num(11, 13)?, num(14, 16)?, num(17, 19)?);
    if !(1..=12).contains(&month) || !(1..=31).contains(&day) || hour > 23 || min > 59 || sec > 60 {
        return None;
    }
    let mut i = 19;
    let mut nanos: u32 = 0;
    if b.get(i) == Some(&b'.') {
        i += 1;
        let start = i;
        while i < b.len() && b[i].is_ascii_digit() {
            i += 1;
        }
        let digits = &b[start..i];
        if digits.is_empty() {
            return None;
        }
        for (k, d) in digits.iter().take(9).enumerate() {
            nanos += u32::from(d - b'0') * 10u32.pow(8 - k as u32);
        }
    }
    let offset_secs = match b.get(i) {
        Some(b'Z' | b'z') if i + 1 == b.len() => 0,
        Some(sign @ (b'+' | b'-')) if i + 6 == b.len() && b[i + 3] == b':' => {
            let (h, m) = (num(i + 1, i + 3)?, num(i + 4, i + 6)?);
            let v = h * 3600 + m * 60;
            if *sign == b'+' { v } else { -v }
        }
        _ => return None,
    };
    let days = days_from_civil(year, month, day);
    let seconds = days * 86_400 + hour * 3600 + min * 60 + sec - offset_secs;
    Some(Timestamp { seconds, nanos })
}

/// Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's algorithm).
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = if y >= 0 { y } else { y - 399 } / 400;
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_pingone_timestamps() {
        let t = parse("2021-09-03T18:04:03.916Z").unwrap();
        assert_eq!(t.seconds, 1_630_692_243);
        assert_eq!(t.nanos, 916_000_000);
        assert_eq!(parse("1970-01-01T00:00:00Z").unwrap().seconds, 0);
        assert_eq!(
            parse("2000-02-29T12:00:00+02:00").unwrap().seconds,
            951_818_400
        );
        assert_eq!(
            parse("1969-12-31T23:59:59.5Z").unwrap(),
            Timestamp {
                seconds: -1,
                nanos: 500_000_000
            }
        );
    }

    #[test]
    fn rejects_garbage() {
        for s in [
            "",
            "yesterday",
            "2021-13-01T00:00:00Z",
            "2021-09-03T18:04:03",
            "2021-09-03T18:04:03.Z",
            "2021-09-03T18:04:03Zjunk",
        ] {
            assert_eq!(parse(s), None, "{s}");
        }
    }
}
