"""Scoring an evaluation: parse the facts, run each indicator's rule, apply the
pack's N/A, rounding, veto and grade policies, and build level subtotals.

Pure: the pack and the inputs come in as data, an ``EvaluationResult`` goes out.
All input problems of one evaluation are collected and raised together as an
``EvaluationError`` so a user fixes them in one pass.
"""

from __future__ import annotations

import unicodedata
from decimal import Decimal
from operator import itemgetter
from typing import NamedTuple

from .errors import EvaluationError, InputError, RuleDefinitionError
from .model import (NO_DATA, NOT_ACCEPTED, NOT_APPLICABLE, SCORED, STATE_LABELS, STATE_WORDS, VETOED,
                    EvaluationResult, Indicator, IndicatorResult, InputSpec, LevelResult, Pack)
from .numbers import EXPONENTS, HUNDRED, MAX_ABS, MODE_NAMES_ZH, ZERO, fmt, normalise_text, quantize, to_bool, to_decimal
from .ruletypes import CHOICE_ALIASES, Outcome, run_rule

# Keys an input mapping may carry besides the rule's inputs.
META_KEYS = {"status", "note", "remark", "claimed"}


def input_state(value) -> str | None:
    """'无任务' / '未验收' / '无数据' (and English aliases) -> an explicit state."""
    if not isinstance(value, str):
        return None
    state = STATE_WORDS.get(value)
    if state or not value or value[0].isdigit() or len(value) > 20:
        return state
    return STATE_WORDS.get(normalise_text(value).lower())


# --------------------------------------------------------------------------- input parsing

# Fast parsers for the clean values nearly every input is (a number, a yes/no, a known option):
# they build no message text and return None for anything else, which then takes the full path.

def quick_number(value):
    cls = value.__class__
    if cls is str:
        if not (value.isascii() and value[-1:].isdigit()):
            return None
        try:
            number = Decimal(value)
        except ArithmeticError:
            return None
    elif cls is int:
        number = Decimal(value)
    elif cls is float:
        if value != value or value in (INF, -INF):
            return None
        number = Decimal(repr(value))
    elif cls is Decimal and value.is_finite():
        number = value
    else:
        return None
    return number if ZERO <= number <= MAX_ABS else None


def quick_integer(value):
    number = quick_number(value)
    return number if number is not None and number == number.to_integral_value() else None


def quick_bool(value):
    return value if value.__class__ is bool else None


CLEAN_LABELS: set = set()   # option labels already seen to be in NFKC form without spaces (a handful per survey)


def quick_answers(value):
    if value.__class__ is not dict or not value:
        return None
    answers = {}
    for label, count in value.items():
        if count.__class__ is not int or not 0 <= count <= MAX_ABS:
            return None
        if label not in CLEAN_LABELS:
            if label.__class__ is not str or not unicodedata.is_normalized("NFKC", label) or label != label.strip():
                return None
            if len(CLEAN_LABELS) < 1024:
                CLEAN_LABELS.add(label)
        answers[label] = Decimal(count)
    return answers


def quick_category(spec: InputSpec):
    options = {normalise_text(label): key for key, label in spec.choices} | {key: key for key, _ in spec.choices}
    options |= {alias: key for alias, key in CHOICE_ALIASES.items() if key in options.values() and alias not in options}
    # an option spelt like a state word (不适用, na ...) is a state on the full path: leave it to that path
    options = {text: key for text, key in options.items() if not input_state(text)}
    return lambda value: options.get(value) if value.__class__ is str else None


QUICK_PARSERS = {"number": quick_number, "percent": quick_number, "count": quick_integer, "days": quick_integer,
                 "bool": quick_bool, "answers": quick_answers}
INF = float("inf")


def quick_parser(spec: InputSpec):
    if spec.kind == "category":
        return quick_category(spec)
    return QUICK_PARSERS.get(spec.kind, lambda value: None)


