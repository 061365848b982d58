#!/usr/bin/env bash
# Optional: build caddy-stata with xcaddy instead of `go build`, to add other
# plugins to the same binary (pass them as extra --with arguments):
#
#   ./xcaddy.sh [--with github.com/other/plugin ...]
#
# The result is ./caddy-stata, the same Caddy version as go.mod.
set -euo pipefail
cd "$(dirname "$0")"
caddy_version=$(go list -m -f '{{.Version}}' github.com/caddyserver/caddy/v2)
module=$(go list -m)
# This module is not published on a proxy; some proxies answer 403 rather
# than 404 for an unknown path, which stops go from falling back, so look it
# up nowhere else than here.
export GOPROXY="${GOPROXY:-https://proxy.golang.org}|off"
export GONOSUMDB="${GONOSUMDB:+$GONOSUMDB,}$module"
export GOFLAGS="${GOFLAGS:+$GOFLAGS }-mod=mod"
exec go tool xcaddy build "$caddy_version" \
	--output ./caddy-stata \
	--with "$module=." "$@"
