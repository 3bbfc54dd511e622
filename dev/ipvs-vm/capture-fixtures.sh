#!/usr/bin/env bash
# Re-captures the IPVS codec fixtures (ipvs/tests/fixtures/*.bin) from the real kernel in
# the VM. Run after changing what the capture program sets up; commit the result.
set -euo pipefail
repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
cd "$repo"
exe=$(cargo build -q -p tandem-ipvs --example capture_fixtures --message-format=json \
  | sed -n 's/.*"executable":"\([^"]*capture_fixtures\)".*/\1/p' | tail -n1)
[[ -x $exe ]] || { echo "capture-fixtures: could not build the capture program" >&2; exit 1; }
exec "$repo/dev/ipvs-vm/run.sh" "$exe" "$repo/ipvs/tests/fixtures"
