#!/usr/bin/env bash
# The main job: build tandem and run its demo (a director pair in network namespaces).
set -euo pipefail
cd "$(dirname "$0")/.."
if [ "$(id -u)" != 0 ]; then
  echo "dev/demo.sh: run as root (sudo dev/demo.sh): the demo builds network namespaces" >&2
  exit 1
fi
bash dev/deps.sh
bash dev/rust.sh
export PATH="$HOME/.cargo/bin:$PATH"
tandem=$(bash dev/build-release.sh)
"$tandem" check -c conf/example.yaml
exec "$tandem" demo
