"""Tests for engine.workbook.xlsxpatch: lossless write-back of target cells.

All workbooks are built in tmp_path, with openpyxl plus zip post-processing
for the parts openpyxl cannot write (VBA project, VML button, x14
validation, shared strings, shared formulas, calcChain)."""

from __future__ import annotations

import os
import re
import stat
import struct
import zipfile
from decimal import Decimal
from pathlib import Path

import openpyxl
import pytest
import python_calamine
from openpyxl.chart import BarChart, Reference
from openpyxl.comments import Comment
from openpyxl.drawing.image import Image
from openpyxl.formatting.rule import CellIsRule
from openpyxl.styles import PatternFill
from openpyxl.workbook.defined_name import DefinedName
from openpyxl.worksheet.datavalidation import DataValidation
from PIL import Image as PILImage

from engine.workbook.xlsxpatch import (
    CachedValue,
    Formula,
    WorkbookFileError,
    is_locked,
    open_package,
    patch_cells,
)

# openpyxl warns (correctly) that it would drop the x14 validation on save.
pytestmark = pytest.mark.filterwarnings("ignore:Data Validation extension:UserWarning")

MAIN_NS = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"
REL_NS = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"
CALC_CHAIN_REL = REL_NS + "/calcChain"

VBA_BYTES = bytes.fromhex("D0CF11E0A1B11AE1") + bytes(range(256)) * 8
BUTTON_VML = (
    '<xml xmlns:v="urn:schemas-microsoft-com:vml" xmlns:o="urn:schemas-microsoft-com:office:office"'
    ' xmlns:x="urn:schemas-microsoft-com:office:excel"><v:shape id="_x0000_s1025" type="#_x0000_t201"'
    ' style="position:absolute;width:96pt;height:24pt"><v:textbox><div>重新计算</div></v:textbox>'
    '<x:ClientData ObjectType="Button"><x:Anchor>9, 0, 1, 0, 11, 0, 3, 0</x:Anchor>'
    "<x:FmlaMacro>[0]!AnjuRecalculate</x:FmlaMacro></x:ClientData></v:shape></xml>"
).encode()
X14_VALIDATION = (
    '<extLst><ext uri="{CCE6A557-97BC-4b89-ADB6-D9C93CAAB3DF}"'
    ' xmlns:x14="http://schemas.microsoft.com/office/spreadsheetml/2009/9/main">'
    '<x14:dataValidations count="1" xmlns:xm="http://schemas.microsoft.com/office/excel/2006/main">'
    '<x14:dataValidation type="list" allowBlank="1" showInputMessage="1" showErrorMessage="1">'
    "<x14:formula1><xm:f>校验!$A$1:$A$3</xm:f></x14:formula1><xm:sqref>E3:E8</xm:sqref>"
    "</x14:dataValidation></x14:dataValidations></ext></extLst>"
).encode()


# ---------------------------------------------------------------- zip helpers


def rewrite_zip(path: Path, changes: dict[str, bytes | None] | None = None, add: dict[str, bytes] | None = None):
    """Rebuild a zip keeping member order; changes: name -> new bytes or None (remove)."""
    changes, add = changes or {}, add or {}
    with zipfile.ZipFile(path) as source:
        members = [(info, source.read(info)) for info in source.infolist()]
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as target:
        for info, data in members:
            if info.filename in changes:
                if changes[info.filename] is None:
                    continue
                data = changes[info.filename]
            target.writestr(info, data)
        for name, data in add.items():
            target.writestr(name, data)


def members(path: Path) -> dict[str, bytes]:
    with zipfile.ZipFile(path) as archive:
        return {info.filename: archive.read(info) for info in archive.infolist()}


def infos(path: Path) -> dict[str, zipfile.ZipInfo]:
    with zipfile.ZipFile(path) as archive:
        return {info.filename: info for info in archive.infolist()}


def read(path: Path, name: str) -> str:
    with zipfile.ZipFile(path) as archive:
        return archive.read(name).decode("utf-8")


def no_temp_files(folder: Path) -> bool:
    return not [p for p in folder.iterdir() if p.name.startswith(".~anju-")]


# ---------------------------------------------------------------- fixtures


def build_template(folder: Path) -> Path:
    """A template close to what Excel saves, with the features openpyxl would lose."""
    logo = folder / "logo.png"
    PILImage.new("RGB", (24, 12), (200, 30, 30)).save(logo)
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.title = "评分表"
    ws["A1"] = "住房公积金绩效评价"
    ws.merge_cells("A1:D1")
    for row in range(3, 9):
        ws.cell(row, 1, f"指标{row}")
        score = ws.cell(row, 3, row * 1.5)
        score.number_format = "0.00"
        score.fill = PatternFill("solid", fgColor="FFFF00")
        ws.cell(row, 4, f"=C{row}*2")
    ws["B4"].fill = PatternFill("solid", fgColor="00FF00")
    ws["E4"].fill = PatternFill("solid", fgColor="00FF00")
    ws["C10"] = "=SUM(C3:C8)"
    ws["C11"] = "=AVERAGE(C3:C8)"
    ws.conditional_formatting.add(
        "C3:C8", CellIsRule(operator="greaterThan", formula=["5"], fill=PatternFill("solid", fgColor="FF0000"))
    )
    validation = DataValidation(type="list", formula1='"优秀,良好,合格"')
    ws.add_data_validation(validation)
    validation.add("F3:F8")
    ws["A3"].comment = Comment("指标说明", "anju")
    ws.add_image(Image(str(logo)), "J2")
    chart = BarChart()
    chart.add_data(Reference(ws, min_col=3, min_row=3, max_row=8))
    ws.add_chart(chart, "J10")

    summary = wb.create_sheet("汇总")
    summary["A1"] = "总分"
    summary["B1"] = "=评分表!C10"
    summary["B2"] = "=B1*0.5"
    check = wb.create_sheet("校验")
    for row, label in enumerate(["优秀", "良好", "合格"], start=1):
        check.cell(row, 1, label)

    wb.defined_names["总分"] = DefinedName("总分", attr_text="'评分表'!$C$10")
    wb.defined_names["明细"] = DefinedName("明细", attr_text="'评分表'!$C$3:$C$8")
    wb.defined_names["坏名"] = DefinedName("坏名", attr_text="#REF!")
    wb.defined_names["两块"] = DefinedName("两块", attr_text="'评分表'!$C$3,'评分表'!$C$5")
    ws.defined_names["局部"] = DefinedName("局部", attr_text="'评分表'!$A$1")
    wb.calculation.fullCalcOnLoad = True
    path = folder / "模板.xlsx"
    wb.save(path)
    _make_excel_like(path)
    return path


