#!/usr/bin/env bash
# Regenerate the test fixtures copied from Microsoft's reference data.
#
#   bash scripts/reference-fixtures.sh [REFERENCE_DIR]
#
# REFERENCE_DIR is the `microsoft-graph` reference folder; by default
# `../shared/reference/microsoft-graph` beside the repository (or
# `$SWITCHBOARD_REFERENCE`). The tests never read that folder: they read the
# small fixtures this script writes, which are committed with their sources
# (connectors/microsoft365/tests/fixtures/, connectors/microsoft365-sandbox/tests/fixtures/).
# Run it when the reference data is updated or a test needs another type or
# operation, then review `git diff`.
set -euo pipefail
cd "$(dirname "$0")/.."

ref="${1:-${SWITCHBOARD_REFERENCE:-../shared/reference/microsoft-graph}}"
if [ ! -f "$ref/endpoint-catalogue.json" ] || [ ! -d "$ref/types" ]; then
  echo "reference-fixtures: no Microsoft Graph reference data at '$ref'" >&2
  echo "  (expected endpoint-catalogue.json, permissions.json and types/ there);" >&2
  echo "  nothing was regenerated. Give the folder as the first argument or in SWITCHBOARD_REFERENCE." >&2
  exit 2
fi
if ! command -v python3 >/dev/null 2>&1; then
  echo "reference-fixtures: python3 is needed to derive the fixtures" >&2
  exit 2
fi

python3 connectors/microsoft365/tests/fixtures/derive.py "$ref"
python3 connectors/microsoft365-sandbox/tests/fixtures/derive.py "$ref"
git status --short -- connectors/microsoft365/tests/fixtures connectors/microsoft365-sandbox/tests/fixtures
