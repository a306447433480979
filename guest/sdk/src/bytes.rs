//! Byte comparisons that stay cheap in wasm.
//!
//! Decision: `==` on slices and strings calls `memcmp`, and wasi-libc's
//! `memcmp` compares one byte per loop turn; compiled for wasm, every turn
//! also pays the runtime's deadline check. A connector that compares ids
//! or keys per record (the PingOne connector checks every grant's
//! entitlement against its set's) spent 4 % of its guest instructions
//! there in a sync (measured 2026-12-04; see the history of
//! docs/benchmarks.md). [`eq`] compares eight bytes a
//! turn and needs no loop at all below eight bytes.

/// `a == b`, a word at a time.
#[inline]
pub fn eq(a: &[u8], b: &[u8]) -> bool {
    let n = a.len();
    if n != b.len() {
        return false;
    }
    if n >= 8 {
        // Every whole word but the last, then the last eight bytes (which
        // may overlap the word before: a byte compared twice is harmless).
        let mut i = 0;
        while i + 8 < n {
            if word(a, i) != word(b, i) {
                return false;
            }
            i += 8;
        }
        return word(a, n - 8) == word(b, n - 8);
    }
    if n >= 4 {
        return half(a, 0) == half(b, 0) && half(a, n - 4) == half(b, n - 4);
    }
    // Zero to three bytes.
    a.iter().zip(b).all(|(x, y)| x == y)
}

/// `a == b` for strings, as [`eq`].
#[inline]
pub fn str_eq(a: &str, b: &str) -> bool {
    eq(a.as_bytes(), b.as_bytes())
}

/// `a == b` for optional strings, as [`eq`].
#[inline]
pub fn opt_str_eq(a: Option<&str>, b: Option<&str>) -> bool {
    match (a, b) {
        (Some(a), Some(b)) => str_eq(a, b),
        (None, None) => true,
        _ => false,
    }
}

/// The eight bytes of `b` from `i` on, as one little-endian word (for
/// scanners that test a word at a time).
#[inline(always)]
pub fn word(b: &[u8], i: usize) -> u64 {
    u64::from_le_bytes(b[i..i + 8].try_into().expect("8 bytes"))
}

#[inline(always)]
fn half(b: &[u8], i: usize) -> u32 {
    u32::from_le_bytes(b[i..i + 4].try_into().expect("4 bytes"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn agrees_with_slice_equality_at_every_length_and_difference() {
        let base: Vec<u8> = (0..40u8)
            .map(|i| i.wrapping_mul(37).wrapping_add(1))
            .collect();
        for n in 0..=base.len() {
            let a = &base[..n];
            assert!(eq(a, a), "equal, length {n}");
            // One byte changed at every position, one bit at a time.
            for at in 0..n {
                for bit in 0..8 {
                    let mut b = a.to_vec();
                    b[at] ^= 1 << bit;
                    assert!(!eq(a, &b), "length {n}, byte {at}, bit {bit}");
                    assert!(!eq(&b, a), "length {n}, byte {at}, bit {bit}, swapped");
                }
            }
            // A longer slice that starts with `a`.
            if n < base.len() {
                assert!(!eq(a, &base[..n + 1]), "length {n} against {}", n + 1);
            }
        }
    }

    #[test]
    fn strings_and_options() {
        let id = "4f9a1c3e-8b2d-4e6f-9a7b-0c1d2e3f4a5b";
        let copy = String::from(id); // equal bytes at another address
        assert!(str_eq(id, &copy));
        assert!(!str_eq(id, &id.replace('b', "c")));
        assert!(!str_eq("member", "members"));
        assert!(opt_str_eq(None, None));
        assert!(opt_str_eq(Some("x"), Some("x")));
        assert!(!opt_str_eq(Some(""), None));
        assert!(!opt_str_eq(None, Some("")));
    }
}
