"""Auditing a hand-scored evaluation against its own rules (``anju audit``).

Most evaluations are still scored by hand. This module recomputes every
indicator with the rule pack and compares it with what the evaluator typed
(the *claims*): indicator scores, subtotals, total and grade, a second
evaluation's scores (self-evaluation next to a verified one), the facts
themselves (rates above 100%, funds received above budget, parts that do not
add up) and the pack (maximum above weight, forward formula on a ≤ target).

Where a claimed score differs from the computed one, *explainers* search for
what reproduces it: another rounding mode of the raw score (truncation instead
of half-up), another threshold (``full_at``: the indicator's target value or
80/85/90/95/100), the forward instead of the reverse formula, the rule's points
without the cap at the weight, another percentage-point rounding, or another
value of the scored input. The finding then says "申报值X可由…复现".

Pure: ``audit(pack, inputs, claims)`` takes data and returns findings. The
workbook adapter (``audit_file``) reads a workbook, locates the cells of each
finding and writes the 复核 sheet.

Every finding kind has one small detector in ``DETECTORS`` (registry order is
report order within a severity); the expensive analysis every detector shares
(evaluation, explanations, pack checks) is computed once, lazily, in ``Context``.
"""

from __future__ import annotations

import copy
import re
from dataclasses import dataclass, field
from decimal import ROUND_DOWN, ROUND_HALF_EVEN, ROUND_HALF_UP, ROUND_UP, Decimal
from functools import cached_property
from typing import Callable

from .errors import AnjuError, EvaluationError, InputError
from .model import SCORED, EvaluationResult, Indicator, Pack
from .numbers import HUNDRED, MODE_NAMES_ZH, ZERO, fmt, quantize, safe_div, to_decimal
from .workbook.fill import fill_workbook  # noqa: F401  (re-exported: scripts and tests fill examples through audit)

AUDIT_SCHEMA = "anju-audit/1"

ERROR, WARNING, INFO = "error", "warning", "info"
SEVERITIES = (ERROR, WARNING, INFO)
SEVERITY_LABELS = {ERROR: "错误", WARNING: "警告", INFO: "提示"}

# Grade words seen in reports for the same band (seed 002 "良好", seed 004 "优秀").
GRADE_SYNONYMS = {"优秀": "优", "良好": "良", "中等": "中", "合格": "中", "一般": "中", "较差": "差", "不合格": "差"}

# Rates that may legitimately exceed 100% (over-completion of a plan).
OVERCOMPLETION_WORDS = ("完成率", "开工率", "竣工率", "增长", "完成值", "计划完成")

COMMON_THRESHOLDS = tuple(Decimal(v) for v in ("80", "85", "90", "95", "100"))
ALT_MODES = (ROUND_DOWN, ROUND_HALF_UP, ROUND_HALF_EVEN, ROUND_UP)


# --------------------------------------------------------------------------- records

@dataclass
class Claims:
    """What the evaluator(s) typed. Scores are Decimals; a code mapped to None is a blank claimed cell."""

    scores: dict = field(default_factory=dict)      # code -> Decimal | None
    total: Decimal | None = None
    grade: str | None = None
    levels: dict = field(default_factory=dict)      # 一级指标名称 -> Decimal (claimed subtotal)
    scores2: dict = field(default_factory=dict)     # the second evaluation (e.g. 自评) per code
    total2: Decimal | None = None
    grade2: str | None = None
    label: str = "申报"                             # who gave the primary claims, e.g. 第三方评价
    label2: str = "自评"                            # who gave the second claims
    breakdowns: list = field(default_factory=list)  # [{label, total, parts: {name: value}, refs?}]

    def any(self) -> bool:
        return bool(self.scores or self.total is not None or self.grade or self.levels or self.scores2
                    or self.total2 is not None or self.grade2 or self.breakdowns)


@dataclass
class Finding:
    kind: str                       # stable English id (a key of KINDS)
    severity: str                   # error | warning | info
    message: str                    # one Chinese sentence (or a few) for a 复核意见
    codes: tuple = ()               # indicator codes involved
    refs: tuple = ()                # (code, key) pairs; the adapter turns them into cells
    cells: tuple = ()               # "工作表!B5" (filled by the workbook adapter)
    claimed: str | None = None
    computed: str | None = None

    @property
    def severity_label(self) -> str:
        return SEVERITY_LABELS[self.severity]

    def to_dict(self) -> dict:
        return {"kind": self.kind, "kind_label": KINDS[self.kind].label if self.kind in KINDS else self.kind,
                "severity": self.severity, "severity_label": self.severity_label, "codes": list(self.codes),
                "cells": list(self.cells), "refs": [list(r) for r in self.refs], "claimed": self.claimed,
                "computed": self.computed, "message": self.message}


@dataclass
class AuditReport:
    source: str
    pack_id: str
    findings: list
    result: EvaluationResult | None = None
    written: str | None = None      # where the 复核 sheet was written, if it was
    notes: list = field(default_factory=list)

    def counts(self) -> dict:
        counts = {s: 0 for s in SEVERITIES}
        for finding in self.findings:
            counts[finding.severity] += 1
        return counts

    def to_dict(self) -> dict:
        return {"schema": AUDIT_SCHEMA, "source": self.source, "pack": self.pack_id,
                "total": fixed(self.result.total, self.result.pack.rounding.total.places) if self.result else None,
                "grade": self.result.grade if self.result else None,
                "counts": self.counts(), "findings": [f.to_dict() for f in self.findings],
                "written": self.written, "notes": list(self.notes)}


@dataclass(frozen=True)
class Kind:
    name: str
    severity: str
    label: str                      # Chinese name of the finding kind (复核 sheet column 类型)
    description: str


KINDS: dict[str, Kind] = {}


def _kind(name, severity, label, description):
    KINDS[name] = Kind(name, severity, label, description)


# Order here is report order within one severity.
_kind("input_error", ERROR, "输入数据无法复算", "输入数据有误，无法按规则复算（只做不依赖复算的检查）")
_kind("formula_tampered", ERROR, "公式被修改", "实时公式模板中得分等单元格的公式与规则包编译出的公式不同")
_kind("score_above_weight", ERROR, "得分超过分值", "申报得分大于该指标分值")
_kind("threshold_mismatch", ERROR, "满分线与评分标准不符", "申报得分须换用另一满分线（阈值）才能复现")
_kind("formula_direction", ERROR, "正向/反向公式用错", "申报得分按相反方向的公式（正向比例/反向成本）才能复现")
_kind("implied_input", ERROR, "得分与填报事实不符", "申报得分对应的完成值与填报的事实不同")
_kind("score_mismatch", ERROR, "得分与复算不符", "申报得分与按规则复算的得分不同，且找不到可复现的口径")
_kind("level_arithmetic", ERROR, "小计与指标得分合计不符", "申报的一级指标小计不等于其下各指标申报得分之和")
_kind("total_arithmetic", ERROR, "总分与指标得分合计不符", "申报总分不等于各指标申报得分之和")
_kind("total_mismatch", ERROR, "总分与复算不符", "申报总分与按规则复算的总分不同")
_kind("grade_mismatch", ERROR, "等级与总分不符", "申报等级与申报总分按等级划分应得的等级不同")
_kind("parts_sum_mismatch", ERROR, "分项与合计不符", "分项数之和不等于所报合计数")
_kind("rounding_mode", WARNING, "舍入方式与规则包不符", "申报得分须用另一舍入方式（如截尾）才能复现")
_kind("rule_parameter_mismatch", WARNING, "计分口径与规则包不符", "申报得分须换用另一计分参数（如百分点取整）才能复现")
_kind("score_missing", WARNING, "得分空白", "其他指标已填写申报得分，此指标为空")
_kind("rate_above_100", WARNING, "比率超过100%", "填报的比率类数据超过100%")
_kind("funds_received_above_budget", WARNING, "到位资金大于预算", "资金到位数大于预算数，到位率不可能是100%")
_kind("executed_above_funds", WARNING, "执行数大于可用资金", "执行数大于预算数或到位数")
_kind("self_vs_verified_gap", WARNING, "自评与核定不一致", "第二份评价（如自评）的得分、总分或等级与核定结果不同")
_kind("rule_maximum_above_weight", WARNING, "评分标准最高分超过分值", "规则可给出超过指标分值的分数（来自规则包检查）")
_kind("forward_formula_on_at_most_target", WARNING, "越低越好的指标按正向计分", "目标值为≤（成本类）却按正向比例计分（来自规则包检查）")
_kind("checklist_below_weight", WARNING, "要点分值合计小于分值", "各要点分值合计小于指标分值，满分不可达（来自规则包检查）")
_kind("pack_weights", WARNING, "分值合计不符", "规则包各指标分值合计与满分或一级指标分值不一致（来自规则包检查）")
_kind("pack_check", WARNING, "规则包检查", "规则包检查（含插件检查）的其他发现")
_kind("grade_wording", INFO, "等级用词不同", "申报等级用词与规则包不同（如“优秀”与“优”），按同一等级处理")
_kind("mixed_pp_rounding", INFO, "百分点取整口径不一", "同一规则包内“每低N个百分点扣分”的取整口径不一致")


