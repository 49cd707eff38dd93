#!/usr/bin/env bash
# Sets up everything the test suite needs on a fresh Debian/Ubuntu machine and runs it.
# LibreOffice (headless Calc with Python-UNO) is a real spreadsheet host for the round-trip,
# live-formula and button tests; it is installed with apt when missing and we are root.
set -euo pipefail
cd "$(dirname "$0")/.."
if ! command -v soffice >/dev/null 2>&1; then
  if [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1; then
    apt-get update -q
    apt-get install -y -q --no-install-recommends libreoffice-calc-nogui libreoffice-script-provider-python python3-uno
  else
    echo "提示：未找到 LibreOffice（soffice），依赖它的测试将被跳过。" >&2
  fi
fi
PYTHON=${PYTHON:-python3}
[ -x .venv/bin/python ] || "$PYTHON" -m venv .venv
.venv/bin/pip install -q -e '.[test]'
exec .venv/bin/python -m pytest "$@"
