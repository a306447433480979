//! From a component's config schema and an operator's values to an instance.
//!
//! Threat: the component is untrusted code, and its schema is its own word.
//! If its defaults could name origins, a hostile component would choose
//! where the host sends the credentials it brokers. Decisions:
//! - Egress is the operator's. The allowlist comes only from URL fields the
//!   schema marks `egress`, with values the operator set (flags, env,
//!   secret files, tenants file). A component's own defaults for those
//!   fields, and what its choices imply for them, count only when the
//!   operator trusts the component ([`ComponentTrust::Trusted`]: the bundled
//!   PingOne component, or one pinned by digest with its requested egress
//!   accepted); [`requested_egress`] lists them so `config` can show them.
//! - Credentials are bound to their config group's origins
//!   ([`CredentialBindings`]), and the token endpoint must be one of them.
//! - Precedence: an explicit value, then what a chosen option implies (a
//!   region sets API and auth URLs), then the field's default.
//! - Secret fields are split off here: they go to the host's secret store,
//!   never into the config the guest receives. A secret shorter than
//!   [`MIN_SECRET_BYTES`] is refused: it could not be scrubbed from what
//!   upstreams echo without corrupting ordinary data.
//! - The OAuth2 client authentication method is the recipe's, unless the
//!   schema declares the field `<group>-token-auth-method` (the group of
//!   the recipe's client secret field, e.g. `pingone-token-auth-method`):
//!   then its value, `CLIENT_SECRET_BASIC` or `CLIENT_SECRET_POST`, decides
//!   ([`auth_method_field`]). An upstream app is set to one method and
//!   refuses the other, so the operator must be able to pick it without a
//!   new contract. Either method sends the same secret to the same token
//!   endpoint, so a component's own default for the field gains nothing.
//! - Every error names the flag and its `BATON_` environment variable.

use std::collections::BTreeMap;
use std::sync::Arc;

use secrecy::SecretString;

use crate::bindings::meta::{ClientAuthMethod, ConfigKind, ConnectorMetadata, CredentialRecipe};
use crate::capabilities::egress::EgressPolicy;
use crate::capabilities::http::{HttpCapability, HttpCredentials, TlsOptions};
use crate::capabilities::scrub::MIN_SECRET_BYTES;
use crate::capabilities::secrets::{
    ClientAuth, CredentialBindings, OAUTH2_TOKEN, OAuth2Recipe, Secrets, TokenBroker,
};
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

/// Whether a component's own egress defaults may be used.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ComponentTrust {
    /// Only operator-set values define egress (any component from a file,
    /// unless the operator accepted its requested egress).
    Untrusted,
    /// The bundled component, or one the operator pinned by digest and
    /// whose requested egress they accepted: its defaults count too.
    Trusted,
}

/// An origin a component asks for through an egress field's default or a
/// choice's implied value, which only a trusted component gets.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestedEgress {
    pub field: String,
    pub url: String,
    /// `default`, or `--<choice>=<value>` for an implied value.
    pub source: String,
}

/// Every origin the component's schema would add to egress on its own.
pub fn requested_egress(meta: &ConnectorMetadata) -> Vec<RequestedEgress> {
    let is_egress = |name: &str| {
        meta.config_schema
            .iter()
            .any(|f| f.name == name && matches!(&f.kind, ConfigKind::Url(o) if o.egress))
    };
    let mut out = Vec::new();
    for f in &meta.config_schema {
        if let Some(d) = f.default_value.as_ref().filter(|d| !d.is_empty())
            && is_egress(&f.name)
        {
            out.push(RequestedEgress {
                field: f.name.clone(),
                url: d.clone(),
                source: "default".into(),
            });
        }
        if let ConfigKind::Choice(options) = &f.kind {
            for o in options {
                for (k, v) in o.implies.iter().filter(|(k, _)| is_egress(k)) {
                    out.push(RequestedEgress {
                        field: k.clone(),
                        url: v.clone(),
                        source: format!("--{}={}", f.name, o.value),
                    });
                }
            }
        }
    }
    out
}