# --------------------------------------------------------------------------- small helpers

def level_names(pack: Pack) -> list:
    """The 一级指标 names in indicator order (the order ``out_level_<n>`` numbers them)."""
    names = []
    for indicator in pack.indicators:
        if indicator.path[0] not in names:
            names.append(indicator.path[0])
    return names


def unit_of(places: int) -> Decimal:
    return Decimal(1).scaleb(-places)


def same(a: Decimal, b: Decimal, places: int) -> bool:
    """Equal at the display precision (half a unit of the last place)."""
    return abs(a - b) < unit_of(places) / 2


def mode_name(mode: str) -> str:
    return MODE_NAMES_ZH.get(mode, str(mode))


def name_of(indicator: Indicator) -> str:
    return f"指标{indicator.code}（{indicator.name}）"


def fixed(value: Decimal, places: int) -> str:
    """A total as printed in reports: 88.80, not 88.8."""
    return format(quantize(value, places, ROUND_HALF_UP), "f")


def points(value: Decimal) -> str:
    return f"{fmt(value)}分"


def normal_grade(grade: str | None, pack: Pack) -> str | None:
    if grade is None:
        return None
    text = str(grade).strip()
    labels = {band.label for band in pack.grades}
    if text in labels:
        return text
    mapped = GRADE_SYNONYMS.get(text)
    if mapped in labels:
        return mapped
    for label in labels:   # a pack whose labels are the long words ("优秀")
        if GRADE_SYNONYMS.get(label) == text:
            return label
    return text


def first_number(text: str) -> Decimal | None:
    match = re.search(r"\d+(?:\.\d+)?", text or "")
    return Decimal(match.group()) if match else None


def as_decimal(value, what: str) -> Decimal | None:
    if value is None or (isinstance(value, str) and value.strip() == ""):
        return None
    return to_decimal(value, what=what, allow_percent=True)


# --------------------------------------------------------------------------- explanations

@dataclass
class Change:
    kind: str          # threshold | direction | parameter | uncapped
    text: str          # Chinese: what differs from the pack's rule


@dataclass
class Reproduction:
    changes: list      # [Change]
    mode: str          # rounding mode that reproduces the claimed value
    raw: Decimal
    score: Decimal
    text: str          # the variant rule's arithmetic


@dataclass
class Explanation:
    code: str
    claimed: Decimal
    computed: Decimal
    raw: Decimal
    reproductions: list             # best (simplest) reproductions, possibly empty
    implied: str | None = None      # implied-input sentence when no rule variant reproduces the claim
    implied_key: str = "inputs"     # the input it concerns ("value", "social_share.value", ...)

    @property
    def changes(self) -> list:
        return self.reproductions[0].changes if self.reproductions else []

    @property
    def change_kinds(self) -> set:
        return {c.kind for c in self.changes}

    def mode_changed(self, pack_mode: str) -> bool:
        return bool(self.reproductions) and all(r.mode != pack_mode for r in self.reproductions)


def rule_variants(indicator: Indicator, rule: dict) -> list:
    """[(changes, rule dict)] for one rule dict; recursive through composite parts."""
    variants = []
    from .ruletypes import REGISTRY
    kind = rule.get("type")
    declared = REGISTRY[kind].params if kind in REGISTRY else {}
    if "full_at" in declared:
        current = Decimal(str(rule.get("full_at"))) if rule.get("full_at") is not None else (declared["full_at"].default)
        candidates = []
        target = first_number(indicator.target) if "%" in (indicator.target or "") else None
        if target is not None:
            candidates.append((target, f"（即该指标目标值“{indicator.target}”）"))
        candidates += [(v, "") for v in COMMON_THRESHOLDS]
        seen = set()
        for value, why in candidates:
            if current is not None and value == current or value in seen:
                continue
            seen.add(value)
            was = f"{fmt(current)}%" if current is not None else "未设"
            variants.append(([Change("threshold", f"满分线按{fmt(value)}%{why}计算（规则包为{was}）")],
                             {**rule, "full_at": str(value)}))
    if kind == "shortfall_deduction":
        for name, choices, labels in (("pp_rounding", ("none", "floor", "round_half_up", "ceil"),
                                       {"none": "不取整（连续扣分）", "floor": "向下取整", "round_half_up": "四舍五入取整", "ceil": "向上取整"}),
                                      ("step_rounding", ("none", "floor"), {"none": "不取整", "floor": "只按整步扣分"})):
            current = rule.get(name) or "none"
            what = "百分点差" if name == "pp_rounding" else "扣分步数"
            for choice in choices:
                if choice != current:
                    variants.append(([Change("parameter", f"{what}{labels[choice]}（规则包为{labels[current]}）")], {**rule, name: choice}))
    if kind == "ratio_capped":
        reverse = {k: v for k, v in rule.items() if k != "cap"}
        reverse["type"] = "ratio_reverse"
        variants.append(([Change("direction", "按反向公式（实际值不高于目标值得满分，否则分值×目标值÷实际值）计算（规则包为正向比例）")], reverse))
        if str(rule.get("cap", "1")) in ("1", "1.0"):
            variants.append(([Change("uncapped", "完成率不封顶、得分不限于分值")], {**rule, "cap": "1000"}))
    if kind == "ratio_reverse":
        variants.append(([Change("direction", "按正向公式“(业绩值/目标值)×分值”计算（规则包为反向/成本类公式）")], {**rule, "type": "ratio_capped"}))
    if kind == "composite":
        for index, part in enumerate(rule.get("parts") or []):
            if not isinstance(part, dict) or not isinstance(part.get("rule"), dict):
                continue
            label = part.get("label") or part.get("key")
            for changes, sub in rule_variants(indicator, part["rule"]):
                parts = copy.deepcopy(rule["parts"])
                parts[index] = {**parts[index], "rule": sub}
                variants.append(([Change(c.kind, f"分项“{label}”{c.text}") for c in changes], {**rule, "parts": parts}))
    return variants


