//! Tenant definitions: the tenants file (TOML or YAML, one file or a
//! directory of them) and the single tenant given by `BATON_*` variables.
//!
//! Threat and decision: tenant files are written by people and templated by
//! tools, so any of them can be wrong. Each tenant is checked on its own and
//! an invalid one is rejected with an error that names the tenant and the
//! field, while the valid ones still run; one typo never takes down a host
//! serving fifty tenants. Secrets are never inline: a tenant names an
//! environment variable or a file (a mounted Kubernetes Secret), and the
//! value is read when the tenant is built, never logged or echoed.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::time::Duration;

use connector_runtime::config::ComponentTrust;
use serde::Deserialize;
use serde_json::Value;

/// Tenant ids become file names, metric labels and URL segments.
const MAX_ID_LEN: usize = 63;
/// Syncing more often than every 10 s is a mistake for any real API (and
/// PingOne's own rate limits); tests use the lower bound.
pub const MIN_SYNC_INTERVAL: Duration = Duration::from_secs(1);
/// The default interval: ConductorOne's default for connector syncs.
pub const DEFAULT_SYNC_INTERVAL: Duration = Duration::from_secs(3600);
/// The default interval of an incremental tenant: a change shows within a
/// quarter of an hour, at a small fraction of a full sync's requests.
pub const DEFAULT_INCREMENTAL_INTERVAL: Duration = Duration::from_secs(15 * 60);
/// An incremental tenant's default full-sync interval: what the change log
/// cannot show (see the connector's documentation) is caught within a day.
pub const DEFAULT_FULL_SYNC_INTERVAL: Duration = Duration::from_secs(24 * 3600);

/// Where a tenant's component comes from.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Deserialize)]
#[serde(untagged, deny_unknown_fields)]
pub enum ComponentSource {
    /// A component bundled into the host (`pingone`).
    Builtin { builtin: String },
    /// A component file and the sha256 it must have. With `accept_egress`,
    /// the operator accepts the origins its defaults ask for (`config`
    /// lists them); without it only the tenant's own values define egress.
    File {
        path: PathBuf,
        sha256: String,
        #[serde(default)]
        accept_egress: bool,
    },
}

impl ComponentSource {
    /// Whether the component's own egress defaults count.
    pub fn trust(&self) -> ComponentTrust {
        match self {
            ComponentSource::File {
                accept_egress: false,
                ..
            } => ComponentTrust::Untrusted,
            _ => ComponentTrust::Trusted,
        }
    }
}

/// Where a secret's value is read from.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Deserialize)]
#[serde(untagged, deny_unknown_fields)]
pub enum SecretRef {
    Env { env: String },
    File { file: PathBuf },
}

#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TenantLimits {
    pub memory_mb: Option<usize>,
    pub cpu_ms_per_call: Option<u64>,
    pub wall_seconds_per_call: Option<u64>,
    pub max_concurrent_requests: Option<usize>,
    pub requests_per_second: Option<f64>,
    pub sync_concurrency: Option<usize>,
    /// What one sync may spend; unset, the host's `--sync-*` flags hold.
    pub sync_max_calls: Option<u64>,
    pub sync_max_pages_per_task: Option<u64>,
    pub sync_max_queued_tasks: Option<u64>,
    pub sync_max_queue_mb: Option<u64>,
    /// Wall-clock time of one sync run (`"30m"`). Unset: the tenant's sync
    /// interval (at least 5 minutes), at most `--sync-deadline`.
    #[serde(default, with = "humantime_serde")]
    pub sync_deadline: Option<Duration>,
}

/// Where finished syncs go.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Deserialize)]
#[serde(untagged, deny_unknown_fields)]
pub enum UploadTarget {
    /// `<directory>/<tenant id>.c1z`, replaced atomically.
    Directory { directory: PathBuf },
    /// HTTP(S) PUT of the c1z to this URL (e.g. a presigned object URL).
    Url { url: String },
}

/// A tenant bound to its own ConductorOne connector: ConductorOne then
/// schedules its syncs and sends its provisioning tasks, in place of
/// `sync_interval`, and the host uploads results to ConductorOne.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConductorOneBinding {
    /// The connector's client id (`<name>@<tenant>.conductor.one/<suffix>`).
    pub client_id: String,
    pub client_secret: SecretRef,
    /// `host[:port]` instead of the client id's host (`BATON_C1_API_HOST`).
    pub api_host: Option<String>,
    /// Tasks run at once (1-100; Baton's default 3).
    pub task_concurrency: Option<usize>,
}

