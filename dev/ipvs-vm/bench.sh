#!/usr/bin/env bash
# Benchmarks tandem's IPVS apply against `ipvsadm --restore` in ONE freshly booted IPVS VM.
#
#   dev/ipvs-vm/bench.sh [services] [dests per service] [repeats]     (default 1000 10 3)
#
# Method (see ipvs/benches/ipvs_apply.rs): per repeat, each tool gets a fresh network
# namespace (clean IPVS tables, no trash list), does a cold apply of the whole table and then
# one weight change per service; tools alternate and the order flips every repeat. Entries
# are counted through /proc/net/ip_vs. Medians and ratios are printed at the end.
set -euo pipefail
repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
cd "$repo"
exe=$(cargo bench -q -p tandem-ipvs --bench ipvs_apply --no-run --message-format=json \
  | sed -n 's/.*"executable":"\([^"]*ipvs_apply[^"]*\)".*/\1/p' | tail -n1)
[[ -x $exe ]] || { echo "bench.sh: could not build the benchmark" >&2; exit 1; }
exec "$repo/dev/ipvs-vm/run.sh" "$exe" run "${1:-1000}" "${2:-10}" "${3:-3}"
