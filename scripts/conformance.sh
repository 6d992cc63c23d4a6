#!/usr/bin/env bash
# Conformance with Microsoft's own client libraries: Python `msal` and
# `msgraph-sdk` (versions pinned in scripts/conformance/requirements.txt)
# drive `switchboard sandbox --tls` (scripts/conformance/check.py).
#
#   bash scripts/conformance.sh
#
# Installs the libraries from PyPI into a virtual environment under the
# cargo target directory (reused while requirements.txt is unchanged),
# builds the `switchboard` binary, and runs the checks (about 15 seconds
# after the first install). Exit status: 0 passed, 1 failed, 77 could not
# run (no python3 or venv, PyPI unreachable), with the reason on the last
# line as "skipped: ...". scripts/test.sh runs this as a stage.
set -uo pipefail
cd "$(dirname "$0")/.."

skip() {
  echo "conformance: skipped: $*"
  exit 77
}

python="${PYTHON:-python3}"
command -v "$python" >/dev/null 2>&1 || skip "$python not found (install Python 3.9 or newer)"
"$python" -c 'import sys; sys.exit(sys.version_info < (3, 9))' \
  || skip "$("$python" --version 2>&1) is older than 3.9"

requirements=scripts/conformance/requirements.txt
target="${CARGO_TARGET_DIR:-target}"
venv="$target/conformance-venv"
want="$(sha256sum "$requirements" | cut -d' ' -f1)"
if [ "$(cat "$venv/.requirements-sha256" 2>/dev/null)" != "$want" ]; then
  echo "conformance: installing $(grep -cv '^#' "$requirements") pinned packages from PyPI into $venv"
  rm -rf "$venv"
  "$python" -m venv "$venv" >/dev/null 2>&1 \
    || skip "$python cannot create a virtual environment (on Debian: apt-get install python3-venv)"
  if ! "$venv/bin/python" -m pip install --disable-pip-version-check --no-input -q -r "$requirements"; then
    rm -rf "$venv"
    skip "could not install $requirements from PyPI"
  fi
  echo "$want" > "$venv/.requirements-sha256"
fi

cargo build -q -p switchboard-cli || { echo "conformance: the switchboard binary did not build"; exit 1; }
exec timeout 170 "$venv/bin/python" scripts/conformance/check.py --switchboard "$target/debug/switchboard"
