"""规则表 workbooks: a rule pack as an Excel workbook staff can edit, and back.

Sheets (names are what staff see):

* ``基本信息`` — pack settings, one per row: 项目 | 值 | 键 | 代码 | 说明.
  Grade bands and level weights take one row each (键 = 等级 or 一级指标名称).
* ``指标`` — one row per indicator (编码, 一级/二级/三级指标, 分值, 目标值, 单位,
  规则类型 from a drop-down of Chinese rule names, generated 评分标准, 备注) and,
  under it, one row per rule parameter: 参数 (Chinese label) | 参数值 (typed,
  validated cell) | 键 | 名称 | 其他属性 | 参数代码. Nested parameters take one row
  per element: a checklist item (键 = item key, 名称 = its text, 参数值 = its
  points), a category or survey-option value (键 = category, 参数值 = points), a
  band (键 = lower bound), a composite part (参数 = “分项”, 分值/规则类型 on the
  part row, its own parameter rows below it). ``其他属性`` holds any further
  fields of an element as ``名称=值；名称=值`` (e.g. ``单位=%``). Pack input labels
  (``inputs:``) are rows with 参数代码 ``@inputs``.
* ``黄金案例`` — golden cases in the manner of an OpenL Tablets test table,
  transposed: one column per case, one row per input (编码 | 指标 | 输入项 |
  代码 | case…), then the expected score of each indicator, the expected total
  and grade.
* ``说明`` — how to edit, and every rule type with its parameters and an example
  whose 评分标准 is generated.
* ``选项`` (hidden) — drop-down lists.

Import validates everything and reports each problem with its sheet, cell,
indicator and what was expected, in Chinese. The 评分标准 column is regenerated
on import (``engine.standards``), never read back. Export → import is lossless:
the resolved pack of the imported YAML equals that of the exported pack
(numbers compared as Decimals).
"""

from __future__ import annotations

import copy
import re
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path

import yaml
from openpyxl import Workbook, load_workbook
from openpyxl.styles import Alignment, Border, Font, PatternFill, Side
from openpyxl.utils import get_column_letter
from openpyxl.workbook.defined_name import DefinedName
from openpyxl.worksheet.datavalidation import DataValidation

from .errors import AnjuError, InputError, PackError, RuleDefinitionError
from .model import STATE_WORDS, Pack
from .numbers import MODE_NAMES_ZH, ROUNDING_MODES, ZERO, fmt, normalise_text, to_bool, to_decimal
from .packs import PACK_SCHEMA, PROGRAMS, build, resolve
from .ruletypes import CATEGORY_LABELS, PARAM_PARSERS, QUALITATIVE_LABELS, REGISTRY, TRANSFORMS, Param
from .standards import describe, describe_rule

INFO, INDICATORS, GOLDEN, HELP, LISTS = "基本信息", "指标", "黄金案例", "说明", "选项"
WORKBOOK_KIND = "anju-rulebook/1"


class RulebookError(PackError):
    """Every problem found in a 规则表, each naming sheet, cell and indicator."""

    def __init__(self, problems: list[str]):
        self.problems = problems
        super().__init__("规则表有以下问题：\n" + "\n".join(f"  - {p}" for p in problems))


# --------------------------------------------------------------------------- vocabulary

INDICATOR_COLUMNS = [
    ("code", "编码", 9), ("l1", "一级指标", 14), ("l2", "二级指标", 18), ("l3", "三级指标", 22), ("weight", "分值", 7),
    ("target", "目标值", 16), ("unit", "单位", 8), ("type", "规则类型", 22), ("param", "参数", 30), ("value", "参数值", 14),
    ("key", "键", 16), ("label", "名称", 30), ("extra", "其他属性", 16), ("pcode", "参数代码", 20),
    ("standard", "评分标准（自动生成，导入时重新生成）", 60), ("note", "备注", 30), ("original", "评分标准原文（可选）", 30),
]
COL = {name: index + 1 for index, (name, _, _) in enumerate(INDICATOR_COLUMNS)}
HEADERS = {header: name for name, header, _ in INDICATOR_COLUMNS}
HEADER_ALIASES = {"评分标准": "standard", "评分标准（自动生成）": "standard", "编号": "code", "指标编码": "code"}

INFO_COLUMNS = [("项目", 26), ("值", 40), ("键", 14), ("代码", 28), ("说明", 60)]

LIST_ITEM_KINDS = {"points_items": "points", "pct_items": "deduct_pct", "deduction_items": "points", "keys": None}
MAP_KINDS = {"decimal_map", "str_map"}
SCALAR_KINDS = {"decimal", "int", "bool", "str", "expr"}

CHOICE_LABELS = {
    "pp_rounding": {"none": "不取整（按实际差额）", "floor": "向下取整", "round_half_up": "四舍五入取整", "ceil": "向上取整"},
    "step_rounding": {"none": "按比例（不取整）", "floor": "只计满步（不足一步不扣）"},
    "basis": {"ratio": "实际值÷目标值", "value": "直接填写完成值（%）"},
    "base": {"budget": "全年预算数", "funds_received": "实际到位数"},
    "scope": {"indicator": "本项不得分", "level": "所在一级指标不得分", "total": "总分记0分", "grade": "直接确定等级"},
    "band": dict(QUALITATIVE_LABELS),
}
TRANSFORM_LABELS = {"share_yes": "问卷“是”占比", "survey_weighted": "问卷加权满意度", "composite_rate": "多项完成率平均"}
DECL_KIND_LABELS = {"number": "数值", "percent": "百分比", "count": "个数", "days": "天数", "bool": "是/否"}
EXTRA_NAMES = {"pct_of_weight": "占分值百分比", "high": "上限", "unit": "单位", "default": "默认值", "kind": "类型"}
EXTRA_ALIASES = {v: k for k, v in EXTRA_NAMES.items()}
YES, NO = "是", "否"

NA_POLICIES = {"full_credit": "按满分计（无任务视为完成）", "redistribute": "分值按比例分配给同级其他指标"}
NA_SCOPES = {"parent": "同一上级指标下的其他指标", "level": "同一一级指标下的其他指标"}
OVERACHIEVEMENT = {"cap": "按满分封顶", "reduce_by_deviation": "按偏离度扣分（正向比例规则）"}
TOTAL_METHODS = {"sum_of_indicator_scores": "各指标得分（舍入后）相加", "round_raw_sum": "原始得分合计后再舍入"}
MODE_LABELS = {name: MODE_NAMES_ZH[constant] for name, constant in ROUNDING_MODES.items() if name.startswith("ROUND_")}

# (代码, 项目, kind, choices, 说明)
INFO_FIELDS = [
    ("schema", "格式版本", "str", None, f"固定为 {PACK_SCHEMA}"),
    ("id", "规则包编号", "str", None, "英文小写、数字和连字符，如 henan-2025-old-community；必填"),
    ("name", "规则包名称", "str", None, ""),
    ("program", "项目类型", "choice", PROGRAMS, "从下拉列表中选择"),
    ("framework", "评价框架", "str", None, "如 anju_program_table_25_10_60_5"),
    ("region", "地区", "str", None, ""),
    ("years", "适用年度", "str", None, "如 2025 或 2025-（2025年起）"),
    ("version", "版本", "str", None, ""),
    ("evaluation_mode", "评价方式", "str", None, "自评、第三方等"),
    ("source", "依据与来源", "str", None, ""),
    ("description", "规则包说明", "str", None, ""),
    ("extends", "继承自（父规则包编号）", "str", None, "填写后，导入时只把与父规则包不同之处写成 override / add / drop"),
    ("total_weight", "满分", "decimal", None, "各指标分值合计应等于满分（默认100）"),
    ("na_policy", "无任务指标处理", "choice", NA_POLICIES, ""),
    ("na_scope", "无任务指标分值分配范围", "choice", NA_SCOPES, "无任务指标处理为按比例分配时适用"),
    ("overachievement", "超额完成处理", "choice", OVERACHIEVEMENT, ""),
    ("rounding.indicator.places", "指标得分保留小数位数", "int", None, "0到6"),
    ("rounding.indicator.mode", "指标得分舍入方式", "choice", MODE_LABELS, ""),
    ("rounding.total.method", "总分计算方式", "choice", TOTAL_METHODS, ""),
    ("rounding.total.places", "总分保留小数位数", "int", None, ""),
    ("rounding.total.mode", "总分舍入方式", "choice", MODE_LABELS, ""),
    ("rounding.rate.places", "得分率保留小数位数", "int", None, ""),
    ("rounding.rate.mode", "得分率舍入方式", "choice", MODE_LABELS, ""),
]
INFO_BY_CODE = {f[0]: f for f in INFO_FIELDS}
TOP_ORDER = ["schema", "id", "name", "program", "framework", "region", "years", "version", "evaluation_mode", "source",
             "description", "extends", "na_policy", "na_scope", "overachievement", "total_weight", "rounding", "grades", "grade_bands",
             "levels", "indicators", "override", "add", "drop", "golden"]
INDICATOR_ORDER = ["code", "path", "weight", "target", "unit", "standard", "rule", "inputs", "note", "after"]
CASE_ORDER = ["id", "title", "inputs", "expected_scores", "expected_total", "expected_grade"]

EXAMPLES = {
    "ratio_capped": {},
    "ratio_reverse": {},
    "shortfall_deduction": {"full_at": "100", "step_pp": "1", "points_per_step": "1", "max_deduction": "10"},
    "threshold_linear": {"value_from": {"transform": "survey_weighted"}, "full_at": "90", "deduct_pct_of_weight_per_pp": "2", "zero_below": "60"},
    "budget_execution": {},
    "checklist_sum": {"items": [{"key": "rules_sound", "label": "资金管理办法健全规范", "points": "5"},
                                {"key": "on_time", "label": "按规定时间分配下达资金", "points": "5"}]},
    "checklist_pct_deduction": {"items": [{"key": "study", "label": "立项前经过可行性研究", "deduct_pct": "40"},
                                          {"key": "procedure", "label": "立项符合规定程序", "deduct_pct": "30"},
                                          {"key": "documents", "label": "审批文件和材料合规完整", "deduct_pct": "30"}]},
    "base_plus_items": {"base_key": "has_targets", "base_label": "设置了绩效目标", "base_pct": "50", "item_pct": "10",
                        "items": [{"key": "clear", "label": "绩效目标明确"}, {"key": "measurable", "label": "绩效目标可衡量"}]},
    "binary": {"key": "arranged", "label": "地方财政安排补助资金"},
    "per_item_deduction": {"points_per_item": "1", "max_deduction": "10", "item_label": "质量问题项数"},
    "per_day_late": {"points_per_day": "1"},
    "categorical": {"points": {"on_time": "10", "late_no_impact": "7", "late_with_impact": "0"}},
    "qualitative_band": {},
    "tiered_bands": {"basis": "value", "bands": [{"points": "0"}, {"min": "10", "points": "4"}, {"min": "20", "points": "7"}, {"min": "30", "points": "10"}]},
    "veto": {"label": "出现重大安全责任事故", "scope": "indicator"},
    "bonus_capped": {"points_per_step": "1", "bonus_cap": "2"},
    "global_deduction": {"items": [{"key": "audit", "label": "审计发现违规问题", "points": "1"}], "max_deduction": "5"},
    "composite_rate": {"components": [{"key": "area", "label": "改造面积"}, {"key": "homes", "label": "改造户数"}]},
    "survey_weighted": {"full_at": "90"},
    "share_yes": {},
    "composite": {"parts": [{"key": "local", "label": "地方财政安排补助资金", "weight": "5", "rule": {"type": "binary", "key": "arranged", "label": "地方财政安排补助资金"}},
                            {"key": "share", "label": "社会筹资占比", "weight": "5", "rule": {"type": "shortfall_deduction", "full_at": "20", "step_pp": "4", "points_per_step": "1", "max_deduction": "5"}}]},
    "formula": {"expr": "w * min(1, a / b)", "inputs": [{"key": "a", "label": "实际值"}, {"key": "b", "label": "目标值"}],
                "describe": "得分=分值×实际值÷目标值，最高为分值"},
}

