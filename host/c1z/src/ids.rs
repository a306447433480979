//! Sync ids and timestamps in the exact textual forms Baton stores.
//!
//! Decision: `sync_id` is a KSUID (27 base62 characters, time-sortable) made by
//! a maintained crate, and every `datetime` column holds local time in Go's
//! layout `2006-01-02 15:04:05.999999999` (no zone, trailing fractional zeros
//! trimmed, no dot for whole seconds). Readers compare these strings and sort
//! on them, so the form must match byte for byte.

use std::time::SystemTime;

use chrono::{Local, NaiveDateTime, Timelike};
use svix_ksuid::{Ksuid, KsuidLike};

/// A new KSUID for a sync run.
pub fn new_sync_id() -> String {
    Ksuid::new(None::<SystemTime>, None).to_string()
}

/// The current local time in Baton's `datetime` text form.
pub fn now_text() -> String {
    format_datetime(&Local::now().naive_local())
}

/// Formats like Go's `2006-01-02 15:04:05.999999999`.
pub fn format_datetime(t: &NaiveDateTime) -> String {
    let base = t.format("%Y-%m-%d %H:%M:%S").to_string();
    let nanos = t.nanosecond() % 1_000_000_000;
    if nanos == 0 {
        return base;
    }
    let frac = format!("{nanos:09}");
    format!("{base}.{}", frac.trim_end_matches('0'))
}

/// Parses a Baton `datetime` column (also accepts a `T` separator and a
/// trailing zone, which some writers emit).
pub fn parse_datetime(s: &str) -> Option<NaiveDateTime> {
    let s = s.trim();
    for fmt in ["%Y-%m-%d %H:%M:%S%.f", "%Y-%m-%dT%H:%M:%S%.f"] {
        if let Ok(t) = NaiveDateTime::parse_from_str(s, fmt) {
            return Some(t);
        }
    }
    chrono::DateTime::parse_from_rfc3339(s)
        .ok()
        .map(|t| t.with_timezone(&Local).naive_local())
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::NaiveDate;
    use std::str::FromStr;

    /// True if `s` is a 27-character base62 KSUID.
    fn is_ksuid(s: &str) -> bool {
        s.len() == 27 && s.bytes().all(|b| b.is_ascii_alphanumeric()) && Ksuid::from_str(s).is_ok()
    }

    #[test]
    fn ksuid_known_vector() {
        // The example KSUID from Segment's documentation.
        let payload = [
            0xB5, 0xA1, 0xCD, 0x34, 0xB5, 0xF9, 0x9D, 0x11, 0x54, 0xFB, 0x68, 0x53, 0x34, 0x5C,
            0x97, 0x35,
        ];
        let k = Ksuid::new_raw(107_608_047, Some(&payload));
        assert_eq!(k.to_string(), "0ujtsYcgvSTl8PAuAdqWYSMnLOv");
        assert!(is_ksuid("3ARefY5G8eOytquwYgm41Nq07IZ"));
        assert!(!is_ksuid("3ARefY5G8eOytquwYgm41Nq07I"));
        assert!(!is_ksuid("3ARefY5G8eOytquwYgm41Nq07I-"));
    }

    #[test]
    fn new_ids_are_ksuids_and_sortable() {
        let a = new_sync_id();
        assert!(is_ksuid(&a), "{a}");
        assert_ne!(a, new_sync_id());
    }

    #[test]
    fn go_datetime_layout() {
        let d = NaiveDate::from_ymd_opt(2026, 3, 3).unwrap();
        let t = d.and_hms_nano_opt(9, 45, 13, 56_791_000).unwrap();
        assert_eq!(format_datetime(&t), "2026-03-03 09:45:13.056791");
        let t = d.and_hms_nano_opt(9, 45, 13, 0).unwrap();
        assert_eq!(format_datetime(&t), "2026-03-03 09:45:13");
        let t = d.and_hms_nano_opt(9, 45, 13, 500_000_000).unwrap();
        assert_eq!(format_datetime(&t), "2026-03-03 09:45:13.5");
        assert_eq!(parse_datetime("2026-03-03 09:45:13.5"), Some(t));
        assert!(parse_datetime("yesterday").is_none());
    }
}
