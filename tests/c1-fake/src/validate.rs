//! Request field rules of `baton.proto` (its protoc-gen-validate
//! annotations), which the real server presumably enforces and the Go
//! client does not: host IDs, task IDs, annotation counts, and the Hello
//! facts the SDK promises to send non-empty.
//!
//! Decision: pure functions returning a human-readable problem, so the
//! state machine decides what a broken rule costs (a rejection with
//! INVALID_ARGUMENT, or only a recorded violation).

use baton_api::v1::HelloRequest;
use prost_types::Any;

/// Largest annotation list any BatonService message allows.
pub const MAX_ANNOTATIONS: usize = 16;
/// Length of a task ID (a KSUID).
pub const TASK_ID_LEN: usize = 27;
/// Longest host ID and Hello string.
pub const MAX_STRING: usize = 256;

/// `host_id`: 1 to 256 characters.
pub fn host_id(value: &str) -> Result<(), String> {
    let n = value.chars().count();
    if n == 0 || n > MAX_STRING {
        return Err(format!("host_id has {n} characters, not 1-{MAX_STRING}"));
    }
    Ok(())
}

/// `task_id`: exactly 27 ASCII alphanumerics.
pub fn task_id(value: &str) -> Result<(), String> {
    if value.len() != TASK_ID_LEN || !value.bytes().all(|b| b.is_ascii_alphanumeric()) {
        return Err(format!(
            "task_id {value:?} is not {TASK_ID_LEN} ASCII alphanumerics"
        ));
    }
    Ok(())
}

/// Annotation lists: at most 16 entries.
pub fn annotations(field: &str, list: &[Any]) -> Result<(), String> {
    if list.len() > MAX_ANNOTATIONS {
        return Err(format!(
            "{field} has {} annotations, more than {MAX_ANNOTATIONS}",
            list.len()
        ));
    }
    Ok(())
}

/// Every `build_info` and `os_info` string must be present, non-empty and at
/// most 256 characters (the SDK replaces empty values because C1 rejects
/// them). Returns one problem per broken field.
pub fn hello_facts(req: &HelloRequest) -> Vec<String> {
    let mut problems = Vec::new();
    let mut fields: Vec<(&str, &str)> = Vec::new();
    match &req.build_info {
        Some(b) => fields.extend([
            ("build_info.lang_version", b.lang_version.as_str()),
            ("build_info.package", &b.package),
            ("build_info.package_version", &b.package_version),
        ]),
        None => problems.push("build_info is missing".to_string()),
    }
    match &req.os_info {
        Some(o) => fields.extend([
            ("os_info.hostname", o.hostname.as_str()),
            ("os_info.os", &o.os),
            ("os_info.platform", &o.platform),
            ("os_info.platform_version", &o.platform_version),
            ("os_info.platform_family", &o.platform_family),
            ("os_info.kernel_version", &o.kernel_version),
            ("os_info.kernel_arch", &o.kernel_arch),
            ("os_info.virtualization_system", &o.virtualization_system),
        ]),
        None => problems.push("os_info is missing".to_string()),
    }
    for (field, value) in fields {
        let n = value.chars().count();
        if n == 0 {
            problems.push(format!("{field} is empty"));
        } else if n > MAX_STRING {
            problems.push(format!(
                "{field} has {n} characters, more than {MAX_STRING}"
            ));
        }
    }
    problems
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids() {
        assert!(host_id("h").is_ok());
        assert!(host_id("").is_err());
        assert!(host_id(&"x".repeat(256)).is_ok());
        assert!(host_id(&"x".repeat(257)).is_err());
        assert!(task_id("2xZ9aBcDeFgHiJkLmNoPqRsTuVw").is_ok());
        assert!(task_id("2xZ9aBcDeFgHiJkLmNoPqRsTuV").is_err());
        assert!(task_id("2xZ9aBcDeFgHiJkLmNoPqRsTuV-").is_err());
        assert!(annotations("a", &vec![Any::default(); 16]).is_ok());
        assert!(annotations("a", &vec![Any::default(); 17]).is_err());
    }

    #[test]
    fn hello_facts_name_each_empty_field() {
        let mut req = HelloRequest::default();
        assert_eq!(hello_facts(&req).len(), 2);
        req.build_info = Some(Default::default());
        req.os_info = Some(Default::default());
        assert_eq!(hello_facts(&req).len(), 11);
    }
}
