//! Generates the BatonService messages and client (`c1.connectorapi.baton.v1`)
//! and `google.rpc.Status` from `proto/` at build time, with a pure-Rust
//! protobuf compiler: no protoc and no network on any machine.
//!
//! The `c1.connector.v2` messages these embed are the c1z crate's (generated
//! there from `host/c1z/proto`), so both crates share one declaration.

use std::path::PathBuf;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let own = PathBuf::from("proto");
    let connector = PathBuf::from("../c1z/proto");
    println!("cargo:rerun-if-changed=proto");
    println!("cargo:rerun-if-changed=../c1z/proto");
    let files = [
        own.join("c1/connectorapi/baton/v1/baton.proto"),
        own.join("google/rpc/status.proto"),
    ];
    // The imported c1.connector.v2 and well-known types are referred to by
    // path (prost still reads their descriptors to pick derives).
    let fds = protox::compile(&files, [&own, &connector])?;

    let mut config = prost_build::Config::new();
    config.btree_map(["."]);
    tonic_prost_build::configure()
        .build_client(true)
        .build_server(false)
        .extern_path(".c1.connector.v2", "::c1z::pb")
        .compile_fds_with_config(fds, config)?;
    Ok(())
}
