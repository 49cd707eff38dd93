"""Reading an anju workbook through its defined names (``engine.workbook.names``).

Values are python-calamine's (see shared/EXCEL-NOTES.md §4): ordinary cells are
decoded straight from the sheet XML exactly as calamine decodes them
(``SheetXml``, a few microseconds a cell instead of parsing whole sheets), and
calamine itself reads any sheet holding a cell that is less ordinary. The
names, the package checks (corrupt zip, zip bomb, DOCTYPE/entity declarations,
encrypted or ``.xls`` files) and the formula scan come from
``engine.workbook.xlsxpatch`` and the raw sheet XML.

Honest reading: an input or metadata cell holding a formula is never read
through its cached value (a workbook filled by a program has none, and some
writers store 0). Constant arithmetic such as ``=1200+300`` is computed here
exactly; a formula that refers to other cells is reported as a problem.

Returned values are the cells' own values: numbers as ``Decimal`` (floats
converted through ``repr``), text as ``str``, booleans as ``bool``, dates as
ISO text. Blank cells are absent. Parsing and validation are left to
``engine.scoring`` so that a workbook and a YAML file are judged alike.
"""

from __future__ import annotations

import ast
import datetime as _dt
import html
import io
import re
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from functools import cached_property, lru_cache
from pathlib import Path
from xml.etree import ElementTree

from ..errors import InputError
from ..model import Pack
from ..numbers import fmt, normalise_text
from ..scoring import input_state, parse_answers
from . import names as N
from .xlsxpatch import _column_index, _column_letters  # one A1-address helper for the package
from .xlsxpatch import Package, RowIndex, WorkbookFileError, open_package


@dataclass
class Message:
    """One line of the 校验 sheet: level 错误/提示, where, and the Chinese text."""

    level: str
    sheet: str
    cell: str
    text: str

    ERROR = "错误"
    WARNING = "提示"

    def __str__(self) -> str:
        return f"{self.sheet}!{self.cell}：{self.text}" if self.sheet and self.cell else (
            f"{self.sheet}：{self.text}" if self.sheet else self.text)

    def row(self) -> tuple:
        return (self.level, self.sheet or None, self.cell or None, self.text)


@dataclass
class WorkbookData:
    """What a workbook says, by defined name. ``inputs`` is what ``engine.scoring.evaluate`` expects."""

    path: Path
    names: dict                      # lower-case name -> (name, sheet, area)
    pack_id: str | None = None
    pack_version: str | None = None
    meta: dict = field(default_factory=dict)           # project, region, year, program, mode, pack_id, pack_version
    inputs: dict = field(default_factory=dict)         # code -> {key: value} / {part: {key: value}} / state word
    claimed: dict = field(default_factory=dict)        # code -> raw value (not a rule input)
    claimed2: dict = field(default_factory=dict)
    claimed_total: object = None
    claimed_grade: object = None
    claimed_total2: object = None
    claimed_grade2: object = None
    outputs: dict = field(default_factory=dict)        # out_ name -> current value (for "unchanged")
    messages: list = field(default_factory=list)       # current out_messages rows (non-empty ones)
    problems: list = field(default_factory=list)       # Message: errors found while reading
    notes: list = field(default_factory=list)          # Message: warnings found while reading
    origins: dict = field(default_factory=dict)        # (code, key) -> (sheet, cell) of a specific value
    problem_keys: set = field(default_factory=set)     # (code, key) already reported in ``problems``
    pack: Pack | None = None

    # -- locating

    def area_of(self, name: str) -> tuple[str, str] | None:
        entry = self.names.get(name.lower())
        return (entry[1], entry[2]) if entry else None

    def cell_of(self, name: str) -> tuple[str, str] | None:
        """(sheet, top-left cell) of a name, or None when the workbook lacks it."""
        area = self.area_of(name)
        return (area[0], area[1].split(":")[0]) if area else None

    def locate(self, code: str | None, key: str | None = None) -> tuple[str, str] | None:
        """The (sheet, cell) an engine ``InputError(code, key)`` refers to."""
        if code is None:
            return None
        if (code, key) in self.origins:
            return self.origins[(code, key)]
        indicator = self.pack.indicator(code) if self.pack else None
        specs = list(indicator.compiled.specs) if indicator else []
        candidates = []
        if key == N.STATUS_KEY:
            candidates.append(N.status_name(code))
        elif key:
            part, _, inner = key.partition(".")
            if inner:
                candidates.append(N.input_name(code, inner, part))
            candidates.append(N.input_name(code, key))
            candidates += [N.spec_name(code, s) for s in specs if s.part == key]         # a whole part
            candidates += [N.spec_name(code, s) for s in specs if s.key == key]          # key inside a part
        candidates += [N.spec_name(code, s) for s in specs if s.kind != N.ANSWERS_KIND]
        candidates += [N.spec_name(code, s) for s in specs] + [N.status_name(code), N.score_name(code)]
        for name in candidates:
            area = self.area_of(name)
            if area:
                sheet, ref = area
                if ":" in ref:   # a survey range: point at its first count cell
                    first = ref.split(":")[0]
                    letters = "".join(c for c in first if c.isalpha())
                    ref = _column_letters(_column_index(letters) + 1) + first[len(letters):]
                return sheet, ref
        return None

    def message(self, level: str, code: str | None, key: str | None, text: str) -> Message:
        where = self.locate(code, key) or ("", "")
        return Message(level, where[0], where[1], text)