# --------------------------------------------------------------------------- styles

THIN = Side(style="thin", color="BFBFBF")
BORDER = Border(left=THIN, right=THIN, top=THIN, bottom=THIN)
HEAD_FONT = Font(bold=True, color="FFFFFF")
HEAD_FILL = PatternFill("solid", fgColor="1F4E78")
INDICATOR_FILL = PatternFill("solid", fgColor="DDEBF7")
PART_FILL = PatternFill("solid", fgColor="F2F2F2")
AUTO_FILL = PatternFill("solid", fgColor="EDEDED")
SECTION_FONT = Font(bold=True, size=12)
WRAP = Alignment(wrap_text=True, vertical="top")


# --------------------------------------------------------------------------- small helpers

def is_blank(value) -> bool:
    return value is None or (isinstance(value, str) and value.strip() == "")


def cell_text(value) -> str | None:
    """A cell value as text, numbers without float noise."""
    if is_blank(value):
        return None
    if isinstance(value, bool):
        return YES if value else NO
    if isinstance(value, float):
        return fmt(Decimal(repr(value)))
    if isinstance(value, (int, Decimal)):
        return fmt(Decimal(value))
    return str(value).strip()


def write_cell(ws, row: int, column: int, value):
    """Write a value; text starting with '=' stays text (openpyxl would make it a formula)."""
    cell = ws.cell(row=row, column=column)
    cell.value = value
    if isinstance(value, str) and value.startswith("="):
        cell.data_type = "s"
    return cell


def number_cell(value):
    """A number (string in the pack) as a numeric cell when it round-trips exactly, else as text."""
    if isinstance(value, bool) or value is None:
        return value
    try:
        number = to_decimal(value, what="数值")
    except InputError:
        return value
    if number == number.to_integral_value() and abs(number) < Decimal("1e15"):
        return int(number)
    as_float = float(number)
    if Decimal(repr(as_float)) == number:
        return as_float
    return fmt(number)


def number_text(value, what: str) -> str:
    """Cell → number string for the pack; raises InputError with ``what`` in the message."""
    if isinstance(value, bool):
        raise InputError(f"{what}应为数字，收到的是是/否值")
    if isinstance(value, float):
        return fmt(Decimal(repr(value)))
    if isinstance(value, (int, Decimal)):
        return fmt(Decimal(value))
    text = str(value).strip()
    number = to_decimal(text.rstrip("%％") if text.endswith(("%", "％")) else text, what=what)
    return fmt(number)


def choice_label(param_name: str, value) -> str:
    return CHOICE_LABELS.get(param_name, {}).get(value, value)


def choice_value(param_name: str, cell, choices: tuple) -> str | None:
    text = cell_text(cell)
    if text is None:
        return None
    if text in choices:
        return text
    for key, label in CHOICE_LABELS.get(param_name, {}).items():
        if text == label and key in choices:
            return key
    return None


def parse_extra(text: str | None) -> dict:
    """'单位=%；默认值=0' → {'unit': '%', 'default': '0'}."""
    result = {}
    if is_blank(text):
        return result
    for piece in str(text).replace(";", "；").split("；"):
        piece = piece.strip()
        if not piece:
            continue
        if "=" not in piece and "＝" not in piece:
            raise ValueError(piece)
        name, value = piece.replace("＝", "=").split("=", 1)
        name, value = name.strip(), value.strip()
        value_obj: object = value
        if value.lower() in ("true", "false"):
            value_obj = value.lower() == "true"
        result[EXTRA_ALIASES.get(name, name)] = value_obj
    return result


def format_extra(fields: dict) -> str | None:
    if not fields:
        return None
    parts = []
    for name, value in fields.items():
        shown = ("true" if value else "false") if isinstance(value, bool) else ("" if value is None else str(value))
        parts.append(f"{EXTRA_NAMES.get(name, name)}={shown}")
    return "；".join(parts)


def ordered(data: dict, order: list) -> dict:
    result = {k: data[k] for k in order if k in data}
    result.update({k: v for k, v in data.items() if k not in result})
    return result


def rule_type_names(registry: dict) -> dict:
    """Chinese name → rule type name; duplicate Chinese names get the code appended."""
    counts = {}
    for rt in registry.values():
        counts[rt.label] = counts.get(rt.label, 0) + 1
    names = {}
    for name, rt in registry.items():
        names[rt.label if counts[rt.label] == 1 else f"{rt.label}（{name}）"] = name
    return names


def rule_display(name: str, registry: dict) -> str:
    for label, code in rule_type_names(registry).items():
        if code == name:
            return label
    return name


# --------------------------------------------------------------------------- lists and validation

class Lists:
    """Drop-down lists: short ones inline, long ones on the hidden 选项 sheet behind a defined name."""

    def __init__(self, wb: Workbook):
        self.wb = wb
        self.sheet = None
        self.cache: dict[tuple, str] = {}
        self.validations: dict[tuple, DataValidation] = {}

    def formula(self, values) -> str:
        values = tuple(str(v) for v in values)
        if values in self.cache:
            return self.cache[values]
        inline = ",".join(values)
        if len(inline) <= 200 and not any("," in v or '"' in v for v in values):
            formula = f'"{inline}"'
        else:
            if self.sheet is None:
                self.sheet = self.wb.create_sheet(LISTS)
                self.sheet.sheet_state = "hidden"
            column = len(self.cache) + 1
            letter = get_column_letter(column)
            for row, value in enumerate(values, start=1):
                self.sheet.cell(row=row, column=column, value=value)
            name = f"anju_list_{column}"
            self.wb.defined_names[name] = DefinedName(name, attr_text=f"'{LISTS}'!${letter}$1:${letter}${len(values)}")
            formula = name
        self.cache[values] = formula
        return formula

    def add(self, ws, cell: str, kind: str, *, values=(), prompt: str = "", title: str = ""):
        """Attach a validation to one cell; cells with the same rule share one DataValidation."""
        if kind == "list":
            key = (ws.title, "list", self.formula(values))
        else:
            key = (ws.title, kind)
        dv = self.validations.get(key)
        if dv is None:
            if kind == "list":
                dv = DataValidation(type="list", formula1=key[2], allow_blank=True, showDropDown=False)
                dv.error, dv.errorTitle = "请从下拉列表中选择。", "取值无效"
            elif kind == "decimal":
                dv = DataValidation(type="decimal", operator="between", formula1="-1000000000000000", formula2="1000000000000000", allow_blank=True)
                dv.error, dv.errorTitle = "此处应填写数字（不要带单位或文字）。", "应为数字"
            elif kind == "whole":
                dv = DataValidation(type="whole", operator="between", formula1="0", formula2="1000000", allow_blank=True)
                dv.error, dv.errorTitle = "此处应填写不小于0的整数。", "应为整数"
            elif kind == "weight":
                dv = DataValidation(type="decimal", operator="between", formula1="0", formula2="1000", allow_blank=True)
                dv.error, dv.errorTitle = "分值应为0到1000之间的数字。", "分值无效"
            else:
                raise ValueError(kind)
            dv.showErrorMessage = True
            ws.add_data_validation(dv)
            self.validations[key] = dv
        dv.add(cell)


def validate_param_cell(lists: Lists, ws, cell: str, param: Param, name: str):
    if param.choices:
        lists.add(ws, cell, "list", values=[choice_label(name, c) for c in param.choices])
    elif param.kind == "decimal":
        lists.add(ws, cell, "decimal")
    elif param.kind == "int":
        lists.add(ws, cell, "whole")
    elif param.kind == "bool":
        lists.add(ws, cell, "list", values=(YES, NO))


# --------------------------------------------------------------------------- export

@dataclass
class Row:
    """One row of the 指标 sheet before writing."""

    values: dict
    level: int = 0
    kind: str = "param"               # indicator | part | param | inputs
    validate: tuple | None = None      # (Param, name) for the 参数值 cell


def export_workbook(pack: Pack, registry: dict | None = None) -> Workbook:
    """The 规则表 workbook of a built pack (its resolved data, with generated 评分标准)."""
    registry = dict(REGISTRY if registry is None else registry)
    data = pack.data
    wb = Workbook()
    lists = Lists(wb)
    info = wb.active
    info.title = INFO
    write_info(info, data, lists)
    ws = wb.create_sheet(INDICATORS)
    write_indicators(ws, pack, registry, lists)
    golden = wb.create_sheet(GOLDEN)
    write_golden(golden, pack, lists)
    help_sheet = wb.create_sheet(HELP)
    write_help(help_sheet, registry)
    wb.active = 1
    return wb


def save_workbook(wb: Workbook, path: Path) -> None:
    """Write through a temporary file so a failed save never leaves half a workbook."""
    path = Path(path)
    tmp = path.with_name(f".~anju-{path.name}")
    try:
        wb.save(tmp)
        tmp.replace(path)
    except PermissionError:
        tmp.unlink(missing_ok=True)
        raise AnjuError(f"无法写入 {path}：文件可能正在 Excel 中打开，请关闭后重试") from None
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise AnjuError(f"无法写入 {path}：{exc.strerror}") from None


def export_pack(pack: Pack, path: Path, registry: dict | None = None) -> None:
    save_workbook(export_workbook(pack, registry), path)


def header(ws, titles_widths):
    for column, (title, width) in enumerate(titles_widths, start=1):
        cell = ws.cell(row=1, column=column, value=title)
        cell.font, cell.fill, cell.alignment, cell.border = HEAD_FONT, HEAD_FILL, WRAP, BORDER
        ws.column_dimensions[get_column_letter(column)].width = width
    ws.freeze_panes = "A2"


