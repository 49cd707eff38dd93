"""A faithful fake of the few xlwings calls the button uses, backed by an openpyxl workbook.

Exactly the calls listed in ``engine.workbook.xlwings_host`` (and ``xw.Book.caller()``,
``xw.__version__``, ``App.alert``) exist here, with xlwings' value conventions and
the Excel behaviour that matters for writing into a live template:

* reads: numbers come back as float, blanks as None, text as str, booleans as bool,
  dates as datetime; ``Range.formula`` gives '=…' for formulas and the constant as
  text otherwise ('' for blank), a tuple of tuples for several cells;
  ``options(ndim=2).value`` is always a list of rows;
* writes are parsed as if typed (as Excel does for ``Range.Value``): '=…' becomes a
  formula, '12', '1e3' or '5%' a number, 'TRUE' a boolean, a leading apostrophe is
  dropped and keeps the rest text; ``decimal.Decimal`` goes through COM as VT_CY
  (currency: 4 decimal places); None clears;
* a locked cell on a protected sheet refuses writes (COM error 1004); ``sheet.api``
  offers ``ProtectContents``/``Unprotect``/``Protect`` and ``Protection.Allow…``
  like Excel's Worksheet object; a password-protected sheet refuses ``Unprotect('')``;
* a block write over part of a merged area is refused, as Excel refuses to change
  part of a merged cell.

Every call is recorded in ``book.calls`` (to check that writes come in blocks).
"""

from __future__ import annotations

import datetime as _dt
import re
import types
from decimal import ROUND_HALF_EVEN, Decimal

import openpyxl
from openpyxl.cell.cell import MergedCell
from openpyxl.utils.cell import range_boundaries

VERSION = "0.37.8"


class ComError(Exception):
    """Stands in for pywintypes.com_error."""


class FakeApp:
    def __init__(self, book):
        self.book = book
        self.alerts: list[dict] = []
        self._screen_updating = True
        self.screen_updating_history: list[bool] = []

    def alert(self, prompt, title=None, buttons="ok", mode=None, callback=None):
        if buttons not in ("ok", "ok_cancel", "yes_no", "yes_no_cancel") or mode not in (None, "info", "critical"):
            raise ValueError("bad alert arguments")
        self.alerts.append({"prompt": prompt, "title": title, "buttons": buttons, "mode": mode})
        return "ok"

    @property
    def screen_updating(self):
        return self._screen_updating

    @screen_updating.setter
    def screen_updating(self, value):
        self._screen_updating = bool(value)
        self.screen_updating_history.append(bool(value))


class FakeName:
    def __init__(self, book, defined, local_sheet=None):
        self.book = book
        self._defined = defined
        self._local = local_sheet

    @property
    def name(self):
        self.book.calls.append(("Name.name",))
        return f"{self._local}!{self._defined.name}" if self._local else self._defined.name

    @property
    def refers_to(self):
        self.book.calls.append(("Name.refers_to",))
        text = self._defined.attr_text
        # Excel quotes a sheet name only when it must: '评分表'!$J$5 comes back as =评分表!$J$5
        text = re.sub(r"'([\w.]+)'!", r"\1!", text)
        return "=" + text


class FakeNames:
    def __init__(self, book):
        self.book = book

    def __iter__(self):
        wb = self.book.wb
        for defined in wb.defined_names.values():
            yield FakeName(self.book, defined)
        for ws in wb.worksheets:
            for defined in ws.defined_names.values():
                yield FakeName(self.book, defined, ws.title)

    def __len__(self):
        return len(list(iter(self)))


class FakeSheets:
    def __init__(self, book):
        self.book = book

    def __iter__(self):
        return (FakeSheet(self.book, ws) for ws in self.book.wb.worksheets)

    def __getitem__(self, key):
        self.book.calls.append(("sheets[]", key))
        if isinstance(key, int):
            return FakeSheet(self.book, self.book.wb.worksheets[key])
        for ws in self.book.wb.worksheets:
            if ws.title.lower() == str(key).lower():
                return FakeSheet(self.book, ws)
        raise KeyError(key)


class _Protection:
    _MAP = {"AllowFormattingCells": "formatCells", "AllowFormattingColumns": "formatColumns",
            "AllowFormattingRows": "formatRows", "AllowInsertingColumns": "insertColumns",
            "AllowInsertingRows": "insertRows", "AllowInsertingHyperlinks": "insertHyperlinks",
            "AllowDeletingColumns": "deleteColumns", "AllowDeletingRows": "deleteRows", "AllowSorting": "sort",
            "AllowFiltering": "autoFilter", "AllowUsingPivotTables": "pivotTables"}

    def __init__(self, ws):
        object.__setattr__(self, "_ws", ws)

    def __getattr__(self, name):
        # OOXML attributes say what is *locked*: formatCells="0" means formatting is allowed
        return not bool(getattr(self._ws.protection, self._MAP[name]))


