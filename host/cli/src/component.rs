//! Which component runs, the instance it runs as, and what it says about
//! itself (capabilities and config schema, for the CLI and for Hello).
//!
//! The bundled PingOne component is embedded at build time; `--component`
//! swaps in any other component without rebuilding the host.
//!
//! Callers pass [`ComponentChoice`] and [`InstanceOptions`], built from the
//! flags by `main`; nothing here reads the command line.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::Context as _;
use c1z::pb;
use c1z::protojson::ProtoJson as _;
use connector_runtime::bindings::meta::{
    AccountFieldKind, Capability, ConfigKind, ConnectorMetadata, CredentialOption, CredentialRecipe,
};
use connector_runtime::capabilities::http::TlsOptions;
use connector_runtime::config::{
    ComponentTrust, build_instance, env_name, requested_egress, resolve,
};
use connector_runtime::{InstanceCtx, Limits, Plugin, Runtime, RuntimeOptions, convert};
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
    /// accepted them. ([`load`] has already checked the digest.)
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

/// The process's one runtime, caching compiled components in `cache_dir`.
pub fn runtime(cache_dir: Option<&Path>) -> anyhow::Result<Arc<Runtime>> {
    let mut cache = cache_dir.map(Path::to_path_buf).or_else(default_cache_dir);
    // Private from the start: the runtime refuses a cache directory
    // others could write to, whatever the process umask.
    if let Some(dir) = &cache
        && std::os::unix::fs::DirBuilderExt::mode(std::fs::DirBuilder::new().recursive(true), 0o700)
            .create(dir)
            .is_err()
    {
        cache = None; // a cache is an optimisation, never a requirement
    }
    Runtime::new(RuntimeOptions { cache_dir: cache })
}