/// One tenant, as written in the file (before anything is loaded).
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TenantSpec {
    pub id: String,
    pub component: ComponentSource,
    #[serde(default)]
    pub config: BTreeMap<String, Value>,
    #[serde(default)]
    pub secrets: BTreeMap<String, SecretRef>,
    #[serde(default, with = "humantime_serde")]
    pub sync_interval: Option<Duration>,
    /// Scheduled syncs read the connector's change feed and re-read only
    /// what changed (every `sync_interval`, default 15m), with a full sync
    /// every `full_sync_interval` (default 24h).
    #[serde(default)]
    pub incremental: bool,
    #[serde(default, with = "humantime_serde")]
    pub full_sync_interval: Option<Duration>,
    #[serde(default)]
    pub limits: TenantLimits,
    pub upload: Option<UploadTarget>,
    /// Allow provisioning operations (admin API, ConductorOne tasks).
    #[serde(default)]
    pub provisioning: bool,
    pub conductorone: Option<ConductorOneBinding>,
}

impl TenantSpec {
    pub fn interval(&self) -> Duration {
        let default = if self.incremental {
            DEFAULT_INCREMENTAL_INTERVAL
        } else {
            DEFAULT_SYNC_INTERVAL
        };
        self.sync_interval.unwrap_or(default)
    }

    /// With `incremental`, the time between full syncs.
    pub fn full_interval(&self) -> Duration {
        self.full_sync_interval
            .unwrap_or(DEFAULT_FULL_SYNC_INTERVAL)
    }

    /// A digest of the definition, to tell whether a reload changed it.
    pub fn fingerprint(&self) -> String {
        use sha2::Digest;
        let text = format!("{self:?}");
        hex::encode(sha2::Sha256::digest(text.as_bytes()))
    }

    /// Config values as the connector's flags see them (all strings).
    pub fn config_strings(&self) -> BTreeMap<String, String> {
        let text = |v: &Value| v.as_str().map_or_else(|| v.to_string(), str::to_string);
        self.config
            .iter()
            .map(|(k, v)| (k.clone(), text(v)))
            .collect()
    }

    /// Reads each secret from its environment variable or file.
    pub fn read_secrets(&self) -> Result<BTreeMap<String, String>, String> {
        self.secrets
            .iter()
            .map(|(name, r)| Ok((name.clone(), read_secret(&format!("secrets.{name}"), r)?)))
            .collect()
    }
}

/// Reads a secret's value; `what` names it in errors (never the value).
pub fn read_secret(what: &str, r: &SecretRef) -> Result<String, String> {
    let value = match r {
        SecretRef::Env { env } => std::env::var(env)
            .map_err(|_| format!("{what}: environment variable {env} is not set"))?,
        SecretRef::File { file } => std::fs::read_to_string(file)
            .map_err(|e| format!("{what}: reading {}: {e}", file.display()))?
            .trim_end_matches(['\r', '\n'])
            .to_string(),
    };
    if value.is_empty() {
        return Err(format!("{what}: the value is empty"));
    }
    Ok(value)
}

/// A tenant that could not be accepted, and why.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Rejected {
    /// The tenant id if one could be read, else `<source>#<index>`.
    pub tenant: String,
    pub error: String,
}

impl std::fmt::Display for Rejected {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "tenant {}: {}", self.tenant, self.error)
    }
}

/// What a tenants file or directory holds.
#[derive(Debug, Default)]
pub struct Loaded {
    pub tenants: Vec<TenantSpec>,
    pub rejected: Vec<Rejected>,
}

