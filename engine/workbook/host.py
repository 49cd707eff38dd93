"""Where a recalculation reads inputs and writes outputs: a small port, by defined name.

``recalc`` talks only to a ``WorkbookHost``:

* ``read_inputs(catalog)`` returns a ``WorkbookData`` (metadata, inputs,
  claimed scores, current outputs) or raises ``WorkbookFileError`` when the
  workbook cannot be read at all. An unknown pack id does not raise: the data
  comes back with ``pack`` None and the problem in ``problems``.
* ``write_outputs(values)`` writes ``{defined name: value}``; a value is a
  Decimal/int/str/bool/None for a one-cell name, or a list of row tuples for a
  range name (``out_messages``: the rows are written from the top, the rest of
  the range is cleared). Names the workbook lacks are skipped.

``FileHost`` works on a closed file with python-calamine and the target-cell
patcher (atomic: temporary file + rename; refuses files open in Excel/WPS).
A live-workbook host (xlwings, LibreOffice UNO) implements the same two methods,
typically with ``reader.Reader`` over its own ``reader.CellSource``.
"""

from __future__ import annotations

from pathlib import Path

from ..errors import PackError
from . import names as N
from .reader import Message, Reader, WorkbookData, area_cells, file_reader, read_with
from .xlsxpatch import CachedValue, DeferredWrites, WorkbookFileError, is_locked, open_package, patch_package


class WorkbookHost:
    """The port. ``label`` names the workbook in messages (a file name)."""

    label: str = ""
    writable: bool = True

    def read_inputs(self, catalog) -> WorkbookData:
        raise NotImplementedError

    def write_outputs(self, values: dict) -> None:
        raise NotImplementedError


def read_data(reader: Reader, catalog) -> WorkbookData:
    """Shared by hosts: read with the pack the workbook names; an unknown pack becomes a problem."""
    try:
        return read_with(reader, None, catalog, outputs=True)
    except PackError as exc:
        data = reader.data
        where = data.cell_of(N.meta_name("pack_id")) or ("", "")
        data.problems.append(Message(Message.ERROR, where[0], where[1], str(exc)))
        data.pack = None
        return data


SKIP = object()   # returned by a ``single`` callback: leave that cell alone


def cell_edits(values: dict, area_of, occupied_for, single) -> dict:
    """{sheet: {cell: value}} for output values by defined name (one code path for every host).

    A list fills a range row by row; a row that becomes blank is skipped when
    ``occupied_for(name)`` says it is already blank (its bytes stay untouched).
    ``single(sheet, cell, name, value)`` decides what a one-cell name receives.
    """
    edits: dict[str, dict] = {}
    for name, value in values.items():
        area = area_of(name)
        if area is None:
            continue
        sheet, ref = area
        cells = edits.setdefault(sheet, {})
        if isinstance(value, list):
            occupied = occupied_for(name)
            for index, row in enumerate(area_cells(ref)):
                new = value[index] if index < len(value) else None
                if new is None and occupied is not None and tuple(row) not in occupied:
                    continue   # already blank: leave the cell alone
                for col, cell in enumerate(row):
                    cells[cell] = None if new is None or col >= len(new) else new[col]
        else:
            cell = ref.split(":")[0]
            written = single(sheet, cell, name, value)
            if written is not SKIP:
                cells[cell] = written
    return {sheet: cells for sheet, cells in edits.items() if cells}


class FileHost(WorkbookHost):
    """A closed .xlsx/.xlsm file."""

    #: formula cells among the outputs (``out_scores_sum``) get a fresh cached value, formula kept;
    #: a live host leaves them to the spreadsheet program
    writes_cached_values = True

    def __init__(self, path, *, check_lock: bool = True, deferred: DeferredWrites | None = None):
        """``deferred``: stage the write there instead of replacing the file at once (``anju batch``)."""
        self.path = Path(path)
        self.label = self.path.name
        self.check_lock = check_lock
        self.deferred = deferred
        self.data: WorkbookData | None = None
        self._package = None
        self.restored: list = []    # live templates: (sheet, cell, expected, found) of formulas put back

    def refuse_if_locked(self) -> None:
        lock = is_locked(self.path)
        if lock is not None:
            raise WorkbookFileError(
                f"“{self.path.name}”正在 Excel/WPS 中打开（发现锁定文件“{lock.name}”），请先保存并关闭该文件再重试。")

    def read_inputs(self, catalog) -> WorkbookData:
        if self.check_lock:
            self.refuse_if_locked()
        reader = file_reader(self.path)
        self._package = reader.sheets.package   # patched as read: the file is opened and parsed once
        self._cells = reader.sheets             # its sheet index answers formula look-ups cheaply
        self.data = read_data(reader, catalog)
        return self.data

    def write_outputs(self, values: dict) -> None:
        if self.data is None:
            raise RuntimeError("read_inputs() must come before write_outputs()")
        edits = self.edits(values)
        if edits:
            if self._package is None:   # data given without read_inputs(): open the file now
                self._package = open_package(self.path)
            if self.is_live():
                # live template: keep the compiled formulas, store the engine's results as their cached values
                from .live import compiled_for, live_edits
                edits, self.restored = live_edits(self._package, self.data.pack, edits, compiled_for(self.data.pack))
            patch_package(self._package, edits, deferred=self.deferred)

    def is_live(self) -> bool:
        """A live template holds a formula in its first score cell (checked before compiling anything)."""
        pack = self.data.pack if self.data is not None else None
        area = self.data.area_of(N.score_name(pack.indicators[0].code)) if pack is not None else None
        if area is None:
            return False
        cells = getattr(self, "_cells", None)
        look_up = cells.formula if cells is not None else self._package.cell_formula
        return look_up(area[0], area[1].split(":")[0]) is not None

    def edits(self, values: dict) -> dict:
        """{sheet: {cell: value}} for the names present in the workbook."""
        data = self.data
        messages = {tuple(row) for row, _ in data.messages}

        def single(sheet, cell, name, value):
            # the check formula keeps its formula; only its cached value is refreshed
            return CachedValue(value) if name == N.OUT_SCORES_SUM else value

        return cell_edits(values, data.area_of, lambda name: messages if name == N.OUT_MESSAGES else None, single)
