//! Which component runs, and the instance it runs as.
//!
//! The bundled PingOne component is embedded at build time; `--component`
//! swaps in any other component without rebuilding the host.
//!
//! Callers pass [`ComponentChoice`] and [`InstanceOptions`], built from the
//! flags by `main`; nothing here reads the command line.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use connector_runtime::bindings::meta::{
    Capability, ConfigKind, ConnectorMetadata, CredentialOption, CredentialRecipe,
};
use connector_runtime::capabilities::http::TlsOptions;
use connector_runtime::config::{
    ComponentTrust, build_instance, env_name, requested_egress, resolve,
};
use connector_runtime::{InstanceCtx, Limits, Plugin, Runtime, RuntimeOptions};
use serde_json::{Value, json};

/// The PingOne component, built by `build.rs` for wasm32-wasip2.
pub const BUNDLED_PINGONE: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/pingone.wasm"));

/// Which component runs, as `--component`, `--component-sha256` and
/// `--accept-component-egress` name it.
#[derive(Debug, Clone, Default)]
pub struct ComponentChoice {
    /// `None`: the bundled PingOne component.
    pub path: Option<PathBuf>,
    pub sha256: Option<String>,
    pub accept_egress: bool,
}

impl ComponentChoice {
    /// Whether the component's own egress defaults count: the bundled one's
    /// do; another's only when the operator pinned it by digest and
    /// accepted them. (`HostRuntime::load` has already checked the digest.)
    pub fn trust(&self) -> anyhow::Result<ComponentTrust> {
        match (&self.path, &self.sha256, self.accept_egress) {
            (None, _, _) => Ok(ComponentTrust::Trusted),
            (Some(_), Some(_), true) => Ok(ComponentTrust::Trusted),
            (Some(_), None, true) => anyhow::bail!(
                "--accept-component-egress (BATON_ACCEPT_COMPONENT_EGRESS) needs \
                 --component-sha256: egress is accepted for one exact component"
            ),
            (Some(_), _, false) => Ok(ComponentTrust::Untrusted),
        }
    }
}

/// What a connector instance is built with.
pub struct InstanceOptions {
    pub trust: ComponentTrust,
    pub limits: Limits,
    pub tls: TlsOptions,
}

pub struct HostRuntime {
    runtime: Arc<Runtime>,
}

/// The default cache: `$XDG_CACHE_HOME/connector-host` or `~/.cache/...`,
/// or none when neither is known (read-only containers pass --cache-dir).
fn default_cache_dir() -> Option<PathBuf> {
    if let Some(x) = std::env::var_os("XDG_CACHE_HOME").filter(|v| !v.is_empty()) {
        return Some(PathBuf::from(x).join("connector-host"));
    }
    std::env::var_os("HOME")
        .filter(|v| !v.is_empty())
        .map(|h| PathBuf::from(h).join(".cache").join("connector-host"))
}

impl HostRuntime {
    pub fn new(cache_dir: Option<&Path>) -> anyhow::Result<Self> {
        let mut cache = cache_dir.map(Path::to_path_buf).or_else(default_cache_dir);
        // Private from the start: the runtime refuses a cache directory
        // others could write to, whatever the process umask.
        if let Some(dir) = &cache
            && std::os::unix::fs::DirBuilderExt::mode(
                std::fs::DirBuilder::new().recursive(true),
                0o700,
            )
            .create(dir)
            .is_err()
        {
            cache = None; // a cache is an optimisation, never a requirement
        }
        let runtime = Runtime::new(RuntimeOptions { cache_dir: cache })?;
        Ok(Self { runtime })
    }

    pub fn runtime(&self) -> Arc<Runtime> {
        self.runtime.clone()
    }

    /// Loads the component at `path` (checked against `sha256` when given),
    /// or the bundled one.
    pub async fn load(
        &self,
        path: Option<&Path>,
        sha256: Option<&str>,
    ) -> anyhow::Result<Arc<Plugin>> {
        match path {
            Some(path) => self
                .runtime
                .load_file(path, sha256)
                .await
                .map_err(|e| anyhow::anyhow!("loading component {}: {e}", path.display())),
            None => self
                .runtime
                .load(BUNDLED_PINGONE)
                .await
                .map_err(|e| anyhow::anyhow!("loading the bundled PingOne component: {e}")),
        }
    }
}

