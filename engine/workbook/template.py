"""The standard workbook of a rule pack (``anju template``), generated with openpyxl.

Sheets: 说明, 基本信息, 评分表, 满意度调查, 汇总, 校验 (and a hidden 选项 sheet for
long drop-down lists). Every cell that is read or written has a workbook-level
defined name (``engine.workbook.names``); the layout below is for people, the
names are the contract.

评分表 layout: one block per indicator. The block's first row carries the
indicator (编码, levels, 分值, 目标值, 评分标准, 状态, 得分, 得分率, 评分说明,
填报得分, 对照得分); each rule input takes one row of the block with its Chinese
label (输入项), the input cell (填报值) and its unit. The other columns are merged
down the block. Row heights are set explicitly (neither Excel nor LibreOffice fits
rows with merged cells to their text); the room for 评分说明, which anju recalc
writes later, is estimated from the pack's golden case.

Input cells are unlocked and tinted yellow, optional claimed-score cells blue,
output cells green and locked. Sheets are protected without a password (so
the formulas and labels are not overwritten by accident, not for security);
inserting rows and hiding columns stay allowed.
"""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

from openpyxl import Workbook
from openpyxl.chart import BarChart, Reference
from openpyxl.styles import Alignment, Border, Font, PatternFill, Protection, Side
from openpyxl.utils import get_column_letter, quote_sheetname
from openpyxl.workbook.defined_name import DefinedName
from openpyxl.worksheet.datavalidation import DataValidation

from .. import __version__
from ..errors import AnjuError
from ..model import STATE_LABELS, Indicator, InputSpec, Pack
from ..numbers import fmt
from ..packs import PROGRAMS
from . import names as N

SHEET_GUIDE = "说明"
SHEET_META = "基本信息"
SHEET_SCORES = "评分表"
SHEET_SURVEY = "满意度调查"
SHEET_SUMMARY = "汇总"
SHEET_CHECKS = "校验"
SHEET_REVIEW = "复核"         # anju audit (issue 6)
SHEET_LISTS = "选项"

MESSAGE_ROWS = 200
MODES = ("自评", "第三方")
STATE_CHOICES = tuple(STATE_LABELS.values())          # 无任务, 未验收, 无数据

# colours (also explained on the 说明 sheet)
INPUT_FILL = "FFF2CC"       # yellow: to be filled
OPTIONAL_FILL = "DDEBF7"    # blue: optional (claimed scores for audits)
OUTPUT_FILL = "E2EFDA"      # green: written by anju recalc
HEADER_FILL = "D9D9D9"      # grey: headings
INFO_FILL = "F2F2F2"        # light grey: fixed by the rule pack

FONT_NAME = "宋体"

# 评分表 columns: (header, width)
SCORE_COLUMNS = (
    ("指标编码", 9), ("一级指标", 10), ("二级指标", 10), ("三级指标", 14), ("分值", 6), ("目标值", 11),
    ("评分标准", 38), ("状态", 8), ("输入项", 26), ("填报值", 12), ("单位", 8),
    ("得分", 8), ("得分率", 9), ("评分说明", 44), ("自评/填报得分", 9), ("对照评价得分", 9),
)
COL = {header: index + 1 for index, (header, _) in enumerate(SCORE_COLUMNS)}
SCORE_HEADER_ROW = 3
BLOCK_COLUMNS = tuple(header for header, _ in SCORE_COLUMNS if header not in ("输入项", "填报值", "单位"))

# row heights (points) for 10-point text; widths in Excel's character units
LINE_POINTS = 13.5
ROW_PADDING = 3
MIN_BLOCK_LINES = 2
DEFAULT_EXPLANATION_UNITS = 120

_thin = Side(style="thin", color="808080")
BORDER = Border(left=_thin, right=_thin, top=_thin, bottom=_thin)
WRAP_TOP = Alignment(wrap_text=True, vertical="top")
CENTER = Alignment(horizontal="center", vertical="center", wrap_text=True)


class TemplateError(AnjuError):
    """The pack cannot be turned into a template (e.g. colliding names)."""


# --------------------------------------------------------------------------- helpers

def _fill(color: str) -> PatternFill:
    return PatternFill("solid", start_color=color, end_color=color)


def _font(bold=False, size=10, color=None) -> Font:
    return Font(name=FONT_NAME, size=size, bold=bold, color=color)


def number_format(places: int) -> str:
    return "0" if places <= 0 else "0." + "0" * places


def rate_format(places: int) -> str:
    return number_format(places) + '"%"'


PERCENT_INPUT_FORMAT = '0.00##"%"'


def standard_text(indicator: Indicator) -> str:
    """The 评分标准 shown on the sheet: engine.standards.describe when available."""
    try:
        from .. import standards   # written for issue 8; optional here
        text = standards.describe(indicator)
        if text:
            return str(text)
    except Exception:   # missing module or a describe() problem must not stop a template
        pass
    compiled = indicator.compiled
    rule_type = compiled.rule_type
    text = f"{rule_type.label}：{rule_type.description}" if rule_type.description else rule_type.label
    if rule_type.name == "composite":
        parts = "；".join(f"{label}（{fmt(weight)}分）" if weight is not None else label
                         for _, label, weight, _ in compiled.parts)
        text += f"。分项：{parts}"
    return text