# --------------------------------------------------------------------------- cell helpers

def split_ref(ref: str) -> tuple[int, int]:
    """'J12' -> (12, 10)."""
    letters = "".join(c for c in ref if c.isalpha())
    return int(ref[len(letters):]), _column_index(letters)


@lru_cache(maxsize=256)
def area_cells(area: str) -> tuple:
    """'A5:B7' -> (('A5','B5'), ('A6','B6'), ('A7','B7'))."""
    first, _, last = area.partition(":")
    last = last or first
    r1, c1 = split_ref(first)
    r2, c2 = split_ref(last)
    return tuple(tuple(f"{_column_letters(c)}{r}" for c in range(min(c1, c2), max(c1, c2) + 1))
                 for r in range(min(r1, r2), max(r1, r2) + 1))


_F_TAG = re.compile(rb"<((?:[A-Za-z_][\w.\-]*:)?)f(?=[\s>/])[^>]*?(/?)>")
_REF_ATTR = re.compile(rb"""\br\s*=\s*["']\$?([A-Za-z]{1,3})\$?(\d+)["']""")


def formula_cells(xml: bytes) -> dict[str, str]:
    """{'B7': 'SUM(B5:B6)'} for every cell with a formula (shared-formula followers get '').

    Scans for <f> elements only (a sheet without formulas costs one regex pass) and
    takes each one's enclosing <c> start tag for the reference."""
    found = {}
    for match in _F_TAG.finditer(xml):
        prefix = match.group(1)
        start = xml.rfind(b"<" + prefix + b"c ", 0, match.start())
        if start < 0 or xml.find(b"</" + prefix + b"c>", start, match.start()) >= 0:
            continue
        head_end = xml.find(b">", start, match.start())
        if head_end < 0 or xml[head_end - 1:head_end] == b"/":
            continue
        ref = _REF_ATTR.search(xml, start, head_end)
        if not ref:
            continue
        text = b""
        if not match.group(2):
            close = xml.find(b"</" + prefix + b"f>", match.end())
            text = xml[match.end():close] if close >= 0 else b""
        found[ref.group(1).decode().upper() + ref.group(2).decode()] = _formula_text(text)
    return found


def _formula_text(raw: bytes) -> str:
    text = raw.decode("utf-8", "replace")
    return html.unescape(text) if "&" in text else text   # XML's entities and character references


_ARITH = re.compile(r"[0-9.+\-*/()%\s]+")


def constant_formula_value(text: str) -> Decimal | None:
    """The exact value of a constant formula such as '1200+300' or '(3+4)/2', else None."""
    text = normalise_text(text or "")
    if not text or not _ARITH.fullmatch(text):
        return None
    text = re.sub(r"(\d+(?:\.\d+)?)%", r"(\1/100)", text)
    try:
        tree = ast.parse(text, mode="eval")
    except SyntaxError:
        return None

    def value(node):
        if isinstance(node, ast.Expression):
            return value(node.body)
        if isinstance(node, ast.Constant) and isinstance(node.value, (int, float)) and not isinstance(node.value, bool):
            return Decimal(str(node.value))
        if isinstance(node, ast.UnaryOp) and isinstance(node.op, (ast.USub, ast.UAdd)):
            operand = value(node.operand)
            return -operand if isinstance(node.op, ast.USub) else operand
        if isinstance(node, ast.BinOp) and isinstance(node.op, (ast.Add, ast.Sub, ast.Mult, ast.Div)):
            left, right = value(node.left), value(node.right)
            if isinstance(node.op, ast.Add):
                return left + right
            if isinstance(node.op, ast.Sub):
                return left - right
            if isinstance(node.op, ast.Mult):
                return left * right
            return left / right
        raise ValueError

    try:
        return value(tree)
    except (ValueError, ZeroDivisionError, InvalidOperation, ArithmeticError):
        return None