def write_info(ws, data: dict, lists: Lists):
    header(ws, INFO_COLUMNS)
    row = 2

    def put(label, value, key=None, code=None, note="", kind="str", choices=None):
        nonlocal row
        write_cell(ws, row, 1, label)
        shown = value
        if choices and value is not None:
            shown = choices.get(value, value)
        elif kind == "decimal":
            shown = number_cell(value)
        elif kind == "int" and value is not None:
            shown = number_cell(value)
        value_cell = write_cell(ws, row, 2, shown)
        if kind == "str" and not choices:
            value_cell.number_format = "@"
        write_cell(ws, row, 3, key)
        write_cell(ws, row, 4, code)
        write_cell(ws, row, 5, note)
        address = f"B{row}"
        if choices:
            lists.add(ws, address, "list", values=list(choices.values()))
        elif kind == "decimal":
            lists.add(ws, address, "decimal")
        elif kind == "int":
            lists.add(ws, address, "whole")
        for column in range(1, 6):
            ws.cell(row=row, column=column).border = BORDER
            ws.cell(row=row, column=column).alignment = WRAP
        row += 1

    for code, label, kind, choices, note in INFO_FIELDS:
        value = lookup_path(data, code)
        if code == "schema" and value is None:
            continue
        put(label, value, None, code, note, kind, choices)
    grades_key = "grade_bands" if "grade_bands" in data and "grades" not in data else "grades"
    grades = data.get(grades_key)
    if isinstance(grades, list):
        for band in grades:
            put("评价等级（下限，含）", band.get("min"), band.get("label"), f"{grades_key}[]", "", "decimal")
    elif isinstance(grades, dict) and grades:
        for label, minimum in grades.items():
            put("评价等级（下限，含）", minimum, label, grades_key, "键=等级名称，值=该等级最低分（含）", "decimal")
    else:
        put("评价等级（下限，含）", None, None, "grades", "不填则为 优90、良80、中60、差0", "decimal")
    levels = data.get("levels") or {}
    for name, weight in levels.items() or []:
        put("指标层级分值", weight, name, "levels", "键=一级指标名称（二级用“一级/二级”），值=其分值", "decimal")
    if not levels:
        put("指标层级分值", None, None, "levels", "键=一级指标名称（二级用“一级/二级”），值=其分值", "decimal")
    put("文件类型", WORKBOOK_KIND, None, "@kind", "请勿修改")


def lookup_path(data: dict, dotted: str):
    value = data
    for part in dotted.split("."):
        if not isinstance(value, dict) or part not in value:
            return None
        value = value[part]
    return value


def write_indicators(ws, pack: Pack, registry: dict, lists: Lists):
    header(ws, [(title, width) for _, title, width in INDICATOR_COLUMNS])
    ws.freeze_panes = "B2"
    type_names = list(rule_type_names(registry))
    row = 2
    built = {i.code: i for i in pack.indicators}
    for raw in pack.data.get("indicators") or []:
        indicator = built.get(str(raw.get("code")))
        for item in indicator_rows(raw, indicator, registry):
            write_row(ws, row, item, lists, type_names)
            row += 1
    ws.auto_filter.ref = f"A1:{get_column_letter(len(INDICATOR_COLUMNS))}{max(row - 1, 1)}"


def indicator_rows(raw: dict, indicator, registry: dict) -> list[Row]:
    path = list(raw.get("path") or [])
    if isinstance(path, str):
        path = [path]
    if len(path) > 3:
        raise PackError(f"指标{raw.get('code')}有{len(path)}级指标名称，规则表只支持三级")
    rule = raw.get("rule") or {}
    type_name = rule.get("type")
    values = {"code": str(raw.get("code")), "weight": number_cell(raw.get("weight")), "target": raw.get("target"),
              "unit": raw.get("unit"), "type": rule_display(type_name, registry) if type_name else None,
              "note": raw.get("note"), "original": raw.get("standard"),
              "standard": describe(indicator, registry) if indicator is not None else None}
    for index, name in enumerate(path):
        values[("l1", "l2", "l3")[index]] = name
    rows = [Row(values, 0, "indicator")]
    rows += rule_param_rows(rule, registry, 1)
    rows += input_rows(raw.get("inputs") or {}, indicator)
    if type_name == "composite":
        for part in rule.get("parts") or []:
            part_rule = part.get("rule") or {}
            part_values = {"param": "分项", "pcode": "parts", "key": part.get("key"), "label": part.get("label"),
                           "weight": number_cell(part.get("weight")),
                           "type": rule_display(part_rule.get("type"), registry) if part_rule.get("type") else None,
                           "extra": format_extra({k: v for k, v in part.items() if k not in ("key", "label", "weight", "rule")
                                                  and not isinstance(v, (dict, list))})}
            rows.append(Row(part_values, 1, "part"))
            rows += rule_param_rows(part_rule, registry, 2)
            for key, change in (part.get("inputs") or {}).items():
                row = input_row(str(key), change, "分项输入项名称")
                row.values["pcode"], row.level = "@part.inputs", 2
                rows.append(row)
    return rows


def rule_param_rows(rule: dict, registry: dict, level: int) -> list[Row]:
    rule_type = registry.get(rule.get("type"))
    if rule_type is None:
        return []
    rows = []
    for name, param in rule_type.params.items():
        if param.kind == "parts":
            continue
        rows += param_rows(name, param, rule.get(name), level, name)
    return rows


def param_label(name: str, param: Param) -> str:
    label = param.label or name
    if param.required:
        label += "（必填）"
    elif param.default is not None and not isinstance(param.default, (dict, list, tuple)):
        default = param.default
        shown = (YES if default else NO) if isinstance(default, bool) else choice_label(name, default) if param.choices else \
            fmt(default) if isinstance(default, Decimal) else default
        label += f"〔默认：{shown}〕"
    return label


def param_rows(name: str, param: Param, raw, level: int, code: str) -> list[Row]:
    label = param_label(name, param)
    kind = param.kind
    if param.choices or kind in SCALAR_KINDS:
        value = raw
        if raw is not None:
            if param.choices:
                value = choice_label(name, raw)
            elif kind == "bool":
                value = YES if to_bool(raw, what=label) else NO
            elif kind in ("decimal", "int"):
                value = number_cell(raw)
        return [Row({"param": label, "value": value, "pcode": code}, level, validate=(param, name))]
    rows = []
    if kind in LIST_ITEM_KINDS:
        field_name = LIST_ITEM_KINDS[kind]
        for item in raw or []:
            if isinstance(item, str):
                rows.append(Row({"param": label, "key": item, "pcode": code}, level))
                continue
            extra = {k: v for k, v in item.items() if k not in ("key", "label", field_name)}
            rows.append(Row({"param": label, "key": item.get("key"), "label": item.get("label"),
                             "value": number_cell(item.get(field_name)) if field_name else None,
                             "extra": format_extra(extra), "pcode": code}, level,
                            validate=(Param("decimal"), name) if field_name else None))
    elif kind in MAP_KINDS:
        for key, value in (raw or {}).items():
            hint = f"{label}：{CATEGORY_LABELS[key]}" if name == "points" and key in CATEGORY_LABELS else label
            rows.append(Row({"param": hint, "key": key, "value": number_cell(value) if kind == "decimal_map" else value,
                             "pcode": code}, level, validate=(Param("decimal"), name) if kind == "decimal_map" else None))
    elif kind == "bands":
        for band in raw or []:
            extra = {k: v for k, v in band.items() if k not in ("min", "label", "points")}
            rows.append(Row({"param": f"{label}（键=下限%，参数值=分值）", "key": number_cell(band.get("min")), "label": band.get("label"),
                             "value": number_cell(band.get("points")), "extra": format_extra(extra), "pcode": code}, level,
                            validate=(Param("decimal"), name)))
    elif kind == "bandmap":
        for key, bounds in (raw or {}).items():
            rows.append(Row({"param": f"{label}：{QUALITATIVE_LABELS.get(key, key)}（参数值=下限%）", "key": key,
                             "value": number_cell(bounds[0]), "extra": format_extra({"high": bounds[1]}), "pcode": code}, level,
                            validate=(Param("decimal"), name)))
    elif kind == "input_decls":
        for decl in raw or []:
            if isinstance(decl, str):
                rows.append(Row({"param": label, "key": decl, "pcode": code}, level))
                continue
            extra = {k: v for k, v in decl.items() if k not in ("key", "label", "kind")}
            rows.append(Row({"param": label, "key": decl.get("key"), "label": decl.get("label"),
                             "value": DECL_KIND_LABELS.get(decl.get("kind"), decl.get("kind")), "extra": format_extra(extra),
                             "pcode": code}, level, validate=(Param("str", choices=tuple(DECL_KIND_LABELS)), "@kind")))
    elif kind == "value_from":
        transform = (raw or {}).get("transform")
        rows.append(Row({"param": f"{label}：计算方法", "value": TRANSFORM_LABELS.get(transform, transform),
                         "pcode": f"{code}.transform"}, level, validate=(Param("str", choices=tuple(TRANSFORMS)), "@transform")))
        if transform in TRANSFORMS:
            for sub_name, sub_param in TRANSFORMS[transform].params.items():
                rows += param_rows(sub_name, sub_param, raw.get(sub_name), level, f"{code}.{sub_name}")
        return rows
    else:   # a plugin's own kind: one text row holding the value as YAML flow text
        text = None if raw is None else yaml.safe_dump(raw, allow_unicode=True, default_flow_style=True).strip()
        return [Row({"param": f"{label}（YAML）", "value": text, "pcode": f"{code}!yaml"}, level)]
    if not rows:
        rows.append(Row({"param": label, "pcode": code}, level,
                        validate=(Param("decimal"), name) if kind in ("points_items", "pct_items", "deduction_items", "bands", "bandmap")
                        or kind == "decimal_map" else None))
    return rows


def input_rows(overrides: dict, indicator) -> list[Row]:
    """Rows for the pack's input labels: one per rule input (blank 名称 = keep the default name)."""
    rows, seen = [], set()
    specs = indicator.compiled.specs if indicator is not None else []
    for spec in specs:
        key = f"{spec.part}.{spec.key}" if spec.part else spec.key
        change, shown = None, key
        if key in overrides:
            change = overrides[key]
        elif spec.part and isinstance(overrides.get(spec.part), dict) and spec.key in overrides[spec.part]:
            change, shown = overrides[spec.part][spec.key], f"{spec.part}/{spec.key}"
        default = spec.label
        rows.append(input_row(shown, change, f"输入项名称〔默认：{default}〕" if change is None else "输入项名称"))
        seen.add(shown)
    for key, change in overrides.items():
        if isinstance(change, dict) and "label" not in change and not ({"unit", "default"} & set(change)):
            for sub, inner in change.items():
                if f"{key}/{sub}" not in seen:
                    rows.append(input_row(f"{key}/{sub}", inner, "输入项名称"))
        elif key not in seen:
            rows.append(input_row(key, change, "输入项名称"))
    return rows