/// Reads a tenants file, or every `*.toml`, `*.yaml` and `*.yml` file of a
/// directory (sorted by name). A file that cannot be read or parsed at all
/// is an error for the whole load: serving a partial set because a file
/// vanished mid-update would look like tenants were deleted.
pub fn load(path: &Path) -> Result<Loaded, String> {
    let meta = std::fs::metadata(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let mut files = Vec::new();
    if meta.is_dir() {
        let entries =
            std::fs::read_dir(path).map_err(|e| format!("reading {}: {e}", path.display()))?;
        for entry in entries {
            let entry = entry.map_err(|e| format!("reading {}: {e}", path.display()))?;
            let p = entry.path();
            let name = p.file_name().and_then(|n| n.to_str()).unwrap_or_default();
            let extension = p.extension().and_then(|e| e.to_str());
            // Kubernetes mounts ConfigMaps with `..data` symlinks: skip dot files.
            if !name.starts_with('.') && matches!(extension, Some("toml" | "yaml" | "yml")) {
                files.push(p);
            }
        }
        files.sort();
    } else {
        files.push(path.to_path_buf());
    }
    let mut out = Loaded::default();
    let mut seen = BTreeSet::new();
    for file in files {
        let text = std::fs::read_to_string(&file)
            .map_err(|e| format!("reading {}: {e}", file.display()))?;
        let entries = parse_document(&file, &text)?;
        for (i, entry) in entries.into_iter().enumerate() {
            let fallback = format!("{}#{}", file.display(), i + 1);
            match check(entry) {
                Ok(spec) if !seen.insert(spec.id.clone()) => out.rejected.push(Rejected {
                    tenant: spec.id.clone(),
                    error: format!("id: defined again in {}", file.display()),
                }),
                Ok(spec) => out.tenants.push(spec),
                Err((id, error)) => out.rejected.push(Rejected {
                    tenant: id.unwrap_or(fallback),
                    error,
                }),
            }
        }
    }
    Ok(out)
}

/// The tenant entries of one document: `[[tenant]]` tables in TOML, a
/// `tenants:` (or `tenant:`) list in YAML.
fn parse_document(file: &Path, text: &str) -> Result<Vec<Value>, String> {
    let is_yaml = matches!(
        file.extension().and_then(|e| e.to_str()),
        Some("yaml" | "yml")
    );
    let doc: Value = if is_yaml {
        serde_yaml::from_str(text)
            .map_err(|e| format!("{}: not valid YAML: {e}", file.display()))?
    } else {
        toml::from_str(text).map_err(|e| format!("{}: not valid TOML: {e}", file.display()))?
    };
    let Value::Object(mut top) = doc else {
        return Err(format!("{}: expected a table of tenants", file.display()));
    };
    let list = match (top.remove("tenant"), top.remove("tenants")) {
        (Some(v), None) | (None, Some(v)) => v,
        (None, None) => Value::Array(Vec::new()),
        (Some(_), Some(_)) => {
            return Err(format!(
                "{}: use either `tenant` or `tenants`, not both",
                file.display()
            ));
        }
    };
    if let Some(k) = top.keys().next() {
        return Err(format!(
            "{}: unknown top-level key `{k}` (expected `tenant`)",
            file.display()
        ));
    }
    match list {
        Value::Array(v) => Ok(v),
        _ => Err(format!("{}: `tenant` must be a list", file.display())),
    }
}

/// Deserialises and checks one entry; the error names the field.
fn check(entry: Value) -> Result<TenantSpec, (Option<String>, String)> {
    let id = entry.get("id").and_then(Value::as_str).map(str::to_string);
    let spec: TenantSpec = serde_path_to_error::deserialize(entry).map_err(|e| {
        let path = e.path().to_string();
        let field = if path == "." {
            String::new()
        } else {
            format!("{path}: ")
        };
        (id.clone(), format!("{field}{}", e.into_inner()))
    })?;
    let fail = |msg: String| (Some(spec.id.clone()), msg);
    check_id(&spec.id).map_err(|m| (None, m))?;
    match &spec.component {
        ComponentSource::Builtin { builtin } if builtin != "pingone" => {
            return Err(fail(format!(
                "component.builtin: unknown component `{builtin}` (bundled: pingone)"
            )));
        }
        ComponentSource::File { sha256, .. }
            if sha256.len() != 64 || !sha256.bytes().all(|b| b.is_ascii_hexdigit()) =>
        {
            return Err(fail("component.sha256: expected 64 hex digits".into()));
        }
        _ => {}
    }
    if let Some(i) = spec.sync_interval
        && i < MIN_SYNC_INTERVAL
    {
        return Err(fail(format!(
            "sync_interval: {} is below the minimum of {}",
            humantime::format_duration(i),
            humantime::format_duration(MIN_SYNC_INTERVAL)
        )));
    }
    if spec.full_sync_interval.is_some() && !spec.incremental {
        return Err(fail(
            "full_sync_interval: only an incremental tenant (incremental = true) has one".into(),
        ));
    }
    if spec.incremental && spec.full_interval() < spec.interval() {
        return Err(fail(format!(
            "full_sync_interval: {} is shorter than the sync interval {}",
            humantime::format_duration(spec.full_interval()),
            humantime::format_duration(spec.interval())
        )));
    }
    let l = &spec.limits;
    let ranges: [(&str, Option<u64>, u64, u64); 9] = [
        ("memory_mb", l.memory_mb.map(|v| v as u64), 8, 512),
        ("cpu_ms_per_call", l.cpu_ms_per_call, 10, 600_000),
        ("wall_seconds_per_call", l.wall_seconds_per_call, 1, 3_600),
        (
            "max_concurrent_requests",
            l.max_concurrent_requests.map(|v| v as u64),
            1,
            256,
        ),
        (
            "sync_concurrency",
            l.sync_concurrency.map(|v| v as u64),
            1,
            64,
        ),
        ("sync_max_calls", l.sync_max_calls, 1, u64::MAX),
        (
            "sync_max_pages_per_task",
            l.sync_max_pages_per_task,
            1,
            u64::MAX,
        ),
        (
            "sync_max_queued_tasks",
            l.sync_max_queued_tasks,
            1,
            u64::MAX,
        ),
        // 1 TiB: more would overflow the byte count.
        ("sync_max_queue_mb", l.sync_max_queue_mb, 1, 1 << 20),
    ];
    for (name, value, lo, hi) in ranges {
        if let Some(v) = value
            && !(lo..=hi).contains(&v)
        {
            return Err(fail(format!("limits.{name}: {v} is outside {lo}..={hi}")));
        }
    }
    if let Some(d) = l.sync_deadline
        && d < Duration::from_secs(1)
    {
        return Err(fail("limits.sync_deadline: must be at least 1s".into()));
    }
    if let Some(r) = l.requests_per_second
        && !(r.is_finite() && r > 0.0)
    {
        return Err(fail("limits.requests_per_second: must be above 0".into()));
    }
    for (k, v) in &spec.config {
        if matches!(v, Value::Object(_) | Value::Array(_) | Value::Null) {
            return Err(fail(format!(
                "config.{k}: expected a string, number or boolean"
            )));
        }
        if spec.secrets.contains_key(k) {
            return Err(fail(format!("config.{k}: also given under secrets")));
        }
    }
    if let Some(b) = &spec.conductorone {
        crate::conductorone::credentials::ClientId::parse(&b.client_id)
            .map_err(|e| fail(format!("conductorone.client_id: {e}")))?;
        if let Some(n) = b.task_concurrency
            && !(1..=100).contains(&n)
        {
            return Err(fail(format!(
                "conductorone.task_concurrency: {n} is outside 1..=100"
            )));
        }
    }
    match &spec.upload {
        Some(UploadTarget::Url { url }) => {
            let u = url::Url::parse(url).map_err(|e| fail(format!("upload.url: {e}")))?;
            if !matches!(u.scheme(), "http" | "https") {
                return Err(fail("upload.url: must be http or https".into()));
            }
        }
        Some(UploadTarget::Directory { directory }) if directory.as_os_str().is_empty() => {
            return Err(fail("upload.directory: empty path".into()));
        }
        _ => {}
    }
    Ok(spec)
}

fn check_id(id: &str) -> Result<(), String> {
    let ok = !id.is_empty()
        && id.len() <= MAX_ID_LEN
        && id
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_')
        && id.as_bytes()[0].is_ascii_alphanumeric();
    if ok {
        Ok(())
    } else {
        Err(format!(
            "id: `{id}` must be 1-{MAX_ID_LEN} lowercase letters, digits, `-` or `_`, starting with a letter or digit"
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
        let p = dir.join(name);
        std::fs::write(&p, text).unwrap();
        p
    }

    const GOOD: &str = r#"
[[tenant]]
id = "acme"
component = { builtin = "pingone" }
sync_interval = "30m"
[tenant.config]
pingone-client-id = "abc"
pingone-region = "EU"
[tenant.secrets]
pingone-client-secret = { env = "ACME_SECRET" }
[tenant.limits]
memory_mb = 64
requests_per_second = 50
[tenant.upload]
directory = "out/acme"
"#;

    #[test]
    fn a_valid_tenant_parses() {
        let dir = tempfile::tempdir().unwrap();
        let loaded = load(&write(dir.path(), "t.toml", GOOD)).unwrap();
        assert!(loaded.rejected.is_empty(), "{:?}", loaded.rejected);
        let t = &loaded.tenants[0];
        assert_eq!(t.id, "acme");
        assert_eq!(t.interval(), Duration::from_secs(1800));
        assert_eq!(t.config_strings()["pingone-region"], "EU");
        assert_eq!(
            t.upload,
            Some(UploadTarget::Directory {
                directory: "out/acme".into()
            })
        );
    }

    #[test]
    fn invalid_tenants_are_named_and_the_valid_ones_kept() {
        let dir = tempfile::tempdir().unwrap();
        let text = format!(
            r#"{GOOD}
[[tenant]]
id = "bad-limits"
component = {{ builtin = "pingone" }}
[tenant.limits]
memory_mb = "lots"

[[tenant]]
id = "bad-digest"
component = {{ path = "x.wasm", sha256 = "abc" }}

[[tenant]]
id = "Bad Id"
component = {{ builtin = "pingone" }}

[[tenant]]
id = "acme"
component = {{ builtin = "pingone" }}

[[tenant]]
id = "typo"
component = {{ builtin = "pingone" }}
sync_intervl = "1m"

[[tenant]]
id = "bad-url"
component = {{ builtin = "pingone" }}
upload = {{ url = "ftp://x" }}

[[tenant]]
id = "bad-c1"
component = {{ builtin = "pingone" }}
conductorone = {{ client_id = "no-at-sign", client_secret = {{ env = "X" }} }}

[[tenant]]
id = "inline-c1-secret"
component = {{ builtin = "pingone" }}
conductorone = {{ client_id = "c@t.example/x", client_secret = "secret-token:inline" }}
"#
        );
        let loaded = load(&write(dir.path(), "t.toml", &text)).unwrap();
        assert_eq!(loaded.tenants.len(), 1);
        let errors: Vec<String> = loaded.rejected.iter().map(|r| r.to_string()).collect();
        let has = |needle: &str| errors.iter().any(|e| e.contains(needle));
        assert!(has("tenant bad-limits: limits.memory_mb:"), "{errors:?}");
        assert!(has("tenant bad-digest: component.sha256"), "{errors:?}");
        assert!(has("id: `Bad Id`"), "{errors:?}");
        assert!(has("tenant acme: id: defined again"), "{errors:?}");
        assert!(has("tenant typo:") && has("sync_intervl"), "{errors:?}");
        assert!(has("tenant bad-url: upload.url"), "{errors:?}");
        assert!(
            has("tenant bad-c1: conductorone.client_id: invalid client id"),
            "{errors:?}"
        );
        assert!(
            has("tenant inline-c1-secret: conductorone.client_secret"),
            "{errors:?}"
        );
        assert!(
            !errors.iter().any(|e| e.contains("secret-token:inline")),
            "{errors:?}"
        );
    }

    #[test]
    fn sync_limits_parse_and_are_range_checked() {
        let dir = tempfile::tempdir().unwrap();
        let text = r#"
[[tenant]]
id = "bounded"
component = { builtin = "pingone" }
limits = { sync_deadline = "30m", sync_max_calls = 5000, sync_max_queue_mb = 64 }

[[tenant]]
id = "zero-calls"
component = { builtin = "pingone" }
limits = { sync_max_calls = 0 }

[[tenant]]
id = "instant"
component = { builtin = "pingone" }
limits = { sync_deadline = "10ms" }
"#;
        let loaded = load(&write(dir.path(), "t.toml", text)).unwrap();
        let l = &loaded.tenants[0].limits;
        assert_eq!(l.sync_deadline, Some(Duration::from_secs(1800)));
        assert_eq!(
            (l.sync_max_calls, l.sync_max_queue_mb),
            (Some(5000), Some(64))
        );
        let errors: Vec<String> = loaded.rejected.iter().map(|r| r.to_string()).collect();
        assert!(
            errors
                .iter()
                .any(|e| e.contains("zero-calls: limits.sync_max_calls: 0")),
            "{errors:?}"
        );
        assert!(
            errors
                .iter()
                .any(|e| e.contains("instant: limits.sync_deadline")),
            "{errors:?}"
        );
    }

    #[test]
    fn a_directory_of_toml_and_yaml_files_loads() {
        let dir = tempfile::tempdir().unwrap();
        write(dir.path(), "a.toml", GOOD);
        write(
            dir.path(),
            "b.yaml",
            "tenants:\n  - id: beta\n    component: { builtin: pingone }\n    sync_interval: 2h\n    secrets:\n      pingone-client-secret: { file: /run/beta }\n",
        );
        write(dir.path(), "..data", "ignored");
        write(dir.path(), "notes.txt", "ignored");
        let loaded = load(dir.path()).unwrap();
        let ids: Vec<&str> = loaded.tenants.iter().map(|t| t.id.as_str()).collect();
        assert_eq!(ids, ["acme", "beta"], "{:?}", loaded.rejected);
    }

    #[test]
    fn only_an_accepted_pinned_component_brings_its_own_egress() {
        let dir = tempfile::tempdir().unwrap();
        let digest = "a".repeat(64);
        let text = format!(
            r#"[[tenant]]
id = "pinned"
component = {{ path = "x.wasm", sha256 = "{digest}" }}

[[tenant]]
id = "accepted"
component = {{ path = "x.wasm", sha256 = "{digest}", accept_egress = true }}

[[tenant]]
id = "bundled"
component = {{ builtin = "pingone" }}
"#
        );
        let loaded = load(&write(dir.path(), "t.toml", &text)).unwrap();
        assert!(loaded.rejected.is_empty(), "{:?}", loaded.rejected);
        let trust: Vec<(&str, ComponentTrust)> = loaded
            .tenants
            .iter()
            .map(|t| (t.id.as_str(), t.component.trust()))
            .collect();
        assert_eq!(
            trust,
            [
                ("pinned", ComponentTrust::Untrusted),
                ("accepted", ComponentTrust::Trusted),
                ("bundled", ComponentTrust::Trusted),
            ]
        );
    }

    #[test]
    fn an_unparsable_file_fails_the_whole_load() {
        let dir = tempfile::tempdir().unwrap();
        let e = load(&write(dir.path(), "t.toml", "[[tenant]\n")).unwrap_err();
        assert!(e.contains("not valid TOML"), "{e}");
        let e = load(&write(dir.path(), "u.toml", "tenantz = []\n")).unwrap_err();
        assert!(e.contains("unknown top-level key `tenantz`"), "{e}");
    }

    #[test]
    fn secrets_come_from_files_and_never_inline() {
        let dir = tempfile::tempdir().unwrap();
        let secret = write(dir.path(), "s", "hunter2\n");
        let text = format!(
            "[[tenant]]\nid = \"a\"\ncomponent = {{ builtin = \"pingone\" }}\n[tenant.secrets]\npingone-client-secret = {{ file = {:?} }}\n",
            secret.display().to_string()
        );
        let loaded = load(&write(dir.path(), "t.toml", &text)).unwrap();
        let s = loaded.tenants[0].read_secrets().unwrap();
        assert_eq!(s["pingone-client-secret"], "hunter2");
        let inline = "[[tenant]]\nid = \"b\"\ncomponent = { builtin = \"pingone\" }\n[tenant.secrets]\npingone-client-secret = \"hunter2\"\n";
        let loaded = load(&write(dir.path(), "u.toml", inline)).unwrap();
        assert!(
            loaded.rejected[0]
                .error
                .starts_with("secrets.pingone-client-secret")
        );
        assert!(!loaded.rejected[0].error.contains("hunter2"));
    }

    #[test]
    fn an_incremental_tenant_has_its_two_intervals() {
        let dir = tempfile::tempdir().unwrap();
        let text = "[[tenant]]\nid = \"a\"\ncomponent = { builtin = \"pingone\" }\nincremental = true\n\
                    [[tenant]]\nid = \"b\"\ncomponent = { builtin = \"pingone\" }\nincremental = true\n\
                    sync_interval = \"5m\"\nfull_sync_interval = \"6h\"\n";
        let loaded = load(&write(dir.path(), "t.toml", text)).unwrap();
        assert!(loaded.rejected.is_empty(), "{:?}", loaded.rejected);
        let (a, b) = (&loaded.tenants[0], &loaded.tenants[1]);
        assert_eq!(a.interval(), DEFAULT_INCREMENTAL_INTERVAL);
        assert_eq!(a.full_interval(), DEFAULT_FULL_SYNC_INTERVAL);
        assert_eq!(b.interval(), Duration::from_secs(300));
        assert_eq!(b.full_interval(), Duration::from_secs(6 * 3600));

        let text = "[[tenant]]\nid = \"c\"\ncomponent = { builtin = \"pingone\" }\n\
                    full_sync_interval = \"6h\"\n\
                    [[tenant]]\nid = \"d\"\ncomponent = { builtin = \"pingone\" }\nincremental = true\n\
                    sync_interval = \"2h\"\nfull_sync_interval = \"1h\"\n";
        let loaded = load(&write(dir.path(), "u.toml", text)).unwrap();
        assert_eq!(loaded.rejected.len(), 2, "{:?}", loaded.rejected);
        assert!(
            loaded.rejected[0]
                .error
                .contains("only an incremental tenant")
        );
        assert!(
            loaded.rejected[1]
                .error
                .contains("shorter than the sync interval")
        );
    }
}
