"""Turn an openpyxl ``.xlsx`` into a macro-enabled ``.xlsm`` with the 重新计算 button.

The package surgery follows what Excel and XlsxWriter write (XlsxWriter
``insert_button`` + ``add_vba_project`` output was generated and read for this):

* ``/xl/workbook.xml`` gets the content type
  ``application/vnd.ms-excel.sheet.macroEnabled.main+xml``; ``/xl/vbaProject.bin``
  (content type ``application/vnd.ms-office.vbaProject``) is related to the workbook by
  ``http://schemas.microsoft.com/office/2006/relationships/vbaProject``.
* Code names bind document modules to the workbook and sheets:
  ``<workbookPr codeName="ThisWorkbook"/>`` and ``<sheetPr codeName="SheetN"/>``
  (EPPlus ``d:workbookPr/@codeName``; XlsxWriter does the same when it adds VBA).
* A form button is a VML shape (``<x:ClientData ObjectType="Button">`` with
  ``<x:FmlaMacro>[0]!Macro</x:FmlaMacro>``) in the sheet's legacy drawing; the sheet
  points at it with ``<legacyDrawing r:id>``, placed where CT_Worksheet's sequence
  wants it (after ``drawing``, before ``legacyDrawingHF``/``picture``/``oleObjects``/
  ``controls``/``webPublishItems``/``tableParts``/``extLst``). A sheet has at most one
  legacy drawing, so a button on a sheet with comments joins openpyxl's comment VML.

The VBA project holds ``ThisWorkbook``, one document module per worksheet, the
xlwings standalone module and its ``Dictionary`` class read from the installed xlwings
package at build time (never copied into this repository), and ``AnjuButton.bas``.
"""

from __future__ import annotations

import io
import posixpath
import re
import zipfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from lxml import etree
from openpyxl.utils.cell import column_index_from_string, coordinate_from_string

from engine.button import ovba
from engine.errors import AnjuError

__all__ = [
    "BUTTON_HEIGHT_PX",
    "BUTTON_WIDTH_PX",
    "CONF_SHEET_NAME",
    "PINNED_XLWINGS_VERSION",
    "RUNPYTHON_COMMAND",
    "XlwingsVersionError",
    "add_xlwings_conf_sheet",
    "anju_button_source",
    "build_vba_project_bin",
    "check_xlwings_vba_version",
    "make_macro_enabled",
    "pinned_xlwings_version",
    "xlwings_vba_sources",
]

# The xlwings release the templates are built for; Python and VBA must both be on it
# (EXCEL-NOTES 8: a mismatch fails with "File not found: xlwings64-<ver>.dll").
PINNED_XLWINGS_VERSION = "0.37.8"
RUNPYTHON_COMMAND = "import engine.excel_button as b; b.recalculate()"
CONF_SHEET_NAME = "xlwings.conf"
DEFAULT_INTERPRETER_WIN = r"%LOCALAPPDATA%\anju\python\python.exe"
DEFAULT_INTERPRETER_MAC = "$HOME/.anju/python/bin/python3"
BUTTON_WIDTH_PX = 96
BUTTON_HEIGHT_PX = 28

ANJU_BUTTON_BAS = Path(__file__).with_name("AnjuButton.bas")
_RESERVED_MODULES = ("xlwings", "Dictionary", "AnjuButton")

CT_NS = "http://schemas.openxmlformats.org/package/2006/content-types"
REL_NS = "http://schemas.openxmlformats.org/package/2006/relationships"
MAIN_NS = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"
R_NS = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"
REL_OFFICE_DOCUMENT = R_NS + "/officeDocument"
REL_WORKSHEET = R_NS + "/worksheet"
REL_VML = R_NS + "/vmlDrawing"
REL_VBA = "http://schemas.microsoft.com/office/2006/relationships/vbaProject"
CT_MACRO_WORKBOOK = "application/vnd.ms-excel.sheet.macroEnabled.main+xml"
CT_VBA = "application/vnd.ms-office.vbaProject"
CT_VML = "application/vnd.openxmlformats-officedocument.vmlDrawing"
V_NS = "urn:schemas-microsoft-com:vml"
O_NS = "urn:schemas-microsoft-com:office:office"
X_NS = "urn:schemas-microsoft-com:office:excel"
VML_NSMAP = {"v": V_NS, "o": O_NS, "x": X_NS}

