#!/usr/bin/env bash
# Runs every program in examples/ (each starts its own offline sandbox) and
# fails when one fails. The list is read from examples/Cargo.toml, so a new
# [[example]] is run without editing this script.
set -euo pipefail
cd "$(dirname "$0")/.."

names="$(sed -n 's/^name = "\(.*\)"$/\1/p' examples/Cargo.toml | grep -v '^switchboard-examples$')"
if [ -z "$names" ]; then
  echo "no [[example]] in examples/Cargo.toml" >&2
  exit 1
fi
cargo build -q -p switchboard-examples --examples
for name in $names; do
  echo "-- example $name"
  cargo run -q -p switchboard-examples --example "$name"
done
