"""Lossless write-back of cell values into .xlsx / .xlsm workbooks.

openpyxl's load+save silently drops buttons, VBA links, x14 validations,
shapes, comment formatting and more (see shared/EXCEL-NOTES.md, section 1).
This module therefore never re-serialises a workbook.  It splices new bytes
into the <c> elements of the target cells and copies every other zip member
as its original *compressed* bytes, so untouched parts stay byte-identical.

Behaviour choices (documented here because callers rely on them):

* Shared formulas: writing anything but a CachedValue into the master cell
  of a shared formula is refused with WorkbookFileError while other cells
  still use that formula (the others would lose their formula text).  It is
  allowed when every such cell is overwritten in the same call.
* New cells take the row style (row customFormat="1") or else the column
  style, as Excel does when a user types into an empty formatted cell.
* <dimension> and a row's spans are widened when a new cell lies outside;
  nothing else outside the target cells changes in a sheet part.
* Strings are written as inline strings; the shared-string table is never
  touched.  Literal "_xHHHH_" sequences are protected as Excel expects.
* calcChain.xml loses the entries of target cells whose formula was removed
  or replaced; Excel rebuilds the chain for new formulas itself.
* Edited parts are deflated again at zlib level 1 (fast; a few KB larger
  than level 6); their content is what counts, every other member is copied.

``patch_cells`` opens the file; ``patch_package`` patches a package that is
already open (a recalculation has just read it), and with ``DeferredWrites``
many files are written first and made durable and renamed together (batch).

Only the standard library is used, so this runs inside any host.
"""

from __future__ import annotations

import functools
import io
import os
import posixpath
import re
import stat
import struct
import tempfile
import zipfile
import zlib
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Callable, Iterator
from urllib.parse import unquote
from xml.etree import ElementTree

__all__ = [
    "CachedValue",
    "DeferredWrites",
    "Formula",
    "Package",
    "RowIndex",
    "WorkbookFileError",
    "is_locked",
    "open_package",
    "patch_cells",
    "patch_package",
]

# Zip-bomb limits.  A real template is a few hundred KB; generous margins.
MAX_MEMBER_SIZE = 100 * 1024 * 1024
MAX_TOTAL_SIZE = 512 * 1024 * 1024
_READ_CHUNK = 1024 * 1024

# Prefix of our temporary files, so batch tools can skip them.
TEMP_PREFIX = ".~anju-"

_MAIN_NS = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"
_STRICT_NS = "http://purl.oclc.org/ooxml/spreadsheetml/main"
_PKG_REL_NS = "http://schemas.openxmlformats.org/package/2006/relationships"
_DOC_REL_NS = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"

_OLE_MAGIC = bytes.fromhex("D0CF11E0A1B11AE1")
_ENCRYPTION_STREAM = "EncryptionInfo".encode("utf-16-le")

_MAX_ROW = 1_048_576
_MAX_COL = 16_384
_MAX_TEXT = 32_767
_MAX_DOUBLE = Decimal("1.7976931348623157E+308")

_EXCEL_ERRORS = frozenset(
    {"#NULL!", "#DIV/0!", "#VALUE!", "#REF!", "#NAME?", "#NUM!", "#N/A", "#GETTING_DATA"}
)


# ---------------------------------------------------------------- public types


class WorkbookFileError(Exception):
    """A problem with the file itself; str(e) is a Chinese sentence naming the file
    (and part/sheet/cell when known)."""


@dataclass(frozen=True)
class Formula:
    """Write a formula with a cached value (Decimal/int/float/str/bool/None).

    A cached str is written as t="str", or t="e" when it is an Excel error
    value such as '#DIV/0!'.  A leading '=' in text is tolerated and dropped."""

    text: str  # without leading '='
    cached: object = None


@dataclass(frozen=True)
class CachedValue:
    """Keep the cell's existing formula and replace only its cached <v> value.

    If the cell has no formula, the value is written as a plain value."""

    value: object


@dataclass(frozen=True)
class _SheetEntry:
    name: str
    sheet_id: int | None
    part: str | None


class Package:
    """A validated, opened workbook package (read-only view).

    The whole file is held in memory, so no file handle stays open (on Windows
    an open handle would block the atomic replace)."""

    def __init__(self, path: Path, data: bytes, archive: zipfile.ZipFile):
        self.path = path
        self._data = data
        self._zip = archive
        self._infos = {info.filename.lower(): info for info in archive.infolist()}
        self._xml_cache: dict[str, bytes] = {}
        self.workbook_part = self._find_workbook_part()
        self._workbook = self._parse_xml(self.workbook_part)
        self._check_workbook_root()
        self.workbook_rels = self.relationships(self.workbook_part)
        self._sheets = self._read_sheets()
        self.sheet_names: list[str] = [sheet.name for sheet in self._sheets]
        self._sheets_by_name = {}
        for sheet in reversed(self._sheets):   # the first of duplicate names wins, as in _find_sheet
            self._sheets_by_name[sheet.name] = sheet
        self._names: dict[str, tuple[str, str]] | None = None
        self.file_stamp: tuple[int, int] | None = None   # (size, mtime) when read, set by open_package
        self._row_indexes: dict[str, RowIndex | None] = {}

    # -- public read API

    @property
    def part_names(self) -> list[str]:
        """All zip member names, in archive order."""
        return [info.filename for info in self._zip.infolist()]

    def has_part(self, name: str) -> bool:
        return name.lower() in self._infos

    def sheet_part(self, sheet_name: str) -> str:
        """The zip member holding a sheet, e.g. 'xl/worksheets/sheet2.xml'."""
        return self._sheet(sheet_name).part  # type: ignore[return-value]

    def file_bytes(self) -> bytes:
        """The whole file, as read when the package was opened."""
        return self._data

    def read_part(self, name: str) -> bytes:
        """The decompressed bytes of a member (size-capped against zip bombs)."""
        return self._inflate(self._info(name))

    def defined_names(self) -> dict[str, tuple[str, str]]:
        """Workbook-level names -> (sheet name, 'A1' or 'A1:B7' without $).

        Sheet-local names, #REF!, constants, formulas and multi-area
        references are skipped."""
        if self._names is None:
            self._names = _workbook_names(self._workbook, tuple(self.sheet_names))
        return dict(self._names)

    def cell_formula(self, sheet_name: str, ref: str) -> str | None:
        """The formula text of a cell (without '='), or None.

        Cells that use a shared formula get the master's text translated to
        their own position, as Excel shows it."""
        sheet = self._sheet(sheet_name)
        row, col = _split_ref(ref)
        xml = self.sheet_xml(sheet)
        layout = _SheetLayout.locate(xml, self._where(sheet))
        cells = {(c.row, c.col): c for c in layout.iter_cells(xml)}
        cell = cells.get((row, col))
        formula = cell and cell.formula(xml, layout.prefix)
        if not formula:
            return None
        if formula.text or not formula.is_shared:
            return _xml_unescape(formula.text)
        master = _find_shared_master(xml, layout, formula.shared_index)
        if master is None:
            return None
        text, (master_row, master_col) = master
        return _shift_formula(_xml_unescape(text), row - master_row, col - master_col)

    # -- helpers shared with the patcher

    def relationships(self, source_part: str) -> dict[str, tuple[str, str | None]]:
        """Relationships of a part: id -> (type, target part or None if external)."""
        rels_part = posixpath.join(
            posixpath.dirname(source_part), "_rels", posixpath.basename(source_part) + ".rels"
        )
        if not self.has_part(rels_part):
            return {}
        result = {}
        for rel in self._parse_xml(rels_part).iter(f"{{{_PKG_REL_NS}}}Relationship"):
            external = rel.get("TargetMode") == "External"
            target = None if external else _resolve_target(source_part, rel.get("Target", ""))
            result[rel.get("Id", "")] = (rel.get("Type", ""), target)
        return result

    def xml_part(self, name: str) -> bytes:
        """Decompressed XML of a part, refused if it declares a DOCTYPE/ENTITY."""
        info = self._info(name)
        if info.filename not in self._xml_cache:
            data = self._inflate(info)
            if _declares_doctype(data):
                raise self._error(
                    f"中的部件“{info.filename}”包含 DOCTYPE/实体声明，可能是恶意构造的文件，已拒绝处理。"
                )
            self._xml_cache[info.filename] = data
        return self._xml_cache[info.filename]

    def sheet_xml(self, sheet: _SheetEntry) -> bytes:
        return self.xml_part(sheet.part)  # type: ignore[arg-type]

    def row_index(self, part: str) -> RowIndex | None:
        """The RowIndex of a worksheet part (None when its rows cannot be found by address)."""
        name = self.real_part_name(part)
        if name not in self._row_indexes:
            self._row_indexes[name] = RowIndex.of(self.xml_part(name))
        return self._row_indexes[name]

    def real_part_name(self, name: str) -> str:
        return self._info(name).filename

    def _sheet(self, sheet_name: str) -> _SheetEntry:
        sheet = self._find_sheet(sheet_name)
        if sheet is None:
            existing = "、".join(f"“{n}”" for n in self.sheet_names)
            raise self._error(f"中没有名为“{sheet_name}”的工作表（现有：{existing}）。")
        if sheet.part is None or not self.has_part(sheet.part):
            raise self._error(f"已损坏：找不到工作表“{sheet.name}”的内容部件。")
        return sheet

    def _find_sheet(self, sheet_name: str) -> _SheetEntry | None:
        sheet = self._sheets_by_name.get(sheet_name)
        if sheet is not None:
            return sheet
        # Excel treats sheet names case-insensitively.
        for sheet in self._sheets:
            if sheet.name.casefold() == sheet_name.casefold():
                return sheet
        return None

    def _where(self, sheet: _SheetEntry) -> str:
        return f"“{self.path.name}”工作表“{sheet.name}”"

    def _error(self, rest: str) -> WorkbookFileError:
        return WorkbookFileError(f"“{self.path.name}”{rest}")

    # -- loading

    def _info(self, name: str) -> zipfile.ZipInfo:
        info = self._infos.get(name.lower())
        if info is None:
            raise self._error(f"已损坏：缺少部件“{name}”。")
        return info

    def _inflate(self, info: zipfile.ZipInfo) -> bytes:
        # Stream with a hard cap: the declared size was checked on open, and a
        # header that lies about it cannot make us inflate more than the cap.
        cap = min(info.file_size, MAX_MEMBER_SIZE)
        if info.compress_type == zipfile.ZIP_DEFLATED:
            data = self._inflate_directly(info, cap)
            if data is not None:
                return data
        chunks, total = [], 0
        try:
            with self._zip.open(info) as stream:
                while chunk := stream.read(_READ_CHUNK):
                    total += len(chunk)
                    if total > cap:
                        raise self._error(
                            f"中的部件“{info.filename}”解压后超出声明大小，疑似压缩炸弹，已拒绝处理。"
                        )
                    chunks.append(chunk)
        except (zipfile.BadZipFile, zlib.error, EOFError, NotImplementedError, OSError) as exc:
            raise self._error(f"已损坏：部件“{info.filename}”无法解压（{exc}）。") from exc
        return b"".join(chunks)

    def _inflate_directly(self, info: zipfile.ZipInfo, cap: int) -> bytes | None:
        """A deflated member inflated in one call from the bytes in memory (zipfile's stream
        costs more than the inflating for parts this small); None when anything is unusual,
        so that the streaming path above judges it and words the error exactly as before."""
        try:
            member = _original_member(self, info)
        except (WorkbookFileError, struct.error):
            return None
        name_start = info.header_offset + _LOCAL_HEADER.size
        if self._data[name_start : name_start + len(info.orig_filename.encode())] != info.orig_filename.encode():
            return None   # the local header names another file (or another encoding)
        inflater = zlib.decompressobj(-15)
        try:
            data = inflater.decompress(member.raw, cap + 1)
        except zlib.error:
            return None
        if len(data) != info.file_size or not inflater.eof or zlib.crc32(data) != info.CRC:
            return None   # (more than declared included: inflating stopped at cap + 1 bytes)
        return data

    def _parse_xml(self, name: str) -> ElementTree.Element:
        """The parsed part (read-only: trees are shared between packages with the same bytes)."""
        try:
            return _parsed_xml(self.xml_part(name))
        except ElementTree.ParseError as exc:
            raise self._error(f"已损坏：部件“{name}”不是有效的 XML（{exc}）。") from exc

    def _find_workbook_part(self) -> str:
        part = "xl/workbook.xml"
        if self.has_part("_rels/.rels"):
            for rel_type, target in self.relationships("").values():
                if rel_type.endswith("/officeDocument") and target:
                    part = target
                    break
        if part.lower().endswith(".bin") or self.has_part("xl/workbook.bin"):
            raise self._error(_XLSB_MESSAGE)
        if not self.has_part(part):
            raise self._error(f"不是 Excel 工作簿：缺少 {part}。")
        return self.real_part_name(part)

    def _check_workbook_root(self) -> None:
        tag = self._workbook.tag
        if tag == f"{{{_STRICT_NS}}}workbook":
            raise self._error(_STRICT_MESSAGE)
        if tag != f"{{{_MAIN_NS}}}workbook":
            raise self._error(f"不是 Excel 工作簿：{self.workbook_part} 的根元素不是 workbook。")

    def _read_sheets(self) -> list[_SheetEntry]:
        sheets = []
        for element in self._workbook.iter(f"{{{_MAIN_NS}}}sheet"):
            _, target = self.workbook_rels.get(element.get(f"{{{_DOC_REL_NS}}}id", ""), ("", None))
            sheet_id = element.get("sheetId", "")
            sheets.append(
                _SheetEntry(
                    name=element.get("name", ""),
                    sheet_id=int(sheet_id) if sheet_id.isdigit() else None,
                    part=self.real_part_name(target) if target and self.has_part(target) else target,
                )
            )
        return sheets


