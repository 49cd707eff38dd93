"""Rule packs as data: validate a pack mapping, resolve ``extends``, compile rules.

Pure: packs arrive as dicts (``engine.packfiles`` reads YAML) and leave as
``Pack`` objects whose rules are type-checked and ready to run.

A province pack may ``extends: <parent id>`` and then
``override: {CODE: {weight, target, rule, ...}}``, ``add: [indicators]``
(each optionally ``after: CODE``), ``drop: [CODE, ...]`` and replace any
top-level setting (rounding, grades, levels, na_policy, ...).
"""

from __future__ import annotations

import copy
import difflib
from decimal import Decimal

from .errors import PackError, RuleDefinitionError
from .model import GradeBand, Indicator, InputSpec, Pack, Rounding, RoundingPolicy
from .numbers import HUNDRED, ROUNDING_MODES, rounding_mode, to_decimal
from .ruletypes import compile_rule

PACK_SCHEMA = "anju-pack/1"
TOP_KEYS = {"schema", "id", "name", "program", "framework", "region", "years", "version", "source", "extends",
            "rounding", "grades", "grade_bands", "na_policy", "na_scope", "overachievement", "total_weight", "levels",
            "indicators", "override", "add", "drop", "golden", "description", "evaluation_mode"}
INDICATOR_KEYS = {"code", "path", "weight", "target", "unit", "rule", "inputs", "note", "after", "standard"}
PROGRAMS = {"old_community_renovation": "城镇老旧小区改造", "shantytown_redevelopment": "城市棚户区改造",
            "rental_housing": "租赁住房保障", "elevator_retrofit": "既有住宅加装电梯", "multiple": "多个项目"}
DEFAULT_GRADES = {"优": 90, "良": 80, "中": 60, "差": 0}


def resolve(pack_id: str, lookup) -> dict:
    """Follow the ``extends`` chain; ``lookup(id)`` returns a raw pack mapping or None."""
    chain, current = [], lookup(pack_id)
    if current is None:
        raise PackError(f"找不到规则包“{pack_id}”")
    while True:
        chain.append(current)
        parent_id = current.get("extends")
        if not parent_id:
            break
        if any(p.get("id") == parent_id for p in chain):
            raise PackError(f"规则包“{pack_id}”的 extends 形成循环（{' → '.join(p['id'] for p in chain)} → {parent_id}）")
        parent = lookup(parent_id)
        if parent is None:
            raise PackError(f"规则包“{current.get('id')}”继承的规则包“{parent_id}”不存在")
        current = parent
    data = copy.deepcopy(chain[-1])
    for child in reversed(chain[:-1]):
        data = merge(data, child)
    return data


def merge(parent: dict, child: dict) -> dict:
    """Apply a child pack's settings and indicator changes to its resolved parent."""
    where = f"规则包“{child.get('id')}”"
    if child.get("indicators"):
        raise PackError(f"{where}使用了 extends，请用 override / add / drop 修改指标，而不是重写 indicators")
    data = copy.deepcopy(parent)
    for key, value in child.items():
        if key in ("override", "add", "drop", "golden", "indicators"):
            continue
        if key == "levels" and isinstance(value, dict):
            data.setdefault("levels", {}).update(value)
        else:
            data[key] = copy.deepcopy(value)
    data["golden"] = copy.deepcopy(child.get("golden") or [])
    indicators = data.get("indicators") or []
    codes = [str(i.get("code")) for i in indicators]
    for code in child.get("drop") or []:
        if str(code) not in codes:
            raise PackError(f"{where}的 drop 指定了父规则包中不存在的指标“{code}”")
        indicators = [i for i in indicators if str(i.get("code")) != str(code)]
        codes.remove(str(code))
    for code, change in (child.get("override") or {}).items():
        if str(code) not in codes:
            raise PackError(f"{where}的 override 指定了父规则包中不存在的指标“{code}”")
        if not isinstance(change, dict):
            raise PackError(f"{where}的 override.{code} 应为要修改的字段对照表")
        target = indicators[codes.index(str(code))]
        for key, value in change.items():
            if key not in INDICATOR_KEYS - {"code"}:
                raise PackError(f"{where}的 override.{code} 有未知字段“{key}”")
            target[key] = copy.deepcopy(value)
    for item in child.get("add") or []:
        item = copy.deepcopy(item)
        after = item.pop("after", None)
        if str(item.get("code")) in codes:
            raise PackError(f"{where}的 add 中指标“{item.get('code')}”与父规则包重复，修改请用 override")
        position = codes.index(str(after)) + 1 if after is not None and str(after) in codes else len(indicators)
        if after is not None and str(after) not in codes:
            raise PackError(f"{where}的 add 中 after: {after} 指向不存在的指标")
        indicators.insert(position, item)
        codes.insert(position, str(item.get("code")))
    data["indicators"] = indicators
    data.pop("extends", None)
    data["extends"] = child.get("extends")
    return data


