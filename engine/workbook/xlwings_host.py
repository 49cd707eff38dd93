"""``XlwingsHost``: the workbook open in Excel, read and written through xlwings.

Used by the 重新计算 button (``engine.excel_button``). Only these xlwings calls
are used (``tests/test_button_hosts.py`` fakes exactly these):

* ``book.name``, ``book.names`` (iterated: ``Name.name``, ``Name.refers_to``),
  ``book.sheets`` (iterated: ``Sheet.name``) and ``book.sheets[name]``,
  ``book.app.screen_updating`` (read and set);
* ``sheet.range(address)``; ``Range.options(ndim=2).value`` (read: floats for
  numbers, None for blank, str, bool, datetime), ``Range.formula`` (read:
  '=…' for a formula, a tuple of tuples for several cells), ``Range.value = …``
  (a scalar for one cell, a list of rows for a block);
* sheet protection through ``sheet.api`` (Excel's COM Worksheet object on Windows):
  ``ProtectContents``, ``ProtectDrawingObjects``, ``ProtectScenarios``,
  ``Protection.Allow…``, ``Unprotect(password)``, ``Protect(…)``.

Reads: one block per sheet (the bounding box of the anju names on it), values
and formulas, so a recalculation costs a handful of COM calls, not one per
cell. Writes: rectangles of output cells (score, rate and explanation of an
indicator are adjacent; the 校验 rows are one block); a block Excel refuses
(e.g. over part of a merged area) is retried cell by cell.

The templates protect their sheets without a password so that staff do not
overwrite formulas by accident; Excel refuses COM writes to locked cells of a
protected sheet, so a sheet is unprotected for the writes and protected again
with the same options afterwards. A sheet protected *with* a password is left
alone and reported.
"""

from __future__ import annotations

import re
from contextlib import contextmanager
from decimal import Decimal

from .livehost import BlockCells, LiveWorkbookHost, address, blocks
from .reader import split_ref
from .xlsxpatch import WorkbookFileError, _parse_name_reference


class XlwingsCells(BlockCells):
    """Cells of an xlwings ``Book``: one value block and one formula block per sheet used."""

    def __init__(self, book):
        super().__init__()
        self.book = book
        self._names: dict | None = None

    def defined_names(self) -> dict[str, tuple[str, str]]:
        if self._names is None:
            sheets = {sheet.name for sheet in self.book.sheets}
            names: dict[str, tuple[str, str]] = {}
            for name in self.book.names:
                text = name.name
                if "!" in text:          # sheet-local ('评分表!Print_Titles')
                    continue
                try:
                    refers_to = name.refers_to
                except Exception:        # a name Excel cannot express as A1 text
                    continue
                target = _parse_name_reference(str(refers_to or "").strip())
                if target is not None and target[0] in sheets:
                    names[text] = target
            self._names = names
            for sheet, area in names.values():
                r1, c1 = split_ref(area.split(":")[0])
                r2, c2 = split_ref(area.split(":")[-1])
                self.grow_box(sheet, r1, c1, r2, c2)
        return self._names

    def _read_box(self, sheet: str, r1: int, c1: int, r2: int, c2: int) -> tuple:
        rng = self.book.sheets[sheet].range(address(r1, c1, r2, c2))
        values = rng.options(ndim=2).value
        formulas = rng.formula
        if isinstance(formulas, str):
            formulas = ((formulas,),)
        return [list(row) for row in values], [list(row) for row in formulas]

    def _read_cell(self, sheet: str, ref: str) -> tuple:
        rng = self.book.sheets[sheet].range(ref)
        return rng.value, rng.formula

    def raw(self, sheet: str, ref: str):
        return self._at(sheet, ref)[0]

    def formula(self, sheet: str, ref: str) -> str | None:
        value, formula = self._at(sheet, ref)
        if isinstance(formula, str) and formula.startswith("=") and formula != value:
            return formula[1:]
        return None       # a constant (or text typed as '=…, whose value is the text itself)


# --------------------------------------------------------------------------- values for Excel