/// Configuration ready to build an instance from (its `Debug` shows
/// secrets as `[REDACTED]`, as `SecretString`'s does).
#[derive(Debug)]
pub struct ResolvedConfig {
    /// Non-secret values as the guest receives them (set fields only).
    pub values: Vec<(String, String)>,
    pub secrets: BTreeMap<String, SecretString>,
    pub secret_fields: Vec<String>,
    pub egress: EgressPolicy,
    pub bindings: CredentialBindings,
    pub oauth2: Option<OAuth2Recipe>,
}

/// Resolves raw operator values (by field name) against the schema.
pub fn resolve(
    meta: &ConnectorMetadata,
    raw: &BTreeMap<String, String>,
    trust: ComponentTrust,
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
        let field = field_ref(&f.name);
        let egress_field = matches!(&f.kind, ConfigKind::Url(o) if o.egress);
        let component_value = implied
            .get(&f.name)
            .cloned()
            .or_else(|| f.default_value.clone().filter(|v| !v.is_empty()));
        let value = match explicit(&f.name) {
            Some(v) => Some(v),
            // An untrusted component's own word never names an origin.
            None if egress_field && trust == ComponentTrust::Untrusted => {
                if let Some(url) = &component_value
                    && f.required
                {
                    return Err(format!(
                        "missing required {field}: the component asks for {url}, which only an \
                         operator can allow (set the field, or pin the component with \
                         --component-sha256 and --accept-component-egress)"
                    ));
                }
                None
            }
            None => component_value,
        };
        let Some(value) = value else {
            if f.required {
                return Err(format!("missing required {field}"));
            }
            continue;
        };
        match &f.kind {
            ConfigKind::Boolean => {
                let lower = value.to_ascii_lowercase();
                if !matches!(lower.as_str(), "true" | "false" | "1" | "0") {
                    return Err(format!("{field} must be true or false"));
                }
            }
            ConfigKind::Integer if value.parse::<i64>().is_err() => {
                return Err(format!("{field} must be an integer"));
            }
            ConfigKind::Url(opts) => {
                let url = url::Url::parse(&value)
                    .map_err(|e| format!("{field} is not a valid URL ({e})"))?;
                if !matches!(url.scheme(), "http" | "https") || url.host().is_none() {
                    return Err(format!("{field} must be an http(s) URL with a host"));
                }
                if opts.egress {
                    egress_urls.push((f.name.clone(), value.clone()));
                }
            }
            ConfigKind::Integer | ConfigKind::Text | ConfigKind::Choice(_) => {}
        }
        if f.secret {
            if value.len() < MIN_SECRET_BYTES {
                return Err(format!(
                    "{field} is shorter than {MIN_SECRET_BYTES} characters: the host cannot keep a \
                     value that short out of what upstreams echo"
                ));
            }
            secrets.insert(f.name.clone(), SecretString::from(value));
        } else {
            values.insert(f.name.clone(), value);
        }
    }
    let policy_of = |urls: &[&(String, String)]| {
        EgressPolicy::from_urls(urls.iter().map(|(_, u)| u.as_str())).map_err(|e| {
            let field = urls
                .iter()
                .find(|(_, u)| e.contains(u.as_str()))
                .map(|(n, _)| field_ref(n))
                .unwrap_or_else(|| "an egress URL".into());
            format!("{field}: {e}")
        })
    };
    let egress = policy_of(&egress_urls.iter().collect::<Vec<_>>())?;
    let group_policy = |field: &str| {
        let group = CredentialBindings::group_of(field);
        let urls: Vec<&(String, String)> = egress_urls
            .iter()
            .filter(|(n, _)| CredentialBindings::group_of(n) == group)
            .collect();
        policy_of(&urls)
    };
    let mut bound = BTreeMap::new();
    for name in &secret_fields {
        bound.insert(name.clone(), group_policy(name)?);
    }
    let oauth2 = match &meta.credential {
        None => None,
        Some(CredentialRecipe::Oauth2ClientCredentials(r)) => {
            let client_id = values
                .get(&r.client_id_field)
                .cloned()
                .ok_or_else(|| format!("missing required {}", field_ref(&r.client_id_field)))?;
            // The recipe's client secret is for the host's token exchange
            // only: a guest must not be able to send it anywhere, even as a
            // bearer token.
            let client_secret = secrets
                .remove(&r.client_secret_field)
                .ok_or_else(|| format!("missing required {}", field_ref(&r.client_secret_field)))?;
            secret_fields.retain(|f| f != &r.client_secret_field);
            bound.remove(&r.client_secret_field);
            let token_url = render_template(&r.token_url, &values)?;
            // The client secret goes to the token endpoint and the token to
            // the same group's origins: both must be the operator's.
            let token_policy = group_policy(&r.client_secret_field)?;
            if token_policy.check_url(&token_url).is_err() {
                let group = CredentialBindings::group_of(&r.client_secret_field);
                return Err(format!(
                    "the token endpoint {} is not on an origin the operator allowed for the \
                     {group} fields ({}); set the {group} URL fields",
                    origin_of(&token_url),
                    field_ref(&r.client_secret_field),
                ));
            }
            bound.insert(OAUTH2_TOKEN.to_string(), token_policy);
            Some(OAuth2Recipe {
                token_url,
                client_id,
                client_secret,
                auth: client_auth(r, &values)?,
                scope: r.scope.clone(),
            })
        }
    };
    Ok(ResolvedConfig {
        values: values.into_iter().collect(),
        secrets,
        secret_fields,
        egress,
        bindings: CredentialBindings::new(bound),
        oauth2,
    })
}