class Context:
    """One audit: the data, and the analysis every detector shares (computed once, lazily)."""

    def __init__(self, pack: Pack, inputs: dict, claims: Claims, extra_checks=(), registry=None):
        self.pack = pack
        self.inputs = inputs if isinstance(inputs, dict) else {}
        self.claims = claims
        self.extra_checks = tuple(extra_checks)
        self.registry = registry
        self.places = pack.rounding.indicator.places
        self.mode = pack.rounding.indicator.mode
        self.total_places = pack.rounding.total.places
        self.tampered: list = []    # (sheet, cell, expected, found) of a live workbook, set by audit_file

    # ---- evaluation
    @cached_property
    def evaluation(self):
        """(EvaluationResult | None, [problems])."""
        from .scoring import evaluate
        try:
            return evaluate(self.pack, self.inputs), []
        except EvaluationError as exc:
            return None, list(exc.problems)
        except AnjuError as exc:
            return None, [InputError(str(exc))]

    @property
    def result(self) -> EvaluationResult | None:
        return self.evaluation[0]

    @cached_property
    def parsed(self) -> dict:
        """code -> parsed inputs (only indicators whose inputs parse)."""
        from .scoring import parse_inputs
        parsed = {}
        for indicator in self.pack.indicators:
            try:
                state, values = parse_inputs(indicator, self.inputs.get(indicator.code))
            except AnjuError:
                continue
            if state is None:
                parsed[indicator.code] = values
        return parsed

    @cached_property
    def pack_findings(self) -> list:
        return classify_pack_findings(self)

    def indicator_order(self, code) -> int:
        for index, indicator in enumerate(self.pack.indicators):
            if indicator.code == code:
                return index
        return len(self.pack.indicators)

    # ---- claimed vs computed
    def mismatched(self) -> list:
        """[(indicator, claimed, IndicatorResult)] where a claimed score differs from the computed one."""
        out = []
        if self.result is None:
            return out
        for indicator in self.pack.indicators:
            claimed = self.claims.scores.get(indicator.code)
            got = self.result.indicator(indicator.code)
            if claimed is None or got is None or claimed > indicator.weight:
                continue
            if not same(claimed, got.score, self.places):
                out.append((indicator, claimed, got))
        return out

    @cached_property
    def explanations(self) -> dict:
        """code -> Explanation for every mismatched claimed score (and every claim above its weight)."""
        out = {}
        if self.result is None:
            return out
        for indicator in self.pack.indicators:
            claimed = self.claims.scores.get(indicator.code)
            got = self.result.indicator(indicator.code)
            if claimed is None or got is None or same(claimed, got.score, self.places):
                continue
            out[indicator.code] = self.explain(indicator, claimed, got)
        return out

    def variant_outcome(self, indicator: Indicator, rule: dict):
        """Run the indicator with another rule on the same inputs: (raw, text) or None."""
        from .packs import build_indicator
        from .ruletypes import REGISTRY
        from .scoring import score_indicator
        raw_data = self.raw_indicator(indicator)
        if raw_data is None:
            return None
        registry = dict(self.registry or REGISTRY)
        try:
            variant = build_indicator({**raw_data, "rule": rule}, 0, f"规则包“{self.pack.id}”", registry)
            state, outcome = score_indicator(self.pack, variant, self.inputs.get(indicator.code))
        except AnjuError:
            return None
        if state != SCORED:
            return None
        return outcome.score, outcome.text

    def raw_indicator(self, indicator: Indicator) -> dict | None:
        for raw in (self.pack.data or {}).get("indicators") or []:
            if isinstance(raw, dict) and str(raw.get("code")) == indicator.code:
                return copy.deepcopy(raw)
        return {"code": indicator.code, "path": list(indicator.path), "weight": str(indicator.weight),
                "target": indicator.target, "unit": indicator.unit, "rule": copy.deepcopy(indicator.rule)}

    def explain(self, indicator: Indicator, claimed: Decimal, got) -> Explanation:
        explanation = Explanation(indicator.code, claimed, got.score, got.raw_score, [])
        if got.status != SCORED or (got.effective_weight is not None and got.effective_weight != indicator.weight):
            return explanation
        candidates = [([], indicator.rule, got.raw_score, got.explanation)]
        for changes, rule in rule_variants(indicator, indicator.rule):
            outcome = self.variant_outcome(indicator, rule)
            if outcome is not None:
                candidates.append((changes, rule, outcome[0], outcome[1]))
        if indicator.rule.get("type") == "categorical":
            category = (self.parsed.get(indicator.code) or {}).get("category")
            points_map = indicator.compiled.params["points"]
            if category in points_map and points_map[category] > indicator.weight:
                candidates.append(([Change("uncapped", f"评分标准“{fmt(points_map[category])}分”未按分值{points(indicator.weight)}封顶")],
                                   indicator.rule, points_map[category], f"类别得{points(points_map[category])}"))
        found = []
        for changes, _, raw, text in candidates:
            modes = [self.mode] + [m for m in ALT_MODES if m != self.mode]
            for mode in modes:
                score = quantize(raw, self.places, mode)
                if same(score, claimed, self.places):
                    found.append(Reproduction(changes, mode, raw, score, text))
                    break
        if found:
            best = min((len(r.changes), r.mode != self.mode) for r in found)
            explanation.reproductions = [r for r in found if (len(r.changes), r.mode != self.mode) == best][:3]
        else:
            found_input = self.implied_input(indicator, claimed)
            if found_input:
                explanation.implied, explanation.implied_key = found_input
        return explanation

    def implied_input(self, indicator: Indicator, claimed: Decimal) -> tuple[str, str] | None:
        """Which value of the scored percentage reproduces the claim (threshold and shortfall rules)."""
        from .ruletypes import run_rule
        compiled = indicator.compiled
        targets = [(None, indicator.weight, compiled, claimed)]
        if compiled.rule_type.name == "composite" and compiled.params.get("shared_cap") is None:
            facts = self.parsed.get(indicator.code) or {}
            targets = []
            for key, label, weight, sub in compiled.parts:
                others = ZERO
                try:
                    for other_key, _, other_weight, other in compiled.parts:
                        if other_key != key:
                            others += run_rule(other, indicator.code, other_weight, facts.get(other_key, {})).score
                except AnjuError:
                    return None
                targets.append(((key, label), weight, sub, claimed - others))
        for part, weight, rule, wanted in targets:
            if rule.params.get("value_from"):
                continue   # a survey result is derived from answers, not typed
            sentence = implied_value(rule, weight, wanted)
            if sentence is None:
                continue
            value, base = sentence
            facts = self.parsed.get(indicator.code) or {}
            facts = facts.get(part[0], {}) if part else facts
            stated = stated_value(facts)
            if stated is None or same(stated, value, 2):
                continue
            where = f"分项“{part[1]}”" if part else ""
            label = part[1] if part else (next((s.label for s in indicator.compiled.specs if s.key == "value"), "完成值"))
            key = "value" if facts.get("value") is not None and facts.get("actual") is None else "actual"
            return (f"按规则{where}，申报得分{fmt(claimed)}对应的{label}约为{fmt(value, 4)}%（{base}），"
                    f"而填报的是{fmt(stated, 4)}%"), (f"{part[0]}.{key}" if part else key)
        return None


def implied_value(rule, weight: Decimal, wanted: Decimal):
    """(value %, how) such that the rule gives ``wanted`` points, or None."""
    p = rule.params
    name = rule.rule_type.name
    if wanted < 0 or wanted >= weight:
        return None
    if name == "threshold_linear":
        per_pp = weight * p["deduct_pct_of_weight_per_pp"] / HUNDRED
        if per_pp <= 0:
            return None
        value = p["full_at"] - safe_div(weight - wanted, per_pp)
        if p["zero_below"] is not None and value < p["zero_below"]:
            return None
        return value, f"满分线{fmt(p['full_at'])}%，每低1个百分点扣分值的{fmt(p['deduct_pct_of_weight_per_pp'])}%"
    if name == "shortfall_deduction" and p["pp_rounding"] == "none" and p["step_rounding"] == "none":
        cap = weight if p["max_deduction"] is None else p["max_deduction"]
        deduction = weight - wanted
        if deduction >= cap or p["points_per_step"] <= 0:
            return None
        value = p["full_at"] - safe_div(deduction, p["points_per_step"]) * p["step_pp"]
        return value, (f"满分线{fmt(p['full_at'])}%，每低{fmt(p['step_pp'])}个百分点扣{fmt(p['points_per_step'])}分，"
                       f"连续扣分{fmt(deduction)}分")
    return None


def stated_value(facts: dict) -> Decimal | None:
    if facts.get("value") is not None and facts.get("actual") is None:
        return facts["value"]
    if facts.get("actual") is not None and facts.get("target"):
        return safe_div(facts["actual"], facts["target"]) * HUNDRED
    return None


# --------------------------------------------------------------------------- detectors

@dataclass(frozen=True)
class Detector:
    kind: str
    function: Callable[[Context], list]


DETECTORS: dict[str, Detector] = {}


def detector(kind: str):
    if kind not in KINDS:
        raise ValueError(f"unknown finding kind {kind}")

    def wrap(function):
        DETECTORS[kind] = Detector(kind, function)
        return function
    return wrap


def finding(kind: str, message: str, *, codes=(), refs=(), claimed=None, computed=None, severity=None) -> Finding:
    return Finding(kind, severity or KINDS[kind].severity, message, tuple(codes), tuple(refs),
                   claimed=None if claimed is None else (claimed if isinstance(claimed, str) else fmt(claimed)),
                   computed=None if computed is None else (computed if isinstance(computed, str) else fmt(computed)))