/// Builds the connector instance from its raw values (config and secrets
/// by field name).
pub fn instance(
    plugin: &Plugin,
    options: &InstanceOptions,
    values: BTreeMap<String, String>,
) -> anyhow::Result<InstanceCtx> {
    let resolved =
        resolve(&plugin.metadata, &values, options.trust).map_err(|e| anyhow::anyhow!("{e}"))?;
    build_instance(
        "cli",
        &plugin.metadata,
        resolved,
        options.limits.clone(),
        &options.tls,
    )
}

/// TLS settings: the system roots plus the `--ca-bundle` file, if any.
pub fn tls_options(ca_bundle: Option<&Path>) -> anyhow::Result<TlsOptions> {
    let mut tls = TlsOptions::default();
    if let Some(path) = ca_bundle {
        let pem = std::fs::read(path).map_err(|e| {
            anyhow::anyhow!(
                "--ca-bundle (BATON_CA_BUNDLE): reading {}: {e}",
                path.display()
            )
        })?;
        tls.extra_roots_pem.push(pem);
    }
    Ok(tls)
}

fn capability_name(c: &Capability) -> (i32, &'static str) {
    match c {
        Capability::Provision => (1, "CAPABILITY_PROVISION"),
        Capability::Sync => (2, "CAPABILITY_SYNC"),
        Capability::AccountProvisioning => (5, "CAPABILITY_ACCOUNT_PROVISIONING"),
        Capability::ResourceDelete => (8, "CAPABILITY_RESOURCE_DELETE"),
    }
}

fn credential_option_name(c: &CredentialOption) -> &'static str {
    match c {
        CredentialOption::NoPassword => "CAPABILITY_DETAIL_CREDENTIAL_OPTION_NO_PASSWORD",
        CredentialOption::RandomPassword => "CAPABILITY_DETAIL_CREDENTIAL_OPTION_RANDOM_PASSWORD",
    }
}

