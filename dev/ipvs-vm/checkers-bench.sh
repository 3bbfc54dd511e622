#!/usr/bin/env bash
# Health checkers, tandem vs keepalived, on the same targets in ONE IPVS VM boot.
#
#   dev/ipvs-vm/checkers-bench.sh [sizes] [repeats] [window_s]     (default "1000 10000" 2 30)
#
# TANDEM_CKB_START_WINDOWS="4 16" runs tandem once per start-batch window (ms) in each repeat,
# as tools "tandem-w4", "tandem-w16" (A/B of SchedulerOptions::start_batch_window in one boot);
# unset, tandem runs with its default as tool "tandem". TANDEM_CKB_KINDS (default "tcp http").
#
# keepalived's checker refuses to start without IPVS, and the development kernel has none, so
# both tools run inside the VM (dev/ipvs-vm/run.sh, qemu TCG: slow, compare ratios, not
# absolute figures). Per size N (real servers) and kind (tcp, http), same run, tools
# alternating (order flipped every repeat):
#
# * targets: one network namespace, one nginx listening on *:8080, N real servers
#   127.1.0.1, 127.1.0.2, ... (all of 127/8 is local on lo, each address a distinct target);
# * tandem: checkers/examples/checkers-bench.rs --netns (N checks, 1 s interval, rise/fall 1);
# * keepalived -C (checker only): N/10 virtual_server blocks (NAT, 10 real_server each,
#   delay_loop 1) with TCP_CHECK or HTTP_GET (GET /, status 200), connect_timeout 2;
# * measured the same way for both, over the same window after a warm-up: checks = the
#   namespace's Tcp ActiveOpens delta (/proc/net/snmp; each check opens one connection and
#   nothing else connects there), CPU = utime+stime from /proc/<pid>/stat (keepalived: the
#   checker child alone and all its processes), with the kernel's share (stime) of the
#   checker's CPU, RSS from /proc/<pid>/status;
# * jitter: after the window, tcpdump on the namespace's lo records every SYN to :8080 for a
#   few seconds; jitter = |time between two probes of the same target - 1 s|.
#
# Output: one RESULT line per run, then a summary (medians) with ratios keepalived / tandem
# (CPU per check).
set -euo pipefail
repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)

if [[ ${1:-} != --guest ]]; then
  cd "$repo"
  exe=$(cargo build -q --release -p tandem-checkers --example checkers-bench --message-format=json \
    | sed -n 's/.*"executable":"\([^"]*checkers-bench[^"]*\)".*/\1/p' | tail -n1)
  [[ -x $exe ]] || { echo "checkers-bench.sh: could not build the benchmark" >&2; exit 1; }
  command -v keepalived >/dev/null || { echo "checkers-bench.sh: keepalived missing (apt package keepalived)" >&2; exit 125; }
  command -v nginx >/dev/null || { echo "checkers-bench.sh: nginx missing (apt package nginx-light)" >&2; exit 125; }
  command -v tcpdump >/dev/null || { echo "checkers-bench.sh: tcpdump missing (apt package tcpdump)" >&2; exit 125; }
  export IPVS_VM_TIMEOUT=${IPVS_VM_TIMEOUT:-5400}
  exec "$repo/dev/ipvs-vm/run.sh" "$repo/dev/ipvs-vm/checkers-bench.sh" --guest "$exe" \
    "${1:-1000 10000}" "${2:-2}" "${3:-30}"
fi

# ------------------------------------------------------------------ guest side
exe=$2
sizes=$3
repeats=$4
window=$5
warmup_base=${TANDEM_CKB_WARMUP:-20}   # seconds from start to the window (TCG start-up is slow)
jitter_s=${TANDEM_CKB_JITTER:-8}
ns=ckb
work=/tmp/ckb
mkdir -p "$work"
hz=$(getconf CLK_TCK)
echo "guest: $(uname -r), $(nproc) vCPU, $(keepalived --version 2>&1 | head -n1), loadavg $(cut -d' ' -f1-3 /proc/loadavg)"
echo "sizes=[$sizes] repeats=$repeats window=${window}s warmup=${warmup_base}s + 2 s per 1000 reals, jitter_capture=${jitter_s}s"

# Same addresses as checkers-bench's target_addr(i).
target_addr() {
  local n=$1
  echo "127.$((1 + n / 62500)).$((n / 250 % 250 + 1)).$((n % 250 + 1))"
}