def input_row(key: str, change, label: str) -> Row:
    if isinstance(change, str):
        return Row({"param": label, "key": key, "label": change, "extra": "简写=true", "pcode": "@inputs"}, 1, "inputs")
    change = change or {}
    extra = {k: v for k, v in change.items() if k != "label"}
    return Row({"param": label, "key": key, "label": change.get("label"), "extra": format_extra(extra), "pcode": "@inputs"}, 1, "inputs")


def write_row(ws, row: int, item: Row, lists: Lists, type_names: list):
    for name, value in item.values.items():
        if value is None:
            continue
        cell = write_cell(ws, row, COL[name], value)
        if isinstance(value, str) and name not in ("standard", "note", "original"):
            cell.number_format = "@"
    for column in range(1, len(INDICATOR_COLUMNS) + 1):
        cell = ws.cell(row=row, column=column)
        cell.border = BORDER
        cell.alignment = WRAP
        if item.kind == "indicator":
            cell.fill = INDICATOR_FILL
        elif item.kind == "part":
            cell.fill = PART_FILL
    ws.cell(row=row, column=COL["standard"]).fill = AUTO_FILL
    if item.kind == "indicator":
        for column in range(1, COL["type"] + 1):
            ws.cell(row=row, column=column).font = Font(bold=True)
    if item.kind in ("indicator", "part"):
        lists.add(ws, f"{get_column_letter(COL['type'])}{row}", "list", values=type_names)
        lists.add(ws, f"{get_column_letter(COL['weight'])}{row}", "weight")
    if item.validate:
        param, name = item.validate
        address = f"{get_column_letter(COL['value'])}{row}"
        if name == "@kind":
            lists.add(ws, address, "list", values=list(DECL_KIND_LABELS.values()))
        elif name == "@transform":
            lists.add(ws, address, "list", values=list(TRANSFORM_LABELS.values()))
        else:
            validate_param_cell(lists, ws, address, param, name)
    if item.level:
        ws.row_dimensions[row].outlineLevel = item.level


# --------------------------------------------------------------------------- golden sheet (export)

def spec_rows(indicator, cases: list) -> list[tuple]:
    """(path tuple, label, spec or None) rows of one indicator's inputs across all cases."""
    code = indicator.code if indicator is not None else None
    rows, seen = [], set()

    def add(path, label, spec):
        if path not in seen:
            seen.add(path)
            rows.append((path, label, spec))

    values = [case.get("inputs", {}).get(code) for case in cases]
    if any(v is not None and not isinstance(v, dict) for v in values):
        add(("*",), "状态（无任务/未验收/无数据）", None)
    for spec in (indicator.compiled.specs if indicator is not None else []):
        base = (spec.part, spec.key) if spec.part else (spec.key,)
        if spec.kind == "answers":
            options = list(spec.choices)
            for value in values:
                container = value.get(spec.part) if spec.part and isinstance(value, dict) else value
                answers = container.get(spec.key) if isinstance(container, dict) else None
                if isinstance(answers, dict):
                    options += [str(o) for o in answers if str(o) not in options]
            for option in options:
                add(base + (option,), f"{spec.label}：{option}（人数）", spec)
        else:
            add(base, spec_hint(spec), spec)
    for value in values:
        if isinstance(value, dict):
            for path in flatten(value):
                if path not in seen:
                    add(path, ".".join(path), None)
    return rows


def spec_hint(spec) -> str:
    unit = f"（{spec.unit}）" if spec.unit and spec.kind not in ("bool", "category") else ""
    if spec.kind == "bool":
        unit = "（是/否）"
    elif spec.kind == "category":
        unit = "（选择）"
    return f"{spec.label}{unit}"


def flatten(value: dict, prefix: tuple = ()) -> list[tuple]:
    paths = []
    for key, inner in value.items():
        if isinstance(inner, dict) and inner:
            paths += flatten(inner, prefix + (str(key),))
        else:
            paths.append(prefix + (str(key),))
    return paths


def dig(value, path: tuple):
    for part in path:
        if not isinstance(value, dict) or part not in value:
            return None
        value = value[part]
    return value


def golden_value(spec, value):
    if value is None:
        return None
    if spec is None:
        return value if not isinstance(value, (dict, list)) else yaml.safe_dump(value, allow_unicode=True, default_flow_style=True).strip()
    if spec.kind == "bool" and isinstance(value, bool):
        return YES if value else NO
    if spec.kind == "category":
        return dict(spec.choices).get(value, value)
    if isinstance(value, str) and value.strip() in STATE_WORDS:
        return value
    if spec.kind in ("number", "percent", "count", "days", "answers"):
        return number_cell(value)
    return value


def write_golden(ws, pack: Pack, lists: Lists):
    cases = [c for c in (pack.golden or []) if isinstance(c, dict)]
    titles = [("编码", 9), ("指标", 20), ("输入项", 34), ("代码", 22)] + [(f"案例{n}", 16) for n in range(1, len(cases) + 1)]
    header(ws, titles)
    ws.freeze_panes = "E2"
    first = 5
    row = 2

    def line(code, name, label, key, values, *, bold=False, fill=None, validate=None):
        nonlocal row
        for column, value in enumerate([code, name, label, key], start=1):
            write_cell(ws, row, column, value)
        for index, value in enumerate(values):
            cell = write_cell(ws, row, first + index, value)
            if isinstance(value, str):
                cell.number_format = "@"
            if validate:
                validate(f"{get_column_letter(first + index)}{row}")
        for column in range(1, first + max(len(cases), 1)):
            cell = ws.cell(row=row, column=column)
            cell.border, cell.alignment = BORDER, WRAP
            if bold:
                cell.font = Font(bold=True)
            if fill:
                cell.fill = fill
        row += 1

    line(None, "案例编号", None, "@id", [c.get("id") for c in cases], bold=True, fill=INDICATOR_FILL)
    line(None, "案例说明", None, "@title", [c.get("title") for c in cases])
    extras = []
    for case in cases:
        for key, value in case.items():
            if key in CASE_ORDER:
                continue
            for path in (flatten(value, (key,)) if isinstance(value, dict) and value else [(key,)]):
                if path not in extras:
                    extras.append(path)
    for path in extras:
        values = []
        for case in cases:
            value = dig(case, path)
            values.append(yaml.safe_dump(value, allow_unicode=True, default_flow_style=True).strip()
                          if isinstance(value, (list, dict)) else number_cell(value) if isinstance(value, (int, float)) else value)
        line(None, "案例属性", ".".join(path), "@" + ".".join(path), values)
    built = {i.code: i for i in pack.indicators}
    codes = [i.code for i in pack.indicators]
    for case in cases:
        codes += [str(c) for c in (case.get("inputs") or {}) if str(c) not in codes]
    for code in codes:
        indicator = built.get(code)
        name = indicator.name if indicator is not None else "（规则包中无此指标）"
        for index, (path, label, spec) in enumerate(spec_rows(indicator, cases) if indicator is not None else
                                                    [(p, ".".join(p), None) for p in flat_union(cases, code)]):
            values = []
            for case in cases:
                raw = (case.get("inputs") or {}).get(code)
                if path == ("*",):
                    values.append(raw if raw is not None and not isinstance(raw, dict) else None)
                else:
                    values.append(golden_value(spec, dig(raw, path) if isinstance(raw, dict) else None))
            validate = None
            if spec is not None and spec.kind == "bool":
                validate = lambda address: lists.add(ws, address, "list", values=(YES, NO))
            elif spec is not None and spec.kind == "category":
                validate = lambda address, s=spec: lists.add(ws, address, "list", values=[label for _, label in s.choices])
            line(code if index == 0 else None, name if index == 0 else None, label, ".".join(path), values, validate=validate,
                 fill=INDICATOR_FILL if index == 0 else None)
    for code in [i.code for i in pack.indicators] + sorted({str(k) for c in cases for k in (c.get("expected_scores") or {})} - set(built)):
        values = [number_cell((c.get("expected_scores") or {}).get(code)) if (c.get("expected_scores") or {}).get(code) is not None else None
                  for c in cases]
        line(code, built[code].name if code in built else "（规则包中无此指标）", "期望得分", "@expected_scores", values, fill=PART_FILL)
    line(None, "期望总分", None, "@expected_total", [number_cell(c.get("expected_total")) for c in cases], bold=True)
    line(None, "期望等级", None, "@expected_grade", [c.get("expected_grade") for c in cases], bold=True)


def flat_union(cases: list, code: str) -> list[tuple]:
    paths = []
    for case in cases:
        value = (case.get("inputs") or {}).get(code)
        if isinstance(value, dict):
            paths += [p for p in flatten(value) if p not in paths]
        elif value is not None and ("*",) not in paths:
            paths.append(("*",))
    return paths


# --------------------------------------------------------------------------- help sheet

HELP_TEXT = [
    "本工作簿是一个评分规则包（规则表）。修改后用命令 anju rules import 规则表.xlsx -o 规则包.yaml 校验并转换回规则包。",
    "“基本信息”：规则包编号、名称、舍入方式、评价等级和各级指标分值。值为空表示不设置（使用默认值）。",
    "“指标”：每个指标一行（浅蓝色），编码、一级/二级/三级指标名称、分值、目标值、单位、规则类型（下拉选择）。",
    "指标行下方每个参数一行：“参数”列是参数名称，“参数值”列填写数值（已设置数据验证）；〔默认：…〕表示不填时的取值，“（必填）”必须填写。",
    "要点、类别、问卷选项、分档等每项一行：“键”为代码（英文，勿重复），“名称”为中文说明，“参数值”为分值或比例。增加要点时插入一行并复制上一行的“参数代码”。",
    "组合规则的每个分项一行（灰色，“参数”列为“分项”）：在该行填写分项分值和分项规则类型，其参数写在其下方各行。",
    "“其他属性”列用“名称=值”的形式，多个用“；”分隔，例如：单位=%；默认值=0。",
    "“输入项名称”行（参数代码 @inputs）可修改填报模板中输入项的中文名称；留空则使用默认名称。",
    "改变规则类型后，请按下方“规则类型一览”补齐新规则类型的参数行（“参数”列写参数名称或参数代码均可）。",
    "“评分标准”列由程序根据规则类型和参数自动生成，导入时重新生成，修改此列无效；如需保留文件原文，请写在“评分标准原文”列。",
    "“黄金案例”：每一列是一个测试案例，上部为各指标的输入值，下部为期望得分、期望总分和期望等级（仿 OpenL Tablets 测试表）。导入后用 anju rules test 运行。",
    "各指标分值之和须等于满分，各一级指标下的分值之和须等于“指标层级分值”，组合规则各分项分值之和须等于指标分值，否则导入时报错并指出单元格。",
]