def _make_excel_like(path: Path) -> None:
    """Post-process openpyxl's output into what Excel writes, plus extra parts."""
    parts = members(path)
    sheet = parts["xl/worksheets/sheet1.xml"].decode()
    sheet = re.sub(r'<row r="(\d+)">', r'<row r="\1" spans="1:8">', sheet)
    # A3 as a shared string, C5 with attributes in another order, E4 self-closing.
    sheet = re.sub(r'<c r="A3" t="inlineStr"><is><t>[^<]*</t></is></c>', '<c r="A3" t="s"><v>0</v></c>', sheet)
    sheet = sheet.replace('<c r="C5" s="1" t="n">', '<c s="1" t="n" r="C5">')
    sheet = re.sub(r'<c r="E4" s="(\d+)"[^>]*>(</c>)?', r'<c s="\1" r="E4"/>', sheet)
    # D3:D8 as one shared formula, with cached values everywhere.
    sheet = sheet.replace("<f>C3*2</f><v></v>", '<f t="shared" ref="D3:D8" si="0">C3*2</f><v>9</v>')
    for row in range(4, 9):
        sheet = sheet.replace(f"<f>C{row}*2</f><v></v>", f'<f t="shared" si="0"/><v>{row * 3}</v>')
    sheet = sheet.replace("<f>SUM(C3:C8)</f><v></v>", "<f>SUM(C3:C8)</f><v>49.5</v>")
    sheet = sheet.replace("<f>AVERAGE(C3:C8)</f><v></v>", "<f>AVERAGE(C3:C8)</f><v>8.25</v>")
    sheet = sheet.replace("</worksheet>", X14_VALIDATION.decode() + "</worksheet>")
    summary = parts["xl/worksheets/sheet2.xml"].decode()
    summary = summary.replace("<f>评分表!C10</f><v></v>", "<f>评分表!C10</f><v>49.5</v>")
    summary = summary.replace("<f>B1*0.5</f><v></v>", "<f>B1*0.5</f><v>24.75</v>")

    shared_strings = (
        f'<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n<sst xmlns="{MAIN_NS}" count="1"'
        ' uniqueCount="1"><si><t>指标3</t></si></sst>'
    )
    calc_chain = (
        f'<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n<calcChain xmlns="{MAIN_NS}">'
        '<c r="C10" i="1"/><c r="C11"/><c r="D3"/><c r="D4"/><c r="D5"/><c r="D6"/><c r="D7"/>'
        '<c r="D8"/><c r="B1" i="2"/><c r="B2"/></calcChain>'
    )
    rels = parts["xl/_rels/workbook.xml.rels"].decode().replace(
        "</Relationships>",
        f'<Relationship Id="rId90" Type="{REL_NS}/sharedStrings" Target="sharedStrings.xml"/>'
        f'<Relationship Id="rId91" Type="{CALC_CHAIN_REL}" Target="calcChain.xml"/>'
        '<Relationship Id="rId92" Type="http://schemas.microsoft.com/office/2006/relationships/vbaProject"'
        ' Target="vbaProject.bin"/></Relationships>',
    )
    types = parts["[Content_Types].xml"].decode().replace(
        "</Types>",
        '<Default Extension="bin" ContentType="application/vnd.ms-office.vbaProject"/>'
        '<Override PartName="/xl/sharedStrings.xml" ContentType="application/vnd.openxmlformats-'
        'officedocument.spreadsheetml.sharedStrings+xml"/><Override PartName="/xl/calcChain.xml"'
        ' ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.calcChain+xml"/></Types>',
    )
    rewrite_zip(
        path,
        {
            "xl/worksheets/sheet1.xml": sheet.encode(),
            "xl/worksheets/sheet2.xml": summary.encode(),
            "xl/_rels/workbook.xml.rels": rels.encode(),
            "[Content_Types].xml": types.encode(),
        },
        add={
            "xl/sharedStrings.xml": shared_strings.encode(),
            "xl/calcChain.xml": calc_chain.encode(),
            "xl/vbaProject.bin": VBA_BYTES,
            "xl/drawings/vmlDrawing9.vml": BUTTON_VML,
        },
    )


