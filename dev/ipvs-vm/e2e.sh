#!/usr/bin/env bash
# End-to-end scenario for tandem + a real IPVS kernel. Runs INSIDE the IPVS VM (as root):
#
#   dev/ipvs-vm/run.sh dev/ipvs-vm/e2e.sh <path to the tandem binary>
#
# (tests/ipvs_e2e.rs does exactly this from `cargo test`.) Namespaces: client (10.77.0.10) and
# director (eth0 10.77.0.1, VIP 10.77.0.100 via VRRP; eth1 10.78.0.1) on LAN A, the director and
# three HTTP servers (reals 10.78.0.11/.12, sorry server .13) on LAN B, both LANs bridged in a
# switch namespace. IPVS NAT: the reals route back through the director.
# Prints PASS/FAIL per step and exits non-zero at the first failure, with diagnostics.
set -uo pipefail

tandem=${1:?usage: e2e.sh <tandem binary>}
[[ -x $tandem ]] || { echo "FAIL: tandem binary $tandem is not executable"; exit 2; }
command -v ipvsadm >/dev/null || { echo "FAIL: ipvsadm missing (apt package ipvsadm)"; exit 2; }
command -v curl >/dev/null || { echo "FAIL: curl missing (apt package curl)"; exit 2; }
py=/usr/bin/python3
[[ -x $py ]] || { echo "FAIL: $py missing"; exit 2; }

work=$(mktemp -d /tmp/tandem-e2e.XXXXXX)
sock=$work/tandem.sock
log=$work/tandem.log
tandem_pid=
declare -A server_pid=()

D() { ip netns exec e2e-dir "$@"; }
C() { ip netns exec e2e-cli "$@"; }

diagnostics() {
  echo "----- ipvsadm -Ln (director)"; D ipvsadm -Ln 2>&1
  echo "----- ipvsadm -L --daemon"; D ipvsadm -L --daemon 2>&1
  echo "----- tandem status --json"; "$tandem" status -s "$sock" --json 2>&1
  echo "----- tandem log (last 80 lines)"; tail -n 80 "$log" 2>&1
  echo "----- director addresses"; D ip -br addr 2>&1
}
fail() { echo "FAIL: $*"; diagnostics; exit 1; }
pass() { echo "PASS: $*"; }

cleanup() {
  [[ -n $tandem_pid ]] && kill "$tandem_pid" 2>/dev/null
  for p in "${server_pid[@]}"; do kill "$p" 2>/dev/null; done
  for ns in e2e-cli e2e-dir e2e-r11 e2e-r12 e2e-r13 e2e-sw; do ip netns del "$ns" 2>/dev/null; done
}
trap cleanup EXIT

# wait_for <seconds> <description> <command...>: polls every 0.3 s, bounded.
wait_for() {
  local limit=$1 what=$2; shift 2
  local deadline=$((SECONDS + limit))
  while ((SECONDS < deadline)); do
    "$@" >/dev/null 2>&1 && return 0
    sleep 0.3
  done
  fail "$what (not within ${limit}s)"
}

# ---- topology --------------------------------------------------------------------------------
ip link set lo up
for ns in e2e-sw e2e-cli e2e-dir e2e-r11 e2e-r12 e2e-r13; do
  ip netns add "$ns" && ip -n "$ns" link set lo up || fail "create namespace $ns"
done
ip -n e2e-sw link add brA type bridge && ip -n e2e-sw link add brB type bridge
ip -n e2e-sw link set brA up && ip -n e2e-sw link set brB up
# plug <ns> <ifname> <bridge> <address/prefix>
plug() {
  local ns=$1 ifn=$2 br=$3 addr=$4 peer="p-${1#e2e-}-$2"
  ip link add "$peer" type veth peer name "$ifn" netns "$ns" || fail "veth $ns/$ifn"
  ip link set "$peer" netns e2e-sw
  ip -n e2e-sw link set "$peer" master "$br" up
  ip -n "$ns" addr add "$addr" dev "$ifn"
  ip -n "$ns" link set "$ifn" up
}
plug e2e-cli eth0 brA 10.77.0.10/24
plug e2e-dir eth0 brA 10.77.0.1/24
plug e2e-dir eth1 brB 10.78.0.1/24
for n in 11 12 13; do
  plug "e2e-r$n" eth0 brB "10.78.0.$n/24"
  ip -n "e2e-r$n" route add default via 10.78.0.1