def write_help(ws, registry: dict):
    ws.column_dimensions["A"].width = 26
    ws.column_dimensions["B"].width = 22
    ws.column_dimensions["C"].width = 14
    ws.column_dimensions["D"].width = 10
    ws.column_dimensions["E"].width = 16
    ws.column_dimensions["F"].width = 70
    ws.cell(row=1, column=1, value="规则表使用说明").font = Font(bold=True, size=14)
    row = 2
    for number, text in enumerate(HELP_TEXT, start=1):
        ws.cell(row=row, column=1, value=f"{number}. {text}")
        ws.merge_cells(start_row=row, start_column=1, end_row=row, end_column=6)
        ws.cell(row=row, column=1).alignment = WRAP
        ws.row_dimensions[row].height = 32
        row += 1
    row += 1
    ws.cell(row=row, column=1, value="规则类型一览").font = Font(bold=True, size=14)
    row += 1
    for name, rule_type in registry.items():          # catalogue order (DOMAIN §4), plugins' types last
        cell = ws.cell(row=row, column=1, value=rule_display(name, registry))
        cell.font, cell.fill = SECTION_FONT, INDICATOR_FILL
        ws.cell(row=row, column=2, value=name).fill = INDICATOR_FILL
        ws.cell(row=row, column=3, value=rule_type.description).alignment = WRAP
        ws.merge_cells(start_row=row, start_column=3, end_row=row, end_column=6)
        for column in range(3, 7):
            ws.cell(row=row, column=column).fill = INDICATOR_FILL
        row += 1
        if rule_type.params:
            for column, title in enumerate(["参数", "参数代码", "类型", "必填", "默认值", "可选值 / 说明"], start=1):
                ws.cell(row=row, column=column, value=title).font = Font(bold=True)
            row += 1
        for param_name, param in rule_type.params.items():
            default = param.default
            default_text = "" if default is None or isinstance(default, (dict, list, tuple)) else \
                (YES if default else NO) if isinstance(default, bool) else choice_label(param_name, default) if param.choices else \
                fmt(default) if isinstance(default, Decimal) else str(default)
            choices = "、".join(choice_label(param_name, c) for c in param.choices) if param.choices else KIND_HELP.get(param.kind, "")
            for column, value in enumerate([param.label or param_name, param_name, KIND_NAMES.get(param.kind, param.kind),
                                            "是" if param.required else "", default_text, choices], start=1):
                ws.cell(row=row, column=column, value=value).alignment = WRAP
            row += 1
        example = EXAMPLES.get(name)
        weight = "0" if name == "global_deduction" else "10"
        try:
            sentence = describe_rule(name, example if example is not None else {}, weight, registry=registry)
            shown = example_text(example or {}, rule_type)
        except AnjuError:
            sentence, shown = "（该规则类型未提供示例）", ""
        ws.cell(row=row, column=1, value=f"示例（分值{weight}分）").font = Font(italic=True)
        ws.cell(row=row, column=2, value=shown or "（全部使用默认值）").alignment = WRAP
        ws.merge_cells(start_row=row, start_column=2, end_row=row, end_column=6)
        ws.row_dimensions[row].height = 30
        row += 1
        ws.cell(row=row, column=1, value="生成的评分标准").font = Font(italic=True)
        ws.cell(row=row, column=2, value=sentence).alignment = WRAP
        ws.merge_cells(start_row=row, start_column=2, end_row=row, end_column=6)
        ws.row_dimensions[row].height = 45
        row += 2


KIND_NAMES = {"decimal": "数字", "int": "整数", "bool": "是/否", "str": "文字", "expr": "公式", "points_items": "要点列表（每项一行）",
              "pct_items": "要点列表（每项一行）", "deduction_items": "扣分项列表（每项一行）", "keys": "分项列表（每项一行）",
              "decimal_map": "对照表（每项一行）", "str_map": "对照表（每项一行）", "bands": "分档（每档一行）",
              "value_from": "计算方法", "bandmap": "档次区间（每档一行）", "input_decls": "输入项列表（每项一行）", "parts": "分项（每项一行）"}
KIND_HELP = {"points_items": "键=要点代码，名称=要点内容，参数值=分值", "pct_items": "键=要点代码，名称=要点内容，参数值=缺项扣分值的百分比",
             "deduction_items": "键=扣分项代码，名称=说明，参数值=每次扣分", "keys": "键=分项代码，名称=中文名称",
             "decimal_map": "键=类别（或问卷选项），参数值=分值（或权重）", "str_map": "键=类别，参数值=中文名称",
             "bands": "键=下限（%，含；第一档可空），名称=档次名称，参数值=分值", "bandmap": "键=档次，参数值=下限%，其他属性 上限=…",
             "value_from": "问卷“是”占比 / 问卷加权满意度 / 多项完成率平均", "input_decls": "键=输入代码，名称=中文名称，参数值=类型，其他属性 单位=…",
             "parts": "每个分项一行，其下写分项规则的参数"}


def example_text(example: dict, rule_type) -> str:
    parts = []
    for name, value in example.items():
        param = rule_type.params.get(name)
        label = param.label if param else name
        if isinstance(value, list):
            shown = "；".join(
                f"{v.get('label') or v.get('key')}" + (f"={v.get('points') or v.get('deduct_pct') or ''}" if v.get("points") or v.get("deduct_pct") else "")
                if isinstance(v, dict) else str(v) for v in value)
            if name == "parts":
                shown = "；".join(f"{p.get('label') or p['key']}（{p.get('weight')}分，{REGISTRY[p['rule']['type']].label}）" for p in value)
            elif name == "bands":
                shown = "；".join(f"≥{b.get('min')}%→{b.get('points')}分" if b.get("min") else f"最低档→{b.get('points')}分" for b in value)
        elif isinstance(value, dict):
            shown = "、".join(f"{CATEGORY_LABELS.get(k, k)}={v}" for k, v in value.items() if k != "transform") or \
                TRANSFORM_LABELS.get(value.get("transform"), "")
            if "transform" in value:
                shown = TRANSFORM_LABELS.get(value["transform"], value["transform"]) + (f"（{shown}）" if shown != TRANSFORM_LABELS.get(value["transform"]) else "")
        elif isinstance(value, bool):
            shown = YES if value else NO
        else:
            shown = choice_label(name, value)
        parts.append(f"{label}：{shown}")
    return "；".join(parts)


# --------------------------------------------------------------------------- import

@dataclass
class Problems:
    items: list = field(default_factory=list)

    def add(self, sheet: str, cell: str | None, indicator: str | None, message: str):
        where = f"工作表“{sheet}”" + (f"单元格 {cell}" if cell else "")
        who = f"（指标 {indicator}）" if indicator else ""
        self.items.append(f"{where}{who}：{message}")


@dataclass
class Imported:
    data: dict                      # the pack mapping to write (standalone, or extends + override/add/drop)
    resolved: dict                  # the resolved pack as exported
    pack: Pack
    warnings: list = field(default_factory=list)


def read_sheet(wb, name: str, problems: Problems, required: bool = True):
    if name in wb.sheetnames:
        return wb[name]
    if required:
        problems.add(name, None, None, f"找不到工作表“{name}”（工作簿应有：{INFO}、{INDICATORS}、{GOLDEN}）")
    return None


def import_workbook(path: Path, registry: dict | None = None, lookup=None) -> Imported:
    """Read a 规则表, validate it and return the pack mapping. Raises ``RulebookError`` listing every problem.

    ``lookup(id)`` returns raw packs by id (a catalog's ``raw``): used for ``extends``.
    """
    registry = dict(REGISTRY if registry is None else registry)
    path = Path(path)
    try:
        wb = load_workbook(path, data_only=True)
    except FileNotFoundError:
        raise AnjuError(f"找不到规则表文件：{path}") from None
    except Exception as exc:   # zipfile.BadZipFile, InvalidFileException, ...
        raise AnjuError(f"无法读取规则表 {path}：不是有效的 Excel .xlsx 文件（{type(exc).__name__}）") from None
    problems = Problems()
    info = read_sheet(wb, INFO, problems)
    sheet = read_sheet(wb, INDICATORS, problems)
    golden_sheet = read_sheet(wb, GOLDEN, problems, required=False)
    if problems.items:
        raise RulebookError(problems.items)
    data, info_cells = read_info(info, problems)
    indicators, located = read_indicators(sheet, registry, problems)
    data["indicators"] = indicators
    check_weights(data, located, info_cells, problems)
    built_indicators = {}
    if not problems.items:
        try:
            probe = build(data, str(path), registry)
            built_indicators = {i.code: i for i in probe.indicators}
        except AnjuError as exc:
            message = str(exc)
            match = re.search(r"指标([^：:\s，,（]+)[：:]", message)
            where = located.get(match.group(1)) if match else None
            cell_ref = f"{get_column_letter(COL['type'])}{where['row']}" if where else None
            problems.add(INDICATORS, cell_ref, match.group(1) if where else None, message)
    if golden_sheet is not None:
        cases = read_golden(golden_sheet, built_indicators, problems)
        if cases:
            data["golden"] = cases
    if problems.items:
        raise RulebookError(problems.items)
    resolved = ordered(data, TOP_ORDER)
    resolved["indicators"] = [ordered(i, INDICATOR_ORDER) for i in resolved["indicators"]]
    output, warnings = resolved, []
    parent_id = resolved.get("extends")
    if parent_id:
        from .packdiff import as_extension
        try:
            parent = resolve(parent_id, lookup) if lookup is not None else None
        except AnjuError as exc:
            parent, warnings = None, [f"父规则包“{parent_id}”无法读取（{exc}），已导出为完整规则包"]
        if parent is None:
            warnings = warnings or [f"找不到父规则包“{parent_id}”，已导出为完整规则包（未使用 extends）"]
            output = {k: v for k, v in resolved.items() if k != "extends"}
        else:
            child = as_extension(parent, resolved)
            if child is None:
                warnings.append(f"与父规则包“{parent_id}”的差异无法用 override / add / drop 表达（如指标顺序改变），已导出为完整规则包")
                output = {k: v for k, v in resolved.items() if k != "extends"}
            else:
                output = child
    lookup_all = (lambda i: output if i == output.get("id") else (lookup(i) if lookup else None))
    try:
        pack = build(resolve(str(output["id"]), lookup_all), str(path), registry)
    except AnjuError as exc:
        raise RulebookError([f"规则表转换后的规则包无法使用：{exc}"]) from None
    return Imported(output, resolved, pack, warnings)


