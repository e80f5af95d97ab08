#!/usr/bin/env bash
# Run the demo's data space as containers with podman and podman-compose, run the story from one container
# against the others, print it, and tear everything down. Exit status 0 only if the story passed.
#
# Usage (from anywhere; as root on a Debian-like machine, like the project's build machines):
#
#   sudo scripts/podman-demo.sh           # the whole round trip
#   sudo scripts/podman-demo.sh --keep    # leave the data space running afterwards, to poke at it
#   sudo scripts/podman-demo.sh --down    # tear down what --keep left running
#
# Environment:
#   BASE_IMAGE         base of the image (default: a local python:3.12-slim image if there is one, otherwise
#                      localhost/debian-base, built with debootstrap from the Debian mirror apt uses)
#   PODMAN_DEMO_TOOLS  where podman-compose and the wheel-building Python go
#                      (default: ${XDG_CACHE_HOME:-~/.cache}/connector-podman-demo)
#
# The steps, each announced as it runs:
#   1. podman, runc (and debootstrap if a base image must be built) from apt, podman-compose from PyPI into a
#      virtual environment of its own, when missing;
#   2. a containers.conf in a temporary folder, named by CONTAINERS_CONF (runc, lower default ulimits);
#   3. the base image, reused when present;
#   4. the project's wheels, built on this machine by a Python of the image's version (containers here cannot
#      reach a package index), then the image, with --build-arg BASE_IMAGE=... --build-arg WHEELS=wheels;
#   5. each node's management API key in a file of a temporary folder (SECRETS_DIR, the compose file's secrets),
#      `podman-compose up -d` (every party makes its own keys in its own volume and onboards over the network),
#      then the story (`podman-compose run story`) once the nodes hold their credentials;
#   6. a check that no party's volume holds another party's private key;
#   7. `podman-compose down -v` and the temporary folder removed, also when a step fails or on Ctrl-C.
#
# Not part of CI: it needs root, a Debian mirror, PyPI, and a few minutes (much less on a second run).
set -euo pipefail

repo=$(cd "$(dirname "$0")/.." && pwd)
project=connector-demo
version=$(sed -n 's/^version = "\(.*\)"$/\1/p' "$repo/pyproject.toml")
image=localhost/connector:$version
tools=${PODMAN_DEMO_TOOLS:-${XDG_CACHE_HOME:-$HOME/.cache}/connector-podman-demo}
keep=0
case ${1:-} in
    "") ;;
    --keep) keep=1 ;;
    --down) ;;
    -h|--help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
    *) echo "usage: $0 [--keep | --down]" >&2; exit 2 ;;
esac

step() { printf '\n==> %s\n' "$*"; }
note() { printf '    %s\n' "$*"; }
die() { printf 'podman-demo: %s\n' "$*" >&2; exit 1; }
is_root() { [ "$(id -u)" = 0 ]; }

