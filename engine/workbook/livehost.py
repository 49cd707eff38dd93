"""The shared part of the live-workbook hosts (xlwings in Excel, UNO in LibreOffice Calc).

A live host serves ``recalc.recalc_host`` for a workbook that is open in a
spreadsheet program: it reads through ``reader.Reader`` over its own
``reader.CellSource`` and writes ``{sheet: {cell: value}}`` edits through the
program's API. It never touches the file on disk (the program owns it, and its
in-memory copy would overwrite any change on disk; EXCEL-NOTES §3), and it
never saves: the user saves, as after any other edit.

What differs per program is only ``CellSource`` and ``write_cells``.

An output cell that holds a formula is never overwritten: the program computes
it (``out_scores_sum``; every score of a live template, ``anju template --live``).
``FileHost`` instead refreshes such a formula's cached value, since no program
computes a closed file.
"""

from __future__ import annotations

from pathlib import Path

from . import names as N
from .host import SKIP, WorkbookHost, cell_edits, read_data
from .reader import CellSource, Message, Reader, WorkbookData, split_ref
from .xlsxpatch import _column_letters as column_letters


class BlockCells(CellSource):
    """Cell access for an open workbook (Excel via xlwings, LibreOffice via UNO).

    Every named cell of a sheet lies in one bounding box; that box is read in one
    call (values and formulas) instead of one round trip per cell. Subclasses
    provide ``defined_names`` (calling ``grow_box`` for each name), ``_read_box``
    and ``_read_cell``.
    """

    def __init__(self):
        self._boxes: dict[str, tuple[int, int, int, int]] = {}
        self._grids: dict = {}

    def grow_box(self, sheet: str, r1: int, c1: int, r2: int, c2: int) -> None:
        box = self._boxes.get(sheet)
        self._boxes[sheet] = (r1, c1, r2, c2) if box is None else (
            min(box[0], r1), min(box[1], c1), max(box[2], r2), max(box[3], c2))

    def _grid(self, sheet: str):
        if sheet not in self._grids:
            self.defined_names()
            self._grids[sheet] = self._read_box(sheet, *self._boxes[sheet])
        return self._grids[sheet]

    def _at(self, sheet: str, ref: str):
        """(value, formula text) of one cell."""
        row, col = split_ref(ref)
        self.defined_names()
        box = self._boxes.get(sheet)
        if box and box[0] <= row <= box[2] and box[1] <= col <= box[3]:
            values, formulas = self._grid(sheet)
            return values[row - box[0]][col - box[1]], formulas[row - box[0]][col - box[1]]
        return self._read_cell(sheet, ref)      # outside every name: not expected

    def _read_box(self, sheet: str, r1: int, c1: int, r2: int, c2: int) -> tuple:
        raise NotImplementedError

    def _read_cell(self, sheet: str, ref: str) -> tuple:
        raise NotImplementedError


class LiveWorkbookHost(WorkbookHost):
    """A workbook open in a spreadsheet program. Subclasses give ``cells`` and ``write_cells``."""

    #: True: a list value (``out_messages``) is written as one whole block, blank rows included
    #: (one call is cheaper than many in Excel); False: rows that are blank already are skipped.
    WHOLE_BLOCKS = False

    def __init__(self, label: str, cells: CellSource, *, notes=()):
        self.label = label
        self.cells = cells
        self.notes = list(notes)        # Message: warnings added to the 校验 sheet (e.g. version mismatch)
        self.data: WorkbookData | None = None
        self._names: dict | None = None

    # -- the port

    def read_inputs(self, catalog) -> WorkbookData:
        self.data = read_data(Reader(Path(self.label), self.cells), catalog)
        self.data.notes.extend(self.notes)
        return self.data

    def write_outputs(self, values: dict) -> None:
        edits = self.edits(values)
        if edits:
            self.write_cells(edits)

    def write_cells(self, edits: dict) -> None:
        """Write ``{sheet: {'L5': value}}``; a value is Decimal/int/float/str/bool/None (None clears)."""
        raise NotImplementedError

    # -- also used when reading failed: the 校验 rows of an error

    def write_messages(self, rows: list) -> bool:
        """Write 校验 rows (level, sheet, cell, text) to ``out_messages``; False when the workbook has none."""
        if self.area_of(N.OUT_MESSAGES) is None:
            return False
        self.write_outputs({N.OUT_MESSAGES: rows})
        return True

    # -- helpers

    def area_of(self, name: str) -> tuple[str, str] | None:
        if self.data is not None:
            return self.data.area_of(name)
        if self._names is None:
            self._names = {key.lower(): value for key, value in self.cells.defined_names().items()}
        return self._names.get(name.lower())

    def edits(self, values: dict) -> dict:
        """{sheet: {cell: value}} for the names present in the workbook (as ``FileHost.edits``)."""
        occupied = None
        if not self.WHOLE_BLOCKS and self.data is not None:
            occupied = {tuple(row) for row, _ in self.data.messages}

        def single(sheet, cell, name, value):
            # a live template's formula (or out_scores_sum): the spreadsheet program computes it
            return SKIP if self.holds_formula(sheet, cell) else value

        return cell_edits(values, self.area_of, lambda name: occupied, single)

    def holds_formula(self, sheet: str, cell: str) -> bool:
        try:
            return self.cells.formula(sheet, cell) is not None
        except Exception:
            return False


# --------------------------------------------------------------------------- blocks

def address(row1: int, col1: int, row2: int, col2: int) -> str:
    first = f"{column_letters(col1)}{row1}"
    return first if (row1, col1) == (row2, col2) else f"{first}:{column_letters(col2)}{row2}"


def blocks(cells: dict) -> list[tuple[str, list[list]]]:
    """Group ``{'L5': v, 'M5': w, ...}`` into rectangles: [(address, rows of values)].

    Horizontal runs of adjacent cells first, then runs with the same columns on
    consecutive rows are stacked. Every cell of a rectangle is one of the given
    cells, so nothing else is overwritten.
    """
    by_row: dict[int, dict[int, object]] = {}
    for ref, value in cells.items():
        row, col = split_ref(ref)
        by_row.setdefault(row, {})[col] = value
    runs = []                                   # (row, first col, last col, values)
    for row in sorted(by_row):
        line = by_row[row]
        start = previous = None
        values: list = []
        for col in sorted(line):
            if previous is not None and col == previous + 1:
                values.append(line[col])
            else:
                if start is not None:
                    runs.append((row, start, previous, values))
                start, values = col, [line[col]]
            previous = col
        runs.append((row, start, previous, values))
    rectangles = []                             # [first row, last row, first col, last col, rows]
    open_by_columns: dict[tuple, list] = {}
    for row, first, last, values in runs:
        rect = open_by_columns.get((first, last))
        if rect is not None and rect[1] == row - 1:
            rect[1] = row
            rect[4].append(values)
        else:
            rect = [row, row, first, last, [values]]
            open_by_columns[(first, last)] = rect
            rectangles.append(rect)
    rectangles.sort(key=lambda r: (r[0], r[2]))
    return [(address(r[0], r[2], r[1], r[3]), r[4]) for r in rectangles]


def error_rows(text: str) -> list:
    """The 校验 rows of one error without a cell."""
    return [Message(Message.ERROR, "", "", text).row()]


__all__ = ["BlockCells", "LiveWorkbookHost", "address", "blocks", "column_letters", "error_rows"]