def parse_value(spec: InputSpec, value, code: str):
    what = f"指标{code}的“{spec.label}”"
    key = f"{spec.part}.{spec.key}" if spec.part else spec.key
    if spec.kind in ("number", "percent"):
        number = to_decimal(value, what=what, code=code, key=key, allow_percent=spec.kind == "percent" or spec.unit == "%")
        if number < 0:
            raise InputError(f"{what}不能为负数（收到{fmt(number)}）", code, key)
        return number
    if spec.kind in ("count", "days"):
        number = to_decimal(value, what=what, code=code, key=key)
        if number < 0 or number != number.to_integral_value():
            raise InputError(f"{what}应为不小于0的整数（收到{value}）", code, key)
        return number
    if spec.kind == "bool":
        return to_bool(value, what=what, code=code, key=key)
    if spec.kind == "category":
        wanted = normalise_text(str(value))
        for choice_key, label in spec.choices:
            if wanted in (choice_key, normalise_text(label)):
                return choice_key
        if CHOICE_ALIASES.get(wanted) in {choice_key for choice_key, _ in spec.choices}:
            return CHOICE_ALIASES[wanted]
        options = "、".join(label for _, label in spec.choices)
        raise InputError(f"{what}应从以下选项中选择：{options}（收到“{value}”）", code, key)
    if spec.kind == "answers":
        return parse_answers(value, what, code, key)
    return value


def parse_answers(value, what: str, code: str, key: str) -> dict:
    """Survey answers: {option label: count}; also accepts [[label, count], ...]."""
    if isinstance(value, list):
        try:
            value = {row[0]: row[1] for row in value}
        except (TypeError, IndexError, KeyError):
            raise InputError(f"{what}应为“选项: 人数”的列表", code, key) from None
    if not isinstance(value, dict) or not value:
        raise InputError(f"{what}应为“选项: 人数”的对照表，如 非常满意: 82", code, key)
    answers = {}
    for label, count in value.items():
        label_text = unicodedata.normalize("NFKC", str(label)).strip()
        number = to_decimal(count, what=f"{what}中“{label_text}”的人数", code=code, key=key)
        if number < 0 or number != number.to_integral_value():
            raise InputError(f"{what}中“{label_text}”的人数应为不小于0的整数（收到{count}）", code, key)
        answers[label_text] = answers.get(label_text, ZERO) + number
    return answers


def parse_inputs(indicator: Indicator, raw) -> tuple[str | None, dict]:
    """Return (explicit state or None, parsed inputs). Raises EvaluationError listing every problem."""
    if raw.__class__ is dict and "status" not in raw:     # the common case first: a clean mapping
        plan = indicator.compiled.parse_plan or parse_plan(indicator.compiled)
        if plan.known.issuperset(raw):
            parsed = quick_parse(plan, raw)
            if parsed is not None:
                return None, parsed
    return parse_inputs_checked(indicator, raw)


def parse_inputs_checked(indicator: Indicator, raw) -> tuple[str | None, dict]:
    """The full path: explicit states, normalisations and a Chinese message for every problem."""
    code = indicator.code
    state = input_state(raw)
    if state:
        return state, {}
    if raw is None:
        raise EvaluationError([InputError(f"缺少指标{code}（{indicator.name}）的输入数据", code)])
    if not isinstance(raw, dict):
        raise EvaluationError([InputError(f"指标{code}的输入应为各输入项的对照表，或“无任务/未验收/无数据”（收到“{raw}”）", code)])
    if raw.get("status") not in (None, ""):
        state = input_state(raw["status"])
        if not state:
            raise EvaluationError([InputError(f"指标{code}的状态“{raw['status']}”无效，可填：无任务、未验收、无数据", code, "status")])
        return state, {}
    plan = parse_plan(indicator.compiled)
    specs = indicator.compiled.specs
    problems, parsed = [], {}
    known_top = plan.known
    if not known_top.issuperset(raw):
        for extra in sorted(set(raw) - known_top, key=str):
            problems.append(InputError(f"指标{code}没有输入项“{extra}”；应填写：{describe_inputs(specs)}", code, str(extra)))
    for spec in specs:
        container = raw.get(spec.part) if spec.part else raw
        if spec.part and container is not None and not isinstance(container, dict):
            problems.append(InputError(f"指标{code}分项“{spec.part}”的输入应为对照表", code, spec.part))
            continue
        value = (container or {}).get(spec.key)
        if isinstance(value, str) and value.strip() == "":
            value = None
        found_state = input_state(value)
        if found_state:
            return found_state, {}
        target = parsed.setdefault(spec.part, {}) if spec.part else parsed
        if value is None:
            if spec.default is not None:
                value = spec.default
            elif spec.required:
                problems.append(InputError(f"缺少指标{code}的“{spec.label}”（{spec.part + '.' if spec.part else ''}{spec.key}）", code,
                                           f"{spec.part}.{spec.key}" if spec.part else spec.key))
                continue
            else:
                continue
        try:
            target[spec.key] = parse_value(spec, value, code)
        except InputError as exc:
            problems.append(exc)
    if problems:
        raise EvaluationError(problems)
    return None, parsed