def minimal_workbook(
    folder: Path,
    sheet_data: str,
    *,
    name: str = "小表.xlsx",
    prefix: str = "",
    calc_pr: str = "",
    defined_names: str = "",
    calc_chain: str | None = None,
    before_sheet_data: str = "",
) -> Path:
    """A hand-written workbook with one sheet '表一' whose sheetData is given."""
    p = f"{prefix}:" if prefix else ""
    xmlns = f'xmlns:{prefix}="{MAIN_NS}"' if prefix else f'xmlns="{MAIN_NS}"'
    sheet = (
        f'<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n<{p}worksheet {xmlns}>'
        f'<{p}dimension ref="A1:C3"/>{before_sheet_data}{sheet_data}<{p}pageMargins left="0.7" right="0.7"'
        f' top="0.75" bottom="0.75" header="0.3" footer="0.3"/></{p}worksheet>'
    )
    workbook = (
        f'<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n<workbook xmlns="{MAIN_NS}"'
        f' xmlns:r="{REL_NS}"><sheets><sheet name="表一" sheetId="3" r:id="rId1"/></sheets>'
        f"{defined_names}{calc_pr}</workbook>"
    )
    rels = (
        '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n<Relationships xmlns="http://schemas.'
        f'openxmlformats.org/package/2006/relationships"><Relationship Id="rId1" Type="{REL_NS}/worksheet"'
        ' Target="worksheets/sheet1.xml"/>'
        + (f'<Relationship Id="rId2" Type="{CALC_CHAIN_REL}" Target="/xl/calcChain.xml"/>' if calc_chain else "")
        + "</Relationships>"
    )
    types = (
        '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n<Types xmlns="http://schemas.openxmlformats.'
        'org/package/2006/content-types"><Default Extension="rels" ContentType="application/vnd.openxmlformats-'
        'package.relationships+xml"/><Default Extension="xml" ContentType="application/xml"/>'
        '<Override PartName="/xl/workbook.xml" ContentType="application/vnd.openxmlformats-officedocument.'
        'spreadsheetml.sheet.main+xml"/><Override PartName="/xl/worksheets/sheet1.xml" ContentType="application/'
        'vnd.openxmlformats-officedocument.spreadsheetml.worksheet+xml"/>'
        + (
            '<Override PartName="/xl/calcChain.xml" ContentType="application/vnd.openxmlformats-officedocument.'
            'spreadsheetml.calcChain+xml"/>'
            if calc_chain
            else ""
        )
        + "</Types>"
    )
    root_rels = (
        '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n<Relationships xmlns="http://schemas.'
        'openxmlformats.org/package/2006/relationships"><Relationship Id="rId1" Type="http://schemas.'
        'openxmlformats.org/officeDocument/2006/relationships/officeDocument" Target="xl/workbook.xml"/>'
        "</Relationships>"
    )
    path = folder / name
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("[Content_Types].xml", types)
        archive.writestr("_rels/.rels", root_rels)
        archive.writestr("xl/workbook.xml", workbook)
        archive.writestr("xl/_rels/workbook.xml.rels", rels)
        archive.writestr("xl/worksheets/sheet1.xml", sheet)
        if calc_chain:
            archive.writestr(
                "xl/calcChain.xml",
                f'<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n<calcChain xmlns="{MAIN_NS}">'
                f"{calc_chain}</calcChain>",
            )
    return path


def sheet_data_of(path: Path) -> str:
    xml = read(path, "xl/worksheets/sheet1.xml")
    return re.search(r"<(?:\w+:)?sheetData/>|<(?:\w+:)?sheetData>.*?</(?:\w+:)?sheetData>", xml, re.S).group(0)


@pytest.fixture
def template(tmp_path: Path) -> Path:
    return build_template(tmp_path)


# ---------------------------------------------------------------- fidelity

SCORE_EDITS = {
    "评分表": {
        "C3": Decimal("3.25"),
        "C4": Decimal("4.50"),
        "C5": Decimal("5.75"),
        "C6": 6,
        "C7": Decimal("7.125"),
        "C8": Decimal("1E+1"),
        "A3": "指标三（已修改）",
        "B4": None,
        "E4": "良好",
        "G5": True,
        "C10": CachedValue(Decimal("60.5")),
        "C11": Decimal("7.5"),
        "C12": Formula("C10*0.4", Decimal("24.2")),
        "A2": "说明：",
        "A20": "合计",
        "B20": 1.25,
        "B21": "<特殊&字符>\x01",
    },
    "汇总": {"C1": Decimal("88.8"), "B2": 5, "A3": "ok"},
}
NEW_ROWS = {"评分表": ("2", "12", "20", "21"), "汇总": ("3",)}


def strip_cells(xml: str, refs, new_rows=()) -> str:
    """Sheet XML without the given cells, the (now empty) new rows and the dimension."""
    for ref in refs:
        xml = re.sub(rf'<c\b(?=[^>]*\br="{ref}")[^>]*?(?:/>|>.*?</c>)', "", xml, flags=re.S)
    for row in new_rows:
        xml = xml.replace(f'<row r="{row}"></row>', "")
    return re.sub(r'<dimension ref="[^"]*"/>', "", xml)