def read_info(ws, problems: Problems) -> tuple[dict, dict]:
    data: dict = {}
    cells: dict = {}
    grades, grade_list, levels = {}, [], {}
    grades_key = "grades"
    for row in range(2, ws.max_row + 1):
        label = cell_text(ws.cell(row=row, column=1).value)
        raw = ws.cell(row=row, column=2).value
        key = cell_text(ws.cell(row=row, column=3).value)
        code = cell_text(ws.cell(row=row, column=4).value)
        address = f"B{row}"
        if code is None and label is not None:
            code = next((f[0] for f in INFO_FIELDS if f[1] == label), None)
        if code is None or code == "@kind":
            continue
        if code in ("grades", "grade_bands", "grades[]", "grade_bands[]"):
            if is_blank(raw) and key is None:
                continue
            if key is None:
                problems.add(INFO, f"C{row}", None, "评价等级行须在“键”列填写等级名称（如 优）")
                continue
            try:
                minimum = number_text(raw, f"等级“{key}”的下限")
            except InputError as exc:
                problems.add(INFO, address, None, f"{exc}；应填写该等级的最低分，如 90")
                continue
            if code.endswith("[]"):
                grade_list.append({"label": key, "min": minimum})
                grades_key = code[:-2]
            else:
                grades[key] = minimum
                grades_key = code
            cells.setdefault("grades", address)
            continue
        if code == "levels":
            if is_blank(raw) and key is None:
                continue
            if key is None or is_blank(raw):
                problems.add(INFO, address if key else f"C{row}", None, "指标层级分值行须同时填写“键”（一级指标名称）和“值”（分值）")
                continue
            try:
                levels[key] = number_text(raw, f"指标层级“{key}”的分值")
            except InputError as exc:
                problems.add(INFO, address, None, f"{exc}；应填写该层级的分值，如 25")
                continue
            cells[("levels", key)] = address
            continue
        field_def = INFO_BY_CODE.get(code)
        if field_def is None:
            problems.add(INFO, f"D{row}", None, f"未知的设置代码“{code}”；可用：{'、'.join(INFO_BY_CODE)}")
            continue
        if is_blank(raw):
            continue
        _, name, kind, choices, _ = field_def
        try:
            if choices:
                text = cell_text(raw)
                value = text if text in choices else next((k for k, v in choices.items() if v == text), None)
                if value is None and code.endswith(".mode") and text in ROUNDING_MODES:
                    value = text       # an alias the engine accepts (truncate, half_up, …)
                if value is None:
                    problems.add(INFO, address, None, f"“{name}”的取值“{text}”无效，应从下拉列表中选择：{'、'.join(choices.values())}")
                    continue
            elif kind == "decimal":
                value = number_text(raw, f"“{name}”")
            elif kind == "int":
                number = to_decimal(cell_text(raw), what=f"“{name}”")
                if number != number.to_integral_value():
                    raise InputError(f"“{name}”应为整数，收到“{cell_text(raw)}”")
                value = int(number)
            else:
                value = cell_text(raw)
        except InputError as exc:
            problems.add(INFO, address, None, f"{exc}")
            continue
        cells[code] = address
        set_path(data, code, value)
    if grades:
        data[grades_key] = grades
    elif grade_list:
        data[grades_key] = grade_list
    if levels:
        data["levels"] = levels
    if not data.get("id"):
        problems.add(INFO, cells.get("id"), None, "缺少规则包编号（id）")
    return data, cells


def set_path(data: dict, dotted: str, value):
    parts = dotted.split(".")
    for part in parts[:-1]:
        data = data.setdefault(part, {})
    data[parts[-1]] = value


@dataclass
class RuleBuilder:
    """Collects a rule's parameter rows (one indicator rule or one composite part)."""

    type_name: str | None
    type_cell: str
    weight: str | None = None
    params: dict = field(default_factory=dict)
    cells: dict = field(default_factory=dict)
    blank_cells: dict = field(default_factory=dict)     # parameter rows present but left empty


def find_columns(ws, problems: Problems) -> dict | None:
    columns = {}
    for column in range(1, ws.max_column + 1):
        title = cell_text(ws.cell(row=1, column=column).value)
        if title is None:
            continue
        name = HEADERS.get(title) or HEADER_ALIASES.get(title)
        if name is None and title.startswith("评分标准（"):
            name = "standard"
        if name and name not in columns:
            columns[name] = column
    missing = [title for name, title, _ in INDICATOR_COLUMNS if name not in columns and name not in ("standard", "original", "extra", "note")]
    if missing:
        problems.add(INDICATORS, "第1行", None, f"缺少表头列：{'、'.join(missing)}（请勿修改或删除表头）")
        return None
    return columns


def read_indicators(ws, registry: dict, problems: Problems) -> tuple[list, dict]:
    columns = find_columns(ws, problems)
    if columns is None:
        return [], {}
    names = rule_type_names(registry)
    indicators: list = []
    located: dict = {}       # code -> {"row", "weight_cell", "parts": {key: weight cell}}
    current = None           # (indicator dict, RuleBuilder of indicator, RuleBuilder of current part or None, parts list)

    def value_of(row, name):
        column = columns.get(name)
        return ws.cell(row=row, column=column).value if column else None

    def address(row, name):
        return f"{get_column_letter(columns[name])}{row}" if name in columns else None

    def finish():
        if current is None:
            return
        indicator, main, part, parts = current
        code = indicator["code"]
        rule = finish_rule(main, registry, problems, code)
        if rule is not None and main.type_name == "composite":
            built_parts = []
            for builder, meta in parts:
                sub = finish_rule(builder, registry, problems, code)
                if sub is None:
                    continue
                part_dict = {"key": meta["key"]}
                if meta.get("label"):
                    part_dict["label"] = meta["label"]
                if builder.weight is not None:
                    part_dict["weight"] = builder.weight
                part_dict.update(meta.get("extra") or {})
                part_dict["rule"] = sub
                built_parts.append(part_dict)
            if not parts:
                problems.add(INDICATORS, main.type_cell, code, "组合规则至少需要一个分项行（“参数”列填“分项”）")
            rule["parts"] = built_parts
            rule = ordered(rule, ["type", "shared_cap", "parts"])
        elif parts:
            problems.add(INDICATORS, parts[0][1]["cell"], code, f"只有组合规则才能有“分项”行，本指标的规则类型是“{rule_display(main.type_name, registry)}”")
        if rule is not None:
            indicator["rule"] = rule

    for row in range(2, ws.max_row + 1):
        code = cell_text(value_of(row, "code"))
        pcode = cell_text(value_of(row, "pcode"))
        plabel = cell_text(value_of(row, "param"))
        if code is not None:
            finish()
            indicator = {"code": code}
            path = [cell_text(value_of(row, level)) for level in ("l1", "l2", "l3")]
            if any(path[i] is None and any(p is not None for p in path[i + 1:]) for i in range(3)):
                problems.add(INDICATORS, address(row, "l1"), code, "指标名称应从一级开始连续填写（不能空着一级只填二级）")
            path = [p for p in path if p is not None]
            if not path:
                problems.add(INDICATORS, address(row, "l1"), code, "缺少指标名称（一级/二级/三级指标至少填一个）")
            indicator["path"] = path
            weight = value_of(row, "weight")
            if is_blank(weight):
                problems.add(INDICATORS, address(row, "weight"), code, "缺少分值，应填写数字，如 10")
            else:
                try:
                    indicator["weight"] = number_text(weight, "分值")
                    if Decimal(indicator["weight"]) < 0:
                        problems.add(INDICATORS, address(row, "weight"), code, "分值不能为负数")
                except InputError as exc:
                    problems.add(INDICATORS, address(row, "weight"), code, f"{exc}；分值应为数字，如 10")
            for name in ("target", "unit"):
                text = cell_text(value_of(row, name))
                if text is not None:
                    indicator[name] = text
            for name, key in (("original", "standard"), ("note", "note")):
                text = cell_text(value_of(row, name))
                if text is not None:
                    indicator[key] = text
            if code in located:
                problems.add(INDICATORS, address(row, "code"), code, f"指标编码“{code}”重复（第{located[code]['row']}行已有）")
            located[code] = {"row": row, "weight_cell": address(row, "weight"), "weight": indicator.get("weight"),
                             "path": indicator["path"], "parts": {}}
            main = RuleBuilder(resolve_type(value_of(row, "type"), names, registry, problems, address(row, "type"), code),
                               address(row, "type"))
            indicators.append(indicator)
            current = (indicator, main, None, [])
            continue
        if pcode is None and plabel is None:
            if any(not is_blank(value_of(row, n)) for n in ("value", "key", "label", "extra")):
                problems.add(INDICATORS, address(row, "param"), current[0]["code"] if current else None,
                             "此行填写了参数值但没有参数名称（“参数”或“参数代码”列）")
            continue
        if current is None:
            problems.add(INDICATORS, address(row, "param"), None, "参数行之前没有指标行（请在“编码”列填写指标编码）")
            continue
        indicator, main, part, parts = current
        code = indicator["code"]
        if pcode == "parts" or (pcode is None and plabel == "分项"):
            key = cell_text(value_of(row, "key"))
            if key is None:
                problems.add(INDICATORS, address(row, "key"), code, "分项行须在“键”列填写分项代码（英文，如 local_budget）")
                key = f"part{len(parts) + 1}"
            builder = RuleBuilder(resolve_type(value_of(row, "type"), names, registry, problems, address(row, "type"), code),
                                  address(row, "type"))
            weight = value_of(row, "weight")
            if not is_blank(weight):
                try:
                    builder.weight = number_text(weight, f"分项“{key}”的分值")
                except InputError as exc:
                    problems.add(INDICATORS, address(row, "weight"), code, f"{exc}；应填写数字")
            try:
                extra = parse_extra(value_of(row, "extra"))
            except ValueError as exc:
                problems.add(INDICATORS, address(row, "extra"), code, f"其他属性“{exc}”应写成“名称=值”，多个用“；”分隔")
                extra = {}
            meta = {"key": key, "label": cell_text(value_of(row, "label")), "cell": address(row, "key"), "extra": extra}
            parts.append((builder, meta))
            located[code]["parts"][key] = (address(row, "weight"), builder)
            current = (indicator, main, builder, parts)
            continue
        if pcode == "@inputs" or (pcode is None and plabel and plabel.startswith("输入项名称")):
            read_input_row(row, indicator, indicator["code"], value_of, address, problems)
            continue
        if pcode == "@part.inputs":
            if part is None:
                problems.add(INDICATORS, address(row, "pcode"), code, "“@part.inputs”行应写在某个分项行之下")
            else:
                read_input_row(row, parts[-1][1].setdefault("extra", {}), code, value_of, address, problems)
            continue
        target = part if part is not None else main
        read_param_row(row, target, pcode, plabel, value_of, address, registry, problems, code)
    finish()
    return indicators, located


def resolve_type(value, names: dict, registry: dict, problems: Problems, cell: str, code: str) -> str | None:
    text = cell_text(value)
    if text is None:
        problems.add(INDICATORS, cell, code, "缺少规则类型，请从下拉列表中选择")
        return None
    if text in names:
        return names[text]
    if text in registry:
        return text
    problems.add(INDICATORS, cell, code, f"规则类型“{text}”无效，应从下拉列表中选择：{'、'.join(names)}")
    return None