class FakeSheetApi:
    """The part of Excel's COM Worksheet object used for protection."""

    def __init__(self, sheet):
        self._sheet = sheet
        self._ws = sheet.ws

    @property
    def ProtectContents(self):
        return bool(self._ws.protection.sheet)

    @property
    def ProtectDrawingObjects(self):
        return bool(self._ws.protection.sheet and self._ws.protection.objects)

    @property
    def ProtectScenarios(self):
        return bool(self._ws.protection.sheet and self._ws.protection.scenarios)

    @property
    def Protection(self):
        return _Protection(self._ws)

    def Unprotect(self, password=None):
        self._sheet.book.calls.append(("Unprotect", self._ws.title))
        if self._ws.protection.password and password != self._sheet.book.passwords.get(self._ws.title):
            raise ComError("(-2147352567, 'Exception occurred.', (0, 'Microsoft Excel', "
                           "'The password you supplied is not correct.', None, 0, -2146827284), None)")
        self._ws.protection.sheet = False

    def Protect(self, Password=None, DrawingObjects=True, Contents=True, Scenarios=True, UserInterfaceOnly=False,
                *allow):
        self._sheet.book.calls.append(("Protect", self._ws.title))
        p = self._ws.protection
        p.sheet = bool(Contents)
        p.objects = bool(DrawingObjects)
        p.scenarios = bool(Scenarios)
        for attribute, allowed in zip(_Protection._MAP.values(), allow):
            setattr(p, attribute, not allowed)
        if Password:
            p.password = Password
            self._sheet.book.passwords[self._ws.title] = Password


class FakeSheet:
    def __init__(self, book, ws):
        self.book = book
        self.ws = ws

    @property
    def name(self):
        return self.ws.title

    @property
    def api(self):
        return FakeSheetApi(self)

    def range(self, address):
        self.book.calls.append(("range", self.ws.title, address))
        return FakeRange(self, address)


def _from_cell(cell):
    value = cell.value
    if value is None:
        return None
    if isinstance(value, str) and value.startswith("=") and cell.data_type == "f":
        return None                 # no calculation engine here; the anju cells hold no formulas
    if isinstance(value, bool):
        return value
    if isinstance(value, (int, float, Decimal)):
        return float(value)
    if isinstance(value, _dt.date) and not isinstance(value, _dt.datetime):
        return _dt.datetime(value.year, value.month, value.day)
    return value


_DATE = re.compile(r"\s*(\d{4})[-/年](\d{1,2})[-/月](\d{1,2})日?\s*")
_NUMBER = re.compile(r"\s*[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?\s*(%?)\s*")


def _typed(value):
    """What Excel stores for a value assigned through COM."""
    if isinstance(value, Decimal):                  # VT_CY: currency, 4 decimal places
        return float(value.quantize(Decimal("0.0001"), rounding=ROUND_HALF_EVEN))
    if value is None or value == "":
        return None
    if isinstance(value, str):
        if value.startswith("'"):
            return ("text", value[1:])
        if value.startswith("="):
            return ("formula", value)
        if value.strip().upper() in ("TRUE", "FALSE"):
            return value.strip().upper() == "TRUE"
        date = _DATE.fullmatch(value)
        if date:
            return _dt.datetime(*(int(g) for g in date.groups()))
        match = _NUMBER.fullmatch(value)
        if match:
            number = float(match.group(1) + (match.group(2) or ""))
            return number / 100 if match.group(3) else number
        return ("text", value)
    return value


