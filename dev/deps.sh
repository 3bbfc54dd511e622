#!/usr/bin/env bash
# Installs the Debian packages that building, the demo and the test suite need. Idempotent.
# Add a package here (one list, one place) when a test starts needing it.
set -euo pipefail
PACKAGES=(
  build-essential pkg-config iproute2 iputils-ping procps kmod psmisc curl ca-certificates
  nftables tcpdump socat
  keepalived            # real VRRP peer for interop tests and benchmarks
  nginx-light openssl   # real HTTP/HTTPS real servers
  dnsmasq-base          # real DNS real server
  python3-aiosmtpd      # real SMTP real server
  snmptrapd snmp smitools  # trap receiver, MIB lint
  qemu-system-x86 linux-image-amd64 busybox-static ipvsadm  # real IPVS kernel under qemu
  systemd util-linux    # systemd-analyze (unit exposure), setpriv (run as the unit's user)
)
missing=()
for p in "${PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -q
  apt-get install -y -q --no-install-recommends "${missing[@]}"
fi
# Debian's services must not run on the host: tests start their own instances in namespaces.
for svc in nginx keepalived dnsmasq snmptrapd snmpd; do
  systemctl disable --now "$svc" >/dev/null 2>&1 || true
done
