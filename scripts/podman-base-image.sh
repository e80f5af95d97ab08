#!/usr/bin/env bash
# Build a minimal Debian base image for podman from the Debian mirror apt already uses, for machines that can
# reach a Debian mirror but no container image registry.
#
# Usage: sudo scripts/podman-base-image.sh [IMAGE]        (default IMAGE: localhost/debian-base)
#
# Environment:
#   DEBIAN_SUITE    suite to bootstrap (default: this host's codename, e.g. bookworm)
#   DEBIAN_MIRROR   mirror URL (default: the one apt uses for that suite, else http://deb.debian.org/debian)
#   REBUILD=1       build even if IMAGE already exists
#
# Needs root, debootstrap and podman. The image holds `debootstrap --variant=minbase` (no Python: the project's
# Dockerfile installs it with apt) with apt sources for the suite, its updates and its security archive.
set -euo pipefail

image=${1:-localhost/debian-base}

say() { printf '==> %s\n' "$*" >&2; }
die() { printf 'podman-base-image: %s\n' "$*" >&2; exit 1; }

if podman image exists "$image" && [ "${REBUILD:-0}" != 1 ]; then
    say "base image $image already exists; reusing it (REBUILD=1 to build it again)"
    exit 0
fi

[ "$(id -u)" = 0 ] || die "debootstrap needs root"
command -v debootstrap >/dev/null || die "debootstrap is not installed (apt-get install debootstrap)"

host_codename() {
    # shellcheck disable=SC1091
    (. /etc/os-release && printf '%s' "${VERSION_CODENAME:-}")
}

# The first repository apt knows for a given release name, as apt itself resolved it from its sources.
apt_repo_for() {
    # shellcheck disable=SC2016 # $(...) are apt's placeholders, not the shell's
    apt-get indextargets --format '$(RELEASE) $(IDENTIFIER) $(REPO_URI)' 2>/dev/null \
        | awk -v rel="$1" '$1 == rel && $2 == "Packages" { print $3; exit }'
}

suite=${DEBIAN_SUITE:-$(host_codename)}
[ -n "$suite" ] || suite=bookworm
mirror=${DEBIAN_MIRROR:-$(apt_repo_for "$suite")}
mirror=${mirror:-http://deb.debian.org/debian}
mirror=${mirror%/}
security=$(apt_repo_for "$suite-security")
security=${security:-http://deb.debian.org/debian-security}
security=${security%/}

rootfs=$(mktemp -d "${TMPDIR:-/tmp}/debian-rootfs.XXXXXX")
case $rootfs in ""|/) die "refusing to work on the root file system '$rootfs'" ;; esac
cleanup() { rm -rf --one-file-system "$rootfs"; }
trap cleanup EXIT

say "debootstrap --variant=minbase $suite from $mirror into $rootfs (a few minutes)"
debootstrap --variant=minbase "$suite" "$rootfs" "$mirror" >&2

cat >"$rootfs/etc/apt/sources.list" <<EOF
deb $mirror $suite main
deb $mirror $suite-updates main
deb $security $suite-security main
EOF
# A container needs no manuals, translations or documentation (the licences stay): drop what debootstrap
# installed and keep dpkg from installing more, as Debian's own slim images do.
cat >"$rootfs/etc/dpkg/dpkg.cfg.d/01-container-slim" <<'SLIM'
path-exclude /usr/share/doc/*
path-include /usr/share/doc/*/copyright
path-exclude /usr/share/man/*
path-exclude /usr/share/info/*
path-exclude /usr/share/locale/*
path-include /usr/share/locale/locale.alias
path-exclude /usr/share/lintian/*
SLIM
find "${rootfs:?}/usr/share/doc" -mindepth 1 ! -type d ! -name copyright -delete
find "${rootfs:?}/usr/share/locale" -mindepth 1 -maxdepth 1 ! -name locale.alias -exec rm -rf {} +
rm -rf "${rootfs:?}"/usr/share/man/* "${rootfs:?}"/usr/share/info/* "${rootfs:?}"/usr/share/lintian/*
# Images are rebuilt rather than upgraded in place: no package caches, no index files.
rm -rf "${rootfs:?}"/var/cache/apt/*.bin "${rootfs:?}"/var/cache/apt/archives/*.deb \
    "${rootfs:?}"/var/lib/apt/lists/* "${rootfs:?}"/var/log/*.log

say "importing the root file system as $image"
tar -C "$rootfs" --numeric-owner -c . | podman import --quiet \
    --change 'CMD ["/bin/bash"]' --change 'ENV LANG=C.UTF-8' - "$image" >/dev/null
repository=$image
case ${image##*/} in *:*) repository=${image%:*} ;; esac
podman tag "$image" "$repository:$suite"
say "built $image (also tagged $repository:$suite)"