cleanup() {
  [[ -f $work/nginx.pid ]] && kill "$(cat "$work/nginx.pid")" 2>/dev/null || true
  ip netns pids $ns 2>/dev/null | xargs -r kill -9 2>/dev/null || true
  ip netns del $ns 2>/dev/null || true
}
trap cleanup EXIT

ip netns add $ns
ip -n $ns link set lo up
for kv in net.core.somaxconn=65535 net.ipv4.tcp_max_syn_backlog=65535 \
  net.ipv4.tcp_max_tw_buckets=2000000 "net.ipv4.ip_local_port_range=1024 65535" \
  net.ipv4.tcp_tw_reuse=1; do
  ip netns exec $ns sysctl -qw "$kv"
done
cat >"$work/nginx.conf" <<EOF
user root;
worker_processes 1;
worker_rlimit_nofile 65536;
pid $work/nginx.pid;
error_log $work/nginx-error.log;
events { worker_connections 16384; }
http {
  access_log off;
  client_body_temp_path $work/body; proxy_temp_path $work/proxy; fastcgi_temp_path $work/fcgi;
  uwsgi_temp_path $work/uwsgi; scgi_temp_path $work/scgi;
  server { listen 8080 backlog=65535; location / { return 200 "ok\n"; } }
}
EOF
ip netns exec $ns nginx -c "$work/nginx.conf" -p "$work"
for _ in $(seq 100); do
  ip netns exec $ns ss -Hltn | grep -q ':8080 ' && break
  sleep 0.2
done
ip netns exec $ns ss -Hltn | grep -q ':8080 ' || { echo "nginx did not start"; exit 1; }

keepalived_conf() { # kind n
  local kind=$1 n=$2 i vs
  echo "global_defs { router_id ckbench }"
  for ((vs = 0; vs * 10 < n; vs++)); do
    echo "virtual_server 10.$((200 + vs / 62500)).$((vs / 250 % 250)).$((vs % 250 + 1)) 80 {"
    echo "  delay_loop 1"
    echo "  lb_algo rr"
    echo "  lb_kind NAT"
    echo "  protocol TCP"
    for ((i = vs * 10; i < n && i < vs * 10 + 10; i++)); do
      echo "  real_server $(target_addr $i) 8080 {"
      echo "    weight 1"
      if [[ $kind == tcp ]]; then
        echo "    TCP_CHECK { connect_timeout 2 }"
      else
        echo "    HTTP_GET { url { path / status_code 200 } connect_timeout 2 }"
      fi
      echo "  }"
    done
    echo "}"
  done
}

# Tcp ActiveOpens of the namespace, read through a process inside it (`ip netns exec` itself
# takes 0.3-3 s under TCG).
active_opens() { awk '/^Tcp:/ { if (++n == 2) print $6 }' "/proc/$1/net/snmp"; }
cpu_ticks() { # pids... -> utime+stime summed
  local t=0 p
  for p in "$@"; do
    t=$((t + $(awk '{ print $14 + $15 }' "/proc/$p/stat" 2>/dev/null || echo 0)))
  done
  echo $t
}
sys_ticks() { # pids... -> stime summed (the kernel's share of cpu_ticks)
  local t=0 p
  for p in "$@"; do
    t=$((t + $(awk '{ print $15 }' "/proc/$p/stat" 2>/dev/null || echo 0)))
  done
  echo $t
}
rss_kib() { # pids... -> VmRSS summed
  local r=0 p
  for p in "$@"; do
    r=$((r + $(awk '/^VmRSS:/ { print $2 }' "/proc/$p/status" 2>/dev/null || echo 0)))
  done
  echo $r
}
now() { date +%s.%N; }

# Jitter from the wire: every SYN to :8080 for $jitter_s seconds, per target the gaps between
# two probes minus the 1 s interval. Prints "p50 p99 max samples" in ms.
jitter() {
  ip netns exec $ns timeout "$jitter_s" tcpdump -i lo -nn -tt -l -B 16384 \
    'tcp dst port 8080 and tcp[tcpflags] & (tcp-syn|tcp-ack) == tcp-syn' \
    >"$work/syn.txt" 2>/dev/null || true
  awk '{ dst = $5; sub(/\.8080:$/, "", dst)
         if (dst in last) { d = ($1 - last[dst] - 1.0) * 1000; if (d < 0) d = -d; print d }
         last[dst] = $1 }' "$work/syn.txt" | sort -g >"$work/jit.txt"
  awk '{ v[NR] = $1 } END { if (NR == 0) { print "- - - 0"; exit }
         i50 = int((NR - 1) * 0.50 + 0.5) + 1; i99 = int((NR - 1) * 0.99 + 0.5) + 1
         printf "%.1f %.1f %.1f %d\n", v[i50], v[i99], v[NR], NR }' "$work/jit.txt"
}

