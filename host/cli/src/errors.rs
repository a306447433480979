//! How an error chain reads to an operator.
//!
//! Decision: many errors already quote their cause in their own text (a c1z
//! I/O error names the OS error it wraps), so anyhow's `{:#}`, which
//! appends every cause, repeated them: `opening x.c1z: No such file or
//! directory (os error 2): No such file or directory (os error 2)`. Here a
//! cause is appended only when the text so far does not already say it.

use std::fmt;

/// An error and its causes, each said once.
pub struct Chain<'a>(pub &'a anyhow::Error);

impl fmt::Display for Chain<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut said = String::new();
        for cause in self.0.chain() {
            let text = cause.to_string();
            if said.contains(&text) {
                continue;
            }
            if !said.is_empty() {
                said.push_str(": ");
            }
            said.push_str(&text);
        }
        f.write_str(&said)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_cause_already_quoted_is_not_repeated() {
        let os = std::io::Error::from(std::io::ErrorKind::NotFound);
        let quoted = format!("opening x.c1z: {os}");
        let e = anyhow::Error::new(os).context(quoted.clone());
        assert_eq!(
            format!("{e:#}"),
            format!(
                "{quoted}: {}",
                std::io::Error::from(std::io::ErrorKind::NotFound)
            )
        );
        assert_eq!(Chain(&e).to_string(), quoted);
        // A cause that adds something is kept.
        let e = anyhow::anyhow!("disk full").context("syncing into x.c1z");
        assert_eq!(Chain(&e).to_string(), "syncing into x.c1z: disk full");
    }
}