# CT_Worksheet children that come after <legacyDrawing> (ECMA-376 Part 1, 18.3.1.99).
_AFTER_LEGACY_DRAWING = (
    "legacyDrawingHF",
    "drawingHF",
    "picture",
    "oleObjects",
    "controls",
    "webPublishItems",
    "tableParts",
    "extLst",
)
# CT_Workbook children that come before <workbookPr>.
_BEFORE_WORKBOOK_PR = ("fileVersion", "fileSharing")
_IDENTIFIER = re.compile(r"[A-Za-z][A-Za-z0-9_]{0,30}\Z")
_PARSER = etree.XMLParser(resolve_entities=False, no_network=True, huge_tree=True)


class XlwingsVersionError(AnjuError):
    """The xlwings VBA module, the installed xlwings and the pinned version disagree."""


# --------------------------------------------------------------------------------------
# VBA sources and versions
# --------------------------------------------------------------------------------------


def pinned_xlwings_version() -> str:
    """The xlwings version the templates are built for (Python and VBA side)."""
    return PINNED_XLWINGS_VERSION


def _xlwings_package_dir() -> Path:
    import xlwings

    return Path(xlwings.__file__).resolve().parent


def xlwings_vba_sources() -> tuple[str, str]:
    """(``xlwings.bas``, ``addin/Dictionary.cls``) text from the installed xlwings package.

    ``xlwings.bas`` is the standalone module ``xlwings quickstart --standalone`` ships
    and ``xlwings copy vba`` copies (xlwings/cli.py); ``Dictionary`` is the macOS
    replacement for Scripting.Dictionary it uses (``GetConfigFromSheet``).
    """
    package = _xlwings_package_dir()
    bas = (package / "xlwings.bas").read_bytes().decode("ascii")
    cls = (package / "addin" / "Dictionary.cls").read_bytes().decode("ascii")
    return bas, cls


def check_xlwings_vba_version(bas_text: str | None = None) -> str:
    """Check that the VBA module, the installed xlwings and the pin are one version.

    Returns the version; raises :class:`XlwingsVersionError` otherwise.
    """
    import xlwings

    if bas_text is None:
        bas_text = xlwings_vba_sources()[0]
    match = re.search(r'^Public Const XLWINGS_VERSION As String = "([^"]*)"', bas_text, re.M)
    if match is None:
        raise XlwingsVersionError(
            "xlwings 的 VBA 模块中找不到 XLWINGS_VERSION，无法确认其版本。"
        )
    vba_version = match.group(1)
    if vba_version != xlwings.__version__:
        raise XlwingsVersionError(
            f"xlwings 的 VBA 模块版本（{vba_version}）与已安装的 xlwings"
            f"（{xlwings.__version__}）不一致，"
            "按钮会因找不到对应的 DLL 而失败。"
        )
    if vba_version != PINNED_XLWINGS_VERSION:
        raise XlwingsVersionError(
            f"已安装的 xlwings 版本（{vba_version}）不是模板锁定的版本"
            f"（{PINNED_XLWINGS_VERSION}），请安装 xlwings=={PINNED_XLWINGS_VERSION}。"
        )
    return vba_version


def anju_button_source() -> str:
    """The committed ``AnjuButton.bas``, checked: ASCII only, literal RunPython command."""
    text = ANJU_BUTTON_BAS.read_bytes().decode("ascii")
    if f'RunPython "{RUNPYTHON_COMMAND}"' not in text:
        raise ValueError("AnjuButton.bas must call RunPython with the literal command")
    return text


def _vba_modules(workbook_code_name: str, sheet_code_names: Sequence[str]) -> list[ovba.VbaModule]:
    bas, cls = xlwings_vba_sources()
    check_xlwings_vba_version(bas)
    modules = [ovba.document_module(workbook_code_name, workbook=True)]
    modules += [ovba.document_module(name, workbook=False) for name in sheet_code_names]
    modules.append(ovba.standard_module("xlwings", bas))
    modules.append(ovba.class_module_from_cls(cls))
    modules.append(ovba.standard_module("AnjuButton", anju_button_source()))
    return modules