# Measures a running tool: $1 label, $2 "all pids", $3 "checker pids", $4 n, $5 kind, $6 rep.
measure() {
  local tool=$1 all=$2 checker=$3 n=$4 kind=$5 rep=$6
  local t0 o0 c0 k0 s0 t1 o1 c1 k1 s1 rss rssc jit
  t0=$(now); o0=$(active_opens $checker); c0=$(cpu_ticks $all); k0=$(cpu_ticks $checker); s0=$(sys_ticks $checker)
  sleep "$window"
  t1=$(now); o1=$(active_opens $checker); c1=$(cpu_ticks $all); k1=$(cpu_ticks $checker); s1=$(sys_ticks $checker)
  rss=$(rss_kib $all); rssc=$(rss_kib $checker)
  jit=$(jitter)
  awk -v tool="$tool" -v kind="$kind" -v n="$n" -v rep="$rep" -v t="$(awk -v a="$t0" -v b="$t1" 'BEGIN { print b - a }')" \
    -v checks=$((o1 - o0)) -v cpu=$((c1 - c0)) -v cpuc=$((k1 - k0)) -v sysc=$((s1 - s0)) -v hz="$hz" -v rss="$rss" \
    -v rssc="$rssc" -v jit="$jit" -v load="$(cut -d' ' -f1 /proc/loadavg)" 'BEGIN {
      split(jit, j, " "); cs = cpu / hz; ccs = cpuc / hz
      printf "RESULT tool=%s kind=%s reals=%d rep=%d window_s=%.1f checks=%d checks_per_s=%.0f", tool, kind, n, rep, t, checks, checks / t
      printf " cpu_s=%.2f cpu_pct=%.1f checks_per_cpu_s=%.0f checker_cpu_pct=%.1f checker_checks_per_cpu_s=%.0f", cs, 100 * cs / t, (cs > 0 ? checks / cs : 0), 100 * ccs / t, (ccs > 0 ? checks / ccs : 0)
      printf " checker_sys_share_pct=%.0f", (cpuc > 0 ? 100 * sysc / cpuc : 0)
      printf " rss_kib=%d checker_rss_kib=%d rss_per_real_b=%.0f jitter_ms_p50=%s jitter_ms_p99=%s jitter_ms_max=%s jitter_samples=%s load=%s\n", rss, rssc, rss * 1024 / n, j[1], j[2], j[3], j[4], load
    }' | tee -a "$work/results.txt"
}

run_tandem() { # kind n rep [start window ms]
  local kind=$1 n=$2 rep=$3 start_window=${4:-} pid tool=tandem extra=()
  if [[ -n $start_window ]]; then
    tool=tandem-w$start_window
    extra=(--start-window-ms "$start_window")
  fi
  "$exe" --netns $ns --targets "$n" --kind "$kind" --workers 2 "${extra[@]}" \
    --duration $((warmup + window + jitter_s + 5)) >"$work/tandem.out" 2>&1 &
  pid=$!
  sleep "$warmup"
  if ! kill -0 $pid 2>/dev/null; then echo "tandem bench died:"; cat "$work/tandem.out"; return 1; fi
  measure "$tool" "$pid" "$pid" "$n" "$kind" "$rep"
  wait $pid || { echo "tandem bench failed:"; cat "$work/tandem.out"; return 1; }
  sed 's/^/    tandem: /' "$work/tandem.out" | grep -E 'checks=|cpu_|lateness|probe_lat|rss_kib before|first'
}

run_keepalived() { # kind n rep
  local kind=$1 n=$2 rep=$3 pid child="" i
  keepalived_conf "$kind" "$n" >"$work/keepalived.conf"
  rm -f "$work"/ka*.pid
  # No -l: console logging goes to the VM's serial console. keepalived logs to syslog (absent
  # here); whether its checks pass is read from the IPVS table (a failed real is removed).
  ip netns exec $ns keepalived -n -C -f "$work/keepalived.conf" -p "$work/ka.pid" \
    -c "$work/ka-check.pid" >"$work/keepalived.log" 2>&1 &
  pid=$!
  for i in $(seq 100); do
    [[ -s $work/ka-check.pid ]] && break
    sleep 0.2
  done
  child=$(cat "$work/ka-check.pid" 2>/dev/null || true)
  [[ -n $child ]] || { echo "keepalived checker did not start:"; tail -n 20 "$work/keepalived.log"; return 1; }
  sleep "$warmup"
  kill -0 "$child" 2>/dev/null || { echo "keepalived checker died:"; tail -n 20 "$work/keepalived.log"; return 1; }
  measure keepalived "$pid $child" "$child" "$n" "$kind" "$rep"
  echo "    keepalived: real servers in IPVS (up) $(grep -cE -- '-> [0-9A-F]{8}:' "/proc/$child/net/ip_vs" || true) of $n, virtual services $(grep -c '^TCP' "/proc/$child/net/ip_vs" || true)"
  kill -TERM "$pid"
  wait "$pid" || true
}