@functools.lru_cache(maxsize=64)
def _parsed_xml(data: bytes) -> ElementTree.Element:
    # Workbooks made from one template share workbook.xml and its relationships
    # byte for byte; parsing them once per batch instead of once per file.
    return ElementTree.fromstring(data)


@functools.lru_cache(maxsize=64)
def _workbook_names(workbook: ElementTree.Element, sheet_names: tuple[str, ...]) -> dict[str, tuple[str, str]]:
    """Package.defined_names of a parsed workbook.xml (cached: the tree is shared, see _parsed_xml)."""
    exact = {name: name for name in reversed(sheet_names)}
    folded = {name.casefold(): name for name in reversed(sheet_names)}
    names: dict[str, tuple[str, str]] = {}
    container = workbook.find(f"{{{_MAIN_NS}}}definedNames")
    for element in container if container is not None else ():
        if element.get("localSheetId") is not None:
            continue
        target = _parse_name_reference((element.text or "").strip())
        if target is None:
            continue
        sheet = exact.get(target[0]) or folded.get(target[0].casefold())   # Excel ignores case in sheet names
        if sheet is not None:
            names[element.get("name", "")] = (sheet, target[1])
    return names


_XLSB_MESSAGE = "是 Excel 二进制工作簿（.xlsb），不支持。请在 Excel 中另存为“Excel 工作簿（*.xlsx）”或“启用宏的工作簿（*.xlsm）”后再试。"
_STRICT_MESSAGE = "是“Strict Open XML 电子表格”格式，不支持。请在 Excel 中另存为“Excel 工作簿（*.xlsx）”后再试。"


# ---------------------------------------------------------------- opening


def open_package(path) -> Package:
    """Open and validate a workbook; raises WorkbookFileError with a Chinese message."""
    path = Path(path)
    stamp = _file_stamp(path)
    data = _read_file(path)
    _refuse_non_zip_formats(path, data)
    archive = _open_zip(path, data)
    _check_members(path, archive)
    package = Package(path, data, archive)
    package.file_stamp = stamp
    return package


def _read_file(path: Path) -> bytes:
    name = path.name
    if path.suffix.lower() == ".xlsb":
        raise WorkbookFileError(f"“{name}”{_XLSB_MESSAGE}")
    try:
        size = path.stat().st_size
        if not path.is_file():
            raise WorkbookFileError(f"“{name}”不是文件。")
        if size > MAX_TOTAL_SIZE:
            raise WorkbookFileError(f"“{name}”过大（{size // 2**20} MB），已拒绝处理。")
        return path.read_bytes()
    except FileNotFoundError:
        raise WorkbookFileError(f"找不到文件“{path}”。") from None
    except OSError as exc:
        raise WorkbookFileError(f"无法读取文件“{name}”：{exc.strerror or exc}。") from exc


def _refuse_non_zip_formats(path: Path, data: bytes) -> None:
    if not data.startswith(_OLE_MAGIC):
        return
    # Encrypted OOXML is an OLE compound file with an "EncryptionInfo" stream;
    # directory entry names are stored in UTF-16LE.
    if _ENCRYPTION_STREAM in data:
        raise WorkbookFileError(
            f"“{path.name}”已用密码加密，无法处理。请在 Excel 中去掉打开密码"
            "（文件 → 信息 → 保护工作簿 → 用密码进行加密，清空密码）并保存后再试。"
        )
    raise WorkbookFileError(
        f"“{path.name}”是旧版 Excel 97-2003 工作簿（.xls），不支持。"
        "请在 Excel 中另存为“Excel 工作簿（*.xlsx）”后再试。"
    )


def _open_zip(path: Path, data: bytes) -> zipfile.ZipFile:
    try:
        return zipfile.ZipFile(io.BytesIO(data))
    except (zipfile.BadZipFile, zipfile.LargeZipFile, ValueError, EOFError, struct.error, OSError):
        raise WorkbookFileError(
            f"“{path.name}”不是有效的 Excel 工作簿（文件已损坏，或者并不是 .xlsx/.xlsm 文件）。"
        ) from None


