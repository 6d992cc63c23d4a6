#!/usr/bin/env bash
# Start a throwaway PostgreSQL for the PostgreSQL store tests.
#
#   eval "$(bash scripts/postgres-ci.sh)"        # start; exports SWITCHBOARD_TEST_DATABASE_URL
#   cargo nextest run -p switchboard-store       # the PostgreSQL suite now runs too
#   bash scripts/postgres-ci.sh stop             # stop it and delete its files
#
# Installs Debian's `postgresql` package when no server binaries are found,
# creates a cluster in a temporary directory (owned by the `postgres` user
# when run as root), starts it on a free port on 127.0.0.1 with trust
# authentication for local connections only, and creates a database.
# TLS is on, with a throwaway CA and a server certificate for the name
# `localhost` only (made with openssl), so the TLS tests can check that
# verify-full accepts `localhost` and refuses `127.0.0.1` and another CA.
# Only `export ...` lines go to stdout; progress goes to stderr:
#   SWITCHBOARD_TEST_DATABASE_URL      postgres://postgres@127.0.0.1:PORT/switchboard_test
#   SWITCHBOARD_TEST_DATABASE_TLS_URL  the same via localhost, sslmode=verify-full, sslrootcert=the CA
#   SWITCHBOARD_TEST_PG_WRONG_CA       another CA's certificate (must be refused)
set -euo pipefail

log() { echo "postgres-ci: $*" >&2; }

find_bindir() {
  local dir
  for dir in $(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V -r); do
    if [ -x "$dir/initdb" ] && [ -x "$dir/pg_ctl" ]; then
      echo "$dir"
      return 0
    fi
  done
  if command -v initdb >/dev/null 2>&1 && command -v pg_ctl >/dev/null 2>&1; then
    dirname "$(command -v initdb)"
    return 0
  fi
  return 1
}

as_owner() {
  # run a command as the cluster owner (postgres when we are root)
  if [ "$(id -u)" = 0 ]; then
    runuser -u postgres -- "$@"
  else
    "$@"
  fi
}

if [ "${1:-}" = "stop" ]; then
  dir="${SWITCHBOARD_TEST_PG_DIR:-}"
  if [ -z "$dir" ] || [ ! -d "$dir" ]; then
    log "nothing to stop (SWITCHBOARD_TEST_PG_DIR is not set)"
    exit 0
  fi
  bindir="$(find_bindir)"
  as_owner "$bindir/pg_ctl" -D "$dir/data" -m fast -w stop >&2 || true
  rm -rf "$dir"
  log "stopped and removed $dir"
  exit 0
fi

if [ -n "${SWITCHBOARD_TEST_DATABASE_URL:-}" ]; then
  log "SWITCHBOARD_TEST_DATABASE_URL is already set; using it"
  echo "export SWITCHBOARD_TEST_DATABASE_URL='$SWITCHBOARD_TEST_DATABASE_URL'"
  exit 0
fi

if ! command -v openssl >/dev/null 2>&1; then
  need_openssl=1
else
  need_openssl=0
fi
if ! bindir="$(find_bindir)" || [ "$need_openssl" = 1 ]; then
  log "installing PostgreSQL from Debian's packages"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update >&2
  apt-get install -y --no-install-recommends postgresql openssl >&2
  bindir="$(find_bindir)"
fi
log "using $bindir"

if [ "$(id -u)" = 0 ] && ! id postgres >/dev/null 2>&1; then
  useradd --system --home-dir /nonexistent --shell /usr/sbin/nologin postgres
fi

# a free port on 127.0.0.1: the first one nobody answers on
port=""
for candidate in $(seq 54329 54429); do
  if ! (exec 3<>"/dev/tcp/127.0.0.1/$candidate") 2>/dev/null; then
    port="$candidate"
    break
  fi
done
if [ -z "$port" ]; then
  log "no free port between 54329 and 54429"
  exit 1
fi

dir="$(mktemp -d /tmp/switchboard-pg.XXXXXX)"
chmod 755 "$dir"
if [ "$(id -u)" = 0 ]; then
  chown postgres: "$dir"
fi
# a CA, a server certificate for `localhost`, and an unrelated CA
tls="$dir/tls"
mkdir -p "$tls"
ec() { openssl req -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes "$@" 2>/dev/null; }
ec -x509 -keyout "$tls/ca.key" -out "$tls/ca.crt" -days 7 -subj "/CN=switchboard test CA"
ec -x509 -keyout "$tls/wrong-ca.key" -out "$tls/wrong-ca.crt" -days 7 -subj "/CN=switchboard wrong CA"
ec -keyout "$tls/server.key" -out "$tls/server.csr" -subj "/CN=localhost"
printf 'subjectAltName=DNS:localhost\nbasicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=serverAuth\n' >"$tls/server.ext"
openssl x509 -req -in "$tls/server.csr" -CA "$tls/ca.crt" -CAkey "$tls/ca.key" -CAcreateserial \
  -out "$tls/server.crt" -days 7 -extfile "$tls/server.ext" 2>/dev/null
rm -f "$tls/ca.key" "$tls/wrong-ca.key" "$tls/server.csr"
chmod 600 "$tls/server.key"
chmod 644 "$tls/ca.crt" "$tls/wrong-ca.crt" "$tls/server.crt"
if [ "$(id -u)" = 0 ]; then
  chown -R postgres: "$tls"
fi

as_owner "$bindir/initdb" -D "$dir/data" -U postgres --auth=trust -E UTF8 --no-locale >"$dir/initdb.log" 2>&1 || {
  cat "$dir/initdb.log" >&2
  exit 1
}
as_owner "$bindir/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -t 60 \
  -o "-p $port -k $dir -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=200 -c ssl=on -c ssl_cert_file=$tls/server.crt -c ssl_key_file=$tls/server.key" start >&2 || {
  cat "$dir/server.log" >&2
  exit 1
}
as_owner "$bindir/createdb" -h 127.0.0.1 -p "$port" -U postgres switchboard_test
url="postgres://postgres@127.0.0.1:$port/switchboard_test"
log "PostgreSQL is running on 127.0.0.1:$port (files in $dir)"
echo "export SWITCHBOARD_TEST_DATABASE_URL='$url'"
echo "export SWITCHBOARD_TEST_DATABASE_TLS_URL='postgres://postgres@localhost:$port/switchboard_test?sslmode=verify-full&sslrootcert=$tls/ca.crt'"
echo "export SWITCHBOARD_TEST_PG_WRONG_CA='$tls/wrong-ca.crt'"
echo "export SWITCHBOARD_TEST_PG_DIR='$dir'"