def read_input_row(row, holder: dict, code: str, value_of, address, problems):
    """An input-label row into ``holder['inputs']`` (the indicator, or a composite part's extra fields)."""
    key = cell_text(value_of(row, "key"))
    label = cell_text(value_of(row, "label"))
    try:
        extra = parse_extra(value_of(row, "extra"))
    except ValueError as exc:
        problems.add(INDICATORS, address(row, "extra"), code, f"其他属性“{exc}”应写成“名称=值”，多个用“；”分隔")
        return
    short = extra.pop("简写", False)
    if label is None and not extra:
        return
    if key is None:
        problems.add(INDICATORS, address(row, "key"), code, "输入项名称行须在“键”列填写输入项代码（如 actual）")
        return
    unknown = set(extra) - {"unit", "default"}
    if unknown:
        problems.add(INDICATORS, address(row, "extra"), code, f"输入项只能设置单位、默认值，不能设置：{'、'.join(sorted(unknown))}")
        return
    change: object = {**({"label": label} if label is not None else {}), **extra}
    if short is True and set(change) == {"label"}:
        change = label
    inputs = holder.setdefault("inputs", {})
    if "/" in key:
        part, sub = key.split("/", 1)
        inputs.setdefault(part, {})[sub] = change
    else:
        inputs[key] = change


def param_by_label(rule_type, label: str) -> str | None:
    base = label.split("〔")[0].split("：")[0].replace("（必填）", "").strip()
    for name, param in rule_type.params.items():
        if base in (param.label, name):
            return name
    return None


def read_param_row(row, builder: RuleBuilder, pcode, plabel, value_of, address, registry, problems, code):
    if builder.type_name is None:
        return
    rule_type = registry[builder.type_name]
    cell = address(row, "value")
    if pcode is None:
        name = param_by_label(rule_type, plabel)
        if name is None and all(is_blank(value_of(row, n)) for n in ("value", "key", "label", "extra")):
            return
        if name is None:
            known = "、".join(p.label or n for n, p in rule_type.params.items() if p.kind != "parts")
            problems.add(INDICATORS, address(row, "param"), code,
                         f"规则类型“{rule_type.label}”没有参数“{plabel}”；可用参数：{known}")
            return
        pcode = name
    head, _, sub = pcode.partition(".")
    yaml_mode = head.endswith("!yaml")
    head = head.removesuffix("!yaml")
    param = rule_type.params.get(head)
    blank_row = all(is_blank(value_of(row, n)) for n in ("value", "key", "label", "extra"))
    if (param is None or param.kind == "parts") and blank_row:
        return        # an empty row left over from another rule type
    if param is None or param.kind == "parts":
        known = "、".join(f"{p.label}（{n}）" for n, p in rule_type.params.items() if p.kind != "parts")
        problems.add(INDICATORS, address(row, "pcode"), code, f"规则类型“{rule_type.label}”没有参数代码“{pcode}”；可用参数：{known}")
        return
    label = param.label or head
    value, key, item_label = value_of(row, "value"), value_of(row, "key"), value_of(row, "label")
    try:
        extra = parse_extra(value_of(row, "extra"))
    except ValueError as exc:
        problems.add(INDICATORS, address(row, "extra"), code, f"其他属性“{exc}”应写成“名称=值”，多个用“；”分隔")
        return
    if all(is_blank(v) for v in (value, key, item_label)) and not extra:
        builder.blank_cells.setdefault(head, cell)
    else:
        builder.cells.setdefault(head, cell)
    try:
        if yaml_mode:
            if not is_blank(value):
                builder.params[head] = yaml.safe_load(str(value))
            return
        if param.kind == "value_from":
            read_value_from(row, builder, head, sub, value, key, item_label, extra, cell, address, problems, code)
            return
        add_param_value(builder.params, head, param, value, key, item_label, extra, label, cell, address(row, "key"), problems, code)
    except InputError as exc:
        problems.add(INDICATORS, cell, code, str(exc))


def add_param_value(target: dict, name: str, param: Param, value, key, item_label, extra: dict, label: str,
                    cell: str, key_cell: str, problems: Problems, code: str):
    kind = param.kind
    if param.choices or kind in SCALAR_KINDS:
        if is_blank(value):
            return
        if name in target:
            problems.add(INDICATORS, cell, code, f"参数“{label}”重复填写")
            return
        if param.choices:
            chosen = choice_value(name, value, param.choices)
            if chosen is None:
                problems.add(INDICATORS, cell, code, f"参数“{label}”的取值“{cell_text(value)}”无效，应从下拉列表中选择："
                             f"{'、'.join(choice_label(name, c) for c in param.choices)}")
                return
            target[name] = chosen
        elif kind == "decimal":
            target[name] = number_text(value, f"参数“{label}”")
        elif kind == "int":
            number = to_decimal(cell_text(value), what=f"参数“{label}”")
            if number != number.to_integral_value():
                raise InputError(f"参数“{label}”应为整数，收到“{cell_text(value)}”")
            target[name] = int(number)
        elif kind == "bool":
            target[name] = to_bool(value, what=f"参数“{label}”")
        else:
            target[name] = cell_text(value)
        return
    if all(is_blank(v) for v in (value, key, item_label)) and not extra:
        return
    if kind in LIST_ITEM_KINDS:
        field_name = LIST_ITEM_KINDS[kind]
        item_key = cell_text(key)
        if item_key is None:
            problems.add(INDICATORS, key_cell, code, f"参数“{label}”的每一项须在“键”列填写代码（英文，如 rules_sound）")
            return
        items = target.setdefault(name, [])
        if field_name is None:
            text = cell_text(item_label)
            items.append(item_key if text is None and not extra else {"key": item_key, **({"label": text} if text else {}), **extra})
            return
        if is_blank(value):
            problems.add(INDICATORS, cell, code, f"参数“{label}”中“{cell_text(item_label) or item_key}”缺少参数值（应为数字）")
            return
        item = {"key": item_key}
        if cell_text(item_label) is not None:
            item["label"] = cell_text(item_label)
        item[field_name] = number_text(value, f"参数“{label}”中“{cell_text(item_label) or item_key}”的参数值")
        item.update(extra)
        items.append(item)
    elif kind in MAP_KINDS:
        map_key = cell_text(key)
        if map_key is None:
            problems.add(INDICATORS, key_cell, code, f"参数“{label}”的每一项须在“键”列填写类别（或选项）名称")
            return
        mapping = target.setdefault(name, {})
        if map_key in mapping:
            problems.add(INDICATORS, key_cell, code, f"参数“{label}”中“{map_key}”重复")
            return
        if is_blank(value):
            problems.add(INDICATORS, cell, code, f"参数“{label}”中“{map_key}”缺少参数值")
            return
        mapping[map_key] = number_text(value, f"参数“{label}”中“{map_key}”的参数值") if kind == "decimal_map" else cell_text(value)
    elif kind == "bands":
        band = {}
        if not is_blank(key):
            band["min"] = number_text(key, f"参数“{label}”的下限（“键”列）")
        if cell_text(item_label) is not None:
            band["label"] = cell_text(item_label)
        if not is_blank(value):
            band["points"] = number_text(value, f"参数“{label}”的分值")
        for extra_name, extra_value in extra.items():
            band[extra_name] = number_text(extra_value, f"参数“{label}”的{EXTRA_NAMES.get(extra_name, extra_name)}") \
                if extra_name == "pct_of_weight" else extra_value
        band = ordered(band, ["min", "label", "points"])
        target.setdefault(name, []).append(band)
    elif kind == "bandmap":
        band_key = cell_text(key)
        if band_key is None or is_blank(value) or "high" not in extra:
            problems.add(INDICATORS, cell, code, f"参数“{label}”每档须填写键（档次）、参数值（下限%）和其他属性“上限=…”")
            return
        target.setdefault(name, {})[band_key] = [number_text(value, f"参数“{label}”的下限"),
                                                 number_text(extra["high"], f"参数“{label}”的上限")]
    elif kind == "input_decls":
        decl_key = cell_text(key)
        if decl_key is None:
            problems.add(INDICATORS, key_cell, code, f"参数“{label}”的每一项须在“键”列填写输入项代码")
            return
        decl = {"key": decl_key}
        if cell_text(item_label) is not None:
            decl["label"] = cell_text(item_label)
        if not is_blank(value):
            kind_text = cell_text(value)
            chosen = kind_text if kind_text in DECL_KIND_LABELS else next((k for k, v in DECL_KIND_LABELS.items() if v == kind_text), None)
            if chosen is None:
                problems.add(INDICATORS, cell, code, f"输入项类型“{kind_text}”无效，应选择：{'、'.join(DECL_KIND_LABELS.values())}")
                return
            decl["kind"] = chosen
        decl.update(extra)
        target.setdefault(name, []).append(decl)
    else:
        problems.add(INDICATORS, cell, code, f"参数“{label}”的类型（{kind}）不能在规则表中编辑")


def read_value_from(row, builder, head, sub, value, key, item_label, extra, cell, address, problems, code):
    transform_dict = builder.params.get(head)
    if sub in ("", "transform"):
        if is_blank(value):
            return
        text = cell_text(value)
        chosen = text if text in TRANSFORMS else next((k for k, v in TRANSFORM_LABELS.items() if v == text), None)
        if chosen is None:
            problems.add(INDICATORS, cell, code, f"计算方法“{text}”无效，应选择：{'、'.join(TRANSFORM_LABELS.values())}")
            return
        builder.params[head] = {"transform": chosen, **(transform_dict or {})}
        return
    if transform_dict is None:
        if all(is_blank(v) for v in (value, key, item_label)):
            return
        problems.add(INDICATORS, cell, code, f"请先在“{head}.transform”行选择计算方法，再填写其参数")
        return
    transform = TRANSFORMS.get(transform_dict["transform"])
    param = transform.params.get(sub) if transform else None
    if param is None:
        problems.add(INDICATORS, address(row, "pcode"), code, f"计算方法“{TRANSFORM_LABELS.get(transform_dict['transform'])}”没有参数“{sub}”")
        return
    add_param_value(transform_dict, sub, param, value, key, item_label, extra, param.label or sub, cell, address(row, "key"), problems, code)


