//! The password a create-account task asks the host to generate.
//!
//! ConductorOne's `random_password` says how long the password is and,
//! optionally, which characters it must hold (`constraints`: at least
//! `min_count` characters from each `char_set`). Baton's SDK generates it
//! in the connector with those two inputs; this host generates it here,
//! before anything is created, and hands it to the component to set.
//!
//! Decisions:
//! - Baton's rules: the length is 8 to 64 (the proto's range; an unset
//!   option gets 20, what Baton's own one-shot create asks for); each
//!   constraint's minimum is drawn from its set, the rest from the default
//!   alphabet; a task whose minimums exceed the length is refused. Without
//!   constraints one character of each default class is included, as
//!   Baton's generator does.
//! - PingOne's standard password policy must accept the result, or the
//!   account creation fails after the fact: an upper-case letter, a
//!   lower-case letter, a digit and one of PingOne's special characters,
//!   no character three times in a row, and at least five distinct
//!   characters. Classes the constraints do not already guarantee are
//!   added within the asked length; a task whose constraints leave no room
//!   for them, or cannot give five distinct characters, is refused with a
//!   message saying which, before the account is created. (A tenant with a
//!   stricter policy of its own refuses the password in PingOne, and the
//!   task fails with PingOne's answer.)
//! - Constraint sets are printable ASCII without spaces: a password must
//!   survive every form field and terminal it is typed into.
//! - Randomness: the thread-local CSPRNG of `rand`, seeded from the OS.
//! - The password never appears in an error or a log line.

use baton_api::connector::credential_options::RandomPassword;
use rand::Rng;
use rand::seq::SliceRandom;

/// Length of a password when the task names none (Baton's one-shot default).
pub const DEFAULT_LENGTH: usize = 20;
/// Baton's proto range for `random_password.length`.
const LENGTHS: std::ops::RangeInclusive<usize> = 8..=64;

/// The default alphabet, by class: letters and digits without look-alikes,
/// and specials from PingOne's set that need no quoting anywhere.
const CLASSES: [&str; 4] = [
    "ABCDEFGHJKLMNPQRSTUVWXYZ",
    "abcdefghijkmnopqrstuvwxyz",
    "23456789",
    "!#$%*+-=?@^_",
];
/// PingOne's special characters (its standard policy's `minCharacters`).
const PINGONE_SPECIAL: &str = "~!@#$%^&*()-_=+[]{}|;:,.<>/?";
/// PingOne's standard policy: identical characters in a row, at most.
const MAX_REPEATED: usize = 2;
/// PingOne's standard policy: distinct characters, at least.
const MIN_UNIQUE: usize = 5;
/// Draws before a task is refused as impossible under the policy.
const ATTEMPTS: usize = 64;

/// A test on one character.
type CharTest = fn(char) -> bool;
/// PingOne's classes, as tests on one character.
const PINGONE_CLASSES: [(&str, CharTest); 4] = [
    ("an upper-case letter", |c| c.is_ascii_uppercase()),
    ("a lower-case letter", |c| c.is_ascii_lowercase()),
    ("a digit", |c| c.is_ascii_digit()),
    ("a special character", |c| PINGONE_SPECIAL.contains(c)),
];

/// What to generate: a checked `random_password`.
#[derive(Debug, Clone, PartialEq)]
pub struct Request {
    length: usize,
    /// (characters, minimum) per constraint, then one per PingOne class the
    /// constraints do not guarantee.
    draws: Vec<(Vec<char>, usize)>,
}

impl Request {
    /// Checks `asked` (none: Baton's default length, no constraints).
    pub fn new(asked: Option<&RandomPassword>) -> Result<Self, String> {
        let length = match asked.map(|r| r.length) {
            None | Some(0) => DEFAULT_LENGTH,
            Some(n) => usize::try_from(n)
                .ok()
                .filter(|n| LENGTHS.contains(n))
                .ok_or_else(|| {
                    format!(
                        "random_password.length {n} is outside {}..={} (Baton's range)",
                        LENGTHS.start(),
                        LENGTHS.end()
                    )
                })?,
        };
        let mut draws = Vec::new();
        for (i, c) in asked.map_or(&[][..], |r| &r.constraints).iter().enumerate() {
            let mut set: Vec<char> = c.char_set.chars().collect();
            set.sort_unstable();
            set.dedup();
            if set.is_empty() {
                return Err(format!(
                    "random_password constraint {i} has an empty char_set"
                ));
            }
            if let Some(bad) = set.iter().find(|ch| !ch.is_ascii_graphic()) {
                return Err(format!(
                    "random_password constraint {i}: {bad:?} is not a printable ASCII character"
                ));
            }
            if c.min_count > 0 {
                draws.push((set, c.min_count as usize));
            }
        }
        let asked_minimum: usize = draws.iter().map(|(_, n)| *n).sum();
        if asked_minimum > length {
            return Err(format!(
                "random_password.length {length} is less than the sum of the constraints' \
                 minimums ({asked_minimum})"
            ));
        }
        if asked.is_none_or(|r| r.constraints.is_empty()) {
            // Baton: one of each default class, the rest from them all.
            draws.extend(CLASSES.iter().map(|c| (c.chars().collect(), 1)));
        } else {
            // PingOne's classes a constraint does not already guarantee.
            for (i, (name, test)) in PINGONE_CLASSES.iter().enumerate() {
                let covered = draws.iter().any(|(set, _)| set.iter().all(|c| test(*c)));
                if !covered {
                    if draws.iter().map(|(_, n)| *n).sum::<usize>() >= length {
                        return Err(format!(
                            "a password of length {length} cannot meet both the constraints \
                             and PingOne's password policy, which needs {name}"
                        ));
                    }
                    draws.push((CLASSES[i].chars().collect(), 1));
                }
            }
        }
        Ok(Self { length, draws })
    }