def clean_value(value):
    """A calamine cell value as the engine expects it; None for blank."""
    if value is None:
        return None
    if isinstance(value, bool):
        return value
    if isinstance(value, float):
        if value != value or value in (float("inf"), float("-inf")):
            return str(value)
        return Decimal(repr(value))
    if isinstance(value, int):
        return Decimal(value)
    if isinstance(value, str):
        return None if value.strip() == "" else value
    if isinstance(value, _dt.datetime):
        return value.date().isoformat() if value.time() == _dt.time() else value.isoformat(sep=" ")
    if isinstance(value, (_dt.date, _dt.time)):
        return value.isoformat()
    if isinstance(value, _dt.timedelta):
        return str(value)
    return value


# --------------------------------------------------------------------------- cells read from the sheet XML
#
# python-calamine parses a whole sheet (0.1-0.7 ms each for a template's sheets),
# while a recalculation needs a few hundred cells.  Cells written the way Excel,
# WPS, LibreOffice, openpyxl and the patcher write them are decoded here exactly
# as calamine decodes them; for anything less ordinary (a date format, rich text,
# an _xHHHH_ escape, a row whose cells lack r="…", ...) ``SheetXml.cell`` says
# None and the reader asks calamine.  What "exactly" means was checked cell by
# cell against calamine over the test suite's workbooks and LibreOffice- and
# openpyxl-saved ones.  Not checked: a cell whose r="…" names another row than
# the <row> holding it (invalid OOXML; no program writes it).

_CELL_HEAD = rb'<c r="[A-Z]{1,3}[0-9]+"(?: s="([0-9]+)")?(?: t="([a-zA-Z]+)")?'
_SIMPLE_CELL = re.compile(_CELL_HEAD + rb"(/?)>")
# the whole of a cell holding nothing, a <v> or a one-run inline string (no formula): one match
_PLAIN_CELL = re.compile(_CELL_HEAD + rb'(?:/>|>(?:<v>([^<]*)</v>|<is><t( xml:space="preserve")?>([^<]*)</t></is>)?</c>)')
_VALUE = re.compile(rb"<v>([^<]*)</v>")
_INLINE_TEXT = re.compile(rb'<is><t( xml:space="preserve")?>([^<]*)</t></is>')
_SHARED_ITEM = re.compile(rb"<si>(.*?)</si>", re.S)
_SHARED_TEXT = re.compile(rb'<t( xml:space="preserve")?>([^<]*)</t>')
_NUMBER = re.compile(rb"-?[0-9]+(?:\.[0-9]+)?(?:[eE][-+]?[0-9]+)?")   # what Rust's and Python's float() agree on
_ENTITY = re.compile(r"&(?:#([0-9]+)|#x([0-9a-fA-F]+)|(amp|lt|gt|quot|apos));")
_ROW_NUMBER = re.compile(rb'<row r="([0-9]+)"')
_NAMED_ENTITIES = {"amp": "&", "lt": "<", "gt": ">", "quot": '"', "apos": "'"}

#: built-in number formats that are not dates or times (ECMA-376 18.8.30); calamine reads
#: the others (14-22, 27-36, 45-47, 50-58, ...) as dates, times or durations
_PLAIN_BUILTIN_FORMATS = frozenset({0, 1, 2, 3, 4, 9, 10, 11, 12, 13, 37, 38, 39, 40, 48, 49})
# quoted text, \x, _x (space as wide as x), *x (fill), and General (LibreOffice writes it as a custom format)
_FORMAT_LITERAL = re.compile(r'"[^"]*"|\\.|[_*].|(?i:general)')
_PLAIN_FORMAT_CHARS = frozenset("0#?.,%+-() ;@")


