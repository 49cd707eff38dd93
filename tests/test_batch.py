"""`anju batch` as a real process on real workbooks: statuses, nothing damaged, Ctrl-C safety, summary."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import openpyxl
import pytest

from engine.plugins import catalog
from engine.workbook.fill import fill_workbook
from engine.workbook.reader import read_workbook
from engine.workbook.template import write_template
from engine.workbook.xlsxpatch import open_package

ANJU = str(Path(sys.executable).parent / "anju")
PACK = "henan-2020-old-community"


@pytest.fixture(scope="module")
def filled(tmp_path_factory) -> Path:
    """One filled (not yet recalculated) henan workbook with its golden inputs."""
    pack = catalog().pack(PACK)
    path = tmp_path_factory.mktemp("source") / "filled.xlsx"
    write_template(pack, path)
    fill_workbook(path, pack, pack.golden[0]["inputs"], meta={"region": "驻马店市", "project": "老旧小区改造", "year": "2020"})
    return path


def run_batch(*args, **kwargs):
    return subprocess.run([ANJU, "batch", *map(str, args)], capture_output=True, text=True, timeout=300, **kwargs)


def test_batch_statuses_and_summary(tmp_path, filled):
    folder = tmp_path / "各县"
    (folder / "西平县").mkdir(parents=True)
    good = [folder / "遂平县.xlsx", folder / "西平县" / "西平县.xlsx"]
    for path in good:
        shutil.copy(filled, path)
    unchanged = folder / "上蔡县.xlsx"
    shutil.copy(filled, unchanged)
    assert subprocess.run([ANJU, "recalc", str(unchanged)], capture_output=True).returncode == 0
    corrupted = folder / "损坏.xlsx"
    corrupted.write_bytes(filled.read_bytes()[:3000])
    locked = folder / "正在编辑.xlsx"
    shutil.copy(filled, locked)
    (folder / "~$正在编辑.xlsx").write_bytes(b"lock")
    before = {p: p.read_bytes() for p in [unchanged, corrupted, locked]}

    summary = tmp_path / "汇总表.xlsx"
    result = run_batch(folder, "--recursive", "--jobs", "2", "--summary", summary, "--json", tmp_path / "r.json")
    assert result.returncode == 1, result.stderr            # the corrupted file fails the batch
    assert "Traceback" not in result.stderr

    records = {Path(r["path"]).name: r for r in json.loads((tmp_path / "r.json").read_text("utf-8"))["files"]}
    assert records["遂平县.xlsx"]["status"] == "recalculated" and records["遂平县.xlsx"]["total"] == "98.1"
    assert records["西平县.xlsx"]["status"] == "recalculated"
    assert records["上蔡县.xlsx"]["status"] == "unchanged"
    assert records["损坏.xlsx"]["status"] == "failed" and "不是有效的 Excel 工作簿" in records["损坏.xlsx"]["message"]
    assert records["正在编辑.xlsx"]["status"] == "skipped" and "锁文件" in records["正在编辑.xlsx"]["message"]
    assert "~$正在编辑.xlsx" not in records
    for path, data in before.items():
        assert path.read_bytes() == data, f"{path.name} changed"
    for path in good:
        assert read_workbook(path, outputs=True).outputs["out_total"] is not None

    sheet = openpyxl.load_workbook(summary)["汇总表"]
    rows = list(sheet.iter_rows(values_only=True))
    header = rows[0]
    statuses = {Path(row[header.index("文件")]).name: row[header.index("状态")] for row in rows[1:]}
    assert statuses == {"遂平县.xlsx": "已重新计算", "西平县.xlsx": "已重新计算", "上蔡县.xlsx": "未变化（跳过）",
                        "损坏.xlsx": "失败", "正在编辑.xlsx": "跳过"}
    ranked = [row for row in rows[1:] if row[0] is not None]
    assert [row[0] for row in ranked] == [1, 1, 1]           # equal totals share the rank
    assert (tmp_path / "汇总表.csv").read_text("utf-8-sig").startswith("排名,地区")

    again = run_batch(folder, "--recursive", "--jobs", "1")   # incremental: nothing left to do
    assert "已重新计算" not in again.stderr.split("\n")[-3]


def test_dry_run_writes_nothing(tmp_path, filled):
    target = tmp_path / "a.xlsx"
    shutil.copy(filled, target)
    result = run_batch(tmp_path, "--dry-run")
    assert result.returncode == 0, result.stderr
    assert target.read_bytes() == filled.read_bytes()


def test_interrupted_batch_leaves_every_file_old_or_new(tmp_path, filled):
    count = 120
    paths = [tmp_path / f"县{i:03d}.xlsx" for i in range(count)]
    for path in paths:
        shutil.copy(filled, path)
    original = filled.read_bytes()
    process = subprocess.Popen([ANJU, "batch", str(tmp_path), "--jobs", "2"], stderr=subprocess.PIPE, text=True)
    seen = 0
    for line in process.stderr:
        if line.startswith("["):
            seen += 1
        if seen >= 15:
            process.send_signal(signal.SIGINT)
            break
    process.communicate(timeout=120)
    assert process.returncode != 0
    old = new = 0
    for path in paths:
        data = path.read_bytes()
        if data == original:
            old += 1
            continue
        open_package(path)                                    # a valid package
        assert read_workbook(path, outputs=True).outputs["out_total"] is not None
        new += 1
    assert new >= 15 and old + new == count
    assert not list(tmp_path.glob(".~anju-*"))