def build_vba_project_bin(
    sheet_code_names: Sequence[str], workbook_code_name: str = "ThisWorkbook"
) -> bytes:
    """The ``vbaProject.bin`` for a workbook whose worksheets have these code names."""
    return ovba.build_vba_project(_vba_modules(workbook_code_name, sheet_code_names))


# --------------------------------------------------------------------------------------
# xlwings.conf sheet
# --------------------------------------------------------------------------------------


def add_xlwings_conf_sheet(
    wb,
    *,
    interpreter_win: str = DEFAULT_INTERPRETER_WIN,
    interpreter_mac: str = DEFAULT_INTERPRETER_MAC,
):
    """Add the very-hidden ``xlwings.conf`` sheet to an openpyxl ``Workbook``.

    xlwings reads keys from column A starting at A1 down to ``Range("A1").End(xlDown)``
    (so they must be contiguous), upper-cases them and expands environment variables in
    the values (xlwings.bas ``GetConfigFromSheet``/``GetConfig``). Values are text:
    ``GetConfig`` turns every value into a string anyway.
    """
    if CONF_SHEET_NAME in wb.sheetnames:
        raise ValueError(f"workbook already has a {CONF_SHEET_NAME} sheet")
    settings = (
        ("Interpreter_Win", interpreter_win),
        ("Interpreter_Mac", interpreter_mac),
        ("ADD_WORKBOOK_TO_PYTHONPATH", "False"),
        ("PYTHONPATH", ""),
        ("USE UDF SERVER", "False"),
        ("SHOW CONSOLE", "False"),
    )
    ws = wb.create_sheet(CONF_SHEET_NAME)
    for row, (key, value) in enumerate(settings, start=1):
        ws.cell(row=row, column=1, value=key)
        if value:
            ws.cell(row=row, column=2, value=value)
    ws.sheet_state = "veryHidden"
    if wb.active is ws:
        wb.active = 0
    return ws


# --------------------------------------------------------------------------------------
# Package helpers
# --------------------------------------------------------------------------------------


def _parse(data: bytes) -> etree._Element:
    return etree.fromstring(data, _PARSER)


_DECLARATION = b'<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'


def _serialize(root: etree._Element) -> bytes:
    """UTF-8 XML with the double-quoted declaration Excel itself writes."""
    return _DECLARATION + etree.tostring(root, encoding="UTF-8", xml_declaration=False)


def _rels_path(part: str) -> str:
    directory, name = posixpath.split(part)
    return posixpath.join(directory, "_rels", name + ".rels")


def _resolve(source_part: str, target: str) -> str:
    if target.startswith("/"):
        return target.lstrip("/")
    return posixpath.normpath(posixpath.join(posixpath.dirname(source_part), target))


def _new_rel_id(rels: etree._Element) -> str:
    used = {rel.get("Id") for rel in rels}
    n = 1
    while f"rId{n}" in used:
        n += 1
    return f"rId{n}"


def _empty_rels() -> etree._Element:
    return etree.Element(f"{{{REL_NS}}}Relationships", nsmap={None: REL_NS})


def _add_rel(rels: etree._Element, rel_type: str, target: str) -> str:
    rid = _new_rel_id(rels)
    etree.SubElement(rels, f"{{{REL_NS}}}Relationship", Id=rid, Type=rel_type, Target=target)
    return rid


def _local(element: etree._Element) -> str:
    return etree.QName(element).localname if isinstance(element.tag, str) else ""


def _insert_before(
    parent: etree._Element, child: etree._Element, successors: Sequence[str]
) -> None:
    for index, existing in enumerate(parent):
        if _local(existing) in successors:
            parent.insert(index, child)
            return
    parent.append(child)


@dataclass
class _Sheet:
    name: str
    part: str
    root: etree._Element
    code_name: str = ""


