"""Fidelity: anju recalc changes the target cells and nothing else.

The workbook carries a VBA project, a form button bound to a macro (VML), an
x14 cross-sheet drop-down, conditional formatting, comments, an image and a
chart around the score cells. After a recalculation every zip member other
than the edited sheet parts is byte-identical (compressed bytes as stored), and
an edited sheet part differs only inside the target cells."""

from __future__ import annotations

import openpyxl
import pytest

from engine.plugins import catalog
from engine.workbook.recalc import recalc_file
from engine.workbook.template import build_template
from workbook_support import (assert_only_targets_changed, compare, decorate, expected_results, fill,
                              make_macro_workbook, members, read_results, sheet_parts, target_cells)
from engine.scoring import evaluate

CATALOG = catalog()


@pytest.mark.filterwarnings("ignore:Data Validation extension")
def test_feature_rich_macro_workbook_keeps_every_other_byte(tmp_path):
    pack = CATALOG.pack("hejing-2022-third-party")
    inputs = pack.golden[0]["inputs"]
    wb = build_template(pack)
    fill(wb, pack, inputs)
    decorate(wb, pack)
    plain = tmp_path / "plain.xlsx"
    wb.save(plain)
    path = tmp_path / "带按钮的评分表.xlsm"
    make_macro_workbook(plain, path, pack)
    original = path.read_bytes()
    snapshot = tmp_path / "before.xlsm"
    snapshot.write_bytes(original)
    before_members = members(snapshot)
    assert "xl/vbaProject.bin" in before_members
    assert any(b"[0]!AnjuRecalculate" in data for name, data in before_members.items() if name.endswith(".vml"))
    assert any(b"x14:dataValidation" in data for data in before_members.values())
    assert any(name.startswith("xl/media/") for name in before_members)
    assert any(name.startswith("xl/comments") for name in before_members)
    assert sum(name.startswith("xl/charts/") for name in before_members) >= 2

    report = recalc_file(path, CATALOG)
    assert report.status == "recalculated", report.messages
    changed = assert_only_targets_changed(snapshot, path, target_cells(snapshot, pack, CATALOG))
    parts = sheet_parts(snapshot)
    assert parts["评分表"] in changed and parts["汇总"] in changed
    # and the results are right
    result = evaluate(pack, inputs)
    assert compare(read_results(path, pack), expected_results(pack, result)) == []
    # openpyxl still opens it; the VBA project is untouched
    assert members(path)["xl/vbaProject.bin"] == before_members["xl/vbaProject.bin"]
    openpyxl.load_workbook(path, keep_vba=True)


def test_output_cell_holding_a_formula_loses_its_calc_chain_entry(tmp_path):
    """A provincial template whose 总分 cell is a formula: the value replaces the formula, its
    calcChain entry goes, other entries stay, and Excel is asked to recalculate on load."""
    import re
    import zipfile

    from engine.workbook import names as N
    from workbook_support import destination

    pack = CATALOG.pack("xinjiang-2019-transfer")
    wb = build_template(pack)
    fill(wb, pack, pack.golden[0]["inputs"])
    total_sheet, total_ref = destination(wb, N.OUT_TOTAL)
    wb[total_sheet][total_ref] = "=SUM(评分表!L4:L40)"
    _, sum_ref = destination(wb, N.OUT_SCORES_SUM)
    wb.calculation.fullCalcOnLoad = False
    plain = tmp_path / "plain.xlsx"
    wb.save(plain)
    with zipfile.ZipFile(plain) as archive:
        parts = {i.filename: archive.read(i) for i in archive.infolist()}
    workbook_xml = parts["xl/workbook.xml"].decode()
    sheet_id = re.search(rf'<sheet[^>]*name="{total_sheet}"[^>]*sheetId="(\d+)"', workbook_xml).group(1)
    parts["xl/calcChain.xml"] = (
        '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
        '<calcChain xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main">'
        f'<c r="{total_ref}" i="{sheet_id}"/><c r="{sum_ref}"/></calcChain>').encode()
    parts["xl/_rels/workbook.xml.rels"] = parts["xl/_rels/workbook.xml.rels"].replace(
        b"</Relationships>", b'<Relationship Id="rIdChain" Type="http://schemas.openxmlformats.org/officeDocument/2006/'
        b'relationships/calcChain" Target="calcChain.xml"/></Relationships>')
    parts["[Content_Types].xml"] = parts["[Content_Types].xml"].replace(
        b"</Types>", b'<Override PartName="/xl/calcChain.xml" ContentType="application/vnd.openxmlformats-officedocument.'
        b'spreadsheetml.calcChain+xml"/></Types>')
    path = tmp_path / "省级模板.xlsx"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in parts.items():
            archive.writestr(name, data)
    assert b'fullCalcOnLoad="0"' in parts["xl/workbook.xml"]

    report = recalc_file(path, CATALOG)
    assert report.status == "recalculated", report.messages
    after = members(path)
    chain = after["xl/calcChain.xml"].decode()
    assert f'r="{total_ref}"' not in chain and f'r="{sum_ref}"' in chain
    assert b'fullCalcOnLoad="1"' in after["xl/workbook.xml"]
    result = openpyxl.load_workbook(path)[total_sheet][total_ref].value
    assert str(result) == "78.2"


def test_recalc_of_plain_template_changes_only_outputs(tmp_path):
    pack = CATALOG.pack("henan-2020-old-community")
    wb = build_template(pack)
    fill(wb, pack, pack.golden[0]["inputs"])
    path = tmp_path / "河南.xlsx"
    wb.save(path)
    snapshot = tmp_path / "before.xlsx"
    snapshot.write_bytes(path.read_bytes())
    assert recalc_file(path, CATALOG).status == "recalculated"
    changed = assert_only_targets_changed(snapshot, path, target_cells(snapshot, pack, CATALOG))
    # workbook.xml (fullCalcOnLoad already set by the template), styles, shared strings: untouched
    assert all("worksheets/" in name for name in changed)