def build(data: dict, origin: str = "", registry: dict | None = None) -> Pack:
    """Validate a resolved pack mapping and compile its rules. Errors name the pack and indicator."""
    pack_id = str(data.get("id") or "")
    where = f"规则包“{pack_id or origin}”"
    if not pack_id:
        raise PackError(f"{where}缺少 id")
    unknown = set(data) - TOP_KEYS
    if unknown:
        raise PackError(f"{where}有未知字段：{', '.join(sorted(unknown))}")
    if data.get("schema", PACK_SCHEMA) != PACK_SCHEMA:
        raise PackError(f"{where}的 schema 应为 {PACK_SCHEMA}")
    raw_indicators = data.get("indicators")
    if not isinstance(raw_indicators, list) or not raw_indicators:
        raise PackError(f"{where}没有指标（indicators）")
    overachievement = choice(data.get("overachievement", "cap"), ("cap", "reduce_by_deviation"), f"{where}的 overachievement")
    indicators, seen = [], set()
    for index, raw in enumerate(raw_indicators):
        if overachievement != "cap" and isinstance(raw, dict):
            raw = {**raw, "rule": with_overachievement(raw.get("rule"), overachievement)}   # the pack's default
        indicator = build_indicator(raw, index, where, registry)
        if indicator.code in seen:
            raise PackError(f"{where}中指标编码“{indicator.code}”重复")
        seen.add(indicator.code)
        indicators.append(indicator)
    return Pack(
        id=pack_id,
        name=str(data.get("name") or pack_id),
        program=str(data.get("program") or ""),
        framework=str(data.get("framework") or ""),
        region=str(data.get("region") or ""),
        years=str(data.get("years") or ""),
        version=str(data.get("version") or "0"),
        source=str(data.get("source") or ""),
        rounding=build_rounding(data.get("rounding") or {}, where),
        grades=build_grades(data.get("grades") or data.get("grade_bands") or DEFAULT_GRADES, where),
        indicators=indicators,
        na_policy=choice(data.get("na_policy", "full_credit"), ("full_credit", "redistribute"), f"{where}的 na_policy"),
        na_scope=choice(data.get("na_scope", "parent"), ("parent", "level"), f"{where}的 na_scope"),
        overachievement=overachievement,
        total_weight=number(data.get("total_weight", HUNDRED), f"{where}的 total_weight"),
        level_weights=build_level_weights(data.get("levels"), where),
        extends=data.get("extends"),
        origin=origin,
        golden=list(data.get("golden") or []),
        data=data,
    )


def build_indicator(raw: dict, index: int, where: str, registry) -> Indicator:
    if not isinstance(raw, dict) or raw.get("code") in (None, ""):
        raise PackError(f"{where}第{index + 1}个指标缺少编码（code）")
    code = str(raw["code"])
    here = f"{where}指标{code}："
    unknown = set(raw) - INDICATOR_KEYS
    if unknown:
        raise PackError(f"{here}有未知字段：{', '.join(sorted(unknown))}")
    path = raw.get("path")
    if isinstance(path, str):
        path = [path]
    if not isinstance(path, list) or not path or not all(isinstance(p, str) and p for p in path):
        raise PackError(f"{here}path 应为指标层级名称列表，如 [产出指标, 数量指标, 改造户数]")
    weight = number(raw.get("weight"), f"{here}分值（weight）")
    if weight < 0:
        raise PackError(f"{here}分值不能为负数")
    try:
        compiled = compile_rule(raw.get("rule"), weight, here, registry)
    except RuleDefinitionError as exc:
        raise PackError(str(exc)) from None
    indicator = Indicator(code=code, path=tuple(path), weight=weight, rule=raw.get("rule"),
                          target=str(raw.get("target") or ""), unit=str(raw.get("unit") or ""),
                          input_labels=raw.get("inputs") or {}, note=str(raw.get("note") or ""), compiled=compiled)
    compiled.specs = [relabel(spec, indicator, here) for spec in compiled.specs]
    for key, _, _, sub in compiled.parts:
        # composite parts run with their own specs: give them the pack's labels too
        sub.specs = [InputSpec(**{**spec.__dict__, "part": None}) for spec in compiled.specs if spec.part == key]
    return indicator


