"""Helpers for the workbook tests: filling templates the way a provincial system
would (openpyxl, through the defined names only), reading results back by name,
building a feature-rich .xlsm around the score cells, and comparing packages."""

from __future__ import annotations

import io
import re
import zipfile
from decimal import Decimal
from pathlib import Path

import openpyxl
from openpyxl.utils.cell import range_boundaries

from engine.workbook import names as N
from engine.workbook.host import FileHost
from engine.workbook.template import build_template


# --------------------------------------------------------------------------- names with openpyxl

def destination(wb, name: str) -> tuple[str, str]:
    defined = wb.defined_names[name]
    sheet, ref = next(defined.destinations)
    return sheet, ref.replace("$", "")


def put(wb, name: str, value) -> None:
    sheet, ref = destination(wb, name)
    wb[sheet][ref.split(":")[0]] = value


def get(wb, name: str):
    sheet, ref = destination(wb, name)
    return wb[sheet][ref.split(":")[0]].value


def cell_value(value):
    """How a program writes a golden-case value into a cell."""
    if isinstance(value, str):
        try:
            return Decimal(value)
        except Exception:
            return value
    return value


def fill(wb, pack, inputs: dict, *, bool_style: str = "text") -> None:
    """Write a golden case's inputs into an openpyxl workbook, by name only."""
    for code, raw in inputs.items():
        indicator = pack.indicator(code)
        if isinstance(raw, str):                   # 无任务 / 未验收 / 无数据 for the whole indicator
            put(wb, N.status_name(code), raw)
            continue
        if raw.get("status"):
            put(wb, N.status_name(code), raw["status"])
        for spec in indicator.compiled.specs:
            source = raw.get(spec.part) if spec.part else raw
            if isinstance(source, str):            # a state for a part
                put(wb, N.spec_name(code, spec), source)
                continue
            if not source or spec.key not in source:
                continue
            value = source[spec.key]
            if spec.kind == "answers":
                fill_answers(wb, N.spec_name(code, spec), value)
                continue
            if isinstance(value, bool):
                value = ("是" if value else "否") if bool_style == "text" else value
            elif spec.kind == "category":
                value = dict(spec.choices).get(value, value)
            else:
                value = cell_value(value)
            put(wb, N.spec_name(code, spec), value)


def fill_answers(wb, name: str, answers) -> None:
    sheet, ref = destination(wb, name)
    ws = wb[sheet]
    min_col, min_row, _, max_row = range_boundaries(ref)
    rows = {str(ws.cell(r, min_col).value): r for r in range(min_row, max_row + 1)}
    if isinstance(answers, str):
        ws.cell(min_row, min_col + 1, answers)
        return
    spare = [r for r in range(min_row, max_row + 1)]
    for label, count in answers.items():
        row = rows.get(str(label))
        if row is None:   # an option the template does not list: write the label too
            row = next(r for r in reversed(spare) if ws.cell(r, min_col + 1).value is None)
            ws.cell(row, min_col, label)
        ws.cell(row, min_col + 1, cell_value(count))


def filled_template(pack, inputs: dict, path: Path, **options) -> Path:
    wb = build_template(pack)
    fill(wb, pack, inputs, **options)
    wb.save(path)
    return path


def read_results(path: Path, pack, data_only: bool = True) -> dict:
    """{name: value} of every output name, read with openpyxl."""
    wb = openpyxl.load_workbook(path, data_only=data_only)
    wanted = [N.OUT_TOTAL, N.OUT_GRADE, N.OUT_STAMP]
    for indicator in pack.indicators:
        wanted += [N.score_name(indicator.code), N.rate_name(indicator.code), N.explain_name(indicator.code)]
    for number in range(1, len(N.level_groups(pack)) + 1):
        wanted += [N.level_score_name(number), N.level_rate_name(number)]
    return {name: get(wb, name) for name in wanted}


def as_decimal(value):
    if value is None or value == "":
        return None
    if isinstance(value, float):
        return Decimal(repr(value))
    if isinstance(value, int):
        return Decimal(value)
    return Decimal(str(value))


def expected_results(pack, result) -> dict:
    values = {N.OUT_TOTAL: result.total, N.OUT_GRADE: result.grade}
    for r in result.indicators:
        values[N.score_name(r.code)] = r.score
        values[N.rate_name(r.code)] = r.rate
        values[N.explain_name(r.code)] = r.explanation
    by_path = {level.path: level for level in result.levels}
    for number, group in enumerate(N.level_groups(pack), 1):
        values[N.level_score_name(number)] = by_path[group].score
        values[N.level_rate_name(number)] = by_path[group].rate
    return values


def compare(read: dict, expected: dict) -> list[str]:
    """Differences between read-back values and the engine's results (numbers compared as Decimal)."""
    problems = []
    for name, want in expected.items():
        got = read.get(name)
        if isinstance(want, Decimal) or want is None and name.endswith(("_score", "_rate")):
            if as_decimal(got) != want:
                problems.append(f"{name}: got {got!r}, want {want}")
        elif (got or "") != (want or ""):
            problems.append(f"{name}: got {got!r}, want {want!r}")
    return problems