/// `capabilities`, in the shape Baton's command prints: protojson of
/// `ConnectorCapabilities` inside an Any. Each type in `targetable` (a
/// targeted sync reads its resources alone) claims `TARGETED_SYNC`, and the
/// connector claims it and `SERVICE_MODE_TARGETED_SYNC` when there is one.
pub fn capabilities_json(
    meta: &ConnectorMetadata,
    targetable: &[String],
) -> anyhow::Result<String> {
    let mut per_type: Vec<(String, Value)> = Vec::new();
    let mut all: BTreeMap<i32, &'static str> = BTreeMap::new();
    for rt in &meta.resource_types {
        let caps = meta
            .capabilities
            .iter()
            .find(|c| c.resource_type == rt.id)
            .map(|c| c.capabilities.as_slice())
            .unwrap_or(&[]);
        let mut names: Vec<(i32, &'static str)> = caps.iter().map(capability_name).collect();
        if targetable.contains(&rt.id) {
            names.push((11, "CAPABILITY_TARGETED_SYNC"));
        }
        names.sort();
        names.dedup();
        for (n, s) in &names {
            all.insert(*n, s);
        }
        let traits: Vec<&str> = rt
            .traits
            .iter()
            .map(|t| match t {
                connector_runtime::bindings::types::ResourceTraitKind::User => "TRAIT_USER",
                connector_runtime::bindings::types::ResourceTraitKind::Group => "TRAIT_GROUP",
                connector_runtime::bindings::types::ResourceTraitKind::Role => "TRAIT_ROLE",
                connector_runtime::bindings::types::ResourceTraitKind::App => "TRAIT_APP",
            })
            .collect();
        let mut rt_json = json!({ "id": rt.id, "displayName": rt.display_name, "traits": traits });
        if let Some(d) = &rt.description {
            rt_json["description"] = json!(d);
        }
        if rt.skip_entitlements_and_grants {
            rt_json["annotations"] = json!([{ "@type": "type.googleapis.com/c1.connector.v2.SkipEntitlementsAndGrants" }]);
        }
        per_type.push((
            rt.id.clone(),
            json!({
                "resourceType": rt_json,
                "capabilities": names.iter().map(|(_, s)| *s).collect::<Vec<_>>(),
            }),
        ));
    }
    per_type.sort_by(|a, b| a.0.cmp(&b.0));
    if !targetable.is_empty() {
        all.insert(13, "CAPABILITY_SERVICE_MODE_TARGETED_SYNC");
    }
    let mut out = json!({
        "@type": "type.googleapis.com/c1.connector.v2.ConnectorCapabilities",
        "resourceTypeCapabilities": per_type.into_iter().map(|(_, v)| v).collect::<Vec<_>>(),
        "connectorCapabilities": all.values().collect::<Vec<_>>(),
    });
    if all.contains_key(&5) && !meta.credential_options.is_empty() {
        let options: Vec<&str> = meta
            .credential_options
            .iter()
            .map(credential_option_name)
            .collect();
        out["credentialDetails"] = json!({
            "capabilityAccountProvisioning": {
                "supportedCredentialOptions": options,
                "preferredCredentialOption": options[0],
            }
        });
    }
    Ok(serde_json::to_string_pretty(&out)?)
}

/// What `validate` says about egress: the origins in use, and the ones the
/// component asked for that the operator has not accepted.
pub fn egress_report(
    meta: &ConnectorMetadata,
    instance: &InstanceCtx,
    trust: ComponentTrust,
) -> anyhow::Result<Vec<String>> {
    let origins: Vec<String> = instance
        .http
        .iter()
        .flat_map(|h| h.policy().origins())
        .map(|o| format!("{}://{}:{}", o.scheme, o.host, o.port))
        .collect();
    let mut lines = vec![format!(
        "egress: {}",
        if origins.is_empty() {
            "none".to_string()
        } else {
            origins.join(", ")
        }
    )];
    let requested = requested_egress(meta);
    if trust == ComponentTrust::Untrusted && !requested.is_empty() {
        let urls: Vec<&str> = requested.iter().map(|r| r.url.as_str()).collect();
        lines.push(format!(
            "egress: not allowed, the component's own defaults ({}); to allow them, pin it \
             with --component-sha256 and add --accept-component-egress",
            urls.join(", ")
        ));
    }
    Ok(lines)
}

/// `config`: the connector's config schema, with flag and env names, and
/// the origins its own defaults ask for.
pub fn config_json(meta: &ConnectorMetadata, trust: ComponentTrust) -> anyhow::Result<String> {
    let fields: Vec<Value> = meta
        .config_schema
        .iter()
        .map(|f| {
            let (kind, extra) = match &f.kind {
                ConfigKind::Text => ("string", Value::Null),
                ConfigKind::Boolean => ("bool", Value::Null),
                ConfigKind::Integer => ("int", Value::Null),
                ConfigKind::Url(o) => ("url", json!({ "egress": o.egress })),
                ConfigKind::Choice(options) => (
                    "choice",
                    json!(options
                        .iter()
                        .map(|o| json!({
                            "value": o.value,
                            "description": o.description,
                            "implies": o.implies.iter().map(|(k, v)| (k.clone(), json!(v))).collect::<serde_json::Map<_, _>>(),
                        }))
                        .collect::<Vec<_>>()),
                ),
            };
            let mut v = json!({
                "name": f.name,
                "flag": format!("--{}", f.name),
                "env": env_name(&f.name),
                "description": f.description,
                "type": kind,
                "required": f.required,
                "secret": f.secret,
            });
            if let Some(d) = &f.default_value {
                v["default"] = json!(d);
            }
            if let ConfigKind::Url(_) = &f.kind {
                v["url"] = extra;
            } else if !extra.is_null() {
                v["choices"] = extra;
            }
            v
        })
        .collect();
    let credential = meta.credential.as_ref().map(|c| match c {
        CredentialRecipe::Oauth2ClientCredentials(r) => json!({
            "type": "oauth2-client-credentials",
            "tokenUrl": r.token_url,
            "clientIdField": r.client_id_field,
            "clientSecretField": r.client_secret_field,
            "authMethod": format!("{:?}", r.auth_method),
        }),
    });
    // Baton's AccountCreationSchema: what `--create-account-profile` takes.
    let account_fields: Vec<Value> = meta
        .account_creation_schema
        .iter()
        .map(|f| {
            json!({
                "name": f.name,
                "displayName": f.display_name,
                "description": f.description,
                "type": match f.kind {
                    connector_runtime::bindings::meta::AccountFieldKind::Text => "string",
                    connector_runtime::bindings::meta::AccountFieldKind::Boolean => "bool",
                    connector_runtime::bindings::meta::AccountFieldKind::TextList => "string-list",
                },
                "required": f.required,
                "placeholder": f.placeholder,
            })
        })
        .collect();
    let requested: Vec<Value> = requested_egress(meta)
        .into_iter()
        .map(|r| json!({ "field": r.field, "url": r.url, "source": r.source }))
        .collect();
    let out = json!({
        "connector": meta.display_name,
        "version": meta.version,
        "egress": {
            // Whether the origins below are allowed without being set.
            "componentDefaultsAccepted": trust == ComponentTrust::Trusted,
            "requested": requested,
        },
        "fields": fields,
        "credential": credential,
        "accountCreationSchema": account_fields,
    });
    Ok(serde_json::to_string_pretty(&out)?)
}
