#!/usr/bin/env bash
# Fetches a freely licensed (CC0) IP-to-country database in MaxMind format
# from the npm registry into .cache/geoip/, for development (make run). Prints
# its path. Production deployments bring their own (e.g. GeoLite2-City).
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
dir="$root/.cache/geoip"
db="$dir/country.mmdb"
if [[ -s $db ]]; then echo "$db"; exit 0; fi
command -v npm >/dev/null || { echo "geoip: npm not found; geo enrichment stays off" >&2; exit 1; }
mkdir -p "$dir/pkg"
(cd "$dir/pkg" && npm pack --silent @ip-location-db/geo-whois-asn-country-mmdb >/dev/null 2>&1) || { echo "geoip: npm pack failed" >&2; exit 1; }
tar -xzf "$dir"/pkg/*.tgz -C "$dir/pkg"
found=$(find "$dir/pkg/package" -name '*.mmdb' | head -1)
[[ -n $found ]] || { echo "geoip: no .mmdb in the package" >&2; exit 1; }
mv "$found" "$db"
rm -rf "$dir/pkg"
echo "$db"
