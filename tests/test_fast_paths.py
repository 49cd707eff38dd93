"""Proposed tests for the fast paths of the reader and patcher (performance work, issue 3/5).

* ``SheetXml`` decodes cells straight from the sheet XML: every cell it answers for must equal
  what python-calamine returns (value and type) and what ``formula_cells`` finds.
* ``patch_package`` patches a package already open; ``DeferredWrites`` stages files and puts
  them in place together, leaving a file alone when it was locked or changed meanwhile.
* ``patch_cells(full_calc_on_load=True)`` asks Excel to recalculate on open; the default does not.
"""

from __future__ import annotations

import datetime as dt
import io
import re
import shutil
import time
import zipfile
from pathlib import Path

import openpyxl
import python_calamine
import pytest

from engine.plugins import catalog
from engine.workbook import reader as R
from engine.workbook.fill import fill_workbook
from engine.workbook.template import write_template
from engine.workbook.xlsxpatch import DeferredWrites, open_package, patch_cells, patch_package

CATALOG = catalog()


def varied_workbook(path: Path) -> Path:
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.title = "值"
    formats = ["General", "0", "0.00", "#,##0", "0%", "0.00E+00", "# ?/?", "yyyy-mm-dd", "h:mm", "[h]:mm:ss",
               '0.00"%"', "0.####", "@", '"元"#,##0.00', "[Red]0.00", "0.0_);(0.0)", "e"]
    for r, number_format in enumerate(formats, 1):
        for c, value in enumerate([0, 1, -1, 1.5, 45000.75, 1e-7, -0.0], 1):
            ws.cell(r, c, value).number_format = number_format
    texts = ["是", " 前后空格 ", "a\nb", "_x000D_", "&<>\"'", "\u3000全角\u3000", "", "0012", "emoji 😀", "=1+2"]
    for r, text in enumerate(texts, 1):
        ws.cell(r, 10, text)
    ws.cell(1, 11, True)
    ws.cell(2, 11, dt.date(2024, 5, 6))
    ws.cell(3, 11, "=SUM(A1:C3)")
    wb.save(path)
    return path


def assert_matches_calamine(path: Path) -> int:
    package = open_package(path)
    cells = R.FileCells(package, path)
    book = python_calamine.CalamineWorkbook.from_filelike(io.BytesIO(path.read_bytes()))
    decoded = 0
    for sheet in package.sheet_names:
        grid = book.get_sheet_by_name(sheet).to_python(skip_empty_area=False)
        formulas = R.formula_cells(package.xml_part(package.sheet_part(sheet)))
        xml_cells = cells.xml_cells(sheet)
        for r in range(1, len(grid) + 3):
            for c in range(1, max(map(len, grid), default=0) + 3):
                ref = f"{R._column_letters(c)}{r}"
                cell = xml_cells.cell(ref)
                if cell is None:
                    continue
                want = grid[r - 1][c - 1] if r <= len(grid) and c <= len(grid[r - 1]) else ""
                assert (cell[0] == want and type(cell[0]) is type(want)) or (cell[0] == "" and want in ("", None)), \
                    (sheet, ref, cell, want)
                assert cell[1] == formulas.get(ref), (sheet, ref, cell, formulas.get(ref))
                decoded += 1
    return decoded


def test_xml_cells_match_calamine_on_varied_workbooks(tmp_path):
    varied = varied_workbook(tmp_path / "varied.xlsx")
    assert assert_matches_calamine(varied) > 100
    pack = CATALOG.pack("hejing-2022-third-party")
    template = tmp_path / "t.xlsx"
    write_template(pack, template)
    fill_workbook(template, pack, pack.golden[0]["inputs"])
    assert assert_matches_calamine(template) > 1000


def test_defined_names_are_parsed_once_per_package(tmp_path):
    pack = CATALOG.pack("hejing-2022-third-party")
    path = tmp_path / "t.xlsx"
    write_template(pack, path)
    package = open_package(path)
    names = package.defined_names()
    names["mutated"] = ("x", "A1")
    assert "mutated" not in package.defined_names()   # a copy each time


def test_deferred_writes_skip_files_locked_or_changed_meanwhile(tmp_path):
    pack = CATALOG.pack("hejing-2022-third-party")
    source = tmp_path / "source.xlsx"
    write_template(pack, source)
    files = [tmp_path / f"f{i}.xlsx" for i in range(3)]
    for path in files:
        shutil.copy(source, path)
    original = source.read_bytes()
    deferred = DeferredWrites()
    for path in files:
        patch_package(open_package(path), {"基本信息": {"B4": "项目"}}, deferred=deferred)
    assert len(list(tmp_path.glob(".~anju-*"))) == 3 and all(p.read_bytes() == original for p in files)
    (tmp_path / "~$f1.xlsx").write_bytes(b"lock")
    later = time.time_ns() + 10**9
    import os
    os.utime(files[2], ns=(later, later))
    failed = deferred.commit()
    assert set(failed) == {files[1], files[2]}
    assert files[0].read_bytes() != original and files[1].read_bytes() == original
    assert not list(tmp_path.glob(".~anju-*"))


def test_full_calc_on_load_is_asked_only_on_request(tmp_path):
    wb = openpyxl.Workbook()
    wb.active["A1"], wb.active["B1"] = 1, "=A1*2"
    wb.calculation.fullCalcOnLoad = False
    plain, asked = tmp_path / "plain.xlsx", tmp_path / "asked.xlsx"
    wb.save(plain)
    wb.save(asked)
    patch_cells(plain, {"Sheet": {"A1": 5}})
    patch_cells(asked, {"Sheet": {"A1": 5}}, full_calc_on_load=True)

    def calc(path):
        return re.findall(rb"<calcPr[^>]*>", zipfile.ZipFile(path).read("xl/workbook.xml"))
    assert calc(plain) == [b'<calcPr calcId="124519" fullCalcOnLoad="0"/>']
    assert calc(asked) == [b'<calcPr calcId="124519" fullCalcOnLoad="1"/>']
