#!/usr/bin/env bash
# Installs what building and testing need beyond the Rust toolchain.
set -euo pipefail

if command -v rustup >/dev/null 2>&1; then
    rustup target list --installed | grep -qx wasm32-wasip2 || rustup target add wasm32-wasip2
fi
# The c1z compatibility test decodes artifacts independently with Python.
if command -v python3 >/dev/null 2>&1 && ! python3 -c 'import zstandard' 2>/dev/null; then
    python3 -m pip install --quiet --disable-pip-version-check zstandard \
        || echo "note: could not install python zstandard; the independent c1z check will be skipped" >&2
fi
# The manifest check (scripts/validate-manifests.sh) needs a Kubernetes schema validator from PyPI.
"$(dirname "$0")/validate-manifests.sh" --install-only \
    || echo "note: could not install the Kubernetes manifest validator; scripts/validate-manifests.sh will fail" >&2
