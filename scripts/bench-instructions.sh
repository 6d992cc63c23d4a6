#!/usr/bin/env bash
# Instructions per call, client side only: switchboard against the
# hand-written reqwest calls of benches/engine.rs, counted by callgrind, and
# the profile of switchboard's per-call path.
#
#   bash scripts/bench-instructions.sh [get] [list] [create]   # default: all three
#
# How: the bench binary runs its server as a separate process (`--serve`, not
# under valgrind); each contender runs under callgrind, warms up with 200
# calls, then makes N calls inside `callgrind_measured_calls`, the only
# function callgrind collects in (`--toggle-collect`). So the count is the
# client's whole work per call (engine or hand-written code, reqwest, hyper,
# tokio, serde_json), with neither the server nor start-up in it. Counts do
# not depend on the machine's load.
#
# Prints, per call: instructions per call for each side and their ratio; the
# L1 instruction- and data-cache misses per call from callgrind's cache
# simulation (--cache-sim=yes; the simulated caches take this machine's sizes)
# and the 64-byte lines of machine code a call runs (its code working set,
# fetched again after the host has run something else on the core); then,
# for the first call named, switchboard's own functions by inclusive
# instructions per call, and the functions where switchboard spends more than
# the raw call (self instructions per call, switchboard minus raw).
#
# Environment: N (calls counted per run, default 500), TOP (profile lines,
# default 25), KEEP (a directory to keep the callgrind.out files in, for
# callgrind_annotate or kcachegrind), D1 (the simulated L1 data cache's size
# in bytes, 8-way, a power of two such as 65536: run at several sizes, the
# misses tell how much memory a call works in).
# Needs valgrind (installed with apt-get when missing) and python3; not run by CI.
set -euo pipefail
cd "$(dirname "$0")/.."

N="${N:-500}"
TOP="${TOP:-25}"
calls=("$@")
[ ${#calls[@]} -gt 0 ] || calls=(get list create)
for call in "${calls[@]}"; do
  case "$call" in get | list | create) ;; *) echo "unknown call '$call': get, list or create" >&2; exit 2 ;; esac
done
if ! command -v valgrind >/dev/null || ! command -v callgrind_annotate >/dev/null; then
  echo "bench-instructions: installing valgrind (apt-get)" >&2
  { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq valgrind; } >&2 ||
    { echo "bench-instructions: needs valgrind; apt-get install valgrind failed" >&2; exit 1; }
fi
command -v python3 >/dev/null || { echo "bench-instructions: needs python3" >&2; exit 1; }

bin="$(cargo bench -p switchboard-benches --bench engine --no-run 2>&1 |
  sed -n 's/^ *Executable .*(\(.*\))$/\1/p' | tail -1)"
[ -x "$bin" ] || { echo "bench-instructions: the bench binary was not built" >&2; exit 1; }

out="${KEEP:-$(mktemp -d)}"
mkdir -p "$out"
server_pid=""
cleanup() {
  [ -n "$server_pid" ] && kill "$server_pid" 2>/dev/null
  [ -n "${KEEP:-}" ] || rm -rf "$out"
}
trap cleanup EXIT

"$bin" --serve >"$out/server.url" &
server_pid=$!
for _ in $(seq 50); do
  [ -s "$out/server.url" ] && break
  sleep 0.1
done
url="$(head -1 "$out/server.url")"
[ -n "$url" ] || { echo "bench-instructions: the server did not start" >&2; exit 1; }

count() { # count SIDE CALL -> "instructions I1-misses D1-misses code-lines" per call
  local file="$out/callgrind.$1.$2.out" per_call lines
  valgrind --tool=callgrind --cache-sim=yes ${D1:+--D1="$D1",8,64} --callgrind-out-file="$file" \
    --dump-instr=yes --compress-pos=no --toggle-collect='*callgrind_measured_calls*' \
    "$bin" --server "$url" --instructions "$1" "$2" "$N" >"$out/$1.$2.log" 2>&1 ||
    { cat "$out/$1.$2.log" >&2; exit 1; }
  # events: Ir Dr Dw I1mr D1mr D1mw ILmr DLmr DLmw (--cache-sim=yes)
  per_call="$(awk -v n="$N" '
    /^events:/ { for (i = 2; i <= NF; i++) at[$i] = i - 1 }
    /^summary:/ { printf "%d %d %d", $(at["Ir"] + 1) / n, $(at["I1mr"] + 1) / n, ($(at["D1mr"] + 1) + $(at["D1mw"] + 1)) / n }
  ' "$file")"
  [ "${per_call%% *}" -gt 0 ] 2>/dev/null || { echo "bench-instructions: nothing collected for $1 $2" >&2; exit 1; }
  # The 64-byte lines of machine code a call runs: lines holding an
  # instruction run at least once per call on average (--dump-instr gives
  # each instruction's count; the cost line after `calls=` is the callee's,
  # skipped). The code a call needs in cache, all of it fetched again when
  # the host has run something else on the core meanwhile.
  lines="$(python3 - "$file" "$N" <<'PY'
import re, sys
position = re.compile(r"^0x([0-9a-f]+) \d+ (\d+)")
lines, callee = set(), False
for text in open(sys.argv[1]):
    if text.startswith("calls="):
        callee = True
        continue
    m = position.match(text)
    if m and not callee and int(m.group(2)) >= int(sys.argv[2]):
        lines.add(int(m.group(1), 16) >> 6)
    callee = False
print(len(lines))
PY
)"
  echo "$per_call $lines"
}

