#!/usr/bin/env bash
# Runs one command inside a VM that boots Debian's stock kernel (which has IPVS) under qemu.
#
#   dev/ipvs-vm/run.sh <command> [args...]
#
# The development and CI kernels are built without IPVS, so every test that needs a real IPVS
# kernel goes through here (see /work/shared/notes/ipvs-vm.md for the verified recipe).
# The guest shares the host's `/` read-only over 9p and the repository read-write at the same
# absolute path, chroots into it and runs the command as root with the caller's working
# directory, so host-built binaries and paths work unchanged. Output is streamed; the script
# exits with the guest command's exit status, read from a marker line on the serial console.
#
# Environment:
#   IPVS_VM_TIMEOUT  hard limit for the whole VM run in seconds (default 900)
#   IPVS_VM_KERNEL   kernel version to boot (default: newest /boot/vmlinuz-*)
#   IPVS_VM_CPUS     guest vCPUs (default 2);  IPVS_VM_MEM guest memory in MiB (default 2048)
#   RUST_BACKTRACE, RUST_LOG and TANDEM_* variables are passed into the guest.
set -euo pipefail

die() { echo "ipvs-vm: $*" >&2; exit 125; }

(($# > 0)) || die "usage: $0 <command> [args...]"

script_dir=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$script_dir/../.." && pwd)
timeout_s=${IPVS_VM_TIMEOUT:-900}
cpus=${IPVS_VM_CPUS:-2}
mem=${IPVS_VM_MEM:-2048}

# --- prerequisites: fail loudly, never skip -------------------------------------------------
missing=()
need() { command -v "$1" >/dev/null 2>&1 || missing+=("$1 (apt package $2)"); }
need qemu-system-x86_64 qemu-system-x86
need busybox busybox-static
need modprobe kmod
need cpio cpio
need gzip gzip
need timeout coreutils
((${#missing[@]} == 0)) || die "missing tools: ${missing[*]}; run dev/deps.sh"
busybox_bin=$(command -v busybox)
# The initramfs has no libc, so busybox must be the static build.
if ldd "$busybox_bin" >/dev/null 2>&1; then
  die "$busybox_bin is dynamically linked; install busybox-static"
fi

if [[ -n ${IPVS_VM_KERNEL:-} ]]; then
  kver=$IPVS_VM_KERNEL
else
  kernel=$(ls -1 /boot/vmlinuz-* 2>/dev/null | sort -V | tail -n1 || true)
  [[ -n $kernel ]] || die "no /boot/vmlinuz-*; install linux-image-amd64"
  kver=${kernel#/boot/vmlinuz-}
fi
kernel=/boot/vmlinuz-$kver
[[ -r $kernel ]] || die "$kernel is missing or unreadable; install linux-image-amd64"
[[ -d /lib/modules/$kver ]] || die "/lib/modules/$kver is missing; install linux-image-amd64"

# --- initramfs, cached per kernel version and per version of this script --------------------
# Load order matters: virtio_pci and the crc32c providers first, then IPVS and the rest.
modules=(virtio_pci crc32c_generic libcrc32c ip_vs ip_vs_rr ip_vs_wrr ip_vs_lc ip_vs_wlc
  ip_vs_lblc ip_vs_lblcr ip_vs_dh ip_vs_sh ip_vs_sed ip_vs_nq ip_vs_mh ip_vs_fo ip_vs_ovf
  ip_vs_pe_sip veth bridge dummy 9pnet_virtio 9p)
target_root=$(realpath -m "${CARGO_TARGET_DIR:-$repo/target}")
# The guest mounts its own tmpfs on /tmp and /run: host files there are invisible to it.
hidden_in_guest() { [[ $1 == /tmp || $1 == /tmp/* || $1 == /run || $1 == /run/* ]]; }
if hidden_in_guest "$target_root"; then
  target_root=$repo/target
fi
if [[ $1 == /* ]] && hidden_in_guest "$1"; then
  die "$1 is under /tmp or /run, which the guest replaces with a tmpfs; build elsewhere (CARGO_TARGET_DIR)"
fi
cache_key="$kver-$(cat "${BASH_SOURCE[0]}" | sha256sum | cut -c1-12)"
cache=$target_root/ipvs-vm/$cache_key
initrd=$cache/initramfs.cpio.gz

build_initramfs() {
  local stage
  stage=$(mktemp -d "$target_root/ipvs-vm/stage.XXXXXX")
  mkdir -p "$stage"/{bin,dev,proc,sys,mnt,modules}
  cp "$busybox_bin" "$stage/bin/busybox"
  local -a order=()
  local m line ko seen=" "
  for m in "${modules[@]}"; do
    local deps
    deps=$(modprobe -S "$kver" --show-depends "$m" 2>&1) \
      || die "module $m not found for kernel $kver: $deps"
    while read -r line; do
      [[ $line == insmod\ * ]] || continue
      ko=$(awk '{print $2}' <<<"$line")
      [[ $seen == *" $ko "* ]] && continue
      seen+="$ko "
      order+=("$ko")
    done <<<"$deps"
  done
  local i=0 name
  for ko in "${order[@]}"; do
    name=$(printf '%03d-%s' "$i" "$(basename "$ko")")
    case $ko in
      *.ko.xz) xz -dc "$ko" >"$stage/modules/${name%.xz}" ;;
      *.ko.zst) zstd -qdc "$ko" >"$stage/modules/${name%.zst}" ;;
      *.ko.gz) gzip -dc "$ko" >"$stage/modules/${name%.gz}" ;;
      *) cp "$ko" "$stage/modules/$name" ;;
    esac
    i=$((i + 1))
  done
  cat >"$stage/init" <<'INIT'
#!/bin/busybox sh
/bin/busybox --install -s /bin
export PATH=/bin
mount -t proc proc /proc
mount -t sysfs sys /sys
mount -t devtmpfs dev /dev
for ko in /modules/*.ko; do insmod "$ko" 2>/dev/null; done
arg() { for kv in $(cat /proc/cmdline); do case $kv in "$1="*) echo "${kv#*=}";; esac; done; }
work=$(arg tandem_work); script=$(arg tandem_script); marker=$(arg tandem_marker)
fail() { echo "ipvs-vm guest: $*"; echo "$marker=125"; poweroff -f; }
mount -t 9p -o trans=virtio,version=9p2000.L,ro,msize=262144 hostroot /mnt || fail "mount hostroot"
mount -t 9p -o trans=virtio,version=9p2000.L,msize=262144 work "/mnt$work" || fail "mount work tree"
mount --bind /proc /mnt/proc
mount --bind /sys /mnt/sys
mount --bind /dev /mnt/dev
mount -t tmpfs tmpfs /mnt/tmp
mount -t tmpfs tmpfs /mnt/run
mkdir -p /mnt/run/netns /mnt/dev/shm
mount -t tmpfs tmpfs /mnt/dev/shm
echo "$marker=START"
chroot /mnt /bin/bash "$script"
echo "$marker=$?"
poweroff -f
INIT
  chmod +x "$stage/init"
  (cd "$stage" && find . | cpio -o -H newc --quiet | gzip -1) >"$stage.cpio.gz"
  mkdir -p "$cache"
  mv "$stage.cpio.gz" "$initrd"
  rm -rf "$stage"
  # Drop initramfs images built by older versions of this script.
  find "$target_root/ipvs-vm" -mindepth 1 -maxdepth 1 -type d -name "$kver-*" \
    ! -name "$cache_key" -exec rm -rf {} +
}

mkdir -p "$target_root/ipvs-vm"
[[ -s $initrd ]] || build_initramfs

# --- per-run command script (the guest sees the cache dir read-only via the host root) -----
run_dir=$(mktemp -d "$target_root/ipvs-vm/run.XXXXXX")
log=$run_dir/console.log
cleanup() { [[ -n ${IPVS_VM_KEEP:-} ]] || rm -rf "$run_dir"; }
trap cleanup EXIT
marker="TANDEM_IPVS_VM_EXIT_$(head -c 8 /dev/urandom | od -An -tx1 | tr -d ' \n')"
{
  echo 'export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin HOME=/root TERM=dumb'
  for v in $(compgen -e); do
    case $v in RUST_BACKTRACE | RUST_LOG | TANDEM_*) printf 'export %s=%q\n' "$v" "${!v}" ;; esac
  done
  echo 'ip link set lo up'
  printf 'cd %q || exit 125\n' "$PWD"
  printf '%q ' "$@"
  echo
} >"$run_dir/cmd.sh"

# --- boot ------------------------------------------------------------------------------------
set +e
timeout -k 10 "$timeout_s" qemu-system-x86_64 \
  -accel tcg -smp "$cpus" -m "$mem" -nographic -no-reboot \
  -kernel "$kernel" -initrd "$initrd" \
  -append "console=ttyS0 panic=-1 quiet tandem_work=$repo tandem_script=$run_dir/cmd.sh tandem_marker=$marker" \
  -virtfs local,path=/,mount_tag=hostroot,security_model=none,readonly=on,multidevs=remap \
  -virtfs "local,path=$repo,mount_tag=work,security_model=none,multidevs=remap" \
  -nic none </dev/null 2>&1 | sed -u 's/\r$//' | tee "$log" |
  awk -v m="$marker=" '(p = index($0, m)) { on = (substr($0, p) == m "START"); next }
    on { print; fflush() }'  # stream only the command's own output
qemu_status=${PIPESTATUS[0]}
set -e
status=$(grep -ao "$marker=[0-9]*" "$log" | tail -n1 | cut -d= -f2 || true)
if [[ -z $status ]]; then
  if ((qemu_status == 124 || qemu_status == 137)); then
    die "VM timed out after ${timeout_s}s (IPVS_VM_TIMEOUT)"
  fi
  echo "--- console log ---" >&2
  tail -n 40 "$log" >&2
  die "VM ended without an exit marker (qemu status $qemu_status)"
fi
exit "$status"
