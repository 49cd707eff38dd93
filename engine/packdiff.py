"""Differences between two rule packs (``anju rules diff A B``), in Chinese.

Compares resolved packs: pack settings, indicators added and removed, and for
indicators in both the weight, names, target, unit, rule type, each rule
parameter (typed, so an omitted default equals the default written out),
composite parts, input labels and the generated 评分标准.

``as_extension`` goes the other way: given a parent and a resolved pack, it
writes the smallest child pack (``extends`` + ``override`` / ``add`` /
``drop``) that resolves to the same pack, or None when that cannot be said
with those three verbs (e.g. indicators reordered).
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from decimal import Decimal

from .model import Pack
from .numbers import MODE_NAMES_ZH, fmt
from .packs import PROGRAMS, merge
from .ruletypes import REGISTRY, CompiledRule
from .standards import describe

ADDED, REMOVED, CHANGED, SETTING = "新增指标", "删除指标", "修改指标", "规则包设置"

SETTING_LABELS = {
    "id": "规则包编号", "name": "规则包名称", "program": "项目类型", "framework": "评价框架", "region": "地区", "years": "适用年度",
    "version": "版本", "source": "依据与来源", "description": "规则包说明", "evaluation_mode": "评价方式", "extends": "继承自",
    "total_weight": "满分", "na_policy": "无任务指标处理", "na_scope": "无任务指标分值分配范围", "overachievement": "超额完成处理", "schema": "格式版本",
    "rounding.indicator.places": "指标得分保留小数位数", "rounding.indicator.mode": "指标得分舍入方式",
    "rounding.total.method": "总分计算方式", "rounding.total.places": "总分保留小数位数", "rounding.total.mode": "总分舍入方式",
    "rounding.rate.places": "得分率保留小数位数", "rounding.rate.mode": "得分率舍入方式",
}


@dataclass(frozen=True)
class Change:
    kind: str            # ADDED | REMOVED | CHANGED | SETTING
    code: str | None     # indicator code (None for settings)
    name: str            # indicator name or setting label
    what: str            # 分值 / 目标值 / 规则类型 / 参数“…” / 评分标准 …
    old: str
    new: str


# --------------------------------------------------------------------------- value display

def norm(value):
    """Numbers as Decimals (so '15' == 15 == 15.0), nulls dropped, tuples as lists."""
    if isinstance(value, bool) or value is None:
        return value
    if isinstance(value, dict):
        return {str(k): norm(v) for k, v in value.items() if v is not None}
    if isinstance(value, (list, tuple)):
        return [norm(v) for v in value]
    if isinstance(value, (int, Decimal)):
        return Decimal(value)
    if isinstance(value, float):
        return Decimal(repr(value))
    if isinstance(value, str):
        text = value.strip()
        if text and text[0] in "+-.0123456789":
            try:
                number = Decimal(text)
                if number.is_finite():
                    return number
            except Exception:
                pass
    return value


def show(value) -> str:
    if value is None:
        return "（无）"
    if isinstance(value, bool):
        return "是" if value else "否"
    if isinstance(value, Decimal):
        return fmt(value)
    if isinstance(value, (int, float)):
        return fmt(Decimal(repr(value)) if isinstance(value, float) else Decimal(value))
    if isinstance(value, dict):
        if "transform" in value:
            rest = "，".join(f"{k}={show(v)}" for k, v in value.items() if k != "transform" and v is not None)
            return value["transform"] + (f"（{rest}）" if rest else "")
        return "、".join(f"{k}={show(v)}" for k, v in value.items())
    if isinstance(value, (list, tuple)):
        shown = []
        for item in value:
            if isinstance(item, dict):
                label = item.get("label") or item.get("key") or ""
                numbers = [show(item[f]) for f in ("points", "deduct_pct", "pct_of_weight") if item.get(f) is not None]
                if "min" in item:
                    label = f"≥{show(item['min'])}%" if item["min"] is not None else "最低档"
                shown.append(f"{label}={numbers[0]}" if numbers else str(label))
            else:
                shown.append(show(item))
        return "；".join(shown)
    return str(value)


# --------------------------------------------------------------------------- diff

def diff_packs(a: Pack, b: Pack, registry: dict | None = None) -> list[Change]:
    registry = REGISTRY if registry is None else registry
    changes = setting_changes(a, b)
    a_codes = {i.code: i for i in a.indicators}
    b_codes = {i.code: i for i in b.indicators}
    for indicator in b.indicators:
        if indicator.code not in a_codes:
            rule = registry.get(indicator.compiled.rule_type.name)
            changes.append(Change(ADDED, indicator.code, indicator.name, "指标",
                                  "（无）", f"{'/'.join(indicator.path)}，分值{fmt(indicator.weight)}，"
                                           f"规则类型“{rule.label if rule else indicator.compiled.rule_type.name}”；"
                                           f"评分标准：{describe(indicator, registry)}"))
    for indicator in a.indicators:
        if indicator.code not in b_codes:
            changes.append(Change(REMOVED, indicator.code, indicator.name, "指标",
                                  f"{'/'.join(indicator.path)}，分值{fmt(indicator.weight)}", "（删除）"))
    raw_a = {str(i.get("code")): i for i in a.data.get("indicators") or []}
    raw_b = {str(i.get("code")): i for i in b.data.get("indicators") or []}
    for indicator in a.indicators:
        other = b_codes.get(indicator.code)
        if other is not None:
            changes += indicator_changes(indicator, other, registry, raw_a.get(indicator.code, {}), raw_b.get(indicator.code, {}))
    return changes


def setting_changes(a: Pack, b: Pack) -> list[Change]:
    flat_a, flat_b = flat_settings(a), flat_settings(b)
    changes = []
    for key in list(flat_a) + [k for k in flat_b if k not in flat_a]:
        old, new = flat_a.get(key), flat_b.get(key)
        if norm(old) != norm(new):
            changes.append(Change(SETTING, None, setting_label(key), "设置", show_setting(key, old), show_setting(key, new)))
    if len(a.golden or []) != len(b.golden or []):
        changes.append(Change(SETTING, None, "黄金案例", "设置", f"{len(a.golden or [])}个", f"{len(b.golden or [])}个"))
    return changes


DESCRIPTIVE = ("id", "name", "program", "framework", "region", "years", "version", "evaluation_mode", "source", "description", "extends")


def flat_settings(pack: Pack) -> dict:
    """Settings as the engine applies them (defaults filled in), so an omitted default is no difference."""
    flat = {key: pack.data.get(key) for key in DESCRIPTIVE}
    flat.update({"total_weight": pack.total_weight, "na_policy": pack.na_policy, "na_scope": pack.na_scope,
                 "overachievement": pack.overachievement})
    rounding = pack.rounding
    flat.update({"rounding.indicator.places": rounding.indicator.places, "rounding.indicator.mode": rounding.indicator.mode,
                 "rounding.total.method": rounding.total_method, "rounding.total.places": rounding.total.places,
                 "rounding.total.mode": rounding.total.mode, "rounding.rate.places": rounding.rate.places,
                 "rounding.rate.mode": rounding.rate.mode})
    for band in pack.grades:
        flat[f"grades.{band.label}"] = band.minimum
    for level, weight in pack.level_weights.items():
        flat[f"levels.{'/'.join(level)}"] = weight
    return flat


def show_setting(key: str, value) -> str:
    if value is None:
        return "（无）"
    choices = {"program": PROGRAMS, "na_policy": {"full_credit": "按满分计", "redistribute": "分值按比例分配给同级其他指标"},
               "na_scope": {"parent": "同一上级指标下的其他指标", "level": "同一一级指标下的其他指标"},
               "overachievement": {"cap": "按满分封顶", "reduce_by_deviation": "按偏离度扣分"},
               "rounding.total.method": {"sum_of_indicator_scores": "各指标得分（舍入后）相加", "round_raw_sum": "原始得分合计后再舍入"}}
    if key.endswith(".mode"):
        return MODE_NAMES_ZH.get(value, str(value))
    return choices.get(key, {}).get(value, show(value))


def setting_label(key: str) -> str:
    if key in SETTING_LABELS:
        return SETTING_LABELS[key]
    if key.startswith("grades."):
        return f"评价等级“{key[7:]}”下限"
    if key.startswith("levels."):
        return f"指标层级“{key[7:]}”分值"
    return key


def indicator_changes(a, b, registry: dict, raw_a: dict | None = None, raw_b: dict | None = None) -> list[Change]:
    changes = []

    def add(what, old, new):
        changes.append(Change(CHANGED, a.code, b.name, what, old, new))

    if tuple(a.path) != tuple(b.path):
        add("指标名称/层级", "/".join(a.path), "/".join(b.path))
    if a.weight != b.weight:
        add("分值", fmt(a.weight), fmt(b.weight))
    for what, old, new in (("目标值", a.target, b.target), ("单位", a.unit, b.unit), ("备注", a.note, b.note),
                           ("评分标准原文", (raw_a or {}).get("standard"), (raw_b or {}).get("standard"))):
        if (old or "") != (new or ""):
            add(what, old or "（无）", new or "（无）")
    changes_in_rule = rule_changes(a.compiled, b.compiled, registry, "")
    for what, old, new in changes_in_rule:
        add(what, old, new)
    labels_a = {(f"{s.part}.{s.key}" if s.part else s.key): s.label for s in a.compiled.specs}
    labels_b = {(f"{s.part}.{s.key}" if s.part else s.key): s.label for s in b.compiled.specs}
    for key in labels_a:
        if key in labels_b and labels_a[key] != labels_b[key]:
            add(f"输入项“{key}”名称", labels_a[key], labels_b[key])
    old_standard, new_standard = describe(a, registry), describe(b, registry)
    if old_standard != new_standard:
        add("评分标准", old_standard, new_standard)
    return changes


def rule_changes(a: CompiledRule, b: CompiledRule, registry: dict, prefix: str) -> list[tuple]:
    if a.rule_type.name != b.rule_type.name:
        return [(f"{prefix}规则类型", label_of(a, registry), label_of(b, registry))]
    changes = []
    params = a.rule_type.params
    for name, param in params.items():
        if param.kind == "parts":
            continue
        old, new = a.params.get(name), b.params.get(name)
        if norm(old) != norm(new):
            changes.append((f"{prefix}参数“{param.label or name}”", show(old), show(new)))
    if a.rule_type.name == "composite":
        parts_a = {key: (label, weight, rule) for key, label, weight, rule in a.parts}
        parts_b = {key: (label, weight, rule) for key, label, weight, rule in b.parts}
        for key, (label, weight, rule) in parts_a.items():
            if key not in parts_b:
                changes.append((f"{prefix}分项“{label}”", f"分值{show(weight)}，{label_of(rule, registry)}", "（删除）"))
                continue
            label_b, weight_b, rule_b = parts_b[key]
            here = f"{prefix}分项“{label_b}”的"
            if label != label_b:
                changes.append((f"{prefix}分项“{key}”名称", label, label_b))
            if norm(weight) != norm(weight_b):
                changes.append((f"{here}分值", show(weight), show(weight_b)))
            changes += rule_changes(rule, rule_b, registry, here)
        for key, (label, weight, rule) in parts_b.items():
            if key not in parts_a:
                changes.append((f"{prefix}分项“{label}”", "（无）", f"分值{show(weight)}，{label_of(rule, registry)}"))
    return changes


def label_of(compiled: CompiledRule, registry: dict) -> str:
    rule_type = registry.get(compiled.rule_type.name) or compiled.rule_type
    return rule_type.label


# --------------------------------------------------------------------------- output

def format_changes(changes: list[Change], a: Pack, b: Pack) -> str:
    lines = [f"比较规则包：{a.id}（{a.name}） → {b.id}（{b.name}）"]
    if not changes:
        lines.append("两个规则包的设置和指标完全相同。")
        return "\n".join(lines)
    settings = [c for c in changes if c.kind == SETTING]
    if settings:
        lines.append("规则包设置：")
        lines += [f"  {c.name}：{c.old} → {c.new}" for c in settings]
    added = [c for c in changes if c.kind == ADDED]
    if added:
        lines.append("新增指标：")
        lines += [f"  + {c.code} {c.name}：{c.new}" for c in added]
    removed = [c for c in changes if c.kind == REMOVED]
    if removed:
        lines.append("删除指标：")
        lines += [f"  - {c.code} {c.name}：{c.old}" for c in removed]
    changed = [c for c in changes if c.kind == CHANGED]
    if changed:
        lines.append("修改的指标：")
        current = None
        for c in changed:
            if c.code != current:
                lines.append(f"  {c.code} {c.name}")
                current = c.code
            if c.what == "评分标准":
                lines.append(f"    评分标准：\n      原：{c.old}\n      新：{c.new}")
            else:
                lines.append(f"    {c.what}：{c.old} → {c.new}")
    codes = {c.code for c in changes if c.code}
    lines.append(f"共 {len(changes)} 处差异（涉及 {len(codes)} 个指标）：新增 {len(added)} 个指标，删除 {len(removed)} 个指标，"
                 f"修改 {len({c.code for c in changed})} 个指标，规则包设置 {len(settings)} 项。")
    return "\n".join(lines)


def diff_workbook(changes: list[Change], a: Pack, b: Pack):
    from openpyxl import Workbook
    from openpyxl.styles import Alignment, Font, PatternFill

    wb = Workbook()
    ws = wb.active
    ws.title = "差异"
    ws.append([f"比较规则包：{a.id}（{a.name}） → {b.id}（{b.name}）"])
    ws["A1"].font = Font(bold=True, size=12)
    ws.append(["类别", "编码", "指标/设置", "项目", f"原（{a.id}）", f"新（{b.id}）"])
    fill = PatternFill("solid", fgColor="1F4E78")
    for cell in ws[2]:
        cell.font, cell.fill = Font(bold=True, color="FFFFFF"), fill
    fills = {ADDED: "E2EFDA", REMOVED: "FCE4D6", CHANGED: "FFFFFF", SETTING: "DDEBF7"}
    for change in changes:
        ws.append([change.kind, change.code, change.name, change.what, change.old, change.new])
        for cell in ws[ws.max_row]:
            cell.alignment = Alignment(wrap_text=True, vertical="top")
            cell.fill = PatternFill("solid", fgColor=fills[change.kind])
    if not changes:
        ws.append(["（无差异）"])
    for column, width in zip("ABCDEF", (10, 8, 24, 26, 50, 50)):
        ws.column_dimensions[column].width = width
    ws.freeze_panes = "A3"
    return wb


# --------------------------------------------------------------------------- child packs

CHILD_ORDER = ["schema", "id", "name", "extends", "program", "framework", "region", "years", "version", "evaluation_mode",
               "source", "description"]


def as_extension(parent: dict, resolved: dict) -> dict | None:
    """The smallest ``extends`` pack that resolves to ``resolved`` on top of ``parent`` (both resolved), or None."""
    parent_id = resolved.get("extends") or parent.get("id")
    child = {"id": resolved.get("id"), "extends": parent_id}
    for key, value in resolved.items():
        if key in ("indicators", "golden", "extends", "id", "override", "add", "drop"):
            continue
        if key == "levels" and isinstance(value, dict) and isinstance(parent.get("levels"), dict):
            if any(k not in value for k in parent["levels"]):
                return None
            changed = {k: v for k, v in value.items() if norm(parent["levels"].get(k)) != norm(v)}
            if changed:
                child["levels"] = changed
            continue
        if norm(parent.get(key)) != norm(value):
            child[key] = copy.deepcopy(value)
    for key in parent:
        if key not in resolved and key not in ("indicators", "golden", "extends", "override", "add", "drop") and parent[key] is not None:
            return None
    parent_list = parent.get("indicators") or []
    resolved_list = resolved.get("indicators") or []
    parent_codes = [str(i.get("code")) for i in parent_list]
    codes = [str(i.get("code")) for i in resolved_list]
    kept = [c for c in parent_codes if c in codes]
    if [c for c in codes if c in parent_codes] != kept:
        return None
    drop = [c for c in parent_codes if c not in codes]
    override, add = {}, []
    for index, item in enumerate(resolved_list):
        code = str(item.get("code"))
        if code in parent_codes:
            before = parent_list[parent_codes.index(code)]
            change = {k: copy.deepcopy(v) for k, v in item.items() if k != "code" and norm(before.get(k)) != norm(v)}
            for k in before:
                if k not in item and k != "code" and before[k] is not None:
                    change[k] = None
            if change:
                override[code] = change
        else:
            if index == 0:
                return None
            add.append({**copy.deepcopy(item), "after": codes[index - 1]})
    if override:
        child["override"] = override
    if add:
        child["add"] = add
    if drop:
        child["drop"] = drop
    if resolved.get("golden"):
        child["golden"] = copy.deepcopy(resolved["golden"])
    ordered = {k: child[k] for k in CHILD_ORDER if k in child}
    ordered.update({k: v for k, v in child.items() if k not in ordered})
    try:
        merged = merge(parent, ordered)
    except Exception:
        return None
    if norm(merged) != norm(resolved):
        return None
    return ordered
