#!/usr/bin/env bash
# Every test: installs the system packages first (scripts/setup.sh), then `cargo test`.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
cargo test --all-targets "$@"
cargo test --doc "$@"
