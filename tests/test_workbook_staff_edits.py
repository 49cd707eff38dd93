"""Staff-style edits: rows inserted above the table, hidden columns, sheets reordered.
Reading goes through the defined names, so the recalculation stays correct and
messages name the cells where they are now.

Excel shifts defined names, merged ranges and validations when a row is
inserted; openpyxl's ``insert_rows`` does not, so ``insert_rows_like_excel``
does what Excel does for the parts the tests rely on."""

from __future__ import annotations

import re

import openpyxl

from engine.plugins import catalog
from engine.scoring import evaluate
from engine.workbook import names as N
from engine.workbook.recalc import recalc_file
from engine.workbook.template import SHEET_CHECKS, SHEET_SCORES, SHEET_SURVEY, build_template
from workbook_support import compare, destination, expected_results, fill, put, read_results

CATALOG = catalog()


def _shift_ref(ref: str, at: int, amount: int) -> str:
    def one(match):
        col_abs, col, row_abs, row = match.groups()
        row = int(row)
        return f"{col_abs}{col}{row_abs}{row + amount if row >= at else row}"
    return re.sub(r"(\$?)([A-Z]{1,3})(\$?)(\d+)", one, ref)


def insert_rows_like_excel(wb, sheet: str, at: int, amount: int = 1) -> None:
    ws = wb[sheet]
    merged = [r for r in ws.merged_cells.ranges]
    for cell_range in merged:
        ws.merged_cells.remove(cell_range)
    ws.insert_rows(at, amount)
    for cell_range in merged:
        if cell_range.min_row >= at:
            cell_range.shift(row_shift=amount)
        ws.merged_cells.add(cell_range)
    quoted = re.escape(f"'{sheet}'!")
    for name in list(wb.defined_names):
        defined = wb.defined_names[name]
        text = defined.attr_text
        if re.match(quoted, text):
            prefix, _, ref = text.partition("!")
            defined.attr_text = f"{prefix}!{_shift_ref(ref, at, amount)}"
    for validation in ws.data_validations.dataValidation:
        validation.sqref = openpyxl.worksheet.cell_range.MultiCellRange(
            _shift_ref(str(validation.sqref), at, amount))


def test_inserted_rows_hidden_columns_reordered_sheets(tmp_path):
    pack = CATALOG.pack("hejing-2022-third-party")
    inputs = pack.golden[0]["inputs"]
    wb = build_template(pack)
    before = destination(wb, N.input_name("C101", "actual"))
    insert_rows_like_excel(wb, SHEET_SCORES, 1, 2)          # two rows above the table (a heading added by staff)
    wb[SHEET_SCORES]["A1"] = "XX县住房和城乡建设局（盖章）"
    insert_rows_like_excel(wb, SHEET_SURVEY, 3, 1)           # and one above the survey blocks
    for letter in ("C", "K", "L"):                           # hidden columns, including the score column
        wb[SHEET_SCORES].column_dimensions[letter].hidden = True
    wb.move_sheet(SHEET_CHECKS, offset=-5)                   # 校验 first
    wb.move_sheet(SHEET_SCORES, offset=3)                    # 评分表 last
    fill(wb, pack, inputs)
    after = destination(wb, N.input_name("C101", "actual"))
    assert int(after[1][1:]) == int(before[1][1:]) + 2
    path = tmp_path / "改过的模板.xlsx"
    wb.save(path)

    report = recalc_file(path, CATALOG)
    assert report.status == "recalculated", report.messages
    assert compare(read_results(path, pack), expected_results(pack, evaluate(pack, inputs))) == []
    # the staff's own cell is still there
    assert openpyxl.load_workbook(path)[SHEET_SCORES]["A1"].value == "XX县住房和城乡建设局（盖章）"

    # a problem is reported at the cell where it is now
    wb = openpyxl.load_workbook(path)
    put(wb, N.input_name("C101", "actual"), "六个")
    wb.save(path)
    report = recalc_file(path, CATALOG)
    assert report.status == "failed"
    assert f"{SHEET_SCORES}!{after[1]}：指标C101的“" in report.messages[0] and "六个" in report.messages[0]
