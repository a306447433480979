//! Resolved, non-secret configuration as the host passes it on every call.
//!
//! Secret fields never appear here: they reach the guest only as opaque
//! handles (see [`crate::Auth`]).

use crate::ConnectorError;

/// Config values by field name, after the host applied defaults and choices.
#[derive(Debug, Clone, Default)]
pub struct Config {
    values: Vec<(String, String)>,
}

impl Config {
    pub fn new(values: Vec<(String, String)>) -> Self {
        Self { values }
    }

    /// The value of `name`, if set and not empty.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.values
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
            .filter(|v| !v.is_empty())
    }

    /// The value of `name`, or an `invalid-config` error that names it.
    pub fn require(&self, name: &str) -> Result<&str, ConnectorError> {
        self.get(name)
            .ok_or_else(|| ConnectorError::InvalidConfig(format!("{name} is required")))
    }

    /// A boolean field: `true`/`false`/`1`/`0`; absent means `default`.
    pub fn flag(&self, name: &str, default: bool) -> Result<bool, ConnectorError> {
        match self.get(name) {
            None => Ok(default),
            Some(v) => match v.to_ascii_lowercase().as_str() {
                "true" | "1" | "yes" => Ok(true),
                "false" | "0" | "no" => Ok(false),
                _ => Err(ConnectorError::InvalidConfig(format!(
                    "{name} must be true or false, got {v:?}"
                ))),
            },
        }
    }

    pub fn values(&self) -> &[(String, String)] {
        &self.values
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_values_count_as_absent() {
        let c = Config::new(vec![("a".into(), "".into()), ("b".into(), "x".into())]);
        assert_eq!(c.get("a"), None);
        assert_eq!(c.get("b"), Some("x"));
        let err = c.require("a").unwrap_err();
        assert_eq!(err, ConnectorError::InvalidConfig("a is required".into()));
    }

    #[test]
    fn flags_parse_or_name_the_field() {
        let c = Config::new(vec![
            ("p".into(), "TRUE".into()),
            ("q".into(), "maybe".into()),
        ]);
        assert!(c.flag("p", false).unwrap());
        assert!(!c.flag("absent", false).unwrap());
        assert!(
            c.flag("q", false)
                .unwrap_err()
                .describe()
                .contains("q must be")
        );
    }
}
