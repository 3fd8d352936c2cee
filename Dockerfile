# Dockerfile — robdns in a container: a build stage compiles the extension into a
# virtualenv, the runtime stage carries only that virtualenv and runs as a non-root user.
#   docker build -t robdns . && docker run --rm -p 53:53/udp -p 53:53/tcp robdns
# Port 53 as non-root works because Docker (>= 20.10) sets
# net.ipv4.ip_unprivileged_port_start=0 in the container's network namespace.

FROM debian:bookworm-slim AS build
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
        gcc libc6-dev python3-dev python3-venv libxdp-dev libbpf-dev pkg-config libssl-dev \
        clang \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY . .
RUN python3 -m venv /opt/robdns \
 && /opt/robdns/bin/pip install --no-cache-dir --upgrade pip setuptools wheel Cython \
 && /opt/robdns/bin/pip install --no-cache-dir . \
 && /opt/robdns/bin/robdns check-zone example.com. zones/example.com.zone

FROM debian:bookworm-slim AS runtime
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
        python3 libxdp1 libbpf1 libssl3 \
 && rm -rf /var/lib/apt/lists/* \
 && useradd --system --no-create-home --home-dir /nonexistent --shell /usr/sbin/nologin robdns \
 && install -d -o robdns -g robdns -m 0750 /run/robdns
COPY --from=build /opt/robdns /opt/robdns
COPY dist/robdns.yaml /etc/robdns/robdns.yaml
# zones/example.com.zone is a symlink into the package: copy the file itself.
COPY robdns/data/example.com.zone /etc/robdns/zones/example.com.zone
ENV PATH=/opt/robdns/bin:$PATH
USER robdns
EXPOSE 53/udp 53/tcp
# `ctl status` exits 1 while the configuration or a zone failed to load (the previous
# version keeps serving, but the operator has something to fix).
HEALTHCHECK --interval=30s --timeout=5s CMD ["robdns", "ctl", "-s", "/run/robdns/control.sock", "status"]
ENTRYPOINT ["robdns"]
CMD ["serve", "-c", "/etc/robdns/robdns.yaml"]