def computed_text(ctx: Context, raw: Decimal, score: Decimal) -> str:
    """'4.03（4.028按2位小数四舍五入；截尾为4.02）'."""
    if raw == score:
        return points(score)
    other = ROUND_DOWN if ctx.mode != ROUND_DOWN else ROUND_HALF_UP
    alt = quantize(raw, ctx.places, other)
    tail = f"；{mode_name(other)}为{fmt(alt)}" if alt != score else ""
    return f"{points(score)}（{fmt(raw, 6)}按{ctx.places}位小数{mode_name(ctx.mode)}{tail}）"


def reproduction_text(ctx: Context, indicator: Indicator, reproduction: Reproduction) -> str:
    how = "、".join(c.text for c in reproduction.changes)
    rounding = ""
    if reproduction.raw != reproduction.score:
        rounding = f"，{fmt(reproduction.raw, 6)}按{ctx.places}位小数{mode_name(reproduction.mode)}为{fmt(reproduction.score)}"
    prefix = f"若{how}，" if how else ""
    return f"{prefix}{reproduction.text}{rounding}"


def mismatch_head(ctx: Context, indicator: Indicator, explanation: Explanation) -> str:
    got = ctx.result.indicator(indicator.code)
    return (f"{name_of(indicator)}{ctx.claims.label}得分{fmt(explanation.claimed)}分，按规则包复算应为"
            f"{computed_text(ctx, got.raw_score, got.score)}")


def explained_findings(ctx: Context, kind: str, select: Callable[[Explanation], bool], closing: str) -> list:
    out = []
    for indicator in ctx.pack.indicators:
        explanation = ctx.explanations.get(indicator.code)
        if explanation is None or explanation.claimed > indicator.weight or not select(explanation):
            continue
        alternatives = "；或".join(reproduction_text(ctx, indicator, r) for r in explanation.reproductions)
        out.append(finding(kind, f"{mismatch_head(ctx, indicator, explanation)}。申报值可以这样复现：{alternatives}。{closing}",
                           codes=[indicator.code], refs=[(indicator.code, "claimed")],
                           claimed=explanation.claimed, computed=explanation.computed))
    return out


@detector("input_error")
def detect_input_error(ctx: Context) -> list:
    result, problems = ctx.evaluation
    if result is not None:
        return []
    codes = tuple(dict.fromkeys(p.code for p in problems if getattr(p, "code", None)))
    listed = "；".join(str(p) for p in problems[:5]) + ("等" if len(problems) > 5 else "")
    refs = [(p.code, p.key or "inputs") for p in problems if getattr(p, "code", None)]
    return [finding("input_error", f"输入数据有误，无法按规则复算：{listed}。只做了不依赖复算的检查。", codes=codes, refs=refs)]


# Kinds only a workbook can show (no pure evaluation triggers them).
WORKBOOK_KINDS = {"formula_tampered"}


@detector("formula_tampered")
def detect_formula_tampered(ctx: Context) -> list:
    findings = []
    for sheet, cell, expected, found in ctx.tampered:
        shown = found if len(found) <= 60 else found[:60] + "…"
        now = f"现为“={shown}”" if found else "公式已被删除或改为数值"
        findings.append(Finding("formula_tampered", ERROR,
                                f"{sheet}!{cell} 的公式与规则包“{ctx.pack.id}”编译出的公式不同，{now}。"
                                "请用 anju template --live 重新生成模板，或运行 anju recalc（会恢复原公式）。",
                                cells=(f"{sheet}!{cell}",), computed=f"={expected[:60]}…" if len(expected) > 60 else f"={expected}"))
    return findings


@detector("score_above_weight")
def detect_score_above_weight(ctx: Context) -> list:
    out = []
    for indicator in ctx.pack.indicators:
        claimed = ctx.claims.scores.get(indicator.code)
        if claimed is None or claimed <= indicator.weight:
            continue
        message = f"{name_of(indicator)}{ctx.claims.label}得分{fmt(claimed)}分，超过该指标分值{points(indicator.weight)}"
        explanation = ctx.explanations.get(indicator.code)
        if explanation and explanation.reproductions:
            message += "。申报值可以这样复现：" + "；或".join(reproduction_text(ctx, indicator, r) for r in explanation.reproductions)
        got = ctx.result.indicator(indicator.code) if ctx.result else None
        if got is not None:
            message += f"。按规则包复算应为{points(got.score)}"
        out.append(finding("score_above_weight", message + "。指标得分不得超过其分值，请改正。", codes=[indicator.code],
                           refs=[(indicator.code, "claimed")], claimed=claimed, computed=got.score if got else None))
    return out


@detector("threshold_mismatch")
def detect_threshold_mismatch(ctx: Context) -> list:
    return explained_findings(ctx, "threshold_mismatch", lambda e: "threshold" in e.change_kinds,
                              "评分标准写明的满分线与实际计算所用的不一致，请按评分标准重新计分或修改评分标准。")


@detector("formula_direction")
def detect_formula_direction(ctx: Context) -> list:
    return explained_findings(ctx, "formula_direction", lambda e: "direction" in e.change_kinds,
                              "正向指标与反向（成本类）指标的公式用反了，请按指标方向重新计分。")


@detector("rule_parameter_mismatch")
def detect_rule_parameter_mismatch(ctx: Context) -> list:
    return explained_findings(ctx, "rule_parameter_mismatch",
                              lambda e: bool(e.changes) and e.change_kinds <= {"parameter"},
                              "计分口径与评分标准不一致，请统一口径。")


@detector("rounding_mode")
def detect_rounding_mode(ctx: Context) -> list:
    out = []
    for indicator in ctx.pack.indicators:
        explanation = ctx.explanations.get(indicator.code)
        if explanation is None or explanation.claimed > indicator.weight or not explanation.mode_changed(ctx.mode):
            continue
        r = explanation.reproductions[0]
        pack_score = quantize(r.raw, ctx.places, ctx.mode)
        context = f"（在{'、'.join(c.text for c in r.changes)}时）" if r.changes else ""
        out.append(finding("rounding_mode",
                           f"{name_of(indicator)}{ctx.claims.label}得分{fmt(explanation.claimed)}分是{fmt(r.raw, 6)}按{ctx.places}位小数"
                           f"{mode_name(r.mode)}的结果{context}；规则包规定{mode_name(ctx.mode)}，应为{fmt(pack_score)}分。"
                           f"请统一舍入方式（财政评分一般四舍五入），并重新核对合计。",
                           codes=[indicator.code], refs=[(indicator.code, "claimed")],
                           claimed=explanation.claimed, computed=pack_score))
    return out


@detector("implied_input")
def detect_implied_input(ctx: Context) -> list:
    out = []
    for indicator in ctx.pack.indicators:
        explanation = ctx.explanations.get(indicator.code)
        if explanation is None or explanation.reproductions or not explanation.implied or explanation.claimed > indicator.weight:
            continue
        out.append(finding("implied_input", f"{mismatch_head(ctx, indicator, explanation)}。{explanation.implied}，"
                                            "得分与填报的事实（或评分理由）不一致，请核实完成值或得分。",
                           codes=[indicator.code], refs=[(indicator.code, "claimed"), (indicator.code, explanation.implied_key)],
                           claimed=explanation.claimed, computed=explanation.computed))
    return out


@detector("score_mismatch")
def detect_score_mismatch(ctx: Context) -> list:
    out = []
    for indicator in ctx.pack.indicators:
        explanation = ctx.explanations.get(indicator.code)
        if explanation is None or explanation.reproductions or explanation.implied or explanation.claimed > indicator.weight:
            continue
        got = ctx.result.indicator(indicator.code)
        out.append(finding("score_mismatch", f"{mismatch_head(ctx, indicator, explanation)}，相差{fmt(explanation.claimed - got.score)}分。"
                                             f"复算过程：{got.explanation}。请核对评分。",
                           codes=[indicator.code], refs=[(indicator.code, "claimed")],
                           claimed=explanation.claimed, computed=got.score))
    return out


@detector("score_missing")
def detect_score_missing(ctx: Context) -> list:
    if not any(v is not None for v in ctx.claims.scores.values()):
        return []
    out = []
    for indicator in ctx.pack.indicators:
        if ctx.claims.scores.get(indicator.code) is not None:
            continue
        got = ctx.result.indicator(indicator.code) if ctx.result else None
        tail = f"；按规则复算为{points(got.score)}" if got else ""
        out.append(finding("score_missing", f"{name_of(indicator)}未填写{ctx.claims.label}得分{tail}。请补填，"
                                            "否则总分与各指标得分无法对应。",
                           codes=[indicator.code], refs=[(indicator.code, "claimed")], computed=got.score if got else None))
    return out


