# caddy-stata in a container: one static binary on a distroless base, run as
# a user without privileges. By default it runs the demo
# (examples/docker.Caddyfile, with the stand-in for Stata):
#
#   docker build -t caddy-stata .
#   docker run --rm -p 127.0.0.1:8080:8080 caddy-stata
#
# or `docker compose up` (docker-compose.yml). Give your own Caddyfile with
# -v ./Caddyfile:/etc/caddy-stata/Caddyfile:ro. Real Stata is linked against
# the C library and is not in the image: mount it and its licence, and build
# on a base that has glibc, e.g. --build-arg BASE=debian:bookworm-slim.

ARG GO_VERSION=1.26
ARG BASE=gcr.io/distroless/static-debian12:nonroot

FROM golang:${GO_VERSION}-bookworm AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
# CGO_ENABLED=0: a static binary, which needs nothing from the base image.
ENV CGO_ENABLED=0
RUN go build -trimpath -ldflags="-s -w" -o /out/ ./cmd/caddy-stata ./cmd/stata-standin \
	&& mkdir -p /out/data /out/config

FROM ${BASE}
COPY --from=build /out/caddy-stata /out/stata-standin /usr/bin/
COPY examples/docker.Caddyfile /etc/caddy-stata/Caddyfile
# Caddy's data (certificates, its local CA) and config (autosave) folders,
# writable by the user below; mount volumes here to keep them.
COPY --from=build --chown=65532:65532 /out/data /data
COPY --from=build --chown=65532:65532 /out/config /config
ENV XDG_DATA_HOME=/data XDG_CONFIG_HOME=/config
# A numeric user, so that it exists on any base: nonroot in distroless.
USER 65532:65532
# The demo's front door. To serve HTTPS on 80 and 443 as this user, publish
# high ports to them (-p 443:8443) or grant CAP_NET_BIND_SERVICE.
EXPOSE 8080
# No shell or curl in the image: the binary asks the runner's health report
# itself (caddy-stata health [<url>]). With your own Caddyfile, point it at
# a health URL of yours, or turn it off with --no-healthcheck.
HEALTHCHECK --interval=30s --timeout=10s --start-period=10s --retries=3 \
	CMD ["/usr/bin/caddy-stata", "health", "http://localhost:4000/mcp"]
ENTRYPOINT ["/usr/bin/caddy-stata"]
CMD ["run", "--config", "/etc/caddy-stata/Caddyfile", "--adapter", "caddyfile"]