done
D sysctl -qw net.ipv4.ip_forward=1 || fail "ip_forward"
D sysctl -qw net.ipv4.vs.conntrack=1 2>/dev/null || true

start_server() {
  local n=$1
  mkdir -p "$work/www$n"
  echo "real-$n" >"$work/www$n/index.html"
  ip netns exec "e2e-r$n" "$py" -m http.server 80 --bind "10.78.0.$n" --directory "$work/www$n" \
    >"$work/www$n.log" 2>&1 &
  server_pid[$n]=$!
  wait_for 30 "HTTP server 10.78.0.$n starts" ip netns exec "e2e-r$n" curl -sf --max-time 2 "http://10.78.0.$n/"
}
stop_server() { kill "${server_pid[$1]}" 2>/dev/null; wait "${server_pid[$1]}" 2>/dev/null; unset "server_pid[$1]"; }
for n in 11 12 13; do start_server "$n"; done
pass "topology: client, director, reals 10.78.0.11/.12, sorry server 10.78.0.13 answer HTTP"

# ---- tandem ------------------------------------------------------------------------------------
write_config() { # write_config <on_shutdown>
  cat >"$work/tandem.yaml" <<YAML
global:
  router_id: e2e-dir
  control_socket: $sock
vrrp_instances:
  - name: VI_1
    interface: eth0
    vrid: 77
    priority: 150
    advert_interval: 100ms
    virtual_addresses: [10.77.0.100/24]
virtual_servers:
  - name: web
    address: 10.77.0.100
    port: 80
    scheduler: rr
    forwarding: nat
    quorum: 1
    sorry_server: 10.78.0.13:80
    check: { type: http, interval: 200ms, timeout: 150ms, rise: 1, fall: 2, path: / }
    real_servers:
      - { address: 10.78.0.11, port: 80, weight: 3 }
      - { address: 10.78.0.12, port: 80, weight: 2 }
  - name: web-quiesce
    address: 10.77.0.100
    port: 8080
    scheduler: wrr
    forwarding: nat
    on_failure: quiesce
    check: { type: http, interval: 200ms, timeout: 150ms, rise: 1, fall: 2, path: / }
    real_servers:
      - { address: 10.78.0.11, port: 80, weight: 3 }
      - { address: 10.78.0.12, port: 80, weight: 2 }
dataplane: ipvs
ipvs:
  reconcile_interval: 1s
  on_shutdown: $1
  sync_daemon: { interface: eth0, sync_id: 7, follow: VI_1 }
YAML
}
start_tandem() {
  # Not through the D function: `D … &` would fork a subshell and $! would not be tandem.
  # `ip netns exec` execs, so $! is the daemon itself and SIGTERM reaches it.
  ip netns exec e2e-dir "$tandem" run -c "$work/tandem.yaml" >>"$log" 2>&1 &
  tandem_pid=$!
  wait_for 60 "VRRP VI_1 becomes MASTER and the VIP is on eth0" \
    bash -c "ip netns exec e2e-dir ip -br addr show dev eth0 | grep -q 10.77.0.100/"
}
stop_tandem() { # SIGTERM, bounded wait
  kill -TERM "$tandem_pid"
  local deadline=$((SECONDS + 30))
  while kill -0 "$tandem_pid" 2>/dev/null && ((SECONDS < deadline)); do sleep 0.2; done
  kill -0 "$tandem_pid" 2>/dev/null && fail "tandem did not exit within 30s of SIGTERM"
  tandem_pid=
}
write_config keep
"$tandem" check -c "$work/tandem.yaml" >"$work/check.out" 2>&1 || { cat "$work/check.out"; fail "tandem check"; }
start_tandem
pass "step 1: tandem runs, VI_1 is MASTER with VIP 10.77.0.100"