class ParsePlan(NamedTuple):
    known: frozenset                 # keys an input mapping may have
    groups: tuple                    # ((part or None, ((key, quick parser, may be left out), ...)), ...) in spec order


def parse_plan(compiled) -> ParsePlan:
    """Per compiled rule, once (after the pack's relabelling): which keys are allowed and how each parses."""
    plan = compiled.parse_plan
    if plan is None:
        specs = compiled.specs
        known = frozenset({s.key for s in specs if not s.part} | {s.part for s in specs if s.part} | META_KEYS)
        groups: list = []                 # consecutive inputs of the same composite part (None: the indicator's own)
        for s in specs:
            if not groups or groups[-1][0] != s.part:
                groups.append((s.part, []))
            # an input with a default needs the full path (which fills the default in)
            groups[-1][1].append((s.key, quick_parser(s), not s.required and s.default is None))
        plan = compiled.parse_plan = ParsePlan(known, tuple((part, tuple(steps)) for part, steps in groups))
    return plan


def quick_parse(plan: ParsePlan, raw: dict) -> dict | None:
    """Parsed inputs when every value is clean; None sends the indicator through the full checks."""
    parsed = {}
    for part, steps in plan.groups:
        if part is None:
            container, target = raw, parsed
        else:
            container = raw.get(part)
            if container.__class__ is not dict:
                return None
            target = parsed.get(part)
            if target is None:
                target = parsed[part] = {}
        for key, quick, optional in steps:
            value = container.get(key)
            if value is None:
                if optional:
                    continue
                return None
            value = quick(value)
            if value is None:
                return None
            target[key] = value
    return parsed


def describe_inputs(specs) -> str:
    return "、".join(f"{s.part + '.' if s.part else ''}{s.key}（{s.label}）" for s in specs) or "无"


# --------------------------------------------------------------------------- scoring

STATE_TEXT = {
    NOT_ACCEPTED: "未验收，不得分",
    NO_DATA: "无数据，按0分计（补充数据后请重新计算）",
}


def score_indicator(pack: Pack, indicator: Indicator, raw) -> tuple[str, Outcome]:
    state, inputs = parse_inputs(indicator, raw)
    if state == NOT_APPLICABLE:
        return state, Outcome(indicator.weight, "本年度无此项任务（不适用），按满分计")
    if state in (NOT_ACCEPTED, NO_DATA):
        return state, Outcome(ZERO, STATE_TEXT[state], warnings=[f"指标{indicator.code}（{indicator.name}）{STATE_LABELS[state]}，按0分计"])
    try:
        return SCORED, run_rule(indicator.compiled, indicator.code, indicator.weight, inputs)
    except RuleDefinitionError as exc:
        raise EvaluationError([InputError(str(exc), indicator.code)]) from None
    except InputError as exc:
        raise EvaluationError([exc]) from None


