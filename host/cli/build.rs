//! Builds the bundled PingOne component and embeds it in `connector-host`,
//! so `cargo build --release` (or `cargo install --path host/cli`) yields a
//! binary that runs PingOne with no further step.
//!
//! The component is built by a nested cargo in its own target directory (so
//! it never waits on the outer build's lock), always in release mode for the
//! `wasm32-wasip2` target. That directory, `target/wasm-components`, is the
//! one the end-to-end tests build their components in: one set of wasm
//! dependencies on disk, not two. Set `CONNECTOR_HOST_PINGONE_WASM` to embed a
//! prebuilt component instead (for example in a container build stage).

use std::path::PathBuf;
use std::process::Command;

const TARGET: &str = "wasm32-wasip2";

fn main() {
    let manifest = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").unwrap());
    let workspace = manifest.join("../..").canonicalize().unwrap();
    let out_dir = PathBuf::from(std::env::var("OUT_DIR").unwrap());
    let embedded = out_dir.join("pingone.wasm");
    println!("cargo:rerun-if-env-changed=CONNECTOR_HOST_PINGONE_WASM");

    if let Ok(prebuilt) = std::env::var("CONNECTOR_HOST_PINGONE_WASM") {
        println!("cargo:rerun-if-changed={prebuilt}");
        std::fs::copy(&prebuilt, &embedded)
            .unwrap_or_else(|e| panic!("copying CONNECTOR_HOST_PINGONE_WASM={prebuilt}: {e}"));
        return;
    }

    // Hello's BuildInfo names the compiler, as Baton's names the Go version.
    let rustc = std::env::var("RUSTC").unwrap_or_else(|_| "rustc".into());
    if let Ok(out) = Command::new(&rustc).arg("--version").output() {
        let version = String::from_utf8_lossy(&out.stdout).trim().to_string();
        println!("cargo:rustc-env=CONNECTOR_HOST_RUSTC={version}");
    }

    for dir in ["guest/sdk", "guest/pingone", "wit"] {
        println!("cargo:rerun-if-changed={}", workspace.join(dir).display());
    }
    println!(
        "cargo:rerun-if-changed={}",
        workspace.join("Cargo.lock").display()
    );

    require_target();
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let target_dir = workspace.join("target").join("wasm-components");
    let mut cmd = Command::new(cargo);
    cmd.current_dir(&workspace)
        .args([
            "build",
            "--release",
            "--target",
            TARGET,
            "-p",
            "pingone-connector",
        ])
        .arg("--target-dir")
        .arg(&target_dir);
    // The outer build's settings are for the host, not for wasm.
    for (key, _) in std::env::vars() {
        if key.starts_with("CARGO_CFG_")
            || key.starts_with("CARGO_FEATURE_")
            || key.starts_with("CARGO_PKG_")
            || key.starts_with("CARGO_MANIFEST")
            || matches!(
                key.as_str(),
                "CARGO_TARGET_DIR"
                    | "CARGO_BUILD_TARGET"
                    | "RUSTFLAGS"
                    | "CARGO_ENCODED_RUSTFLAGS"
                    | "TARGET"
                    | "HOST"
                    | "OUT_DIR"
                    | "OPT_LEVEL"
                    | "PROFILE"
                    | "DEBUG"
                    | "NUM_JOBS"
                    | "RUSTC_WORKSPACE_WRAPPER"
                    | "CARGO_MAKEFLAGS"
            )
        {
            cmd.env_remove(key);
        }
    }
    let status = cmd
        .status()
        .unwrap_or_else(|e| panic!("running cargo to build the PingOne component: {e}"));
    if !status.success() {
        panic!(
            "building the bundled PingOne component (guest/pingone) for {TARGET} failed; see the output above"
        );
    }
    let built = target_dir
        .join(TARGET)
        .join("release")
        .join("pingone_connector.wasm");
    std::fs::copy(&built, &embedded).unwrap_or_else(|e| panic!("copying {}: {e}", built.display()));
}

/// Stops with instructions when the wasm target's standard library is absent.
fn require_target() {
    let rustc = std::env::var("RUSTC").unwrap_or_else(|_| "rustc".into());
    let sysroot = Command::new(rustc)
        .args(["--print", "sysroot"])
        .output()
        .ok()
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .map(|s| PathBuf::from(s.trim()));
    let installed = sysroot
        .map(|s| s.join("lib/rustlib").join(TARGET).exists())
        .unwrap_or(false);
    if !installed {
        panic!(
            "\n\nconnector-host embeds the PingOne component, which is built for the {TARGET} target.\n\
             That target is not installed. Add it with:\n\n    rustup target add {TARGET}\n\n\
             then build again.\n"
        );
    }
}
