#!/usr/bin/env bash
# The demo's data space across hosts, on one machine: each authority and each organisation in a network namespace
# of its own (its own address and host name, its own folder with only its own keys), and an operator's namespace
# from which the story is driven. Peers reach each other by host name (did:web ids carry those names) over a
# bridge that lives in a namespace of its own too: nothing is added to this machine's own network, and only
# loopback and the namespaces' addresses are used.
#
#   sudo scripts/netns-demo.sh [WORKDIR]     (default: a new folder under /tmp, kept for inspection)
#
# It runs the demo's story (catalogue, negotiation, transfer with seal, the country refusal, usage limits,
# revocation reaching the other hosts by network alone, evidence verified offline), then checks that no party's
# folder holds another party's private key. It exits 0 only if every step behaved. The namespaces, and whatever
# still runs in them, are always removed on exit. PYTHON names an interpreter with the connector installed
# (default: the project's .venv, made with `make venv` if missing).
set -euo pipefail

cd "$(dirname "$0")/.."
if [[ $(id -u) -ne 0 ]]; then
  echo "netns-demo: network namespaces need root (run it with sudo)" >&2
  exit 2
fi
command -v ip >/dev/null || { echo "netns-demo: the 'ip' command (iproute2) is needed" >&2; exit 2; }
if [[ -z ${PYTHON:-} ]]; then  # as `make demo` does: the project's .venv, made on first use
  [[ -x .venv/bin/python ]] || { echo "== making .venv (make venv)"; make venv; }
  PYTHON=$PWD/.venv/bin/python
fi
"$PYTHON" -c 'import connector' 2>/dev/null || { echo "netns-demo: $PYTHON cannot import connector" >&2; exit 2; }

WORKDIR=${1:-$(mktemp -d /tmp/netns-demo.XXXXXX)}
mkdir -p "$WORKDIR"
WORKDIR=$(cd "$WORKDIR" && pwd)
DOMAIN=dataspace.test
SUBNET=10.88.0
PARTIES=(authority-jp authority-eu tokyo-mobility berlin-energy lyon-health operator)
TAG="cds$$"                  # this run's namespaces: cds<pid>-lan, cds<pid>-1 ... (unique, short)
LAN="$TAG-lan"
NAMESPACES=("$LAN")

cleanup() {
  local ns pids
  for ns in "${NAMESPACES[@]}"; do
    pids=$(ip netns pids "$ns" 2>/dev/null || true)
    [[ -n $pids ]] && kill $pids 2>/dev/null || true
  done
  sleep 1
  for ns in "${NAMESPACES[@]}"; do
    pids=$(ip netns pids "$ns" 2>/dev/null || true)
    [[ -n $pids ]] && kill -9 $pids 2>/dev/null || true
    ip netns del "$ns" 2>/dev/null || true
  done
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# Every namespace resolves the same names: a hosts file bind-mounted over /etc/hosts in the private mount
# namespace `ip netns exec` gives each command (nothing under /etc is written).
HOSTS="$WORKDIR/hosts"
{
  echo "127.0.0.1 localhost"
  for i in "${!PARTIES[@]}"; do echo "$SUBNET.$((i + 2)) ${PARTIES[$i]}.$DOMAIN"; done
} >"$HOSTS"

ip netns add "$LAN"
ip -n "$LAN" link set lo up
ip -n "$LAN" link add br0 type bridge
ip -n "$LAN" link set br0 up
for i in "${!PARTIES[@]}"; do
  ns="$TAG-$((i + 1))"
  ip netns add "$ns"
  NAMESPACES+=("$ns")
  ip -n "$ns" link set lo up
  ip link add "v$i" netns "$LAN" type veth peer name eth0 netns "$ns"
  ip -n "$LAN" link set "v$i" master br0 up
  ip -n "$ns" addr add "$SUBNET.$((i + 2))/24" dev eth0
  ip -n "$ns" link set eth0 up
done

# The command prefix that runs a command on a party's host: its namespace, with the shared host names.
prefix() {
  printf '["ip", "netns", "exec", "%s", "sh", "-c", "mount --bind \\"$0\\" /etc/hosts && exec \\"$@\\"", "%s"]' \
    "$1" "$HOSTS"
}
{
  echo "{"
  for i in "${!PARTIES[@]}"; do
    [[ ${PARTIES[$i]} == operator ]] && continue
    [[ $i -gt 0 ]] && echo ","
    printf '  "%s": {"host": "%s.%s", "address": "%s.%d", "run": %s}' \
      "${PARTIES[$i]}" "${PARTIES[$i]}" "$DOMAIN" "$SUBNET" "$((i + 2))" "$(prefix "$TAG-$((i + 1))")"
  done
  echo
  echo "}"
} >"$WORKDIR/hosts.json"

OPERATOR="$TAG-${#PARTIES[@]}"
as_operator() {
  ip netns exec "$OPERATOR" sh -c 'mount --bind "$0" /etc/hosts && exec "$@"' "$HOSTS" "$@"
}
# Long steps run in the background and are waited for, so that Ctrl-C or SIGTERM cleans up at once (bash runs a
# trap only once the foreground command is over).
waited() {
  "$@" &
  wait $!
}

echo "== network namespaces: ${NAMESPACES[*]} (bridge in $LAN, hosts $SUBNET.0/24 under .$DOMAIN)"
"$PYTHON" -m connector demo init --workdir "$WORKDIR/ws" --profile hosts --hosts "$WORKDIR/hosts.json"
echo "== the story, driven from the operator's host ($OPERATOR)"
status=0
waited as_operator "$PYTHON" -m connector demo run --workdir "$WORKDIR/ws" || status=$?
echo "== each party's folder holds only its own keys"
"$PYTHON" -m connector demo check-keys --workdir "$WORKDIR/ws" || status=$?
if [[ $status -eq 0 ]]; then
  echo "netns-demo: every step behaved (workspace and logs in $WORKDIR/ws)"
else
  echo "netns-demo: FAILED (exit status $status; logs in $WORKDIR/ws/logs)" >&2
fi
exit "$status"
