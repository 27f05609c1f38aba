#!/usr/bin/env bash
# The project's test command: prepares the test environment, runs each criterion bench once
# (so they never rot), then every unit and integration test.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup-test-env.sh
cargo test --benches "$@"
cargo test --lib --bins --tests "$@"
