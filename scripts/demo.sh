#!/usr/bin/env bash
# The main job on bundled sample images: build vigil (release) and hash every image under
# tests/data/threatexchange/pdq/data with PDQ and pHash, printing CSV records to stdout.
# Those are ThreatExchange's public test photos (BSD licence; LabelMe images keep their
# dataset's terms, see tests/data/README.md). Extra arguments go to `vigil hash`.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
cargo build --release --quiet
exec target/release/vigil hash --algo all "$@" tests/data/threatexchange/pdq/data