def _plain_format(code: str) -> bool:
    """True for a custom number format that cannot show a date, time or duration."""
    return set(_FORMAT_LITERAL.sub("", code)) <= _PLAIN_FORMAT_CHARS


@lru_cache(maxsize=16)   # one per template in a batch
def _plain_styles(styles_xml: bytes) -> frozenset:
    """The cell style indexes (s="…") under which calamine returns numbers as plain floats."""
    main = "{http://schemas.openxmlformats.org/spreadsheetml/2006/main}"
    try:
        root = ElementTree.fromstring(styles_xml)
    except ElementTree.ParseError:
        return frozenset()
    custom = {f.get("numFmtId"): f.get("formatCode", "") for f in root.iter(main + "numFmt")}
    cell_xfs = root.find(main + "cellXfs")
    plain = set()
    for index, xf in enumerate(cell_xfs if cell_xfs is not None else ()):
        number_format = xf.get("numFmtId")
        if number_format in custom:
            if _plain_format(custom[number_format]):
                plain.add(index)
        elif number_format is not None and number_format.isdigit() and int(number_format) in _PLAIN_BUILTIN_FORMATS:
            plain.add(index)
    return frozenset(plain)


def _xml_text(raw: bytes, preserve: bool) -> str | None:
    """The text of a <t> element as calamine returns it, or None when not certain:
    calamine decodes _xHHHH_ escapes, normalises CR and trims unless xml:space="preserve"."""
    if b"\r" in raw or b"_x" in raw or b"_X" in raw:
        return None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        return None
    if "&" in text:
        text = _decode_references(text)
    if text is None or (not preserve and text != text.strip()):
        return None
    return text


def _decode_references(text: str) -> str | None:
    references = _ENTITY.findall(text)
    if len(references) != text.count("&"):
        return None   # an undeclared entity or a stray '&': not well-formed
    for decimal, hexadecimal, _ in references:
        if decimal or hexadecimal:
            code = int(decimal) if decimal else int(hexadecimal, 16)
            if not (code in (9, 10, 13) or 0x20 <= code <= 0xD7FF or 0xE000 <= code <= 0xFFFD
                    or 0x10000 <= code <= 0x10FFFF):
                return None
    return _ENTITY.sub(lambda m: _NAMED_ENTITIES[m.group(3)] if m.group(3)
                       else chr(int(m.group(1)) if m.group(1) else int(m.group(2), 16)), text)


class SharedStrings:
    """sharedStrings.xml, split lazily; an item is decoded when a cell asks for it."""

    def __init__(self, xml: bytes | None):
        self.xml = xml
        self.items: list | None = None
        self.texts: dict[int, str | None] = {}

    def text(self, index: int) -> str | None:
        if index not in self.texts:
            self.texts[index] = self._decode(index)
        return self.texts[index]

    def _decode(self, index: int) -> str | None:
        if self.items is None:
            self.items = self._split()
        if index >= len(self.items):
            return None
        match = _SHARED_TEXT.fullmatch(self.items[index])
        return _xml_text(match.group(2), bool(match.group(1))) if match else None

    def _split(self) -> list:
        if not self.xml:
            return []
        items = _SHARED_ITEM.findall(self.xml)
        return items if len(items) == self.xml.count(b"<si") else []   # <si/> or a prefix: leave it to calamine