/// Loads the component at `path` (checked against `sha256` when given),
/// or the bundled one.
pub async fn load(
    runtime: &Runtime,
    path: Option<&Path>,
    sha256: Option<&str>,
) -> anyhow::Result<Arc<Plugin>> {
    match path {
        Some(path) => runtime
            .load_file(path, sha256)
            .await
            .map_err(|e| anyhow::anyhow!("loading component {}: {e}", path.display())),
        None => runtime
            .load(BUNDLED_PINGONE)
            .await
            .map_err(|e| anyhow::anyhow!("loading the bundled PingOne component: {e}")),
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

/// `capabilities`, in the shape Baton's command prints: protojson of
/// [`connector_metadata`]'s `ConnectorCapabilities` inside an Any, the
/// types sorted by id.
pub fn capabilities_json(
    meta: &ConnectorMetadata,
    targetable: &[String],
) -> anyhow::Result<String> {
    let capabilities = connector_metadata(meta, targetable).capabilities;
    let mut out = capabilities.unwrap_or_default().to_json();
    out["@type"] = json!("type.googleapis.com/c1.connector.v2.ConnectorCapabilities");
    // Lists are printed even when empty, and a description when given.
    let list = |v: &mut Value, key: &str| {
        if v.get(key).is_none() {
            v[key] = json!([]);
        }
    };
    list(&mut out, "connectorCapabilities");
    list(&mut out, "resourceTypeCapabilities");
    let types = out["resourceTypeCapabilities"]
        .as_array_mut()
        .context("resourceTypeCapabilities is a list")?;
    for (t, rt) in types.iter_mut().zip(&meta.resource_types) {
        list(t, "capabilities");
        list(&mut t["resourceType"], "traits");
        if let Some(d) = &rt.description {
            t["resourceType"]["description"] = json!(d);
        }
    }
    types.sort_by(|a, b| {
        a["resourceType"]["id"]
            .as_str()
            .cmp(&b["resourceType"]["id"].as_str())
    });
    Ok(serde_json::to_string_pretty(&out)?)
}

/// The connector's metadata as `c1.connector.v2.ConnectorMetadata`, with the
/// capabilities Baton's connector builder would compute. Each type in
/// `targetable` (a targeted sync reads its resources alone,
/// `Plugin::targetable_types`) claims `TARGETED_SYNC`, and the connector
/// claims it and `SERVICE_MODE_TARGETED_SYNC` when there is one; targeted
/// tasks naming other types are still served, by cutting a full sync.
pub fn connector_metadata(
    meta: &ConnectorMetadata,
    targetable: &[String],
) -> pb::ConnectorMetadata {
    let mut all = std::collections::BTreeSet::new();
    let resource_type_capabilities = meta
        .resource_types
        .iter()
        .map(|rt| {
            let mut caps: Vec<i32> = meta
                .capabilities
                .iter()
                .filter(|c| c.resource_type == rt.id)
                .flat_map(|c| c.capabilities.iter().map(capability))
                .collect();
            if targetable.contains(&rt.id) {
                caps.push(pb::Capability::TargetedSync as i32);
            }
            caps.sort();
            caps.dedup();
            all.extend(caps.iter().copied());
            pb::ResourceTypeCapability {
                resource_type: Some(convert::resource_type(rt)),
                capabilities: caps,
                ..Default::default()
            }
        })
        .collect();
    let options: Vec<i32> = meta
        .credential_options
        .iter()
        .map(|o| match o {
            CredentialOption::NoPassword => pb::CapabilityDetailCredentialOption::NoPassword as i32,
            CredentialOption::RandomPassword => {
                pb::CapabilityDetailCredentialOption::RandomPassword as i32
            }
        })
        .collect();
    if !targetable.is_empty() {
        all.insert(pb::Capability::ServiceModeTargetedSync as i32);
    }
    let credential_details = (all.contains(&(pb::Capability::AccountProvisioning as i32))
        && !options.is_empty())
    .then(|| pb::CredentialDetails {
        capability_account_provisioning: Some(pb::CredentialDetailsAccountProvisioning {
            preferred_credential_option: options[0],
            supported_credential_options: options.clone(),
        }),
        capability_credential_rotation: None,
    });
    let account_creation_schema = (!meta.account_creation_schema.is_empty()).then(|| {
        use pb::connector_account_creation_schema::{Field, field};
        pb::ConnectorAccountCreationSchema {
            field_map: meta
                .account_creation_schema
                .iter()
                .enumerate()
                .map(|(i, f)| {
                    let typed = match f.kind {
                        AccountFieldKind::Text => field::Field::StringField(Default::default()),
                        AccountFieldKind::Boolean => field::Field::BoolField(Default::default()),
                        AccountFieldKind::TextList => {
                            field::Field::StringListField(Default::default())
                        }
                    };
                    let field = Field {
                        display_name: f.display_name.clone(),
                        required: f.required,
                        description: f.description.clone(),
                        placeholder: f.placeholder.clone().unwrap_or_default(),
                        order: i as i32,
                        deprecated: false,
                        field: Some(typed),
                    };
                    (f.name.clone(), field)
                })
                .collect(),
        }
    });
    pb::ConnectorMetadata {
        display_name: meta.display_name.clone(),
        description: meta.description.clone(),
        capabilities: Some(pb::ConnectorCapabilities {
            resource_type_capabilities,
            connector_capabilities: all.into_iter().collect(),
            credential_details,
        }),
        account_creation_schema,
        ..Default::default()
    }
}

fn capability(c: &Capability) -> i32 {
    match c {
        Capability::Provision => pb::Capability::Provision as i32,
        Capability::Sync => pb::Capability::Sync as i32,
        Capability::AccountProvisioning => pb::Capability::AccountProvisioning as i32,
        Capability::ResourceDelete => pb::Capability::ResourceDelete as i32,
    }
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
    let origins = Some(origins.join(", ")).filter(|o| !o.is_empty());
    let mut lines = vec![format!("egress: {}", origins.as_deref().unwrap_or("none"))];
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
            let kind = match &f.kind {
                ConfigKind::Text => "string",
                ConfigKind::Boolean => "bool",
                ConfigKind::Integer => "int",
                ConfigKind::Url(_) => "url",
                ConfigKind::Choice(_) => "choice",
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
            match &f.kind {
                ConfigKind::Url(o) => v["url"] = json!({ "egress": o.egress }),
                ConfigKind::Choice(options) => {
                    let choices: Vec<Value> = options
                        .iter()
                        .map(|o| {
                            let implies: BTreeMap<_, _> = o.implies.iter().cloned().collect();
                            json!({ "value": o.value, "description": o.description, "implies": implies })
                        })
                        .collect();
                    v["choices"] = json!(choices);
                }
                _ => {}
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
                    AccountFieldKind::Text => "string",
                    AccountFieldKind::Boolean => "bool",
                    AccountFieldKind::TextList => "string-list",
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn targeted_sync_is_claimed_only_for_the_types_a_targeted_sync_reads_alone() {
        use connector_runtime::bindings::meta::ResourceTypeCapabilities;
        use connector_runtime::bindings::types::{ResourceTraitKind, ResourceType};
        let meta = ConnectorMetadata {
            display_name: "Test".into(),
            description: String::new(),
            version: "1".into(),
            resource_types: vec![ResourceType {
                id: "user".into(),
                display_name: "User".into(),
                description: None,
                traits: vec![ResourceTraitKind::User],
                skip_entitlements_and_grants: true,
            }],
            capabilities: vec![ResourceTypeCapabilities {
                resource_type: "user".into(),
                capabilities: vec![Capability::Sync],
            }],
            config_schema: vec![],
            credential: None,
            account_creation_schema: vec![],
            credential_options: vec![],
        };
        let targeted = [
            pb::Capability::TargetedSync as i32,
            pb::Capability::ServiceModeTargetedSync as i32,
        ];
        let caps = connector_metadata(&meta, &[]).capabilities.unwrap();
        assert_eq!(caps.connector_capabilities, [pb::Capability::Sync as i32]);
        assert_eq!(
            caps.resource_type_capabilities[0].capabilities,
            [pb::Capability::Sync as i32]
        );
        let caps = connector_metadata(&meta, &["user".to_string()])
            .capabilities
            .unwrap();
        assert_eq!(
            caps.connector_capabilities,
            [pb::Capability::Sync as i32, targeted[0], targeted[1]]
        );
        assert_eq!(
            caps.resource_type_capabilities[0].capabilities,
            [pb::Capability::Sync as i32, targeted[0]]
        );
    }
}
