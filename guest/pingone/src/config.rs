//! Configuration: field names, the region table and the resolved settings a
//! call works with.
//!
//! Decision: the connector takes two base URLs (API and auth) rather than a
//! region alone, like Ping's own SDK and Terraform provider. The region is a
//! `choice` whose options *imply* both URLs, so an operator normally sets only
//! the region, while tests and proxies override the URLs. Both URL fields are
//! `egress: true`: that is the only way the component gains egress, and the
//! host derives the allowlist from exactly these two hosts.
//!
//! Decision: a worker app is set to one token endpoint auth method and
//! PingOne refuses the other (`invalid_client`, "Unsupported authentication
//! method"), so the method is a `choice` field, `pingone-token-auth-method`
//! (CLIENT_SECRET_BASIC by default, or CLIENT_SECRET_POST). The host does
//! the token exchange and honours a `<group>-token-auth-method` field of the
//! credential recipe's group over the recipe's own method; `validate` names
//! the field when PingOne refuses the method in use.
//!
//! Decision: `directMemberCounts.users` is an optimisation, never the only
//! evidence of who is a direct member (a tenant or a proxy that reports 0,
//! or nothing, must not lose grants: see [`crate::membership`]). An
//! operator who trusts no count at all sets `pingone-exact-membership`
//! (a Boolean, off by default): every candidate is then read per user,
//! which costs one request per user reached through a nested group.

use connector_sdk::{
    ClientAuthMethod, Config, ConfigChoice, ConfigField, ConfigKind, ConnectorError,
    CredentialRecipe, Oauth2ClientCredentials, UrlOptions,
};

pub const CLIENT_ID: &str = "pingone-client-id";
pub const CLIENT_SECRET: &str = "pingone-client-secret";
pub const ENVIRONMENT_ID: &str = "pingone-environment-id";
pub const REGION: &str = "pingone-region";
pub const API_URL: &str = "pingone-api-url";
pub const AUTH_URL: &str = "pingone-auth-url";
pub const TOKEN_AUTH_METHOD: &str = "pingone-token-auth-method";
pub const EXACT_MEMBERSHIP: &str = "pingone-exact-membership";

/// Token endpoint auth methods a worker app may be set to that the host
/// can use: (value, description). The first is the default.
pub const AUTH_METHODS: &[(&str, &str)] = &[
    (
        "CLIENT_SECRET_BASIC",
        "client id and secret in an HTTP Basic Authorization header",
    ),
    (
        "CLIENT_SECRET_POST",
        "client id and secret in the form body",
    ),
];

/// PingOne regions: (code, description, top-level domain).
pub const REGIONS: &[(&str, &str, &str)] = &[
    ("NA", "North America (excluding Canada)", "com"),
    ("CA", "Canada", "ca"),
    ("EU", "European Union", "eu"),
    ("AP", "Asia-Pacific", "asia"),
    ("AU", "Australia", "com.au"),
    ("SG", "Singapore", "sg"),
];

pub const DEFAULT_REGION: &str = "NA";

/// The top-level domain of a region code (case-insensitive).
pub fn region_tld(code: &str) -> Option<&'static str> {
    REGIONS
        .iter()
        .find(|(c, _, _)| c.eq_ignore_ascii_case(code))
        .map(|(_, _, tld)| *tld)
}

pub fn default_api_url(tld: &str) -> String {
    format!("https://api.pingone.{tld}")
}

pub fn default_auth_url(tld: &str) -> String {
    format!("https://auth.pingone.{tld}")
}

/// What one call needs to know, resolved from the host's config values.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Settings {
    /// `{pingone-api-url}/v1`, without a trailing slash.
    pub api_base: String,
    pub environment_id: String,
    /// Upper-case region code, for messages.
    pub region: String,
    /// Never let `directMemberCounts` settle a membership ([`EXACT_MEMBERSHIP`]).
    pub exact_membership: bool,
}