class SheetXml:
    """Single cells of one worksheet part, decoded as calamine would (see above)."""

    def __init__(self, xml: bytes, row_index, plain_styles: frozenset, strings: SharedStrings):
        self.xml = xml
        self._row_index = row_index   # () -> RowIndex | None, built on first use
        self.plain_styles = plain_styles
        self.strings = strings
        self.cells: dict[str, tuple | None] = {}

    @cached_property
    def rows(self) -> RowIndex | None:
        """None: the cells cannot be found by address, use calamine."""
        return self._row_index()

    def cell(self, ref: str) -> tuple | None:
        """(value as calamine returns it, formula text or None), or None when calamine must say."""
        try:
            return self.cells[ref]
        except KeyError:
            cell = self.cells[ref] = self._read(ref)
            return cell

    def block(self, area: str) -> list | None:
        """Raw values of an area row by row (rows holding no value at all are skipped quickly),
        or None when calamine must say."""
        if self._blank_tail(area):
            return [[""] * len(refs) for refs in area_cells(area)]
        if self.rows is None:
            return None
        rows = []
        for refs in area_cells(area):
            cells = [self.cell(ref) for ref in refs]
            if any(cell is None for cell in cells):
                return None
            rows.append([cell[0] for cell in cells])
        return rows

    def _blank_tail(self, area: str) -> bool:
        """True when the area's first row and every row after it hold no value or formula and
        the rows before it are all above the area (the empty 校验 sheet), found without
        indexing every row."""
        xml = self.xml
        data_start, data_end = xml.find(b"<sheetData>"), xml.find(b"</sheetData>")
        if data_start < 0 or data_end < 0:
            return False
        top = split_ref(area.partition(":")[0])[0]
        first = xml.find(b'<row r="' + str(top).encode() + b'"', data_start, data_end)
        if first < 0 or any(xml.find(tag, first, data_end) >= 0 for tag in (b"<v", b"<is", b"<f")):
            return False
        above = [int(number) for number in _ROW_NUMBER.findall(xml, data_start, first)]
        return len(above) == xml.count(b"<row", data_start, first) and all(number < top for number in above)

    def _read(self, ref: str) -> tuple | None:
        rows = self.rows
        if rows is None:
            return None
        number = split_ref(ref)[0]
        at = rows.find_cell(number, ref)
        if at is None:
            return None
        if at < 0:
            return "", None
        end = rows.spans[number][1]
        plain = _PLAIN_CELL.match(self.xml, at, end)
        if plain is not None:
            style, kind, text, preserve, inline = plain.groups()
            if inline is not None:
                value = _xml_text(inline, bool(preserve)) if kind == b"inlineStr" else None
            else:
                value = "" if text is None else self._value_text(style, kind, text)
            return None if value is None else (value, None)
        head = _SIMPLE_CELL.match(self.xml, at, end)
        if head is None:
            return None
        if head.group(3):
            return "", None
        close = self.xml.find(b"</c>", head.end(), end)
        return None if close < 0 else self._decode(head.group(1), head.group(2), head.end(), close)

    def _decode(self, style: bytes | None, kind: bytes | None, start: int, end: int) -> tuple | None:
        """A cell with a formula (or other content than _PLAIN_CELL's): its <f>, then its value."""
        xml, formula = self.xml, None
        if xml.find(b"<f", start, end) >= 0:
            tag = _F_TAG.match(xml, start, end)
            if tag is None or tag.group(1):
                return None
            close = tag.end() if tag.group(2) else xml.find(b"</f>", tag.end(), end)
            if close < 0:
                return None
            formula = _formula_text(xml[tag.end():close] if not tag.group(2) else b"")
            start = close if tag.group(2) else close + len(b"</f>")
        value = self._value(style, kind, xml[start:end])
        return None if value is None else (value, formula)

    def _value(self, style: bytes | None, kind: bytes | None, inner: bytes):
        if not inner:
            return ""
        if kind == b"inlineStr":
            match = _INLINE_TEXT.fullmatch(inner)
            return _xml_text(match.group(2), bool(match.group(1))) if match else None
        match = _VALUE.fullmatch(inner)
        return None if match is None else self._value_text(style, kind, match.group(1))

    def _value_text(self, style: bytes | None, kind: bytes | None, text: bytes):
        """The value of a cell's <v> text, by its type t and style s."""
        if kind is None or kind == b"n":
            if not text:
                return ""
            plain = int(style) in self.plain_styles if style else 0 in self.plain_styles   # no s: style 0
            return float(text) if plain and _NUMBER.fullmatch(text) else None
        if kind == b"s":
            return self.strings.text(int(text)) if text.isdigit() else None
        if kind == b"b" and text in (b"0", b"1"):
            return text == b"1"
        return None


# --------------------------------------------------------------------------- the reader

class CellSource:
    """Where a reader gets cells from. ``FileCells`` reads a closed file; a live host
    (xlwings) can implement the same three methods over an open workbook."""

    def defined_names(self) -> dict[str, tuple[str, str]]:
        """Workbook-level names -> (sheet, 'A1' or 'A1:B7')."""
        raise NotImplementedError

    def raw(self, sheet: str, ref: str):
        """The cell's value (as calamine returns it: float, str, bool, date, '' for blank)."""
        raise NotImplementedError

    def formula(self, sheet: str, ref: str) -> str | None:
        """The cell's formula text without '=', or None when the cell holds a plain value."""
        raise NotImplementedError

    def block(self, sheet: str, area: str) -> list:
        """Raw values of a rectangular area, row by row (override when a bulk read is cheaper)."""
        return [[self.raw(sheet, cell) for cell in row] for row in area_cells(area)]


