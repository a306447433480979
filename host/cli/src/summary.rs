//! What an operator sees: a live status line on a terminal, and a readable
//! summary when the sync ends.

use std::io::{IsTerminal, Write};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use connector_runtime::InstanceCtx;
use connector_runtime::sync::SyncSummary;

/// Redraws one status line on stderr while a sync runs (terminals only).
pub struct Progress {
    task: Option<tokio::task::JoinHandle<()>>,
}

impl Progress {
    pub fn start(instance: &Arc<InstanceCtx>) -> Self {
        if !std::io::stderr().is_terminal() {
            return Self { task: None };
        }
        let instance = instance.clone();
        let task = tokio::spawn(async move {
            let started = std::time::Instant::now();
            loop {
                tokio::time::sleep(Duration::from_millis(250)).await;
                let calls = instance.metrics.calls.load(Ordering::Relaxed);
                let requests = instance
                    .http
                    .as_ref()
                    .map_or(0, |h| h.stats.requests.load(Ordering::Relaxed));
                let mut err = std::io::stderr().lock();
                let _ = write!(
                    err,
                    "\r\x1b[2Ksyncing: {calls} connector calls, {requests} API requests, {:.0}s",
                    started.elapsed().as_secs_f64()
                );
                let _ = err.flush();
            }
        });
        Self { task: Some(task) }
    }

    pub fn stop(self) {
        if let Some(t) = self.task {
            t.abort();
            let mut err = std::io::stderr().lock();
            let _ = write!(err, "\r\x1b[2K");
            let _ = err.flush();
        }
    }
}

fn thousands(n: u64) -> String {
    let s = n.to_string();
    let mut out = String::new();
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

pub fn render(connector: &str, s: &SyncSummary) -> String {
    let mut out = String::new();
    let verb = if s.resumed {
        "Resumed and finished"
    } else {
        "Synced"
    };
    out.push_str(&format!(
        "{verb} {connector} into {} in {} (sync {}, {} KiB)\n",
        s.file.display(),
        readable_duration(s.seconds),
        s.sync_id,
        s.c1z_bytes.div_ceil(1024)
    ));
    let cell = |label: &str, value: String| format!("  {label:<22}{value:>12}\n");
    let row = |label: &str, n: u64| cell(label, thousands(n));
    out.push_str(&row("resource types", s.resource_types));
    for (t, n) in &s.resources {
        out.push_str(&row(&format!("resources: {t}"), *n));
    }
    out.push_str(&row("entitlements", s.entitlements));
    out.push_str(&row("grants", s.grants));
    out.push_str(&row("API requests", s.requests));
    out.push_str(&row("  retried", s.retries));
    out.push_str(&row("  throttled (429)", s.throttled));
    out.push_str(&row("token exchanges", s.token_exchanges));
    out.push_str(&row("connector calls", s.calls));
    out.push_str(&row("  instances", s.instances));
    let cpu = readable_duration(s.connector_cpu_seconds);
    out.push_str(&cell("connector CPU", cpu));
    out.push_str(&row(
        "connector memory KiB",
        s.connector_memory_peak.div_ceil(1024),
    ));
    if let Some(kib) = peak_rss_kib() {
        out.push_str(&row("host peak memory KiB", kib));
    }
    for w in &s.warnings {
        out.push_str(&format!("  warning: {w}\n"));
    }
    out
}

/// A duration as a person reads it: `420 ms`, `1.2 s`, `3 min 05 s`,
/// `2 h 07 min`; never `0.0s` for a short sync.
pub fn readable_duration(seconds: f64) -> String {
    let seconds = seconds.max(0.0);
    if seconds < 1.0 {
        return format!("{} ms", (seconds * 1000.0).round() as u64);
    }
    if seconds < 60.0 {
        return format!("{:.1} s", (seconds * 10.0).floor() / 10.0);
    }
    let whole = seconds as u64;
    if whole < 3600 {
        return format!("{} min {:02} s", whole / 60, whole % 60);
    }
    format!("{} h {:02} min", whole / 3600, whole % 3600 / 60)
}

/// The process's peak resident set, KiB: `VmHWM`, which starts afresh at
/// `exec`. `ru_maxrss` does not: Linux carries the parent's high-water mark
/// across fork and exec, so a host started by a big process (a benchmark
/// holding a 100k-user simulator) reported the parent's size.
fn peak_rss_kib() -> Option<u64> {
    if let Some(kib) = std::fs::read_to_string("/proc/self/status")
        .ok()
        .as_deref()
        .and_then(vm_hwm_kib)
    {
        return Some(kib);
    }
    // SAFETY: getrusage only writes the struct it is given.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    let rc = unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut usage) };
    (rc == 0).then_some(usage.ru_maxrss as u64)
}

/// `VmHWM:   123456 kB` from `/proc/<pid>/status`.
fn vm_hwm_kib(status: &str) -> Option<u64> {
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))?
        .trim()
        .strip_suffix("kB")?
        .trim()
        .parse()
        .ok()
}