# Excel parses a string assigned to Range.Value as if typed: '=…' becomes a formula,
# '1/2' a date, '001' a number, 'TRUE' a boolean. A leading apostrophe keeps it text.
_TYPED_CHARS = r"[\s\d.,:/%()$¥€+\-eE年月日时分秒]"
_TYPED = re.compile(rf"{_TYPED_CHARS}*\d{_TYPED_CHARS}*")
_WORDS = {"TRUE", "FALSE", "真", "假"}


def excel_value(value):
    """A value as Excel should store it through COM (Decimal → float; risky text quoted)."""
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() and abs(value) < 2 ** 53 else float(value)
    if isinstance(value, str):
        if value[:1] in ("=", "+", "-", "@", "'", "#") or value.strip().upper() in _WORDS or _TYPED.fullmatch(value):
            return "'" + value
    return value


# --------------------------------------------------------------------------- protection

_ALLOW = ("AllowFormattingCells", "AllowFormattingColumns", "AllowFormattingRows", "AllowInsertingColumns",
          "AllowInsertingRows", "AllowInsertingHyperlinks", "AllowDeletingColumns", "AllowDeletingRows",
          "AllowSorting", "AllowFiltering", "AllowUsingPivotTables")


@contextmanager
def unprotected(sheet):
    """Lift a password-less sheet protection for the block; restore it with the same options."""
    api = getattr(sheet, "api", None)
    try:
        protected = bool(api.ProtectContents)
    except Exception:          # not Excel's COM object (macOS): try the writes as they are
        protected = False
    if not protected:
        yield
        return
    protection = api.Protection
    options = [bool(api.ProtectDrawingObjects), True, bool(api.ProtectScenarios), False]
    options += [bool(getattr(protection, name)) for name in _ALLOW]
    try:
        api.Unprotect("")
    except Exception as exc:
        raise WorkbookFileError(
            f"工作表“{sheet.name}”设置了保护密码，无法写入计算结果。请在 Excel 中“审阅 → 撤消工作表保护”后再点“重新计算”。"
        ) from exc
    try:
        yield
    finally:
        try:
            # Protect(Password, DrawingObjects, Contents, Scenarios, UserInterfaceOnly, Allow…)
            api.Protect("", *options)
        except Exception as exc:
            raise WorkbookFileError(
                f"无法恢复工作表“{sheet.name}”的保护（{exc}）。请在 Excel 中“审阅 → 保护工作表”（不设密码）。"
            ) from exc


# --------------------------------------------------------------------------- the host

class XlwingsHost(LiveWorkbookHost):
    """An xlwings ``Book`` (from ``xw.Book.caller()``)."""

    WHOLE_BLOCKS = True

    def __init__(self, book, *, notes=()):
        super().__init__(str(book.name), XlwingsCells(book), notes=notes)
        self.book = book

    def write_cells(self, edits: dict) -> None:
        app = self.book.app
        try:
            updating = app.screen_updating
            app.screen_updating = False
        except Exception:
            updating = None
        try:
            for sheet_name, cells in edits.items():
                sheet = self.book.sheets[sheet_name]
                with unprotected(sheet):
                    for where, rows in blocks(cells):
                        self.write_block(sheet, where, rows)
        finally:
            if updating is not None:
                try:
                    app.screen_updating = updating
                except Exception:
                    pass

    @staticmethod
    def write_block(sheet, where: str, rows: list) -> None:
        data = [[excel_value(v) for v in row] for row in rows]
        try:
            if ":" in where:
                sheet.range(where).value = data
            else:
                sheet.range(where).value = data[0][0]
            return
        except Exception as exc:
            if ":" not in where:
                raise WorkbookFileError(f"无法写入“{sheet.name}”!{where}：{exc}") from exc
        first = where.split(":")[0]                # e.g. a block over part of a merged area: cell by cell
        top, left = split_ref(first)
        for i, row in enumerate(data):
            for j, value in enumerate(row):
                ref = address(top + i, left + j, top + i, left + j)
                try:
                    sheet.range(ref).value = value
                except Exception as exc:
                    raise WorkbookFileError(f"无法写入“{sheet.name}”!{ref}：{exc}") from exc


__all__ = ["XlwingsCells", "XlwingsHost", "excel_value", "unprotected"]