class FileCells(CellSource):
    """Cells of the sheets actually used: straight from the sheet XML when that is exact
    (``SheetXml``), else from calamine grids and formula maps, loaded lazily."""

    def __init__(self, package: Package, path: Path):
        self.package = package
        self.path = path
        self._book = None
        self.grids: dict[str, list] = {}
        self.formulas: dict[str, dict] = {}
        self.sheet_xml: dict[str, SheetXml] = {}
        self._shared_parts: dict[str, bytes] | None = None
        self._strings: SharedStrings | None = None

    def defined_names(self) -> dict[str, tuple[str, str]]:
        return self.package.defined_names()

    def book(self):
        if self._book is None:
            import python_calamine

            self.shared_parts()   # calamine parses sharedStrings and styles too: refused DOCTYPE/entities first
            try:   # the bytes already read: the very file the package holds
                self._book = python_calamine.CalamineWorkbook.from_filelike(io.BytesIO(self.package.file_bytes()))
            except Exception as exc:   # CalamineError and friends: a file problem, not a crash
                raise WorkbookFileError(f"无法读取“{self.path.name}”：文件已损坏或不是 Excel 工作簿（{exc}）。") from exc
        return self._book

    def shared_parts(self) -> dict[str, bytes]:
        """sharedStrings and styles by relationship type (refused if they declare a DOCTYPE)."""
        if self._shared_parts is None:
            self._shared_parts = {}
            for rel_type, target in self.package.workbook_rels.values():
                kind = rel_type.rsplit("/", 1)[-1]
                if target and kind in ("sharedStrings", "styles") and self.package.has_part(target):
                    self._shared_parts.setdefault(kind, self.package.xml_part(target))
        return self._shared_parts

    def xml_cells(self, sheet: str) -> SheetXml:
        cells = self.sheet_xml.get(sheet)
        return cells if cells is not None else self._open_sheet_xml(sheet)

    def _open_sheet_xml(self, sheet: str) -> SheetXml:
        part = self.package.sheet_part(sheet)
        xml = self.package.xml_part(part)   # DOCTYPE check and size cap
        parts = self.shared_parts()
        if self._strings is None:
            self._strings = SharedStrings(parts.get("sharedStrings"))
        cells = SheetXml(xml, lambda: self.package.row_index(part), _plain_styles(parts.get("styles", b"")), self._strings)
        self.sheet_xml[sheet] = cells
        return cells

    def load(self, sheet: str) -> None:
        if sheet in self.grids:
            return
        xml = self.package.xml_part(self.package.sheet_part(sheet))   # DOCTYPE check and size cap
        self.formulas[sheet] = formula_cells(xml)
        try:
            self.grids[sheet] = self.book().get_sheet_by_name(sheet).to_python(skip_empty_area=False)
        except WorkbookFileError:
            raise
        except Exception as exc:
            raise WorkbookFileError(f"无法读取“{self.path.name}”的工作表“{sheet}”：{exc}") from exc

    def raw(self, sheet: str, ref: str):
        cell = self.xml_cells(sheet).cell(ref)
        if cell is not None:
            return cell[0]
        self.load(sheet)
        row, col = split_ref(ref)
        grid = self.grids[sheet]
        if row - 1 < len(grid):
            line = grid[row - 1]
            if col - 1 < len(line):
                return line[col - 1]
        return None

    def formula(self, sheet: str, ref: str) -> str | None:
        cell = self.xml_cells(sheet).cell(ref)
        if cell is not None:
            return cell[1]
        self.load(sheet)
        return self.formulas[sheet].get(ref)

    def block(self, sheet: str, area: str) -> list:
        rows = self.xml_cells(sheet).block(area)
        if rows is not None:   # (calamine's grid pads with None and blanks are ""; callers take both)
            return rows
        self.load(sheet)
        first, _, last = area.partition(":")
        (r1, c1), (r2, c2) = split_ref(first), split_ref(last or first)
        grid = self.grids[sheet]
        width = c2 - c1 + 1
        rows = []
        for line in grid[r1 - 1:r2]:
            cells = line[c1 - 1:c2]
            rows.append(cells + [None] * (width - len(cells)))
        return rows + [[None] * width] * (r2 - r1 + 1 - len(rows))