# ---- helpers over the kernel table and the client ---------------------------------------------
ipvs_table() { D ipvsadm -Ln; }
# dest_line <port> <real>: the ipvsadm line of destination <real> under service VIP:<port>
dest_line() {
  ipvs_table | awk -v svc="10.77.0.100:$1" -v real="$2" '
    $1 ~ /^(TCP|UDP|SCTP)$/ { in_svc = ($2 == svc) ; next }
    in_svc && $2 == real { print; found = 1 }
    END { exit !found }'
}
has_dest() { dest_line "$1" "$2" >/dev/null; }
dest_weight_is() { dest_line "$1" "$2" | awk -v w="$3" '$3 == "Masq" && $4 == w { ok = 1 } END { exit !ok }'; }
no_dest() { ! has_dest "$1" "$2"; }
has_service() { ipvs_table | grep -Eq "^TCP +10\.77\.0\.100:$1 "; }
no_service() { ! has_service "$1"; }
# answers <port> <count>: distinct bodies over <count> new connections from the client
answers() {
  local i
  for ((i = 0; i < $2; i++)); do C curl -s --max-time 2 "http://10.77.0.100:$1/"; done | sort -u | tr '\n' ' '
}
answers_are() { [[ $(answers "$1" "$2") == "$3" ]]; }
real_state_is() { # real_state_is <vs name> <address> <state>
  "$tandem" status -s "$sock" --json | "$py" -c '
import json, sys
s = json.load(sys.stdin)
vs = next(v for v in s["virtual_servers"] if v["name"] == sys.argv[1])
r = next(r for r in vs["real_servers"] if r["address"] == sys.argv[2])
sys.exit(0 if r["state"] == sys.argv[3] else 1)' "$1" "$2" "$3"
}

# ---- step 2: both reals in the kernel and answering ---------------------------------------------
wait_for 30 "ipvsadm shows 10.77.0.100:80 -> 10.78.0.11:80 Masq weight 3" dest_weight_is 80 10.78.0.11:80 3
wait_for 10 "ipvsadm shows 10.77.0.100:80 -> 10.78.0.12:80 Masq weight 2" dest_weight_is 80 10.78.0.12:80 2
wait_for 10 "ipvsadm shows 10.77.0.100:8080 with both reals" \
  bash -c "$(declare -f ipvs_table dest_line D); dest_line 8080 10.78.0.11:80 && dest_line 8080 10.78.0.12:80"
no_dest 80 10.78.0.13:80 || fail "sorry server is in the table while the service has quorum"
ipvs_table | grep -Eq "^TCP +10\.77\.0\.100:80 rr" || fail "service 10.77.0.100:80 is not rr"
wait_for 30 "client reaches both reals through the VIP" answers_are 80 6 "real-11 real-12 "
"$tandem" status -s "$sock" --json | "$py" -c '
import json, sys
s = json.load(sys.stdin)
assert s["dataplane_connected"] is True, s.get("dataplane_error")' || fail "status: dataplane_connected is not true"
pass "step 2: client gets answers from real-11 and real-12; ipvsadm shows both Masq with weights 3 and 2"

