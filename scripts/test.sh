#!/usr/bin/env bash
# The test command the README gives: every crate's unit, integration and doc tests.
set -euo pipefail
cd "$(dirname "$0")/.."
if command -v cargo-nextest >/dev/null 2>&1; then
  cargo nextest run --workspace --no-fail-fast
else
  cargo test --workspace --no-fail-fast
fi
# nextest does not run doc tests; the examples in doc comments are tests too.
cargo test --workspace --doc
