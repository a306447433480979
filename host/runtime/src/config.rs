//! From a component's config schema and an operator's values to an instance.
//!
//! Decisions:
//! - The schema is the component's; the values are the operator's. The
//!   egress allowlist is derived only from URL fields the schema marks
//!   `egress`, with the operator's values (or the defaults the operator can
//!   see in `config`), so a guest cannot widen its own network access at run
//!   time.
//! - Precedence: an explicit value, then what a chosen option implies (a
//!   region sets API and auth URLs), then the field's default.
//! - Secret fields are split off here: they go to the host's secret store,
//!   never into the config the guest receives.
//! - Every error names the flag and its `BATON_` environment variable.

use std::collections::BTreeMap;
use std::sync::Arc;

use secrecy::SecretString;

use crate::bindings::meta::{ClientAuthMethod, ConfigKind, ConnectorMetadata, CredentialRecipe};
use crate::capabilities::egress::EgressPolicy;
use crate::capabilities::http::{HttpCapability, TlsOptions};
use crate::capabilities::secrets::{ClientAuth, OAuth2Recipe, Secrets, TokenBroker};
use crate::limits::Limits;
use crate::state::{InstanceCtx, InstanceMetrics};

/// The environment variable Baton reads for a flag: `BATON_FOO_BAR`.
pub fn env_name(flag: &str) -> String {
    format!("BATON_{}", flag.replace('-', "_").to_ascii_uppercase())
}

/// A field and how an operator sets it, for messages.
fn field_ref(name: &str) -> String {
    format!("--{name} ({})", env_name(name))
}

/// Configuration ready to build an instance from.
pub struct ResolvedConfig {
    /// Non-secret values as the guest receives them (set fields only).
    pub values: Vec<(String, String)>,
    pub secrets: BTreeMap<String, SecretString>,
    pub secret_fields: Vec<String>,
    pub egress: EgressPolicy,
    pub oauth2: Option<OAuth2Recipe>,
}

impl std::fmt::Debug for ResolvedConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ResolvedConfig")
            .field("values", &self.values)
            .field("secrets", &self.secrets.keys().collect::<Vec<_>>())
            .field("egress", &self.egress)
            .finish()
    }
}

/// Resolves raw operator values (by field name) against the schema.
pub fn resolve(
    meta: &ConnectorMetadata,
    raw: &BTreeMap<String, String>,
) -> Result<ResolvedConfig, String> {
    for name in raw.keys() {
        if !meta.config_schema.iter().any(|f| &f.name == name) {
            return Err(format!("unknown config field {}", field_ref(name)));
        }
    }
    let explicit = |name: &str| raw.get(name).filter(|v| !v.is_empty()).cloned();
    // Choices first: what they imply becomes a default of other fields.
    let mut implied: BTreeMap<String, String> = BTreeMap::new();
    let mut values: BTreeMap<String, String> = BTreeMap::new();
    for f in &meta.config_schema {
        if let ConfigKind::Choice(options) = &f.kind {
            let Some(v) = explicit(&f.name).or_else(|| f.default_value.clone()) else {
                continue;
            };
            let Some(option) = options.iter().find(|o| o.value.eq_ignore_ascii_case(&v)) else {
                let allowed: Vec<&str> = options.iter().map(|o| o.value.as_str()).collect();
                return Err(format!(
                    "{} must be one of {}, got {v:?}",
                    field_ref(&f.name),
                    allowed.join(", ")
                ));
            };
            values.insert(f.name.clone(), option.value.clone());
            for (k, val) in &option.implies {
                implied.insert(k.clone(), val.clone());
            }
        }
    }
    let mut secrets = BTreeMap::new();
    let mut secret_fields = Vec::new();
    let mut egress_urls = Vec::new();
    for f in &meta.config_schema {
        if f.secret {
            secret_fields.push(f.name.clone());
        }
        if matches!(f.kind, ConfigKind::Choice(_)) {
            continue;
        }
        let value = explicit(&f.name)
            .or_else(|| implied.get(&f.name).cloned())
            .or_else(|| f.default_value.clone().filter(|v| !v.is_empty()));
        let Some(value) = value else {
            if f.required {
                return Err(format!("missing required {}", field_ref(&f.name)));
            }
            continue;
        };
        match &f.kind {
            ConfigKind::Boolean => {
                if !matches!(
                    value.to_ascii_lowercase().as_str(),
                    "true" | "false" | "1" | "0"
                ) {
                    return Err(format!("{} must be true or false", field_ref(&f.name)));
                }
            }
            ConfigKind::Integer => {
                if value.parse::<i64>().is_err() {
                    return Err(format!("{} must be an integer", field_ref(&f.name)));
                }
            }
            ConfigKind::Url(opts) => {
                let url = url::Url::parse(&value)
                    .map_err(|e| format!("{} is not a valid URL ({e})", field_ref(&f.name)))?;
                if !matches!(url.scheme(), "http" | "https") || url.host().is_none() {
                    return Err(format!(
                        "{} must be an http(s) URL with a host",
                        field_ref(&f.name)
                    ));
                }
                if opts.egress {
                    egress_urls.push((f.name.clone(), value.clone()));
                }
            }
            ConfigKind::Text | ConfigKind::Choice(_) => {}
        }
        if f.secret {
            secrets.insert(f.name.clone(), SecretString::from(value));
        } else {
            values.insert(f.name.clone(), value);
        }
    }
    let egress =
        EgressPolicy::from_urls(egress_urls.iter().map(|(_, u)| u.as_str())).map_err(|e| {
            let field = egress_urls
                .iter()
                .find(|(_, u)| e.contains(u.as_str()))
                .map(|(n, _)| field_ref(n))
                .unwrap_or_else(|| "an egress URL".into());
            format!("{field}: {e}")
        })?;
    let oauth2 = match &meta.credential {
        None => None,
        Some(CredentialRecipe::Oauth2ClientCredentials(r)) => {
            let client_id = values
                .get(&r.client_id_field)
                .cloned()
                .ok_or_else(|| format!("missing required {}", field_ref(&r.client_id_field)))?;
            let client_secret = secrets
                .get(&r.client_secret_field)
                .cloned()
                .ok_or_else(|| format!("missing required {}", field_ref(&r.client_secret_field)))?;
            Some(OAuth2Recipe {
                token_url: render_template(&r.token_url, &values)?,
                client_id,
                client_secret,
                auth: match r.auth_method {
                    ClientAuthMethod::ClientSecretBasic => ClientAuth::Basic,
                    ClientAuthMethod::ClientSecretPost => ClientAuth::Post,
                },
                scope: r.scope.clone(),
            })
        }
    };
    // The recipe's client secret is for the host's token exchange only: a
    // guest must not be able to send it anywhere, even as a bearer token.
    if let Some(CredentialRecipe::Oauth2ClientCredentials(r)) = &meta.credential {
        secrets.remove(&r.client_secret_field);
        secret_fields.retain(|f| f != &r.client_secret_field);
    }
    Ok(ResolvedConfig {
        values: values.into_iter().collect(),
        secrets,
        secret_fields,
        egress,
        oauth2,
    })
}