# --------------------------------------------------------------------------------------
# Geometry (pixels, as XlsxWriter computes them for Calibri 11)
# --------------------------------------------------------------------------------------


def _width_px(chars: float) -> int:
    if chars <= 0:
        return 0
    if chars < 1:
        return int(chars * 12 + 0.5)
    return int(chars * 7 + 0.5) + 5


class _Grid:
    """Column widths and row heights of one sheet, in pixels."""

    def __init__(self, root: etree._Element):
        fmt = root.find(f"{{{MAIN_NS}}}sheetFormatPr")
        self.default_col = 64
        self.default_row = 20
        if fmt is not None:
            if fmt.get("defaultColWidth"):
                self.default_col = _width_px(float(fmt.get("defaultColWidth")))
            if fmt.get("defaultRowHeight"):
                self.default_row = int(float(fmt.get("defaultRowHeight")) * 4 / 3)
        self.cols: dict[int, int] = {}
        for col in root.iterfind(f"{{{MAIN_NS}}}cols/{{{MAIN_NS}}}col"):
            hidden = col.get("hidden") in ("1", "true")
            width = 0 if hidden else _width_px(float(col.get("width", "0")))
            for index in range(int(col.get("min")), min(int(col.get("max")), 16384) + 1):
                self.cols[index - 1] = width
        self.rows: dict[int, int] = {}
        for row in root.iterfind(f"{{{MAIN_NS}}}sheetData/{{{MAIN_NS}}}row"):
            if row.get("hidden") in ("1", "true"):
                self.rows[int(row.get("r")) - 1] = 0
            elif row.get("ht"):
                self.rows[int(row.get("r")) - 1] = int(float(row.get("ht")) * 4 / 3)

    def col(self, index: int) -> int:
        return self.cols.get(index, self.default_col)

    def row(self, index: int) -> int:
        return self.rows.get(index, self.default_row)

    def anchor(self, col: int, row: int, width: int, height: int) -> tuple[list[int], tuple]:
        """(x:Anchor values, (left, top) in px) for a shape at the top-left of a cell."""
        left = sum(self.col(c) for c in range(col))
        top = sum(self.row(r) for r in range(row))
        end_col, rest_x = col, width
        while rest_x >= self.col(end_col) and self.col(end_col) > 0:
            rest_x -= self.col(end_col)
            end_col += 1
        end_row, rest_y = row, height
        while rest_y >= self.row(end_row) and self.row(end_row) > 0:
            rest_y -= self.row(end_row)
            end_row += 1
        return [col, 0, row, 0, end_col, rest_x, end_row, rest_y], (left, top)


# --------------------------------------------------------------------------------------
# VML
# --------------------------------------------------------------------------------------


def _v(tag: str) -> str:
    return f"{{{V_NS}}}{tag}"


def _o(tag: str) -> str:
    return f"{{{O_NS}}}{tag}"


def _x(tag: str) -> str:
    return f"{{{X_NS}}}{tag}"


def _new_vml(data_id: int) -> etree._Element:
    root = etree.Element("xml", nsmap=VML_NSMAP)
    layout = etree.SubElement(root, _o("shapelayout"), {_v("ext"): "edit"})
    etree.SubElement(layout, _o("idmap"), {_v("ext"): "edit", "data": str(data_id)})
    return root


def _normalised_vml(root: etree._Element) -> etree._Element:
    """A copy of a VML tree with the v/o/x prefixes declared once on the root.

    openpyxl writes comment VML with ElementTree's ns0/ns1 prefixes; Excel reads those,
    but a conventional file is easier to inspect and matches what Excel writes.
    """

    def copy(src: etree._Element, parent: etree._Element | None) -> etree._Element:
        if parent is None:
            dst = etree.Element(src.tag, nsmap=VML_NSMAP)
        else:
            dst = etree.SubElement(parent, src.tag)
        for key, value in src.attrib.items():
            dst.set(key, value)
        dst.text = src.text
        dst.tail = src.tail
        for child in src:
            if isinstance(child.tag, str):
                copy(child, dst)
        return dst

    return copy(root, None)