ratio() { python3 -c "print(f'{$1 / $2:.3f}')"; }

echo "instructions per call (callgrind, client only, $N calls per run)"
printf '  %-8s %12s %12s %8s %10s\n' call raw switchboard ratio extra
misses=()
for call in "${calls[@]}"; do
  # assigned first: set -e stops the script when a count fails
  raw_counts="$(count raw "$call")"
  sb_counts="$(count switchboard "$call")"
  read -r raw raw_i1 raw_d1 raw_lines <<<"$raw_counts"
  read -r sb sb_i1 sb_d1 sb_lines <<<"$sb_counts"
  printf '  %-8s %12d %12d %8s %10d\n' "$call" "$raw" "$sb" "$(ratio "$sb" "$raw")" $((sb - raw))
  misses+=("$(printf '  %-8s %8d %8d %8s   %8d %8d %8s   %8d %8d %8s' "$call" \
    "$raw_i1" "$sb_i1" "$(ratio "$sb_i1" "$raw_i1")" "$raw_d1" "$sb_d1" "$(ratio "$sb_d1" "$raw_d1")" \
    "$raw_lines" "$sb_lines" "$(ratio "$sb_lines" "$raw_lines")")")
done
echo "L1 cache misses per call (callgrind's cache simulation: this machine's caches${D1:+, L1 data cache $D1 bytes}); code: the 64-byte lines of machine code a call runs"
printf '  %-8s %8s %8s %8s   %8s %8s %8s   %8s %8s %8s\n' call "raw I1" "sb I1" ratio "raw D1" "sb D1" ratio "raw code" "sb code" ratio
printf '%s\n' "${misses[@]}"

first="${calls[0]}"
annotate() { # annotate FILE [--inclusive=yes]: "cost file:function" lines
  callgrind_annotate --auto=no --threshold=100 "${@:2}" "$1" 2>/dev/null |
    sed -n -E 's/^ *([0-9,]+) \([ 0-9.]+%\)  (.*)$/\1\t\2/p'
}
annotate "$out/callgrind.switchboard.$first.out" --inclusive=yes >"$out/sb.inclusive"
annotate "$out/callgrind.switchboard.$first.out" >"$out/sb.self"
annotate "$out/callgrind.raw.$first.out" >"$out/raw.self"

python3 - "$out" "$N" "$TOP" "$first" <<'EOF'
import re, sys
out, n, top, call = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]

def read(name, combine):
    """Cost per function. callgrind_annotate names a function once per
    source file its code came from (inlining): the function is the part
    after the file's colon; `combine` merges its entries."""
    costs = {}
    for line in open(f"{out}/{name}"):
        cost, where = line.rstrip("\n").split("\t", 1)
        if ":" not in where:
            continue  # PROGRAM TOTALS
        function = re.sub(r" \[[^\]]*\]$", "", where.split(":", 1)[1])
        cost = int(cost.replace(",", ""))
        costs[function] = combine(costs.get(function, 0), cost)
    return costs

inclusive = read("sb.inclusive", max)
own = sorted(((c, w) for w, c in inclusive.items()
              if re.match(r"<?switchboard_(core|microsoft365)", w)), reverse=True)
print(f"\nswitchboard's own functions in `{call}`, inclusive instructions per call (top {top})")
for cost, where in own[:top]:
    print(f"  {cost / n:10.0f}  {where}")

sb, raw = (read(f, lambda a, b: a + b) for f in ("sb.self", "raw.self"))
diff = sorted(((sb.get(w, 0) - raw.get(w, 0), w) for w in set(sb) | set(raw)), reverse=True)
print(f"\nwhere switchboard spends more than raw in `{call}`: self instructions per call, switchboard - raw (top {top})")
for cost, where in diff[:top]:
    print(f"  {cost / n:+10.0f}  {where}")
print("  ...where the raw call spends more (top 5):")
for cost, where in sorted(diff)[:5]:
    print(f"  {cost / n:+10.0f}  {where}")
print(f"  {sum(c for c, _ in diff) / n:+10.0f}  in all")
EOF