/// Fills `{field}` placeholders; values are path-escaped except URL fields
/// used as a prefix (a value containing "://" is inserted as is, trimmed of a
/// trailing slash).
fn render_template(template: &str, values: &BTreeMap<String, String>) -> Result<String, String> {
    let mut out = String::new();
    let mut rest = template;
    while let Some(start) = rest.find('{') {
        out.push_str(&rest[..start]);
        let end = rest[start..]
            .find('}')
            .ok_or_else(|| format!("unclosed placeholder in {template:?}"))?
            + start;
        let name = &rest[start + 1..end];
        let value = values
            .get(name)
            .ok_or_else(|| format!("token URL needs {}", field_ref(name)))?;
        if value.contains("://") {
            out.push_str(value.trim_end_matches('/'));
        } else {
            let escaped: String = url::form_urlencoded::byte_serialize(value.as_bytes()).collect();
            out.push_str(&escaped.replace('+', "%20"));
        }
        rest = &rest[end + 1..];
    }
    out.push_str(rest);
    Ok(out)
}

/// Builds a connector instance with its capabilities.
pub fn build_instance(
    name: &str,
    meta: &ConnectorMetadata,
    resolved: ResolvedConfig,
    limits: Limits,
    tls: &TlsOptions,
) -> anyhow::Result<InstanceCtx> {
    let broker = resolved.oauth2.map(|r| Arc::new(TokenBroker::new(r)));
    let http = HttpCapability::new(resolved.egress, tls, &limits, broker.clone())?;
    Ok(InstanceCtx {
        name: name.to_string(),
        limits,
        http: Some(Arc::new(http)),
        secrets: Secrets::new(resolved.secret_fields, resolved.secrets, broker),
        config: resolved.values,
        resource_types: meta.resource_types.clone(),
        metrics: InstanceMetrics::default(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bindings::meta::{ConfigChoice, ConfigField, Oauth2ClientCredentials, UrlOptions};

    fn field(
        name: &str,
        kind: ConfigKind,
        required: bool,
        secret: bool,
        default: Option<&str>,
    ) -> ConfigField {
        ConfigField {
            name: name.into(),
            description: String::new(),
            kind,
            required,
            secret,
            default_value: default.map(Into::into),
        }
    }

    fn meta() -> ConnectorMetadata {
        let url = || ConfigKind::Url(UrlOptions { egress: true });
        ConnectorMetadata {
            display_name: "X".into(),
            description: String::new(),
            version: "1".into(),
            resource_types: vec![],
            capabilities: vec![],
            config_schema: vec![
                field("client-id", ConfigKind::Text, true, false, None),
                field("client-secret", ConfigKind::Text, true, true, None),
                field("env", ConfigKind::Text, true, false, None),
                field(
                    "region",
                    ConfigKind::Choice(vec![
                        ConfigChoice {
                            value: "NA".into(),
                            description: String::new(),
                            implies: vec![
                                ("api-url".into(), "https://api.example.com".into()),
                                ("auth-url".into(), "https://auth.example.com".into()),
                            ],
                        },
                        ConfigChoice {
                            value: "EU".into(),
                            description: String::new(),
                            implies: vec![
                                ("api-url".into(), "https://api.example.eu".into()),
                                ("auth-url".into(), "https://auth.example.eu".into()),
                            ],
                        },
                    ]),
                    false,
                    false,
                    Some("NA"),
                ),
                field("api-url", url(), false, false, None),
                field("auth-url", url(), false, false, None),
                field("verbose", ConfigKind::Boolean, false, false, None),
            ],
            credential: Some(CredentialRecipe::Oauth2ClientCredentials(
                Oauth2ClientCredentials {
                    token_url: "{auth-url}/{env}/as/token".into(),
                    client_id_field: "client-id".into(),
                    client_secret_field: "client-secret".into(),
                    auth_method: ClientAuthMethod::ClientSecretBasic,
                    scope: None,
                },
            )),
            account_creation_schema: vec![],
            credential_options: vec![],
        }
    }

    fn raw(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn region_implies_hosts_and_secrets_stay_out_of_values() {
        let r = resolve(
            &meta(),
            &raw(&[
                ("client-id", "c"),
                ("client-secret", "s3cret"),
                ("env", "e 1"),
                ("region", "eu"),
            ]),
        )
        .unwrap();
        let get = |k: &str| {
            r.values
                .iter()
                .find(|(n, _)| n == k)
                .map(|(_, v)| v.as_str())
        };
        assert_eq!(get("region"), Some("EU"));
        assert_eq!(get("api-url"), Some("https://api.example.eu"));
        assert_eq!(get("client-secret"), None);
        // Brokered only: not even a guest-usable secret handle.
        assert!(r.secrets.is_empty() && r.secret_fields.is_empty());
        assert!(r.egress.check_url("https://api.example.eu/v1").is_ok());
        assert!(r.egress.check_url("https://api.example.com/v1").is_err());
        assert_eq!(
            r.oauth2.unwrap().token_url,
            "https://auth.example.eu/e%201/as/token"
        );
    }

    #[test]
    fn explicit_urls_override_the_region() {
        let r = resolve(
            &meta(),
            &raw(&[
                ("client-id", "c"),
                ("client-secret", "s"),
                ("env", "e"),
                ("api-url", "http://127.0.0.1:9000"),
            ]),
        )
        .unwrap();
        assert!(r.egress.check_url("http://127.0.0.1:9000/v1/x").is_ok());
        assert!(r.egress.check_url("https://api.example.com/v1").is_err());
        assert!(
            r.egress
                .check_url("https://auth.example.com/e/as/token")
                .is_ok()
        );
    }

    #[test]
    fn errors_name_the_flag_and_env_var() {
        let e = resolve(&meta(), &raw(&[("client-id", "c"), ("env", "e")])).unwrap_err();
        assert_eq!(e, "missing required --client-secret (BATON_CLIENT_SECRET)");
        let e = resolve(
            &meta(),
            &raw(&[
                ("client-id", "c"),
                ("client-secret", "s"),
                ("env", "e"),
                ("region", "XX"),
            ]),
        )
        .unwrap_err();
        assert!(
            e.contains("--region (BATON_REGION) must be one of NA, EU"),
            "{e}"
        );
        let e = resolve(
            &meta(),
            &raw(&[
                ("client-id", "c"),
                ("client-secret", "s"),
                ("env", "e"),
                ("verbose", "maybe"),
            ]),
        )
        .unwrap_err();
        assert!(
            e.contains("--verbose (BATON_VERBOSE) must be true or false"),
            "{e}"
        );
        let e = resolve(
            &meta(),
            &raw(&[
                ("client-id", "c"),
                ("client-secret", "s"),
                ("env", "e"),
                ("api-url", "http://api.example.com"),
            ]),
        )
        .unwrap_err();
        assert!(
            e.starts_with("--api-url (BATON_API_URL)") && e.contains("plain HTTP"),
            "{e}"
        );
        let e = resolve(&meta(), &raw(&[("bogus", "1")])).unwrap_err();
        assert!(e.contains("unknown config field --bogus"), "{e}");
    }
}
