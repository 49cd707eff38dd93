"""Generated 评分标准: every rule type renders its own Chinese scoring-standard sentence.

The sentence is produced from the rule's typed parameters, the indicator's weight
and its input labels, in the phrasing of the published tables (seed 004:
"项目实际开工量大于或等于年度计划的（15分）；未达到计划的，每低一个百分点扣1分，
最多扣15分"). Templates, exports and reports print this sentence, so what is
published is what is computed.

One small renderer per rule type lives in ``RENDERERS`` (keyed by rule type
name). A plugin that adds a rule type may add its renderer with
``register_renderer``; a rule type without one falls back to its
``RuleType.description``. ``composite`` joins the sentences of its parts.

Pure: no file, spreadsheet or CLI imports.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Callable

from .numbers import HUNDRED, fmt
from .ruletypes import (CATEGORY_LABELS, DEFAULT_SURVEY_WEIGHTS, QUALITATIVE_BANDS, QUALITATIVE_LABELS, REGISTRY,
                        CompiledRule, compile_rule)


# --------------------------------------------------------------------------- context and registry

@dataclass
class Ctx:
    """What a renderer may look at: typed parameters, weight and input labels."""

    name: str
    params: dict
    weight: Decimal
    labels: dict                       # input key -> Chinese label (pack overrides applied)
    compiled: CompiledRule
    shared: bool = False               # part of a composite with a shared deduction cap
    registry: dict = field(default_factory=dict)

    def label(self, key: str, default: str = "") -> str:
        return self.labels.get(key) or default or key

    def cap(self, param: str = "max_deduction") -> Decimal:
        value = self.params.get(param)
        return self.weight if value is None else value


RENDERERS: dict[str, Callable[[Ctx], str]] = {}


def register_renderer(name: str, renderer: Callable[[Ctx], str] | None = None):
    """Add the 评分标准 renderer of a rule type (usable as a decorator)."""
    def add(function):
        RENDERERS[name] = function
        return function
    return add(renderer) if renderer is not None else add


renderer = register_renderer


# --------------------------------------------------------------------------- public API

def describe(indicator, registry: dict | None = None) -> str:
    """The 评分标准 sentence of a built ``Indicator`` (its compiled rule, weight and pack labels)."""
    compiled = indicator.compiled
    labels = {(f"{s.part}.{s.key}" if s.part else s.key): s.label for s in compiled.specs}
    return _finish(render(compiled, indicator.weight, labels, registry=registry))


def describe_rule(rule_type_name: str, params: dict, weight, labels: dict | None = None,
                  registry: dict | None = None) -> str:
    """The 评分标准 sentence of a rule given by type name and parameters (as written in a pack).

    ``labels`` maps input keys (``actual``, or ``part.key`` inside a composite) to a
    Chinese label or to ``{label: ...}``, as a pack's ``inputs:`` does.
    """
    registry = REGISTRY if registry is None else registry
    weight = Decimal(str(weight)) if not isinstance(weight, Decimal) else weight
    rule = {"type": rule_type_name, **{k: v for k, v in (params or {}).items() if k != "type"}}
    compiled = compile_rule(rule, weight, "", registry)
    merged = {(f"{s.part}.{s.key}" if s.part else s.key): s.label for s in compiled.specs}
    for key, value in (labels or {}).items():
        if isinstance(value, dict):
            if "label" in value:
                merged[str(key)] = str(value["label"])
            else:   # nested {part: {key: {...}}}
                for sub, inner in value.items():
                    merged[f"{key}.{sub}"] = str(inner.get("label") if isinstance(inner, dict) else inner)
        elif value is not None:
            merged[str(key)] = str(value)
    return _finish(render(compiled, weight, merged, registry=registry))


def render(compiled: CompiledRule, weight: Decimal, labels: dict, shared: bool = False,
           registry: dict | None = None) -> str:
    """The sentence without its final full stop (composite parts are rendered this way)."""
    rule_type = compiled.rule_type
    ctx = Ctx(rule_type.name, compiled.params, weight, labels, compiled, shared,
              REGISTRY if registry is None else registry)
    function = RENDERERS.get(rule_type.name) or getattr(rule_type, "standard", None)
    if function is None:
        return fallback(ctx)
    return function(ctx).rstrip("。；，")


def fallback(ctx: Ctx) -> str:
    rule_type = ctx.compiled.rule_type
    text = rule_type.description or rule_type.label or rule_type.name
    return f"{text}（分值{fmt(ctx.weight)}分）"


def _finish(text: str) -> str:
    text = text.strip().rstrip("。；，")
    return text + "。" if text else ""


# --------------------------------------------------------------------------- phrasing helpers

CN_DIGITS = "零一二三四五六七八九十"
TRAILING_PAREN = re.compile(r"（[^（）]*）$|\([^()]*\)$")


def pts(value) -> str:
    """'（5分）' as the seeds print a score in a standard."""
    return f"（{fmt(value)}分）"


def pct(value) -> str:
    return f"{fmt(value)}%"


def count_cn(value: Decimal) -> str:
    """'一个' style for whole numbers up to ten (seed: 每低一个百分点, 每低四个百分点)."""
    if value == value.to_integral_value() and 1 <= value <= 10:
        return ("两" if value == 2 else CN_DIGITS[int(value)]) + "个"
    return f"{fmt(value)}个"


def plain(label: str, strip_any: bool = False) -> str:
    """A label as a sentence subject: drop a trailing '（%）' style hint (or any parenthetical)."""
    label = (label or "").strip()
    match = TRAILING_PAREN.search(label)
    if match and (strip_any or "%" in match.group(0) or "％" in match.group(0)):
        label = label[:match.start()].strip()
    return label


def affirmative(label: str) -> str:
    """'地方财政是否按规定安排补助资金' -> '地方财政按规定安排补助资金'."""
    label = plain(label, strip_any=True)
    for word in ("是否", "有无", "是不是"):
        if word in label:
            return label.replace(word, "", 1)
    return label


def count_phrase(label: str, default_noun: str = "问题") -> tuple[str, str]:
    """(noun, unit) from a count label: '未及时处置信访次数' -> ('未及时处置信访', '次')."""
    text = plain(label, strip_any=True)
    unit = "项"
    if text.endswith("事项数"):      # '未完备归档事项数' -> '未完备归档事项'
        text = text[:-1]
    for suffix, found in (("次数", "次"), ("项数", "项"), ("个数", "个"), ("起数", "起"), ("件数", "件"),
                          ("处数", "处"), ("户数", "户"), ("数量", "项"), ("数", "项")):
        if text.endswith(suffix) and len(text) > len(suffix):
            text, unit = text[: -len(suffix)], found
            break
    if text.startswith("发现") and len(text) > 2:
        text = text[2:]
    return (text or default_noun), unit


def joined(items, sep: str = "、") -> str:
    return sep.join(str(i) for i in items)


# --------------------------------------------------------------------------- completion values

def value_source(ctx: Ctx) -> tuple[str, str | None]:
    """('ratio', None) when scored on actual/target, else ('value', subject)."""
    params = ctx.params
    transform = params.get("value_from")
    if transform:
        return "value", transform_subject(transform, ctx)
    basis = params.get("basis")
    full_at = params.get("full_at")
    if basis == "value" or (basis is None and full_at not in (None, HUNDRED)):
        return "value", plain(ctx.label("value", "完成值")) or "完成值"
    return "ratio", None


def transform_subject(transform: dict, ctx: Ctx) -> str:
    name = transform.get("transform")
    aliases = transform.get("aliases") or {}
    counted_as = f"，{joined(f'“{a}”按“{b}”计' for a, b in aliases.items())}" if aliases else ""
    if name == "share_yes":
        return f"问卷中回答“{transform.get('yes_label') or '是'}”的比例{counted_as}"
    if name == "survey_weighted":
        weights = transform.get("weights") or DEFAULT_SURVEY_WEIGHTS
        shown = joined(f"{option}{fmt(weight)}" for option, weight in weights.items())
        return f"问卷加权满意度（各选项权重：{shown}{counted_as}）"
    if name == "composite_rate":
        return composite_rate_subject(transform, ctx)
    return name or "完成值"


def composite_rate_subject(params: dict, ctx: Ctx) -> str:
    names = joined(c["label"] for c in params.get("components") or [])
    capped = "，各项完成率先按100%封顶" if params.get("cap_components") else "，超额完成部分不封顶"
    return f"{names}的平均完成率（各项完成率=实际值÷目标值{capped}）"


def ratio_names(ctx: Ctx) -> tuple[str, str]:
    return plain(ctx.label("actual", "实际完成值")), plain(ctx.label("target", "目标值"))


def full_condition(ctx: Ctx, full_at: Decimal) -> tuple[str, str]:
    """(condition for full marks, condition for falling short) of a value rule."""
    kind, subject = value_source(ctx)
    if kind == "ratio":
        actual, target = ratio_names(ctx)
        if full_at == HUNDRED:
            return f"{actual}大于或等于{target}的", f"未达到{target}的"
        return f"{actual}达到{target}的{pct(full_at)}及以上的", f"低于{pct(full_at)}的"
    return f"{subject}{pct(full_at)}及以上的", f"低于{pct(full_at)}的"


# --------------------------------------------------------------------------- renderers (DOMAIN §4)

@renderer("ratio_capped")
def _ratio_capped(ctx: Ctx) -> str:
    actual, target = ratio_names(ctx)
    cap = ctx.params.get("cap")
    w = fmt(ctx.weight)
    if ctx.params.get("overachieve_policy") == "reduce_by_deviation":
        return (f"{actual}等于{target}的{pts(ctx.weight)}；未达到的，得分={w}×{actual}÷{target}；"
                f"超过的，按偏离度扣分，得分={w}×(1−({actual}−{target})÷{target})")
    if cap is not None and cap != 1:
        return f"得分=分值{w}分×{actual}÷{target}，完成比例最高按{pct(cap * HUNDRED)}计"
    return f"{actual}大于或等于{target}的{pts(ctx.weight)}；未达到的，按完成比例得分，得分={w}×{actual}÷{target}"


@renderer("ratio_reverse")
def _ratio_reverse(ctx: Ctx) -> str:
    actual, target = ratio_names(ctx)
    w = fmt(ctx.weight)
    return f"{actual}小于或等于{target}的{pts(ctx.weight)}；超过的，得分={w}×{target}÷{actual}"


PP_ROUNDING_TEXT = {"floor": "百分点差额向下取整", "round_half_up": "百分点差额四舍五入取整",
                    "ceil": "不足一个百分点的按一个百分点计"}


@renderer("shortfall_deduction")
def _shortfall(ctx: Ctx) -> str:
    p = ctx.params
    full, short = full_condition(ctx, p["full_at"])
    step = p["step_pp"]
    notes = []
    if p.get("pp_rounding") in PP_ROUNDING_TEXT:
        notes.append(PP_ROUNDING_TEXT[p["pp_rounding"]])
    if step != 1:
        notes.append(f"不足{count_cn(step)}百分点的部分不扣分" if p.get("step_rounding") == "floor"
                     else f"不足{count_cn(step)}百分点的按比例扣分")
    note = f"（{'，'.join(notes)}）" if notes else ""
    text = f"{full}{pts(ctx.weight)}；{short}，每低{count_cn(step)}百分点扣{fmt(p['points_per_step'])}分{note}"
    if not ctx.shared:
        text += f"，最多扣{fmt(ctx.cap())}分"
    if p.get("zero_below") is not None:
        text += f"；低于{pct(p['zero_below'])}的不得分"
    return text


@renderer("threshold_linear")
def _threshold_linear(ctx: Ctx) -> str:
    p = ctx.params
    full, short = full_condition(ctx, p["full_at"])
    per_pp = ctx.weight * p["deduct_pct_of_weight_per_pp"] / HUNDRED
    text = f"{full}{pts(ctx.weight)}；{short}，每低一个百分点扣分值的{pct(p['deduct_pct_of_weight_per_pp'])}（{fmt(per_pp)}分）"
    if p.get("zero_below") is not None:
        text += f"；{pct(p['zero_below'])}及以下的不得分" if p.get("zero_below_inclusive") else f"；低于{pct(p['zero_below'])}的不得分"
    return text


@renderer("budget_execution")
def _budget_execution(ctx: Ctx) -> str:
    base = ctx.label("budget", "全年预算数") if ctx.params.get("base") != "funds_received" else ctx.label("received", "实际到位数")
    executed = ctx.label("executed", "全年执行数")
    w = fmt(ctx.weight)
    funds = {"central": "中央资金", "local": "地方资金"}.get(ctx.params.get("funds"), "")
    cutoff = f"（截至{ctx.params['cutoff_date']}）" if ctx.params.get("cutoff_date") else ""
    return (f"{funds}预算执行率{cutoff}（{plain(executed)}÷{plain(base)}）达到100%的{pts(ctx.weight)}；"
            f"未达到的，得分={w}×预算执行率")


def _item_label(ctx: Ctx, item: dict) -> str:
    return plain(ctx.label(item["key"], item.get("label") or item["key"]))


@renderer("checklist_sum")
def _checklist_sum(ctx: Ctx) -> str:
    p = ctx.params
    items = "；".join(f"{_item_label(ctx, i)}{pts(i['points'])}" for i in p["items"])
    if p.get("all_or_nothing"):
        text = f"{items}；以上全部满足的{pts(ctx.weight)}，否则不得分"
    else:
        text = f"{items}。否则扣减相应分数"
    if p.get("veto_key"):
        veto = plain(ctx.label(p["veto_key"], "存在截留、挤占、挪用、虚列支出等情形"), strip_any=True)
        text += f"；{veto}的，本项不得分"
    return text


@renderer("checklist_pct_deduction")
def _checklist_pct_deduction(ctx: Ctx) -> str:
    items = "，".join(f"“{_item_label(ctx, i)}”不满足的扣分值的{pct(i['deduct_pct'])}" for i in ctx.params["items"])
    return f"各要点均满足的{pts(ctx.weight)}；{items}，扣完为止"


@renderer("base_plus_items")
def _base_plus_items(ctx: Ctx) -> str:
    p, w = ctx.params, ctx.weight
    base = affirmative(ctx.label(p["base_key"], p.get("base_label") or "具备基础条件"))
    items = joined(_item_label(ctx, i) for i in p["items"])
    return (f"{base}的，得分值的{pct(p['base_pct'])}（{fmt(w * p['base_pct'] / HUNDRED)}分）；"
            f"在此基础上，{items}每满足一项加分值的{pct(p['item_pct'])}（{fmt(w * p['item_pct'] / HUNDRED)}分）；"
            f"不具备的不得分")


@renderer("binary")
def _binary(ctx: Ctx) -> str:
    label = affirmative(ctx.label(ctx.params["key"], ctx.params.get("label") or "达到要求"))
    return f"{label}的{pts(ctx.weight)}；否则不得分"


@renderer("per_item_deduction")
def _per_item(ctx: Ctx) -> str:
    p, w = ctx.params, ctx.weight
    label = ctx.label(p["key"], p.get("item_label") or "发现问题数")
    noun, unit = count_phrase(label)
    if p.get("points_per_item") is not None:
        each = f"{fmt(p['points_per_item'])}分"
    else:
        each = f"分值的{pct(p['deduct_pct_of_weight'])}（{fmt(w * p['deduct_pct_of_weight'] / HUNDRED)}分）"
    if p.get("max_deduction") is not None:
        cap_value, cap_text = p["max_deduction"], f"最多扣{fmt(p['max_deduction'])}分"
    elif p.get("max_deduction_pct") is not None:
        cap_value = w * p["max_deduction_pct"] / HUNDRED
        cap_text = "扣完为止" if p["max_deduction_pct"] >= HUNDRED else f"最多扣分值的{pct(p['max_deduction_pct'])}（{fmt(cap_value)}分）"
    else:
        cap_value, cap_text = w, "扣完为止"
    deduct = f"每发现1{unit}{noun}扣{each}"
    text = deduct if ctx.shared else f"无{noun}的{pts(w)}；{deduct}，{cap_text}"
    if p.get("severe_zero"):
        severe = plain(ctx.label("severe", "存在性质恶劣情形"), strip_any=True)
        text += f"；{severe}的，一次性扣除{fmt(w)}分"
    return text


def _late_phrases(label: str) -> tuple[str, str]:
    """('按时报送评价报告的', '评价报告报送逾期') from '评价报告逾期报送天数'."""
    stem = plain(label, strip_any=True)
    for suffix in ("天数", "日数", "天", "日"):
        if stem.endswith(suffix):
            stem = stem[: -len(suffix)]
            break
    if "逾期" in stem:
        before, after = stem.split("逾期", 1)
        return f"按时{after or '完成'}{before}的", f"{before}{after}逾期"
    return f"按时完成{stem}的", f"{stem}逾期"


@renderer("per_day_late")
def _per_day_late(ctx: Ctx) -> str:
    on_time, late = _late_phrases(ctx.label("days_late", "逾期天数"))
    return f"{on_time}{pts(ctx.weight)}；{late}每1天扣{fmt(ctx.params['points_per_day'])}分，最多扣{fmt(ctx.cap())}分"


@renderer("categorical")
def _categorical(ctx: Ctx) -> str:
    p = ctx.params
    labels = p.get("labels") or {}
    choices = "；".join(f"{labels.get(key) or CATEGORY_LABELS.get(key, key)}的{pts(value)}" for key, value in p["points"].items())
    top = max(p["points"].values())
    if p.get("scale_to_weight") and top != ctx.weight:
        choices += f"（按最高{fmt(top)}分折算到分值{fmt(ctx.weight)}分）"
    elif p.get("cap_at_weight") and top > ctx.weight:
        choices += f"（得分最高不超过分值{fmt(ctx.weight)}分）"
    return choices


@renderer("qualitative_band")
def _qualitative_band(ctx: Ctx) -> str:
    bands = ctx.params.get("bands") or QUALITATIVE_BANDS
    parts = [f"{QUALITATIVE_LABELS.get(key, key)}的，得分值的{fmt(low)}%–{fmt(high)}%" for key, (low, high) in bands.items()]
    return "；".join(parts) + f"（分值{fmt(ctx.weight)}分，由评价人在档内确定得分比例）"


@renderer("tiered_bands")
def _tiered_bands(ctx: Ctx) -> str:
    bands = ctx.params["bands"]
    kind, subject = value_source(ctx)
    if kind == "ratio":
        actual, target = ratio_names(ctx)
        subject = f"完成率（{actual}÷{target}）"
    parts = [f"低于{pct(bands[0]['min'])}的不得分"] if bands[0]["min"] is not None else []
    for index, band in enumerate(bands):
        upper = bands[index + 1]["min"] if index + 1 < len(bands) else None
        if band["min"] is None:
            where = f"低于{pct(upper)}的" if upper is not None else "任何情况下"
        elif upper is None:
            where = f"{pct(band['min'])}及以上的"
        else:
            where = f"{pct(band['min'])}（含）至{pct(upper)}的"
        award = pts(band["points"]) if "points" in band else f"（分值的{pct(band['pct_of_weight'])}）"
        name = f"〔{band['label']}〕" if band.get("label") and "%" not in band["label"] else ""
        parts.append(f"{where}{award}{name}")
    return subject + "；".join(parts)


VETO_SCOPE = {"indicator": "本项不得分", "level": "所在一级指标不得分", "total": "总分记0分"}


@renderer("veto")
def _veto(ctx: Ctx) -> str:
    p = ctx.params
    label = affirmative(ctx.label(p["key"], p.get("label") or "出现否决情形"))
    outcome = VETO_SCOPE.get(p["scope"]) or (f"评价等级直接定为“{p['grade']}”" if p.get("grade") else "评价等级直接定为最低等级")
    return f"{label}的，一票否决，{outcome}；否则{pts(ctx.weight)}"


@renderer("bonus_capped")
def _bonus_capped(ctx: Ctx) -> str:
    p = ctx.params
    full, short = full_condition(ctx, p["full_at"])
    return (f"{full}{pts(ctx.weight)}；{short}，按完成比例得分；超过{pct(p['full_at'])}的，"
            f"每超{count_cn(p['step_pp'])}百分点加{fmt(p['points_per_step'])}分，最多加{fmt(p['bonus_cap'])}分")


@renderer("global_deduction")
def _global_deduction(ctx: Ctx) -> str:
    items = "；".join(f"{_item_label(ctx, i)}，每出现一次扣{fmt(i['points'])}分" for i in ctx.params["items"])
    cap = ctx.params.get("max_deduction")
    return f"扣分项（从总分中扣除）：{items}" + (f"；合计最多扣{fmt(cap)}分" if cap is not None else "")


@renderer("composite_rate")
def _composite_rate(ctx: Ctx) -> str:
    subject = composite_rate_subject(ctx.params, ctx)
    return f"{subject}达到100%的{pts(ctx.weight)}；未达到的，得分={fmt(ctx.weight)}×平均完成率"


def _transform_renderer(name: str):
    def render_transform(ctx: Ctx) -> str:
        subject = transform_subject({"transform": name, **ctx.params}, ctx)
        full_at = ctx.params.get("full_at") or HUNDRED
        return f"{subject}达到{pct(full_at)}及以上的{pts(ctx.weight)}；未达到的，得分={fmt(ctx.weight)}×{subject.split('（')[0]}÷{pct(full_at)}"
    return render_transform


register_renderer("survey_weighted", _transform_renderer("survey_weighted"))
register_renderer("share_yes", _transform_renderer("share_yes"))


@renderer("composite")
def _composite(ctx: Ctx) -> str:
    shared_cap = ctx.params.get("shared_cap")
    sentences = []
    for key, label, part_weight, sub in ctx.compiled.parts:
        weight = part_weight if part_weight is not None else (shared_cap if shared_cap is not None else ctx.weight)
        prefix = f"{key}."
        labels = {k[len(prefix):]: v for k, v in ctx.labels.items() if k.startswith(prefix)}
        sentences.append(render(sub, weight, labels, shared=shared_cap is not None, registry=ctx.registry))
    if shared_cap is not None:
        return "；".join(sentences) + f"；以上合计最多扣{fmt(shared_cap)}分"
    return "。".join(sentences)


@renderer("formula")
def _formula(ctx: Ctx) -> str:
    if ctx.params.get("describe"):
        return str(ctx.params["describe"])
    names = joined(f"{d['key']}（{d['label']}）" for d in ctx.params["inputs"])
    clamp_text = "，得分限制在0至分值之间" if ctx.params.get("clamp", True) else ""
    return f"得分按公式 {ctx.params['expr']} 计算（w为分值{fmt(ctx.weight)}分；{names}）{clamp_text}"


def rule_label(name: str, registry: dict | None = None) -> str:
    """The Chinese name of a rule type (for exports and diffs)."""
    registry = REGISTRY if registry is None else registry
    rule_type = registry.get(name)
    return rule_type.label if rule_type else name


__all__ = ["describe", "describe_rule", "render", "register_renderer", "RENDERERS", "Ctx", "rule_label"]