def _check_members(path: Path, archive: zipfile.ZipFile) -> None:
    seen: set[str] = set()
    total = 0
    for info in archive.infolist():
        key = info.filename.lower()
        if key in seen:
            raise WorkbookFileError(f"“{path.name}”已损坏：部件“{info.filename}”重复出现。")
        seen.add(key)
        if info.flag_bits & 0x1:
            raise WorkbookFileError(f"“{path.name}”已损坏：部件“{info.filename}”被 zip 加密。")
        if info.file_size > MAX_MEMBER_SIZE:
            raise WorkbookFileError(
                f"“{path.name}”中的部件“{info.filename}”解压后过大"
                f"（{info.file_size // 2**20} MB，上限 {MAX_MEMBER_SIZE // 2**20} MB），"
                "疑似压缩炸弹，已拒绝处理。"
            )
        total += info.file_size
    if total > MAX_TOTAL_SIZE:
        raise WorkbookFileError(
            f"“{path.name}”解压后总大小过大（{total // 2**20} MB，上限 {MAX_TOTAL_SIZE // 2**20} MB），"
            "疑似压缩炸弹，已拒绝处理。"
        )


def _declares_doctype(data: bytes) -> bool:
    if data[:2] in (b"\xff\xfe", b"\xfe\xff"):
        data = data.decode("utf-16", errors="replace").encode("utf-8")
    if b"<!" not in data:   # one scan for the usual part without any declaration
        return False
    return b"<!DOCTYPE" in data or b"<!ENTITY" in data


def _resolve_target(source_part: str, target: str) -> str:
    target = unquote(target)
    if target.startswith("/"):
        return posixpath.normpath(target.lstrip("/"))
    return posixpath.normpath(posixpath.join(posixpath.dirname(source_part), target))


# ---------------------------------------------------------------- lock files


def is_locked(path) -> Path | None:
    """The Office/WPS lock file (~$name) next to the workbook, if present.

    LibreOffice's '.~lock.name#' is reported too: it also keeps the file open."""
    path = Path(path)
    for lock_name in (f"~${path.name}", f".~lock.{path.name}#"):
        candidate = path.with_name(lock_name)
        if candidate.exists():
            return candidate
    return None


def _refuse_if_locked(path: Path) -> None:
    lock = is_locked(path)
    if lock is not None:
        raise WorkbookFileError(
            f"“{path.name}”正在 Excel/WPS 中打开（发现锁定文件“{lock.name}”），请先关闭该文件再重试。"
        )


# ---------------------------------------------------------------- XML byte helpers

_ATTR = rb"""\s+[^\s=/>]+\s*=\s*(?:"[^"]*"|'[^']*')"""
_ATTR_PAIR = re.compile(rb"""([^\s=/>]+)\s*=\s*("[^"]*"|'[^']*')""")
_ILLEGAL_XML_CHARS = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff\ud800-\udfff]")
_EXCEL_ESCAPE_LIKE = re.compile("_(x[0-9A-Fa-f]{4}_)")


@functools.lru_cache(maxsize=64)
def _start_tag(prefix: bytes, local: bytes) -> re.Pattern[bytes]:
    """Matches a start tag; group 1 = attributes, group 2 = '/' when self-closing."""
    return re.compile(b"<" + re.escape(prefix + local) + b"((?:" + _ATTR + rb")*)\s*(/?)>")


@functools.lru_cache(maxsize=64)
def _prefix_finder(local: bytes) -> re.Pattern[bytes]:
    return re.compile(rb"<((?:[A-Za-z_][\w.\-]*:)?)" + local + rb"[\s/>]")


def _prefix_of(xml: bytes, local: bytes) -> bytes | None:
    """The namespace prefix ('x:' or b'') used for an element, None if absent."""
    match = _prefix_finder(local).search(xml)
    return match.group(1) if match else None


def _attr_list(raw: bytes) -> list[tuple[bytes, bytes]]:
    """Attributes as (name, quoted value) in document order."""
    return _ATTR_PAIR.findall(raw)


def _attr_map(raw: bytes) -> dict[bytes, bytes]:
    return {name: quoted[1:-1] for name, quoted in _ATTR_PAIR.findall(raw)}


def _with_attr(raw: bytes, name: bytes, value: bytes) -> bytes:
    """Attribute bytes with one attribute set, others kept verbatim."""
    pattern = re.compile(rb"(\s" + re.escape(name) + rb"""\s*=\s*)(?:"[^"]*"|'[^']*')""")
    if pattern.search(raw):
        return pattern.sub(lambda m: m.group(1) + b'"' + value + b'"', raw, count=1)
    return raw + b" " + name + b'="' + value + b'"'


def _element_end(xml: bytes, match: re.Match[bytes], prefix: bytes, local: bytes, limit: int) -> int:
    """End offset of the element whose start tag is `match`, or -1."""
    if match.group(2):
        return match.end()
    close = b"</" + prefix + local + b">"
    at = xml.find(close, match.end(), limit)
    return at + len(close) if at >= 0 else -1


def _xml_escape_text(text: str) -> bytes:
    text = _ILLEGAL_XML_CHARS.sub("", text)
    text = text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    text = text.replace("\r", "&#13;")  # a raw CR would be normalised to LF by parsers
    return text.encode("utf-8")


def _xml_unescape(raw: bytes) -> str:
    text = raw.decode("utf-8")
    if "&" not in text:
        return text
    return ElementTree.fromstring(b"<t>" + raw + b"</t>").text or ""


def _require_utf8(xml: bytes, where: str) -> None:
    declaration = xml[:100].split(b"?>", 1)[0] if xml.startswith(b"<?xml") else b""
    encoding = re.search(rb"""encoding\s*=\s*["']([^"']+)""", declaration)
    if xml[:2] in (b"\xff\xfe", b"\xfe\xff") or (encoding and encoding.group(1).lower() not in (b"utf-8", b"utf8")):
        raise WorkbookFileError(f"{where}不是 UTF-8 编码的 XML，暂不支持写入。请在 Excel 中另存后再试。")


# ---------------------------------------------------------------- cell references

_REF = re.compile(r"\$?([A-Za-z]{1,3})\$?([0-9]{1,7})")


def _column_index(letters: str) -> int:
    index = 0
    for char in letters.upper():
        index = index * 26 + ord(char) - 64
    return index


@functools.lru_cache(maxsize=1024)
def _column_letters(index: int) -> str:
    letters = ""
    while index:
        index, rest = divmod(index - 1, 26)
        letters = chr(65 + rest) + letters
    return letters


@functools.lru_cache(maxsize=4096)   # the same output cells in every workbook of a batch
def _split_ref(ref: str) -> tuple[int, int]:
    """'B5' -> (5, 2); ValueError (Chinese) for anything else."""
    match = _REF.fullmatch(ref.strip()) if isinstance(ref, str) else None
    if match:
        row, col = int(match.group(2)), _column_index(match.group(1))
        if 1 <= row <= _MAX_ROW and 1 <= col <= _MAX_COL:
            return row, col
    raise ValueError(f"单元格地址“{ref}”无效，应为 A1 形式（例如 B5）。")


def _ref(row: int, col: int) -> str:
    return f"{_column_letters(col)}{row}"


_NAME_REFERENCE = re.compile(
    r"(?:'((?:[^']|'')+)'|([^'!:\[\]]+))!(\$?[A-Za-z]{1,3}\$?\d+(?::\$?[A-Za-z]{1,3}\$?\d+)?)")


@functools.lru_cache(maxsize=4096)   # a template's names repeat in every workbook made from it
def _parse_name_reference(text: str) -> tuple[str, str] | None:
    """"'评分表'!$B$5:$C$7" -> ('评分表', 'B5:C7'); None for anything else."""
    text = text.lstrip("=")
    match = _NAME_REFERENCE.fullmatch(text)
    if not match:
        return None
    sheet = match.group(1).replace("''", "'") if match.group(1) else match.group(2)
    area = match.group(3).replace("$", "").upper()
    for ref in area.split(":"):
        try:
            _split_ref(ref)
        except ValueError:
            return None
    return sheet, area


# ---------------------------------------------------------------- formula translation

_FORMULA_TOKEN = re.compile(
    r""""(?:[^"]|"")*"|'(?:[^']|'')*'|\[[^\]]*\]"""  # strings, quoted sheets, [brackets]: kept as is
    r"""|(?<![\w.$])(\$?)([A-Za-z]{1,3}):(\$?)([A-Za-z]{1,3})(?![\w.(!])"""  # A:C
    r"""|(?<![\w.$:])(\$?)(\d+):(\$?)(\d+)(?![\w.(!:])"""  # 1:3
    r"""|(?<![\w.$])(\$?)([A-Za-z]{1,3})(\$?)(\d+)(?![\w.(!])"""  # B5
)


