"""The rule vocabulary (DOMAIN.md §4): each rule type is a small pure function in one registry.

A rule function receives a ``Call`` (the indicator's weight, typed parameters
and parsed inputs) and returns an ``Outcome``: the raw score (before the pack's
rounding), the arithmetic in Chinese for the 评分说明, and derived facts.
Rounding, N/A handling, subtotals and grades are done by ``engine.scoring``.

Plugins add rule types with the same ``RuleType`` record (see ``hookspecs``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import ROUND_CEILING, ROUND_FLOOR, ROUND_HALF_UP, Decimal
from typing import Callable

from .errors import InputError, RuleDefinitionError
from .expressions import Expression
from .model import InputSpec
from .numbers import HUNDRED, ONE, ZERO, clamp, fmt, fmt_pct, quantize, safe_div, to_bool, to_decimal


# --------------------------------------------------------------------------- records

@dataclass(frozen=True)
class Param:
    """A declared rule parameter. ``kind`` selects the parser in ``PARAM_PARSERS``."""

    kind: str
    label: str = ""
    required: bool = False
    default: object = None
    choices: tuple = ()


@dataclass(slots=True)
class Outcome:
    """What a rule returns. A value: never change one after it is returned, because
    ``run_rule`` hands the same Outcome out again for the same discrete answers."""

    score: Decimal
    text: str
    facts: dict = field(default_factory=dict)
    warnings: list | tuple = ()
    settled: tuple | None = None     # engine.scoring.settled_result's result for this outcome, kept for reuse


@dataclass(slots=True)
class Call:
    """Everything a rule function may look at."""

    code: str
    weight: Decimal
    params: dict
    inputs: dict
    specs: dict                      # key -> InputSpec (labels and units for explanations)
    compiled: "CompiledRule"

    def label(self, key: str) -> str:
        spec = self.specs.get(key)
        return spec.label if spec else key

    def unit(self, key: str) -> str:
        spec = self.specs.get(key)
        return spec.unit if spec else ""

    def shown(self, key: str) -> str:
        """'实际完成6个' style: label, value and unit."""
        spec = self.specs.get(key)
        value = fmt(self.inputs[key])
        return f"{spec.label}{value}{spec.unit}" if spec else f"{key}{value}"


@dataclass(frozen=True)
class RuleType:
    name: str
    label: str                                   # Chinese name shown to staff
    score: Callable[[Call], Outcome]
    params: dict
    inputs: Callable[[dict], list]               # typed params -> [InputSpec]
    max_points: Callable[[dict, Decimal], Decimal | None] = lambda p, w: None
    description: str = ""                        # one-line Chinese description for docs
    origin: str = "engine"
    normalise: Callable[[dict, str], dict] | None = None   # typed params -> canonical params (other spellings)


@dataclass
class CompiledRule:
    """A rule of one indicator with typed parameters, ready to run many times."""

    rule_type: RuleType
    params: dict
    specs: list                                  # [InputSpec] incl. composite parts
    parts: list = field(default_factory=list)    # composite: [(key, label, weight|None, CompiledRule)]
    expression: Expression | None = None
    spec_map: dict | None = None                 # key -> InputSpec, filled on first run (after relabelling)
    parse_plan: tuple | None = None              # engine.scoring.ParsePlan, built on first use
    memo: dict | None = None                     # discrete inputs -> Outcome (see run_rule)
    memo_keys: tuple = ()


REGISTRY: dict[str, RuleType] = {}


def register(rule_type: RuleType) -> None:
    """Add a rule type; a second type with the same name is a programming error."""
    if rule_type.name in REGISTRY and REGISTRY[rule_type.name] is not rule_type:
        raise RuleDefinitionError(f"规则类型“{rule_type.name}”重复注册（来源：{REGISTRY[rule_type.name].origin} 与 {rule_type.origin}）")
    REGISTRY[rule_type.name] = rule_type


def rule_type(name: str, label: str, *, params: dict, inputs: Callable, max_points=None, description: str = "",
              normalise=None):
    """Decorator registering a built-in rule function."""
    def wrap(function):
        register(RuleType(name, label, function, params, inputs, max_points or (lambda p, w: None), description,
                          normalise=normalise))
        return function
    return wrap


# --------------------------------------------------------------------------- parameter parsing

def _param_decimal(value, where):
    try:
        return to_decimal(value, what=where)
    except InputError as exc:
        raise RuleDefinitionError(str(exc)) from None


def _param_bool(value, where):
    try:
        return to_bool(value, what=where)
    except InputError as exc:
        raise RuleDefinitionError(str(exc)) from None


def _param_int(value, where):
    number = _param_decimal(value, where)
    if number != number.to_integral_value():
        raise RuleDefinitionError(f"{where}应为整数，收到“{value}”")
    return int(number)


def _param_str(value, where):
    if not isinstance(value, (str, int)) or isinstance(value, bool):
        raise RuleDefinitionError(f"{where}应为文字，收到“{value}”")
    return str(value)


def _item_key(raw, where, index):
    if isinstance(raw, str):
        return {"key": raw, "label": raw}
    if isinstance(raw, dict) and raw.get("key"):
        return dict(raw)
    raise RuleDefinitionError(f"{where}第{index + 1}项缺少 key")


def _param_items(fields):
    """A list of {key, label, <fields>} items, e.g. checklist points."""
    def parse(value, where):
        if not isinstance(value, list) or not value:
            raise RuleDefinitionError(f"{where}应为非空列表")
        items, seen = [], set()
        for index, raw in enumerate(value):
            item = _item_key(raw, where, index)
            if item["key"] in seen:
                raise RuleDefinitionError(f"{where}中的要点 key“{item['key']}”重复")
            seen.add(item["key"])
            parsed = {"key": str(item["key"]), "label": str(item.get("label") or item["key"])}
            for name in fields:
                if name not in item:
                    raise RuleDefinitionError(f"{where}第{index + 1}项（{item['key']}）缺少 {name}")
                parsed[name] = _param_decimal(item[name], f"{where}第{index + 1}项的 {name}")
            items.append(parsed)
        return items
    return parse


def _param_decimal_list(value, where):
    if not isinstance(value, list) or not value:
        raise RuleDefinitionError(f"{where}应为非空的数字列表")
    return [_param_decimal(v, f"{where}第{i + 1}项") for i, v in enumerate(value)]


def _param_decimal_map(value, where):
    if not isinstance(value, dict) or not value:
        raise RuleDefinitionError(f"{where}应为非空的“名称: 分值”对照表")
    return {str(k): _param_decimal(v, f"{where}中“{k}”的值") for k, v in value.items()}


def _param_str_map(value, where):
    if not isinstance(value, dict):
        raise RuleDefinitionError(f"{where}应为对照表")
    return {str(k): str(v) for k, v in value.items()}


def _param_bands(value, where):
    """Tiered bands: [{min, points | pct_of_weight, label?}], lower bounds inclusive."""
    if not isinstance(value, list) or not value:
        raise RuleDefinitionError(f"{where}应为非空列表，每档写 min（下限，含）和 points（分值）")
    bands = []
    for index, raw in enumerate(value):
        if not isinstance(raw, dict) or ("points" not in raw and "pct_of_weight" not in raw):
            raise RuleDefinitionError(f"{where}第{index + 1}档须有 points 或 pct_of_weight")
        band = {"min": _param_decimal(raw["min"], f"{where}第{index + 1}档的 min") if raw.get("min") is not None else None,
                "label": str(raw.get("label", ""))}
        if "points" in raw:
            band["points"] = _param_decimal(raw["points"], f"{where}第{index + 1}档的 points")
        else:
            band["pct_of_weight"] = _param_decimal(raw["pct_of_weight"], f"{where}第{index + 1}档的 pct_of_weight")
        bands.append(band)
    mins = [b["min"] for b in bands[1:]]
    if any(m is None for m in mins) or mins != sorted(mins):
        raise RuleDefinitionError(f"{where}各档须按 min 从小到大排列（只有第一档可省略 min）")
    return bands


def _param_value_from(value, where):
    if not isinstance(value, dict) or value.get("transform") not in TRANSFORMS:
        raise RuleDefinitionError(f"{where}须写 transform，可选：{', '.join(TRANSFORMS)}")
    transform = TRANSFORMS[value["transform"]]
    parsed = {"transform": value["transform"]}
    for name, param in transform.params.items():
        if name in value:
            parsed[name] = PARAM_PARSERS[param.kind](value[name], f"{where}.{name}")
        elif param.required:
            raise RuleDefinitionError(f"{where}缺少参数 {name}")
        else:
            parsed[name] = param.default
    unknown = set(value) - set(transform.params) - {"transform"}
    if unknown:
        raise RuleDefinitionError(f"{where}有未知参数：{', '.join(sorted(unknown))}")
    return parsed


def _param_bandmap(value, where):
    """qualitative bands {achieved: [80, 100], ...}."""
    if not isinstance(value, dict):
        raise RuleDefinitionError(f"{where}应为对照表，如 achieved: [80, 100]")
    bands = {}
    for key, bounds in value.items():
        if not isinstance(bounds, (list, tuple)) or len(bounds) != 2:
            raise RuleDefinitionError(f"{where}中“{key}”应为[下限, 上限]")
        bands[_band_key(key)] = (_param_decimal(bounds[0], f"{where}.{key}"), _param_decimal(bounds[1], f"{where}.{key}"))
    return bands


def _param_input_decls(value, where):
    """formula rules declare their own inputs: [{key, label, kind, unit}]."""
    if not isinstance(value, list) or not value:
        raise RuleDefinitionError(f"{where}应列出公式用到的输入项（key、label、kind）")
    decls = []
    for index, raw in enumerate(value):
        item = _item_key(raw, where, index)
        kind = item.get("kind", "number")
        if kind not in ("number", "percent", "count", "days", "bool"):
            raise RuleDefinitionError(f"{where}第{index + 1}项的 kind“{kind}”不支持；可选 number、percent、count、days、bool")
        if not str(item["key"]).isidentifier():
            raise RuleDefinitionError(f"{where}第{index + 1}项的 key“{item['key']}”不能用作公式中的名称")
        decls.append({"key": str(item["key"]), "label": str(item.get("label") or item["key"]), "kind": kind,
                      "unit": str(item.get("unit", ""))})
    return decls


def _param_choice(param):
    def parse(value, where):
        text = _param_str(value, where)
        if text not in param.choices:
            raise RuleDefinitionError(f"{where}取值“{text}”无效，可选：{'、'.join(param.choices)}")
        return text
    return parse


PARAM_PARSERS = {
    "decimal": _param_decimal,
    "int": _param_int,
    "bool": _param_bool,
    "str": _param_str,
    "points_items": _param_items(("points",)),
    "pct_items": _param_items(("deduct_pct",)),
    "deduction_items": _param_items(("points",)),
    "keys": _param_items(()),
    "decimal_map": _param_decimal_map,
    "str_map": _param_str_map,
    "bands": _param_bands,
    "value_from": _param_value_from,
    "bandmap": _param_bandmap,
    "input_decls": _param_input_decls,
    "decimal_list": _param_decimal_list,
    "expr": _param_str,
    "parts": lambda value, where: value,   # compiled recursively by compile_rule
}


def parse_params(type_name: str, declared: dict, raw: dict, where: str) -> dict:
    params = {}
    for name, param in declared.items():
        label = f"{where}规则“{type_name}”的参数 {name}"
        if name in raw and raw[name] is not None:
            parser = _param_choice(param) if param.choices else PARAM_PARSERS[param.kind]
            params[name] = parser(raw[name], label)
        elif param.required:
            raise RuleDefinitionError(f"{where}规则“{type_name}”缺少必填参数 {name}（{param.label}）")
        else:
            params[name] = param.default
    unknown = set(raw) - set(declared) - {"type"}
    if unknown:
        raise RuleDefinitionError(f"{where}规则“{type_name}”有未知参数：{', '.join(sorted(unknown))}；可用参数：{', '.join(declared) or '无'}")
    return params


# --------------------------------------------------------------------------- shared input helpers

def spec(key, label, kind, unit="", **extra) -> InputSpec:
    return InputSpec(key=key, label=label, kind=kind, unit=unit, **extra)


ACTUAL = spec("actual", "实际完成值", "number")
TARGET = spec("target", "目标值", "number")


def ratio_inputs(params):
    return [ACTUAL, TARGET]


def value_inputs(params):
    """Rules scored on a percentage 'value': from a transform, entered directly, or actual/target."""
    if params.get("value_from"):
        return TRANSFORMS[params["value_from"]["transform"]].inputs(params["value_from"])
    value = spec("value", "完成值（%）", "percent")
    if params.get("basis") == "value" or (params.get("basis") is None and params.get("full_at") not in (None, HUNDRED)):
        return [value]
    # actual/target preferred; a directly entered percentage is accepted instead (resolve_value checks one is there)
    return [InputSpec("actual", "实际完成值", "number", required=False), InputSpec("target", "目标值", "number", required=False),
            InputSpec("value", "完成率（%，可代替实际值和目标值）", "percent", required=False)]


def resolve_value(call: Call) -> tuple[Decimal, str]:
    """The percentage a value rule scores, and how it was obtained (for the 评分说明)."""
    transform = call.params.get("value_from")
    if transform:
        return TRANSFORMS[transform["transform"]].compute(call, transform)
    if call.inputs.get("value") is not None and call.inputs.get("actual") is None:
        return call.inputs["value"], f"{call.label('value')}{fmt_pct(call.inputs['value'])}"
    actual, target = call.inputs.get("actual"), call.inputs.get("target")
    if actual is None or target is None:
        raise InputError(f"指标{call.code}：请填写{call.label('actual')}和{call.label('target')}（或直接填写完成率）", call.code, "actual")
    target_positive(call, target)
    value = safe_div(actual, target) * HUNDRED
    return value, f"{call.shown('target')}，{call.shown('actual')}，完成率{fmt_pct(value)}"


def target_positive(call: Call, target: Decimal) -> None:
    if target <= 0:
        raise InputError(f"指标{call.code}：{call.label('target')}须大于0（收到{fmt(target)}）；如本年度无此项任务，请填“无任务”", call.code, "target")


def pct_rate_warning(call: Call, key: str) -> list:
    """A '率' entered above 100% (seed 003's 备案率 127.25%) is a data warning, not a score."""
    value = call.inputs.get(key)
    if value is not None and value > HUNDRED and call.unit(key) == "%":
        return [f"指标{call.code}：{call.label(key)}{fmt(value)}%超过100%，比率类数据上限应为100%，请核实"]
    return []


def points(value: Decimal) -> str:
    return f"{fmt(value)}分"


# --------------------------------------------------------------------------- input transforms (RT05, RT20)

@dataclass(frozen=True)
class Transform:
    name: str
    label: str
    params: dict
    inputs: Callable[[dict], list]
    compute: Callable[[Call, dict], tuple]


DEFAULT_SURVEY_WEIGHTS = {"非常满意": Decimal("1"), "比较满意": Decimal("0.6"), "满意": Decimal("0.6"),
                          "一般": Decimal("0.3"), "不满意": ZERO, "很不满意": ZERO, "非常不满意": ZERO}


def answers_total(call: Call, params: dict) -> tuple[dict, Decimal]:
    answers = call.inputs["answers"]
    aliases = params.get("aliases")
    if aliases:   # e.g. 比较满意 counted as 满意 (DOMAIN RT05 "label aliases")
        merged: dict = {}
        for label, count in answers.items():
            merged[aliases.get(label, label)] = merged.get(aliases.get(label, label), ZERO) + count
        answers = merged
    total = sum(answers.values(), ZERO)
    if total <= 0:
        raise InputError(f"指标{call.code}：问卷有效答卷数为0，无法计算", call.code, "answers")
    return answers, total


def _share_yes(call: Call, params: dict):
    answers, total = answers_total(call, params)
    yes_label = params["yes_label"]
    yes = answers.get(yes_label, ZERO)
    value = safe_div(yes, total) * HUNDRED
    return value, f"问卷有效答卷{fmt(total)}份，其中“{yes_label}”{fmt(yes)}份，占比{fmt_pct(value)}"


def _survey_weighted(call: Call, params: dict):
    answers, total = answers_total(call, params)
    weights = params["weights"] or DEFAULT_SURVEY_WEIGHTS
    unknown = [label for label, count in answers.items() if label not in weights and count > 0]
    if unknown:
        raise InputError(f"指标{call.code}：问卷选项“{'、'.join(unknown)}”没有设定权重（已设定：{'、'.join(weights)}）", call.code, "answers")
    weighted = sum((count * weights.get(label, ZERO) for label, count in answers.items()), ZERO)
    value = safe_div(weighted, total) * HUNDRED
    terms = "+".join(f"{fmt(c)}×{fmt(weights.get(l, ZERO))}" for l, c in answers.items() if c)
    return value, f"问卷有效答卷{fmt(total)}份，加权满意度=({terms})÷{fmt(total)}={fmt_pct(value)}"


def _component_rates(call: Call, params: dict):
    rates, shown = [], []
    for component in params["components"]:
        key = component["key"]
        facts = call.inputs.get(key) or {}
        actual, target = facts.get("actual"), facts.get("target")
        if target is None or actual is None:
            raise InputError(f"指标{call.code}：请填写“{component['label']}”的实际值和目标值", call.code, key)
        target_positive(call, target)
        rate = safe_div(actual, target) * HUNDRED
        if params["cap_components"]:
            rate = min(rate, HUNDRED)
        rates.append(rate)
        shown.append(f"{component['label']}{fmt_pct(rate)}")
    value = safe_div(sum(rates, ZERO), Decimal(len(rates)))
    how = "（各项完成率封顶100%）" if params["cap_components"] else "（超额部分不封顶）"
    return value, f"{'、'.join(shown)}，平均完成率{fmt_pct(value)}{how}"


def _answers_inputs(choices):
    return lambda params: [InputSpec("answers", "问卷选项及人数", "answers",
                                     choices=tuple(params.get("weights") or choices))]


def _component_inputs(params):
    specs = []
    for component in params["components"]:
        specs.append(InputSpec("actual", f"{component['label']}实际值", "number", part=component["key"]))
        specs.append(InputSpec("target", f"{component['label']}目标值", "number", part=component["key"]))
    return specs


TRANSFORMS = {
    "share_yes": Transform("share_yes", "问卷“是”占比", {"yes_label": Param("str", "表示肯定的选项", default="是"),
                                                        "aliases": Param("str_map", "选项别名（别名: 标准选项）", default=None)},
                           lambda p: [InputSpec("answers", "问卷选项及人数", "answers", choices=(p.get("yes_label") or "是", "否"))],
                           _share_yes),
    "survey_weighted": Transform("survey_weighted", "问卷加权满意度",
                                 {"weights": Param("decimal_map", "各选项权重", default=None),
                                  "aliases": Param("str_map", "选项别名（别名: 标准选项，如 比较满意: 满意）", default=None)},
                                 _answers_inputs(DEFAULT_SURVEY_WEIGHTS), _survey_weighted),
    "composite_rate": Transform("composite_rate", "多项完成率平均",
                                {"components": Param("keys", "参与平均的分项", required=True),
                                 "cap_components": Param("bool", "各项先封顶100%", default=False)},
                                _component_inputs, _component_rates),
}


# --------------------------------------------------------------------------- RT01 – RT20

@rule_type("ratio_capped", "正向比例", description="得分=分值×实际完成值/目标值，超额完成按满分计",
           params={"cap": Param("decimal", "完成率封顶（1为100%）", default=ONE),
                   "overachieve_policy": Param("str", "超额完成的处理：none（按满分计）或 reduce_by_deviation（按偏离度扣分）",
                                               default="none", choices=("none", "reduce_by_deviation"))},
           inputs=ratio_inputs, max_points=lambda p, w: w * max(ONE, p["cap"]))
def ratio_capped(call: Call) -> Outcome:
    actual, target = call.inputs["actual"], call.inputs["target"]
    target_positive(call, target)
    ratio = safe_div(actual, target)
    cap = call.params["cap"]
    score = call.weight * clamp(ratio, ZERO, cap)
    pct = ratio * HUNDRED
    shown_pct = fmt_pct(pct)
    text = f"{call.shown('target')}，{call.shown('actual')}，完成率{shown_pct}"
    if ratio > ONE and call.params["overachieve_policy"] == "reduce_by_deviation":
        # 财预〔2020〕10号 lets an evaluator mark down a target overshot by far: 偏离度 = (实际−目标)÷目标
        deviation = ratio - ONE
        score = call.weight * max(ZERO, ONE - deviation)
        text += (f"，超出目标，偏离度{fmt_pct(deviation * HUNDRED)}，按偏离度扣分，"
                 f"得分={fmt(call.weight)}×(1−{fmt_pct(deviation * HUNDRED)})={fmt(score)}")
        return Outcome(score, text, {"completion_pct": pct}, pct_rate_warning(call, "actual"))
    if ratio >= cap:
        text += "，达到目标" + ("（超额完成，按满分计）" if ratio > cap else "")
    else:
        text += f"，未达到目标，得分={fmt(call.weight)}×{shown_pct}={fmt(score)}"
    return Outcome(score, text, {"completion_pct": pct}, pct_rate_warning(call, "actual"))


@rule_type("ratio_reverse", "反向比例（成本类）", description="实际值不高于目标值得满分，否则得分=分值×目标值/实际值",
           params={}, inputs=ratio_inputs)
def ratio_reverse(call: Call) -> Outcome:
    actual, target = call.inputs["actual"], call.inputs["target"]
    target_positive(call, target)
    head = f"{call.shown('target')}（不高于），{call.shown('actual')}"
    if actual <= target:
        return Outcome(call.weight, head + "，未超过目标值", {"completion_pct": HUNDRED})
    if actual <= 0:
        raise InputError(f"指标{call.code}：{call.label('actual')}须大于0", call.code, "actual")
    score = call.weight * safe_div(target, actual)
    return Outcome(score, head + f"，超过目标值，得分={fmt(call.weight)}×{fmt(target)}÷{fmt(actual)}={fmt(score)}",
                   {"completion_pct": safe_div(target, actual) * HUNDRED})


PP_ROUNDING = ("none", "floor", "round_half_up", "ceil")


def _round_pp(value: Decimal, how: str) -> Decimal:
    if how == "floor":
        return value.to_integral_value(rounding=ROUND_FLOOR)
    if how == "ceil":
        return value.to_integral_value(rounding=ROUND_CEILING)
    if how == "round_half_up":
        return quantize(value, 0, ROUND_HALF_UP)
    return value


VALUE_PARAMS = {
    "value_from": Param("value_from", "由问卷等数据推算完成值"),
    "basis": Param("str", "完成值来源：ratio（实际/目标）或 value（直接填写百分比）", choices=("ratio", "value")),
}


@rule_type("shortfall_deduction", "每低N个百分点扣分", description="达到满分线得满分；每低N个百分点扣k分，最多扣完",
           params={"full_at": Param("decimal", "满分线（%）", default=HUNDRED),
                   "step_pp": Param("decimal", "每低几个百分点", default=ONE),
                   "points_per_step": Param("decimal", "每步扣分", default=ONE),
                   "max_deduction": Param("decimal", "最多扣分（默认为分值）"),
                   "pp_rounding": Param("str", "百分点差取整方式", default="none", choices=PP_ROUNDING),
                   "step_rounding": Param("str", "步数取整方式", default="none", choices=("none", "floor")),
                   "zero_below": Param("decimal", "低于该值不得分（%）"),
                   **VALUE_PARAMS},
           inputs=value_inputs)
def shortfall_deduction(call: Call) -> Outcome:
    p, w = call.params, call.weight
    value, how = resolve_value(call)
    facts = {"value_pct": value}
    if p["zero_below"] is not None and value < p["zero_below"]:
        return Outcome(ZERO, f"{how}，低于{fmt_pct(p['zero_below'])}，不得分", facts)
    short = max(ZERO, p["full_at"] - value)
    if short == 0:
        return Outcome(w, f"{how}，达到{fmt_pct(p['full_at'])}", facts)
    counted = _round_pp(short, p["pp_rounding"])
    steps = safe_div(counted, p["step_pp"])
    if p["step_rounding"] == "floor":
        steps = steps.to_integral_value(rounding=ROUND_FLOOR)
    cap = w if p["max_deduction"] is None else p["max_deduction"]
    deduction = min(cap, p["points_per_step"] * steps)
    counted_text = f"（按{fmt(counted)}个百分点计）" if counted != short else ""
    step_text = f"每低{fmt(p['step_pp'])}个百分点扣{points(p['points_per_step'])}"
    capped = f"，最多扣{points(cap)}" if deduction == cap else ""
    facts.update(shortfall_pp=short, deduction=deduction)
    return Outcome(max(ZERO, w - deduction),
                   f"{how}，低于{fmt_pct(p['full_at'])}共{fmt(short, 4)}个百分点{counted_text}，{step_text}{capped}，扣{fmt(deduction)}分",
                   facts)


@rule_type("threshold_linear", "满分线以下按百分点扣权重比例", description="达到满分线得满分；每低1个百分点扣分值的x%；低于下限不得分",
           params={"full_at": Param("decimal", "满分线（%）", required=True),
                   "deduct_pct_of_weight_per_pp": Param("decimal", "每低1个百分点扣分值的百分比", required=True),
                   "zero_below": Param("decimal", "低于该值不得分（%）"),
                   "zero_below_inclusive": Param("bool", "等于下限也不得分", default=False),
                   **VALUE_PARAMS},
           inputs=value_inputs)
def threshold_linear(call: Call) -> Outcome:
    p, w = call.params, call.weight
    value, how = resolve_value(call)
    facts = {"value_pct": value}
    zero = p["zero_below"]
    if zero is not None and (value < zero or (p["zero_below_inclusive"] and value == zero)):
        return Outcome(ZERO, f"{how}，{'不高于' if p['zero_below_inclusive'] else '低于'}{fmt_pct(zero)}，不得分", facts)
    short = max(ZERO, p["full_at"] - value)
    if short == 0:
        return Outcome(w, f"{how}，达到满分线{fmt_pct(p['full_at'])}", facts)
    per_pp = w * p["deduct_pct_of_weight_per_pp"] / HUNDRED
    score = max(ZERO, w - short * per_pp)
    facts.update(shortfall_pp=short, deduction=w - score)
    return Outcome(score, f"{how}，低于满分线{fmt_pct(p['full_at'])}共{fmt(short, 4)}个百分点，每低1个百分点扣分值的{fmt_pct(p['deduct_pct_of_weight_per_pp'])}，"
                          f"得分={fmt(w)}−{fmt(short, 4)}×{fmt(per_pp)}={fmt(score)}", facts)


@rule_type("budget_execution", "预算执行率", description="得分=分值×执行数/预算数（或到位数），最高为分值",
           params={"base": Param("str", "执行率分母：budget（预算数）或 funds_received（到位数）", default="budget",
                                 choices=("budget", "funds_received")),
                   "cutoff_date": Param("str", "执行数统计截止日期（写入评分说明，如 2022-12-31）"),
                   "funds": Param("str", "资金口径：total（全部资金）、central（中央资金）或 local（地方资金）", default="total",
                                  choices=("total", "central", "local"))},
           inputs=lambda p: [spec("budget", "全年预算数", "number", "万元"), spec("executed", "全年执行数", "number", "万元"),
                             spec("received", "实际到位数", "number", "万元", required=p["base"] == "funds_received")])
def budget_execution(call: Call) -> Outcome:
    budget, executed, received = call.inputs["budget"], call.inputs["executed"], call.inputs.get("received")
    warnings = []
    if received is not None and received > budget:
        warnings.append(f"指标{call.code}：资金到位数{fmt(received)}万元大于预算数{fmt(budget)}万元，请核实到位率")
    base_is_budget = call.params["base"] == "budget"
    base = budget if base_is_budget else received
    if base is None or base <= 0:
        key = "budget" if base_is_budget else "received"
        raise InputError(f"指标{call.code}：{call.label(key)}须大于0", call.code, key)
    rate = safe_div(executed, base)
    score = call.weight * clamp(rate, ZERO, ONE)
    funds = FUNDS_TEXT[call.params["funds"]]
    cutoff = f"截至{call.params['cutoff_date']}，" if call.params["cutoff_date"] else ""
    text = (f"{cutoff}{funds}{'全年预算数' if base_is_budget else '实际到位数'}{fmt(base)}万元，"
            f"全年执行数{fmt(executed)}万元，执行率{fmt_pct(rate * HUNDRED)}")
    if rate > 1:
        warnings.append(f"指标{call.code}：执行数{fmt(executed)}万元大于{'预算' if base_is_budget else '到位'}数{fmt(base)}万元")
        text += "，按100%计"
    elif rate < 1:
        text += f"，得分={fmt(call.weight)}×{fmt_pct(rate * HUNDRED)}={fmt(score)}"
    return Outcome(score, text, {"execution_pct": rate * HUNDRED}, warnings)


FUNDS_TEXT = {"total": "", "central": "中央资金", "local": "地方资金"}


def _bool_items(params, key="items"):
    return [spec(item["key"], item["label"], "bool") for item in params[key]]


def _checklist_inputs(params):
    specs = _bool_items(params)
    if params.get("veto_key"):
        specs.append(spec(params["veto_key"], "存在否决情形（如截留、挤占、挪用、虚列支出）", "bool"))
    return specs


@rule_type("checklist_sum", "要点加总", description="每满足一个要点得相应分值，合计为得分",
           params={"items": Param("points_items", "要点及分值", required=True),
                   "all_or_nothing": Param("bool", "全部满足才得分", default=False),
                   "veto_key": Param("str", "否决项输入名")},
           inputs=_checklist_inputs,
           max_points=lambda p, w: sum((i["points"] for i in p["items"]), ZERO))
def checklist_sum(call: Call) -> Outcome:
    items, p = call.params["items"], call.params
    met = [i for i in items if call.inputs[i["key"]]]
    missing = [i for i in items if not call.inputs[i["key"]]]
    if p["veto_key"] and call.inputs.get(p["veto_key"]):
        return Outcome(ZERO, f"存在{call.label(p['veto_key'])}，本项不得分", {"vetoed": True})
    listed = "；".join(f"{i['label']}（{points(i['points'])}）{'√' if call.inputs[i['key']] else '×'}" for i in items)
    if p["all_or_nothing"] and missing:
        return Outcome(ZERO, f"{listed}；须全部满足，不得分")
    score = min(call.weight, sum((i["points"] for i in met), ZERO))
    arithmetic = "+".join(fmt(i["points"]) for i in met) or "0"
    return Outcome(score, f"{listed}；得分={arithmetic}={fmt(score)}" if len(met) > 1 else listed)


@rule_type("checklist_pct_deduction", "缺项扣分值百分比", description="每缺一个要点扣分值的相应百分比",
           params={"items": Param("pct_items", "要点及缺项扣分比例", required=True)},
           inputs=_bool_items)
def checklist_pct_deduction(call: Call) -> Outcome:
    missing = [i for i in call.params["items"] if not call.inputs[i["key"]]]
    pct = min(HUNDRED, sum((i["deduct_pct"] for i in missing), ZERO))
    score = call.weight * (HUNDRED - pct) / HUNDRED
    if not missing:
        return Outcome(score, "各要点均满足")
    lacks = "、".join(f"{i['label']}（扣{fmt_pct(i['deduct_pct'])}）" for i in missing)
    return Outcome(score, f"缺少：{lacks}；得分={fmt(call.weight)}×{fmt_pct(HUNDRED - pct)}={fmt(score)}")


@rule_type("base_plus_items", "基础分加要点", description="具备基础条件得分值的基础比例，每满足一个要点再加一定比例",
           params={"base_key": Param("str", "基础条件输入名", default="has_base"),
                   "base_label": Param("str", "基础条件说明", default="具备基础条件"),
                   "base_pct": Param("decimal", "基础比例（%）", required=True),
                   "item_pct": Param("decimal", "每个要点比例（%）", required=True),
                   "items": Param("keys", "要点", required=True)},
           inputs=lambda p: [spec(p["base_key"], p["base_label"], "bool")] + _bool_items(p),
           max_points=lambda p, w: w * (p["base_pct"] + p["item_pct"] * len(p["items"])) / HUNDRED)
def base_plus_items(call: Call) -> Outcome:
    p, w = call.params, call.weight
    if not call.inputs[p["base_key"]]:
        return Outcome(ZERO, f"不满足基础条件（{call.label(p['base_key'])}），不得分")
    met = [i for i in p["items"] if call.inputs[i["key"]]]
    missing = [i["label"] for i in p["items"] if not call.inputs[i["key"]]]
    pct = min(HUNDRED, p["base_pct"] + p["item_pct"] * len(met))
    score = w * pct / HUNDRED
    lacks = f"，未满足：{'、'.join(missing)}" if missing else ""
    return Outcome(score, f"基础比例{fmt_pct(p['base_pct'])}，满足{len(met)}个要点各加{fmt_pct(p['item_pct'])}{lacks}；"
                          f"得分={fmt(w)}×{fmt_pct(pct)}={fmt(score)}")


@rule_type("binary", "达到得满分否则不得分", description="达到要求得满分，否则得0分",
           params={"key": Param("str", "输入名", default="met"), "label": Param("str", "判断内容", default="达到要求")},
           inputs=lambda p: [spec(p["key"], p["label"], "bool")])
def binary(call: Call) -> Outcome:
    key = call.params["key"]
    if call.inputs[key]:
        return Outcome(call.weight, f"{call.label(key)}：是")
    return Outcome(ZERO, f"{call.label(key)}：否，不得分")


def _deduction_inputs(params):
    specs = [spec(params["key"], params["item_label"], "count")]
    if params["severe_zero"]:
        specs.append(spec("severe", "存在性质恶劣情形（一次性扣完）", "bool", required=False, default=False))
    return specs


@rule_type("per_item_deduction", "每发现一项扣分", description="每发现一项问题扣固定分值或分值的百分比，最多扣完",
           params={"points_per_item": Param("decimal", "每项扣分"),
                   "deduct_pct_of_weight": Param("decimal", "每项扣分值的百分比"),
                   "max_deduction": Param("decimal", "最多扣分（默认为分值）"),
                   "max_deduction_pct": Param("decimal", "最多扣分值的百分比"),
                   "severe_zero": Param("bool", "性质恶劣一次性扣完", default=False),
                   "key": Param("str", "输入名", default="count"),
                   "item_label": Param("str", "问题项说明", default="发现问题数")},
           inputs=_deduction_inputs)
def per_item_deduction(call: Call) -> Outcome:
    p, w = call.params, call.weight
    if p["points_per_item"] is None and p["deduct_pct_of_weight"] is None:
        raise RuleDefinitionError(f"指标{call.code}：per_item_deduction 须设置 points_per_item 或 deduct_pct_of_weight")
    per_item = p["points_per_item"] if p["points_per_item"] is not None else w * p["deduct_pct_of_weight"] / HUNDRED
    cap = w
    if p["max_deduction"] is not None:
        cap = p["max_deduction"]
    elif p["max_deduction_pct"] is not None:
        cap = w * p["max_deduction_pct"] / HUNDRED
    count = call.inputs[p["key"]]
    unit = call.unit(p["key"]) or "项"
    if p["severe_zero"] and call.inputs.get("severe"):
        return Outcome(ZERO, f"存在性质恶劣情形，一次性扣除{points(w)}，本项不得分", {"deduction": w})
    if count == 0:
        return Outcome(w, f"{call.label(p['key'])}0{unit}，不扣分", {"deduction": ZERO})
    deduction = min(cap, per_item * count)
    capped = f"，最多扣{points(cap)}" if deduction == cap else ""
    return Outcome(max(ZERO, w - deduction),
                   f"{call.label(p['key'])}{fmt(count)}{unit}，每{unit}扣{points(per_item)}{capped}，扣{fmt(deduction)}分", {"deduction": deduction})


@rule_type("per_day_late", "逾期按天扣分", description="逾期每1天扣k分，最多扣完",
           params={"points_per_day": Param("decimal", "每天扣分", required=True),
                   "max_deduction": Param("decimal", "最多扣分（默认为分值）"),
                   "deadline": Param("str", "规定期限（写入评分说明，如 2022-06-30）")},
           inputs=lambda p: [spec("days_late", "逾期天数", "days", "天")])
def per_day_late(call: Call) -> Outcome:
    days = call.inputs["days_late"]
    cap = call.weight if call.params["max_deduction"] is None else call.params["max_deduction"]
    deadline = f"规定期限{call.params['deadline']}，" if call.params["deadline"] else ""
    if days == 0:
        return Outcome(call.weight, f"{deadline}按时完成，未逾期", {"deduction": ZERO})
    deduction = min(cap, call.params["points_per_day"] * days)
    capped = f"，最多扣{points(cap)}" if deduction == cap else ""
    return Outcome(max(ZERO, call.weight - deduction),
                   f"{deadline}逾期{fmt(days)}天，每天扣{points(call.params['points_per_day'])}{capped}，扣{fmt(deduction)}分",
                   {"deduction": deduction})


CATEGORY_LABELS = {"on_time": "按时完成", "late_no_impact": "未按时但不影响进度或使用", "late_with_impact": "未按时且影响进度或交付",
                   "late": "未按时完成", "met": "达成", "not_met": "未达成", "partial": "部分达成"}


def _category_choices(params):
    labels = params.get("labels") or {}
    return tuple((key, labels.get(key) or CATEGORY_LABELS.get(key, key)) for key in params["points"])


@rule_type("categorical", "分类给分", description="按所属类别给分",
           params={"points": Param("decimal_map", "各类别分值", required=True),
                   "labels": Param("str_map", "各类别中文名称", default=None),
                   "cap_at_weight": Param("bool", "得分不超过分值", default=False),
                   "scale_to_weight": Param("bool", "按最高分折算到分值", default=False)},
           inputs=lambda p: [InputSpec("category", "所属类别", "category", choices=_category_choices(p))],
           max_points=lambda p, w: w if p["scale_to_weight"] else max(p["points"].values()))
def categorical(call: Call) -> Outcome:
    p, w = call.params, call.weight
    category = call.inputs["category"]
    label = dict(_category_choices(p))[category]
    score = p["points"][category]
    top = max(p["points"].values())
    text = f"类别：{label}（评分标准{points(score)}）"
    if p["scale_to_weight"] and top > 0:
        score = score * w / top
        text += f"，按最高{points(top)}折算到分值{points(w)}为{fmt(score)}分"
    elif score > w:
        score = w
        text += f"，超过分值按{points(w)}计"
    return Outcome(score, text)


QUALITATIVE_BANDS = {"achieved": (Decimal(80), HUNDRED), "partial": (Decimal(60), Decimal(80)), "not_achieved": (ZERO, Decimal(60))}
QUALITATIVE_LABELS = {"achieved": "达成年度指标", "partial": "部分达成并具有一定效果", "not_achieved": "未达成且效果较差"}
# The short Chinese names of DOMAIN §4 RT15 (and 财预〔2020〕10号), accepted wherever a band key is.
CHOICE_ALIASES = {"达成": "achieved", "部分达成": "partial", "未达成": "not_achieved"}


def _band_key(key) -> str:
    return CHOICE_ALIASES.get(str(key).strip(), str(key).strip())


def _band_choices(params) -> tuple:
    return tuple((key, QUALITATIVE_LABELS.get(key, key)) for key in (params["bands"] or QUALITATIVE_BANDS))


@rule_type("qualitative_band", "定性三档", description="评价人按三档（达成/部分达成/未达成）在档内给出得分比例",
           params={"bands": Param("bandmap", "各档得分比例区间（%）", default=None),
                   "band": Param("str", "默认档次", choices=tuple(QUALITATIVE_BANDS) + tuple(CHOICE_ALIASES))},
           inputs=lambda p: [InputSpec("band", "评价档次", "category", choices=_band_choices(p),
                                       required=p["band"] is None, default=_band_key(p["band"]) if p["band"] else None),
                             spec("pct", "得分比例（%）", "percent", required=False)])
def qualitative_band(call: Call) -> Outcome:
    bands = call.params["bands"] or QUALITATIVE_BANDS
    band = call.inputs["band"]
    if band not in bands:
        raise InputError(f"指标{call.code}：评价档次“{band}”无效，可选：{'、'.join(QUALITATIVE_LABELS.get(b, b) for b in bands)}", call.code, "band")
    low, high = bands[band]
    pct = call.inputs.get("pct")
    label = QUALITATIVE_LABELS.get(band, band)
    if pct is None:
        pct = high
        how = f"未填写得分比例，按档次上限{fmt_pct(high)}计"
    else:
        top_ok = pct <= high if high == HUNDRED or band == max(bands, key=lambda b: bands[b][1]) else pct < high
        if pct < low or not top_ok:
            raise InputError(f"指标{call.code}：得分比例{fmt_pct(pct)}不在“{label}”档的区间[{fmt(low)}%, {fmt(high)}%]内", call.code, "pct")
        how = f"得分比例{fmt_pct(pct)}"
    score = call.weight * pct / HUNDRED
    return Outcome(score, f"评价档次：{label}（{fmt(low)}%–{fmt(high)}%），{how}，得分={fmt(call.weight)}×{fmt_pct(pct)}={fmt(score)}")


def _bands_from_breakpoints(params: dict, where: str) -> dict:
    """DOMAIN RT16 also writes bands as breakpoints + points: [10, 20, 30] and [0, 4, 7, 10]
    mean <10 -> 0, [10,20) -> 4, [20,30) -> 7, >=30 -> 10."""
    breakpoints, points_list = params["breakpoints"], params["points"]
    if params["bands"] is not None:
        if breakpoints is not None or points_list is not None:
            raise RuleDefinitionError(f"{where}分档规则请只用一种写法：bands，或 breakpoints 加 points")
        return params
    if breakpoints is None or points_list is None:
        raise RuleDefinitionError(f"{where}分档规则须写 bands（每档 min 和 points），或 breakpoints（分界点）加 points（各档分值）")
    if len(points_list) != len(breakpoints) + 1:
        raise RuleDefinitionError(f"{where}分档规则的 points 应比 breakpoints 多一个（{len(breakpoints)}个分界点对应"
                                  f"{len(breakpoints) + 1}档分值，收到{len(points_list)}个）")
    rows = [{"min": None, "points": points_list[0]}] + [{"min": b, "points": p} for b, p in zip(breakpoints, points_list[1:])]
    params["bands"] = _param_bands(rows, f"{where}（由 breakpoints 和 points 换算的分档）")
    params["breakpoints"] = params["points"] = None      # bands is the one canonical form from here on
    return params


@rule_type("tiered_bands", "分档给分", description="按完成值所在档次给分",
           params={"bands": Param("bands", "分档（下限含，分值）"),
                   "breakpoints": Param("decimal_list", "分界点（可代替 bands，从小到大）"),
                   "points": Param("decimal_list", "各档分值（比分界点多一个）"),
                   **VALUE_PARAMS},
           normalise=_bands_from_breakpoints,
           inputs=value_inputs,
           max_points=lambda p, w: max((b.get("points", w * b.get("pct_of_weight", ZERO) / HUNDRED) for b in p["bands"])))
def tiered_bands(call: Call) -> Outcome:
    value, how = resolve_value(call)
    chosen = None
    for band in call.params["bands"]:
        if band["min"] is None or value >= band["min"]:
            chosen = band
    if chosen is None:
        return Outcome(ZERO, f"{how}，低于最低档{fmt_pct(call.params['bands'][0]['min'])}", {"value_pct": value})
    score = chosen["points"] if "points" in chosen else call.weight * chosen["pct_of_weight"] / HUNDRED
    where = f"不低于{fmt_pct(chosen['min'])}" if chosen["min"] is not None else "最低"
    return Outcome(min(score, call.weight), f"{how}，属{chosen['label'] or where}档（{points(score)}）", {"value_pct": value})


@rule_type("veto", "一票否决", description="出现否决情形时本项（或一级指标、总分、等级）按规定处理",
           params={"key": Param("str", "输入名", default="triggered"),
                   "label": Param("str", "否决情形", default="出现否决情形"),
                   "scope": Param("str", "否决范围", default="indicator", choices=("indicator", "level", "total", "grade")),
                   "grade": Param("str", "被否决时的等级（scope 为 grade 时）")},
           inputs=lambda p: [spec(p["key"], p["label"], "bool")])
def veto(call: Call) -> Outcome:
    p = call.params
    if not call.inputs[p["key"]]:
        return Outcome(call.weight, f"未{p['label'].removeprefix('出现')}，不否决" if p["label"].startswith("出现") else f"无“{p['label']}”情形")
    scope_text = {"indicator": "本项不得分", "level": "所在一级指标不得分", "total": "总分记0分",
                  "grade": f"评价等级直接定为“{p['grade']}”" if p["grade"] else "评价等级直接定为最低等级"}[p["scope"]]
    return Outcome(ZERO, f"{p['label']}，一票否决：{scope_text}", {"veto": p["scope"], "veto_grade": p["grade"]})


@rule_type("bonus_capped", "超额加分（封顶）", description="达到目标得满分，超额每N个百分点加k分，加分封顶",
           params={"full_at": Param("decimal", "满分线（%）", default=HUNDRED),
                   "step_pp": Param("decimal", "每超几个百分点", default=ONE),
                   "points_per_step": Param("decimal", "每步加分", required=True),
                   "bonus_cap": Param("decimal", "最多加分", required=True),
                   **VALUE_PARAMS},
           inputs=value_inputs, max_points=lambda p, w: w + p["bonus_cap"])
def bonus_capped(call: Call) -> Outcome:
    p, w = call.params, call.weight
    value, how = resolve_value(call)
    if value < p["full_at"]:
        score = w * safe_div(value, p["full_at"])
        return Outcome(score, f"{how}，未达到{fmt_pct(p['full_at'])}，得分={fmt(w)}×{fmt(value, 4)}÷{fmt(p['full_at'])}={fmt(score)}")
    bonus = min(p["bonus_cap"], p["points_per_step"] * safe_div(value - p["full_at"], p["step_pp"]))
    text = f"{how}，达到目标得{points(w)}"
    if bonus > 0:
        text += f"，超额{fmt(value - p['full_at'], 4)}个百分点，每{fmt(p['step_pp'])}个百分点加{points(p['points_per_step'])}，最多加{points(p['bonus_cap'])}，加{fmt(bonus)}分"
    return Outcome(w + bonus, text, {"bonus": bonus, "value_pct": value})


@rule_type("global_deduction", "扣分项", description="从总分中扣除：每出现一次扣相应分值（本项分值为0）",
           params={"items": Param("deduction_items", "扣分项及每次扣分", required=True),
                   "max_deduction": Param("decimal", "最多扣分")},
           inputs=lambda p: [spec(i["key"], i["label"], "count") for i in p["items"]])
def global_deduction(call: Call) -> Outcome:
    parts, total = [], ZERO
    for item in call.params["items"]:
        count = call.inputs[item["key"]]
        if count:
            total += item["points"] * count
            parts.append(f"{item['label']}{fmt(count)}次×{points(item['points'])}")
    cap = call.params["max_deduction"]
    if cap is not None and total > cap:
        total = cap
        parts.append(f"最多扣{points(cap)}")
    if not parts:
        return Outcome(ZERO, "无扣分情形", {"deduction": ZERO})
    return Outcome(-total, f"{'；'.join(parts)}，从总分中扣{fmt(total)}分", {"deduction": total})


@rule_type("composite_rate", "多项完成率平均", description="得分=分值×各分项完成率的平均值（最高100%）",
           params=dict(TRANSFORMS["composite_rate"].params), inputs=_component_inputs)
def composite_rate(call: Call) -> Outcome:
    value, how = _component_rates(call, call.params)
    score = call.weight * clamp(value / HUNDRED, ZERO, ONE)
    tail = "，达到目标" if value >= HUNDRED else f"，得分={fmt(call.weight)}×{fmt_pct(value)}={fmt(score)}"
    return Outcome(score, how + tail, {"value_pct": value})


def _transform_rule(transform_name: str, label: str):
    """survey_weighted / share_yes used directly as a rule: score = weight × value / full_at (capped)."""
    transform = TRANSFORMS[transform_name]

    def score(call: Call) -> Outcome:
        value, how = transform.compute(call, call.params)
        full_at = call.params["full_at"]
        result = call.weight * clamp(safe_div(value, full_at), ZERO, ONE)
        tail = f"，达到{fmt_pct(full_at)}" if value >= full_at else f"，得分={fmt(call.weight)}×{fmt(value, 4)}÷{fmt(full_at)}={fmt(result)}"
        return Outcome(result, how + tail, {"value_pct": value})

    register(RuleType(transform_name, label, score,
                      {**transform.params, "full_at": Param("decimal", "满分线（%）", default=HUNDRED)},
                      transform.inputs, description=f"{label}达到满分线得满分，否则按比例得分"))


_transform_rule("survey_weighted", "问卷加权满意度")
_transform_rule("share_yes", "问卷“是”占比")


# --------------------------------------------------------------------------- RT14 composite and formula

def _composite_inputs(params):
    return []   # filled from the compiled parts by compile_rule


@rule_type("composite", "组合规则", description="由若干分项规则组合：各分项得分相加，或共用扣分上限",
           params={"parts": Param("parts", "分项规则", required=True), "shared_cap": Param("decimal", "各分项合计最多扣分")},
           inputs=_composite_inputs)
def composite(call: Call) -> Outcome:
    shared_cap = call.params["shared_cap"]
    texts, facts, warnings = [], {}, []
    total, deductions = ZERO, ZERO
    for key, label, part_weight, rule in call.compiled.parts:
        weight = part_weight if part_weight is not None else (shared_cap if shared_cap is not None else call.weight)
        outcome = run_rule(rule, call.code, weight, call.inputs.get(key, {}))
        warnings += outcome.warnings
        facts[key] = outcome.facts
        scope = outcome.facts.get("veto")
        if scope and scope != "indicator" and "veto" not in facts:   # a part's level/total/grade veto is the indicator's
            facts["veto"], facts["veto_grade"] = scope, outcome.facts.get("veto_grade")
        total += outcome.score
        deductions += weight - outcome.score
        texts.append(f"{label}：{outcome.text}" + (f"（{fmt(outcome.score)}/{fmt(weight)}分）" if shared_cap is None else ""))
    if shared_cap is not None:
        deduction = min(shared_cap, deductions)
        capped = f"（合计最多扣{points(shared_cap)}）" if deductions > shared_cap else ""
        texts.append(f"合计扣{fmt(deduction)}分{capped}")
        return Outcome(max(ZERO, call.weight - deduction), "；".join(texts), facts, warnings)
    return Outcome(min(total, call.weight), "；".join(texts) + f"；合计{fmt(total)}分", facts, warnings)


@rule_type("formula", "自定义公式", description="得分由省级规则包给出的安全表达式计算（可用分值 w、各输入项）",
           params={"expr": Param("expr", "得分表达式", required=True),
                   "inputs": Param("input_decls", "公式用到的输入项", required=True),
                   "describe": Param("str", "评分标准文字"),
                   "clamp": Param("bool", "得分限制在0到分值之间", default=True)},
           inputs=lambda p: [spec(d["key"], d["label"], d["kind"], d["unit"]) for d in p["inputs"]])
def formula(call: Call) -> Outcome:
    names = {"w": call.weight, "weight": call.weight, **call.inputs}
    result = call.compiled.expression.evaluate(names, call.code)
    if isinstance(result, bool) or not isinstance(result, Decimal):
        raise InputError(f"指标{call.code}：公式“{call.params['expr']}”的结果不是数字", call.code)
    score = clamp(result, ZERO, call.weight) if call.params["clamp"] else result
    shown = "，".join(f"{call.label(k)}{fmt(v) if isinstance(v, Decimal) else ('是' if v else '否')}" for k, v in call.inputs.items())
    return Outcome(score, f"{shown}；按公式 {call.params['expr']} 计算得{fmt(result)}" + ("，限制在分值范围内" if score != result else ""))


# --------------------------------------------------------------------------- compile and run

def compile_rule(rule: dict, weight: Decimal, where: str, registry: dict | None = None) -> CompiledRule:
    """Type-check a rule's parameters once; unknown types and parameters are errors."""
    registry = REGISTRY if registry is None else registry
    if not isinstance(rule, dict) or "type" not in rule:
        raise RuleDefinitionError(f"{where}缺少规则（rule.type）")
    type_name = rule["type"]
    if type_name not in registry:
        raise RuleDefinitionError(f"{where}规则类型“{type_name}”未知；可用类型：{', '.join(sorted(registry))}")
    rt = registry[type_name]
    params = parse_params(type_name, rt.params, rule, where)
    if rt.normalise is not None:
        params = rt.normalise(params, where)
    compiled = CompiledRule(rt, params, [])
    if type_name == "composite":
        compiled.parts, compiled.specs = _compile_parts(params, weight, where, registry)
    else:
        compiled.specs = list(rt.inputs(params))
    if type_name == "formula":
        allowed = {"w", "weight"} | {d["key"] for d in params["inputs"]}
        compiled.expression = Expression(params["expr"], allowed, f"{where}公式")
    return compiled


def _compile_parts(params, weight, where, registry):
    raw_parts = params["parts"]
    if not isinstance(raw_parts, list) or not raw_parts:
        raise RuleDefinitionError(f"{where}组合规则须列出 parts")
    parts, specs, seen = [], [], set()
    for index, part in enumerate(raw_parts):
        if not isinstance(part, dict) or not part.get("key") or "rule" not in part:
            raise RuleDefinitionError(f"{where}组合规则第{index + 1}个分项须有 key 和 rule")
        key = str(part["key"])
        if key in ("veto", "veto_grade"):
            raise RuleDefinitionError(f"{where}组合规则分项 key 不能用“{key}”（保留给一票否决），请换一个名称")
        if key in seen:
            raise RuleDefinitionError(f"{where}组合规则分项 key“{key}”重复")
        seen.add(key)
        unknown = set(part) - {"key", "label", "weight", "rule", "inputs"}
        if unknown:
            raise RuleDefinitionError(f"{where}组合规则分项“{key}”有未知字段：{', '.join(sorted(unknown))}")
        part_weight = _param_decimal(part["weight"], f"{where}分项“{key}”的 weight") if part.get("weight") is not None else None
        if part_weight is None and params["shared_cap"] is None:
            raise RuleDefinitionError(f"{where}组合规则分项“{key}”须写 weight（或在组合规则上设 shared_cap）")
        if isinstance(part["rule"], dict) and part["rule"].get("type") == "composite":
            raise RuleDefinitionError(f"{where}组合规则分项“{key}”不能再嵌套组合规则")
        label = str(part.get("label") or key)
        sub = compile_rule(part["rule"], part_weight if part_weight is not None else weight, f"{where}分项“{label}”", registry)
        parts.append((key, label, part_weight, sub))
        specs += [InputSpec(s.key, s.label, s.kind, s.unit, s.required, s.default, s.choices, key, s.minimum, s.maximum)
                  for s in sub.specs]
    weights = [p[2] for p in parts if p[2] is not None]
    if params["shared_cap"] is None and sum(weights, ZERO) != weight:
        raise RuleDefinitionError(f"{where}组合规则各分项分值合计{fmt(sum(weights, ZERO))}，与指标分值{fmt(weight)}不一致")
    return parts, specs


# Inputs with a handful of possible values (yes/no, options, counts of items or days):
# a rule over only these has few distinct outcomes.
DISCRETE_KINDS = frozenset({"bool", "category", "count", "days"})
MEMO_LIMIT = 512


def run_rule(compiled: CompiledRule, code: str, weight: Decimal, inputs: dict) -> Outcome:
    """Score one indicator. Rule functions are pure, so a rule whose inputs are all discrete (yes/no,
    options, counts; about half of a typical pack) is computed once per distinct answer set and its
    Outcome reused: a batch of 2,000 county workbooks repeats the same few answer patterns.
    A memo stops growing at MEMO_LIMIT answer sets."""
    specs = compiled.spec_map
    if specs is None:   # labels by key, built once per compiled rule, after the pack's relabelling
        specs = prepare(compiled)
    memo = compiled.memo
    if memo is None:
        return compiled.rule_type.score(Call(code, weight, compiled.params, inputs, specs, compiled))
    key = (code, weight, *map(inputs.get, compiled.memo_keys))
    outcome = memo.get(key)
    if outcome is None:
        outcome = compiled.rule_type.score(Call(code, weight, compiled.params, inputs, specs, compiled))
        if len(memo) < MEMO_LIMIT:
            memo[key] = outcome
    return outcome


def prepare(compiled: CompiledRule) -> dict:
    """Build the key -> InputSpec map and decide whether the rule's outcomes can be memoised."""
    composite = compiled.rule_type.name == "composite"
    compiled.spec_map = {} if composite else {s.key: s for s in compiled.specs if s.part is None}
    if not composite and compiled.specs and all(s.kind in DISCRETE_KINDS for s in compiled.specs):
        compiled.memo_keys = tuple(s.key for s in compiled.specs)
        compiled.memo = {}
    return compiled.spec_map
