//! What the host tells ConductorOne about itself in `Hello`: the connector's
//! metadata with its capabilities (the same facts `capabilities` prints),
//! the build, and the machine.
//!
//! Decision: every `BuildInfo` and `OsInfo` field is sent non-empty, with
//! the same fallbacks as Baton's SDK (`unknown`, `none`, the OS name), as
//! ConductorOne rejects empty values.

use baton_api::v1::{BuildInfo, HelloRequest, OsInfo};
use connector_runtime::bindings::meta::ConnectorMetadata;

use crate::component::connector_metadata;

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
    read_trimmed("/proc/sys/kernel/hostname")
}

/// A file's text without surrounding white space, unless there is none.
fn read_trimmed(path: &str) -> Option<String> {
    std::fs::read_to_string(path)
        .ok()
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
}

pub fn os_info() -> OsInfo {
    let release = std::fs::read_to_string("/etc/os-release").unwrap_or_default();
    let field = |key: &str| {
        release
            .lines()
            .find_map(|l| l.strip_prefix(&format!("{key}=")))
            .map(|v| v.trim_matches('"').to_string())
            .filter(|v| !v.is_empty())
    };
    let os = std::env::consts::OS.to_string();
    let kernel_version =
        read_trimmed("/proc/sys/kernel/osrelease").unwrap_or_else(|| "unknown".into());
    let platform = field("ID").unwrap_or_else(|| os.clone());
    let family = field("ID_LIKE").and_then(|f| f.split_whitespace().next().map(String::from));
    OsInfo {
        hostname: hostname().unwrap_or_else(|| "unknown".into()),
        platform_family: family.unwrap_or_else(|| platform.clone()),
        platform_version: field("VERSION_ID").unwrap_or_else(|| kernel_version.clone()),
        platform,
        os,
        kernel_version,
        kernel_arch: std::env::consts::ARCH.into(),
        virtualization_system: virtualization(),
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
}