def _shift_formula(text: str, rows: int, cols: int) -> str:
    """Move the relative references of a formula, as Excel does for shared formulas."""

    def shift(value: int, absolute: str, delta: int, limit: int) -> int | None:
        moved = value if absolute else value + delta
        return moved if 1 <= moved <= limit else None

    def replace(match: re.Match[str]) -> str:
        g = match.groups()
        if g[1] is not None:  # column range
            a = shift(_column_index(g[1]), g[0], cols, _MAX_COL)
            b = shift(_column_index(g[3]), g[2], cols, _MAX_COL)
            return "#REF!" if a is None or b is None else f"{g[0]}{_column_letters(a)}:{g[2]}{_column_letters(b)}"
        if g[5] is not None:  # row range
            a = shift(int(g[5]), g[4], rows, _MAX_ROW)
            b = shift(int(g[7]), g[6], rows, _MAX_ROW)
            return "#REF!" if a is None or b is None else f"{g[4]}{a}:{g[6]}{b}"
        if g[9] is not None and _column_index(g[9]) <= _MAX_COL:  # cell
            c = shift(_column_index(g[9]), g[8], cols, _MAX_COL)
            r = shift(int(g[11]), g[10], rows, _MAX_ROW)
            return "#REF!" if c is None or r is None else f"{g[8]}{_column_letters(c)}{g[10]}{r}"
        return match.group(0)

    return _FORMULA_TOKEN.sub(replace, text)


# ---------------------------------------------------------------- sheet XML scanning


@dataclass
class _FormulaElement:
    start: int
    end: int
    attrs: dict[bytes, bytes]
    text: bytes

    @property
    def is_shared(self) -> bool:
        return self.attrs.get(b"t") == b"shared"

    @property
    def shared_index(self) -> bytes | None:
        return self.attrs.get(b"si") if self.is_shared else None

    @property
    def is_shared_master(self) -> bool:
        return self.is_shared and b"ref" in self.attrs


@dataclass
class _Cell:
    row: int
    col: int
    start: int
    end: int
    attrs_raw: bytes
    inner_start: int
    inner_end: int

    def formula(self, xml: bytes, prefix: bytes) -> _FormulaElement | None:
        if xml.find(b"<" + prefix + b"f", self.inner_start, self.inner_end) < 0:
            return None   # most cells: no need for the regex
        match = _start_tag(prefix, b"f").search(xml, self.inner_start, self.inner_end)
        if not match:
            return None
        end = _element_end(xml, match, prefix, b"f", self.inner_end)
        text_end = end - len(b"</" + prefix + b"f>") if not match.group(2) else match.end()
        return _FormulaElement(match.start(), end, _attr_map(match.group(1)), xml[match.end():text_end])


@dataclass
class _Row:
    number: int
    tag: re.Match[bytes]
    content_start: int
    content_end: int
    end: int

    @property
    def self_closing(self) -> bool:
        return bool(self.tag.group(2))


@dataclass
class _SheetLayout:
    """Where <sheetData> sits in a worksheet part, and its namespace prefix."""

    prefix: bytes
    data_tag: re.Match[bytes]
    content_start: int
    content_end: int
    where: str

    @classmethod
    def locate(cls, xml: bytes, where: str) -> _SheetLayout:
        prefix = _prefix_of(xml, b"sheetData")
        if prefix is None:
            raise WorkbookFileError(f"{where}不是普通工作表（例如图表工作表），不能写入单元格。")
        tag = _start_tag(prefix, b"sheetData").search(xml)
        if tag is None:
            raise _corrupt(where, "sheetData")
        if tag.group(2):
            return cls(prefix, tag, tag.end(), tag.end(), where)
        close = xml.find(b"</" + prefix + b"sheetData>", tag.end())
        if close < 0:
            raise _corrupt(where, "sheetData")
        return cls(prefix, tag, tag.end(), close, where)

    def iter_rows(self, xml: bytes) -> Iterator[_Row]:
        row_tag = _start_tag(self.prefix, b"row")
        position, number = self.content_start, 0
        while match := row_tag.search(xml, position, self.content_end):
            attrs = _attr_map(match.group(1))
            number = _int_attr(attrs, b"r", number + 1, self.where)
            end = _element_end(xml, match, self.prefix, b"row", self.content_end)
            if end < 0:
                raise _corrupt(self.where, f"第 {number} 行")
            content_end = end if match.group(2) else end - len(b"</" + self.prefix + b"row>")
            yield _Row(number, match, match.end(), content_end, end)
            position = end

    def iter_row_cells(self, xml: bytes, row: _Row) -> Iterator[_Cell]:
        cell_tag = _start_tag(self.prefix, b"c")
        position, col = row.content_start, 0
        while match := cell_tag.search(xml, position, row.content_end):
            attrs = _attr_map(match.group(1))
            col = _cell_column(attrs, col + 1, self.where)
            end = _element_end(xml, match, self.prefix, b"c", row.content_end)
            if end < 0:
                raise _corrupt(self.where, _ref(row.number, col))
            inner_end = end if match.group(2) else end - len(b"</" + self.prefix + b"c>")
            yield _Cell(row.number, col, match.start(), end, match.group(1), match.end(), inner_end)
            position = end

    def iter_cells(self, xml: bytes) -> Iterator[_Cell]:
        for row in self.iter_rows(xml):
            yield from self.iter_row_cells(xml, row)


class RowIndex:
    """The rows of a worksheet's sheetData by number, to find cells by their address.

    Built (``RowIndex.of``) only when that finds exactly what reading the sheet in order
    would: no namespace prefix, every <row> starts with r="N" and the numbers ascend, as
    Excel, WPS, LibreOffice, openpyxl and this module write them.  Shared by the reader
    and the patcher through ``Package.row_index``."""

    def __init__(self, data_start: int, data_end: int, spans: dict[int, tuple[int, int]], xml: bytes):
        self.data_start, self.data_end = data_start, data_end
        self.spans = spans    # row number -> (offset of <row, offset of the next <row or </sheetData>)
        self._xml = xml
        self._addressed: dict[int, bool] = {}
        self._cells: dict[str, int | None] = {}   # the reader and then the patcher ask for the same cells

    @classmethod
    def of(cls, xml: bytes) -> RowIndex | None:
        start = xml.find(b"<sheetData>")
        end = xml.find(b"</sheetData>", start)
        if start < 0 or end < 0:
            return None
        start += len(b"<sheetData>")
        starts = [(int(m.group(1)), m.start()) for m in _ROW_NUMBER_TAG.finditer(xml, start, end)]
        if len(starts) != xml.count(b"<row", start, end):
            return None   # a row without r="…" first
        if any(later <= earlier for (earlier, _), (later, _) in zip(starts, starts[1:])):
            return None
        ends = [position for _, position in starts[1:]] + [end]
        return cls(start, end, {n: (position, row_end) for (n, position), row_end in zip(starts, ends)}, xml)

    def cells_addressed(self, number: int) -> bool:
        """Every cell of the row starts with r="…" (a <c…> that is not a cell, such as <color>
        in rich text, only makes the answer no)."""
        if number not in self._addressed:
            start, end = self.spans[number]
            self._addressed[number] = self._xml.count(b"<c", start, end) == self._xml.count(b'<c r="', start, end)
        return self._addressed[number]

    def find_cell(self, number: int, ref: str) -> int | None:
        """Offset of the cell's <c r="ref"… in its row; -1 when the row has no such cell;
        None when unsure (cells without r="…", or the address twice)."""
        try:
            return self._cells[ref]
        except KeyError:
            at = self._cells[ref] = self._find_cell(number, ref)
            return at

    def _find_cell(self, number: int, ref: str) -> int | None:
        if number not in self.spans:
            return -1
        if not self.cells_addressed(number):
            return None
        start, end = self.spans[number]
        key = b'<c r="' + ref.encode() + b'"'
        at = self._xml.find(key, start, end)
        if at >= 0 and self._xml.find(key, at + 1, end) >= 0:
            return None
        return at


_ROW_NUMBER_TAG = re.compile(rb'<row r="([0-9]+)"')


def _int_attr(attrs: dict[bytes, bytes], name: bytes, default: int, where: str) -> int:
    value = attrs.get(name)
    if value is None:
        return default
    if not value.isdigit():
        raise _corrupt(where, f"属性 {name.decode()}=\"{value.decode(errors='replace')}\"")
    return int(value)


def _cell_column(attrs: dict[bytes, bytes], default: int, where: str) -> int:
    ref = attrs.get(b"r")
    if ref is None:
        return default  # cells without r follow the previous cell
    letters = ref.decode("ascii", errors="replace").rstrip("0123456789").lstrip("$")
    if not letters.isalpha() or len(letters) > 3:
        raise _corrupt(where, f"单元格地址“{ref.decode(errors='replace')}”")
    return _column_index(letters)


def _corrupt(where: str, detail: str) -> WorkbookFileError:
    return WorkbookFileError(f"{where}的 XML 结构已损坏（{detail}），无法写入。")


def _find_shared_master(xml: bytes, layout: _SheetLayout, index: bytes | None):
    """(formula text, (row, col)) of the master cell of a shared formula."""
    for cell in layout.iter_cells(xml):
        formula = cell.formula(xml, layout.prefix)
        if formula and formula.shared_index == index and formula.is_shared_master:
            return formula.text, (cell.row, cell.col)
    return None


# ---------------------------------------------------------------- value encoding