def claimed_sum(ctx: Context, indicators) -> tuple[Decimal, list]:
    total, missing = ZERO, []
    for indicator in indicators:
        value = ctx.claims.scores.get(indicator.code)
        if value is None:
            missing.append(indicator)
        else:
            total += value
    return total, missing


def missing_note(ctx: Context, missing: list, summed: Decimal, stated: Decimal, places: int) -> str:
    if not missing:
        return ""
    filled = summed
    if ctx.result is not None:
        filled += sum((ctx.result.indicator(i.code).score for i in missing), ZERO)
    codes = "、".join(i.code for i in missing)
    if ctx.result is not None and same(filled, stated, places):
        return f"（{codes}得分为空；按复算得分补上后为{fmt(filled)}，与所报一致，说明空白处应填复算得分）"
    return f"（{codes}得分为空）"


@detector("level_arithmetic")
def detect_level_arithmetic(ctx: Context) -> list:
    out = []
    for level, stated in ctx.claims.levels.items():
        if stated is None:
            continue
        members = [i for i in ctx.pack.indicators if i.path[0] == level]
        if not members:
            continue
        summed, missing = claimed_sum(ctx, members)
        if len(missing) == len(members) or same(summed, stated, ctx.total_places):
            continue
        out.append(finding("level_arithmetic",
                           f"一级指标“{level}”{ctx.claims.label}小计{fmt(stated)}分，其下各指标得分合计{fmt(summed)}分"
                           f"{missing_note(ctx, missing, summed, stated, ctx.total_places)}，两者不符，请核对。",
                           codes=[i.code for i in members], refs=[(level, "claimed")] + [(i.code, "claimed") for i in members],
                           claimed=stated, computed=summed))
    return out


@detector("total_arithmetic")
def detect_total_arithmetic(ctx: Context) -> list:
    stated = ctx.claims.total
    if stated is None:
        return []
    summed, missing = claimed_sum(ctx, ctx.pack.indicators)
    if len(missing) == len(ctx.pack.indicators):
        return []
    tolerance_places = ctx.total_places
    if ctx.pack.rounding.total_method == "round_raw_sum" and not missing:
        # the total is rounded from raw scores: displayed scores may differ by up to half a unit each
        if abs(summed - stated) <= unit_of(ctx.places) / 2 * len(ctx.pack.indicators):
            return []
    if same(summed, stated, tolerance_places):
        return []
    return [finding("total_arithmetic",
                    f"{ctx.claims.label}总分{fmt(stated)}分，各指标{ctx.claims.label}得分合计{fmt(summed)}分"
                    f"{missing_note(ctx, missing, summed, stated, tolerance_places)}，两者不符，请核对合计。",
                    codes=[i.code for i in missing], refs=[("total", "claimed")] + [(i.code, "claimed") for i in missing],
                    claimed=stated, computed=summed)]


@detector("total_mismatch")
def detect_total_mismatch(ctx: Context) -> list:
    stated, result = ctx.claims.total, ctx.result
    if stated is None or result is None or same(stated, result.total, ctx.total_places):
        return []
    diffs = []
    for indicator in ctx.pack.indicators:
        claimed = ctx.claims.scores.get(indicator.code)
        got = result.indicator(indicator.code)
        if claimed is not None and not same(claimed, got.score, ctx.places):
            diffs.append(f"{indicator.code} {fmt(claimed)}（复算{fmt(got.score)}）")
    because = f"差异来自：{'；'.join(diffs)}" if diffs else "各指标得分与复算一致，差异在合计环节"
    grade = ""
    claimed_grade = normal_grade(ctx.claims.grade, ctx.pack)
    if claimed_grade and claimed_grade != result.grade:
        grade = f"，等级应为“{result.grade}”（申报“{ctx.claims.grade}”）"
    return [finding("total_mismatch",
                    f"{ctx.claims.label}总分{fmt(stated)}分，按规则包复算为{fixed(result.total, ctx.total_places)}分{grade}，"
                    f"相差{fixed(stated - result.total, ctx.total_places)}分；"
                    f"{because}。",
                    codes=[], refs=[("total", "claimed")], claimed=stated, computed=fixed(result.total, ctx.total_places))]


@detector("grade_mismatch")
def detect_grade_mismatch(ctx: Context) -> list:
    from .scoring import grade_of
    grade = normal_grade(ctx.claims.grade, ctx.pack)
    if not grade:
        return []
    total = ctx.claims.total
    basis = f"{ctx.claims.label}总分{fmt(total)}分" if total is not None else None
    if total is None and ctx.result is not None:
        total, basis = ctx.result.total, f"复算总分{fmt(ctx.result.total)}分"
    if total is None:
        return []
    expected = grade_of(ctx.pack, total)
    if grade == expected:
        return []
    bands = "、".join(f"{b.label}≥{fmt(b.minimum)}" for b in ctx.pack.grades)
    return [finding("grade_mismatch", f"{ctx.claims.label}等级为“{ctx.claims.grade}”，但{basis}按等级划分（{bands}）应为“{expected}”，请改正。",
                    refs=[("grade", "claimed"), ("total", "claimed")], claimed=str(ctx.claims.grade), computed=expected)]


@detector("grade_wording")
def detect_grade_wording(ctx: Context) -> list:
    out = []
    labels = {band.label for band in ctx.pack.grades}
    for grade, key, who in ((ctx.claims.grade, "claimed", ctx.claims.label), (ctx.claims.grade2, "claimed2", ctx.claims.label2)):
        if not grade or str(grade).strip() in labels:
            continue
        mapped = normal_grade(grade, ctx.pack)
        if mapped in labels:
            out.append(finding("grade_wording", f"{who}等级写作“{grade}”，规则包的等级为“{'/'.join(b.label for b in ctx.pack.grades)}”，"
                                                f"按“{mapped}”处理；正式文本中请统一等级用词。",
                               refs=[("grade", key)], claimed=str(grade), computed=mapped))
    return out


def level_breakdown(ctx: Context) -> dict | None:
    """The claimed 一级指标 subtotals as parts of the claimed total (when every level is claimed)."""
    names = level_names(ctx.pack)
    levels = ctx.claims.levels
    if ctx.claims.total is None or not names or any(levels.get(n) is None for n in names):
        return None
    return {"label": f"各一级指标{ctx.claims.label}小计之和与{ctx.claims.label}总分", "total": ctx.claims.total,
            "parts": {n: levels[n] for n in names}, "refs": [("total", "claimed")] + [(n, "claimed") for n in names]}


@detector("parts_sum_mismatch")
def detect_parts_sum_mismatch(ctx: Context) -> list:
    out = []
    levels = level_breakdown(ctx)
    for item in ([levels] if levels else []) + list(ctx.claims.breakdowns):
        try:
            total = as_decimal(item.get("total"), "合计数")
            parts = {str(k): as_decimal(v, f"分项“{k}”") for k, v in (item.get("parts") or {}).items()}
        except AnjuError:
            continue
        if total is None or not parts or any(v is None for v in parts.values()):
            continue
        summed = sum(parts.values(), ZERO)
        places = max([-v.as_tuple().exponent for v in [total, *parts.values()] if v.as_tuple().exponent < 0] or [0])
        if same(summed, total, places):
            continue
        label = item.get("label") or "分项"
        listed = "＋".join(f"{k}{fmt(v)}" for k, v in parts.items())
        out.append(finding("parts_sum_mismatch", f"{label}：{listed}＝{fmt(summed)}，与所报合计{fmt(total)}不符（相差{fmt(total - summed)}），请核实。",
                           codes=tuple(item.get("codes") or ()), refs=tuple(tuple(r) for r in item.get("refs") or ()),
                           claimed=total, computed=summed))
    return out


def rate_capable(indicator: Indicator, label: str) -> bool:
    """A percentage that may exceed 100% (completion of a plan) rather than a share or a rate."""
    text = indicator.name + label
    return any(word in text for word in OVERCOMPLETION_WORDS)