    /// A password meeting the request and PingOne's standard policy.
    pub fn generate(&self) -> Result<String, String> {
        let mut rng = rand::rng();
        let all: Vec<char> = CLASSES.concat().chars().collect();
        for _ in 0..ATTEMPTS {
            let mut out: Vec<char> = Vec::with_capacity(self.length);
            for (set, n) in &self.draws {
                for _ in 0..*n {
                    out.push(set[rng.random_range(0..set.len())]);
                }
            }
            while out.len() < self.length {
                out.push(all[rng.random_range(0..all.len())]);
            }
            // So the drawn classes sit anywhere.
            out.shuffle(&mut rng);
            if meets_pingone_policy(&out) {
                return Ok(out.into_iter().collect());
            }
        }
        Err(format!(
            "no password of length {} that meets the constraints also meets PingOne's \
             password policy (at most {MAX_REPEATED} identical characters in a row, at least \
             {MIN_UNIQUE} distinct characters)",
            self.length
        ))
    }
}

/// Whether PingOne's standard policy accepts `password`.
fn meets_pingone_policy(password: &[char]) -> bool {
    let classes = PINGONE_CLASSES
        .iter()
        .all(|(_, test)| password.iter().any(|c| test(*c)));
    let distinct: std::collections::BTreeSet<_> = password.iter().collect();
    let repeats = password
        .windows(MAX_REPEATED + 1)
        .any(|w| w.iter().all(|c| *c == w[0]));
    classes && distinct.len() >= MIN_UNIQUE && !repeats
}

#[cfg(test)]
mod tests {
    use super::*;
    use baton_api::connector::PasswordConstraint;

    fn asked(length: i64, constraints: &[(&str, u32)]) -> RandomPassword {
        RandomPassword {
            length,
            constraints: constraints
                .iter()
                .map(|(s, n)| PasswordConstraint {
                    char_set: s.to_string(),
                    min_count: *n,
                })
                .collect(),
        }
    }

    fn count(p: &str, set: &str) -> usize {
        p.chars().filter(|c| set.contains(*c)).count()
    }

    #[test]
    fn lengths_and_constraints_are_honoured() {
        for _ in 0..200 {
            let p = Request::new(None).unwrap().generate().unwrap();
            assert_eq!(p.len(), DEFAULT_LENGTH);
            assert!(meets_pingone_policy(&p.chars().collect::<Vec<_>>()), "{p}");
            let r = asked(24, &[("0123456789", 6), ("xyz", 3), ("~", 1)]);
            let p = Request::new(Some(&r)).unwrap().generate().unwrap();
            assert_eq!(p.chars().count(), 24);
            assert!(count(&p, "0123456789") >= 6, "{p}");
            assert!(count(&p, "xyz") >= 3, "{p}");
            assert!(p.contains('~'), "{p}");
            assert!(p.chars().any(|c| c.is_ascii_uppercase()), "{p}");
            let p = Request::new(Some(&asked(64, &[])))
                .unwrap()
                .generate()
                .unwrap();
            assert_eq!(p.len(), 64);
        }
    }

    #[test]
    fn impossible_requests_are_refused_saying_why() {
        let e = |r: RandomPassword| {
            Request::new(Some(&r))
                .and_then(|r| r.generate())
                .unwrap_err()
        };
        assert!(e(asked(7, &[])).contains("outside 8..=64"));
        assert!(e(asked(65, &[])).contains("outside 8..=64"));
        assert!(e(asked(-1, &[])).contains("outside"));
        let m = e(asked(8, &[("abc", 5), ("123", 4)]));
        assert!(m.contains("sum of the constraints' minimums (9)"), "{m}");
        // Eight digits leave no room for PingOne's letters and specials.
        let m = e(asked(8, &[("0123456789", 8)]));
        assert!(m.contains("PingOne's password policy"), "{m}");
        // Four distinct characters, however drawn, are fewer than five.
        let m = e(asked(8, &[("A", 2), ("b", 2), ("1", 2), ("!", 2)]));
        assert!(m.contains("distinct"), "{m}");
        assert!(e(asked(12, &[("", 1)])).contains("empty char_set"));
        assert!(e(asked(12, &[("ab c", 1)])).contains("printable"));
    }

    #[test]
    fn the_policy_check_is_pingones() {
        let ok = |s: &str| meets_pingone_policy(&s.chars().collect::<Vec<_>>());
        assert!(ok("Ab3!xyzw"));
        assert!(!ok("Ab3xyzwq"), "no special");
        assert!(!ok("Abbb3!xy"), "three in a row");
        assert!(!ok("AAb3!!AA"), "four distinct");
    }
}