def _number_text(value) -> bytes:
    if isinstance(value, Decimal) and not value.is_finite():
        raise ValueError(f"数值 {value} 不能写入 Excel（不是有限数）。")
    if isinstance(value, (int, Decimal)) and abs(Decimal(value)) > _MAX_DOUBLE:
        raise ValueError(f"数值 {value} 超出 Excel 能表示的范围。")
    if isinstance(value, Decimal):
        text = format(value, "f")
        if "." in text:
            text = text.rstrip("0").rstrip(".")
        return b"0" if text in ("-0", "") else text.encode("ascii")
    if isinstance(value, float):
        if value != value or value in (float("inf"), float("-inf")):
            raise ValueError(f"数值 {value} 不能写入 Excel（不是有限数）。")
        return repr(value).encode("ascii")
    return str(int(value)).encode("ascii")


def _string_text(value: str) -> bytes:
    if len(value) > _MAX_TEXT:
        raise ValueError(f"文本长度 {len(value)} 超过 Excel 单元格上限 {_MAX_TEXT} 个字符。")
    # Excel decodes "_xHHHH_" in cell text; protect literal occurrences.
    return _xml_escape_text(_EXCEL_ESCAPE_LIKE.sub(r"_x005F_\1", value))


def _is_number(value) -> bool:
    return isinstance(value, (int, float, Decimal)) and not isinstance(value, bool)


def _unsupported(value) -> TypeError:
    return TypeError(f"不支持写入此类型的单元格值：{type(value).__name__}（{value!r}）。")


def _plain_parts(prefix: bytes, value) -> tuple[bytes | None, bytes]:
    """(t attribute, inner XML) for a plain value."""
    p = prefix
    if value is None:
        return None, b""
    if isinstance(value, bool):
        return b"b", b"<" + p + b"v>" + (b"1" if value else b"0") + b"</" + p + b"v>"
    if _is_number(value):
        return None, b"<" + p + b"v>" + _number_text(value) + b"</" + p + b"v>"
    if isinstance(value, str):
        text = _string_text(value)
        return b"inlineStr", (
            b"<" + p + b"is><" + p + b't xml:space="preserve">' + text + b"</" + p + b"t></" + p + b"is>"
        )
    raise _unsupported(value)


def _cached_parts(prefix: bytes, value) -> tuple[bytes | None, bytes]:
    """(t attribute, <v>) for the cached value of a formula cell."""
    p = prefix
    if value is None:
        return None, b""
    if isinstance(value, str):
        kind = b"e" if value in _EXCEL_ERRORS else b"str"
        return kind, b"<" + p + b"v>" + _string_text(value) + b"</" + p + b"v>"
    if isinstance(value, bool) or _is_number(value):
        return _plain_parts(prefix, value)
    raise _unsupported(value)


def _formula_parts(prefix: bytes, formula: Formula) -> tuple[bytes | None, bytes]:
    if not isinstance(formula.text, str) or not formula.text.strip():
        raise ValueError("公式文本不能为空。")
    text = formula.text[1:] if formula.text.startswith("=") else formula.text
    kind, cached = _cached_parts(prefix, formula.cached)
    return kind, b"<" + prefix + b"f>" + _xml_escape_text(text) + b"</" + prefix + b"f>" + cached


def _check_value(value) -> None:
    """Fail on unsupported values before any file is written."""
    if isinstance(value, Formula):
        _formula_parts(b"", value)
    elif isinstance(value, CachedValue):
        _check_plain(value.value)   # plain and cached values accept the same types
    else:
        _check_plain(value)


def _check_plain(value) -> None:
    """What _plain_parts would refuse, without encoding the value."""
    if value is None or isinstance(value, bool):
        return
    if _is_number(value):
        _number_text(value)
    elif isinstance(value, str):
        if len(value) > _MAX_TEXT:
            _string_text(value)   # raises the message
    else:
        raise _unsupported(value)


# ---------------------------------------------------------------- sheet patching


@dataclass
class _SheetResult:
    xml: bytes
    touched_formula: bool = False
    chain_refs: set[str] = field(default_factory=set)  # cells to drop from calcChain


@dataclass
class _Splice:
    start: int
    end: int
    data: bytes