def relabel(spec: InputSpec, indicator: Indicator, here: str) -> InputSpec:
    """Apply the pack's per-input labels, units and defaults (``inputs: {actual: {label: 实际改造户数}}``)."""
    overrides = indicator.input_labels
    if not isinstance(overrides, dict):
        raise PackError(f"{here}inputs 应为“输入项: {{label, unit, default}}”对照表")
    key = f"{spec.part}.{spec.key}" if spec.part else spec.key
    change = overrides.get(key)
    if change is None and spec.part and isinstance(overrides.get(spec.part), dict):
        change = overrides[spec.part].get(spec.key)
    if change is None:
        unit = indicator.unit if spec.key in ("actual", "target") and not spec.unit else spec.unit
        return InputSpec(**{**spec.__dict__, "unit": unit})
    if isinstance(change, str):
        change = {"label": change}
    if not isinstance(change, dict) or set(change) - {"label", "unit", "default"}:
        raise PackError(f"{here}inputs.{key} 只能设置 label、unit、default")
    fields = dict(spec.__dict__)
    fields.update({k: v for k, v in change.items() if k in ("label", "unit")})
    if "default" in change:
        fields["default"] = change["default"]
    if not fields["unit"] and spec.key in ("actual", "target"):
        fields["unit"] = indicator.unit
    return InputSpec(**fields)


ROUNDING_KEYS = {"indicator": {"places", "mode"}, "total": {"places", "mode", "method", "order"}, "rate": {"places", "mode"}}
# DOMAIN §4 writes the total's summing order as ``order``; ``method`` is the same setting.
TOTAL_METHODS = {"sum_of_indicator_scores": "sum_of_indicator_scores", "round_then_sum": "sum_of_indicator_scores",
                 "sum_of_rounded": "sum_of_indicator_scores", "round_raw_sum": "round_raw_sum",
                 "sum_then_round": "round_raw_sum", "raw_sum": "round_raw_sum"}


def build_rounding(raw, where: str) -> RoundingPolicy:
    raw = {} if raw is None else raw
    if not isinstance(raw, dict):
        raise PackError(f"{where}的 rounding 应为对照表，如 {{indicator: {{places: 2, mode: ROUND_HALF_UP}}}}")
    for label, part in raw.items():
        if label not in ROUNDING_KEYS:
            raise PackError(f"{where}的 rounding 中有未知项“{label}”{did_you_mean(label, ROUNDING_KEYS)}；可用：indicator、total、rate")
        if part is not None and not isinstance(part, dict):
            raise PackError(f"{where}的 rounding.{label} 应为对照表，如 {{places: 2, mode: ROUND_HALF_UP}}")
        for key in part or {}:
            if key not in ROUNDING_KEYS[label]:
                raise PackError(f"{where}的 rounding.{label} 中有未知项“{key}”{did_you_mean(key, ROUNDING_KEYS[label])}；"
                                f"可用：{'、'.join(sorted(ROUNDING_KEYS[label]))}")

    def one(part: dict, default_places: int, default_mode: str, label: str) -> Rounding:
        part = part or {}
        places = part.get("places", default_places)
        mode_name = part.get("mode", default_mode)
        if not isinstance(mode_name, str):
            raise PackError(f"{where}的 rounding.{label}.mode 应为舍入方式名称，如 ROUND_HALF_UP 或 ROUND_DOWN")
        try:
            mode = rounding_mode(mode_name)
        except KeyError:
            raise PackError(f"{where}的 rounding.{label}.mode“{mode_name}”无效，可选：{', '.join(ROUNDING_MODES)}") from None
        if isinstance(places, str) and places.strip().isdecimal():
            places = int(places.strip())       # golden files write every number as a string
        if not isinstance(places, int) or isinstance(places, bool) or not 0 <= places <= 6:
            raise PackError(f"{where}的 rounding.{label}.places 应为0到6的整数（收到“{places}”）")
        return Rounding(places, mode)

    indicator_raw = raw.get("indicator") or {}
    indicator = one(indicator_raw, 2, "ROUND_HALF_UP", "indicator")
    total_raw = raw.get("total") or {}
    total = one({"places": total_raw.get("places", indicator.places), "mode": total_raw.get("mode", "ROUND_HALF_UP")}, 2,
                "ROUND_HALF_UP", "total")
    methods = {str(total_raw[k]) for k in ("method", "order") if total_raw.get(k) is not None}
    if any(m not in TOTAL_METHODS for m in methods):
        raise PackError(f"{where}的 rounding.total.method 应为 sum_of_indicator_scores（先舍入各项再相加）"
                        f"或 round_raw_sum（未舍入得分相加后再舍入），收到“{'、'.join(sorted(methods))}”")
    chosen = {TOTAL_METHODS[m] for m in methods}
    if len(chosen) > 1:
        raise PackError(f"{where}的 rounding.total 中 method 与 order 互相矛盾")
    method = chosen.pop() if chosen else "sum_of_indicator_scores"
    rate_raw = raw.get("rate") or {}
    rate = one({"places": rate_raw.get("places", 2), "mode": rate_raw.get("mode", indicator_raw.get("mode", "ROUND_HALF_UP"))},
               2, "ROUND_HALF_UP", "rate")
    return RoundingPolicy(indicator, total, rate, method)