def test_fidelity_only_target_cells_change(template: Path, tmp_path: Path):
    before = members(template)
    before_infos = infos(template)
    out = tmp_path / "结果.xlsx"
    patch_cells(template, SCORE_EDITS, out_path=out)
    after = members(out)
    after_infos = infos(out)

    assert list(after) == list(before)  # same members, same order
    with zipfile.ZipFile(out) as archive:
        assert archive.testzip() is None
    edited = {"xl/worksheets/sheet1.xml", "xl/worksheets/sheet2.xml", "xl/calcChain.xml"}
    for name in before:
        old, new = before_infos[name], after_infos[name]
        for attribute in ("compress_type", "date_time", "external_attr", "create_system", "extra", "comment"):
            assert getattr(new, attribute) == getattr(old, attribute), (name, attribute)
        if name not in edited:
            assert after[name] == before[name], name
            assert (new.CRC, new.compress_size) == (old.CRC, old.compress_size), name
    # fullCalcOnLoad was already set by the template: workbook.xml untouched.
    assert after["xl/workbook.xml"] == before["xl/workbook.xml"]
    assert after["xl/vbaProject.bin"] == VBA_BYTES
    assert after["xl/drawings/vmlDrawing9.vml"] == BUTTON_VML

    for part, sheet in (("xl/worksheets/sheet1.xml", "评分表"), ("xl/worksheets/sheet2.xml", "汇总")):
        old, new = before[part].decode(), after[part].decode()
        assert strip_cells(new, SCORE_EDITS[sheet], NEW_ROWS[sheet]) == strip_cells(old, SCORE_EDITS[sheet]), part
    sheet1 = after["xl/worksheets/sheet1.xml"].decode()
    assert '<dimension ref="A1:G21"/>' in sheet1
    assert X14_VALIDATION.decode() in sheet1
    assert '<row r="2"><c r="A2" t="inlineStr">' in sheet1
    assert '<c s="1" t="n" r="C5"><v>5.75</v></c>' not in sheet1  # t dropped, order kept
    assert '<c s="1" r="C5"><v>5.75</v></c>' in sheet1
    assert '<c r="B4" s="2"/>' in sheet1
    assert '<c s="2" r="E4" t="inlineStr">' in sheet1
    assert '<c r="C8" s="1"><v>10</v></c>' in sheet1
    assert '<c r="C10"><f>SUM(C3:C8)</f><v>60.5</v></c>' in sheet1
    assert '<c r="C12"><f>C10*0.4</f><v>24.2</v></c>' in sheet1
    assert "&lt;特殊&amp;字符&gt;</t>" in sheet1

    chain = after["xl/calcChain.xml"].decode()
    assert '<c r="C11"/>' not in chain and '<c r="B2"/>' not in chain
    assert '<c r="C10" i="1"/><c r="D3"/>' in chain and '<c r="B1" i="2"/></calcChain>' in chain


def test_fidelity_values_and_styles_read_back(template: Path, tmp_path: Path):
    out = tmp_path / "结果.xlsx"
    patch_cells(template, SCORE_EDITS, out_path=out)

    wb = openpyxl.load_workbook(out)
    ws = wb["评分表"]
    assert [ws[f"C{r}"].value for r in range(3, 9)] == [3.25, 4.5, 5.75, 6, 7.125, 10]
    assert ws["A3"].value == "指标三（已修改）"
    assert ws["A2"].value == "说明：" and ws["A20"].value == "合计" and ws["B20"].value == 1.25
    assert ws["B21"].value == "<特殊&字符>"
    assert ws["G5"].value is True and ws["E4"].value == "良好" and ws["B4"].value is None
    assert ws["C10"].value == "=SUM(C3:C8)" and ws["C11"].value == 7.5
    assert ws["C12"].value == "=C10*0.4"
    assert ws["D5"].value is not None  # shared formula still there
    assert ws["C3"].number_format == "0.00" and ws["C3"].fill.fgColor.rgb == "00FFFF00"
    assert ws["B4"].fill.fgColor.rgb == "0000FF00" and ws["E4"].fill.fgColor.rgb == "0000FF00"
    assert "A1:D1" in {str(r) for r in ws.merged_cells.ranges}
    assert ws["A3"].comment.text == "指标说明"
    assert wb["汇总"]["B2"].value == 5 and wb["汇总"]["C1"].value == 88.8

    cached = openpyxl.load_workbook(out, data_only=True)["评分表"]
    assert cached["C10"].value == 60.5 and cached["C12"].value == 24.2

    book = python_calamine.CalamineWorkbook.from_path(str(out))
    rows = book.get_sheet_by_name("评分表").to_python()
    assert rows[2][2] == 3.25 and rows[2][0] == "指标三（已修改）"
    assert rows[9][2] == 60.5 and rows[10][2] == 7.5 and rows[11][2] == 24.2
    assert rows[4][6] is True and rows[1][0] == "说明：" and rows[19][1] == 1.25
    assert book.get_sheet_by_name("汇总").to_python()[1][1] == 5


def test_package_read_api(template: Path):
    package = open_package(template)
    assert package.sheet_names == ["评分表", "汇总", "校验"]
    assert package.sheet_part("汇总") == "xl/worksheets/sheet2.xml"
    assert package.defined_names() == {"总分": ("评分表", "C10"), "明细": ("评分表", "C3:C8")}
    assert package.cell_formula("评分表", "C10") == "SUM(C3:C8)"
    assert package.cell_formula("评分表", "D3") == "C3*2"
    assert package.cell_formula("评分表", "D6") == "C6*2"  # shared formula, translated
    assert package.cell_formula("评分表", "C3") is None
    assert package.cell_formula("评分表", "Z99") is None
    assert package.read_part("xl/vbaProject.bin") == VBA_BYTES
    with pytest.raises(WorkbookFileError, match="没有名为“不存在”的工作表"):
        package.sheet_part("不存在")


def test_unchanged_input_is_not_rewritten(template: Path):
    stamp = template.stat().st_mtime_ns
    patch_cells(template, {"评分表": {"Z50": None}})
    assert template.stat().st_mtime_ns == stamp


def test_in_place_patch_keeps_permissions(template: Path):
    os.chmod(template, 0o640)
    patch_cells(template, {"评分表": {"C3": 1}})
    assert stat.S_IMODE(template.stat().st_mode) == 0o640
    assert openpyxl.load_workbook(template)["评分表"]["C3"].value == 1
    assert no_temp_files(template.parent)


class _Unseekable:
    """A write-only stream: zipfile then writes data descriptors after each member."""

    def __init__(self, path: Path):
        self._file = open(path, "wb")

    def write(self, data) -> int:
        return self._file.write(data)

    def flush(self) -> None:
        self._file.flush()

    def close(self) -> None:
        self._file.close()