class _SheetPatcher:
    """Rewrites the target cells of one worksheet part by splicing bytes."""

    # Attributes that describe the old value, not the cell: dropped on rewrite.
    _VALUE_ATTRS = (b"t", b"vm")

    def __init__(self, xml: bytes, targets: dict[tuple[int, int], object], where: str,
                 rows: RowIndex | None = None):
        self.xml = xml
        self.targets = targets
        self.where = where
        self.layout = _SheetLayout.locate(xml, where)
        self.prefix = self.layout.prefix
        if rows is not None and (rows.data_start, rows.data_end) != (self.layout.content_start, self.layout.content_end):
            rows = None
        self.rows = rows   # finds target rows and cells by address when possible
        self.splices: list[_Splice] = []
        self.result = _SheetResult(xml)
        self.new_cells: list[tuple[int, int]] = []
        self.dropped_masters: dict[bytes, str] = {}  # si -> master ref
        self.dropped_shared: set[tuple[int, int]] = set()
        self._column_styles: list[tuple[int, int, bytes]] | None = None

    def run(self) -> _SheetResult:
        by_row: dict[int, dict[int, object]] = {}
        for (row, col), value in self.targets.items():
            by_row.setdefault(row, {})[col] = value
        rows = self._find_rows(by_row) if self.rows is not None else None
        if rows is not None:
            for row in rows:
                self._patch_row(row, by_row[row.number])
        else:
            self._patch_rows_scanning(by_row)
        self._check_shared_formulas()
        self._widen_dimension()
        self.result.xml = self._apply_splices()
        return self.result

    # -- rows

    def _find_rows(self, by_row: dict[int, dict[int, object]]) -> list[_Row] | None:
        """The target rows found by their address (see RowIndex); None (scan instead)
        when some target row does not exist yet."""
        xml = self.xml
        row_tag = _start_tag(b"", b"row")
        rows = []
        for number in sorted(by_row):
            span = self.rows.spans.get(number)
            match = row_tag.match(xml, span[0], span[1]) if span else None
            row_end = _element_end(xml, match, b"", b"row", span[1]) if match else -1
            if row_end < 0:
                return None
            content_end = row_end if match.group(2) else row_end - len(b"</row>")
            rows.append(_Row(number, match, match.end(), content_end, row_end))
        return rows

    def _patch_rows_scanning(self, by_row: dict[int, dict[int, object]]) -> None:
        pending = sorted(by_row)
        last_wanted = pending[-1]
        for row in self.layout.iter_rows(self.xml):
            while pending and pending[0] < row.number:
                self._splice_in(row.tag.start(), self._new_row(pending.pop(0), by_row))
            if pending and pending[0] == row.number:
                self._patch_row(row, by_row[pending.pop(0)])
            if row.number >= last_wanted:
                break
        self._append_rows(b"".join(self._new_row(number, by_row) for number in pending))

    def _new_row(self, number: int, by_row: dict[int, dict[int, object]]) -> bytes:
        """A new <row> holding the non-empty target cells (b'' if none)."""
        cells = b"".join(
            self._render_new_cell(number, col, value, None)
            for col, value in sorted(by_row[number].items())
            if value is not None
        )
        if not cells:
            return b""
        p = self.prefix
        return b"<" + p + b'row r="' + str(number).encode() + b'">' + cells + b"</" + p + b"row>"

    def _append_rows(self, rows: bytes) -> None:
        if not rows:
            return
        tag = self.layout.data_tag
        if not tag.group(2):
            self._splice_in(self.layout.content_end, rows)
            return
        # <sheetData/> has no room for rows: open it up.
        p = self.prefix
        opened = b"<" + p + b"sheetData" + tag.group(1) + b">" + rows + b"</" + p + b"sheetData>"
        self.splices.append(_Splice(tag.start(), tag.end(), opened))

    def _patch_row(self, row: _Row, wanted: dict[int, object]) -> None:
        found = self._find_cells(row, wanted) if self.rows is not None else None
        if found is None:
            self._patch_row_scanning(row, wanted)
            return
        for cell, value in found:
            self._replace_cell(cell, value)

    def _find_cells(self, row: _Row, wanted: dict[int, object]) -> list[tuple[_Cell, object]] | None:
        """The wanted cells of a row found by their address (see RowIndex); None (scan
        instead) unless each exists exactly once."""
        xml = self.xml
        if row.self_closing:
            return None
        cell_tag = _start_tag(b"", b"c")
        found = []
        for col, value in wanted.items():
            at = self.rows.find_cell(row.number, _ref(row.number, col))
            match = cell_tag.match(xml, at, row.content_end) if at is not None and at >= 0 else None
            cell_end = _element_end(xml, match, b"", b"c", row.content_end) if match else -1
            if cell_end < 0:
                return None
            inner_end = cell_end if match.group(2) else cell_end - len(b"</c>")
            found.append((_Cell(row.number, col, at, cell_end, match.group(1), match.end(), inner_end), value))
        return found

    def _patch_row_scanning(self, row: _Row, wanted: dict[int, object]) -> None:
        wanted = dict(wanted)
        inserts: list[tuple[int, int, bytes]] = []  # (offset, column, cell bytes)
        last_end = row.content_start
        for cell in self.layout.iter_row_cells(self.xml, row):
            for col in sorted(c for c in wanted if c < cell.col):
                inserts.append((cell.start, col, wanted.pop(col)))
            if cell.col in wanted:
                self._replace_cell(cell, wanted.pop(cell.col))
            last_end = cell.end
        inserts += [(last_end, col, wanted[col]) for col in sorted(wanted)]
        new_cells = [
            (at, col, self._render_new_cell(row.number, col, value, row))
            for at, col, value in inserts
            if value is not None  # clearing a cell that does not exist: nothing to do
        ]
        if new_cells:
            self._insert_into_row(row, new_cells)

    def _insert_into_row(self, row: _Row, new_cells: list[tuple[int, int, bytes]]) -> None:
        p = self.prefix
        attrs = row.tag.group(1)
        spans = _widened_spans(_attr_map(attrs).get(b"spans"), [col for _, col, _ in new_cells])
        if spans is not None:
            attrs = _with_attr(attrs, b"spans", spans)
        if row.self_closing:
            # <row .../> becomes <row ...>cells</row>
            cells = b"".join(data for _, _, data in new_cells)
            opened = b"<" + p + b"row" + attrs + b">" + cells + b"</" + p + b"row>"
            self.splices.append(_Splice(row.tag.start(), row.tag.end(), opened))
            return
        if spans is not None:
            self.splices.append(_Splice(row.tag.start(), row.tag.end(), b"<" + p + b"row" + attrs + b">"))
        for at, _, data in new_cells:
            self._splice_in(at, data)

    # -- cells

    def _render_new_cell(self, row_number: int, col: int, value, row: _Row | None) -> bytes:
        self.new_cells.append((row_number, col))
        self._note_formula_use(value, None, _ref(row_number, col))
        style = self._new_cell_style(row, col)
        attrs = [(b"r", b'"' + _ref(row_number, col).encode() + b'"')]
        if style is not None:
            attrs.append((b"s", b'"' + style + b'"'))
        kind, inner = self._value_parts(value, None)
        return self._cell_bytes(attrs, kind, inner)

    def _replace_cell(self, cell: _Cell, value) -> None:
        ref = _ref(cell.row, cell.col)
        old_formula = cell.formula(self.xml, self.prefix)
        keeps_formula = isinstance(value, CachedValue) and old_formula is not None
        self._note_formula_use(value, old_formula, ref)
        if old_formula is not None and old_formula.is_shared and not keeps_formula:
            self.dropped_shared.add((cell.row, cell.col))
            if old_formula.is_shared_master:
                self.dropped_masters[old_formula.shared_index or b""] = ref
        if value is None and old_formula is None and cell.inner_start == cell.inner_end:
            if b"t=" not in cell.attrs_raw:
                return  # already an empty cell: keep its bytes
        drop = self._VALUE_ATTRS if keeps_formula else self._VALUE_ATTRS + (b"cm",)
        attrs = _set_ref([(n, q) for n, q in _attr_list(cell.attrs_raw) if n not in drop], ref)
        kind, inner = self._value_parts(value, old_formula if keeps_formula else None)
        self.splices.append(_Splice(cell.start, cell.end, self._cell_bytes(attrs, kind, inner)))

    def _note_formula_use(self, value, old_formula: _FormulaElement | None, ref: str) -> None:
        keeps_formula = isinstance(value, CachedValue) and old_formula is not None
        if old_formula is not None or isinstance(value, (Formula, CachedValue)):
            self.result.touched_formula = True
        if not keeps_formula:
            self.result.chain_refs.add(ref)

    def _value_parts(self, value, kept_formula: _FormulaElement | None) -> tuple[bytes | None, bytes]:
        if kept_formula is not None:
            kind, cached = _cached_parts(self.prefix, value.value)
            return kind, self.xml[kept_formula.start : kept_formula.end] + cached
        if isinstance(value, Formula):
            return _formula_parts(self.prefix, value)
        if isinstance(value, CachedValue):
            value = value.value
        return _plain_parts(self.prefix, value)

    def _cell_bytes(self, attrs: list[tuple[bytes, bytes]], kind: bytes | None, inner: bytes) -> bytes:
        if kind is not None:
            attrs = attrs + [(b"t", b'"' + kind + b'"')]
        head = b"<" + self.prefix + b"c" + b"".join([b" " + n + b"=" + q for n, q in attrs])
        if not inner:
            return head + b"/>"
        return head + b">" + inner + b"</" + self.prefix + b"c>"

    def _new_cell_style(self, row: _Row | None, col: int) -> bytes | None:
        if row is not None:
            attrs = _attr_map(row.tag.group(1))
            if attrs.get(b"customFormat") in (b"1", b"true") and attrs.get(b"s"):
                return attrs[b"s"]
        if self._column_styles is None:
            self._column_styles = _column_styles(self.xml, self.prefix, self.layout.data_tag.start())
        for low, high, style in self._column_styles:
            if low <= col <= high:
                return style
        return None

    # -- checks and finishing

    def _check_shared_formulas(self) -> None:
        """Refuse to orphan cells that still use a shared formula we remove."""
        if not self.dropped_masters:
            return
        for cell in self.layout.iter_cells(self.xml):
            formula = cell.formula(self.xml, self.prefix)
            index = formula.shared_index if formula else None
            if index in self.dropped_masters and (cell.row, cell.col) not in self.dropped_shared:
                master = self.dropped_masters[index]
                raise WorkbookFileError(
                    f"{self.where}的单元格 {master} 是共享公式的起始单元格，"
                    f"其他单元格（如 {_ref(cell.row, cell.col)}）仍在使用该公式，不能单独改写。"
                    "请同时改写这些单元格，或在 Excel 中重新输入公式后保存。"
                )

    def _widen_dimension(self) -> None:
        if not self.new_cells:
            return
        tag = _start_tag(self.prefix, b"dimension").search(self.xml, 0, self.layout.data_tag.start())
        ref = tag and _attr_map(tag.group(1)).get(b"ref")
        if not ref:
            return
        try:
            corners = [_split_ref(part) for part in ref.decode("ascii").split(":")]
        except (UnicodeDecodeError, ValueError):
            return
        rows = [r for r, _ in corners] + [r for r, _ in self.new_cells]
        cols = [c for _, c in corners] + [c for _, c in self.new_cells]
        first, last = _ref(min(rows), min(cols)), _ref(max(rows), max(cols))
        new_ref = first if first == last else f"{first}:{last}"
        if new_ref.encode() != ref:
            attrs = _with_attr(tag.group(1), b"ref", new_ref.encode())
            closing = self.xml[tag.end(1) : tag.end()]
            self.splices.append(_Splice(tag.start(), tag.end(), b"<" + self.prefix + b"dimension" + attrs + closing))

    def _splice_in(self, at: int, data: bytes) -> None:
        if data:
            self.splices.append(_Splice(at, at, data))

    def _apply_splices(self) -> bytes:
        if not self.splices:
            return self.xml
        # Stable sort keeps insertions at the same offset in the order made.
        ordered = sorted(self.splices, key=lambda s: (s.start, s.end))
        pieces, position = [], 0
        for splice in ordered:
            pieces.append(self.xml[position : splice.start])
            pieces.append(splice.data)
            position = splice.end
        pieces.append(self.xml[position:])
        return b"".join(pieces)


def _set_ref(attrs: list[tuple[bytes, bytes]], ref: str) -> list[tuple[bytes, bytes]]:
    quoted = b'"' + ref.encode() + b'"'
    if attrs and attrs[0] == (b"r", quoted):
        return attrs   # the usual case: r first and already right
    if any(name == b"r" for name, _ in attrs):
        return [(n, quoted if n == b"r" else q) for n, q in attrs]
    return [(b"r", quoted)] + attrs


def _widened_spans(spans: bytes | None, cols: list[int]) -> bytes | None:
    """New spans value when some column lies outside the row's spans, else None.

    spans is only a loading hint, but it must not understate the row."""
    if not spans:
        return None
    try:
        ranges = [tuple(int(n) for n in part.split(b":")) for part in spans.split()]
    except ValueError:
        return None
    if any(len(r) != 2 for r in ranges):
        return None
    if all(any(low <= col <= high for low, high in ranges) for col in cols):
        return None
    low = min(cols + [r[0] for r in ranges])
    high = max(cols + [r[1] for r in ranges])
    return f"{low}:{high}".encode()


def _column_styles(xml: bytes, prefix: bytes, limit: int) -> list[tuple[int, int, bytes]]:
    styles = []
    for match in _start_tag(prefix, b"col").finditer(xml, 0, limit):
        attrs = _attr_map(match.group(1))
        if attrs.get(b"style") and attrs.get(b"min", b"").isdigit() and attrs.get(b"max", b"").isdigit():
            styles.append((int(attrs[b"min"]), int(attrs[b"max"]), attrs[b"style"]))
    return styles


# ---------------------------------------------------------------- workbook-level parts


