//! Small deterministic helpers: UUID formatting, a stateless hash for
//! reproducible fault decisions, and PingOne-style timestamps.
//!
//! PingOne ids are lower-case UUIDs and timestamps are RFC 3339 UTC with
//! milliseconds and a `Z` (`2024-03-01T10:15:30.123Z`). Everything here is
//! pure so that the same seed gives byte-identical output.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use rand::RngCore;

/// SplitMix64 finaliser: a cheap, well-mixed 64-bit hash of one word.
pub fn mix64(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// A uniform number in `[0, 1)` derived from a few words; used so that fault
/// decisions depend only on (seed, request number, purpose).
pub fn unit_f64(a: u64, b: u64, c: u64) -> f64 {
    let h = mix64(a ^ mix64(b ^ mix64(c)));
    (h >> 11) as f64 / (1u64 << 53) as f64
}

/// FNV-1a over bytes, seeded; stable across builds (unlike `DefaultHasher`).
pub fn fnv64(seed: u64, bytes: &[u8]) -> u64 {
    let mut h = 0xcbf2_9ce4_8422_2325u64 ^ seed;
    for b in bytes {
        h ^= u64::from(*b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    mix64(h)
}

/// Formats 128 random bits as a version-4, RFC 4122 variant UUID.
pub fn uuid_from_bits(bits: u128) -> String {
    let mut b = bits.to_be_bytes();
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    let h: String = b.iter().map(|x| format!("{x:02x}")).collect();
    format!(
        "{}-{}-{}-{}-{}",
        &h[0..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..32]
    )
}

pub fn uuid_from_rng<R: RngCore>(rng: &mut R) -> String {
    let hi = u128::from(rng.next_u64());
    let lo = u128::from(rng.next_u64());
    uuid_from_bits((hi << 64) | lo)
}

/// A fixed, name-derived UUID (built-in roles use these so every seed and
/// every run agree on their ids).
pub fn uuid_from_name(name: &str) -> String {
    let a = fnv64(0x5eed_0001, name.as_bytes());
    let b = fnv64(0x5eed_0002, name.as_bytes());
    uuid_from_bits((u128::from(a) << 64) | u128::from(b))
}

static ERROR_SEQ: AtomicU64 = AtomicU64::new(1);

/// Ids for error bodies: unique per process, no locking, no OS randomness.
pub fn error_id() -> String {
    let n = ERROR_SEQ.fetch_add(1, Ordering::Relaxed);
    let a = mix64(n ^ 0xe770_0000_0000_0000);
    let b = mix64(a ^ n);
    uuid_from_bits((u128::from(a) << 64) | u128::from(b))
}

/// Returns true when `s` looks like a lower-case UUID.
pub fn is_uuid(s: &str) -> bool {
    let b = s.as_bytes();
    b.len() == 36
        && b.iter().enumerate().all(|(i, c)| match i {
            8 | 13 | 18 | 23 => *c == b'-',
            _ => c.is_ascii_digit() || (b'a'..=b'f').contains(c),
        })
}

pub fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

/// Days since 1970-01-01 to a civil (year, month, day) date (proleptic Gregorian).
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = if z >= 0 { z } else { z - 146_096 } / 146_097;
    let doe = (z - era * 146_097) as u64;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe as i64 + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

/// Milliseconds since the epoch as `YYYY-MM-DDTHH:MM:SS.mmmZ`.
pub fn fmt_ts(ms: i64) -> String {
    let secs = ms.div_euclid(1000);
    let milli = ms.rem_euclid(1000);
    let days = secs.div_euclid(86_400);
    let sod = secs.rem_euclid(86_400);
    let (y, m, d) = civil_from_days(days);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}.{milli:03}Z",
        sod / 3600,
        (sod / 60) % 60,
        sod % 60
    )
}

/// Escapes a string as a JSON string literal (with quotes) into `out`.
pub fn push_json_str(out: &mut Vec<u8>, s: &str) {
    // serde_json never fails writing a &str into a Vec.
    let _ = serde_json::to_writer(&mut *out, s);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_have_millis_and_z() {
        assert_eq!(fmt_ts(0), "1970-01-01T00:00:00.000Z");
        assert_eq!(fmt_ts(1_709_288_130_123), "2024-03-01T10:15:30.123Z");
        assert_eq!(fmt_ts(951_782_400_000), "2000-02-29T00:00:00.000Z");
    }

    #[test]
    fn uuids_are_lower_case_v4() {
        let u = uuid_from_bits(0x0123_4567_89ab_cdef_0123_4567_89ab_cdef);
        assert!(is_uuid(&u), "{u}");
        assert_eq!(&u[14..15], "4");
        assert_eq!(
            uuid_from_name("Identity Data Admin"),
            uuid_from_name("Identity Data Admin")
        );
        assert!(!is_uuid("not-a-uuid"));
    }

    #[test]
    fn unit_is_in_range_and_deterministic() {
        for i in 0..1000 {
            let x = unit_f64(7, i, 3);
            assert!((0.0..1.0).contains(&x));
            assert_eq!(x, unit_f64(7, i, 3));
        }
    }
}
