#!/usr/bin/env bash
# Pack every published package as npm would see it and check each tarball: only dist, bin,
# README.md, CHANGELOG.md, LICENSE and package.json inside, no test files, no workspace:
# versions left, then publint (strict) and arethetypeswrong (the packages are ESM-only).
set -euo pipefail
cd "$(dirname "$0")/.."
packs=$(mktemp -d)
trap 'rm -rf "$packs"' EXIT
pnpm -r --filter './packages/*' --filter './apps/*' pack --pack-destination "$packs" >/dev/null
for tarball in "$packs"/*.tgz; do
  name=$(basename "$tarball")
  if tar tzf "$tarball" | grep -Ev '^package/(dist/.+|bin/[^/]+|README\.md|CHANGELOG\.md|LICENSE|package\.json)$'; then
    echo "check-packages: $name ships files beyond dist, bin, README, CHANGELOG, LICENSE" >&2
    exit 1
  fi
  if tar tzf "$tarball" | grep -E '\.test\.|test-support|test-fixture|tsbuildinfo'; then
    echo "check-packages: $name ships test files" >&2
    exit 1
  fi
  if tar xzf "$tarball" -O package/package.json | grep -q '"workspace:'; then
    echo "check-packages: $name still has workspace: versions" >&2
    exit 1
  fi
  # The source condition points into src/, which is not shipped: publishConfig.exports drops it.
  if tar xzf "$tarball" -O package/package.json | grep -q '@socketserver/source'; then
    echo "check-packages: $name still exports the @socketserver/source condition" >&2
    exit 1
  fi
  publint run "$tarball" --strict
  attw "$tarball" --profile esm-only
  echo "check-packages: $name ok"
done