: >"$work/results.txt"
for n in $sizes; do
  warmup=$((warmup_base + n / 500)) # registering / loading 10k real servers takes a while here
  for kind in ${TANDEM_CKB_KINDS:-tcp http}; do
    for ((rep = 0; rep < repeats; rep++)); do
      tandems=tandem
      if [[ -n ${TANDEM_CKB_START_WINDOWS:-} ]]; then
        tandems=""
        for w in $TANDEM_CKB_START_WINDOWS; do tandems+=" tandem:$w"; done
      fi
      if (((rep + (n / 1000)) % 2 == 0)); then order="$tandems keepalived"; else order="keepalived $tandems"; fi
      for tool in $order; do
        echo "== $tool $kind $n real servers, repeat $rep ($(date -u +%T), loadavg $(cut -d' ' -f1 /proc/loadavg))"
        "run_${tool%%:*}" "$kind" "$n" "$rep" "$(echo "$tool" | sed -n 's/^tandem://p')" \
          || echo "RUN FAILED: $tool $kind $n $rep"
        sleep 3
      done
    done
  done
done

echo
echo "== summary (medians over repeats; ratio = keepalived's CPU per check / tandem's, i.e. tandem's"
echo "   checks per CPU-second / keepalived's: > 1 favours tandem)"
awk '
  function field(k,  i, kv) { for (i = 2; i <= NF; i++) { split($i, kv, "="); if (kv[1] == k) return kv[2] } return "" }
  function median(list,  a, m, i, j, x) { m = split(list, a, " "); if (m == 0) return 0
    for (i = 2; i <= m; i++) { x = a[i] + 0; for (j = i - 1; j >= 1 && a[j] + 0 > x; j--) a[j + 1] = a[j]; a[j + 1] = x }
    return (m % 2) ? a[(m + 1) / 2] : (a[m / 2] + a[m / 2 + 1]) / 2 }
  /^RESULT/ { key = field("kind") " " field("reals"); tool = field("tool"); keys[key] = 1
    if (!(tool in seen)) { seen[tool] = 1; tools[++ntools] = tool }
    cps[key, tool] = cps[key, tool] " " field("checks_per_cpu_s")
    ccps[key, tool] = ccps[key, tool] " " field("checker_checks_per_cpu_s")
    rate[key, tool] = rate[key, tool] " " field("checks_per_s")
    cpu[key, tool] = cpu[key, tool] " " field("cpu_pct")
    rss[key, tool] = rss[key, tool] " " field("rss_kib")
    j50[key, tool] = j50[key, tool] " " field("jitter_ms_p50")
    j99[key, tool] = j99[key, tool] " " field("jitter_ms_p99") }
  END {
    printf "%-11s %-10s %9s %9s %13s %14s %10s %9s %13s\n", "kind reals", "tool", "checks/s", "CPU %", "checks/CPU-s", "(checker only)", "RSS KiB", "B/real", "jitter p50/p99 ms"
    for (key in keys) {
      split(key, kr, " ")
      for (t = 1; t <= ntools; t++) { tool = tools[t]
        printf "%-11s %-10s %9.0f %9.1f %13.0f %14.0f %10.0f %9.0f %8.1f/%.1f\n", key, tool, median(rate[key, tool]), median(cpu[key, tool]), median(cps[key, tool]), median(ccps[key, tool]), median(rss[key, tool]), median(rss[key, tool]) * 1024 / kr[2], median(j50[key, tool]), median(j99[key, tool]) }
      kc = median(cps[key, "keepalived"])
      for (t = 1; t <= ntools; t++) { tool = tools[t]; if (tool !~ /^tandem/) continue
        tc = median(cps[key, tool])
        if (tc > 0 && kc > 0) printf "%-11s ratio      checks per CPU-second: %s %.1fx keepalived (all processes), %.1fx (checker child alone)\n", key, tool, tc / kc, tc / median(ccps[key, "keepalived"]) }
    }
  }' "$work/results.txt"
