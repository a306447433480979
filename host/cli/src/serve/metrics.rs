//! Prometheus exposition of per-tenant metrics.
//!
//! Decision: metrics are rendered at scrape time from the counters the
//! runtime already keeps per instance (folded across hot swaps so they stay
//! monotonic), rather than mirrored into a second registry that could drift.
//! Labels carry only the tenant id (validated to `[a-z0-9_-]`, so no
//! escaping is needed and no secret can reach a label).

use std::fmt::Write;
use std::sync::atomic::{AtomicU64, Ordering};

use crate::serve::service::{RetiredTotals, Service};

fn header(out: &mut String, name: &str, kind: &str, help: &str) {
    let _ = writeln!(out, "# HELP {name} {help}");
    let _ = writeln!(out, "# TYPE {name} {kind}");
}

fn sample(out: &mut String, name: &str, labels: &[(&str, &str)], value: f64) {
    let _ = write!(out, "{name}");
    if !labels.is_empty() {
        let parts: Vec<String> = labels
            .iter()
            .map(|(k, v)| format!("{k}=\"{}\"", escape(v)))
            .collect();
        let _ = write!(out, "{{{}}}", parts.join(","));
    }
    let _ = writeln!(out, " {value}");
}

/// Label values per the exposition format (tenant ids never need it, but a
/// future label might).
fn escape(v: &str) -> String {
    v.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

/// The families with one sample per tenant, from its instances' totals and
/// memory high-water mark.
type PerTenant = (
    &'static str,
    &'static str,
    &'static str,
    fn(&RetiredTotals, u64) -> f64,
);
const PER_TENANT: [PerTenant; 7] = [
    (
        "connector_api_requests_total",
        "counter",
        "HTTP requests sent to the tenant's API (retries included).",
        |t, _| t.requests as f64,
    ),
    (
        "connector_api_throttled_total",
        "counter",
        "429 answers from the tenant's API.",
        |t, _| t.throttled as f64,
    ),
    (
        "connector_api_retries_total",
        "counter",
        "Requests retried after 429, 5xx, 401 or a broken connection.",
        |t, _| t.retries as f64,
    ),
    (
        "connector_guest_cpu_seconds_total",
        "counter",
        "CPU time of the tenant's component calls.",
        |t, _| t.cpu_micros as f64 / 1e6,
    ),
    (
        "connector_guest_traps_total",
        "counter",
        "Component calls that trapped (crash, CPU or memory limit).",
        |t, _| t.traps as f64,
    ),
    (
        "connector_guest_calls_total",
        "counter",
        "Component calls.",
        |t, _| t.calls as f64,
    ),
    (
        "connector_guest_memory_high_water_bytes",
        "gauge",
        "Largest linear memory a call of the tenant's component reached.",
        |_, memory| memory as f64,
    ),
];

pub fn render(service: &Service) -> String {
    let mut out = String::new();
    let o = &mut out;
    let tenants = service.tenants();
    let load = |n: &AtomicU64| n.load(Ordering::Relaxed) as f64;

    header(
        o,
        "connector_tenants",
        "gauge",
        "Tenants by state: active, or rejected by the last load.",
    );
    let rejected = service.rejected.lock().map(|r| r.len()).unwrap_or_default();
    for (state, n) in [("active", tenants.len()), ("rejected", rejected)] {
        sample(o, "connector_tenants", &[("state", state)], n as f64);
    }
    header(o, "connector_syncs_running", "gauge", "Syncs running now.");
    let running = service.running_syncs() as f64;
    sample(o, "connector_syncs_running", &[], running);

    header(
        o,
        "connector_syncs_total",
        "counter",
        "Syncs finished, by result.",
    );
    for t in &tenants {
        let c = &t.counters;
        for (result, n) in [
            ("success", &c.syncs_ok),
            ("failure", &c.syncs_failed),
            ("interrupted", &c.syncs_interrupted),
        ] {
            let labels = [("tenant", t.id.as_str()), ("result", result)];
            sample(o, "connector_syncs_total", &labels, load(n));
        }
    }
    header(
        o,
        "connector_sync_duration_seconds",
        "summary",
        "Wall time of syncs (validate, sync and upload).",
    );
    for t in &tenants {
        let c = &t.counters;
        let labels = [("tenant", t.id.as_str())];
        let seconds = load(&c.sync_micros_sum) / 1e6;
        let count = load(&c.syncs_ok) + load(&c.syncs_failed) + load(&c.syncs_interrupted);
        sample(o, "connector_sync_duration_seconds_sum", &labels, seconds);
        sample(o, "connector_sync_duration_seconds_count", &labels, count);
    }
    let totals: Vec<_> = tenants.iter().map(|t| t.totals()).collect();
    for (name, kind, help, value) in PER_TENANT {
        header(o, name, kind, help);
        for (t, (totals, memory)) in tenants.iter().zip(&totals) {
            sample(o, name, &[("tenant", &t.id)], value(totals, *memory));
        }
    }
    header(
        o,
        "connector_component_swaps_total",
        "counter",
        "Component or config updates, by result.",
    );
    for t in &tenants {
        let c = &t.counters;
        for (result, n) in [("applied", &c.swaps_applied), ("refused", &c.swaps_refused)] {
            let labels = [("tenant", t.id.as_str()), ("result", result)];
            sample(o, "connector_component_swaps_total", &labels, load(n));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn samples_follow_the_exposition_format() {
        let mut out = String::new();
        header(&mut out, "x_total", "counter", "An x.");
        sample(
            &mut out,
            "x_total",
            &[("tenant", "a"), ("result", "q\"\n")],
            3.0,
        );
        sample(&mut out, "x_total", &[], 0.5);
        assert_eq!(
            out,
            "# HELP x_total An x.\n# TYPE x_total counter\nx_total{tenant=\"a\",result=\"q\\\"\\n\"} 3\nx_total 0.5\n"
        );
    }
}