def test_stored_members_and_data_descriptors(tmp_path: Path):
    source = minimal_workbook(tmp_path, '<sheetData><row r="1"><c r="A1"><v>1</v></c></row></sheetData>')
    path = tmp_path / "流式.xlsx"
    stream = _Unseekable(path)
    with zipfile.ZipFile(stream, "w") as archive:
        for name, data in members(source).items():
            info = zipfile.ZipInfo(name, (2024, 5, 6, 7, 8, 10))
            info.compress_type = zipfile.ZIP_STORED if name.endswith(".rels") else zipfile.ZIP_DEFLATED
            with archive.open(info, "w") as member:
                member.write(data)
    stream.close()
    assert all(info.flag_bits & 0x08 for info in infos(path).values())
    assert infos(path)["_rels/.rels"].compress_type == zipfile.ZIP_STORED
    before = members(path)
    patch_cells(path, {"表一": {"A1": "改"}})
    with zipfile.ZipFile(path) as archive:
        assert archive.testzip() is None
    after = members(path)
    assert [n for n in after if after[n] != before[n]] == ["xl/worksheets/sheet1.xml"]
    assert infos(path)["xl/worksheets/sheet1.xml"].date_time == (2024, 5, 6, 7, 8, 10)
    assert infos(path)["_rels/.rels"].compress_type == zipfile.ZIP_STORED
    assert openpyxl.load_workbook(path)["表一"]["A1"].value == "改"


# ---------------------------------------------------------------- cell encoding


@pytest.mark.parametrize(
    ("value", "xml"),
    [
        (Decimal("1.500"), '<c r="B2"><v>1.5</v></c>'),
        (Decimal("1E+3"), '<c r="B2"><v>1000</v></c>'),
        (Decimal("-0.00"), '<c r="B2"><v>0</v></c>'),
        (Decimal("0.000001"), '<c r="B2"><v>0.000001</v></c>'),
        (0.1, '<c r="B2"><v>0.1</v></c>'),
        (-42, '<c r="B2"><v>-42</v></c>'),
        (False, '<c r="B2" t="b"><v>0</v></c>'),
        ("a_x0041_b\tc", '<c r="B2" t="inlineStr"><is><t xml:space="preserve">a_x005F_x0041_b\tc</t></is></c>'),
        ("bad\x00\x1f\ufffe", '<c r="B2" t="inlineStr"><is><t xml:space="preserve">bad</t></is></c>'),
        (Formula("=A1&\"<\"", "x"), '<c r="B2" t="str"><f>A1&amp;"&lt;"</f><v>x</v></c>'),
        (Formula("1/0", "#DIV/0!"), '<c r="B2" t="e"><f>1/0</f><v>#DIV/0!</v></c>'),
        (Formula("A1", None), '<c r="B2"><f>A1</f></c>'),
        (Formula("A1>0", True), '<c r="B2" t="b"><f>A1&gt;0</f><v>1</v></c>'),
        (CachedValue(3), '<c r="B2"><v>3</v></c>'),
    ],
)
def test_value_encoding(tmp_path: Path, value, xml: str):
    path = minimal_workbook(tmp_path, '<sheetData><row r="2"><c r="B2" t="s"><v>0</v></c></row></sheetData>')
    patch_cells(path, {"表一": {"B2": value}})
    assert sheet_data_of(path) == f'<sheetData><row r="2">{xml}</row></sheetData>'


def test_unsupported_value_raises_and_leaves_file(tmp_path: Path):
    path = minimal_workbook(tmp_path, '<sheetData><row r="1"><c r="A1"><v>1</v></c></row></sheetData>')
    original = path.read_bytes()
    with pytest.raises(TypeError, match="不支持写入此类型的单元格值"):
        patch_cells(path, {"表一": {"A1": 2, "B1": object()}})
    with pytest.raises(ValueError, match="不是有限数"):
        patch_cells(path, {"表一": {"A1": float("nan")}})
    with pytest.raises(ValueError, match="单元格地址“B0”无效"):
        patch_cells(path, {"表一": {"B0": 1}})
    assert path.read_bytes() == original and no_temp_files(tmp_path)


def test_failure_while_replacing_removes_temp_file(tmp_path: Path):
    path = minimal_workbook(tmp_path, '<sheetData><row r="1"><c r="A1"><v>1</v></c></row></sheetData>')
    original = path.read_bytes()
    blocked = tmp_path / "已存在的文件夹"
    blocked.mkdir()
    (blocked / "x").write_text("keeps the folder non-empty")
    with pytest.raises(WorkbookFileError, match="无法保存“已存在的文件夹”"):
        patch_cells(path, {"表一": {"A1": 2}}, out_path=blocked)
    assert path.read_bytes() == original and no_temp_files(tmp_path)


# ---------------------------------------------------------------- sheet XML shapes


def test_rows_and_cells_are_inserted_in_order(tmp_path: Path):
    data = (
        '<sheetData><row r="2" spans="2:3"><c r="B2"><v>1</v></c><c r="C2"><v>2</v></c></row>'
        '<row r="4" spans="1:1" ht="20" customHeight="1"/><row r="6"><c r="A6"/></row></sheetData>'
    )
    path = minimal_workbook(tmp_path, data)
    patch_cells(path, {"表一": {"D2": 4, "A2": 0, "A1": "top", "B4": 7, "A5": 5, "A9": 9, "A6": None}})
    assert sheet_data_of(path) == (
        '<sheetData><row r="1"><c r="A1" t="inlineStr"><is><t xml:space="preserve">top</t></is></c></row>'
        '<row r="2" spans="1:4"><c r="A2"><v>0</v></c><c r="B2"><v>1</v></c><c r="C2"><v>2</v></c>'
        '<c r="D2"><v>4</v></c></row><row r="4" spans="1:2" ht="20" customHeight="1"><c r="B4"><v>7</v></c>'
        '</row><row r="5"><c r="A5"><v>5</v></c></row><row r="6"><c r="A6"/></row>'
        '<row r="9"><c r="A9"><v>9</v></c></row></sheetData>'
    )
    assert '<dimension ref="A1:D9"/>' in read(path, "xl/worksheets/sheet1.xml")


