#!/usr/bin/env bash
# Checks that a Rust toolchain new enough for this workspace (rust-version 1.95) is on PATH.
set -euo pipefail
export PATH="$HOME/.cargo/bin:$PATH"
if ! command -v cargo >/dev/null; then
  echo "Rust is not installed: install it with rustup (https://rustup.rs), then re-run." >&2
  exit 1
fi
ver=$(rustc --version | awk '{print $2}')
if [ "$(printf '%s\n1.95.0\n' "$ver" | sort -V | head -n1)" != "1.95.0" ]; then
  echo "rustc $ver is too old: tandem needs 1.95 or newer (rustup update stable)." >&2
  exit 1
fi