def _button_shapetype() -> etree._Element:
    shapetype = etree.Element(
        _v("shapetype"),
        {
            "id": "_x0000_t201",
            "coordsize": "21600,21600",
            _o("spt"): "201",
            "path": "m,l,21600r21600,l21600,xe",
        },
    )
    etree.SubElement(shapetype, _v("stroke"), joinstyle="miter")
    etree.SubElement(
        shapetype,
        _v("path"),
        {
            "shadowok": "f",
            _o("extrusionok"): "f",
            "strokeok": "f",
            "fillok": "f",
            _o("connecttype"): "rect",
        },
    )
    etree.SubElement(shapetype, _o("lock"), {_v("ext"): "edit", "shapetype": "t"})
    return shapetype


def _button_shape(shape_id: int, z_index: int, anchor: list[int], origin, macro: str, caption: str):
    """The VML of one form button, as XlsxWriter's ``_write_button_shape`` writes it."""
    left, top = origin
    style = (
        "position:absolute;"
        f"margin-left:{left * 0.75:.15g}pt;"
        f"margin-top:{top * 0.75:.15g}pt;"
        f"width:{BUTTON_WIDTH_PX * 0.75:.15g}pt;"
        f"height:{BUTTON_HEIGHT_PX * 0.75:.15g}pt;"
        f"z-index:{z_index};"
        "mso-wrap-style:tight"
    )
    shape = etree.Element(
        _v("shape"),
        {
            "id": f"_x0000_s{shape_id}",
            "type": "#_x0000_t201",
            "style": style,
            _o("button"): "t",
            "fillcolor": "buttonFace [67]",
            "strokecolor": "windowText [64]",
            _o("insetmode"): "auto",
        },
    )
    etree.SubElement(shape, _v("fill"), {"color2": "buttonFace [67]", _o("detectmouseclick"): "t"})
    etree.SubElement(shape, _o("lock"), {_v("ext"): "edit", "rotation": "t"})
    textbox = etree.SubElement(
        shape, _v("textbox"), {"style": "mso-direction-alt:auto", _o("singleclick"): "f"}
    )
    div = etree.SubElement(textbox, "div", style="text-align:center")
    font = etree.SubElement(div, "font", face="Calibri", size="220", color="#000000")
    font.text = caption
    data = etree.SubElement(shape, _x("ClientData"), ObjectType="Button")
    for tag, text in (
        ("Anchor", ", ".join(str(n) for n in anchor)),
        ("PrintObject", "False"),
        ("AutoFill", "False"),
        ("FmlaMacro", f"[0]!{macro}"),
        ("TextHAlign", "Center"),
        ("TextVAlign", "Center"),
    ):
        etree.SubElement(data, _x(tag)).text = text
    return shape


def _add_button(
    vml: etree._Element, data_id: int, anchor, origin, macro: str, caption: str
) -> None:
    shapes = vml.findall(_v("shape"))
    ids = [
        int(m.group(1))
        for s in shapes
        if (m := re.fullmatch(r"_x0000_s(\d+)", s.get("id") or s.get(_o("spid")) or ""))
    ]
    shape_id = max(ids, default=data_id * 1024) + 1
    if vml.find(f"{_v('shapetype')}[@id='_x0000_t201']") is None:
        layout = vml.find(_o("shapelayout"))
        position = 0 if layout is None else vml.index(layout) + 1
        vml.insert(position, _button_shapetype())
    vml.append(_button_shape(shape_id, len(shapes) + 1, anchor, origin, macro, caption))


# --------------------------------------------------------------------------------------
# The conversion
# --------------------------------------------------------------------------------------


def _code_names(workbook: etree._Element, sheets: Sequence[_Sheet]) -> str:
    """Pick the workbook's and the worksheets' code names; keep valid existing ones."""
    taken = {name.upper() for name in _RESERVED_MODULES} | {"VBAPROJECT"}

    def usable(name: str | None) -> bool:
        return bool(name) and bool(_IDENTIFIER.match(name)) and name.upper() not in taken

    pr = workbook.find(f"{{{MAIN_NS}}}workbookPr")
    book_name = pr.get("codeName") if pr is not None else None
    if not usable(book_name):
        book_name = "ThisWorkbook"
    taken.add(book_name.upper())
    pending = []
    for sheet in sheets:
        sheet_pr = sheet.root.find(f"{{{MAIN_NS}}}sheetPr")
        existing = sheet_pr.get("codeName") if sheet_pr is not None else None
        if usable(existing):
            sheet.code_name = existing
            taken.add(existing.upper())
        else:
            pending.append(sheet)
    n = 1
    for sheet in pending:
        while f"SHEET{n}" in taken:
            n += 1
        sheet.code_name = f"Sheet{n}"
        taken.add(sheet.code_name.upper())
    return book_name