def test_empty_self_closing_sheet_data(tmp_path: Path):
    path = minimal_workbook(tmp_path, "<sheetData/>")
    patch_cells(path, {"表一": {"B2": 1}})
    assert sheet_data_of(path) == '<sheetData><row r="2"><c r="B2"><v>1</v></c></row></sheetData>'
    assert openpyxl.load_workbook(path)["表一"]["B2"].value == 1


def test_cells_and_rows_without_r_attribute(tmp_path: Path):
    # r is optional: such cells follow the previous cell / row.
    path = minimal_workbook(tmp_path, "<sheetData><row><c><v>1</v></c><c><v>2</v></c></row><row><c><v>3</v></c></row></sheetData>")
    patch_cells(path, {"表一": {"B1": 20, "B2": 30}})
    assert sheet_data_of(path) == (
        '<sheetData><row><c><v>1</v></c><c r="B1"><v>20</v></c></row>'
        '<row><c><v>3</v></c><c r="B2"><v>30</v></c></row></sheetData>'
    )


def test_prefixed_namespace_sheet(tmp_path: Path):
    data = '<x:sheetData><x:row r="1"><x:c r="A1" t="s"><x:v>0</x:v></x:c></x:row></x:sheetData>'
    path = minimal_workbook(tmp_path, data, prefix="x")
    patch_cells(path, {"表一": {"A1": "新", "B3": 2}})
    assert sheet_data_of(path) == (
        '<x:sheetData><x:row r="1"><x:c r="A1" t="inlineStr"><x:is><x:t xml:space="preserve">新</x:t></x:is>'
        '</x:c></x:row><x:row r="3"><x:c r="B3"><x:v>2</x:v></x:c></x:row></x:sheetData>'
    )
    assert python_calamine.CalamineWorkbook.from_path(str(path)).get_sheet_by_name("表一").to_python()[2][1] == 2


def test_new_cells_take_row_or_column_style(tmp_path: Path):
    path = minimal_workbook(
        tmp_path,
        '<sheetData><row r="1" s="7" customFormat="1"><c r="A1" s="7"/></row><row r="2"/></sheetData>',
        before_sheet_data='<cols><col min="2" max="3" width="12" style="5" customWidth="1"/></cols>',
    )
    patch_cells(path, {"表一": {"D1": 1, "C2": 2, "A2": 3}})
    assert sheet_data_of(path) == (
        '<sheetData><row r="1" s="7" customFormat="1"><c r="A1" s="7"/><c r="D1" s="7"><v>1</v></c></row>'
        '<row r="2"><c r="A2"><v>3</v></c><c r="C2" s="5"><v>2</v></c></row></sheetData>'
    )


def test_cell_metadata_attributes(tmp_path: Path):
    data = (
        '<sheetData><row r="1"><c r="A1" cm="1"><f t="array" ref="A1">SEQUENCE(1)</f><v>1</v></c>'
        '<c r="B1" vm="1" t="e"><v>#VALUE!</v></c><c r="C1" cm="1"><f t="array" ref="C1">A1</f><v>1</v></c>'
        "</row></sheetData>"
    )
    path = minimal_workbook(tmp_path, data)
    patch_cells(path, {"表一": {"A1": CachedValue(5), "B1": 1, "C1": 2}})
    assert sheet_data_of(path) == (
        '<sheetData><row r="1"><c r="A1" cm="1"><f t="array" ref="A1">SEQUENCE(1)</f><v>5</v></c>'
        '<c r="B1"><v>1</v></c><c r="C1"><v>2</v></c></row></sheetData>'
    )


# ---------------------------------------------------------------- shared formulas


SHARED = (
    '<sheetData><row r="1"><c r="A1"><f t="shared" ref="A1:A3" si="0">B1*2</f><v>2</v></c></row>'
    '<row r="2"><c r="A2"><f t="shared" si="0"/><v>4</v></c></row>'
    '<row r="3"><c r="A3"><f t="shared" si="0"/><v>6</v></c></row></sheetData>'
)


def test_shared_formula_master_is_refused(tmp_path: Path):
    path = minimal_workbook(tmp_path, SHARED)
    original = path.read_bytes()
    with pytest.raises(WorkbookFileError, match="单元格 A1 是共享公式的起始单元格.*A3"):
        patch_cells(path, {"表一": {"A1": 1, "A2": 2}})
    assert path.read_bytes() == original and no_temp_files(tmp_path)


def test_shared_formula_dependents_and_cached_values(tmp_path: Path):
    path = minimal_workbook(tmp_path, SHARED)
    patch_cells(path, {"表一": {"A1": CachedValue(20), "A3": 7}})
    assert sheet_data_of(path) == SHARED.replace("<v>2</v>", "<v>20</v>").replace(
        '<c r="A3"><f t="shared" si="0"/><v>6</v></c>', '<c r="A3"><v>7</v></c>'
    )
    assert open_package(path).cell_formula("表一", "A2") == "B2*2"


def test_shared_formula_master_with_all_dependents(tmp_path: Path):
    path = minimal_workbook(tmp_path, SHARED)
    patch_cells(path, {"表一": {"A1": 1, "A2": 2, "A3": Formula("B3", 3)}})
    assert "shared" not in sheet_data_of(path)