def build_level_weights(raw, where: str) -> dict:
    """``levels: {项目决策: 15, 项目产出/数量: 20}`` -> {("项目决策",): 15, ("项目产出", "数量"): 20}."""
    if raw in (None, {}):
        return {}
    if not isinstance(raw, dict):
        raise PackError(f"{where}的一级指标权重（levels）应为“指标层级: 分值”的对照表，如 {{项目决策: 15}}")
    return {tuple(str(k).split("/")): number(v, f"{where}的 levels.{k}") for k, v in raw.items()}


def did_you_mean(word, choices) -> str:
    close = difflib.get_close_matches(str(word), list(choices), n=1, cutoff=0.6)
    return f"（是否应为 {close[0]}？）" if close else ""


def build_grades(raw, where: str) -> list:
    """``{优: 90, 良: 80, 中: 60, 差: 0}`` (inclusive lower bounds) or a list of {label, min}."""
    if isinstance(raw, dict):
        items = list(raw.items())
    elif isinstance(raw, list):
        items = [(g.get("label"), g.get("min")) for g in raw if isinstance(g, dict)]
    else:
        raise PackError(f"{where}的 grades 应为“等级: 下限”对照表")
    bands = [GradeBand(str(label), number(minimum, f"{where}的等级“{label}”下限")) for label, minimum in items]
    if not bands or min(b.minimum for b in bands) != 0:
        raise PackError(f"{where}的等级划分须覆盖0分（最低一档下限应为0）")
    return sorted(bands, key=lambda b: b.minimum, reverse=True)


def number(value, what: str) -> Decimal:
    if value is None:
        raise PackError(f"{what}缺失")
    try:
        return to_decimal(value, what=what)
    except Exception as exc:   # InputError carries the Chinese sentence
        raise PackError(str(exc)) from None


def with_overachievement(rule, policy: str):
    """A ratio_capped rule (also as a composite part) without its own overachieve_policy takes the pack's."""
    if not isinstance(rule, dict):
        return rule
    if rule.get("type") == "ratio_capped" and "overachieve_policy" not in rule:
        return {**rule, "overachieve_policy": policy}
    if rule.get("type") == "composite" and isinstance(rule.get("parts"), list):
        return {**rule, "parts": [{**part, "rule": with_overachievement(part.get("rule"), policy)} if isinstance(part, dict)
                                  else part for part in rule["parts"]]}
    return rule


def choice(value, allowed: tuple, what: str) -> str:
    if value not in allowed:
        raise PackError(f"{what}“{value}”无效，可选：{'、'.join(allowed)}")
    return value
