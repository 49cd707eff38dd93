#!/usr/bin/env bash
# Sets up anju and runs the main job on the bundled example workbooks:
# copies workbooks/examples/ to out/, recalculates every workbook there in batch,
# and writes the summary (out/汇总表.xlsx, .csv) and per-file results (out/结果.json).
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3}
[ -x .venv/bin/python ] || "$PYTHON" -m venv .venv
.venv/bin/pip install -q -e .
rm -rf out && mkdir -p out && cp -R workbooks/examples/. out/
.venv/bin/anju batch out --recursive --force --summary out/汇总表.xlsx --json out/结果.json
echo "完成：结果在 out/ 目录（汇总表.xlsx、汇总表.csv、结果.json 和重新计算后的工作簿）。"