@detector("rate_above_100")
def detect_rate_above_100(ctx: Context) -> list:
    out = []
    for indicator in ctx.pack.indicators:
        facts = ctx.parsed.get(indicator.code)
        if not facts:
            continue
        for spec in indicator.compiled.specs:
            container = facts.get(spec.part, {}) if spec.part else facts
            value = container.get(spec.key) if isinstance(container, dict) else None
            if not isinstance(value, Decimal) or value <= HUNDRED:
                continue
            is_pct = spec.kind == "percent" or spec.unit == "%"
            if not is_pct or rate_capable(indicator, spec.label):
                continue
            key = f"{spec.part}.{spec.key}" if spec.part else spec.key
            out.append(finding("rate_above_100", f"{name_of(indicator)}的“{spec.label}”填报为{fmt(value)}%，超过100%。"
                                                 "比率、合格率、满意度、占比不可能超过100%（超额完成应体现在完成率中），请核实数据来源和口径。",
                               codes=[indicator.code], refs=[(indicator.code, key)], claimed=f"{fmt(value)}%"))
    return out


def budget_facts(ctx: Context):
    for indicator in ctx.pack.indicators:
        if indicator.compiled.rule_type.name == "budget_execution" and indicator.code in ctx.parsed:
            yield indicator, ctx.parsed[indicator.code]


@detector("funds_received_above_budget")
def detect_funds_received_above_budget(ctx: Context) -> list:
    out = []
    for indicator, facts in budget_facts(ctx):
        budget, received = facts.get("budget"), facts.get("received")
        if received is None or budget is None or received <= budget:
            continue
        out.append(finding("funds_received_above_budget",
                           f"{name_of(indicator)}：实际到位资金{fmt(received)}万元大于预算数{fmt(budget)}万元"
                           f"（到位率应为{fmt(safe_div(received, budget) * HUNDRED, 2)}%，不可能是100%）。请核实到位数、预算数或到位率的口径。",
                           codes=[indicator.code], refs=[(indicator.code, "received"), (indicator.code, "budget")],
                           claimed=fmt(received), computed=fmt(budget)))
    return out


@detector("executed_above_funds")
def detect_executed_above_funds(ctx: Context) -> list:
    out = []
    for indicator, facts in budget_facts(ctx):
        executed, budget, received = facts.get("executed"), facts.get("budget"), facts.get("received")
        if executed is None:
            continue
        over = [(name, value) for name, value in (("预算数", budget), ("到位数", received)) if value is not None and executed > value]
        if not over:
            continue
        listed = "、".join(f"{name}{fmt(value)}万元" for name, value in over)
        out.append(finding("executed_above_funds", f"{name_of(indicator)}：执行数{fmt(executed)}万元大于{listed}，执行率超过100%。"
                                                   "请核实执行数是否含其他资金、截止日期是否一致。",
                           codes=[indicator.code], refs=[(indicator.code, "executed")] + [(indicator.code, "budget" if n == "预算数" else "received") for n, _ in over],
                           claimed=fmt(executed)))
    return out


@detector("self_vs_verified_gap")
def detect_self_vs_verified_gap(ctx: Context) -> list:
    claims, out = ctx.claims, []
    result = ctx.result
    for indicator in ctx.pack.indicators:
        second = claims.scores2.get(indicator.code)
        if second is None:
            continue
        verified, who = claims.scores.get(indicator.code), claims.label
        got = result.indicator(indicator.code) if result else None
        if verified is None and got is not None:
            verified, who = got.score, "复算"
        if verified is None or same(second, verified, ctx.places):
            continue
        why = ""
        if got is not None:
            why = (f"。复算依据：{got.explanation}" if same(got.score, verified, ctx.places)
                   else f"（按规则包复算为{points(got.score)}）")
        out.append(finding("self_vs_verified_gap",
                           f"{name_of(indicator)}{claims.label2}得分{fmt(second)}分，{who}得分{fmt(verified)}分，相差{fmt(second - verified)}分{why}。"
                           f"请说明差异原因（{claims.label2}所依据的事实与核定事实是否一致）。",
                           codes=[indicator.code], refs=[(indicator.code, "claimed2"), (indicator.code, "claimed")],
                           claimed=second, computed=verified))
    verified_total, who = claims.total, claims.label
    if verified_total is None and result is not None:
        verified_total, who = result.total, "复算"
    grade2 = normal_grade(claims.grade2, ctx.pack)
    verified_grade = normal_grade(claims.grade, ctx.pack) or (result.grade if result else None)
    total_gap = claims.total2 is not None and verified_total is not None and not same(claims.total2, verified_total, ctx.total_places)
    grade_gap = bool(grade2 and verified_grade and grade2 != verified_grade)
    if total_gap or grade_gap:
        parts = []
        if claims.total2 is not None and verified_total is not None:
            parts.append(f"{claims.label2}总分{fmt(claims.total2)}分、{who}总分{fmt(verified_total)}分"
                         + (f"（相差{fmt(claims.total2 - verified_total)}分）" if total_gap else ""))
        if grade2 and verified_grade:
            parts.append(f"{claims.label2}等级“{claims.grade2}”、核定等级“{verified_grade}”")
        out.append(finding("self_vs_verified_gap", f"{'；'.join(parts)}。{claims.label2}结果与核定结果不一致，"
                                                   "请在报告中说明差异并以核定结果为准。",
                           refs=[("total", "claimed2"), ("total", "claimed"), ("grade", "claimed2")],
                           claimed=claims.total2, computed=verified_total))
    return out


# ---- pack-level findings: reuse engine.checks, classify by which check produced them

def classify_pack_findings(ctx: Context) -> list:
    """[(kind, checks.Finding)] for the pack, classified by the check that produced each."""
    from .checks import AT_MOST, FORWARD_TYPES, check_indicator, check_maximum, check_pack, check_weights
    pack = ctx.pack
    classified = [("pack_weights", f) for f in check_weights(pack)]
    for indicator in pack.indicators:
        where = f"规则包“{pack.id}”指标{indicator.code}（{indicator.name}）"
        compiled = indicator.compiled
        rules = [(indicator.weight, compiled, "")]
        rules += [(w if w is not None else indicator.weight, sub, f"分项“{label}”") for _, label, w, sub in compiled.parts]
        maxima = {}
        for weight, rule, part in rules:
            for f in check_maximum(pack, indicator, where + part, weight, rule):
                maximum = rule.rule_type.max_points(rule.params, weight)
                maxima[f] = "rule_maximum_above_weight" if maximum is not None and maximum > weight else "checklist_below_weight"
        for f in check_indicator(pack, indicator):
            if f in maxima:
                kind = maxima[f]
            elif compiled.rule_type.name in FORWARD_TYPES and AT_MOST.match(indicator.target or ""):
                kind = "forward_formula_on_at_most_target"
            else:
                kind = "pack_check"
            classified.append((kind, f))
    seen = {f for _, f in classified}
    classified += [("pack_check", f) for f in check_pack(pack, ctx.extra_checks) if f not in seen]
    return classified


def pack_kind_findings(ctx: Context, kind: str, extra: Callable | None = None) -> list:
    out = []
    for found_kind, f in ctx.pack_findings:
        if found_kind != kind:
            continue
        message = f.message + ("。" if not f.message.endswith("。") else "")
        if extra and f.code:
            message += extra(ctx, ctx.pack.indicator(f.code)) or ""
        severity = ERROR if f.severity == "error" else WARNING
        refs = [(f.code, "rule")] if f.code else []
        out.append(finding(kind, message, codes=[f.code] if f.code else [], refs=refs, severity=severity))
    return out


def _maximum_context(ctx: Context, indicator: Indicator) -> str:
    claimed = ctx.claims.scores.get(indicator.code)
    got = ctx.result.indicator(indicator.code) if ctx.result else None
    bits = []
    if claimed is not None:
        bits.append(f"本次{ctx.claims.label}得分{fmt(claimed)}分")
    if got is not None:
        bits.append(f"复算{fmt(got.score)}分")
    if not bits:
        return ""
    safe = claimed is None or claimed <= indicator.weight
    return f"{'、'.join(bits)}，{'本次未受影响，但' if safe else ''}达到最高档时将超过分值，请修改评分标准使各档分值不超过{points(indicator.weight)}。"