def evaluate(pack: Pack, inputs: dict) -> EvaluationResult:
    """Score one evaluation. ``inputs`` maps indicator codes to the rule's inputs."""
    if not isinstance(inputs, dict):
        raise EvaluationError([InputError("输入数据应为“指标编码: 输入项”的对照表")])
    problems: list[InputError] = []
    known = pack_plan(pack).codes
    for code in () if known.issuperset(inputs) else inputs:
        if str(code) not in known:
            problems.append(InputError(f"未知指标编码“{code}”：规则包 {pack.id} 中没有该指标", str(code)))
    outcomes = []
    for indicator in pack.indicators:
        try:
            outcomes.append((indicator, *score_indicator(pack, indicator, inputs.get(indicator.code))))
        except EvaluationError as exc:
            problems += exc.problems
    if problems:
        raise EvaluationError(problems)
    return assemble(pack, outcomes)


def assemble(pack: Pack, outcomes: list) -> EvaluationResult:
    policy = pack.rounding
    weights, notes = {}, {}
    if pack.na_policy == "redistribute" and any(state == NOT_APPLICABLE for _, state, _ in outcomes):
        weights, notes = redistribute(pack, outcomes)
    results, warnings, vetoes = [], [], []
    for indicator, state, outcome in outcomes:
        code = indicator.code
        if code in notes:
            result = reweighted_result(indicator, state, outcome, weights[code], notes[code], policy)
        else:
            result = settled_result(indicator, state, outcome, policy)
        if outcome.facts and outcome.facts.get("veto"):
            result = result._replace(status=VETOED)
            vetoes.append((code, outcome.facts["veto"], outcome.facts.get("veto_grade")))
        results.append(result)
        if outcome.warnings:
            warnings += outcome.warnings
    if vetoes:
        apply_level_vetoes(results, vetoes)
    raw_total = sum([r.raw_score for r in results], ZERO)
    summed = sum([r.score for r in results], ZERO) if policy.total_method == "sum_of_indicator_scores" else raw_total
    total = quantize(summed, policy.total.places, policy.total.mode)
    plan = pack_plan(pack)
    if total > plan.total_cap:
        warnings.append(total_cap_warning(pack, total, plan.total_cap))
        total = plan.total_cap
    if total < 0:
        total = ZERO
    if any(scope == "total" for _, scope, _ in vetoes):
        total = ZERO
    grade = grade_of(pack, total)
    # a grade veto without a named grade gives the lowest grade (e.g. 不合格)
    forced = [g or plan.grades_high_first[-1].label for _, scope, g in vetoes if scope == "grade" and plan.grades_high_first]
    if forced:
        grade = forced[0]
    levels = level_results(pack, results)
    return EvaluationResult(pack, results, levels, total, raw_total, grade, warnings, vetoes)


def settled_result(indicator: Indicator, state: str, outcome: Outcome, policy) -> IndicatorResult:
    """The indicator's result at its own weight: score rounded by policy, 评分说明 with its closing words,
    score rate. Results are immutable, so the result is kept on the Outcome: a memoised outcome
    (ruletypes.run_rule) is settled once and its result shared by every evaluation with those answers."""
    cached = outcome.settled
    if cached is not None and cached[0] is indicator and cached[1] is policy and cached[2] == state:
        return cached[3]
    raw, weight = outcome.score, indicator.weight
    score = quantize(raw, policy.indicator.places, policy.indicator.mode)
    result = IndicatorResult(indicator.code, indicator.path, weight, score, raw,
                             rate_of(score, weight, policy.rate) if weight else None,
                             outcome.text + closing(raw, score, policy.indicator), state, weight,
                             outcome.facts, tuple(outcome.warnings))
    outcome.settled = (indicator, policy, state, result)
    return result


def reweighted_result(indicator: Indicator, state: str, outcome: Outcome, effective: Decimal, note: str, policy) -> IndicatorResult:
    """An indicator whose weight the N/A policy moved: an inapplicable one (weight 0) or a sibling that took its share."""
    raw = outcome.score
    if state == NOT_APPLICABLE:
        raw, effective = ZERO, ZERO
    elif effective != indicator.weight and indicator.weight:
        raw = raw * effective / indicator.weight
    score = quantize(raw, policy.indicator.places, policy.indicator.mode)
    if state == NOT_APPLICABLE:
        text = outcome.text.replace("，按满分计", "") + note
    else:
        text = outcome.text + note + closing(raw, score, policy.indicator)
    rate = rate_of(score, effective, policy.rate) if effective else None
    return IndicatorResult(indicator.code, indicator.path, indicator.weight, score, raw, rate, text, state,
                           effective, outcome.facts, tuple(outcome.warnings))


