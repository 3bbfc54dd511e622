#!/usr/bin/env bash
# The whole test suite, as CI runs it. Needs root (network namespaces, raw sockets, qemu for
# the IPVS kernel). Installs the Debian packages it needs first.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ "$(id -u)" != 0 ]; then
  echo "dev/test.sh: run as root (sudo dev/test.sh): the tests build network namespaces" >&2
  exit 1
fi
bash dev/deps.sh
bash dev/rust.sh
export CARGO_TERM_COLOR=never
echo "== cargo fmt --check"
cargo fmt --all -- --check
echo "== cargo clippy"
cargo clippy --workspace --all-targets --locked -- -D warnings
echo "== static release binary (what a director runs): example config, then the demo"
tandem=$(bash dev/build-release.sh)
"$tandem" check -c conf/example.yaml
"$tandem" demo
echo "== cargo test"
out="${CARGO_TARGET_DIR:-target}/test-output.txt"
mkdir -p "$(dirname "$out")"
cargo test --workspace --locked --no-fail-fast 2>&1 | tee "$out"
# Summary line for humans and CI: N passed, N failed.
awk '/^test result:/ { for (i = 1; i <= NF; i++) { if ($i ~ /^passed;?$/) p += $(i-1); if ($i ~ /^failed;?$/) f += $(i-1) } }
     END { printf "%d passed, %d failed\n", p, f; exit (f > 0) }' "$out"
