#!/usr/bin/env bash
# The project's test command: prepares the test environment, then runs every test.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup-test-env.sh
cargo test --all-targets "$@"