def _direction_context(ctx: Context, indicator: Indicator) -> str:
    facts = ctx.parsed.get(indicator.code) or {}
    actual, target = facts.get("actual"), facts.get("target")
    if actual is None or not target:
        return ""
    reverse = {k: v for k, v in indicator.rule.items() if k != "cap"}
    reverse["type"] = "ratio_reverse"
    outcome = ctx.variant_outcome(indicator, reverse) if indicator.rule.get("type") == "ratio_capped" else None
    got = ctx.result.indicator(indicator.code) if ctx.result else None
    if outcome is None or got is None:
        return ""
    reverse_score = quantize(outcome[0], ctx.places, ctx.mode)
    if same(reverse_score, got.score, ctx.places):
        example = target * Decimal("1.1")
        penalised = quantize(indicator.weight * safe_div(target, example), ctx.places, ctx.mode)
        return (f"本次实际值{fmt(actual)}不高于目标值{fmt(target)}，正向、反向公式得分相同（{points(got.score)}）；"
                f"但若实际值超出目标10%（{fmt(example, 2)}），按正向公式仍得满分{points(indicator.weight)}，"
                f"按反向公式应得{points(penalised)}。")
    return f"按正向公式得{points(got.score)}，按反向公式应得{points(reverse_score)}。"


@detector("rule_maximum_above_weight")
def detect_rule_maximum(ctx: Context) -> list:
    return pack_kind_findings(ctx, "rule_maximum_above_weight", _maximum_context)


@detector("forward_formula_on_at_most_target")
def detect_forward_formula(ctx: Context) -> list:
    return pack_kind_findings(ctx, "forward_formula_on_at_most_target", _direction_context)


@detector("checklist_below_weight")
def detect_checklist_below_weight(ctx: Context) -> list:
    return pack_kind_findings(ctx, "checklist_below_weight")


@detector("pack_weights")
def detect_pack_weights(ctx: Context) -> list:
    return pack_kind_findings(ctx, "pack_weights")


@detector("pack_check")
def detect_pack_check(ctx: Context) -> list:
    return pack_kind_findings(ctx, "pack_check")


PP_LABELS = {"none": "连续扣分（百分点差不取整）", "floor": "百分点差向下取整", "round_half_up": "百分点差四舍五入取整",
             "ceil": "百分点差向上取整"}


@detector("mixed_pp_rounding")
def detect_mixed_pp_rounding(ctx: Context) -> list:
    groups: dict[str, list] = {}
    for indicator in ctx.pack.indicators:
        compiled = indicator.compiled
        rules = [(compiled, "")] + [(sub, f"（{label}）") for _, label, _, sub in compiled.parts]
        for rule, part in rules:
            if rule.rule_type.name == "shortfall_deduction":
                key = f"{rule.params['pp_rounding']}/{rule.params['step_rounding']}"
                groups.setdefault(key, []).append(f"{indicator.code}{part}")
    if len(groups) < 2:
        return []
    described = []
    for key, codes in groups.items():
        pp, step = key.split("/")
        described.append(f"{'、'.join(codes)}按{PP_LABELS[pp]}{'、整步扣分' if step == 'floor' else ''}")
    codes = tuple(dict.fromkeys(c.split("（")[0] for members in groups.values() for c in members))
    return [finding("mixed_pp_rounding", f"同一评分表中“每低N个百分点扣分”的口径不一：{'；'.join(described)}。"
                                         "请确认是否有意为之，并在评分说明中写明取整方式。",
                    codes=codes, refs=[(c, "rule") for c in codes])]


# --------------------------------------------------------------------------- entry points

SEVERITY_ORDER = {s: i for i, s in enumerate(SEVERITIES)}
KIND_ORDER = {k: i for i, k in enumerate(KINDS)}


def audit(pack: Pack, inputs: dict, claims: Claims | None = None, *, extra_checks=(), registry=None) -> list[Finding]:
    """Every finding for one evaluation, most severe first, then in indicator order."""
    return audit_report(pack, inputs, claims or Claims(), extra_checks=extra_checks, registry=registry).findings


def sort_findings(ctx: Context, findings: list) -> list:
    def key(f: Finding):
        first = min((ctx.indicator_order(c) for c in f.codes), default=len(ctx.pack.indicators) + 1)
        return (SEVERITY_ORDER[f.severity], first, KIND_ORDER.get(f.kind, 99))
    return sorted(findings, key=key)


def audit_report(pack: Pack, inputs: dict, claims: Claims, source: str = "", *, extra_checks=(), registry=None) -> AuditReport:
    ctx = Context(pack, inputs or {}, claims, extra_checks, registry)
    findings = []
    for det in DETECTORS.values():
        findings += det.function(ctx)
    return AuditReport(source, pack.id, sort_findings(ctx, findings), ctx.result)


def claims_from_mapping(data: dict | None) -> Claims:
    """Claims from YAML/JSON: {scores: {code: value}, total, grade, levels, scores2, total2, grade2, label, label2, breakdowns}."""
    data = data or {}
    if not isinstance(data, dict):
        raise AnjuError("claims 应为对照表：scores、total、grade、scores2、total2、grade2 等")

    def scores(mapping, what):
        if mapping is None:
            return {}
        if not isinstance(mapping, dict):
            raise AnjuError(f"claims.{what} 应为“指标编码: 得分”对照表")
        return {str(code): as_decimal(value, f"指标{code}的{what}") for code, value in mapping.items()}

    unknown = set(data) - {"scores", "total", "grade", "levels", "scores2", "total2", "grade2", "label", "label2", "breakdowns"}
    if unknown:
        raise AnjuError(f"claims 中有未知字段：{', '.join(sorted(unknown))}")
    return Claims(
        scores=scores(data.get("scores"), "申报得分"),
        total=as_decimal(data.get("total"), "申报总分"),
        grade=str(data["grade"]).strip() if data.get("grade") not in (None, "") else None,
        levels={str(k): as_decimal(v, f"一级指标“{k}”小计") for k, v in (data.get("levels") or {}).items()},
        scores2=scores(data.get("scores2"), "第二份评价得分"),
        total2=as_decimal(data.get("total2"), "第二份评价总分"),
        grade2=str(data["grade2"]).strip() if data.get("grade2") not in (None, "") else None,
        label=str(data.get("label") or "申报"),
        label2=str(data.get("label2") or "自评"),
        breakdowns=list(data.get("breakdowns") or []),
    )


def format_report(report: AuditReport) -> str:
    """Plain text for the console."""
    counts = report.counts()
    lines = [f"复核：{report.source}（规则包 {report.pack_id}）"]
    if report.result is not None:
        places = report.result.pack.rounding.total.places
        lines.append(f"复算总分 {fixed(report.result.total, places)}，等级 {report.result.grade}")
    if not report.findings:
        lines.append("未发现问题。")
    for index, f in enumerate(report.findings, 1):
        where = f"［{'、'.join(f.cells)}］" if f.cells else ""
        lines.append(f"{index}. [{f.severity_label}] {KINDS[f.kind].label}{where}：{f.message}")
    lines.append(f"共 {len(report.findings)} 项：错误 {counts[ERROR]}，警告 {counts[WARNING]}，提示 {counts[INFO]}")
    for note in report.notes:
        lines.append(f"说明：{note}")
    return "\n".join(lines)


# --------------------------------------------------------------------------- workbooks (adapter)

WORKBOOK_SUFFIXES = (".xlsx", ".xlsm")
DATA_SUFFIXES = (".yaml", ".yml", ".json")
MODE_LABELS = {"第三方": ("第三方评价", "自评"), "自评": ("自评", "对照评价")}


def claim_value(value, what: str, problems: list, where=None):
    """A claimed number from a cell (Decimal, or text such as '4.52' / '４.５２'); None when blank."""
    if value is None or (isinstance(value, str) and value.strip() == ""):
        return None
    try:
        return to_decimal(value, what=what, allow_percent=False)
    except AnjuError as exc:
        problems.append((str(exc), where))
        return None