def closing(raw: Decimal, score: Decimal, rounding) -> str:
    """'，得4.52分' and, when rounding changed the number, how."""
    if raw == score:
        return f"，得{fmt(score)}分"
    return f"，得{fmt(score)}分（{fmt(raw, 6)}按{rounding.places}位小数{MODE_NAMES_ZH.get(rounding.mode, '')}）"


def rate_of(score: Decimal, weight: Decimal, rounding) -> Decimal:
    return (score / weight * HUNDRED).quantize(EXPONENTS[rounding.places], rounding.mode)


def redistribute(pack: Pack, outcomes: list) -> tuple[dict, dict]:
    """N/A policy 'redistribute' (DOMAIN §4): an inapplicable indicator's weight goes pro rata to the
    indicators with a task under the same parent (``na_scope: parent``, the default) or anywhere in the
    same 一级指标 (``na_scope: level``). With nothing to move the weight to, full credit stands.
    Shares are split at display precision (split_weight), so the weights still add up exactly."""
    weights = {ind.code: ind.weight for ind, _, _ in outcomes}
    notes: dict[str, str] = {}
    groups: dict[tuple, list] = {}
    for indicator, state, _ in outcomes:
        groups.setdefault(na_group(pack, indicator), []).append((indicator, state))
    for members in groups.values():
        missing = [ind for ind, state in members if state == NOT_APPLICABLE]
        if not missing:
            continue
        present = [ind for ind, state in members if state != NOT_APPLICABLE]
        present_weight = sum((ind.weight for ind in present), ZERO)
        if present_weight == 0:
            continue   # nothing to move the weight to: full credit stands
        group_weight = present_weight + sum((ind.weight for ind in missing), ZERO)
        shares = split_weight(group_weight, [ind.weight for ind in present], pack.rounding.indicator.places)
        for ind in missing:
            weights[ind.code] = ZERO
            notes[ind.code] = f"，其分值按比例调整到{'同一一级指标内' if pack.na_scope == 'level' else '同级'}其他指标"
        for ind, share in zip(present, shares):
            weights[ind.code] = share
            notes[ind.code] = f"（{'同一一级指标' if pack.na_scope == 'level' else '同级'}有无任务指标，分值由{fmt(ind.weight)}调整为{fmt(share)}）"
    return weights, notes


def na_group(pack: Pack, indicator: Indicator) -> tuple:
    """The indicators that share an inapplicable indicator's weight, by path prefix."""
    return indicator.path[:1] if pack.na_scope == "level" else indicator.path[:-1]


def split_weight(total: Decimal, weights: list, places: int) -> list:
    """Share ``total`` in proportion to ``weights`` at display precision (largest remainder),
    so the adjusted weights add up exactly and a fully met level still scores its full weight."""
    unit = Decimal(1).scaleb(-places)
    base = sum(weights, ZERO)
    exact = [total * w / base for w in weights]
    shares = [(e / unit).to_integral_value(rounding="ROUND_FLOOR") * unit for e in exact]
    left = int(((total - sum(shares, ZERO)) / unit).to_integral_value())
    by_remainder = sorted(range(len(weights)), key=lambda i: exact[i] - shares[i], reverse=True)
    for i in by_remainder[:left]:
        shares[i] += unit
    return shares


def apply_level_vetoes(results: list, vetoes: list) -> None:
    for code, scope, _ in vetoes:
        if scope != "level":
            continue
        top = next(r.path[0] for r in results if r.code == code)
        for index, r in enumerate(results):
            if r.path[0] == top and r.score:
                results[index] = r._replace(score=ZERO, raw_score=ZERO, rate=ZERO if r.rate is not None else None,
                                            explanation=r.explanation + f"；因指标{code}一票否决，“{top}”不得分，本项记0分",
                                            status=VETOED)


def grade_of(pack: Pack, total: Decimal) -> str:
    for band in pack_plan(pack).grades_high_first:
        if total >= band.minimum:
            return band.label
    return pack.grades[-1].label if pack.grades else ""