def make_macro_enabled(
    xlsx_bytes: bytes,
    *,
    button_sheets: Mapping[str, str],
    macro: str = "AnjuRecalculate",
    caption: str = "重新计算",
) -> bytes:
    """The ``.xlsm`` bytes for an openpyxl ``.xlsx`` package, with the button on sheets.

    ``button_sheets`` maps sheet names to the cell at the button's top-left corner,
    e.g. ``{"评分表": "M2", "汇总": "F2"}``. The output is deterministic: the same
    input bytes and arguments give the same output bytes.
    """
    sub = re.compile(rf"^\s*(Public\s+)?Sub\s+{re.escape(macro)}\s*\(", re.M | re.I)
    if not sub.search(anju_button_source()):
        raise ValueError(f"AnjuButton.bas has no Sub {macro}")
    with zipfile.ZipFile(io.BytesIO(xlsx_bytes)) as archive:
        names = archive.namelist()
        parts = {name: archive.read(name) for name in names}

    content_types = _parse(parts["[Content_Types].xml"])
    package_rels = _parse(parts["_rels/.rels"])
    workbook_part = next(
        _resolve("", rel.get("Target"))
        for rel in package_rels
        if rel.get("Type") == REL_OFFICE_DOCUMENT
    )
    workbook = _parse(parts[workbook_part])
    workbook_rels_part = _rels_path(workbook_part)
    workbook_rels = _parse(parts[workbook_rels_part])
    if any(rel.get("Type") == REL_VBA for rel in workbook_rels):
        raise ValueError("the workbook already has a VBA project")
    targets = {
        rel.get("Id"): (rel.get("Type"), _resolve(workbook_part, rel.get("Target")))
        for rel in workbook_rels
    }

    sheets: list[_Sheet] = []
    by_name: dict[str, _Sheet] = {}
    for element in workbook.iterfind(f"{{{MAIN_NS}}}sheets/{{{MAIN_NS}}}sheet"):
        rel_type, part = targets[element.get(f"{{{R_NS}}}id")]
        if rel_type != REL_WORKSHEET:
            continue  # chartsheets keep no document module of ours; Excel adds one
        sheet = _Sheet(element.get("name"), part, _parse(parts[part]))
        sheets.append(sheet)
        by_name[sheet.name] = sheet
    unknown = [name for name in button_sheets if name not in by_name]
    if unknown:
        raise ValueError(f"no worksheet named {', '.join(unknown)}")

    # Code names on the workbook and every worksheet.
    book_code_name = _code_names(workbook, sheets)
    workbook_pr = workbook.find(f"{{{MAIN_NS}}}workbookPr")
    if workbook_pr is None:
        workbook_pr = etree.Element(f"{{{MAIN_NS}}}workbookPr")
        index = sum(1 for child in workbook if _local(child) in _BEFORE_WORKBOOK_PR)
        workbook.insert(index, workbook_pr)
    workbook_pr.set("codeName", book_code_name)
    for sheet in sheets:
        sheet_pr = sheet.root.find(f"{{{MAIN_NS}}}sheetPr")
        if sheet_pr is None:
            sheet_pr = etree.Element(f"{{{MAIN_NS}}}sheetPr")
            sheet.root.insert(0, sheet_pr)
        sheet_pr.set("codeName", sheet.code_name)

    # Buttons.
    new_parts: dict[str, bytes] = {}
    vml_data_ids = [
        int(m.group(1))
        for name, data in parts.items()
        if name.endswith(".vml")
        for m in re.finditer(rb'data="(\d+)', data)
    ]
    next_data_id = max(vml_data_ids, default=0) + 1
    vml_number = 1
    for sheet in sheets:
        if sheet.name not in button_sheets:
            continue
        column, row = coordinate_from_string(button_sheets[sheet.name])
        col_index, row_index = column_index_from_string(column) - 1, row - 1
        anchor, origin = _Grid(sheet.root).anchor(
            col_index, row_index, BUTTON_WIDTH_PX, BUTTON_HEIGHT_PX
        )
        rels_part = _rels_path(sheet.part)
        rels = _parse(parts[rels_part]) if rels_part in parts else _empty_rels()
        legacy = sheet.root.find(f"{{{MAIN_NS}}}legacyDrawing")
        if legacy is not None:
            rel = next(r for r in rels if r.get("Id") == legacy.get(f"{{{R_NS}}}id"))
            vml_part = _resolve(sheet.part, rel.get("Target"))
            vml = _normalised_vml(_parse(parts[vml_part]))
            idmap = vml.find(f"{_o('shapelayout')}/{_o('idmap')}")
            data_id = int(idmap.get("data", "1").split(",")[0]) if idmap is not None else 1
        else:
            while f"xl/drawings/vmlDrawing{vml_number}.vml" in parts:
                vml_number += 1
            vml_part = f"xl/drawings/vmlDrawing{vml_number}.vml"
            vml_number += 1
            data_id = next_data_id
            next_data_id += 1
            vml = _new_vml(data_id)
            target = posixpath.relpath(vml_part, posixpath.dirname(sheet.part))
            rid = _add_rel(rels, REL_VML, target)
            legacy = etree.Element(f"{{{MAIN_NS}}}legacyDrawing", nsmap={"r": R_NS})
            legacy.set(f"{{{R_NS}}}id", rid)
            _insert_before(sheet.root, legacy, _AFTER_LEGACY_DRAWING)
        _add_button(vml, data_id, anchor, origin, macro, caption)
        new_parts[vml_part] = etree.tostring(vml, encoding="UTF-8", xml_declaration=False)
        new_parts[rels_part] = _serialize(rels)

    # VBA project, workbook relationship and content types.
    new_parts["xl/vbaProject.bin"] = build_vba_project_bin(
        [sheet.code_name for sheet in sheets], book_code_name
    )
    vba_target = posixpath.relpath("xl/vbaProject.bin", posixpath.dirname(workbook_part))
    _add_rel(workbook_rels, REL_VBA, vba_target)
    for override in content_types.iterfind(f"{{{CT_NS}}}Override"):
        if override.get("PartName") == "/" + workbook_part:
            override.set("ContentType", CT_MACRO_WORKBOOK)
            break
    else:
        raise ValueError("no content type override for the workbook part")
    etree.SubElement(
        content_types, f"{{{CT_NS}}}Override", PartName="/xl/vbaProject.bin", ContentType=CT_VBA
    )
    defaults = {d.get("Extension").lower() for d in content_types.iterfind(f"{{{CT_NS}}}Default")}
    if "vml" not in defaults:
        default = etree.Element(f"{{{CT_NS}}}Default", Extension="vml", ContentType=CT_VML)
        content_types.insert(0, default)

    new_parts["[Content_Types].xml"] = _serialize(content_types)
    new_parts[workbook_part] = _serialize(workbook)
    new_parts[workbook_rels_part] = _serialize(workbook_rels)
    for sheet in sheets:
        new_parts[sheet.part] = _serialize(sheet.root)

    # Content types first, then the input's parts in their order, then new parts sorted.
    order = ["[Content_Types].xml"] + [n for n in names if n != "[Content_Types].xml"]
    order += sorted(n for n in new_parts if n not in parts)
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as archive:
        for name in order:
            info = zipfile.ZipInfo(name, date_time=(1980, 1, 1, 0, 0, 0))
            info.compress_type = zipfile.ZIP_DEFLATED
            info.create_system = 0
            info.external_attr = 0
            archive.writestr(info, new_parts.get(name, parts.get(name)), compresslevel=6)
    return out.getvalue()