class Reader:
    """Reads names of one workbook from a ``CellSource`` into a ``WorkbookData``."""

    def __init__(self, path: Path, source: CellSource):
        self.path = path
        self.sheets = source
        names = {}
        for name, (sheet, area) in source.defined_names().items():
            names[name.lower()] = (name, sheet, area)
        self.data = WorkbookData(path=path, names=names)

    def value(self, name: str, *, what: str = "", code=None, key=None, output=False):
        """The value of a single-cell name (None when blank or missing)."""
        where = self.data.cell_of(name)
        if where is None:
            return None
        return self.cell_value(where[0], where[1], what=what, code=code, key=key, output=output)

    def cell_value(self, sheet: str, ref: str, *, what: str = "", code=None, key=None, output=False):
        raw = self.sheets.raw(sheet, ref)
        formula = self.sheets.formula(sheet, ref)
        if formula is not None and not output:
            constant = constant_formula_value(formula)
            if constant is not None:
                return constant
            shown = f"（={formula}）" if formula else ""
            self.data.problems.append(Message(
                Message.ERROR, sheet, ref,
                f"{what or '输入单元格'}含公式{shown}，公式的计算结果无法可靠读取（程序填写的工作簿没有计算结果），请直接填写数值"))
            if code is not None:
                self.data.origins[(code, key)] = (sheet, ref)
                self.data.problem_keys.add((code, key))
            return None
        return clean_value(raw)

    def read_meta(self) -> None:
        meta = {}
        for field_name in N.META_FIELDS:
            value = self.value(N.meta_name(field_name), what=f"基本信息“{N.META_LABELS[field_name]}”")
            meta[field_name] = None if value is None else (fmt(value) if isinstance(value, Decimal) else str(value)).strip()
        self.data.meta = meta
        self.data.pack_id = meta.get("pack_id") or None
        self.data.pack_version = meta.get("pack_version") or None

    def read_inputs(self, pack: Pack) -> None:
        data = self.data
        data.pack = pack
        for indicator in pack.indicators:
            code = indicator.code
            mapping: dict = {}
            status = self.value(N.status_name(code), what=f"指标{code}的状态", code=code, key=N.STATUS_KEY)
            if status is not None:
                mapping[N.STATUS_KEY] = status
            for spec in indicator.compiled.specs:
                name = N.spec_name(code, spec)
                key = f"{spec.part}.{spec.key}" if spec.part else spec.key
                what = f"指标{code}的“{spec.label}”"
                if data.area_of(name) is None:
                    if spec.required and spec.default is None:
                        data.problems.append(Message(
                            Message.ERROR, "", "",
                            f"工作簿缺少名称“{name}”（{what}）：模板可能来自其他版本的规则包，或该行已被删除；"
                            f"请用 anju template --pack {pack.id} 重新生成模板后填写"))
                    continue
                if spec.kind == N.ANSWERS_KIND:
                    value = self.read_answers(code, spec, name, key, what)
                else:
                    value = self.value(name, what=what, code=code, key=key)
                if value is None:
                    continue
                if (spec.kind == "percent" or spec.unit == "%") and isinstance(value, Decimal) and 0 < value < 1:
                    self.percent_note(name, what, value)
                target = mapping.setdefault(spec.part, {}) if spec.part else mapping
                target[spec.key] = value
            data.inputs[code] = mapping
            for which, store in (("claimed", data.claimed), ("claimed2", data.claimed2)):
                value = self.value(N.claimed_name(code, which), what=f"指标{code}的填报得分")
                if value is not None:
                    store[code] = value
        data.claimed_total = self.value(N.TOTAL_CLAIMED["claimed"], what="填报总分")
        data.claimed_grade = self.value(N.GRADE_CLAIMED["claimed"], what="填报等级")
        data.claimed_total2 = self.value(N.TOTAL_CLAIMED["claimed2"], what="对照总分")
        data.claimed_grade2 = self.value(N.GRADE_CLAIMED["claimed2"], what="对照等级")

    def percent_note(self, name: str, what: str, value: Decimal) -> None:
        """95% typed into Excel arrives as 0.95: computed as written (0.95%), but pointed out."""
        sheet, ref = self.data.cell_of(name)
        hundred = fmt(value * 100)
        self.data.notes.append(Message(
            Message.WARNING, sheet, ref,
            f"{what}为{fmt(value)}，按{fmt(value)}%计算；如实际是{hundred}%，请填写{hundred}（百分数填写百分点数，不带%）"))

    def read_answers(self, code: str, spec, name: str, key: str, what: str):
        """A survey range: {label: count}, a state word, or None when all counts are blank."""
        sheet, area = self.data.area_of(name)
        rows = area_cells(area)
        if len(rows[0]) < 2:
            self.data.problems.append(Message(Message.ERROR, sheet, area, f"名称“{name}”应为两列（选项、人数）的区域"))
            return None
        answers = {}
        for row in rows:
            label = self.cell_value(sheet, row[0], what=f"{what}的选项", code=code, key=key)
            count = self.cell_value(sheet, row[1], what=f"{what}的人数", code=code, key=key)
            if count is None:
                continue
            state = input_state(count)
            if state:
                self.data.origins[(code, key)] = (sheet, row[1])
                return count
            if label is None:
                self.data.problems.append(Message(Message.ERROR, sheet, row[0], f"{what}：填写了人数但选项名称为空"))
                self.data.problem_keys.add((code, key))
                continue
            label_text = str(label).strip()
            try:   # the engine's own check, per row, so the message names the exact cell
                parse_answers({label_text: count}, what, code, key)
            except InputError as exc:
                self.data.problems.append(Message(Message.ERROR, sheet, row[1], str(exc)))
                self.data.origins[(code, key)] = (sheet, row[1])
                self.data.problem_keys.add((code, key))
                continue
            answers[label_text] = count
        return answers or None

    def read_outputs(self, pack: Pack) -> None:
        """Current output values, to tell whether a recalculation would change anything."""
        wanted = [N.OUT_TOTAL, N.OUT_GRADE, N.OUT_STAMP, N.OUT_SCORES_SUM]
        for indicator in pack.indicators:
            wanted += [N.score_name(indicator.code), N.rate_name(indicator.code), N.explain_name(indicator.code)]
        for number in range(1, len(N.level_groups(pack)) + 1):
            wanted += [N.level_score_name(number), N.level_rate_name(number)]
        for name in wanted:
            if self.data.area_of(name):
                self.data.outputs[name] = self.value(name, output=True)
        area = self.data.area_of(N.OUT_MESSAGES)
        if area:
            sheet, ref = area
            for row, raw in zip(area_cells(ref), self.sheets.block(sheet, ref)):
                if raw.count(None) + raw.count("") == len(raw):
                    continue   # a blank row
                values = tuple(clean_value(v) for v in raw)
                if any(v is not None for v in values):
                    self.data.messages.append((row, values))


