//! Logs on stderr, as Baton does: `console` on a terminal, `json` otherwise.

use std::io::IsTerminal;

use tracing_subscriber::EnvFilter;

pub fn init(level: &str, format: Option<&str>) -> anyhow::Result<()> {
    let level = level.to_ascii_lowercase();
    if !matches!(
        level.as_str(),
        "error" | "warn" | "info" | "debug" | "trace"
    ) {
        anyhow::bail!(
            "--log-level (BATON_LOG_LEVEL) must be one of error, warn, info, debug, trace; got {level:?}"
        );
    }
    // Our crates at the chosen level; dependencies one notch quieter.
    let filter = EnvFilter::new(format!(
        "warn,connector_host={level},connector_runtime={level},c1z={level},connector={level}"
    ));
    let json = match format.map(str::to_ascii_lowercase).as_deref() {
        Some("json") => true,
        Some("console") => false,
        None => !std::io::stderr().is_terminal(),
        Some(other) => {
            anyhow::bail!("--log-format (BATON_LOG_FORMAT) must be json or console; got {other:?}")
        }
    };
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    let result = if json {
        builder.json().try_init()
    } else {
        builder.with_target(false).try_init()
    };
    result.map_err(|e| anyhow::anyhow!("setting up logging: {e}"))
}
