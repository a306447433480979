//! What the host tells ConductorOne about itself in `Hello`: the connector's
//! metadata with its capabilities (the same facts `capabilities` prints),
//! the build, and the machine.
//!
//! Decision: every `BuildInfo` and `OsInfo` field is sent non-empty, with
//! the same fallbacks as Baton's SDK (`unknown`, `none`, the OS name), as
//! ConductorOne rejects empty values.

use c1z::pb;
use connector_runtime::bindings::meta::{
    AccountFieldKind, Capability, ConnectorMetadata, CredentialOption,
};
use connector_runtime::convert;

use baton_api::v1::{BuildInfo, HelloRequest, OsInfo};

/// `Hello` for the startup greeting (`task_id` empty) or a hello task;
/// `targetable` as in [`connector_metadata`].
pub fn request(
    host_id: &str,
    task_id: &str,
    meta: &ConnectorMetadata,
    targetable: &[String],
) -> HelloRequest {
    HelloRequest {
        host_id: host_id.to_string(),
        task_id: task_id.to_string(),
        build_info: Some(build_info()),
        os_info: Some(os_info()),
        connector_metadata: Some(connector_metadata(meta, targetable)),
        annotations: vec![],
    }
}

pub fn build_info() -> BuildInfo {
    BuildInfo {
        lang_version: option_env!("CONNECTOR_HOST_RUSTC")
            .filter(|v| !v.is_empty())
            .unwrap_or("rust")
            .to_string(),
        package: "connector-host".into(),
        package_version: env!("CARGO_PKG_VERSION").into(),
    }
}

/// The host's name: `BATON_HOST_ID`, else the OS host name, else Baton's
/// own fallback.
pub fn host_id() -> String {
    std::env::var("BATON_HOST_ID")
        .ok()
        .map(|v| v.trim().to_string())
        .filter(|v| !v.is_empty())
        .or_else(hostname)
        .unwrap_or_else(|| "baton-sdk".into())
}

fn hostname() -> Option<String> {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
}

pub fn os_info() -> OsInfo {
    let release = std::fs::read_to_string("/etc/os-release").unwrap_or_default();
    let field = |key: &str| -> String {
        release
            .lines()
            .find_map(|l| l.strip_prefix(&format!("{key}=")))
            .map(|v| v.trim_matches('"').to_string())
            .unwrap_or_default()
    };
    let os = std::env::consts::OS.to_string();
    let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease")
        .map(|s| s.trim().to_string())
        .unwrap_or_default();
    let kernel_version = or(kernel, "unknown");
    let platform = or(field("ID"), &os);
    let family = field("ID_LIKE")
        .split_whitespace()
        .next()
        .unwrap_or("")
        .to_string();
    OsInfo {
        hostname: hostname().unwrap_or_else(|| "unknown".into()),
        platform_family: or(family, &platform),
        platform_version: or(field("VERSION_ID"), &kernel_version),
        platform,
        os,
        kernel_version,
        kernel_arch: std::env::consts::ARCH.into(),
        virtualization_system: virtualization(),
    }
}

fn or(value: String, fallback: &str) -> String {
    if value.is_empty() {
        fallback.to_string()
    } else {
        value
    }
}

/// `kubernetes` or `docker` when we can tell, else `none`.
fn virtualization() -> String {
    if std::env::var_os("KUBERNETES_SERVICE_HOST").is_some() {
        return "kubernetes".into();
    }
    if std::path::Path::new("/.dockerenv").exists() {
        return "docker".into();
    }
    "none".into()
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_os_and_build_field_is_filled() {
        let os = os_info();
        for (name, v) in [
            ("hostname", &os.hostname),
            ("os", &os.os),
            ("platform", &os.platform),
            ("platform_version", &os.platform_version),
            ("platform_family", &os.platform_family),
            ("kernel_version", &os.kernel_version),
            ("kernel_arch", &os.kernel_arch),
            ("virtualization_system", &os.virtualization_system),
        ] {
            assert!(!v.is_empty(), "{name} is empty");
        }
        let b = build_info();
        assert!(
            !b.lang_version.is_empty() && !b.package.is_empty() && !b.package_version.is_empty()
        );
    }

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
