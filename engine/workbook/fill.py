"""Filling a template programmatically (``anju fill``), through the defined names only.

Provincial systems that collect data elsewhere write it into the standard
template this way; the batch benchmark uses it too. Values go in with the
lossless patcher, so a filled template is byte-identical to the template
except for the input cells.
"""

from __future__ import annotations

from decimal import Decimal, InvalidOperation
from pathlib import Path

from python_calamine import CalamineWorkbook

from ..errors import AnjuError
from . import names as N
from .xlsxpatch import open_package, patch_package

BOOL_TEXT = {True: "是", False: "否"}


def cell_value(value):
    """Numbers as numbers, booleans as 是/否, everything else as typed."""
    if isinstance(value, bool):
        return BOOL_TEXT[value]
    if isinstance(value, (int, Decimal)):
        return value
    if isinstance(value, float):
        return Decimal(repr(value))
    if isinstance(value, str):
        try:
            return Decimal(value)
        except InvalidOperation:
            return value
    return value


def first_cell(ref: str) -> str:
    return ref.split(":")[0]


def area_rows(ref: str) -> list[int]:
    import re
    rows = [int(r) for r in re.findall(r"\d+", ref)]
    return list(range(rows[0], rows[-1] + 1))


def fill_workbook(path: Path, pack, inputs: dict, meta: dict | None = None, claims: dict | None = None,
                  out_path: Path | None = None) -> int:
    """Write inputs (shaped as for ``engine.scoring.evaluate``) into a template; returns the number of cells."""
    package = open_package(path)
    names = package.defined_names()
    edits: dict = {}
    answer_rows = None

    def put(name: str, value):
        if name not in names:
            raise AnjuError(f"工作簿 {Path(path).name} 中没有名称 {name}（是否为规则包“{pack.id}”的模板？）")
        sheet, ref = names[name]
        edits.setdefault(sheet, {})[first_cell(ref)] = cell_value(value)

    for field, value in (meta or {}).items():
        put(N.meta_name(field), value)
    for code, raw in inputs.items():
        indicator = pack.indicator(str(code))
        if indicator is None:
            raise AnjuError(f"规则包“{pack.id}”中没有指标“{code}”")
        if isinstance(raw, str):
            put(N.status_name(indicator.code), raw)
            continue
        if raw.get("status"):
            put(N.status_name(indicator.code), raw["status"])
        for spec in indicator.compiled.specs:
            source = raw.get(spec.part) if spec.part else raw
            if not isinstance(source, dict) or source.get(spec.key) is None:
                continue
            value = source[spec.key]
            if spec.kind == "answers":
                answer_rows = answer_rows or AnswerRows(path)
                for sheet, cell, cell_value_ in answer_rows.edits(names[N.spec_name(indicator.code, spec)], value):
                    edits.setdefault(sheet, {})[cell] = cell_value(cell_value_)
                continue
            if spec.kind == "category" and not isinstance(value, bool):
                value = dict(spec.choices).get(value, value)
            put(N.spec_name(indicator.code, spec), value)
    for code, value in (claims or {}).items():
        put(N.claimed_name(code) if code not in ("total", "grade") else
            (N.TOTAL_CLAIMED["claimed"] if code == "total" else N.GRADE_CLAIMED["claimed"]), value)
    patch_package(package, edits, out_path=out_path)   # the package already open: read once
    return sum(len(cells) for cells in edits.values())


class AnswerRows:
    """Finds the row of each survey option inside an ``in_<CODE>_answers`` range."""

    def __init__(self, path: Path):
        self.book = CalamineWorkbook.from_path(str(path))
        self.sheets: dict = {}

    def rows(self, sheet: str) -> list:
        if sheet not in self.sheets:
            self.sheets[sheet] = self.book.get_sheet_by_name(sheet).to_python(skip_empty_area=False)
        return self.sheets[sheet]

    def edits(self, target, answers: dict):
        from openpyxl.utils.cell import column_index_from_string, get_column_letter, range_boundaries
        sheet, ref = target
        min_col, min_row, _, max_row = range_boundaries(ref)
        values = self.rows(sheet)
        label_col = get_column_letter(min_col)
        count_col = get_column_letter(min_col + 1)
        by_label, free = {}, []
        for row in range(min_row, max_row + 1):
            label = values[row - 1][min_col - 1] if row - 1 < len(values) and min_col - 1 < len(values[row - 1]) else ""
            if label in ("", None):
                free.append(row)
            else:
                by_label[str(label)] = row
        for label, count in answers.items():
            row = by_label.get(str(label))
            if row is None:
                if not free:
                    raise AnjuError(f"{sheet}!{ref} 中没有空行可填写问卷选项“{label}”")
                row = free.pop(0)
                yield sheet, f"{label_col}{row}", str(label)
            yield sheet, f"{count_col}{row}", count
        del column_index_from_string