def _request_full_calc(xml: bytes, where: str) -> bytes:
    """workbook.xml with <calcPr fullCalcOnLoad="1"> (unchanged bytes if already set)."""
    prefix = _prefix_of(xml, b"workbook") or b""
    tag = _start_tag(prefix, b"calcPr").search(xml)
    if tag is not None:
        if _attr_map(tag.group(1)).get(b"fullCalcOnLoad") in (b"1", b"true"):
            return xml
        attrs = _with_attr(tag.group(1), b"fullCalcOnLoad", b"1")
        return xml[: tag.start(1)] + attrs + xml[tag.end(1) :]
    # calcPr follows these elements in CT_Workbook's sequence.
    for preceding in (b"definedNames", b"externalReferences", b"functionGroups", b"sheets"):
        match = _start_tag(prefix, preceding).search(xml)
        if match is not None:
            end = _element_end(xml, match, prefix, preceding, len(xml))
            if end < 0:
                raise _corrupt(where, preceding.decode())
            return xml[:end] + b"<" + prefix + b'calcPr fullCalcOnLoad="1"/>' + xml[end:]
    raise _corrupt(where, "sheets")


def _prune_calc_chain(xml: bytes, drop: set[tuple[int | None, str]]) -> bytes | None:
    """calcChain.xml without the given (sheetId, ref) entries; None when empty.

    An entry without i inherits the previous entry's sheet id, and l="1"
    (start of a new dependency level) must not vanish with its entry, so both
    are carried over to the next kept entry when needed."""
    prefix = _prefix_of(xml, b"calcChain") or b""
    pieces, position, kept, changed = [], 0, 0, False
    old_sheet = new_sheet = None
    carry_level = False
    for match in _start_tag(prefix, b"c").finditer(xml):
        attrs = _attr_map(match.group(1))
        explicit = attrs.get(b"i")
        old_sheet = int(explicit) if explicit and explicit.isdigit() else old_sheet
        ref = attrs.get(b"r", b"").decode("ascii", errors="replace").replace("$", "")
        end = _element_end(xml, match, prefix, b"c", len(xml))
        if (old_sheet, ref) in drop:
            pieces.append(xml[position : match.start()])
            position, changed = end, True
            carry_level = carry_level or attrs.get(b"l") in (b"1", b"true")
            continue
        kept += 1
        extra = b""
        if explicit is None and old_sheet != new_sheet and old_sheet is not None:
            extra += b' i="' + str(old_sheet).encode() + b'"'
        if carry_level and b"l" not in attrs:
            extra += b' l="1"'
        carry_level = False
        new_sheet = old_sheet
        if extra:
            pieces.append(xml[position : match.end(1)] + extra)
            position, changed = match.end(1), True
    if not kept:
        return None
    if not changed:
        return xml
    pieces.append(xml[position:])
    return b"".join(pieces)


def _remove_element(xml: bytes, local: bytes, predicate: Callable[[dict[bytes, bytes]], bool]) -> bytes:
    """xml without the first <local> element whose attributes satisfy predicate."""
    prefix = _prefix_of(xml, local) or b""
    for match in _start_tag(prefix, local).finditer(xml):
        if predicate(_attr_map(match.group(1))):
            end = _element_end(xml, match, prefix, local, len(xml))
            if end >= 0:
                return xml[: match.start()] + xml[end:]
    return xml


# ---------------------------------------------------------------- planning a patch


def _plan_changes(package: Package, edits: dict[str, dict[str, object]],
                  full_calc_on_load: bool = False) -> dict[str, bytes | None]:
    """New bytes per changed part name (None = drop the part)."""
    changes: dict[str, bytes | None] = {}
    chain_drop: set[tuple[int | None, str]] = set()
    touched_formula = False
    for sheet_name, targets in _normalised_edits(package, edits).items():
        sheet = package._sheet(sheet_name)
        where = package._where(sheet)
        xml = package.sheet_xml(sheet)
        _require_utf8(xml, where)
        result = _SheetPatcher(xml, targets, where, package.row_index(sheet.part)).run()
        if result.xml != xml:
            changes[sheet.part] = result.xml  # type: ignore[index]
        touched_formula |= result.touched_formula
        chain_drop |= {(sheet.sheet_id, ref) for ref in result.chain_refs}
    if chain_drop:
        changes.update(_calc_chain_changes(package, chain_drop))
    if touched_formula or full_calc_on_load:
        # Excel does not recalculate a file on open unless asked to, and
        # fullCalcOnLoad also makes it rebuild calcChain and offer "save?" on
        # close.  Plain values written by the engine need none of that, so the
        # flag is set only when a formula cell was involved (or the caller
        # knows formulas depend on the new values); a plain value patch leaves
        # workbook.xml byte-identical.
        workbook_xml = package.xml_part(package.workbook_part)
        _require_utf8(workbook_xml, f"“{package.path.name}”的 {package.workbook_part} ")
        updated = _request_full_calc(workbook_xml, f"“{package.path.name}”的 {package.workbook_part} ")
        if updated != workbook_xml:
            changes[package.workbook_part] = updated
    return changes


def _normalised_edits(package: Package, edits) -> dict[str, dict[tuple[int, int], object]]:
    if not isinstance(edits, dict):
        raise TypeError("edits 应为 {工作表名: {单元格地址: 值}} 形式的字典。")
    result: dict[str, dict[tuple[int, int], object]] = {}
    for sheet_name, cells in edits.items():
        sheet = package._sheet(sheet_name)
        targets = result.setdefault(sheet.name, {})
        for ref, value in cells.items():
            key = _split_ref(ref)
            if key in targets:
                raise ValueError(f"工作表“{sheet.name}”的单元格 {_ref(*key)} 在 edits 中出现了两次。")
            _check_value(value)
            targets[key] = value
    return {name: targets for name, targets in result.items() if targets}


def _calc_chain_changes(package: Package, drop: set[tuple[int | None, str]]) -> dict[str, bytes | None]:
    chain_rel = next(
        ((rel_id, target) for rel_id, (rel_type, target) in package.workbook_rels.items()
         if rel_type.endswith("/calcChain") and target and package.has_part(target)),
        None,
    )
    if chain_rel is None:
        return {}
    rel_id, chain_part = chain_rel
    chain_part = package.real_part_name(chain_part)
    xml = package.xml_part(chain_part)
    _require_utf8(xml, f"“{package.path.name}”的 {chain_part} ")
    pruned = _prune_calc_chain(xml, drop)
    if pruned is xml:
        return {}
    if pruned is not None:
        return {chain_part: pruned}
    # An empty calcChain is invalid: drop the part, its relationship and its content type.
    rels_part = posixpath.join(posixpath.dirname(package.workbook_part), "_rels",
                               posixpath.basename(package.workbook_part) + ".rels")
    rels_part = package.real_part_name(rels_part)
    rels = _remove_element(package.xml_part(rels_part), b"Relationship", lambda a: a.get(b"Id") == rel_id.encode())
    types = _remove_element(
        package.xml_part("[Content_Types].xml"),
        b"Override",
        lambda a: a.get(b"PartName", b"").decode("utf-8", "replace").lower() == "/" + chain_part.lower(),
    )
    return {chain_part: None, rels_part: rels, package.real_part_name("[Content_Types].xml"): types}


# ---------------------------------------------------------------- writing the zip

# Only the edited parts are compressed again.  Level 1 deflates a 60 KB sheet in
# 0.2 ms against 0.7 ms at zlib's default 6, for a part about a quarter larger
# (a few KB per workbook); the content is the same either way.
_DEFLATE_LEVEL = 1

_LOCAL_HEADER = struct.Struct("<4s2B4HL2L2H")
_CENTRAL_HEADER = struct.Struct("<4s4B4HL2L5H2L")
_END_RECORD = struct.Struct("<4s4H2LH")
_ZIP64_EXTRA_ID = 0x0001
_DATA_DESCRIPTOR_FLAG = 0x08


@dataclass
class _MemberData:
    raw: bytes  # compressed bytes
    crc: int
    file_size: int
    compress_type: int
    local_extra: bytes


def _original_member(package: Package, info: zipfile.ZipInfo) -> _MemberData:
    """The member's compressed bytes (and local extra field) exactly as stored."""
    data = package._data
    header = _LOCAL_HEADER.unpack_from(data, info.header_offset)
    if header[0] != b"PK\x03\x04":
        raise package._error(f"已损坏：部件“{info.filename}”的 zip 头无效。")
    name_length, extra_length = header[10], header[11]
    extra_start = info.header_offset + _LOCAL_HEADER.size + name_length
    start = extra_start + extra_length
    raw = data[start : start + info.compress_size]
    if len(raw) != info.compress_size:
        raise package._error(f"已损坏：部件“{info.filename}”被截断。")
    return _MemberData(raw, info.CRC, info.file_size, info.compress_type, data[extra_start:start])


def _new_member(info: zipfile.ZipInfo, content: bytes, local_extra: bytes) -> _MemberData:
    if info.compress_type == zipfile.ZIP_STORED:
        raw, method = content, zipfile.ZIP_STORED
    else:
        compressor = zlib.compressobj(_DEFLATE_LEVEL, zlib.DEFLATED, -15)
        raw, method = compressor.compress(content) + compressor.flush(), zipfile.ZIP_DEFLATED
    return _MemberData(raw, zlib.crc32(content), len(content), method, local_extra)