def file_reader(path) -> Reader:
    """A reader over a closed file (raises WorkbookFileError for files that are not usable workbooks)."""
    path = Path(path)
    package = open_package(path)
    return Reader(path, FileCells(package, path))


def read_with(reader: Reader, pack: Pack | None = None, catalog=None, *, outputs: bool = False) -> WorkbookData:
    """Metadata, then (with the pack named in the workbook unless given) inputs, claimed scores and outputs."""
    reader.read_meta()
    data = reader.data
    if pack is None:
        if not data.pack_id:
            return data
        if catalog is None:
            from ..plugins import catalog as default_catalog
            catalog = default_catalog()
        pack = catalog.pack(data.pack_id)
    reader.read_inputs(pack)
    if outputs:
        reader.read_outputs(pack)
    return data


def read_workbook(path, pack: Pack | None = None, catalog=None, *, outputs: bool = False) -> WorkbookData:
    """Read metadata, inputs and claimed scores of a workbook by defined name.

    ``pack``: the rule pack to read the inputs with; by default the one named in
    ``meta_pack_id``, looked up in ``catalog`` (default: ``engine.plugins.catalog()``).
    Raises ``WorkbookFileError`` for a file that is not a readable workbook and
    ``PackError`` for an unknown pack id. Input problems do not raise: they are in
    ``problems`` (and the engine reports the rest when it scores ``inputs``).
    """
    return read_with(file_reader(path), pack, catalog, outputs=outputs)


__all__ = ["CellSource", "FileCells", "Message", "Reader", "WorkbookData", "WorkbookFileError", "area_cells",
           "constant_formula_value", "file_reader", "formula_cells", "read_with", "read_workbook"]
