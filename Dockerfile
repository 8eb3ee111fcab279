# syntax=docker/dockerfile:1
#
# dfns-hsm as a container: `docker build -t dfns-hsm .` from the repository root.
# The image holds the dfns-hsm binary and nothing of any HSM vendor: mount the vendor's PKCS#11
# client library and its configuration, the PIN and token files, and the config
# (/etc/dfns-hsm/serve.toml). See docs/SERVICE.md and deploy/k8s/README.md.
#
#   docker run --rm --read-only -v /opt/cloudhsm:/opt/cloudhsm:ro \
#       -v "$PWD/etc:/etc/dfns-hsm:ro" -v dfns-hsm-run:/run/dfns-hsm dfns-hsm
#
# Pin both base images by digest (FROM image@sha256:...) for reproducible builds.

# --- build ----------------------------------------------------------------------------------
FROM rust:1-bookworm AS build
WORKDIR /src
# The whole workspace: cargo needs every member's manifest (emulator/, testkit/, bench/,
# tests/faulty-pkcs11/) to read Cargo.lock, even to build one binary.
COPY . .
# The caches need BuildKit (the default builder of current Docker). The binary is copied out
# of the cached target directory in the same step.
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/src/target \
    cargo build --release --locked -p dfns-hsm --bin dfns-hsm \
    && install -D -m 0755 target/release/dfns-hsm /out/dfns-hsm

# --- run ------------------------------------------------------------------------------------
# glibc, not musl or a static image: the binary loads the vendor's PKCS#11 library with
# dlopen, and those libraries are built for glibc (the Luna client is glibc-only).
FROM debian:bookworm-slim
# ca-certificates only: the Dfns API is reached over https with the system's roots.
RUN apt-get update \
    && apt-get install -y --no-install-recommends ca-certificates \
    && rm -rf /var/lib/apt/lists/*
# A fixed UID/GID, so that mounted PIN and token files (mode 0600) can be owned by it and
# Kubernetes' runAsUser can name it.
RUN groupadd --system --gid 10001 dfns-hsm \
    && useradd --system --uid 10001 --gid 10001 --no-create-home --home-dir /nonexistent \
        --shell /usr/sbin/nologin dfns-hsm \
    && install -d -o 10001 -g 10001 -m 0750 /run/dfns-hsm \
    && install -d -o root -g 10001 -m 0750 /etc/dfns-hsm
COPY --from=build /out/dfns-hsm /usr/local/bin/dfns-hsm

# /run/dfns-hsm: a unix socket listener's directory, owned by the service user and writable by
# no one else (the service refuses anything looser). A named volume mounted there starts as
# this directory; a host directory mounted there must be owned by UID 10001, mode 0750 or 0700.
# 8700: the usual TCP listener; it exists only when the config has a [[listen]] for it.
EXPOSE 8700
ENV DFNS_HSM_LOG=info \
    DFNS_HSM_LOG_FORMAT=json

# No HEALTHCHECK. Docker runs a health check as a command inside the container, and this image
# has no HTTP client (no curl, on purpose); what could be probed depends on the config: a
# unix socket, loopback TCP (which needs client tokens), TLS. Kubernetes probes the pod over
# the network itself (deploy/k8s/deployment.yaml). For plain Docker with a loopback TCP
# listener without TLS, a derived image can add curl and:
#   HEALTHCHECK CMD curl -fsS http://127.0.0.1:8700/healthz || exit 1

USER 10001:10001
# SIGTERM (docker stop) drains in-flight requests within [serve] shutdown_grace_secs (default
# 10 s); give `docker stop` a longer timeout than that (-t 30).
STOPSIGNAL SIGTERM
ENTRYPOINT ["dfns-hsm"]
CMD ["serve", "--config", "/etc/dfns-hsm/serve.toml"]