def text_units(text) -> float:
    """Display width of a text in column-width units: CJK characters count two."""
    import unicodedata
    return sum(2 if unicodedata.east_asian_width(ch) in "WF" else 1.1 for ch in str(text or ""))


def lines_for_units(units: float, width: float) -> int:
    per_line = max(1.0, width * 0.92)
    return max(1, -(-int(units) // int(per_line)))


def text_lines(text, width: float) -> int:
    """Lines a wrapped text needs in a column of ``width`` units."""
    if text is None or text == "":
        return 1
    return sum(lines_for_units(text_units(paragraph), width) for paragraph in str(text).split("\n"))


def part_labels(indicator: Indicator) -> dict:
    return {key: label for key, label, _, _ in indicator.compiled.parts}


def input_label(indicator: Indicator, spec: InputSpec) -> str:
    label = spec.label
    if spec.part:
        part_label = part_labels(indicator).get(spec.part, spec.part)
        label = f"{part_label}：{label}"
    if not spec.required or spec.default is not None:
        label += "（选填）"
    return label


def input_unit(spec: InputSpec) -> str:
    if spec.kind == "percent":
        return "%"
    if spec.kind == "days" and not spec.unit:
        return "天"
    if spec.kind == "bool":
        return "是/否"
    return spec.unit or ""


def path_columns(path: tuple) -> tuple[str, str, str]:
    if len(path) <= 3:
        padded = list(path) + [""] * (3 - len(path))
        return padded[0], padded[1], padded[2]
    return path[0], path[1], "/".join(path[2:])


def put(ws, row: int, col: int, value=None):
    """ws.cell(row, col, value), except that text starting with '=' stays text (a target like '=6月')."""
    cell = ws.cell(row, col)
    if value is not None:
        cell.value = value
        if isinstance(value, str) and value.startswith("="):
            cell.data_type = "s"
    return cell


def _absolute(ws, ref: str) -> str:
    """'J5' or 'A5:B9' -> "'评分表'!$J$5" (for a defined name)."""
    parts = []
    for cell in ref.split(":"):
        letters = "".join(c for c in cell if c.isalpha())
        digits = cell[len(letters):]
        parts.append(f"${letters}${digits}")
    return f"{quote_sheetname(ws.title)}!{':'.join(parts)}"


class _Builder:
    def __init__(self, pack: Pack):
        self.pack = pack
        self.wb = Workbook()
        self.names: dict[str, str] = {}
        self.validations: dict[tuple, DataValidation] = {}
        self.list_rows = 0
        self.lists_ws = None
        self._explanations = None

    # -- names and validation

    def name(self, name: str, ws, ref: str) -> None:
        if name.lower() in self.names:
            raise TemplateError(f"模板名称“{name}”重复")
        self.names[name.lower()] = name
        self.wb.defined_names[name] = DefinedName(name, attr_text=_absolute(ws, ref))

    def list_formula(self, labels) -> str:
        labels = [str(label) for label in labels]
        inline = '"' + ",".join(labels) + '"'
        if len(inline) <= 255 and not any("," in l or '"' in l for l in labels):
            return inline
        if self.lists_ws is None:
            self.lists_ws = self.wb.create_sheet(SHEET_LISTS)
            self.lists_ws.sheet_state = "hidden"
        start = self.list_rows + 1
        for label in labels:
            self.list_rows += 1
            put(self.lists_ws, self.list_rows, 1, label)
        return f"{quote_sheetname(SHEET_LISTS)}!$A${start}:$A${self.list_rows}"

    def validate(self, ws, ref: str, kind: str, *, choices=(), stop=False, prompt="") -> None:
        key = (ws.title, kind, tuple(choices), stop, prompt)
        dv = self.validations.get(key)
        if dv is None:
            style = "stop" if stop else "warning"
            hint = "" if stop else "（如本项无任务、未验收或无数据，请在“状态”列选择）"
            if kind == "list":
                dv = DataValidation(type="list", formula1=self.list_formula(choices), allow_blank=True,
                                    errorStyle=style, error="请从下拉列表中选择" + hint, errorTitle="输入无效")
            elif kind == "whole":
                dv = DataValidation(type="whole", operator="greaterThanOrEqual", formula1="0", allow_blank=True,
                                    errorStyle=style, error="请填写不小于0的整数" + hint, errorTitle="输入无效")
            else:
                dv = DataValidation(type="decimal", operator="greaterThanOrEqual", formula1="0", allow_blank=True,
                                    errorStyle=style, error="请填写不小于0的数字" + hint, errorTitle="输入无效")
            dv.showErrorMessage = True
            if prompt:
                dv.prompt, dv.showInputMessage = prompt, True
            ws.add_data_validation(dv)
            self.validations[key] = dv
        dv.add(ref)

    # -- cell styles

    @staticmethod
    def style(cell, *, fill=None, bold=False, align=WRAP_TOP, fmt_code=None, locked=True, border=True, size=10):
        cell.font = _font(bold=bold, size=size)
        if fill:
            cell.fill = _fill(fill)
        cell.alignment = align
        if border:
            cell.border = BORDER
        if fmt_code:
            cell.number_format = fmt_code
        if not locked:
            cell.protection = Protection(locked=False)

    def input_cell(self, ws, row, col, value=None, *, fill=INPUT_FILL, fmt_code=None):
        cell = ws.cell(row, col)
        if value is not None:
            cell.value = value
        self.style(cell, fill=fill, fmt_code=fmt_code, locked=False, align=Alignment(vertical="top", wrap_text=True))
        return cell

    def output_cell(self, ws, row, col, fmt_code=None, align=WRAP_TOP):
        cell = ws.cell(row, col)
        self.style(cell, fill=OUTPUT_FILL, fmt_code=fmt_code, align=align)
        return cell

    # -- sheets

    def build(self) -> Workbook:
        problems = N.check_pack_names(self.pack)
        if problems:
            raise TemplateError(f"规则包“{self.pack.id}”无法生成模板：" + "；".join(problems))
        guide = self.wb.active
        guide.title = SHEET_GUIDE
        self.meta_sheet()
        self.score_sheet()
        self.survey_sheet()
        self.summary_sheet()
        self.checks_sheet()
        self.audit_cells()          # anju audit: claimed subtotals on 汇总 + the 复核 sheet
        self.guide_sheet(guide)
        if self.lists_ws is not None:   # keep the hidden list sheet last
            self.wb.move_sheet(self.lists_ws, offset=len(self.wb.sheetnames) - 1 - self.wb.index(self.lists_ws))
        self.wb.calculation.fullCalcOnLoad = True
        self.wb.properties.creator = f"anju {__version__}"
        self.wb.properties.title = self.pack.name
        self.wb.active = 1
        for index, ws in enumerate(self.wb.worksheets):
            ws.sheet_view.tabSelected = index == 1   # exactly one selected tab (several would be a group)
        return self.wb

    def title(self, ws, text: str, span: int, subtitle: str = "") -> None:
        put(ws, 1, 1, text)
        ws.cell(1, 1).font = _font(bold=True, size=14)
        ws.cell(1, 1).alignment = Alignment(horizontal="center", vertical="center")
        ws.merge_cells(start_row=1, start_column=1, end_row=1, end_column=span)
        ws.row_dimensions[1].height = 24
        if subtitle:
            put(ws, 2, 1, subtitle)
            ws.cell(2, 1).font = _font(size=9)
            ws.merge_cells(start_row=2, start_column=1, end_row=2, end_column=span)

    def print_setup(self, ws, title_rows: str | None, landscape=True) -> None:
        ws.page_setup.paperSize = ws.PAPERSIZE_A4
        ws.page_setup.orientation = "landscape" if landscape else "portrait"
        ws.page_setup.fitToWidth = 1
        ws.page_setup.fitToHeight = 0
        ws.sheet_properties.pageSetUpPr.fitToPage = True
        ws.print_options.horizontalCentered = True
        ws.page_margins.left = ws.page_margins.right = 0.4
        ws.page_margins.top = ws.page_margins.bottom = 0.75
        ws.page_margins.header = ws.page_margins.footer = 0.3
        if title_rows:
            ws.print_title_rows = title_rows
        ws.oddHeader.center.text = f"{self.pack.name}　&A"
        ws.oddFooter.center.text = "第 &P 页，共 &N 页"

    def protect(self, ws) -> None:
        """Protection without a password: allows inserting rows, formatting and hiding rows/columns."""
        protection = ws.protection
        protection.sheet = True
        protection.insertRows = False
        protection.formatColumns = False
        protection.formatRows = False
        protection.formatCells = False
        protection.autoFilter = False

    def meta_sheet(self) -> None:
        ws = self.wb.create_sheet(SHEET_META)
        pack = self.pack
        self.title(ws, "基本信息", 3, f"规则包：{pack.id}（版本 {pack.version}）")
        ws.column_dimensions["A"].width = 16
        ws.column_dimensions["B"].width = 50
        ws.column_dimensions["C"].width = 40
        for col, header in enumerate(("项目", "内容", "说明"), 1):
            self.style(put(ws, 3, col, header), fill=HEADER_FILL, bold=True, align=CENTER)
        program_label = PROGRAMS.get(pack.program, pack.program)
        mode = str(pack.data.get("evaluation_mode") or "")
        rows = [
            ("project", "项目名称", "", True, "填写被评价项目的全称"),
            ("region", "地区", pack.region, True, "省、市、县（区）"),
            ("year", "评价年度", pack.years, True, "如 2022"),
            ("program", "项目类型", program_label, True, ""),
            ("mode", "评价方式", mode if mode in MODES else "", True, "自评 或 第三方"),
            ("pack_id", "规则包", pack.id, False, "由模板确定，请勿修改"),
            ("pack_version", "规则包版本", pack.version, False, "由模板确定，请勿修改"),
            (None, "规则包名称", pack.name, False, ""),
            (None, "评分依据", pack.source, False, ""),
            (None, "模板生成", f"anju {__version__}", False, ""),
        ]
        for offset, (field, label, value, editable, note) in enumerate(rows):
            row = 4 + offset
            self.style(put(ws, row, 1, label), fill=HEADER_FILL, bold=True)
            if editable:
                cell = self.input_cell(ws, row, 2, value or None)
                cell.number_format = "@"
            else:
                cell = put(ws, row, 2, value)
                self.style(cell, fill=INFO_FILL)
            self.style(put(ws, row, 3, note), size=9)
            ws.row_dimensions[row].height = max(text_lines(value, 50), text_lines(note, 40)) * LINE_POINTS + ROW_PADDING
            if field:
                self.name(N.meta_name(field), ws, f"B{row}")
            if field == "program":
                self.validate(ws, f"B{row}", "list", choices=tuple(PROGRAMS.values()), stop=False)
            if field == "mode":
                self.validate(ws, f"B{row}", "list", choices=MODES, stop=True)
        self.print_setup(ws, "3:3")
        self.protect(ws)

    def score_sheet(self) -> None:
        ws = self.wb.create_sheet(SHEET_SCORES)
        pack = self.pack
        span = len(SCORE_COLUMNS)
        self.title(ws, f"{pack.name}　评分表", span,
                   f"规则包：{pack.id}（版本 {pack.version}）　黄色单元格由填报人填写，绿色单元格由 anju recalc 计算写入")
        for col, (header, width) in enumerate(SCORE_COLUMNS, 1):
            self.style(put(ws, SCORE_HEADER_ROW, col, header), fill=HEADER_FILL, bold=True, align=CENTER)
            ws.column_dimensions[get_column_letter(col)].width = width
        ws.freeze_panes = ws.cell(SCORE_HEADER_ROW + 1, 1)
        self.score_rows = []
        row = SCORE_HEADER_ROW + 1
        score_fmt = number_format(pack.rounding.indicator.places)
        rate_fmt = rate_format(pack.rounding.rate.places)
        for indicator in pack.indicators:
            specs = list(indicator.compiled.specs)
            height = max(1, len(specs))
            first, last = row, row + height - 1
            code = indicator.code
            level1, level2, level3 = path_columns(indicator.path)
            fixed = {"指标编码": code, "一级指标": level1, "二级指标": level2, "三级指标": level3,
                     "分值": indicator.weight, "目标值": indicator.target, "评分标准": standard_text(indicator)}
            for header, value in fixed.items():
                cell = put(ws, first, COL[header], value)
                self.style(cell, fill=INFO_FILL if header == "指标编码" else None, bold=header == "指标编码",
                           fmt_code="General" if header != "分值" else "0.####")
            # status
            self.input_cell(ws, first, COL["状态"])
            self.name(N.status_name(code), ws, f"{get_column_letter(COL['状态'])}{first}")
            self.validate(ws, f"{get_column_letter(COL['状态'])}{first}", "list", choices=STATE_CHOICES, stop=True,
                          prompt="正常评分请留空；无任务、未验收、无数据时选择")
            # outputs
            self.output_cell(ws, first, COL["得分"], score_fmt, CENTER)
            self.output_cell(ws, first, COL["得分率"], rate_fmt, CENTER)
            self.output_cell(ws, first, COL["评分说明"])
            self.name(N.score_name(code), ws, f"{get_column_letter(COL['得分'])}{first}")
            self.name(N.rate_name(code), ws, f"{get_column_letter(COL['得分率'])}{first}")
            self.name(N.explain_name(code), ws, f"{get_column_letter(COL['评分说明'])}{first}")
            # claimed scores (optional, for audits)
            for header, which in (("自评/填报得分", "claimed"), ("对照评价得分", "claimed2")):
                col = COL[header]
                self.input_cell(ws, first, col, fill=OPTIONAL_FILL, fmt_code=score_fmt)
                self.name(N.claimed_name(code, which), ws, f"{get_column_letter(col)}{first}")
                self.validate(ws, f"{get_column_letter(col)}{first}", "decimal")
            # inputs, one per row
            if not specs:
                self.style(put(ws, first, COL["输入项"], "（本项无需填写）"))
                self.style(ws.cell(first, COL["填报值"]))
                self.style(ws.cell(first, COL["单位"]))
            for offset, spec in enumerate(specs):
                self.input_row(ws, indicator, spec, first + offset)
            # the block's other columns are merged down the block
            for header in BLOCK_COLUMNS:
                for r in range(first + 1, last + 1):
                    ws.cell(r, COL[header]).border = BORDER
                if last > first:
                    ws.merge_cells(start_row=first, start_column=COL[header], end_row=last, end_column=COL[header])
            self.block_heights(ws, indicator, fixed, first, last)
            self.score_rows.append((indicator, first, last))
            row = last + 1
        self.last_score_row = row - 1
        self.print_setup(ws, f"{SCORE_HEADER_ROW}:{SCORE_HEADER_ROW}")
        self.protect(ws)

    def block_heights(self, ws, indicator: Indicator, fixed: dict, first: int, last: int) -> None:
        """Explicit row heights: neither Excel nor LibreOffice fits rows with merged cells to their
        text, and the 评分说明 is only known after anju recalc (estimated from the pack's golden case)."""
        widths = {header: width for header, width in SCORE_COLUMNS}
        rows = []
        for r in range(first, last + 1):
            label = ws.cell(r, COL["输入项"]).value
            rows.append(text_lines(label, widths["输入项"]))
        needed = max(text_lines(value, widths[header]) for header, value in fixed.items() if header != "分值")
        explanation = self.explanation_units.get(indicator.code, DEFAULT_EXPLANATION_UNITS)
        needed = max(needed, lines_for_units(explanation, widths["评分说明"]), MIN_BLOCK_LINES)
        total = sum(rows)
        if needed > total:
            extra = (needed - total) / len(rows)
            rows = [lines + extra for lines in rows]
        for r, lines in zip(range(first, last + 1), rows):
            ws.row_dimensions[r].height = round(lines * LINE_POINTS + ROW_PADDING, 1)

    @property
    def explanation_units(self) -> dict:
        """Display width of each indicator's 评分说明 in the pack's first golden case (a size estimate)."""
        if self._explanations is None:
            self._explanations = {}
            if self.pack.golden:
                try:
                    from ..scoring import evaluate
                    result = evaluate(self.pack, self.pack.golden[0].get("inputs") or {})
                    self._explanations = {r.code: text_units(r.explanation) * 1.15 for r in result.indicators}
                except Exception:   # an estimate only
                    self._explanations = {}
        return self._explanations

    def input_row(self, ws, indicator: Indicator, spec: InputSpec, row: int) -> None:
        self.style(put(ws, row, COL["输入项"], input_label(indicator, spec)))
        self.style(put(ws, row, COL["单位"], input_unit(spec)), align=Alignment(horizontal="center", vertical="top"))
        ref = f"{get_column_letter(COL['填报值'])}{row}"
        if spec.kind == N.ANSWERS_KIND:
            cell = put(ws, row, COL["填报值"], f"见“{SHEET_SURVEY}”表")
            self.style(cell, fill=INFO_FILL, size=9)
            return   # the name points at the survey range (survey_sheet)
        formats = {"percent": PERCENT_INPUT_FORMAT, "count": "0", "days": "0", "number": "General"}
        self.input_cell(ws, row, COL["填报值"], fmt_code=formats.get(spec.kind))
        self.name(N.spec_name(indicator.code, spec), ws, ref)
        if spec.kind in ("number", "percent"):
            self.validate(ws, ref, "decimal")
        elif spec.kind in ("count", "days"):
            self.validate(ws, ref, "whole")
        elif spec.kind == "bool":
            self.validate(ws, ref, "list", choices=("是", "否"))
        elif spec.kind == "category":
            self.validate(ws, ref, "list", choices=tuple(label for _, label in spec.choices))

    def survey_specs(self):
        for indicator in self.pack.indicators:
            for spec in indicator.compiled.specs:
                if spec.kind == N.ANSWERS_KIND:
                    yield indicator, spec

    def survey_sheet(self) -> None:
        ws = self.wb.create_sheet(SHEET_SURVEY)
        self.title(ws, "满意度调查（问卷选项及人数）", 4, "在黄色单元格填写选择各选项的人数（有效答卷），未出现的选项可留空")
        for col, width in zip("ABCD", (18, 12, 30, 30)):
            ws.column_dimensions[col].width = width
        row = 4
        blocks = list(self.survey_specs())
        if not blocks:
            put(ws, row, 1, "本规则包没有按问卷计分的指标，本表无需填写。").font = _font()
        for indicator, spec in blocks:
            part = f"（{part_labels(indicator).get(spec.part, spec.part)}）" if spec.part else ""
            heading = put(ws, row, 1, f"指标{indicator.code}　{indicator.name}{part}　{spec.label}")
            heading.font = _font(bold=True)
            ws.merge_cells(start_row=row, start_column=1, end_row=row, end_column=4)
            for col, header in enumerate(("选项", "人数", "计分说明"), 1):
                self.style(put(ws, row + 1, col, header), fill=HEADER_FILL, bold=True, align=CENTER)
            weights = self.survey_weights(indicator, spec)
            first = row + 2
            for offset, label in enumerate(spec.choices):
                r = first + offset
                self.style(put(ws, r, 1, str(label)), fill=INFO_FILL)
                self.input_cell(ws, r, 2, fmt_code="0")
                self.validate(ws, f"B{r}", "whole")
                self.style(put(ws, r, 3, weights.get(str(label), "")), size=9)
            last = first + len(spec.choices) - 1
            self.name(N.spec_name(indicator.code, spec), ws, f"A{first}:B{last}")
            total_row = last + 1
            self.style(put(ws, total_row, 1, "合计"), bold=True, fill=HEADER_FILL)
            total = ws.cell(total_row, 2, f"=SUM(B{first}:B{last})")   # a formula
            self.style(total, fill=INFO_FILL, fmt_code="0")
            row = total_row + 2
        self.print_setup(ws, None)
        self.protect(ws)

    @staticmethod
    def survey_weights(indicator: Indicator, spec: InputSpec) -> dict:
        params = indicator.compiled.params
        if spec.part:
            for key, _, _, sub in indicator.compiled.parts:
                if key == spec.part:
                    params = sub.params
        source = params.get("value_from") or params
        if "yes_label" in source:
            return {str(source.get("yes_label") or "是"): "计为肯定回答"}
        weights = source.get("weights")
        if weights is None:
            from ..ruletypes import DEFAULT_SURVEY_WEIGHTS
            weights = DEFAULT_SURVEY_WEIGHTS
        return {str(k): f"权重 {fmt(Decimal(v))}" for k, v in weights.items()}

    def summary_sheet(self) -> None:
        ws = self.wb.create_sheet(SHEET_SUMMARY)
        pack = self.pack
        self.title(ws, "评分汇总", 5, f"{pack.name}（规则包 {pack.id}，版本 {pack.version}）")
        for col, width in zip("ABCDE", (8, 26, 10, 12, 12)):
            ws.column_dimensions[col].width = width
        header_row = 4
        for col, header in enumerate(("序号", "一级指标", "分值", "得分", "得分率"), 1):
            self.style(put(ws, header_row, col, header), fill=HEADER_FILL, bold=True, align=CENTER)
        total_fmt = number_format(pack.rounding.total.places)
        score_fmt = number_format(pack.rounding.indicator.places)
        rate_fmt = rate_format(pack.rounding.rate.places)
        groups = N.level_groups(pack)
        row = header_row
        for number, group in enumerate(groups, 1):
            row = header_row + number
            weight = pack.level_weights.get(group)
            if weight is None:
                weight = sum((i.weight for i in pack.indicators if i.path[:1] == group), Decimal(0))
            self.style(put(ws, row, 1, number), align=CENTER)
            self.style(put(ws, row, 2, group[0]))
            self.style(put(ws, row, 3, weight), fmt_code="0.####", align=CENTER)
            self.output_cell(ws, row, 4, score_fmt, CENTER)
            self.output_cell(ws, row, 5, rate_fmt, CENTER)
            self.name(N.level_score_name(number), ws, f"D{row}")
            self.name(N.level_rate_name(number), ws, f"E{row}")
        levels_last = row
        row += 1
        self.style(put(ws, row, 1, ""), fill=HEADER_FILL)
        self.style(put(ws, row, 2, "总分"), fill=HEADER_FILL, bold=True)
        self.style(put(ws, row, 3, pack.total_weight), fmt_code="0.####", align=CENTER)
        self.output_cell(ws, row, 4, total_fmt, CENTER).font = _font(bold=True)
        self.style(put(ws, row, 5, ""))
        self.name(N.OUT_TOTAL, ws, f"D{row}")
        row += 1
        self.style(put(ws, row, 1, ""), fill=HEADER_FILL)
        self.style(put(ws, row, 2, "等级"), fill=HEADER_FILL, bold=True)
        self.style(put(ws, row, 3, "、".join(f"{b.label}≥{fmt(b.minimum)}" for b in pack.grades)), size=8)
        self.output_cell(ws, row, 4, None, CENTER).font = _font(bold=True)
        self.style(put(ws, row, 5, ""))
        self.name(N.OUT_GRADE, ws, f"D{row}")
        row += 2
        claimed_rows = (("自评/填报总分", N.TOTAL_CLAIMED["claimed"], total_fmt), ("自评/填报等级", N.GRADE_CLAIMED["claimed"], None),
                        ("对照评价总分", N.TOTAL_CLAIMED["claimed2"], total_fmt), ("对照评价等级", N.GRADE_CLAIMED["claimed2"], None))
        for label, name, code in claimed_rows:
            self.style(put(ws, row, 2, label), fill=HEADER_FILL)
            self.input_cell(ws, row, 4, fill=OPTIONAL_FILL, fmt_code=code)
            if code:
                self.validate(ws, f"D{row}", "decimal")
            else:
                self.validate(ws, f"D{row}", "list", choices=tuple(b.label for b in pack.grades))
            self.name(name, ws, f"D{row}")
            row += 1
        row += 1
        self.style(put(ws, row, 2, "各指标得分之和（公式核对，未计否决与封顶）"), fill=HEADER_FILL, size=9)
        score_col = get_column_letter(COL["得分"])
        check = ws.cell(row, 4, f"=SUM({quote_sheetname(SHEET_SCORES)}!${score_col}${SCORE_HEADER_ROW + 1}:"
                                f"${score_col}${max(self.last_score_row, SCORE_HEADER_ROW + 1)})")
        self.style(check, fill=INFO_FILL, fmt_code=score_fmt, align=CENTER)
        self.name(N.OUT_SCORES_SUM, ws, f"D{row}")
        row += 1
        self.style(put(ws, row, 2, "计算标记"), fill=HEADER_FILL, size=9)
        stamp = self.output_cell(ws, row, 3, None)
        stamp.font = _font(size=8)
        ws.merge_cells(start_row=row, start_column=3, end_row=row, end_column=5)
        self.name(N.OUT_STAMP, ws, f"C{row}")
        # chart: score rate by 一级指标
        chart = BarChart()
        chart.type = "col"
        chart.title = "各一级指标得分率"
        chart.y_axis.title = "得分率（%）"
        chart.y_axis.scaling.min = 0
        chart.y_axis.scaling.max = 100
        chart.legend = None
        chart.add_data(Reference(ws, min_col=5, min_row=header_row, max_row=levels_last), titles_from_data=True)
        chart.set_categories(Reference(ws, min_col=2, min_row=header_row + 1, max_row=levels_last))
        chart.height, chart.width = 8, 14
        ws.add_chart(chart, "G4")
        self.print_setup(ws, None)
        self.protect(ws)

    def checks_sheet(self) -> None:
        ws = self.wb.create_sheet(SHEET_CHECKS)
        for col, (header, width) in enumerate(zip(N.MESSAGE_COLUMNS, (8, 14, 10, 110)), 1):
            self.style(put(ws, 1, col, header), fill=HEADER_FILL, bold=True, align=CENTER)
            ws.column_dimensions[get_column_letter(col)].width = width
        for row in range(2, MESSAGE_ROWS + 2):
            for col in range(1, 5):
                cell = ws.cell(row, col)
                cell.font = _font(size=9)
                cell.alignment = WRAP_TOP if col == 4 else Alignment(vertical="top")
        self.name(N.OUT_MESSAGES, ws, f"A2:D{MESSAGE_ROWS + 1}")
        ws.freeze_panes = "A2"
        self.print_setup(ws, "1:1")
        self.protect(ws)

    # -- anju audit (issue 6): claimed 一级指标 subtotals beside 汇总's subtotals, and the 复核 sheet.
    # Kept separate from the sheets above; it finds the 汇总 rows through the out_level names.

    def audit_cells(self) -> None:
        from openpyxl.utils import column_index_from_string
        from openpyxl.utils.cell import coordinate_from_string

        summary = self.wb[SHEET_SUMMARY]
        for number in range(1, len(N.level_groups(self.pack)) + 1):
            ref = self.wb.defined_names[N.level_score_name(number)].attr_text.split("!")[-1].replace("$", "")
            letters, row = coordinate_from_string(ref)
            col = column_index_from_string(letters) + 2          # 序号 一级指标 分值 [得分] 得分率 [填报小计]
            if number == 1:
                self.style(summary.cell(row - 1, col, "自评/填报小计"), fill=HEADER_FILL, bold=True, align=CENTER)
                summary.column_dimensions[get_column_letter(col)].width = 12
            self.input_cell(summary, row, col, fill=OPTIONAL_FILL, fmt_code=number_format(self.pack.rounding.total.places))
            self.validate(summary, f"{get_column_letter(col)}{row}", "decimal")
            self.name(N.level_claimed_name(number), summary, f"{get_column_letter(col)}{row}")
        ws = self.wb.create_sheet(SHEET_REVIEW)
        widths = (6, 6, 18, 8, 16, 10, 10, 100)
        for col, (header, width) in enumerate(zip(N.REVIEW_COLUMNS, widths), 1):
            self.style(put(ws, 1, col, header), fill=HEADER_FILL, bold=True, align=CENTER)
            ws.column_dimensions[get_column_letter(col)].width = width
        last_col = get_column_letter(len(N.REVIEW_COLUMNS))
        for row in range(2, N.REVIEW_ROWS + 2):
            for col in range(1, len(N.REVIEW_COLUMNS) + 1):
                cell = ws.cell(row, col)
                cell.font = _font(size=9)
                cell.alignment = WRAP_TOP if col == len(N.REVIEW_COLUMNS) else Alignment(vertical="top")
        self.name(N.OUT_REVIEW, ws, f"A2:{last_col}{N.REVIEW_ROWS + 1}")
        ws.freeze_panes = "A2"
        self.print_setup(ws, "1:1")
        self.protect(ws)

    def guide_sheet(self, ws) -> None:
        pack = self.pack
        ws.column_dimensions["A"].width = 4
        ws.column_dimensions["B"].width = 16
        ws.column_dimensions["C"].width = 100
        put(ws, 1, 2, f"{pack.name}　填报说明").font = _font(bold=True, size=14)
        lines = [
            ("一、填写步骤", None),
            ("1", "在“基本信息”表填写项目名称、地区、评价年度和评价方式。"),
            ("2", "在“评分表”逐项填写黄色单元格（填报值）：数值填数字，“是/否”和类别从下拉列表选择；"
                  "百分比直接填数字（95 表示 95%）。"),
            ("3", "某项指标本年度无任务、未验收或无数据时，在该指标的“状态”列选择相应状态，不要填0。"),
            ("4", "问卷类指标在“满意度调查”表填写各选项的人数。"),
            ("5", "保存并关闭文件后运行“anju recalc 文件名”（或点击“重新计算”按钮），得分、得分率、评分说明、"
                  "汇总和等级由程序写入绿色单元格；发现的问题写在“校验”表并在命令行显示。"),
            ("6", "蓝色单元格（自评/填报得分、对照评价得分）为选填，用于复核自评或比较两次评价，不参与计分。"),
            ("二、颜色含义", None),
            ("黄色", "需要填写的输入单元格（未锁定）"),
            ("蓝色", "选填单元格：自评/填报得分、对照评价得分（未锁定）"),
            ("绿色", "由 anju recalc 计算写入的结果（锁定，请勿手工填写）"),
            ("浅灰", "由规则包确定的内容（锁定）"),
            ("三、工作表保护", None),
            ("说明", "各工作表已保护但没有密码，只为防止误改公式和标题。如确需修改格式或结构："
                     "“审阅 → 撤消工作表保护”，无需输入密码。保护状态下仍可插入行、隐藏行或列。"),
            ("四、程序填报接口", None),
            ("说明", "每个输入和结果单元格都有工作簿级名称（公式 → 名称管理器），程序按名称读写，"
                     "插入行、隐藏列、调整工作表顺序都不影响计算："),
            ("输入", "in_<指标编码>_<输入项>（组合规则分项：in_<指标编码>_<分项>_<输入项>）；"
                     "状态 in_<指标编码>_status；问卷 in_<指标编码>_answers（两列：选项、人数）"),
            ("选填", "in_<指标编码>_claimed、in_<指标编码>_claimed2、in_total_claimed、in_grade_claimed、"
                     "in_total_claimed2、in_grade_claimed2"),
            ("结果", "out_<指标编码>_score、out_<指标编码>_rate（百分数数值，90.5 表示 90.5%）、out_<指标编码>_explain、"
                     "out_level_<n>_score、out_level_<n>_rate、out_total、out_grade、out_stamp、out_messages"),
            ("基本信息", "meta_pack_id、meta_pack_version、meta_project、meta_region、meta_year、meta_program、meta_mode"),
            ("五、规则包", None),
            ("规则包", f"{pack.id}（版本 {pack.version}）"),
            ("评分依据", pack.source),
        ]
        row = 3
        for label, text in lines:
            if text is None:
                row += 1
                put(ws, row, 2, label).font = _font(bold=True, size=11)
            else:
                put(ws, row, 2, label).font = _font(bold=True)
                put(ws, row, 3, text).font = _font()
                ws.cell(row, 3).alignment = Alignment(wrap_text=True, vertical="top")
                ws.row_dimensions[row].height = text_lines(text, 100) * LINE_POINTS + ROW_PADDING
                fill = {"黄色": INPUT_FILL, "蓝色": OPTIONAL_FILL, "绿色": OUTPUT_FILL, "浅灰": INFO_FILL}.get(label)
                if fill:
                    ws.cell(row, 2).fill = _fill(fill)
            row += 1
        self.print_setup(ws, None)
        self.protect(ws)


# --------------------------------------------------------------------------- public API

def build_template(pack: Pack, *, live: bool = False) -> Workbook:
    """The standard workbook of a pack as an openpyxl Workbook (not saved).

    ``live``: the output cells get the pack's compiled formulas (``anju template --live``, issue 7;
    see ``engine.workbook.live``), so scores update as staff type, without macros or Python.
    """
    workbook = _Builder(pack).build()
    if live:
        from .live import apply_live_formulas
        apply_live_formulas(workbook, pack)
    return workbook


def write_template(pack: Pack, path, *, overwrite: bool = False, live: bool = False) -> Path:
    """Generate the template and save it to ``path`` (.xlsx)."""
    path = Path(path)
    if path.suffix.lower() != ".xlsx":
        raise TemplateError(f"模板文件名应以 .xlsx 结尾（收到“{path.name}”）")
    if path.exists() and not overwrite:
        raise TemplateError(f"文件“{path}”已存在；如需覆盖请加 --force")
    if not path.parent.exists():
        raise TemplateError(f"文件夹“{path.parent}”不存在")
    workbook = build_template(pack, live=live)
    temp = path.with_name(f".~anju-{path.name}")
    try:
        workbook.save(temp)
        temp.replace(path)
    except OSError as exc:
        temp.unlink(missing_ok=True)
        raise TemplateError(f"无法保存“{path}”：{exc.strerror or exc}") from exc
    return path
