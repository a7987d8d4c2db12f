#!/bin/sh
# Builds the lstmq binary of the container image: static (no cgo), with no
# local paths (-trimpath) and no symbol tables. The Dockerfile runs this
# script, and so does CI (go test ./internal/cli runs TestServeBinary,
# which builds with it and serves from the result), so both use exactly
# these flags. Run it from the repository's root: sh deploy/build.sh OUT.
set -eu
out=${1:-lstmq}
CGO_ENABLED=0 exec go build -trimpath -ldflags='-s -w' -o "$out" ./cmd/lstmq