LEVEL_MEMO_LIMIT = 4096   # subtotals have two decimals: a level rarely sees more distinct values


class PackPlan(NamedTuple):
    """What every evaluation of a pack needs and only the pack decides; worked out once per pack."""

    codes: frozenset               # indicator codes
    grades_high_first: list
    total_cap: Decimal             # the most a total may be: 满分, or less when the weights add up to less
    levels: list                   # [(level path, declared-or-summed weight, picks its indicators' scores,
                                   #   {subtotal text: LevelResult} seen so far)]


def pack_plan(pack: Pack) -> PackPlan:
    plan = pack.__dict__.get("_plan")
    if plan is None:
        order, members = [], {}
        for index, indicator in enumerate(pack.indicators):
            # a one-level path (e.g. 预算执行率) is its own 一级指标 group
            for depth in range(1, max(2, len(indicator.path))):
                key = indicator.path[:depth]
                if key not in members:
                    order.append(key)
                    members[key] = []
                members[key].append(index)
        levels = [(key, pack.level_weights.get(key, sum((pack.indicators[i].weight for i in members[key]), ZERO)),
                   itemgetter(*members[key]), {}) for key in order]
        plan = pack._plan = PackPlan(frozenset(i.code for i in pack.indicators),
                                     sorted(pack.grades, key=lambda b: b.minimum, reverse=True), total_cap(pack), levels)
    return plan


def total_cap(pack: Pack) -> Decimal:
    """满分 (total_weight), but never more than the indicators can give: rounding each of eight
    9.375-point indicators up to 9.38 must not make a total above the weights' sum (DOMAIN §4).
    A rule that may score above its weight (a bonus, a cap above 100%) declares how far (max_points)."""
    most = ZERO
    for indicator in pack.indicators:
        compiled, best = indicator.compiled, None
        if compiled is not None:
            best = compiled.rule_type.max_points(compiled.params, indicator.weight)
        most += indicator.weight if best is None else max(indicator.weight, best)
    return min(pack.total_weight, most)


def total_cap_warning(pack: Pack, total: Decimal, cap: Decimal) -> str:
    if cap == pack.total_weight:
        return f"总分{fmt(total)}超过满分{fmt(cap)}，按{fmt(cap)}计"
    return f"总分{fmt(total)}超过各指标最高可得分合计{fmt(cap)}，按{fmt(cap)}计"


def level_results(pack: Pack, results: list) -> list:
    """Subtotals for every level above the indicators, in tree order."""
    scores = [r.score for r in results]
    rate_policy = pack.rounding.rate
    if pack.na_policy == "redistribute" and any(r.effective_weight != r.weight for r in results):
        return moved_level_results(pack, results, scores)
    levels = []
    for key, weight, pick, seen in pack_plan(pack).levels:
        picked = pick(scores)                   # a tuple, or the one score of a single-indicator level
        score = sum(picked, ZERO) if picked.__class__ is tuple else picked
        text = str(score)                       # the key keeps 5 and 5.00 apart
        level = seen.get(text)
        if level is None:
            level = LevelResult(key, weight, score, rate_of(score, weight, rate_policy) if weight else None)
            if len(seen) < LEVEL_MEMO_LIMIT:    # results are immutable: one per distinct subtotal is enough
                seen[text] = level
        levels.append(level)
    return levels


def moved_level_results(pack: Pack, results: list, scores: list) -> list:
    """Subtotals when the N/A policy moved weight: each level weighs what its indicators now weigh."""
    effective, original = [r.effective_weight for r in results], [r.weight for r in results]
    levels = []
    for key, weight, pick, _ in pack_plan(pack).levels:
        picked, now, before = pick(scores), pick(effective), pick(original)
        score = sum(picked, ZERO) if picked.__class__ is tuple else picked
        if now != before:             # this level gave or took weight: it weighs what its indicators now weigh
            weight = sum(now, ZERO) if now.__class__ is tuple else now
        levels.append(LevelResult(key, weight, score, rate_of(score, weight, pack.rounding.rate) if weight else None))
    return levels
