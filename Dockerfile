# syntax=docker/dockerfile:1
#
# One image for every role: socialscalr (migrate and the admin commands),
# socialscalr-api-server, socialscalr-dispatcher and socialscalr-operator. The Helm chart
# picks the role with each container's `command`.
#
#   docker build -t socialscalr:dev .
#
# The runtime stage has no shell and no package manager: only glibc, the CA certificates
# that outbound HTTPS (webhook receivers) and the Kubernetes client need, and the four
# binaries. SQLite is compiled into the binaries, and TLS is rustls, so nothing else is
# loaded at run time.

ARG RUST_VERSION=1.95

FROM rust:${RUST_VERSION}-bookworm AS build
WORKDIR /src
COPY . .
# The cache mounts keep the registry and the build between image builds on one machine;
# the binaries are copied out of the cached target directory because it is not part of
# the layer.
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/src/target \
    cargo build --release --locked \
        -p socialscalr -p socialscalr-api-server -p socialscalr-dispatcher \
        -p socialscalr-operator \
    && mkdir -p /out \
    && cp target/release/socialscalr target/release/socialscalr-api-server \
        target/release/socialscalr-dispatcher target/release/socialscalr-operator /out/

FROM gcr.io/distroless/cc-debian12:nonroot
COPY --from=build /out/ /usr/local/bin/
# 65532 is the distroless `nonroot` user; numeric, so that `runAsNonRoot` can verify it.
USER 65532:65532
# The API (LISTEN_ADDR) and the metrics and health listener (METRICS_ADDR).
EXPOSE 8080 9090
ENV SOCIALSCALR_LOG_FORMAT=json
CMD ["socialscalr-api-server"]