/// The config field that picks the token endpoint's client authentication
/// method for a recipe whose client secret is `client_secret_field`:
/// `<group>-token-auth-method`.
pub fn auth_method_field(client_secret_field: &str) -> String {
    format!(
        "{}-token-auth-method",
        CredentialBindings::group_of(client_secret_field)
    )
}

/// The recipe's method, or the one its group's auth-method field names.
fn client_auth(
    r: &crate::bindings::meta::Oauth2ClientCredentials,
    values: &BTreeMap<String, String>,
) -> Result<ClientAuth, String> {
    let field = auth_method_field(&r.client_secret_field);
    let Some(value) = values.get(&field) else {
        return Ok(match r.auth_method {
            ClientAuthMethod::ClientSecretBasic => ClientAuth::Basic,
            ClientAuthMethod::ClientSecretPost => ClientAuth::Post,
        });
    };
    match value.trim().to_ascii_uppercase().replace('-', "_").as_str() {
        "CLIENT_SECRET_BASIC" => Ok(ClientAuth::Basic),
        "CLIENT_SECRET_POST" => Ok(ClientAuth::Post),
        _ => Err(format!(
            "{}: the token endpoint auth method must be CLIENT_SECRET_BASIC or \
             CLIENT_SECRET_POST, got {value:?}",
            field_ref(&field)
        )),
    }
}

