"""Live templates (issue 7): `anju audit` reports a score formula that differs from the compiled one (公式被修改)."""

import subprocess
import sys
from pathlib import Path

from engine.plugins import catalog
from engine.workbook.fill import fill_workbook
from engine.workbook.template import write_template
from engine.workbook.xlsxpatch import Formula, open_package, patch_cells

ANJU = str(Path(sys.executable).parent / "anju")
PACK = "henan-2020-old-community"


def live_filled(tmp_path) -> Path:
    pack = catalog().pack(PACK)
    path = tmp_path / "实时模板.xlsx"
    write_template(pack, path, live=True)
    fill_workbook(path, pack, pack.golden[0]["inputs"])
    return path


def audit(path):
    return subprocess.run([ANJU, "audit", str(path), "--no-write"], capture_output=True, text=True, timeout=120)


def test_untouched_live_template_reports_no_tampering(tmp_path):
    result = audit(live_filled(tmp_path))
    assert "公式被修改" not in result.stdout + result.stderr


def test_edited_score_formula_is_reported_with_its_cell(tmp_path):
    path = live_filled(tmp_path)
    sheet, ref = open_package(path).defined_names()["out_O5_score"]
    patch_cells(path, {sheet: {ref: Formula("10", None)}})      # someone typed full marks over the formula
    result = audit(path)
    assert "公式被修改" in result.stdout
    assert f"{sheet}!{ref}" in result.stdout and "=10" in result.stdout


def test_recalc_restores_an_edited_formula_and_keeps_the_engine_value(tmp_path):
    path = live_filled(tmp_path)
    sheet, ref = open_package(path).defined_names()["out_O5_score"]
    patch_cells(path, {sheet: {ref: Formula("10", None)}})
    assert subprocess.run([ANJU, "recalc", str(path)], capture_output=True).returncode == 0
    assert "公式被修改" not in audit(path).stdout
    formula = open_package(path).cell_formula(sheet, ref)
    assert formula is not None and formula != "10"