# ---- step 3: one real fails --------------------------------------------------------------------
stop_server 12
wait_for 15 "10.78.0.12 removed from 10.77.0.100:80" no_dest 80 10.78.0.12:80
wait_for 10 "10.78.0.12 quiesced (weight 0) in 10.77.0.100:8080" dest_weight_is 8080 10.78.0.12:80 0
dest_weight_is 8080 10.78.0.11:80 3 || fail "10.78.0.11 in :8080 lost its weight"
wait_for 10 "client reaches only real-11" answers_are 80 6 "real-11 "
wait_for 10 "status shows 10.78.0.12 down" real_state_is web 10.78.0.12 down
pass "step 3: real-12 stopped -> removed from :80, weight 0 in :8080 (quiesce), status down, client only gets real-11"

# ---- step 5: drift repair ----------------------------------------------------------------------
D ipvsadm -D -t 10.77.0.100:80 || fail "ipvsadm -D"
# No "is it gone?" check here: listing takes ~1 s under TCG, longer than reconcile_interval,
# so tandem may already have restored it. ipvsadm -D's exit status proves the deletion.
wait_for 10 "tandem restores 10.77.0.100:80 (reconcile_interval 1s)" dest_weight_is 80 10.78.0.11:80 3
no_dest 80 10.78.0.12:80 || fail "restored service contains the failed real 10.78.0.12"
pass "step 5: service deleted by hand is restored by the reconcile loop"

# ---- step 4: the real comes back ------------------------------------------------------------------
start_server 12
wait_for 15 "10.78.0.12 back in 10.77.0.100:80 with weight 2" dest_weight_is 80 10.78.0.12:80 2
wait_for 10 "10.78.0.12 weight 2 again in :8080" dest_weight_is 8080 10.78.0.12:80 2
wait_for 10 "client reaches both reals again" answers_are 80 6 "real-11 real-12 "
wait_for 10 "status shows 10.78.0.12 up" real_state_is web 10.78.0.12 up
pass "step 4: real-12 back -> in ipvsadm with weight 2, answers again, status up"

# ---- step 6: sorry server on lost quorum -----------------------------------------------------------
stop_server 11
stop_server 12
wait_for 15 "sorry server 10.78.0.13 in 10.77.0.100:80" has_dest 80 10.78.0.13:80
wait_for 10 "reals gone from 10.77.0.100:80" bash -c "$(declare -f ipvs_table dest_line D); ! dest_line 80 10.78.0.11:80 && ! dest_line 80 10.78.0.12:80"
wait_for 10 "client gets the sorry server" answers_are 80 3 "real-13 "
start_server 11
wait_for 15 "10.78.0.11 back in 10.77.0.100:80" dest_weight_is 80 10.78.0.11:80 3
wait_for 10 "sorry server removed once quorum is back" no_dest 80 10.78.0.13:80
wait_for 10 "client gets real-11 again" answers_are 80 3 "real-11 "
start_server 12
wait_for 15 "10.78.0.12 back in 10.77.0.100:80" dest_weight_is 80 10.78.0.12:80 2
pass "step 6: both reals down -> only sorry server 10.78.0.13; one back -> sorry server removed"

# ---- step 7: sync daemon -------------------------------------------------------------------------
wait_for 15 "ipvsadm -L --daemon shows a master sync daemon on eth0 with syncid 7" \
  bash -c "ip netns exec e2e-dir ipvsadm -L --daemon | grep -E 'master sync daemon.*mcast=eth0.*syncid=7'"
pass "step 7: master sync daemon (eth0, syncid 7) runs while VI_1 is MASTER"

# ---- step 8: SIGTERM with on_shutdown keep, then remove ---------------------------------------------
stop_tandem
has_service 80 && has_service 8080 || fail "on_shutdown keep: services gone after SIGTERM"
pass "step 8a: SIGTERM with on_shutdown: keep leaves the services in the kernel"
write_config remove
start_tandem
wait_for 30 "restarted tandem programs both reals" dest_weight_is 80 10.78.0.12:80 2
stop_tandem
no_service 80 && no_service 8080 || fail "on_shutdown remove: services still present after SIGTERM"
pass "step 8b: SIGTERM with on_shutdown: remove deletes the services"

echo "ALL PASS"