# ---- 1. tools ------------------------------------------------------------------------------------------------
need_packages=()
command -v podman >/dev/null || need_packages+=(podman)
command -v runc >/dev/null || need_packages+=(runc)
if [ ${#need_packages[@]} -gt 0 ]; then
    if ! is_root || ! command -v apt-get >/dev/null; then
        die "missing: ${need_packages[*]}; install them (apt-get install ${need_packages[*]}) or run as root"
    fi
    step "installing ${need_packages[*]} with apt-get (system packages)"
    apt-get update -q
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q "${need_packages[@]}"
fi

if command -v podman-compose >/dev/null; then
    compose_bin=$(command -v podman-compose)
else
    compose_bin=$tools/venv/bin/podman-compose
    if [ ! -x "$compose_bin" ]; then
        step "installing podman-compose with pip into $tools/venv (remove that folder to uninstall it)"
        python3 -m venv "$tools/venv"
        "$tools/venv/bin/pip" install --quiet --disable-pip-version-check podman-compose
    fi
fi
note "podman: $(podman --version)"
note "podman-compose: $compose_bin ($("$compose_bin" --version 2>/dev/null | head -n 1))"

# ---- 2. configuration ------------------------------------------------------------------------------------------
work=$(mktemp -d "${TMPDIR:-/tmp}/connector-podman-demo.XXXXXX")
logs=$work/logs
mkdir -p "$logs"
# crun fails on some cgroup layouts and the usual default ulimits can exceed what the host grants.
cat >"$work/containers.conf" <<'EOF'
[containers]
default_ulimits = ["nofile=20000:20000", "nproc=32768:32768"]

[engine]
runtime = "runc"
EOF
export CONTAINERS_CONF=$work/containers.conf
# Each node's management API key, as a compose secret (a file mounted into its container and the story's only).
export SECRETS_DIR=$work/secrets
mkdir -p "$SECRETS_DIR"
for org in tokyo-mobility berlin-energy lyon-health; do
    [ -f "$SECRETS_DIR/$org-api-key" ] || head -c 24 /dev/urandom | base64 >"$SECRETS_DIR/$org-api-key"
done

compose() { (cd "$repo" && "$compose_bin" -f docker-compose.yml -p "$project" "$@"); }

teardown() {
    step "tearing down: podman-compose down -v"
    compose --profile story down -v -t 10 >"$logs/down.log" 2>&1 || note "down reported errors (see $logs/down.log)"
}

if [ "${1:-}" = --down ]; then
    teardown
    rm -rf "$work"
    exit 0
fi

status=1
started=0
# shellcheck disable=SC2329 # run by the EXIT trap
finish() {
    trap - EXIT INT TERM
    if [ "$keep" = 1 ] && [ "$started" = 1 ]; then
        step "the data space keeps running (project $project)"
        note "management APIs: Tokyo 127.0.0.1:${TOKYO_MANAGEMENT_PORT:-8181}," \
            "Berlin 127.0.0.1:${BERLIN_MANAGEMENT_PORT:-8182}, Lyon 127.0.0.1:${LYON_MANAGEMENT_PORT:-8183}"
        note "try: cd $repo && $compose_bin -p $project exec berlin-energy \\"
        note "         connector catalog tokyo-mobility --config /workspace/orgs/berlin-energy/node.toml"
        note "stop it with: $0 --down"
        note "logs of this run: $logs"
    else
        teardown
        if [ "$status" = 0 ]; then rm -rf "$work"; else note "logs of this run are kept in $logs"; fi
    fi
    exit "$status"
}
trap finish EXIT
trap 'note "interrupted"; status=130; keep=0; exit 130' INT TERM

# ---- 3. base image ---------------------------------------------------------------------------------------------
if [ -z "${BASE_IMAGE:-}" ]; then
    if podman image exists docker.io/library/python:3.12-slim; then
        BASE_IMAGE=docker.io/library/python:3.12-slim
    else
        BASE_IMAGE=localhost/debian-base
    fi
fi
step "base image: $BASE_IMAGE"
if ! podman image exists "$BASE_IMAGE"; then
    [ "$BASE_IMAGE" = localhost/debian-base ] \
        || die "$BASE_IMAGE is not present locally; pull it first or unset BASE_IMAGE"
    if ! command -v debootstrap >/dev/null; then
        is_root || die "debootstrap is missing; install it (apt-get install debootstrap) or run as root"
        step "installing debootstrap with apt-get (system package), to build the base image"
        apt-get update -q
        DEBIAN_FRONTEND=noninteractive apt-get install -y -q debootstrap
    fi
    "$repo/scripts/podman-base-image.sh" "$BASE_IMAGE"
else
    note "present; reused"
fi

# ---- 4. wheels and the image -------------------------------------------------------------------------------------
step "finding the image's Python version (the Dockerfile's 'python' stage)"
python_stage=$(cd "$repo" && podman build --quiet --target python --build-arg BASE_IMAGE="$BASE_IMAGE" . 2>"$logs/python-stage.log") \
    || { tail -n 20 "$logs/python-stage.log"; die "building the python stage failed"; }
py=$(podman run --rm --entrypoint python3 "$python_stage" -c 'import sys; print("%d.%d" % sys.version_info[:2])')
note "Python $py"

host_python=$(command -v "python$py" || true)
[ -n "$host_python" ] || die "the image has Python $py but this machine has no python$py to build wheels with"
if [ ! -x "$tools/python-$py/bin/pip" ]; then
    step "creating $tools/python-$py (a virtual environment of $host_python that builds the wheels)"
    "$host_python" -m venv "$tools/python-$py"
fi
step "building the project's wheels into $repo/wheels (pip wheel, on this machine)"
# setuptools builds in the tree's build/ folder, where files deleted from the sources would linger: start clean.
rm -rf "$repo/build" "$repo"/wheels/connector-*.whl
# The dependencies exactly as requirements.lock pins them (the image checks their hashes), then the project's own.
(cd "$repo" && "$tools/python-$py/bin/pip" wheel --quiet --disable-pip-version-check --wheel-dir wheels \
    --require-hashes -r requirements.lock \
    && "$tools/python-$py/bin/pip" wheel --quiet --disable-pip-version-check --wheel-dir wheels --no-deps .) \
    >"$logs/wheels.log" 2>&1 || { tail -n 20 "$logs/wheels.log"; die "pip wheel failed"; }
rm -rf "$repo/build"
note "$(find "$repo/wheels" -name '*.whl' | wc -l) wheels"

step "building $image (podman build --format docker --build-arg BASE_IMAGE=$BASE_IMAGE --build-arg WHEELS=wheels)"
# The docker format keeps the Dockerfile's HEALTHCHECK (podman's default OCI format drops it with a warning).
(cd "$repo" && podman build --format docker --build-arg BASE_IMAGE="$BASE_IMAGE" --build-arg WHEELS=wheels \
    -t "$image" . \
    >"$logs/build.log" 2>&1) || { tail -n 30 "$logs/build.log"; die "podman build failed"; }
note "$(podman run --rm "$image" --version), $(podman image inspect --format '{{.Size}}' "$image" \
    | awk '{ printf "%.0f MB", $1 / 1e6 }')"
# Images of earlier runs that the new one replaced (untagged, with the Dockerfile's labels), and nothing else.
for title in "connector" "connector build stage"; do
    podman image prune --force --filter "label=org.opencontainers.image.title=$title" >/dev/null 2>&1 || true
done

# ---- 5. the data space and the story -------------------------------------------------------------------------------
# The compose file builds from these when an image is missing; here it is already built.
export CONNECTOR_IMAGE=$image BASE_IMAGE WHEELS=wheels

step "removing what an earlier run may have left"
compose --profile story down -v -t 5 >"$logs/down-before.log" 2>&1 || true

step "starting the data space: podman-compose up -d"
started=1
compose up -d >"$logs/up.log" 2>&1 || { tail -n 30 "$logs/up.log"; die "podman-compose up failed"; }

container_of() {
    podman ps -a --filter "label=io.podman.compose.project=$project" \
        --filter "label=com.docker.compose.service=$1" --format '{{.Names}}' | head -n 1
}

show_logs() {
    for service in authority-jp authority-eu tokyo-mobility berlin-energy lyon-health; do
        name=$(container_of "$service")
        [ -n "$name" ] || continue
        podman logs "$name" >"$logs/$service.log" 2>&1 || true
        printf '\n--- %s (last lines; all in %s)\n' "$service" "$logs/$service.log"
        tail -n 15 "$logs/$service.log"
    done
}

step "running the story in its own container: podman-compose run --rm story"
set +e
compose --profile story run --rm -T --no-deps story 2>"$logs/story.stderr"
status=$?
set -e
if [ "$status" != 0 ]; then
    cat "$logs/story.stderr" >&2
    show_logs
    step "the story FAILED (exit status $status)"
    exit "$status"
fi
step "the story passed between containers"

step "checking that no party's volume holds another party's private key"
# Every volume mounted where the demo's layout puts it, read-only, in one container of the same image.
mounts=(--volume "${project}_public:/workspace/public:ro")
for fed in jp eu; do mounts+=(--volume "${project}_authority-$fed:/workspace/authorities/$fed:ro"); done
for org in tokyo-mobility berlin-energy lyon-health; do
    mounts+=(--volume "${project}_$org:/workspace/orgs/$org:ro")
done
set +e
podman run --rm --user 0 "${mounts[@]}" --entrypoint /opt/connector/bin/python "$image" -c '
import sys
from connector.demo.audit import crossings, held_keys
from connector.demo.workspace import derived
ws = derived("/workspace", "compose")
problems = crossings(ws)
print(f"{len(held_keys(ws))} private keys in the volumes; shared: {problems or 0}")
sys.exit(1 if problems else 0)'
status=$?
set -e
[ "$status" = 0 ] || step "a private key is held by two parties (see above)"
exit "$status"
