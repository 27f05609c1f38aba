#!/usr/bin/env bash
# Installs what the test suite needs on a fresh Debian machine: the reference Redis server and
# tools (differential tests, redis-cli, redis-benchmark), strace, and a Python venv with redis-py,
# valkey-glide and prometheus_client (whose parser reads /metrics). Safe to re-run: it skips
# what is already there.
set -euo pipefail
cd "$(dirname "$0")/.."

need_apt=()
command -v redis-server >/dev/null || need_apt+=(redis-server)
command -v redis-cli >/dev/null || need_apt+=(redis-tools)
command -v redis-check-rdb >/dev/null || need_apt+=(redis-tools)
python3 -c 'import venv, ensurepip' 2>/dev/null || need_apt+=(python3-venv)
# The AOF test that `appendfsync always` replies only after fdatasync traces the server.
command -v strace >/dev/null || need_apt+=(strace)
# Node.js runs BullMQ (from npm) in the client tests.
command -v npm >/dev/null || need_apt+=(nodejs npm)
if [ ${#need_apt[@]} -gt 0 ]; then
  SUDO=""
  [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${need_apt[@]}" >/dev/null
fi

if [ ! -x .venv/bin/python ] || ! .venv/bin/python -c 'import redis, glide, prometheus_client' 2>/dev/null; then
  python3 -m venv .venv
  .venv/bin/pip install -q --disable-pip-version-check redis valkey-glide prometheus_client
fi
# npm packages for the Node client tests (BullMQ), with the machine's Node.js.
if [ ! -d tests/node/node_modules/bullmq ]; then
  (cd tests/node && npm ci --no-audit --no-fund --silent)
fi
echo "test environment ready: $(redis-server --version | cut -d' ' -f1-3), $(.venv/bin/python -c 'import redis; print("redis-py", redis.__version__)')"