impl Settings {
    /// Reads the non-secret config. The host has already applied the
    /// region's implied URLs; if it has not (an older host), the region
    /// table supplies them.
    pub fn from_config(config: &Config) -> Result<Settings, ConnectorError> {
        let region = config
            .get(REGION)
            .unwrap_or(DEFAULT_REGION)
            .trim()
            .to_ascii_uppercase();
        let tld = region_tld(&region).ok_or_else(|| {
            ConnectorError::InvalidConfig(format!(
                "{REGION} must be one of {}, got {region:?}",
                REGIONS.iter().map(|r| r.0).collect::<Vec<_>>().join(", ")
            ))
        })?;
        let environment_id = config.require(ENVIRONMENT_ID)?.trim().to_string();
        if !is_uuid(&environment_id) {
            return Err(ConnectorError::InvalidConfig(format!(
                "{ENVIRONMENT_ID} must be a PingOne environment id (a UUID such as \
                 b4f5e266-a946-4f77-9cc5-5dc91b046431), got {environment_id:?}"
            )));
        }
        let api_url = match config.get(API_URL) {
            Some(u) => u.trim().to_string(),
            None => default_api_url(tld),
        };
        if !(api_url.starts_with("https://") || api_url.starts_with("http://")) {
            return Err(ConnectorError::InvalidConfig(format!(
                "{API_URL} must be an absolute http(s) URL, got {api_url:?}"
            )));
        }
        // Accept the URL with or without the `/v1` base path.
        let trimmed = api_url.trim_end_matches('/');
        let trimmed = trimmed.strip_suffix("/v1").unwrap_or(trimmed);
        Ok(Settings {
            api_base: format!("{trimmed}/v1"),
            environment_id: environment_id.to_ascii_lowercase(),
            region,
            exact_membership: config.flag(EXACT_MEMBERSHIP, false)?,
        })
    }
}

/// PingOne ids are lower-case UUIDs (the SDK validates the same shape).
pub fn is_uuid(s: &str) -> bool {
    let b = s.as_bytes();
    b.len() == 36
        && b.iter().enumerate().all(|(i, c)| match i {
            8 | 13 | 18 | 23 => *c == b'-',
            _ => c.is_ascii_hexdigit(),
        })
}

/// The config schema the host resolves flags, `BATON_*` env vars and
/// defaults from.
pub fn schema() -> Vec<ConfigField> {
    let choices = REGIONS
        .iter()
        .map(|(code, what, tld)| ConfigChoice {
            value: code.to_string(),
            description: format!("{what} (pingone.{tld})"),
            implies: vec![
                (API_URL.to_string(), default_api_url(tld)),
                (AUTH_URL.to_string(), default_auth_url(tld)),
            ],
        })
        .collect();
    let auth_methods = AUTH_METHODS
        .iter()
        .map(|(value, what)| ConfigChoice {
            value: value.to_string(),
            description: what.to_string(),
            implies: vec![],
        })
        .collect();
    let url = ConfigKind::Url(UrlOptions { egress: true });
    vec![
        ConfigField {
            required: true,
            ..field(
                CLIENT_ID,
                "Client ID of the PingOne worker application the connector signs in as",
                ConfigKind::Text,
            )
        },
        ConfigField {
            required: true,
            secret: true,
            ..field(
                CLIENT_SECRET,
                format!(
                    "Client secret of the worker application (sent the way {TOKEN_AUTH_METHOD} says)"
                ),
                ConfigKind::Text,
            )
        },
        ConfigField {
            required: true,
            ..field(
                ENVIRONMENT_ID,
                "ID of the PingOne environment to sync; the worker application must live in it",
                ConfigKind::Text,
            )
        },
        ConfigField {
            default_value: Some(DEFAULT_REGION.into()),
            ..field(
                REGION,
                "PingOne region of the environment: NA, CA, EU, AP, AU or SG",
                ConfigKind::Choice(choices),
            )
        },
        field(
            API_URL,
            "Base URL of the PingOne management API (without /v1); set by the region, \
             override it for a proxy or a simulator",
            url.clone(),
        ),
        field(
            AUTH_URL,
            "Base URL of the PingOne auth host (the token URL is \
             {auth-url}/{environment-id}/as/token); set by the region, override it \
             for a proxy or a simulator",
            url,
        ),
        ConfigField {
            default_value: Some(AUTH_METHODS[0].0.into()),
            ..field(
                TOKEN_AUTH_METHOD,
                "Token endpoint auth method the worker application is set to in \
                 PingOne: CLIENT_SECRET_BASIC or CLIENT_SECRET_POST",
                ConfigKind::Choice(auth_methods),
            )
        },
        ConfigField {
            default_value: Some("false".into()),
            ..field(
                EXACT_MEMBERSHIP,
                "Never take PingOne's direct member counts on trust: read every user \
                 reached through a nested group to tell direct members apart (one \
                 request per such user); by default the counts spare those reads \
                 where the member listings agree with them",
                ConfigKind::Boolean,
            )
        },
    ]
}