class FakeRange:
    def __init__(self, sheet, address, ndim=None):
        self.sheet = sheet
        self.address_text = address.replace("$", "").upper()
        self.ndim = ndim
        min_col, min_row, max_col, max_row = range_boundaries(self.address_text)
        self.bounds = (min_row, min_col, max_row, max_col)

    @property
    def address(self):
        r1, c1, r2, c2 = self.bounds
        from openpyxl.utils import get_column_letter as L
        first = f"${L(c1)}${r1}"
        return first if (r1, c1) == (r2, c2) else f"{first}:${L(c2)}${r2}"

    def options(self, ndim=None, **_):
        return FakeRange(self.sheet, self.address_text, ndim=ndim)

    def _cells(self):
        r1, c1, r2, c2 = self.bounds
        ws = self.sheet.ws
        return [[ws.cell(r, c) for c in range(c1, c2 + 1)] for r in range(r1, r2 + 1)]

    @property
    def value(self):
        self.sheet.book.calls.append(("get value", self.sheet.name, self.address_text))
        rows = [[_from_cell(cell) for cell in row] for row in self._cells()]
        if self.ndim == 2:
            return rows
        if len(rows) == 1 and len(rows[0]) == 1:
            return rows[0][0]
        if len(rows) == 1:
            return rows[0]
        if all(len(row) == 1 for row in rows):
            return [row[0] for row in rows]
        return rows

    @property
    def formula(self):
        self.sheet.book.calls.append(("get formula", self.sheet.name, self.address_text))

        def text(cell):
            value = cell.value
            if value is None:
                return ""
            if isinstance(value, bool):
                return "TRUE" if value else "FALSE"
            if isinstance(value, float) and value.is_integer():
                return str(int(value))
            return str(value)

        rows = tuple(tuple(text(cell) for cell in row) for row in self._cells())
        return rows[0][0] if len(rows) == 1 and len(rows[0]) == 1 else rows

    @value.setter
    def value(self, data):
        book = self.sheet.book
        book.calls.append(("set value", self.sheet.name, self.address_text))
        cells = self._cells()
        single = len(cells) == 1 and len(cells[0]) == 1
        if single:
            rows = [[data]]
        elif isinstance(data, (list, tuple)) and data and isinstance(data[0], (list, tuple)):
            rows = [list(row) for row in data]
        else:
            raise ComError("the fake expects a list of rows for a block")
        if len(rows) != len(cells) or any(len(r) != len(c) for r, c in zip(rows, cells)):
            raise ComError("block shape differs from the range")
        ws = self.sheet.ws
        if ws.protection.sheet and any(cell.protection.locked for row in cells for cell in row):
            raise ComError("(-2147352567, 'Exception occurred.', (0, 'Microsoft Excel', 'The cell or chart "
                           "you're trying to change is on a protected sheet.', None, 0, -2146827284), None)")
        r1, c1, r2, c2 = self.bounds
        if not single:
            for merged in ws.merged_cells.ranges:
                inside = r1 <= merged.min_row and merged.max_row <= r2 and c1 <= merged.min_col and merged.max_col <= c2
                overlaps = not (merged.max_row < r1 or merged.min_row > r2 or merged.max_col < c1 or merged.min_col > c2)
                if overlaps and not inside:
                    raise ComError("We can't do that to a merged cell.")
        for row_cells, row_values in zip(cells, rows):
            for cell, value in zip(row_cells, row_values):
                if isinstance(cell, MergedCell):
                    continue            # Excel ignores values for the hidden cells of a merged area
                typed = _typed(value)
                if isinstance(typed, tuple) and typed[0] == "text":
                    cell.value = typed[1]
                    cell.data_type = "s"
                elif isinstance(typed, tuple):
                    cell.value = typed[1]
                else:
                    cell.value = typed


class FakeBook:
    def __init__(self, wb, name="评价模板.xlsx", fullname=None):
        self.wb = wb
        self.name = name
        self.fullname = fullname or f"C:\\Users\\张三\\Documents\\{name}"
        self.calls: list[tuple] = []
        self.passwords: dict[str, str] = {}
        self.app = FakeApp(self)
        self.names = FakeNames(self)
        self.sheets = FakeSheets(self)

    @classmethod
    def open(cls, path, *, name=None, password_sheets=()):
        from pathlib import Path
        wb = openpyxl.load_workbook(path, keep_vba=str(path).lower().endswith(".xlsm"))
        book = cls(wb, name=name or Path(path).name)
        for title, password in dict(password_sheets).items():
            wb[title].protection.password = password
            book.passwords[title] = password
        return book

    def save(self, path):
        self.wb.save(path)

    def writes(self):
        return [call for call in self.calls if call[0] == "set value"]


def module(book=None, version=VERSION, caller_error=None):
    """A stand-in for the ``xlwings`` module: ``xw.Book.caller()`` returns ``book``."""
    fake = types.ModuleType("xlwings")
    fake.__version__ = version

    class Book:
        @classmethod
        def caller(cls):
            if caller_error is not None:
                raise caller_error
            if book is None:
                raise Exception("Book.caller() must not be called directly. Call through Excel "
                                "or set a mock caller first with Book.set_mock_caller().")
            return book

    fake.Book = Book
    return fake