# --------------------------------------------------------------------------- zip comparison

def members(path: Path) -> dict[str, bytes]:
    with zipfile.ZipFile(path) as archive:
        return {info.filename: archive.read(info) for info in archive.infolist()}


def raw_members(path: Path) -> dict[str, bytes]:
    """Compressed bytes of each member, as stored (byte-for-byte identity of untouched parts)."""
    data = Path(path).read_bytes()
    result = {}
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        for info in archive.infolist():
            header = data[info.header_offset: info.header_offset + 30]
            name_length = int.from_bytes(header[26:28], "little")
            extra_length = int.from_bytes(header[28:30], "little")
            start = info.header_offset + 30 + name_length + extra_length
            result[info.filename] = data[start: start + info.compress_size]
    return result


_CELL = re.compile(rb"<c\s[^>]*?\br=\"([A-Z]+[0-9]+)\"[^>]*?(?:/>|>.*?</c>)", re.S)


def strip_cells(xml: bytes, refs: set) -> bytes:
    """The sheet XML without the given cells (to compare everything else byte for byte)."""
    return _CELL.sub(lambda m: b"" if m.group(1).decode() in refs else m.group(0), xml)


def sheet_parts(path: Path) -> dict[str, str]:
    """{sheet name: part name} from workbook.xml and its relationships."""
    from engine.workbook.xlsxpatch import open_package
    package = open_package(path)
    return {name: package.sheet_part(name) for name in package.sheet_names}


def target_cells(path, pack, catalog) -> dict:
    """{sheet: set(cells)} that a recalculation of ``path`` may write."""
    host = FileHost(path)
    data = host.read_inputs(catalog)
    names = [N.OUT_TOTAL, N.OUT_GRADE, N.OUT_STAMP, N.OUT_SCORES_SUM]
    for indicator in pack.indicators:
        names += [N.score_name(indicator.code), N.rate_name(indicator.code), N.explain_name(indicator.code)]
    for number in range(1, len(N.level_groups(pack)) + 1):
        names += [N.level_score_name(number), N.level_rate_name(number)]
    values = {name: 0 for name in names}
    values[N.OUT_MESSAGES] = [("x", "x", "x", "x")] * 200
    return {sheet: set(cells) for sheet, cells in host.edits(values).items()}


def assert_only_targets_changed(before_path, after_path, targets: dict) -> set:
    """Returns the names of the members that changed (all of them sheet parts holding targets)."""
    before_raw, after_raw = raw_members(before_path), raw_members(after_path)
    assert list(before_raw) == list(after_raw), "zip members added, removed or reordered"
    parts = sheet_parts(before_path)
    target_parts = {parts[sheet]: sheet for sheet in targets}
    changed = {name for name in before_raw if before_raw[name] != after_raw[name]}
    assert changed <= set(target_parts), f"non-target members changed: {changed - set(target_parts)}"
    before, after = members(before_path), members(after_path)
    for part in changed:
        refs = targets[target_parts[part]]
        assert strip_cells(before[part], refs) == strip_cells(after[part], refs), f"{part} changed outside the target cells"
    return changed


# --------------------------------------------------------------------------- a feature-rich workbook

VML_BUTTON_SHAPETYPE = (
    b'<v:shapetype id="_x0000_t201" coordsize="21600,21600" o:spt="201" path="m,l,21600r21600,l21600,xe">'
    b'<v:stroke joinstyle="miter"/><v:path shadowok="f" o:extrusionok="f" strokeok="f" fillok="f" o:connecttype="rect"/>'
    b'<o:lock v:ext="edit" shapetype="t"/></v:shapetype>')
VML_BUTTON = (
    b'<v:shape id="_x0000_s9001" type="#_x0000_t201" style="position:absolute;margin-left:600pt;margin-top:10pt;'
    b'width:80pt;height:24pt;z-index:9;mso-wrap-style:tight" o:button="t" fillcolor="buttonFace [67]" strokecolor="windowText [64]" o:insetmode="auto">'
    b'<v:fill color2="buttonFace [67]" o:detectmouseclick="t"/><o:lock v:ext="edit" rotation="t"/>'
    b'<v:textbox style="mso-direction-alt:auto" o:singleclick="f"><div style="text-align:center">'
    b'<font face="Calibri" size="220" color="#000000">\xe9\x87\x8d\xe6\x96\xb0\xe8\xae\xa1\xe7\xae\x97</font></div></v:textbox>'
    b'<x:ClientData ObjectType="Button"><x:Anchor>16, 0, 0, 2, 17, 0, 2, 0</x:Anchor><x:PrintObject>False</x:PrintObject>'
    b'<x:AutoFill>False</x:AutoFill><x:FmlaMacro>[0]!AnjuRecalculate</x:FmlaMacro><x:TextHAlign>Center</x:TextHAlign>'
    b'<x:TextVAlign>Center</x:TextVAlign></x:ClientData></v:shape>')