/// A field that is optional, not secret and without a default.
fn field(name: &str, description: impl Into<String>, kind: ConfigKind) -> ConfigField {
    ConfigField {
        name: name.into(),
        description: description.into(),
        kind,
        required: false,
        secret: false,
        default_value: None,
    }
}

/// What to tell the operator when PingOne refuses the token request's
/// client authentication ("Unsupported authentication method"): the
/// method in use, and the field that selects the other.
pub fn auth_method_hint(config: &Config) -> String {
    let used = config
        .get(TOKEN_AUTH_METHOD)
        .map(|m| m.trim().to_ascii_uppercase())
        .filter(|m| AUTH_METHODS.iter().any(|(v, _)| v == m))
        .unwrap_or_else(|| AUTH_METHODS[0].0.to_string());
    let other = AUTH_METHODS
        .iter()
        .map(|(v, _)| *v)
        .find(|v| *v != used)
        .unwrap_or(AUTH_METHODS[0].0);
    let env = format!(
        "BATON_{}",
        TOKEN_AUTH_METHOD.replace('-', "_").to_ascii_uppercase()
    );
    format!(
        "PingOne refused {used} for this worker app: the app's token endpoint auth method is \
         another one. If it is {other}, set --{TOKEN_AUTH_METHOD} {other} ({env}); otherwise \
         set the app to CLIENT_SECRET_BASIC or CLIENT_SECRET_POST in PingOne"
    )
}

