//! Builds the wasm components the tests load, once per test run.
//!
//! Decisions:
//! - Components are built with cargo for `wasm32-wasip2` in release, in
//!   their own target directory (`target/wasm-components`), so the nested
//!   build never waits on the lock of the build that runs the tests.
//! - One build per process (a `OnceLock`), and a file lock around it so test
//!   binaries running in parallel do not build the same thing twice.
//! - A child process that must not build (the tests re-run themselves in a
//!   network namespace with no network) gets the finished directory in
//!   [`PREBUILT_ENV`] and only reads it.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

/// Set to a directory of built components to skip building.
pub const PREBUILT_ENV: &str = "E2E_PREBUILT_COMPONENTS";

const TARGET: &str = "wasm32-wasip2";

/// The components every test binary may need; built together.
pub const DIRECTORY: &str = "directory-connector";
pub const ADVERSARY: &str = "adversary-connector";
pub const ROGUE_IMPORT: &str = "rogue-import-connector";
pub const SECRET_PROBE: &str = "secret-probe-connector";
pub const FLAG_SHADOW: &str = "flag-shadow-connector";
/// Built separately, on request: another team's component may not build yet.
pub const PINGONE: &str = "pingone-connector";

const STANDARD: &[&str] = &[
    DIRECTORY,
    ADVERSARY,
    ROGUE_IMPORT,
    SECRET_PROBE,
    FLAG_SHADOW,
];
/// Built together for contract 0.1.0 (their SDK dependency names the
/// `contract-0-1-0` feature); the adversary, which calls 0.1.1 and 0.1.2
/// functions, and the directory, which reads single resources (0.1.3), are
/// built on their own, since one cargo run unifies the SDK's features
/// across its packages.
const CONTRACT_0_1_0: &[&str] = &[ROGUE_IMPORT, SECRET_PROBE, FLAG_SHADOW];
const CONTRACT_LATEST: &[&str] = &[ADVERSARY, DIRECTORY];

pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .canonicalize()
        .expect("locating the workspace root")
}

/// Where the nested build puts its output (and the runtime its cache).
pub fn target_dir() -> PathBuf {
    workspace_root().join("target").join("wasm-components")
}

fn release_dir() -> PathBuf {
    match std::env::var_os(PREBUILT_ENV) {
        Some(dir) => PathBuf::from(dir),
        None => target_dir().join(TARGET).join("release"),
    }
}

/// The `.wasm` file of a built package.
pub fn wasm_path(package: &str) -> PathBuf {
    release_dir().join(format!("{}.wasm", package.replace('-', "_")))
}

/// The directory the standard components were built into.
pub fn built_dir() -> PathBuf {
    ensure_standard();
    release_dir()
}

/// Path of a standard component, building all of them on first use.
/// Panics with the build's error output when the build fails.
pub fn component(package: &str) -> PathBuf {
    assert!(
        STANDARD.contains(&package),
        "{package} is not a standard component"
    );
    ensure_standard();
    wasm_path(package)
}

/// Reads a standard component.
pub fn component_bytes(package: &str) -> Vec<u8> {
    let path = component(package);
    std::fs::read(&path).unwrap_or_else(|e| panic!("reading {}: {e}", path.display()))
}

fn ensure_standard() {
    static BUILT: OnceLock<Result<(), String>> = OnceLock::new();
    if let Err(e) = BUILT.get_or_init(|| build(CONTRACT_0_1_0).and_then(|_| build(CONTRACT_LATEST)))
    {
        panic!("building the test components failed:\n{e}");
    }
}

/// Builds an optional component; `Err` says why it is not available.
pub fn try_component(package: &str) -> Result<PathBuf, String> {
    build(&[package])?;
    Ok(wasm_path(package))
}

/// Runs one cargo build of `packages` for the wasm target, under a file lock.
pub fn build(packages: &[&str]) -> Result<(), String> {
    if std::env::var_os(PREBUILT_ENV).is_some() {
        return Ok(());
    }
    check_target_installed()?;
    let dir = target_dir();
    std::fs::create_dir_all(&dir).map_err(|e| format!("creating {}: {e}", dir.display()))?;
    let lock = std::fs::File::create(dir.join(".e2e-build.lock"))
        .map_err(|e| format!("creating the build lock: {e}"))?;
    lock.lock()
        .map_err(|e| format!("taking the build lock: {e}"))?;
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let mut cmd = Command::new(cargo);
    cmd.current_dir(workspace_root())
        .args(["build", "--release", "--target", TARGET])
        .env("CARGO_TARGET_DIR", &dir);
    for p in packages {
        cmd.args(["-p", p]);
    }
    let out = cmd
        .output()
        .map_err(|e| format!("running cargo for {packages:?}: {e}"))?;
    drop(lock);
    if out.status.success() {
        return Ok(());
    }
    let stderr = String::from_utf8_lossy(&out.stderr);
    let tail: Vec<&str> = stderr.lines().rev().take(40).collect();
    let tail: Vec<&str> = tail.into_iter().rev().collect();
    let mut msg = format!("cargo build for {packages:?} failed:\n{}", tail.join("\n"));
    if stderr.contains("target may not be installed") {
        msg.push_str(&format!("\nhint: rustup target add {TARGET}"));
    }
    Err(msg)
}

/// Fails early, with the fix, when the standard library for the target is
/// missing (otherwise cargo fails deep in the first crate with `core`).
fn check_target_installed() -> Result<(), String> {
    static CHECKED: OnceLock<Result<(), String>> = OnceLock::new();
    CHECKED
        .get_or_init(|| {
            let rustc = std::env::var_os("RUSTC").unwrap_or_else(|| "rustc".into());
            let out = Command::new(rustc)
                .current_dir(workspace_root())
                .args(["--print", "sysroot"])
                .output()
                .map_err(|e| format!("running rustc: {e}"))?;
            let sysroot = String::from_utf8_lossy(&out.stdout).trim().to_string();
            let lib = Path::new(&sysroot).join("lib/rustlib").join(TARGET);
            if lib.is_dir() {
                Ok(())
            } else {
                Err(format!(
                    "the {TARGET} target is not installed for this toolchain; \
                     run `rustup target add {TARGET}`"
                ))
            }
        })
        .clone()
}