/// The line an incremental run prints before its summary: what ran and,
/// for a full sync in its place, why.
pub fn render_mode(s: &connector_runtime::incremental::IncrementalSummary) -> String {
    use connector_runtime::incremental::SyncMode;
    match (s.mode, &s.fallback) {
        (SyncMode::Incremental, _) => format!(
            "incremental sync: {} change pages, {} records applied ({} already), {} resources \
             and {} principals re-read\n",
            s.change_pages,
            s.change_records,
            s.skipped_records,
            s.resources_reread,
            s.principals_reread
        ),
        (SyncMode::Resumed, _) => "an interrupted sync was finished\n".to_string(),
        (SyncMode::Full, Some(why)) => format!("full sync instead of an incremental one: {why}\n"),
        (SyncMode::Full, None) => "full sync\n".to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn peak_memory_is_read_from_vm_hwm() {
        let status =
            "Name:\tconnector-host\nVmPeak:\t  900000 kB\nVmHWM:\t  148172 kB\nVmRSS:\t  1 kB\n";
        assert_eq!(vm_hwm_kib(status), Some(148_172));
        assert_eq!(vm_hwm_kib("VmRSS:\t1 kB\n"), None);
        assert_eq!(vm_hwm_kib("VmHWM:\tlots\n"), None);
        #[cfg(target_os = "linux")]
        assert!(peak_rss_kib().is_some_and(|k| k > 0));
    }

    #[test]
    fn summary_is_readable() {
        let s = SyncSummary {
            sync_id: "2abc".into(),
            file: "sync.c1z".into(),
            resumed: false,
            resource_types: 4,
            resources: vec![("user".into(), 12345)],
            entitlements: 10,
            grants: 1_000_000,
            calls: 7,
            instances: 2,
            requests: 99,
            retries: 1,
            throttled: 0,
            token_exchanges: 1,
            warnings: vec![],
            seconds: 1.25,
            connector_cpu_seconds: 0.5,
            connector_memory_peak: 3 << 20,
            c1z_bytes: 2048,
        };
        let text = render("PingOne", &s);
        assert!(
            text.starts_with("Synced PingOne into sync.c1z in 1.2 s"),
            "{text}"
        );
        assert!(
            text.lines()
                .any(|l| l.trim().starts_with("resources: user") && l.ends_with(" 12,345")),
            "{text}"
        );
        assert!(text.contains("1,000,000"), "{text}");
        assert!(
            text.contains("connector CPU") && text.contains("500 ms"),
            "{text}"
        );
        assert!(text.contains("3,072"), "{text}");
    }

    #[test]
    fn durations_read_naturally_at_every_scale() {
        let cases = [
            (0.0, "0 ms"),
            (0.0004, "0 ms"),
            (0.042, "42 ms"),
            (0.9996, "1000 ms"),
            (1.0, "1.0 s"),
            (1.25, "1.2 s"),
            (59.99, "59.9 s"),
            (60.0, "1 min 00 s"),
            (185.7, "3 min 05 s"),
            (3600.0, "1 h 00 min"),
            (7620.0, "2 h 07 min"),
        ];
        for (seconds, shown) in cases {
            assert_eq!(readable_duration(seconds), shown, "{seconds}");
        }
    }
}