/// How the host gets the worker app's token: client credentials, with HTTP
/// Basic unless [`TOKEN_AUTH_METHOD`] says CLIENT_SECRET_POST (the host
/// honours that field over the recipe's method).
pub fn credential_recipe() -> CredentialRecipe {
    CredentialRecipe::Oauth2ClientCredentials(Oauth2ClientCredentials {
        token_url: format!("{{{AUTH_URL}}}/{{{ENVIRONMENT_ID}}}/as/token"),
        client_id_field: CLIENT_ID.into(),
        client_secret_field: CLIENT_SECRET.into(),
        auth_method: ClientAuthMethod::ClientSecretBasic,
        scope: None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg(pairs: &[(&str, &str)]) -> Config {
        Config::new(
            pairs
                .iter()
                .map(|(a, b)| (a.to_string(), b.to_string()))
                .collect(),
        )
    }

    const ENV: &str = "b4f5e266-a946-4f77-9cc5-5dc91b046431";

    #[test]
    fn region_defaults_and_overrides() {
        let s = Settings::from_config(&cfg(&[(ENVIRONMENT_ID, ENV)])).unwrap();
        assert_eq!(s.api_base, "https://api.pingone.com/v1");
        assert_eq!(s.region, "NA");
        let s = Settings::from_config(&cfg(&[(ENVIRONMENT_ID, ENV), (REGION, "au")])).unwrap();
        assert_eq!(s.api_base, "https://api.pingone.com.au/v1");
        let s = Settings::from_config(&cfg(&[
            (ENVIRONMENT_ID, ENV),
            (REGION, "EU"),
            (API_URL, "http://127.0.0.1:9000/v1/"),
        ]))
        .unwrap();
        assert_eq!(s.api_base, "http://127.0.0.1:9000/v1");
    }

    #[test]
    fn bad_values_name_the_field() {
        let e =
            Settings::from_config(&cfg(&[(ENVIRONMENT_ID, ENV), (REGION, "MARS")])).unwrap_err();
        assert!(e.message().contains(REGION), "{e:?}");
        let e = Settings::from_config(&cfg(&[(ENVIRONMENT_ID, "prod")])).unwrap_err();
        assert!(e.message().contains(ENVIRONMENT_ID), "{e:?}");
        let e = Settings::from_config(&cfg(&[])).unwrap_err();
        assert_eq!(
            e,
            ConnectorError::InvalidConfig(format!("{ENVIRONMENT_ID} is required"))
        );
        let e = Settings::from_config(&cfg(&[(ENVIRONMENT_ID, ENV), (API_URL, "api.pingone.com")]))
            .unwrap_err();
        assert!(e.message().contains(API_URL), "{e:?}");
    }

    #[test]
    fn every_region_implies_both_urls() {
        let region = schema().into_iter().find(|f| f.name == REGION).unwrap();
        let ConfigKind::Choice(choices) = region.kind else {
            panic!("region is a choice")
        };
        assert_eq!(choices.len(), 6);
        let sg = choices.iter().find(|c| c.value == "SG").unwrap();
        assert!(
            sg.implies
                .contains(&(API_URL.to_string(), "https://api.pingone.sg".to_string()))
        );
        assert!(
            sg.implies
                .contains(&(AUTH_URL.to_string(), "https://auth.pingone.sg".to_string()))
        );
    }

    #[test]
    fn the_auth_method_hint_names_the_other_method_and_the_flag() {
        let h = auth_method_hint(&cfg(&[]));
        assert!(
            h.contains("refused CLIENT_SECRET_BASIC")
                && h.contains("set --pingone-token-auth-method CLIENT_SECRET_POST")
                && h.contains("BATON_PINGONE_TOKEN_AUTH_METHOD"),
            "{h}"
        );
        let h = auth_method_hint(&cfg(&[(TOKEN_AUTH_METHOD, "CLIENT_SECRET_POST")]));
        assert!(
            h.contains("refused CLIENT_SECRET_POST")
                && h.contains("set --pingone-token-auth-method CLIENT_SECRET_BASIC"),
            "{h}"
        );
        let field = schema()
            .into_iter()
            .find(|f| f.name == TOKEN_AUTH_METHOD)
            .unwrap();
        assert_eq!(field.default_value.as_deref(), Some("CLIENT_SECRET_BASIC"));
        let ConfigKind::Choice(c) = field.kind else {
            panic!("a choice")
        };
        assert_eq!(
            c.iter().map(|c| c.value.as_str()).collect::<Vec<_>>(),
            ["CLIENT_SECRET_BASIC", "CLIENT_SECRET_POST"]
        );
    }

    #[test]
    fn exact_membership_is_an_optional_boolean() {
        let s = Settings::from_config(&cfg(&[(ENVIRONMENT_ID, ENV)])).unwrap();
        assert!(!s.exact_membership);
        let s = Settings::from_config(&cfg(&[(ENVIRONMENT_ID, ENV), (EXACT_MEMBERSHIP, "true")]))
            .unwrap();
        assert!(s.exact_membership);
        let e = Settings::from_config(&cfg(&[(ENVIRONMENT_ID, ENV), (EXACT_MEMBERSHIP, "maybe")]))
            .unwrap_err();
        assert!(e.message().contains(EXACT_MEMBERSHIP), "{e:?}");
        let f = schema()
            .into_iter()
            .find(|f| f.name == EXACT_MEMBERSHIP)
            .unwrap();
        assert!(matches!(f.kind, ConfigKind::Boolean) && !f.required && !f.secret);
    }

    #[test]
    fn token_url_template() {
        let CredentialRecipe::Oauth2ClientCredentials(r) = credential_recipe();
        assert_eq!(
            r.token_url,
            "{pingone-auth-url}/{pingone-environment-id}/as/token"
        );
    }
}
