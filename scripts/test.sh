#!/usr/bin/env bash
# The whole test suite: formatting, lints, then every test in the workspace.
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/setup.sh

cargo fmt --all -- --check
./scripts/validate-manifests.sh
cargo test --workspace --no-fail-fast