@pytest.mark.parametrize(
    ("master", "rows", "cols", "expected"),
    [
        ("A1+$B$1+C$1+$D1", 2, 1, "B3+$B$1+D$1+$D3"),
        ("SUM(A1:B2)*'汇 总'!C3&\"A1\"", 1, 0, "SUM(A2:B3)*'汇 总'!C4&\"A1\""),
        ("LOG10(A1)+Table1[[#This Row],[B1]]+ROUND(x1y,2)", 1, 0, "LOG10(A2)+Table1[[#This Row],[B1]]+ROUND(x1y,2)"),
        ("SUM(A:A)+SUM(1:1)+SUM($C:$C)", 1, 1, "SUM(B:B)+SUM(2:2)+SUM($C:$C)"),
        ("1E+3+A1", 0, 1, "1E+3+B1"),
    ],
)
def test_shared_formula_translation(tmp_path: Path, master, rows, cols, expected):
    escaped = master.replace("&", "&amp;")
    data = (
        f'<sheetData><row r="1"><c r="A1"><f t="shared" ref="A1:Z99" si="4">{escaped}</f><v>0</v></c></row>'
        f'<row r="{1 + rows}"><c r="{chr(65 + cols)}{1 + rows}"><f t="shared" si="4"/><v>0</v></c></row></sheetData>'
    )
    path = minimal_workbook(tmp_path, data)
    package = open_package(path)
    assert package.cell_formula("表一", "A1") == master
    assert package.cell_formula("表一", f"{chr(65 + cols)}{1 + rows}") == expected


# ---------------------------------------------------------------- calcChain and fullCalcOnLoad

FORMULAS = (
    '<sheetData><row r="1"><c r="A1"><v>1</v></c><c r="B1"><f>A1+1</f><v>2</v></c>'
    '<c r="C1"><f>B1+1</f><v>3</v></c></row></sheetData>'
)


def test_calc_chain_entry_removed_and_sheet_id_carried(tmp_path: Path):
    path = minimal_workbook(tmp_path, FORMULAS, calc_chain='<c r="B1" i="3" l="1"/><c r="C1"/>')
    patch_cells(path, {"表一": {"B1": 10}})
    assert read(path, "xl/calcChain.xml").endswith(f'<calcChain xmlns="{MAIN_NS}"><c r="C1" i="3" l="1"/></calcChain>')


def test_calc_chain_dropped_when_empty(tmp_path: Path):
    path = minimal_workbook(tmp_path, FORMULAS, calc_chain='<c r="B1" i="3"/><c r="C1"/>')
    before = members(path)
    patch_cells(path, {"表一": {"B1": 10, "C1": Formula("A1*3", 3)}})
    after = members(path)
    assert "xl/calcChain.xml" not in after
    assert b"calcChain" not in after["xl/_rels/workbook.xml.rels"]
    assert b"calcChain" not in after["[Content_Types].xml"]
    assert after["xl/_rels/workbook.xml.rels"] == before["xl/_rels/workbook.xml.rels"].replace(
        f'<Relationship Id="rId2" Type="{CALC_CHAIN_REL}" Target="/xl/calcChain.xml"/>'.encode(), b""
    )
    assert openpyxl.load_workbook(path)["表一"]["C1"].value == "=A1*3"


def test_calc_chain_untouched_by_cached_value(tmp_path: Path):
    path = minimal_workbook(tmp_path, FORMULAS, calc_chain='<c r="B1" i="3"/><c r="C1"/>')
    before = members(path)
    patch_cells(path, {"表一": {"B1": CachedValue(Decimal("2.0")), "A1": 1}})
    assert members(path)["xl/calcChain.xml"] == before["xl/calcChain.xml"]


def test_plain_value_patch_leaves_workbook_xml_alone(tmp_path: Path):
    path = minimal_workbook(tmp_path, FORMULAS, calc_pr='<calcPr calcId="191029"/>')
    before = members(path)["xl/workbook.xml"]
    patch_cells(path, {"表一": {"A1": 5, "D1": "x"}})
    assert members(path)["xl/workbook.xml"] == before


@pytest.mark.parametrize(
    ("calc_pr", "edit", "expected"),
    [
        ('<calcPr calcId="191029"/>', {"B1": 5}, '<calcPr calcId="191029" fullCalcOnLoad="1"/>'),
        ('<calcPr fullCalcOnLoad="0" calcId="1"/>', {"D1": Formula("A1")}, '<calcPr fullCalcOnLoad="1" calcId="1"/>'),
        ("", {"A1": CachedValue(3)}, '</definedNames><calcPr fullCalcOnLoad="1"/></workbook>'),
    ],
)
def test_full_calc_on_load_requested_for_formula_edits(tmp_path: Path, calc_pr, edit, expected):
    names = '<definedNames><definedName name="x">表一!$A$1</definedName></definedNames>'
    path = minimal_workbook(tmp_path, FORMULAS, calc_pr=calc_pr, defined_names=names)
    patch_cells(path, {"表一": edit})
    assert expected in read(path, "xl/workbook.xml")
    assert openpyxl.load_workbook(path).calculation.fullCalcOnLoad is True


def test_full_calc_already_set_keeps_workbook_xml(tmp_path: Path):
    path = minimal_workbook(tmp_path, FORMULAS, calc_pr='<calcPr calcId="1" fullCalcOnLoad="1"/>')
    before = members(path)["xl/workbook.xml"]
    patch_cells(path, {"表一": {"B1": Formula("A1*5", 5)}})
    assert members(path)["xl/workbook.xml"] == before


# ---------------------------------------------------------------- bad input


def assert_refused(path: Path, message: str):
    original = path.read_bytes() if path.exists() else None
    with pytest.raises(WorkbookFileError, match=message) as opened:
        open_package(path)
    with pytest.raises(WorkbookFileError, match=message):
        patch_cells(path, {"评分表": {"A1": 1}})
    if original is not None:
        assert path.read_bytes() == original
    assert no_temp_files(path.parent)
    assert path.name in str(opened.value)


