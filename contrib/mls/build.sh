#!/usr/bin/env bash
# Builds static/mls.js, the vendored MLS library (ts-mls and @hpke/core),
# from the exact packages package-lock.json pins (with their registry
# integrity hashes). Same lock, same esbuild: the same bytes.
#   contrib/mls/build.sh          rebuild static/mls.js
#   contrib/mls/build.sh --check  rebuild into a temporary file and fail if
#                                 the vendored file differs (CI runs this)
set -euo pipefail
cd "$(dirname "$0")"

npm ci --ignore-scripts --no-audit --no-fund --silent

vendored=../../static/mls.js
out=$vendored
if [[ ${1:-} == --check ]]; then
    out=$(mktemp --suffix=.js)
    trap 'rm -f "$out"' EXIT
fi

node_modules/.bin/esbuild entry.js --bundle --format=esm --target=es2022 \
    --minify --legal-comments=eof --log-level=warning --outfile="$out"

if [[ $out != "$vendored" ]]; then
    if ! cmp -s "$out" "$vendored"; then
        echo "static/mls.js is not what contrib/mls/build.sh builds from package-lock.json: rebuild it" >&2
        exit 1
    fi
    echo "static/mls.js matches its reproducible build"
fi
