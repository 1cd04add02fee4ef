#!/usr/bin/env bash
# Check the release flow without releasing: in a throwaway clone of HEAD, `changeset version`
# must bring every published package to the version the pending changesets announce and write
# each one's CHANGELOG.md. The working tree is never touched.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT
git clone -q "$root" "$scratch/repo"
ln -s "$root/node_modules" "$scratch/repo/node_modules"
cd "$scratch/repo"
"$root/node_modules/.bin/changeset" version >/dev/null
expected=${1:-0.1.0}
for manifest in packages/*/package.json apps/*/package.json; do
  dir=$(dirname "$manifest")
  version=$(node -p "require('./$manifest').version")
  if [ "$version" != "$expected" ]; then
    echo "check-changesets: $dir would be $version, not $expected" >&2
    exit 1
  fi
  if [ ! -s "$dir/CHANGELOG.md" ]; then
    echo "check-changesets: $dir has no CHANGELOG.md after changeset version" >&2
    exit 1
  fi
done
echo "check-changesets: changeset version brings every package to $expected and writes its CHANGELOG"