/// `scheme://host:port` of a URL, for messages.
fn origin_of(url: &str) -> String {
    url::Url::parse(url)
        .map(|u| u.origin().ascii_serialization())
        .unwrap_or_else(|_| format!("{url:?}"))
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
    let secrets = Secrets::new(resolved.secret_fields, resolved.secrets, broker.clone());
    let credentials = HttpCredentials {
        broker,
        bindings: resolved.bindings,
        redactor: secrets.redactor(),
    };
    let http = HttpCapability::new(resolved.egress, tls, &limits, credentials)?;
    Ok(InstanceCtx {
        name: name.to_string(),
        limits,
        http: Some(Arc::new(http)),
        secrets,
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
                field("x-client-id", ConfigKind::Text, true, false, None),
                field("x-client-secret", ConfigKind::Text, true, true, None),
                field("x-env", ConfigKind::Text, true, false, None),
                field(
                    "x-region",
                    ConfigKind::Choice(vec![
                        ConfigChoice {
                            value: "NA".into(),
                            description: String::new(),
                            implies: vec![
                                ("x-api-url".into(), "https://api.example.com".into()),
                                ("x-auth-url".into(), "https://auth.example.com".into()),
                            ],
                        },
                        ConfigChoice {
                            value: "EU".into(),
                            description: String::new(),
                            implies: vec![
                                ("x-api-url".into(), "https://api.example.eu".into()),
                                ("x-auth-url".into(), "https://auth.example.eu".into()),
                            ],
                        },
                    ]),
                    false,
                    false,
                    Some("NA"),
                ),
                field("x-api-url", url(), false, false, None),
                field("x-auth-url", url(), false, false, None),
                field("x-verbose", ConfigKind::Boolean, false, false, None),
            ],
            credential: Some(CredentialRecipe::Oauth2ClientCredentials(
                Oauth2ClientCredentials {
                    token_url: "{x-auth-url}/{x-env}/as/token".into(),
                    client_id_field: "x-client-id".into(),
                    client_secret_field: "x-client-secret".into(),
                    auth_method: ClientAuthMethod::ClientSecretBasic,
                    scope: None,
                },
            )),
            account_creation_schema: vec![],
            credential_options: vec![],
        }
    }

    const TRUSTED: ComponentTrust = ComponentTrust::Trusted;
    const SECRET: &str = "s3cret-value";

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
                ("x-client-id", "c"),
                ("x-client-secret", SECRET),
                ("x-env", "e 1"),
                ("x-region", "eu"),
            ]),
            TRUSTED,
        )
        .unwrap();
        let get = |k: &str| {
            r.values
                .iter()
                .find(|(n, _)| n == k)
                .map(|(_, v)| v.as_str())
        };
        assert_eq!(get("x-region"), Some("EU"));
        assert_eq!(get("x-api-url"), Some("https://api.example.eu"));
        assert_eq!(get("x-client-secret"), None);
        // Brokered only: not even a guest-usable secret handle.
        assert!(r.secrets.is_empty() && r.secret_fields.is_empty());
        let shown = format!("{r:?}");
        assert!(
            !shown.contains(SECRET) && shown.contains("REDACTED"),
            "{shown}"
        );
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
                ("x-client-id", "c"),
                ("x-client-secret", SECRET),
                ("x-env", "e"),
                ("x-api-url", "http://127.0.0.1:9000"),
            ]),
            TRUSTED,
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

    /// The recipe's method stands unless the schema declares the group's
    /// `-token-auth-method` field; then the operator's value (or the
    /// field's default) picks it, and anything else is refused by name.
    #[test]
    fn token_auth_method_field_overrides_the_recipe() {
        let base = [
            ("x-client-id", "c"),
            ("x-client-secret", SECRET),
            ("x-env", "e"),
        ];
        let auth = |m: &ConnectorMetadata, extra: &[(&str, &str)]| {
            let mut pairs = base.to_vec();
            pairs.extend_from_slice(extra);
            resolve(m, &raw(&pairs), TRUSTED).map(|r| r.oauth2.unwrap().auth)
        };
        // Not declared: the recipe's method, whatever the operator sets.
        assert_eq!(auth(&meta(), &[]).unwrap(), ClientAuth::Basic);
        let mut m = meta();
        let choice = |v: &str| ConfigChoice {
            value: v.into(),
            description: String::new(),
            implies: vec![],
        };
        m.config_schema.push(field(
            "x-token-auth-method",
            ConfigKind::Choice(vec![
                choice("CLIENT_SECRET_BASIC"),
                choice("CLIENT_SECRET_POST"),
            ]),
            false,
            false,
            Some("CLIENT_SECRET_BASIC"),
        ));
        assert_eq!(auth(&m, &[]).unwrap(), ClientAuth::Basic);
        assert_eq!(
            auth(&m, &[("x-token-auth-method", "client_secret_post")]).unwrap(),
            ClientAuth::Post
        );
        assert_eq!(
            auth(&m, &[("x-token-auth-method", "CLIENT_SECRET_BASIC")]).unwrap(),
            ClientAuth::Basic
        );
        let e = auth(&m, &[("x-token-auth-method", "PRIVATE_KEY_JWT")]).unwrap_err();
        assert!(e.contains("--x-token-auth-method"), "{e}");
        // A free-text field of that name is checked the same way.
        let mut m = meta();
        m.config_schema.push(field(
            "x-token-auth-method",
            ConfigKind::Text,
            false,
            false,
            None,
        ));
        assert_eq!(
            auth(&m, &[("x-token-auth-method", "client-secret-post")]).unwrap(),
            ClientAuth::Post
        );
        let e = auth(&m, &[("x-token-auth-method", "none")]).unwrap_err();
        assert!(
            e.contains("--x-token-auth-method (BATON_X_TOKEN_AUTH_METHOD)")
                && e.contains("CLIENT_SECRET_POST")
                && e.contains("\"none\""),
            "{e}"
        );
    }

    #[test]
    fn errors_name_the_flag_and_env_var() {
        let e = resolve(
            &meta(),
            &raw(&[("x-client-id", "c"), ("x-env", "e")]),
            TRUSTED,
        )
        .unwrap_err();
        assert_eq!(
            e,
            "missing required --x-client-secret (BATON_X_CLIENT_SECRET)"
        );
        let e = resolve(
            &meta(),
            &raw(&[
                ("x-client-id", "c"),
                ("x-client-secret", SECRET),
                ("x-env", "e"),
                ("x-region", "XX"),
            ]),
            TRUSTED,
        )
        .unwrap_err();
        assert!(
            e.contains("--x-region (BATON_X_REGION) must be one of NA, EU"),
            "{e}"
        );
        let e = resolve(
            &meta(),
            &raw(&[
                ("x-client-id", "c"),
                ("x-client-secret", SECRET),
                ("x-env", "e"),
                ("x-verbose", "maybe"),
            ]),
            TRUSTED,
        )
        .unwrap_err();
        assert!(
            e.contains("--x-verbose (BATON_X_VERBOSE) must be true or false"),
            "{e}"
        );
        let e = resolve(
            &meta(),
            &raw(&[
                ("x-client-id", "c"),
                ("x-client-secret", SECRET),
                ("x-env", "e"),
                ("x-api-url", "http://api.example.com"),
            ]),
            TRUSTED,
        )
        .unwrap_err();
        assert!(
            e.starts_with("--x-api-url (BATON_X_API_URL)") && e.contains("plain HTTP"),
            "{e}"
        );
        let e = resolve(&meta(), &raw(&[("x-bogus", "1")]), TRUSTED).unwrap_err();
        assert!(e.contains("unknown config field --x-bogus"), "{e}");
    }

    #[test]
    fn an_untrusted_components_defaults_never_name_an_origin() {
        let mut m = meta();
        // A hostile default: the token endpoint and API on its own server.
        m.config_schema[4].default_value = Some("https://evil.example".into());
        let base = [
            ("x-client-id", "c"),
            ("x-client-secret", SECRET),
            ("x-env", "e"),
        ];
        // Neither the region's implied URLs nor the default are used...
        let e = resolve(&m, &raw(&base), ComponentTrust::Untrusted).unwrap_err();
        assert!(e.contains("token URL needs --x-auth-url"), "{e}");
        let mut with_auth = base.to_vec();
        with_auth.push(("x-auth-url", "https://auth.operator.example"));
        let r = resolve(&m, &raw(&with_auth), ComponentTrust::Untrusted).unwrap();
        assert!(r.egress.check_url("https://evil.example/x").is_err());
        assert!(r.egress.check_url("https://api.example.com/x").is_err());
        assert!(
            r.egress
                .check_url("https://auth.operator.example/x")
                .is_ok()
        );
        assert!(!r.values.iter().any(|(k, _)| k == "x-api-url"));
        // ...while a trusted component gets them.
        let r = resolve(&m, &raw(&base), TRUSTED).unwrap();
        assert!(r.egress.check_url("https://api.example.com/x").is_ok());
        // A required egress field says why its default does not count.
        m.config_schema[4].required = true;
        let e = resolve(&m, &raw(&with_auth), ComponentTrust::Untrusted).unwrap_err();
        assert!(
            e.contains("--x-api-url (BATON_X_API_URL)") && e.contains("--accept-component-egress"),
            "{e}"
        );
        assert_eq!(requested_egress(&m).len(), 5, "{:?}", requested_egress(&m));
    }

    #[test]
    fn the_token_endpoint_must_be_on_an_operator_origin() {
        let mut m = meta();
        let Some(CredentialRecipe::Oauth2ClientCredentials(r)) = &mut m.credential else {
            unreachable!()
        };
        r.token_url = "https://collector.example/{x-env}/token".into();
        let e = resolve(
            &m,
            &raw(&[
                ("x-client-id", "c"),
                ("x-client-secret", SECRET),
                ("x-env", "e"),
            ]),
            TRUSTED,
        )
        .unwrap_err();
        assert!(
            e.contains("token endpoint https://collector.example is not on an origin"),
            "{e}"
        );
    }

    #[test]
    fn credentials_are_bound_to_their_groups_origins() {
        let url = || ConfigKind::Url(UrlOptions { egress: true });
        let mut m = meta();
        m.config_schema
            .push(field("x-api-key", ConfigKind::Text, false, true, None));
        m.config_schema
            .push(field("sink-url", url(), false, false, None));
        m.config_schema
            .push(field("sink-key", ConfigKind::Text, false, true, None));
        let r = resolve(
            &m,
            &raw(&[
                ("x-client-id", "c"),
                ("x-client-secret", SECRET),
                ("x-env", "e"),
                ("x-api-key", "x-key-0123"),
                ("sink-url", "https://sink.example"),
                ("sink-key", "sink-key-0123"),
            ]),
            TRUSTED,
        )
        .unwrap();
        let b = &r.bindings;
        assert!(
            b.check(OAUTH2_TOKEN, "https://api.example.com/v1/x")
                .is_ok()
        );
        assert!(b.check("x-api-key", "https://auth.example.com/e").is_ok());
        assert!(b.check("sink-key", "https://sink.example/in").is_ok());
        let e = b
            .check(OAUTH2_TOKEN, "https://sink.example/in")
            .unwrap_err();
        assert_eq!(
            e,
            "credential oauth2-token may not be sent to https://sink.example: it is bound to \
             https://api.example.com:443, https://auth.example.com:443"
        );
        assert!(b.check("sink-key", "https://api.example.com/v1").is_err());
        // The brokered client secret has no binding: no guest may send it.
        assert!(
            b.check("app-client-secret", "https://auth.example.com/e")
                .is_err()
        );
    }

    #[test]
    fn secrets_too_short_to_scrub_are_refused() {
        let e = resolve(
            &meta(),
            &raw(&[
                ("x-client-id", "c"),
                ("x-client-secret", "short"),
                ("x-env", "e"),
            ]),
            TRUSTED,
        )
        .unwrap_err();
        assert!(
            e.contains("--x-client-secret (BATON_X_CLIENT_SECRET) is shorter than 8"),
            "{e}"
        );
    }
}