def workbook_claims(data, reader, pack: Pack) -> tuple[Claims, list]:
    """Claims from a WorkbookData (plus the claimed 一级指标 subtotals read through ``reader``)."""
    from .workbook import names as N
    problems: list = []
    mode = str((data.meta or {}).get("mode") or "").strip()
    label, label2 = MODE_LABELS.get(mode, ("填报", "对照评价"))
    claims = Claims(label=label, label2=label2)
    for code, value in data.claimed.items():
        claims.scores[code] = claim_value(value, f"指标{code}的{label}得分", problems, data.cell_of(N.claimed_name(code)))
    for code, value in data.claimed2.items():
        claims.scores2[code] = claim_value(value, f"指标{code}的{label2}得分", problems, data.cell_of(N.claimed_name(code, "claimed2")))
    claims.total = claim_value(data.claimed_total, f"{label}总分", problems, data.cell_of(N.TOTAL_CLAIMED["claimed"]))
    claims.total2 = claim_value(data.claimed_total2, f"{label2}总分", problems, data.cell_of(N.TOTAL_CLAIMED["claimed2"]))
    claims.grade = str(data.claimed_grade).strip() if data.claimed_grade not in (None, "") else None
    claims.grade2 = str(data.claimed_grade2).strip() if data.claimed_grade2 not in (None, "") else None
    for number, name in enumerate(level_names(pack), 1):
        cell_name = N.level_claimed_name(number)
        if data.area_of(cell_name) is None:
            continue
        value = reader.value(cell_name, what=f"一级指标“{name}”{label}小计")
        claims.levels[name] = claim_value(value, f"一级指标“{name}”{label}小计", problems, data.cell_of(cell_name))
    claims.levels = {k: v for k, v in claims.levels.items() if v is not None}
    return claims, problems


def cell_of_ref(data, pack: Pack, ref: tuple) -> str | None:
    """'评分表!O30' for a finding's (code, key) reference."""
    from .workbook import names as N
    code, key = ref
    where = None
    if code in ("total", "grade") and key in ("claimed", "claimed2"):
        where = data.cell_of((N.TOTAL_CLAIMED if code == "total" else N.GRADE_CLAIMED)[key])
    elif code in level_names(pack) and pack.indicator(code) is None and key == "claimed":
        where = data.cell_of(N.level_claimed_name(level_names(pack).index(code) + 1))
    elif key in ("claimed", "claimed2"):
        where = data.cell_of(N.claimed_name(code, key))
    elif key == "rule":
        where = data.cell_of(N.score_name(code))
    elif key == "inputs":
        where = data.locate(code, None)
    elif code is not None:
        where = data.locate(code, key)
    return f"{where[0]}!{where[1]}" if where else None


def review_rows(report: AuditReport, limit: int) -> list:
    """Rows for the 复核 sheet (REVIEW_COLUMNS), lossless: every finding, its cells and full message."""
    rows = []
    for index, f in enumerate(report.findings, 1):
        rows.append((index, f.severity_label, KINDS[f.kind].label, "、".join(f.codes) or None, "、".join(f.cells) or None,
                     review_number(f.claimed), review_number(f.computed), f.message))
    if len(rows) > limit:
        rest = len(rows) - limit + 1
        rows = rows[:limit - 1] + [(None, None, None, None, None, None, None,
                                    f"另有{rest}项复核发现未列出（复核表行数已满），请用 anju audit 在命令行查看全部。")]
    return rows


def review_number(text):
    if text is None:
        return None
    try:
        return Decimal(text)
    except Exception:
        return text


def write_review(path, data, report: AuditReport) -> str | None:
    """Write the findings into the 复核 sheet (range ``out_review``) with the lossless patcher.

    Only cells whose value changes are written, so auditing an unchanged workbook twice leaves
    its bytes alone. Returns the sheet name, or None when the workbook has no 复核 sheet."""
    from .workbook import names as N
    from .workbook.reader import area_cells, clean_value, file_reader
    from .workbook.xlsxpatch import patch_cells
    area = data.area_of(N.OUT_REVIEW)
    if area is None:
        return None
    sheet, ref = area
    grid = area_cells(ref)
    rows = review_rows(report, len(grid))
    current = file_reader(path).sheets
    edits = {}
    for index, cells in enumerate(grid):
        wanted = rows[index] if index < len(rows) else ()
        for col, cell in enumerate(cells):
            new = wanted[col] if col < len(wanted) else None
            old = clean_value(current.raw(sheet, cell))
            if old == new or (old is not None and new is not None and str(old) == str(new)):
                continue
            edits[cell] = new
    if edits:
        patch_cells(path, {sheet: edits})
    return sheet


def audit_file(path, catalog=None, *, write: bool = True) -> AuditReport:
    """Audit one workbook: read inputs and claims by name, recompute, compare, and (by default)
    write the findings into its 复核 sheet. Raises WorkbookFileError / AnjuError for unusable files."""
    from pathlib import Path

    from .workbook import names as N
    from .workbook.host import read_data
    from .workbook.reader import file_reader
    from .workbook.xlsxpatch import WorkbookFileError, is_locked
    if catalog is None:
        from .plugins import catalog as default_catalog
        catalog = default_catalog()
    path = Path(path)
    if write and is_locked(path) is not None:
        raise WorkbookFileError(f"“{path.name}”正在 Excel/WPS 中打开，请先保存并关闭该文件再复核。")
    reader = file_reader(path)
    data = read_data(reader, _PackCache(catalog))
    if data.pack is None:
        problems = "；".join(str(m) for m in data.problems) or "工作簿没有写明规则包（基本信息“规则包”为空），不是 anju 模板"
        raise AnjuError(f"无法复核“{path.name}”：{problems}")
    pack = data.pack
    claims, claim_problems = workbook_claims(data, reader, pack)
    ctx = Context(pack, data.inputs, claims, getattr(catalog, "checks", ()), getattr(catalog, "rule_types", None))
    ctx.tampered = tampered_formulas(path, pack)
    findings = []
    for det in DETECTORS.values():
        findings += det.function(ctx)
    reading = [(str(m.text), (m.sheet, m.cell) if m.sheet else None) for m in data.problems] + claim_problems
    if reading:
        listed = "；".join(text for text, _ in reading[:5]) + ("等" if len(reading) > 5 else "")
        findings.append(Finding("input_error", ERROR, f"读取工作簿时发现问题：{listed}。请改正后再复核。",
                                cells=tuple(f"{w[0]}!{w[1]}" for _, w in reading if w)))
    for f in findings:
        if f.refs and not f.cells:
            f.cells = tuple(dict.fromkeys(c for c in (cell_of_ref(data, pack, r) for r in f.refs) if c))
    report = AuditReport(str(path), pack.id, sort_findings(ctx, findings), ctx.result)
    if write:
        report.written = write_review(path, data, report)
        if report.written is None:
            report.notes.append(f"工作簿没有“复核”表（名称 {N.OUT_REVIEW}），复核结果未写入工作簿；"
                                f"可用 anju template --pack {pack.id} 生成新模板。")
    return report


def tampered_formulas(path, pack: Pack) -> list:
    """Live templates: (sheet, cell, expected, found) for every output cell whose formula differs."""
    from .formulas import formula_tampering
    from .workbook.xlsxpatch import open_package
    return formula_tampering(open_package(path), pack)


class _PackCache:
    """A catalog whose compiled packs are shared with anju recalc/batch (compiling dominates)."""

    def __init__(self, catalog):
        self.catalog = catalog

    def pack(self, pack_id):
        from .workbook.recalc import pack_for
        return pack_for(self.catalog, pack_id)


def audit_data_file(path, catalog=None, pack_id: str | None = None) -> AuditReport:
    """Audit a YAML/JSON evaluation: {pack: id, inputs: {...}, claims: {scores, total, grade, ...}}."""
    from pathlib import Path

    from .packfiles import read_data_file
    if catalog is None:
        from .plugins import catalog as default_catalog
        catalog = default_catalog()
    document = read_data_file(Path(path), "复核文件")
    if not isinstance(document, dict):
        raise AnjuError(f"复核文件 {path} 应为对照表：pack、inputs、claims")
    chosen = pack_id or document.get("pack")
    if not chosen:
        raise AnjuError(f"复核文件 {path} 没有写明规则包（pack），请在文件中写 pack: <id> 或使用 --pack")
    pack = catalog.pack(str(chosen))
    claims = claims_from_mapping(document.get("claims"))
    return audit_report(pack, document.get("inputs") or {}, claims, str(path),
                        extra_checks=getattr(catalog, "checks", ()), registry=getattr(catalog, "rule_types", None))


# --------------------------------------------------------------------------- writing an evaluation into a template