def _strip_zip64(extra: bytes) -> bytes:
    """Extra field without zip64 records (we write 32-bit sizes)."""
    kept, position = [], 0
    while position + 4 <= len(extra):
        field_id, size = struct.unpack_from("<HH", extra, position)
        if field_id != _ZIP64_EXTRA_ID:
            kept.append(extra[position : position + 4 + size])
        position += 4 + size
    return b"".join(kept)


def _dos_time(date_time: tuple[int, ...]) -> tuple[int, int]:
    year, month, day, hour, minute, second = date_time
    return (hour << 11) | (minute << 5) | (second // 2), ((year - 1980) << 9) | (month << 5) | day


def _write_zip(package: Package, changes: dict[str, bytes | None], out) -> None:
    central, offset = [], 0
    for info in package._zip.infolist():
        if info.filename in changes and changes[info.filename] is None:
            continue
        member = _original_member(package, info)
        if info.filename in changes:
            member = _new_member(info, changes[info.filename], member.local_extra)  # type: ignore[arg-type]
        if offset > 0xFFFFFFFF or len(member.raw) > 0xFFFFFFFF:
            raise package._error("过大，超出 zip 格式上限，无法写入。")
        name = info.orig_filename.encode("utf-8" if info.flag_bits & 0x800 else "cp437")
        flags = info.flag_bits & ~_DATA_DESCRIPTOR_FLAG
        extract_version = max(info.extract_version, 20) if member.compress_type == zipfile.ZIP_DEFLATED else info.extract_version
        time, date = _dos_time(info.date_time)
        local_extra = _strip_zip64(member.local_extra)
        out.write(_LOCAL_HEADER.pack(
            b"PK\x03\x04", extract_version, info.reserved, flags, member.compress_type, time, date,
            member.crc, len(member.raw), member.file_size, len(name), len(local_extra),
        ))
        out.write(name)
        out.write(local_extra)
        out.write(member.raw)
        central_extra = _strip_zip64(info.extra)
        central.append(_CENTRAL_HEADER.pack(
            b"PK\x01\x02", info.create_version, info.create_system, extract_version, info.reserved,
            flags, member.compress_type, time, date, member.crc, len(member.raw), member.file_size,
            len(name), len(central_extra), len(info.comment), 0, info.internal_attr,
            info.external_attr, offset,
        ) + name + central_extra + info.comment)
        offset += _LOCAL_HEADER.size + len(name) + len(local_extra) + len(member.raw)
    directory = b"".join(central)
    if len(central) > 0xFFFF or offset > 0xFFFFFFFF:
        raise package._error("过大，超出 zip 格式上限，无法写入。")
    comment = package._zip.comment[:0xFFFF]
    out.write(directory)
    out.write(_END_RECORD.pack(b"PK\x05\x06", 0, 0, len(central), len(central), len(directory), offset, len(comment)))
    out.write(comment)


# ---------------------------------------------------------------- atomic write


def _atomic_write(source: Path, target: Path, write: Callable[[io.BufferedWriter], None]) -> None:
    """Write to a temp file beside target, fsync, then os.replace over target."""
    temp = _write_temp(source, target, write, sync=True)
    try:
        _replace(temp, target)
    except BaseException:
        temp.unlink(missing_ok=True)
        raise
    _fsync_directory(target.parent)


def _write_temp(source: Path, target: Path, write: Callable[[io.BufferedWriter], None], *, sync: bool) -> Path:
    """A temporary file beside target holding the new bytes, with source's permissions."""
    mode = stat.S_IMODE(source.stat().st_mode)
    try:
        handle, temp_name = tempfile.mkstemp(prefix=TEMP_PREFIX, suffix=".tmp", dir=target.parent)
    except OSError as exc:
        raise WorkbookFileError(f"无法在“{target.parent}”中创建临时文件：{exc.strerror or exc}。") from exc
    temp = Path(temp_name)
    try:
        with os.fdopen(handle, "wb") as out:
            write(out)
            out.flush()
            if sync:
                os.fsync(out.fileno())
        os.chmod(temp, mode)
    except BaseException:
        temp.unlink(missing_ok=True)
        raise
    return temp


def _replace(temp: Path, target: Path) -> None:
    try:
        os.replace(temp, target)
    except OSError as exc:
        raise WorkbookFileError(
            f"无法保存“{target.name}”：{exc.strerror or exc}。文件可能正被其他程序打开。"
        ) from exc


def _fsync_file(path: Path) -> None:
    descriptor = os.open(path, os.O_RDWR | getattr(os, "O_BINARY", 0))
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)


def _fsync_directory(folder: Path) -> None:
    # Makes the rename durable on POSIX; not possible (nor needed) on Windows.
    if os.name != "posix":
        return
    try:
        descriptor = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(descriptor)
    except OSError:
        pass
    finally:
        os.close(descriptor)


@dataclass
class _Staged:
    temp: Path
    target: Path
    still_valid: Callable[[], None]   # raises WorkbookFileError when the target must not be replaced


class DeferredWrites:
    """Atomic writes of many workbooks made durable together (``anju batch``).

    Each workbook is written to a temporary file beside it at once; ``commit``
    then fsyncs the temporary files, renames each over its target and fsyncs
    each folder once.  Every file is still replaced atomically (fully old or
    fully new), but the disk is flushed once per group instead of twice per
    file: on a disk one fsync can cost as much as the whole recalculation."""

    def __init__(self):
        self._staged: list[_Staged] = []

    def __len__(self) -> int:
        return len(self._staged)

    def stage(self, source: Path, target: Path, write: Callable[[io.BufferedWriter], None],
              still_valid: Callable[[], None]) -> None:
        self._staged.append(_Staged(_write_temp(source, target, write, sync=False), target, still_valid))

    def commit(self) -> dict[Path, WorkbookFileError]:
        """Put every staged file in place; returns the targets left unchanged, with the reason."""
        staged, self._staged = self._staged, []
        failed: dict[Path, WorkbookFileError] = {}
        try:
            for item in staged:
                _fsync_file(item.temp)   # the first flush writes them all; the others cost little
            for item in staged:
                try:
                    item.still_valid()
                    _replace(item.temp, item.target)
                except WorkbookFileError as exc:
                    item.temp.unlink(missing_ok=True)
                    failed[item.target] = exc
        except BaseException:
            for item in staged:
                item.temp.unlink(missing_ok=True)
            raise
        for folder in {item.target.parent for item in staged}:
            _fsync_directory(folder)
        return failed

    def discard(self) -> None:
        """Remove the staged temporary files (their targets keep their old bytes)."""
        staged, self._staged = self._staged, []
        for item in staged:
            item.temp.unlink(missing_ok=True)


# ---------------------------------------------------------------- patching


def patch_cells(path, edits: dict[str, dict[str, object]], *, out_path=None, full_calc_on_load: bool = False) -> None:
    """Write cell values into a closed workbook, changing nothing else.

    edits: {sheet name: {'B5': value}}; value is None (clear the value, keep
    the style), Decimal/int/float, str (inline string), bool, Formula or
    CachedValue.  Writes atomically to out_path (default: path).
    full_calc_on_load: also ask Excel to recalculate every formula when the
    file is next opened (for formulas that depend on the written cells);
    by default that is asked only when a formula cell is written."""
    source = Path(path)
    target = Path(out_path) if out_path is not None else source
    _refuse_if_locked(source)
    if target != source:
        _refuse_if_locked(target)
    _patch(open_package(source), target, edits, full_calc_on_load, None)


def patch_package(package: Package, edits: dict[str, dict[str, object]], *, out_path=None,
                  full_calc_on_load: bool = False, deferred: DeferredWrites | None = None) -> None:
    """``patch_cells`` on a package that is already open (a recalculation reads it first),
    so the file is not read and parsed twice.  If the file changed on disk since it was
    opened, it is opened again, as ``patch_cells`` would.  With ``deferred`` the new file is
    only staged; ``deferred.commit()`` puts it in place (and skips it if the file has
    changed or been opened in Excel/WPS meanwhile)."""
    source = package.path
    target = Path(out_path) if out_path is not None else source
    _refuse_if_locked(source)
    if target != source:
        _refuse_if_locked(target)
    if _file_stamp(source) != package.file_stamp:
        package = open_package(source)
    _patch(package, target, edits, full_calc_on_load, deferred)


def _patch(package: Package, target: Path, edits, full_calc_on_load: bool, deferred: DeferredWrites | None) -> None:
    source = package.path
    changes = _plan_changes(package, edits, full_calc_on_load)
    if not changes and target == source:
        return
    write = lambda out: _write_zip(package, changes, out)  # noqa: E731
    if deferred is None:
        _atomic_write(source, target, write)
        return
    stamp = package.file_stamp

    def still_valid() -> None:
        _refuse_if_locked(source)
        if target != source:
            _refuse_if_locked(target)
        if _file_stamp(source) != stamp:
            raise WorkbookFileError(f"“{source.name}”在计算期间被其他程序修改，结果未写入，请重新运行。")

    deferred.stage(source, target, write, still_valid)


def _file_stamp(path: Path) -> tuple[int, int] | None:
    """(size, mtime) of a file, to notice that it changed; None if it cannot be read."""
    try:
        info = path.stat()
    except OSError:
        return None
    return info.st_size, info.st_mtime_ns
