"""``anju template --button``: the real template as a macro-enabled workbook, read back by
olevba (a separate process), openpyxl and the zip; and ``anju recalc`` on it leaves the
VBA project and the buttons byte for byte."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import zipfile
from pathlib import Path

import openpyxl
import pytest
import xlwings
from click.testing import CliRunner
from lxml import etree

from button_scenarios import BY_NAME, anju_recalc, button_workbook
from engine.button import xlsm
from engine.button.build import BUTTON_CELLS
from engine.cli import main
from workbook_support import raw_members, sheet_parts

PACK = "hejing-2022-third-party"
X = "{urn:schemas-microsoft-com:office:excel}"
MAIN = "{http://schemas.openxmlformats.org/spreadsheetml/2006/main}"


@pytest.fixture(scope="module")
def template(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("button-template") / "评价模板.xlsm"
    result = CliRunner().invoke(main, ["template", "--pack", PACK, "--button", "-o", str(path),
                                       "--interpreter", r"D:\anju\python\python.exe"], obj={})
    assert result.exit_code == 0, result.output
    assert "已生成模板" in result.output
    return path


def members(path: Path) -> dict[str, bytes]:
    with zipfile.ZipFile(path) as archive:
        return {name: archive.read(name) for name in archive.namelist()}


def test_the_workbook_is_macro_enabled(template):
    parts = members(template)
    types = parts["[Content_Types].xml"].decode()
    assert 'ContentType="application/vnd.ms-excel.sheet.macroEnabled.main+xml"' in types
    assert 'PartName="/xl/vbaProject.bin" ContentType="application/vnd.ms-office.vbaProject"' in types
    assert parts["xl/vbaProject.bin"][:8] == bytes.fromhex("D0CF11E0A1B11AE1")
    assert "relationships/vbaProject" in parts["xl/_rels/workbook.xml.rels"].decode()


def test_olevba_extracts_exactly_the_committed_sources(template):
    run = subprocess.run([sys.executable, "-m", "oletools.olevba", "-j", "--attr", str(template)],
                         capture_output=True, text=True, timeout=300, check=True)
    report = [item for item in json.loads(run.stdout) if item.get("type") == "OpenXML"]
    modules = {m["vba_filename"]: m["code"] for m in report[0]["macros"]}
    sheets = openpyxl.load_workbook(template).sheetnames
    assert list(modules) == (["ThisWorkbook.cls"] + [f"Sheet{i}.cls" for i in range(1, len(sheets) + 1)]
                             + ["xlwings.bas", "Dictionary.cls", "AnjuButton.bas"])

    def normal(text):
        return text.replace("\r\n", "\n").rstrip("\n")

    assert normal(modules["AnjuButton.bas"]) == normal(xlsm.ANJU_BUTTON_BAS.read_text(encoding="ascii"))
    installed = Path(xlwings.__file__).parent
    assert normal(modules["xlwings.bas"]) == normal((installed / "xlwings.bas").read_text(encoding="ascii"))
    # the class module's code (its attribute header differs between .cls export and stream form)
    code = [line for line in normal(modules["Dictionary.cls"]).split("\n") if not line.startswith("Attribute VB_")]
    exported = normal((installed / "addin" / "Dictionary.cls").read_text(encoding="ascii")).split("\n")
    assert code == [line for line in exported[4:] if not line.startswith("Attribute VB_")]
    version = re.search(r'XLWINGS_VERSION As String = "([^"]+)"', modules["xlwings.bas"]).group(1)
    assert version == xlsm.PINNED_XLWINGS_VERSION == xlwings.__version__


def test_the_buttons_are_bound_to_the_macro(template):
    parts = members(template)
    by_sheet = sheet_parts(template)
    for sheet, cell in BUTTON_CELLS.items():
        part = by_sheet[sheet]
        root = etree.fromstring(parts[part])
        legacy = root.find(f"{MAIN}legacyDrawing")
        assert legacy is not None, sheet
        rels = etree.fromstring(parts[part.replace("worksheets/", "worksheets/_rels/") + ".rels"])
        target = next(r.get("Target") for r in rels if r.get("Id") == legacy.get(
            "{http://schemas.openxmlformats.org/officeDocument/2006/relationships}id"))
        vml = etree.fromstring(parts["xl/" + target.replace("../", "")])
        buttons = [d for d in vml.iter(f"{X}ClientData") if d.get("ObjectType") == "Button"]
        assert len(buttons) == 1, sheet
        assert buttons[0].findtext(f"{X}FmlaMacro") == "[0]!AnjuRecalculate"
        assert "重新计算" in etree.tostring(vml, encoding="unicode")


def test_the_xlwings_conf_sheet(template):
    wb = openpyxl.load_workbook(template)
    conf = wb[xlsm.CONF_SHEET_NAME]
    assert conf.sheet_state == "veryHidden"
    settings = {conf.cell(r, 1).value: conf.cell(r, 2).value for r in range(1, conf.max_row + 1)}
    assert settings["Interpreter_Win"] == r"D:\anju\python\python.exe"
    assert settings["USE UDF SERVER"] == "False" and settings["ADD_WORKBOOK_TO_PYTHONPATH"] == "False"
    assert wb.active.title != xlsm.CONF_SHEET_NAME


def test_button_template_needs_xlsm(tmp_path):
    result = CliRunner().invoke(main, ["template", "--pack", PACK, "--button", "-o", str(tmp_path / "t.xlsx")], obj={})
    assert result.exit_code == 2 and ".xlsm" in result.output


def test_anju_recalc_keeps_the_vba_project_and_the_buttons_byte_identical(tmp_path):
    source = button_workbook(BY_NAME["golden"], tmp_path / "填报.xlsm")
    recalculated = anju_recalc(source)
    before, after = raw_members(source), raw_members(recalculated)
    assert set(before) == set(after)
    changed = {name for name in before if before[name] != after[name]}
    by_sheet = sheet_parts(source)
    assert changed == {by_sheet["评分表"], by_sheet["汇总"]}        # only the sheets with output cells
    for name in before:
        if name == "xl/vbaProject.bin" or name.endswith((".vml", ".rels")) or name == "[Content_Types].xml":
            assert after[name] == before[name], name
    old, new = members(source), members(recalculated)
    for sheet in BUTTON_CELLS:
        part = by_sheet[sheet]
        for tag in ("legacyDrawing", "sheetPr"):
            a = re.search(rb"<(?:\w+:)?%s\b[^>]*>" % tag.encode(), old[part]).group(0)
            b = re.search(rb"<(?:\w+:)?%s\b[^>]*>" % tag.encode(), new[part]).group(0)
            assert a == b, (sheet, tag)
    assert members(recalculated)["xl/vbaProject.bin"] == xlsm.build_vba_project_bin(
        [f"Sheet{i}" for i in range(1, len(openpyxl.load_workbook(source).sheetnames) + 1)])


def test_a_live_template_can_have_the_button_too(tmp_path):
    from button_scenarios import CATALOG, formula_outputs
    from engine.button.build import write_button_template
    from engine.workbook import names as N

    path = write_button_template(CATALOG.pack(PACK), tmp_path / "实时.xlsm", live=True)
    formulas = formula_outputs(path)
    assert N.OUT_TOTAL in formulas and N.OUT_GRADE in formulas
    assert "xl/vbaProject.bin" in members(path)
