#!/usr/bin/env bash
# The cluster profile (ops/cluster.py): two nodes of each kind, each in a network namespace
# of its own, or on loopback addresses where namespaces cannot be made.
#   scripts/cluster.sh up     make the namespaces (prints "namespaces" or "loopback")
#   scripts/cluster.sh down   remove them
#   scripts/cluster.sh run    up, render the configs, supervisord in the foreground; down after
#   scripts/cluster.sh stop   stop a running cluster, then down
# CLUSTER_NS_PREFIX (msg-), CLUSTER_SUBNET (10.77.0: exists only inside the namespaces and on
# the host's one veth), CLUSTER_WEB_PORT (8900, nginx on 127.0.0.1), CLUSTER_LOOPBACK=1 forces
# the fallback.
source "$(dirname "$0")/lib.sh"
cd "$ROOT"
prefix="${CLUSTER_NS_PREFIX:-msg-}"
subnet="${CLUSTER_SUBNET:-10.77.0}"
cstate="${CLUSTER_STATE_DIR:-$STATE/cluster}"
hub="${prefix}lan"

plan() { CLUSTER_NS_PREFIX="$prefix" CLUSTER_SUBNET="$subnet" "$VENV/bin/python" -m ops.cluster plan; }

down() {
  local ns _
  while read -r ns _; do
    [ "$ns" = "${prefix}host" ] && { ip link del "$ns" 2>/dev/null || true; continue; }
    ip netns del "$ns" 2>/dev/null || true
  done < <(plan)
  ip netns del "$hub" 2>/dev/null || true
}

up() {
  if [ "${CLUSTER_LOOPBACK:-0}" = 1 ] || ! ip netns add "${prefix}probe" 2>/dev/null; then
    echo loopback; return
  fi
  ip netns del "${prefix}probe"
  if ip route | grep -q "^$subnet\."; then
    log "$subnet.0/24 is already routed on this host: pick another CLUSTER_SUBNET"; exit 1
  fi
  down
  # One bridge in a namespace of its own joins every node; the host has one veth on it.
  ip netns add "$hub"
  ip -n "$hub" link set lo up
  ip -n "$hub" link add br0 type bridge
  ip -n "$hub" link set br0 up
  local ns addr i=0
  while read -r ns addr; do
    i=$((i + 1))
    if [ "$ns" = "${prefix}host" ]; then
      ip link add "$ns" type veth peer name "p$i" netns "$hub"
      ip addr add "$addr/24" dev "$ns"
      ip link set "$ns" up
    else
      ip netns add "$ns"
      ip -n "$ns" link set lo up
      ip -n "$hub" link add "p$i" type veth peer name eth0 netns "$ns"
      ip -n "$ns" addr add "$addr/24" dev eth0
      ip -n "$ns" link set eth0 up
    fi
    ip -n "$hub" link set "p$i" master br0 up
  done < <(plan)
  # No default route anywhere: a node reaches the subnet and nothing else.
  echo namespaces
}

# Waits until process $1 has exited (a zombie has), at most $2 seconds; fails on the timeout.
wait_gone() {
  local deadline=$((SECONDS + $2))
  while kill -0 "$1" 2>/dev/null && [[ "$(ps -o stat= -p "$1" 2>/dev/null)" != Z* ]]; do
    [ "$SECONDS" -lt "$deadline" ] || return 1
    sleep 0.2
  done
}

# Ends every process left in the cluster's namespaces: TERM, up to 10 s, then KILL; returns
# when none is left.
reap() {
  local ns pids deadline=$((SECONDS + 10)) signal=TERM
  while :; do
    pids=""
    while read -r ns _; do
      [ "$ns" = "${prefix}host" ] && continue
      pids+=" $(ip netns pids "$ns" 2>/dev/null | tr '\n' ' ')"
    done < <(plan)
    [ -z "${pids// /}" ] && return 0
    [ "$SECONDS" -ge "$deadline" ] && signal=KILL
    # shellcheck disable=SC2086 # a list of pids
    kill -"$signal" $pids 2>/dev/null || true
    sleep 0.2
  done
}

ctl() { "$VENV/bin/supervisorctl" -c "$cstate/supervisord.conf" "$@"; }

case "${1:-}" in
  up) up ;;
  down) down ;;
  run)
    mode="$(up)"
    log "cluster on $mode addresses ($( [ "$mode" = namespaces ] && echo "$subnet.0/24 in namespaces ${prefix}*" || echo "127.0.0.x"))"
    trap down EXIT
    args=(--state-dir "$cstate" --web-port "${CLUSTER_WEB_PORT:-8900}" --prefix "$prefix")
    [ "$mode" = namespaces ] && args+=(--subnet "$subnet") || args+=(--loopback --subnet "${CLUSTER_LOOPBACK_SUBNET:-127.0.0}")
    "$VENV/bin/python" manage.py cluster_config "${args[@]}"
    # Centrifugo gets a clean environment anyway; Django processes read .env themselves.
    for var in $(compgen -e | grep '^CENTRIFUGO_'); do unset "$var"; done
    "$VENV/bin/supervisord" -c "$cstate/supervisord.conf"
    ;;
  stop)
    # Every process must be gone before the namespaces are: supervisord stops each program
    # (TERM, then KILL after its stopwaitsecs) and exits only then; anything still in a node's
    # namespace after that (a process that left its program's group) is ended here.
    if [ -S "$cstate/run/supervisor.sock" ] && pid="$(ctl pid 2>/dev/null)" && [ -n "$pid" ]; then
      ctl shutdown >/dev/null || true
      wait_gone "$pid" "${CLUSTER_STOP_TIMEOUT:-150}" || { log "supervisord $pid still runs: killing it"; kill -KILL "$pid" 2>/dev/null || true; }
    fi
    reap
    down
    log "cluster stopped"
    ;;
  *) echo "usage: $0 up|down|run|stop" >&2; exit 2 ;;
esac