X14_VALIDATION = (
    '<extLst><ext uri="{{CCE6A557-97BC-4b89-ADB6-D9C93CAAB3DF}}" '
    'xmlns:x14="http://schemas.microsoft.com/office/spreadsheetml/2009/9/main">'
    '<x14:dataValidations count="1" xmlns:xm="http://schemas.microsoft.com/office/excel/2006/main">'
    '<x14:dataValidation type="list" allowBlank="1" showInputMessage="1" showErrorMessage="1">'
    '<x14:formula1><xm:f>{source}</xm:f></x14:formula1><xm:sqref>{target}</xm:sqref>'
    '</x14:dataValidation></x14:dataValidations></ext></extLst>')
VBA_BYTES = bytes.fromhex("D0CF11E0A1B11AE1") + bytes(range(256)) * 8   # stands in for vbaProject.bin


def decorate(wb, pack) -> None:
    """openpyxl-side features around the score cells: CF, comments, an image, a chart."""
    from openpyxl.chart import BarChart, Reference
    from openpyxl.comments import Comment
    from openpyxl.drawing.image import Image
    from openpyxl.formatting.rule import CellIsRule
    from openpyxl.styles import PatternFill
    from PIL import Image as PILImage

    first = pack.indicators[0].code
    last = pack.indicators[-1].code
    sheet, score_first = destination(wb, N.score_name(first))
    _, score_last = destination(wb, N.score_name(last))
    ws = wb[sheet]
    ws.conditional_formatting.add(f"{score_first}:{score_last}",
                                  CellIsRule(operator="lessThan", formula=["1"], fill=PatternFill("solid", start_color="FFC7CE")))
    ws[score_first].comment = Comment("得分由 anju recalc 写入", "anju")
    _, status_ref = destination(wb, N.status_name(first))
    ws[status_ref].comment = Comment("无任务时在此选择", "审核人")
    buffer = io.BytesIO()
    PILImage.new("RGB", (40, 20), (200, 30, 30)).save(buffer, format="PNG")
    buffer.seek(0)
    image = Image(buffer)
    ws.add_image(image, "R2")
    chart = BarChart()
    chart.title = "得分"
    col = re.match(r"[A-Z]+", score_first).group(0)
    from openpyxl.utils import column_index_from_string
    chart.add_data(Reference(ws, min_col=column_index_from_string(col), min_row=int(score_first[len(col):]),
                             max_row=int(score_last[len(col):])))
    ws.add_chart(chart, "R6")
    lists = wb.create_sheet("下拉选项")
    for row, text in enumerate(("已核实", "待核实", "有疑问"), 1):
        lists.cell(row, 1, text)


def make_macro_workbook(source: Path, target: Path, pack) -> None:
    """Add a VBA project, a form button (VML) and an x14 cross-sheet drop-down to a saved .xlsx."""
    with zipfile.ZipFile(source) as archive:
        parts = {info.filename: archive.read(info) for info in archive.infolist()}
    parts_map = sheet_parts(source)
    scores_part = parts_map["评分表"]
    sheet_xml = parts[scores_part].decode("utf-8")
    # x14 cross-sheet list validation on a free column next to the table
    sheet_xml = sheet_xml.replace("</worksheet>", X14_VALIDATION.format(source="下拉选项!$A$1:$A$3", target="Q4:Q8") + "</worksheet>")
    parts[scores_part] = sheet_xml.encode("utf-8")
    # the button goes into the sheet's (comment) VML drawing
    rels_name = scores_part.replace("worksheets/", "worksheets/_rels/") + ".rels"
    rels = parts[rels_name].decode()
    vml_target = re.search(r'Target="([^"]+\.vml)"', rels).group(1)
    vml_name = "xl/" + vml_target.replace("../", "") if vml_target.startswith("../") else vml_target.lstrip("/")
    vml = parts[vml_name]
    vml = vml.replace(b"</xml>", VML_BUTTON_SHAPETYPE + VML_BUTTON + b"</xml>", 1)
    parts[vml_name] = vml
    # the VBA project
    parts["xl/vbaProject.bin"] = VBA_BYTES
    types = parts["[Content_Types].xml"].decode()
    types = types.replace("application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml",
                          "application/vnd.ms-excel.sheet.macroEnabled.main+xml")
    types = types.replace("<Default ", '<Default Extension="bin" ContentType="application/vnd.ms-office.vbaProject"/><Default ', 1)
    parts["[Content_Types].xml"] = types.encode()
    workbook_rels = parts["xl/_rels/workbook.xml.rels"].decode()
    workbook_rels = workbook_rels.replace(
        "</Relationships>",
        '<Relationship Id="rIdVba1" Type="http://schemas.microsoft.com/office/2006/relationships/vbaProject" '
        'Target="vbaProject.bin"/></Relationships>')
    parts["xl/_rels/workbook.xml.rels"] = workbook_rels.encode()
    with zipfile.ZipFile(target, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in parts.items():
            archive.writestr(name, data)