def finish_rule(builder: RuleBuilder, registry: dict, problems: Problems, code: str) -> dict | None:
    if builder.type_name is None:
        return None
    rule_type = registry[builder.type_name]
    rule = {"type": builder.type_name}
    ok = True
    for name, param in rule_type.params.items():
        if param.kind == "parts":
            continue
        if name in builder.params:
            raw = builder.params[name]
            try:
                parser = PARAM_PARSERS[param.kind] if not param.choices else None
                if parser is not None:
                    parser(raw, f"参数“{param.label or name}”")
            except RuleDefinitionError as exc:
                problems.add(INDICATORS, builder.cells.get(name, builder.type_cell), code, str(exc))
                ok = False
            rule[name] = raw
        elif param.required:
            if name in builder.blank_cells:
                problems.add(INDICATORS, builder.blank_cells[name], code,
                             f"规则类型“{rule_type.label}”的必填参数“{param.label or name}”（参数代码 {name}）未填写，"
                             f"应填写{KIND_NAMES.get(param.kind, '取值')}")
            else:
                problems.add(INDICATORS, builder.type_cell, code,
                             f"规则类型“{rule_type.label}”缺少必填参数“{param.label or name}”（参数代码 {name}）：请在本指标下方插入一行，"
                             f"“参数”列填“{param.label or name}”，“参数值”列填写{KIND_NAMES.get(param.kind, '取值')}")
            ok = False
    return rule if ok else None


def check_weights(data: dict, located: dict, info_cells: dict, problems: Problems):
    """Weights that do not add up, each problem naming the cells involved."""
    indicators = [i for i in data.get("indicators") or [] if "weight" in i]
    if not indicators or len(indicators) != len(data.get("indicators") or []):
        return
    scored = [i for i in indicators if (i.get("rule") or {}).get("type") != "global_deduction"]
    total = sum((Decimal(i["weight"]) for i in scored), ZERO)
    full = Decimal(str(data.get("total_weight", "100")))
    if total != full:
        cells = "、".join(located[i["code"]]["weight_cell"] for i in scored)
        problems.add(INDICATORS, None, None,
                     f"各指标分值合计{fmt(total)}分，不等于满分{fmt(full)}分（满分见工作表“{INFO}”"
                     f"{info_cells.get('total_weight', '（未填写，默认100）')}；各指标分值在单元格 {cells}）")
    for level, declared in (data.get("levels") or {}).items():
        parts = tuple(str(level).split("/"))
        members = [i for i in scored if tuple(i["path"][:len(parts)]) == parts]
        cell = info_cells.get(("levels", level))
        if not members:
            problems.add(INFO, cell, None, f"指标层级“{level}”下没有任何指标（应与“{INDICATORS}”表的一级/二级指标名称一致）")
            continue
        summed = sum((Decimal(i["weight"]) for i in members), ZERO)
        if summed != Decimal(declared):
            where = "、".join(f"{located[i['code']]['weight_cell']}（{i['code']}）" for i in members)
            problems.add(INFO, cell, None, f"指标层级“{level}”分值为{fmt(Decimal(declared))}分，但其下指标分值合计{fmt(summed)}分"
                                           f"（工作表“{INDICATORS}”单元格 {where}），两者应相等")
    for indicator in indicators:
        rule = indicator.get("rule") or {}
        if rule.get("type") != "composite" or rule.get("shared_cap") is not None:
            continue
        info = located[indicator["code"]]
        weights = [(key, cell, builder.weight) for key, (cell, builder) in info["parts"].items()]
        if any(w is None for _, _, w in weights):
            for key, cell, weight in weights:
                if weight is None:
                    problems.add(INDICATORS, cell, indicator["code"], f"组合规则分项“{key}”缺少分值（或在指标下设置“各分项合计最多扣分”）")
            continue
        summed = sum((Decimal(w) for _, _, w in weights), ZERO)
        if weights and summed != Decimal(indicator["weight"]):
            cells = "、".join(cell for _, cell, _ in weights)
            problems.add(INDICATORS, info["weight_cell"], indicator["code"],
                         f"指标分值{fmt(Decimal(indicator['weight']))}分，但各分项分值（单元格 {cells}）合计{fmt(summed)}分，两者应相等")


# --------------------------------------------------------------------------- golden sheet (import)

def read_golden(ws, built: dict, problems: Problems) -> list:
    first_case_column = 5
    columns = [c for c in range(first_case_column, ws.max_column + 1)
               if any(not is_blank(ws.cell(row=r, column=c).value) for r in range(2, ws.max_row + 1))]
    if not columns:
        return []
    cases = {c: {} for c in columns}
    current_code = None
    for row in range(2, ws.max_row + 1):
        code = cell_text(ws.cell(row=row, column=1).value)
        key = cell_text(ws.cell(row=row, column=4).value)
        if code is not None:
            current_code = code
        if key is None:
            continue
        for column in columns:
            raw = ws.cell(row=row, column=column).value
            if is_blank(raw):
                continue
            address = f"{get_column_letter(column)}{row}"
            case = cases[column]
            try:
                if key.startswith("@"):
                    read_case_field(case, key[1:], raw, code or current_code)
                elif current_code is None:
                    problems.add(GOLDEN, address, None, "输入行缺少指标编码（第1列）")
                else:
                    read_case_input(case, current_code, key, raw, built.get(current_code))
            except InputError as exc:
                problems.add(GOLDEN, address, current_code if not key.startswith("@") else (code or None), str(exc))
    result = []
    for column in columns:
        case = cases[column]
        if not case.get("id"):
            problems.add(GOLDEN, f"{get_column_letter(column)}2", None, "案例缺少案例编号（“案例编号”行）")
        result.append(ordered(case, CASE_ORDER))
    return result


def read_case_field(case: dict, key: str, raw, code):
    if key == "expected_scores":
        if code is None:
            raise InputError("期望得分行缺少指标编码（第1列）")
        case.setdefault("expected_scores", {})[code] = number_text(raw, f"指标{code}的期望得分")
    elif key == "expected_total":
        case["expected_total"] = number_text(raw, "期望总分")
    elif key in ("id", "title", "expected_grade"):
        case[key] = cell_text(raw)
    else:
        text = raw if not isinstance(raw, str) else raw.strip()
        value = yaml.safe_load(text) if isinstance(text, str) and text[:1] in "[{" else \
            cell_text(raw) if isinstance(raw, (int, float, Decimal)) and not isinstance(raw, bool) else text
        set_path(case, key, value)


def read_case_input(case: dict, code: str, key: str, raw, indicator):
    inputs = case.setdefault("inputs", {})
    if key == "*":
        inputs[code] = cell_text(raw)
        return
    path = tuple(key.split("."))
    spec = None
    if indicator is not None:
        for s in indicator.compiled.specs:
            base = (s.part, s.key) if s.part else (s.key,)
            if path[:len(base)] == base and (len(path) == len(base) or s.kind == "answers"):
                spec = s
                break
    what = f"指标{code}的“{spec.label if spec else key}”"
    value = convert_input(spec, raw, what, answers=spec is not None and spec.kind == "answers")
    container = inputs.get(code)
    if container is not None and not isinstance(container, dict):
        raise InputError(f"指标{code}已填写状态“{container}”，不能再填写各输入项")
    container = inputs.setdefault(code, {})
    for part in path[:-1]:
        container = container.setdefault(part, {})
    container[path[-1]] = value


def convert_input(spec, raw, what: str, answers: bool = False):
    if isinstance(raw, str) and normalise_text(raw).lower() in STATE_WORDS:
        return raw.strip()
    if spec is None:
        if isinstance(raw, bool):
            return raw
        if isinstance(raw, (int, float, Decimal)):
            return cell_text(raw)
        return raw.strip() if isinstance(raw, str) else raw
    if answers or spec.kind in ("count", "days"):
        number = Decimal(number_text(raw, what))
        return int(number) if number == number.to_integral_value() else fmt(number)
    if spec.kind in ("number", "percent"):
        return number_text(raw, what)
    if spec.kind == "bool":
        return to_bool(raw, what=what)
    if spec.kind == "category":
        text = cell_text(raw)
        for key, label in spec.choices:
            if text in (key, label):
                return key
        raise InputError(f"{what}应从下拉列表中选择：{'、'.join(label for _, label in spec.choices)}（收到“{text}”）")
    return cell_text(raw)


def canonical_golden(cases: list, pack: Pack) -> list:
    """Golden cases with input values written the way import writes them (是 → true, '14.2%' → '14.2',
    a category's Chinese name → its key). The engine parses both forms identically."""
    built = {i.code: i for i in pack.indicators}
    result = []
    for case in cases or []:
        case = copy.deepcopy(case)
        inputs = case.get("inputs")
        if isinstance(inputs, dict):
            for code, value in inputs.items():
                indicator = built.get(str(code))
                if isinstance(value, dict) and indicator is not None:
                    for path in flatten(value):
                        holder = value
                        for part in path[:-1]:
                            holder = holder[part]
                        try:
                            probe: dict = {}
                            read_case_input(probe, str(code), ".".join(path), holder[path[-1]], indicator)
                            holder[path[-1]] = dig(probe["inputs"][str(code)], path)
                        except (InputError, KeyError, TypeError):
                            pass
        result.append(case)
    return result


# --------------------------------------------------------------------------- YAML output

class PackDumper(yaml.SafeDumper):
    """Pack-style YAML: short mappings and scalar lists inline, numbers kept as quoted strings."""


def _represent_dict(dumper, data):
    flow = bool(data) and len(data) <= 8 and all(not isinstance(v, (dict, list)) for v in data.values()) and \
        sum(len(str(k)) + len(str(v)) for k, v in data.items()) < 110
    return dumper.represent_mapping("tag:yaml.org,2002:map", data.items(), flow_style=flow)


def _represent_list(dumper, data):
    flow = bool(data) and all(not isinstance(v, (dict, list)) for v in data) and sum(len(str(v)) for v in data) < 100
    return dumper.represent_sequence("tag:yaml.org,2002:seq", data, flow_style=flow)


PackDumper.add_representer(dict, _represent_dict)
PackDumper.add_representer(list, _represent_list)
PackDumper.add_representer(Decimal, lambda dumper, value: dumper.represent_str(fmt(value)))


def dump_pack(data: dict) -> str:
    data = ordered(copy.deepcopy(data), TOP_ORDER)
    if isinstance(data.get("indicators"), list):
        data["indicators"] = [ordered(i, INDICATOR_ORDER) for i in data["indicators"]]
    return yaml.dump(data, Dumper=PackDumper, allow_unicode=True, sort_keys=False, width=120)


# --------------------------------------------------------------------------- comparison (round trip)

def normalised(value):
    """Pack data with numbers as Decimals and null-valued keys dropped, for equality checks."""
    if isinstance(value, bool) or value is None:
        return value
    if isinstance(value, dict):
        return {str(k): normalised(v) for k, v in value.items() if v is not None}
    if isinstance(value, (list, tuple)):
        return [normalised(v) for v in value]
    if isinstance(value, (int, float, Decimal)):
        return Decimal(repr(value)) if isinstance(value, float) else Decimal(value)
    if isinstance(value, str):
        try:
            number = Decimal(value.strip())
            if number.is_finite() and value.strip() and value.strip()[0] in "+-.0123456789":
                return number
        except Exception:
            pass
    return value


__all__ = ["export_workbook", "export_pack", "import_workbook", "dump_pack", "normalised", "RulebookError", "Imported"]
