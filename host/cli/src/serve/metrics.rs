//! Prometheus exposition of per-tenant metrics.
//!
//! Decision: metrics are rendered at scrape time from the counters the
//! runtime already keeps per instance (folded across hot swaps so they stay
//! monotonic), rather than mirrored into a second registry that could drift.
//! Labels carry only the tenant id (validated to `[a-z0-9_-]`, so no
//! escaping is needed and no secret can reach a label).

use std::fmt::Write;
use std::sync::atomic::Ordering;

use crate::serve::service::Service;

struct Family<'a> {
    out: &'a mut String,
}

impl Family<'_> {
    fn header(&mut self, name: &str, kind: &str, help: &str) {
        let _ = writeln!(self.out, "# HELP {name} {help}");
        let _ = writeln!(self.out, "# TYPE {name} {kind}");
    }

    fn sample(&mut self, name: &str, labels: &[(&str, &str)], value: f64) {
        let _ = write!(self.out, "{name}");
        if !labels.is_empty() {
            let parts: Vec<String> = labels
                .iter()
                .map(|(k, v)| format!("{k}=\"{}\"", escape(v)))
                .collect();
            let _ = write!(self.out, "{{{}}}", parts.join(","));
        }
        let _ = writeln!(self.out, " {value}");
    }
}

/// Label values per the exposition format (tenant ids never need it, but a
/// future label might).
fn escape(v: &str) -> String {
    v.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

pub fn render(service: &Service) -> String {
    let mut out = String::new();
    let tenants = service.tenants();
    let mut f = Family { out: &mut out };

    f.header(
        "connector_tenants",
        "gauge",
        "Tenants by state: active, or rejected by the last load.",
    );
    f.sample(
        "connector_tenants",
        &[("state", "active")],
        tenants.len() as f64,
    );
    let rejected = service.rejected.lock().map(|r| r.len()).unwrap_or_default();
    f.sample(
        "connector_tenants",
        &[("state", "rejected")],
        rejected as f64,
    );
    f.header("connector_syncs_running", "gauge", "Syncs running now.");
    f.sample(
        "connector_syncs_running",
        &[],
        service.running_syncs() as f64,
    );

    struct Row {
        id: String,
        ok: u64,
        failed: u64,
        interrupted: u64,
        seconds: f64,
        requests: u64,
        throttled: u64,
        retries: u64,
        cpu: f64,
        memory: u64,
        traps: u64,
        calls: u64,
        swaps_applied: u64,
        swaps_refused: u64,
    }
    let rows: Vec<Row> = tenants
        .iter()
        .map(|t| {
            let c = &t.counters;
            let (totals, memory) = t.totals();
            Row {
                id: t.id.clone(),
                ok: c.syncs_ok.load(Ordering::Relaxed),
                failed: c.syncs_failed.load(Ordering::Relaxed),
                interrupted: c.syncs_interrupted.load(Ordering::Relaxed),
                seconds: c.sync_micros_sum.load(Ordering::Relaxed) as f64 / 1e6,
                requests: totals.requests,
                throttled: totals.throttled,
                retries: totals.retries,
                cpu: totals.cpu_micros as f64 / 1e6,
                memory,
                traps: totals.traps,
                calls: totals.calls,
                swaps_applied: c.swaps_applied.load(Ordering::Relaxed),
                swaps_refused: c.swaps_refused.load(Ordering::Relaxed),
            }
        })
        .collect();

    f.header(
        "connector_syncs_total",
        "counter",
        "Syncs finished, by result.",
    );
    for r in &rows {
        for (result, n) in [
            ("success", r.ok),
            ("failure", r.failed),
            ("interrupted", r.interrupted),
        ] {
            f.sample(
                "connector_syncs_total",
                &[("tenant", &r.id), ("result", result)],
                n as f64,
            );
        }
    }
    f.header(
        "connector_sync_duration_seconds",
        "summary",
        "Wall time of syncs (validate, sync and upload).",
    );
    for r in &rows {
        let n = (r.ok + r.failed + r.interrupted) as f64;
        f.sample(
            "connector_sync_duration_seconds_sum",
            &[("tenant", &r.id)],
            r.seconds,
        );
        f.sample(
            "connector_sync_duration_seconds_count",
            &[("tenant", &r.id)],
            n,
        );
    }
    type Counter = (&'static str, &'static str, fn(&Row) -> f64);
    let counters: [Counter; 6] = [
        (
            "connector_api_requests_total",
            "HTTP requests sent to the tenant's API (retries included).",
            |r| r.requests as f64,
        ),
        (
            "connector_api_throttled_total",
            "429 answers from the tenant's API.",
            |r| r.throttled as f64,
        ),
        (
            "connector_api_retries_total",
            "Requests retried after 429, 5xx, 401 or a broken connection.",
            |r| r.retries as f64,
        ),
        (
            "connector_guest_cpu_seconds_total",
            "CPU time of the tenant's component calls.",
            |r| r.cpu,
        ),
        (
            "connector_guest_traps_total",
            "Component calls that trapped (crash, CPU or memory limit).",
            |r| r.traps as f64,
        ),
        ("connector_guest_calls_total", "Component calls.", |r| {
            r.calls as f64
        }),
    ];
    for (name, help, get) in counters {
        f.header(name, "counter", help);
        for r in &rows {
            f.sample(name, &[("tenant", &r.id)], get(r));
        }
    }
    f.header(
        "connector_guest_memory_high_water_bytes",
        "gauge",
        "Largest linear memory a call of the tenant's component reached.",
    );
    for r in &rows {
        f.sample(
            "connector_guest_memory_high_water_bytes",
            &[("tenant", &r.id)],
            r.memory as f64,
        );
    }
    f.header(
        "connector_component_swaps_total",
        "counter",
        "Component or config updates, by result.",
    );
    for r in &rows {
        f.sample(
            "connector_component_swaps_total",
            &[("tenant", &r.id), ("result", "applied")],
            r.swaps_applied as f64,
        );
        f.sample(
            "connector_component_swaps_total",
            &[("tenant", &r.id), ("result", "refused")],
            r.swaps_refused as f64,
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn samples_follow_the_exposition_format() {
        let mut out = String::new();
        let mut f = Family { out: &mut out };
        f.header("x_total", "counter", "An x.");
        f.sample("x_total", &[("tenant", "a"), ("result", "q\"\n")], 3.0);
        f.sample("x_total", &[], 0.5);
        assert_eq!(
            out,
            "# HELP x_total An x.\n# TYPE x_total counter\nx_total{tenant=\"a\",result=\"q\\\"\\n\"} 3\nx_total 0.5\n"
        );
    }
}
