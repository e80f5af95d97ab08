# The connector node as a container image, tagged with the package's version (never `latest`).
#
#   docker build -t localhost/connector:0.1.0 .                   # from source, with access to PyPI
#   docker build --build-arg WHEELS=wheels -t localhost/connector:0.1.0 .   # offline, from wheels (see below)
#   docker build --build-arg BASE_IMAGE=localhost/debian-base ...  # any Debian-like base, Python or not
#   podman build --format docker ...                              # podman: its default format drops HEALTHCHECK
#
# Dependencies are installed exactly as requirements.lock pins them, each file checked against its hash (`make
# lock` writes the lock from pyproject.toml), so that two builds of one commit hold the same code. Offline, the
# wheels folder must hold those very files and the project's own wheel:
#   pip wheel -w wheels --require-hashes -r requirements.lock && pip wheel -w wheels --no-deps .
# Wheels must be built by a Python of the same minor version as the image's (3.12 for python:3.12-slim,
# 3.11 for Debian bookworm's python3): binary wheels are specific to it.
ARG BASE_IMAGE=python:3.12-slim

# ---- the base with a Python 3 interpreter (the official python images have one; plain Debian gets its own)
FROM ${BASE_IMAGE} AS python
RUN if ! command -v python3 >/dev/null 2>&1; then \
        apt-get update \
        && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends python3 \
        && rm -rf /var/lib/apt/lists/* /var/cache/apt/*.bin /var/cache/apt/archives/*.deb; \
    fi \
    && python3 -c 'import sys; assert sys.version_info >= (3, 11), "the connector needs Python 3.11 or newer"'

# ---- build stage: a virtual environment in /opt/connector, the only thing the final image takes from here
FROM python AS build
# (labelled so that scripts can tell this stage's leftover images from others)
LABEL org.opencontainers.image.title="connector build stage"
RUN if ! python3 -m venv /tmp/venv-probe >/dev/null 2>&1; then \
        apt-get update \
        && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends python3-venv; \
    fi \
    && rm -rf /tmp/venv-probe
# WHEELS: a folder of the build context holding the connector's wheel and all its dependencies; when set,
# nothing is fetched from a package index.
ARG WHEELS=
COPY . /src
RUN python3 -m venv /opt/connector \
    && if [ -n "$WHEELS" ]; then \
        /opt/connector/bin/pip install --no-cache-dir --no-index --find-links "/src/$WHEELS" \
            --require-hashes -r /src/requirements.lock \
        && /opt/connector/bin/pip install --no-cache-dir --no-index --find-links "/src/$WHEELS" --no-deps connector; \
    else \
        /opt/connector/bin/pip install --no-cache-dir --require-hashes -r /src/requirements.lock \
        && /opt/connector/bin/pip install --no-cache-dir --no-deps /src; \
    fi \
    && /opt/connector/bin/pip check \
    && /opt/connector/bin/connector --version \
    && { /opt/connector/bin/python -m pip uninstall --yes --quiet pip setuptools || true; }
# (the installer and setuptools are not needed at run time)

# ---- final image: the interpreter, the virtual environment, an unprivileged user
FROM python
LABEL org.opencontainers.image.title="connector" \
      org.opencontainers.image.description="A federated data-connector node (Dataspace Protocol 2025-1)" \
      org.opencontainers.image.licenses="Apache-2.0"
COPY --from=build /opt/connector /opt/connector
# The folders compose mounts volumes on (docker-compose.yml: one per party of the demo, and the public one) exist
# and belong to the user, so that fresh volumes take that owner.
RUN (command -v useradd >/dev/null || { echo "useradd is missing from the base image" >&2; exit 1; }) \
    && groupadd --gid 10001 connector \
    && useradd --uid 10001 --gid 10001 --home-dir /home/connector --create-home \
        --shell /usr/sbin/nologin connector \
    && mkdir -p /workspace/public /workspace/authorities/jp /workspace/authorities/eu \
        /workspace/orgs/tokyo-mobility /workspace/orgs/berlin-energy /workspace/orgs/lyon-health /var/lib/connector \
    && chown -R connector:connector /workspace /var/lib/connector
ENV PATH=/opt/connector/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1
USER connector
WORKDIR /home/connector
# The listeners of a node as the demo's compose profile places them (a configuration may choose others): the
# protocol listener (peers, mutual TLS), the data listener (peers, mutual TLS), the management listener (the
# organisation's own tools), and a federation authority's publication service.
EXPOSE 8443 8444 8181 8765
# A node's own health probe, when this container runs a node (CONNECTOR_CONFIG names its configuration, as in
# the compose file); a container that runs no node (an authority, a one-off command) has nothing to report.
HEALTHCHECK --interval=30s --timeout=10s --start-period=60s --retries=3 \
    CMD if [ -n "${CONNECTOR_CONFIG:-}" ]; then connector health --quiet; fi
ENTRYPOINT ["connector"]
CMD ["--help"]