def test_missing_file(tmp_path: Path):
    assert_refused(tmp_path / "没有.xlsx", "找不到文件")


def test_text_file_renamed(tmp_path: Path):
    path = tmp_path / "文本.xlsx"
    path.write_text("这不是工作簿", encoding="utf-8")
    assert_refused(path, "不是有效的 Excel 工作簿")


def test_truncated_file(template: Path):
    template.write_bytes(template.read_bytes()[: template.stat().st_size // 2])
    assert_refused(template, "不是有效的 Excel 工作簿")


def test_old_xls(tmp_path: Path):
    path = tmp_path / "旧版.xlsx"
    path.write_bytes(bytes.fromhex("D0CF11E0A1B11AE1") + bytes(504) + "Workbook".encode("utf-16-le") + bytes(64))
    assert_refused(path, r"旧版 Excel 97-2003 工作簿（\.xls）.*另存为")


def test_encrypted_workbook(tmp_path: Path):
    path = tmp_path / "加密.xlsx"
    path.write_bytes(bytes.fromhex("D0CF11E0A1B11AE1") + bytes(504) + "EncryptionInfo".encode("utf-16-le") + bytes(64))
    assert_refused(path, "已用密码加密.*去掉打开密码")


def test_xlsb_refused(tmp_path: Path):
    path = tmp_path / "二进制.xlsb"
    path.write_bytes(b"PK\x03\x04whatever")
    assert_refused(path, r"二进制工作簿（\.xlsb）")


def test_zip_bomb_declared_size(template: Path):
    with zipfile.ZipFile(template, "a", zipfile.ZIP_DEFLATED) as archive:
        with archive.open("xl/media/bomb.bin", "w") as member:
            zeros = bytes(1024 * 1024)
            for _ in range(200):
                member.write(zeros)
    assert template.stat().st_size < 2 * 1024 * 1024
    assert_refused(template, "部件“xl/media/bomb.bin”解压后过大.*压缩炸弹")


def test_zip_bomb_lying_header(tmp_path: Path):
    path = minimal_workbook(tmp_path, "<sheetData/>")
    workbook_xml = members(path)["xl/workbook.xml"]
    rewrite_zip(path, {"xl/workbook.xml": workbook_xml + b" " * (60 * 1024 * 1024)})
    data = bytearray(path.read_bytes())
    info = infos(path)["xl/workbook.xml"]
    struct.pack_into("<L", data, info.header_offset + 22, len(workbook_xml))
    central = data.find(b"PK\x01\x02")
    while central >= 0:
        if data[central + 46 : central + 46 + 15] == b"xl/workbook.xml":
            struct.pack_into("<L", data, central + 24, len(workbook_xml))
        central = data.find(b"PK\x01\x02", central + 4)
    path.write_bytes(bytes(data))
    assert_refused(path, "部件“xl/workbook.xml”无法解压")


def test_doctype_in_workbook_xml(tmp_path: Path):
    path = minimal_workbook(tmp_path, "<sheetData/>")
    xml = members(path)["xl/workbook.xml"].replace(
        b"?>\n", b'?>\n<!DOCTYPE workbook [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;">]>\n', 1
    )
    rewrite_zip(path, {"xl/workbook.xml": xml})
    assert_refused(path, "部件“xl/workbook.xml”包含 DOCTYPE/实体声明")


def test_doctype_in_sheet_is_refused_on_patch(template: Path):
    xml = members(template)["xl/worksheets/sheet1.xml"]
    rewrite_zip(template, {"xl/worksheets/sheet1.xml": b'<!DOCTYPE x [<!ENTITY e "x">]>' + xml})
    original = template.read_bytes()
    with pytest.raises(WorkbookFileError, match="部件“xl/worksheets/sheet1.xml”包含 DOCTYPE"):
        patch_cells(template, {"评分表": {"A1": 1}})
    assert template.read_bytes() == original


def test_strict_ooxml(tmp_path: Path):
    path = minimal_workbook(tmp_path, "<sheetData/>")
    xml = members(path)["xl/workbook.xml"].replace(MAIN_NS.encode(), b"http://purl.oclc.org/ooxml/spreadsheetml/main")
    rewrite_zip(path, {"xl/workbook.xml": xml})
    assert_refused(path, "Strict Open XML")


def test_missing_workbook_part(tmp_path: Path):
    path = minimal_workbook(tmp_path, "<sheetData/>")
    rewrite_zip(path, {"xl/workbook.xml": None})
    assert_refused(path, "不是 Excel 工作簿：缺少 xl/workbook.xml")


def test_unknown_sheet(template: Path):
    original = template.read_bytes()
    with pytest.raises(WorkbookFileError, match="没有名为“得分”的工作表"):
        patch_cells(template, {"得分": {"A1": 1}})
    assert template.read_bytes() == original


# ---------------------------------------------------------------- lock files


def test_lock_file_refused(template: Path):
    lock = template.with_name("~$" + template.name)
    lock.write_bytes(b"owner")
    assert is_locked(template) == lock
    original = template.read_bytes()
    with pytest.raises(WorkbookFileError, match="正在 Excel/WPS 中打开.*请先关闭"):
        patch_cells(template, {"评分表": {"C3": 1}})
    assert template.read_bytes() == original and no_temp_files(template.parent)
    lock.unlink()
    assert is_locked(template) is None
    libreoffice_lock = template.with_name(f".~lock.{template.name}#")
    libreoffice_lock.write_text("owner")
    assert is_locked(template) == libreoffice_lock
    libreoffice_lock.unlink()
    patch_cells(template, {"评分表": {"C3": 1}})
