"""Rule packs compiled to spreadsheet formulas (live templates, issue 7).

Pure: ``compile_pack(pack)`` turns every output of a pack's template
(``out_<CODE>_score``, ``out_<CODE>_rate``, ``out_level_<n>_score``/``_rate``,
``out_total``, ``out_grade``; see ``engine.workbook.names``) into formula text
(without the leading '=') written against the template's defined names only,
so the formulas do not depend on the layout. An output that cannot be compiled
gets a ``NotCompilable`` with a Chinese reason: its cell stays engine-written
(``anju recalc``) and says so in its comment; a wrong formula is never emitted.

Only functions that Excel 2010+, WPS and LibreOffice evaluate alike are used
(``ALLOWED_FUNCTIONS``): no LET, LAMBDA, IFS, XLOOKUP or dynamic arrays.

Arithmetic is the engine's (``engine.ruletypes`` / ``engine.scoring``),
transcribed rule type by rule type (``RULE_COMPILERS``). What the formulas do
differently, and why:

* Invalid or missing inputs (a blank required cell, text in a number cell,
  a negative number, a non-integer count, a target of 0, an unknown drop-down
  value, a survey without answers) make the score ``""`` (empty text): the
  engine refuses such inputs, so the cell shows nothing rather than a number.
  Every score formula is wrapped in IFERROR(...,"") for the same reason.
  Subtotals, the total and the grade are ``""`` while any score they depend
  on is ``""``.
* Spreadsheets compute in binary doubles, the engine in Decimal. Wherever the
  engine compares or rounds, the formula first rounds the double to
  ``GUARD`` (9) decimals, which removes the representation error of the
  double (about 1e-14 for numbers of the size of scores and percentages)
  before the pack's rounding is applied: ROUNDDOWN(ROUND(x,9),2) turns
  4.52799999999999 and 4.528000000000001 alike into 4.52, and 85.28 reaches
  a threshold of 85.28. The remaining disagreement is an exact value that lies
  within 5e-10 of a rounding or comparison edge without being on it (the
  double cannot tell it from the edge); see docs/live-formulas.md.
* ``na_policy: redistribute`` needs every sibling's share of the group weight
  (largest remainder at the indicator places, as ``scoring.split_weight``);
  those shares are named helper formulas (``CompiledSheet.helpers``, defined
  names ``calc_...``) that a live template defines, so no cell formula grows
  with the square of the group size.
* Status words other than the template's drop-down values (blank, 无任务,
  未验收, 无数据), yes/no answers other than 是/否, and numbers typed as text
  (full-width digits, "95%") are accepted by the engine but make the formula
  show "": the cell is blank, never a different number.
"""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass, field
from decimal import (ROUND_CEILING, ROUND_DOWN, ROUND_FLOOR, ROUND_HALF_DOWN, ROUND_HALF_EVEN, ROUND_HALF_UP,
                     ROUND_UP, Decimal)
from typing import Callable

from .model import Indicator, InputSpec, Pack, Rounding
from .numbers import HUNDRED, ZERO, quantize
from .ruletypes import DEFAULT_SURVEY_WEIGHTS, QUALITATIVE_BANDS, _category_choices
from .scoring import na_group, pack_plan
from .workbook import names as N

# Functions the compiler may emit: all evaluated alike by Excel 2010+, WPS and LibreOffice.
ALLOWED_FUNCTIONS = frozenset({
    "ABS", "AND", "COUNT", "IF", "IFERROR", "INDEX", "INT", "ISNUMBER", "ISTEXT", "LEN", "MAX", "MIN", "MOD", "NOT",
    "OR", "RIGHT", "ROUND", "ROUNDDOWN", "ROUNDUP", "SIGN", "SUBSTITUTE", "SUM", "SUMPRODUCT", "TRIM", "VALUE",
})
# Never emitted (newer than Excel 2010, or not in WPS/LibreOffice alike); the unit tests check this list.
FORBIDDEN_FUNCTIONS = frozenset({"LET", "LAMBDA", "IFS", "SWITCH", "XLOOKUP", "XMATCH", "FILTER", "SORT", "UNIQUE",
                                 "SEQUENCE", "CONCAT", "TEXTJOIN", "MAXIFS", "MINIFS"})

GUARD = 9                     # decimals a double is rounded to before the engine's comparisons and roundings
MAX_FORMULA_LENGTH = 8000     # Excel's limit is 8,192 characters
MAX_NESTING = 60              # Excel's limit is 64 nested function levels

NA_WORD, NOT_ACCEPTED_WORD, NO_DATA_WORD = "无任务", "未验收", "无数据"
YES, NO = "是", "否"


# --------------------------------------------------------------------------- results

@dataclass(frozen=True)
class NotCompilable:
    """An output that stays engine-written; ``reason`` is Chinese and goes into the cell's comment."""

    reason: str

    def comment(self) -> str:
        return f"此单元格需用 anju 计算（anju recalc），不随填报自动更新：{self.reason}"


@dataclass
class CompiledSheet:
    """The formulas of one pack's template, by output name (defined name).

    ``formulas[name]`` is formula text without '=' or a ``NotCompilable``.
    ``engine_cells`` lists the outputs whose formula reads an engine-written
    cell (a ``NotCompilable`` score), so the template can say so in a comment.
    ``helpers`` are named formulas the output formulas use (workbook-level
    defined names whose definition is a formula, e.g. redistributed weights);
    a live template must define them.
    """

    pack_id: str
    pack_version: str
    formulas: dict = field(default_factory=dict)
    engine_cells: dict = field(default_factory=dict)    # output name -> [engine-written names it reads]
    helpers: dict = field(default_factory=dict)         # named formulas (defined names holding a formula)

    def formula(self, name: str) -> str | None:
        value = self.formulas.get(name)
        return value if isinstance(value, str) else None

    @property
    def compiled(self) -> dict:
        return {k: v for k, v in self.formulas.items() if isinstance(v, str)}

    @property
    def not_compilable(self) -> dict:
        return {k: v for k, v in self.formulas.items() if isinstance(v, NotCompilable)}

    def comment(self, name: str) -> str | None:
        """The cell comment a template should carry for ``name`` (None when the formula stands alone)."""
        value = self.formulas.get(name)
        if isinstance(value, NotCompilable):
            return value.comment()
        if self.engine_cells.get(name):
            cells = "、".join(self.engine_cells[name])
            return f"本公式引用了需用 anju 计算的单元格（{cells}）；修改这些指标的填报值后请运行 anju recalc。"
        return None


class Unsupported(Exception):
    """Raised inside a rule compiler: the rule (or this use of it) has no faithful formula."""


# --------------------------------------------------------------------------- text helpers

def num(value) -> str:
    """A Decimal as a formula literal: plain digits, no exponent, negative ones in parentheses."""
    value = Decimal(value)
    text = format(value.normalize(), "f") if value else "0"
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    if text in ("-0", ""):
        text = "0"
    return f"({text})" if text.startswith("-") else text


def string(text: str) -> str:
    return '"' + str(text).replace('"', '""') + '"'


def call(function: str, *args: str) -> str:
    assert function in ALLOWED_FUNCTIONS, function
    return f"{function}({','.join(args)})"


def AND(*conditions: str) -> str:
    items = _unique(c for c in conditions if c and c != "TRUE")
    if not items:
        return "TRUE"
    return items[0] if len(items) == 1 else call("AND", *items)


def OR(*conditions: str) -> str:
    items = _unique(c for c in conditions if c and c != "FALSE")
    if "TRUE" in items:
        return "TRUE"
    if not items:
        return "FALSE"
    return items[0] if len(items) == 1 else call("OR", *items)


def IF(condition: str, then: str, otherwise: str) -> str:
    if condition == "TRUE":
        return then
    if condition == "FALSE":
        return otherwise
    return call("IF", condition, then, otherwise)


def _unique(items) -> list:
    seen, out = set(), []
    for item in items:
        if item not in seen:
            seen.add(item)
            out.append(item)
    return out


def guard(x: str) -> str:
    """The double rounded to GUARD decimals: free of binary representation error before a comparison."""
    return call("ROUND", x, str(GUARD))


def blank(x: str) -> str:
    """True for an empty cell or one holding only spaces (the reader treats both as not filled)."""
    return f'TRIM({x})=""'


def quant(x: str, rounding: Rounding) -> str:
    """The engine's ``quantize(x, places, mode)`` on a double (guarded against representation error)."""
    places, mode = rounding.places, rounding.mode
    p = str(places)
    if mode == ROUND_HALF_UP:
        return call("ROUND", guard(x), p)
    if mode == ROUND_DOWN:
        return call("ROUNDDOWN", guard(x), p)
    if mode == ROUND_UP:
        return call("ROUNDUP", guard(x), p)
    scale = num(Decimal(10) ** places)
    y = call("ROUND", f"({x})*{scale}", str(GUARD - places)) if places else guard(x)
    if mode == ROUND_FLOOR:
        whole = call("INT", y)
    elif mode == ROUND_CEILING:
        whole = f"-{call('INT', '-' + y)}"
    elif mode == ROUND_HALF_EVEN:
        whole = f"{call('ROUND', y, '0')}-{call('SIGN', y)}*({call('MOD', call('ABS', y), '2')}=0.5)"
    elif mode == ROUND_HALF_DOWN:
        whole = f"{call('ROUND', y, '0')}-{call('SIGN', y)}*({call('MOD', call('ABS', y), '1')}=0.5)"
    else:
        raise Unsupported(f"舍入方式 {mode} 没有对应的表格公式")
    return f"({whole})/{scale}" if places else f"({whole})"


# --------------------------------------------------------------------------- inputs

class Ctx:
    """One rule of one indicator (or one part of a composite rule) being compiled.

    Rule compilers read inputs through it and add their validity conditions to
    ``valid``; the raw score is computed only where all of them hold.
    """

    def __init__(self, indicator: Indicator, weight: Decimal, compiled, part: str | None = None, valid: list | None = None):
        self.indicator = indicator
        self.code = indicator.code
        self.weight = weight
        self.compiled = compiled
        self.params = compiled.params
        self.part = part
        self.valid = valid if valid is not None else []
        self.specs = {(s.part, s.key): s for s in indicator.compiled.specs}

    @property
    def w(self) -> str:
        return num(self.weight)

    def sub(self, part: str, weight: Decimal, compiled) -> "Ctx":
        return Ctx(self.indicator, weight, compiled, part, self.valid)

    def spec(self, key: str) -> InputSpec:
        spec = self.specs.get((self.part, key))
        if spec is None:
            raise Unsupported(f"输入项“{key}”不在指标的输入项中")
        return spec

    def name(self, key: str) -> str:
        return N.input_name(self.code, key, self.part)

    def require(self, *conditions: str) -> None:
        self.valid.extend(c for c in conditions if c and c != "TRUE")

    # -- numbers

    @staticmethod
    def allows_percent(spec: InputSpec) -> bool:
        return spec.kind == "percent" or spec.unit == "%"

    def cleaned(self, x: str, spec: InputSpec) -> str:
        """The text of a cell as ``numbers.to_decimal`` cleans it: trimmed, without ',' and spaces (and '%')."""
        text = call("SUBSTITUTE", call("SUBSTITUTE", call("TRIM", x), '","', '""'), '" "', '""')
        return call("SUBSTITUTE", text, '"%"', '""') if self.allows_percent(spec) else text

    def value_of(self, x: str, spec: InputSpec) -> str:
        """A number cell's value; numbers typed as text ('1,200', ' 85 ', '85%' for a percentage) count too."""
        return IF(f"ISNUMBER({x})", x, call("VALUE", self.cleaned(x, spec)))

    def _text_number_ok(self, x: str, spec: InputSpec) -> str:
        """Text that ``to_decimal`` reads as a number: digits and '.' only (after cleaning), at most one
        trailing '%' where percentages are allowed. Anything else (dates, currency, signs, exponents)
        is refused, so VALUE() never reads a date or an amount the engine would reject."""
        base = call("SUBSTITUTE", call("SUBSTITUTE", call("TRIM", x), '","', '""'), '" "', '""')
        rest = base
        for char in "0123456789.%" if self.allows_percent(spec) else "0123456789.":
            rest = call("SUBSTITUTE", rest, string(char), '""')
        checks = [f"ISTEXT({x})", f"LEN({rest})=0", f"ISNUMBER({call('VALUE', self.cleaned(x, spec))})"]
        if self.allows_percent(spec):
            percent, empty = string("%"), '""'
            signs = f"LEN({base})-LEN({call('SUBSTITUTE', base, percent, empty)})"
            at_end = IF(f"{call('RIGHT', base, '1')}={percent}", "1", "0")
            checks.append(f"{signs}={at_end}")
        return AND(*checks)

    def _number_ok(self, x: str, spec: InputSpec) -> list:
        value = self.value_of(x, spec)
        checks = [OR(f"ISNUMBER({x})", self._text_number_ok(x, spec)), f"{value}>=0"]
        if spec.kind in ("count", "days"):
            checks.append(f"{value}=INT({value})")
        return checks

    def _default(self, spec: InputSpec):
        if spec.default is None:
            return None
        from .scoring import parse_value
        from .errors import InputError
        try:
            return parse_value(spec, spec.default, self.code)
        except InputError:
            raise Unsupported(f"输入项“{spec.label}”的默认值无效") from None

    def number(self, key: str) -> str:
        """A required number (or one with a default): its value; validity is recorded."""
        spec = self.spec(key)
        x = self.name(key)
        default = self._default(spec)
        if default is not None:
            self.require(IF(blank(x), "TRUE", AND(*self._number_ok(x, spec))))
            return IF(blank(x), num(default), self.value_of(x, spec))
        if not spec.required:
            raise Unsupported(f"输入项“{spec.label}”为选填，规则却必须用到")
        self.require(*self._number_ok(x, spec))
        return self.value_of(x, spec)

    def optional_number(self, key: str) -> tuple[str, str]:
        """(present condition, value) of an optional number; validity of a filled cell is recorded."""
        spec = self.spec(key)
        x = self.name(key)
        default = self._default(spec)
        if default is not None:
            self.require(IF(blank(x), "TRUE", AND(*self._number_ok(x, spec))))
            return "TRUE", IF(blank(x), num(default), self.value_of(x, spec))
        self.require(IF(blank(x), "TRUE", AND(*self._number_ok(x, spec))))
        return f"NOT({blank(x)})", self.value_of(x, spec)

    # -- yes/no and categories

    def flag(self, key: str) -> str:
        """A yes/no input as a condition (TRUE for 是, or a TRUE cell)."""
        spec = self.spec(key)
        x = self.name(key)
        default = self._default(spec)
        known = AND(f"NOT({blank(x)})", OR(f"{x}={string(YES)}", f"{x}={string(NO)}", f"{x}=TRUE", f"{x}=FALSE"))
        yes = OR(f"{x}={string(YES)}", f"{x}=TRUE")
        if default is None:
            if not spec.required:
                raise Unsupported(f"输入项“{spec.label}”为选填，规则却必须用到")
            self.require(known)
            return yes
        self.require(IF(blank(x), "TRUE", known))
        return OR(blank(x), yes) if default else yes

    def category(self, key: str) -> tuple[str, list]:
        """(cell name, [(choice key, label)]) of a drop-down input; validity (one of the labels) is recorded."""
        spec = self.spec(key)
        x = self.name(key)
        if spec.default is not None:
            raise Unsupported(f"输入项“{spec.label}”设有默认值，模板公式不支持")
        self.require(OR(*(f"{x}={string(label)}" for _, label in spec.choices)))
        return x, list(spec.choices)

    def answers(self, key: str = "answers") -> tuple[str, str, str]:
        """(labels column, counts column, total) of a survey range; validity is recorded."""
        x = self.name(key)
        labels, counts = call("INDEX", x, "0", "1"), call("INDEX", x, "0", "2")
        total = call("SUM", counts)
        empty = '""'
        self.require(call("SUMPRODUCT", call("ISTEXT", counts) + "*1") + "=0",
                     call("SUMPRODUCT", f"({counts}<0)+({counts}<>INT({counts}))") + "=0",
                     call("SUMPRODUCT", f"({labels}={empty})*({counts}<>{empty})") + "=0",
                     f"{total}>0")
        return labels, counts, total


# --------------------------------------------------------------------------- values (resolve_value and transforms)

def value_expr(ctx: Ctx) -> str:
    """The percentage a value rule scores (``ruletypes.resolve_value``)."""
    transform = ctx.params.get("value_from")
    if transform:
        return TRANSFORM_COMPILERS[transform["transform"]](ctx, transform)
    keys = {s.key for (part, _), s in ctx.specs.items() if part == ctx.part}
    if "actual" not in keys:          # basis value: the percentage is entered
        return ctx.number("value")
    has_actual, actual = ctx.optional_number("actual")
    has_target, target = ctx.optional_number("target")
    has_value, value = ctx.optional_number("value")
    by_value = AND(f"NOT({has_actual})", has_value)
    ctx.require(IF(by_value, "TRUE", AND(has_actual, has_target, f"{target}>0")))
    ratio = f"{actual}/{target}*100"
    return IF(has_actual, ratio, value) if has_actual != "TRUE" else ratio


def no_aliases(params: dict) -> None:
    if params.get("aliases"):
        raise Unsupported("问卷选项别名（aliases）在模板公式中不支持")


def share_yes_value(ctx: Ctx, params: dict) -> str:
    no_aliases(params)
    labels, counts, total = ctx.answers()
    yes = string(params.get("yes_label") or YES)
    return f"{call('SUMPRODUCT', f'({labels}={yes})*{counts}')}/{total}*100"


def survey_weighted_value(ctx: Ctx, params: dict) -> str:
    no_aliases(params)
    labels, counts, total = ctx.answers()
    weights = params.get("weights") or DEFAULT_SURVEY_WEIGHTS
    known = "+".join(f"({labels}={string(label)})" for label in weights)
    ctx.require(f"{call('SUMPRODUCT', f'({known})*{counts}')}={total}")
    terms = "+".join(f"({labels}={string(label)})*{num(weight)}" for label, weight in weights.items() if weight)
    weighted = call("SUMPRODUCT", f"({terms})*{counts}") if terms else "0"
    return f"{weighted}/{total}*100"


def composite_rate_value(ctx: Ctx, params: dict) -> str:
    if ctx.part is not None:
        raise Unsupported("组合规则分项中的“多项完成率平均”在模板中没有对应的输入单元格")
    rates = []
    for component in params["components"]:
        part = Ctx(ctx.indicator, ctx.weight, ctx.compiled, component["key"], ctx.valid)
        actual, target = part.number("actual"), part.number("target")
        ctx.require(f"{target}>0")
        rate = f"{actual}/{target}*100"
        rates.append(call("MIN", rate, "100") if params["cap_components"] else rate)
    return f"({'+'.join(rates)})/{len(rates)}"


TRANSFORM_COMPILERS: dict[str, Callable[[Ctx, dict], str]] = {
    "share_yes": share_yes_value,
    "survey_weighted": survey_weighted_value,
    "composite_rate": composite_rate_value,
}


# --------------------------------------------------------------------------- rule types

RULE_COMPILERS: dict[str, Callable[[Ctx], str]] = {}


def compiles(name: str):
    def wrap(function):
        RULE_COMPILERS[name] = function
        return function
    return wrap


def clamp01(x: str, high: str = "1") -> str:
    return call("MAX", "0", call("MIN", high, x))


@compiles("ratio_capped")
def _ratio_capped(ctx: Ctx) -> str:
    actual, target = ctx.number("actual"), ctx.number("target")
    ctx.require(f"{target}>0")
    cap = num(ctx.params["cap"])
    capped = f"{ctx.w}*{clamp01(f'{actual}/{target}', cap)}"
    if ctx.params["overachieve_policy"] == "reduce_by_deviation":     # as engine: w × (1 − 偏离度) above target
        return IF(f"{actual}/{target}>1", f"{ctx.w}*{call('MAX', '0', f'2-{actual}/{target}')}", capped)
    return capped


@compiles("ratio_reverse")
def _ratio_reverse(ctx: Ctx) -> str:
    actual, target = ctx.number("actual"), ctx.number("target")
    ctx.require(f"{target}>0")
    return IF(f"{actual}<={target}", ctx.w, f"{ctx.w}*({target}/{actual})")


def _round_pp(x: str, how: str) -> str:
    if how == "floor":
        return call("INT", guard(x))
    if how == "ceil":
        return call("ROUNDUP", guard(x), "0")
    if how == "round_half_up":
        return call("ROUND", guard(x), "0")
    return f"({x})"


@compiles("shortfall_deduction")
def _shortfall_deduction(ctx: Ctx) -> str:
    p, w = ctx.params, ctx.w
    value = value_expr(ctx)
    full_at = num(p["full_at"])
    counted = _round_pp(f"{full_at}-{value}", p["pp_rounding"])
    steps = f"{counted}/{num(p['step_pp'])}"
    if p["step_rounding"] == "floor":
        steps = call("INT", guard(steps))
    cap = num(ctx.weight if p["max_deduction"] is None else p["max_deduction"])
    deduction = call("MIN", cap, f"{num(p['points_per_step'])}*{steps}")
    score = IF(f"{guard(value)}>={full_at}", w, call("MAX", "0", f"{w}-{deduction}"))
    if p["zero_below"] is not None:
        score = IF(f"{guard(value)}<{num(p['zero_below'])}", "0", score)
    return score


@compiles("threshold_linear")
def _threshold_linear(ctx: Ctx) -> str:
    p, w = ctx.params, ctx.w
    value = value_expr(ctx)
    full_at = num(p["full_at"])
    per_pp = num(ctx.weight * p["deduct_pct_of_weight_per_pp"] / HUNDRED)
    score = IF(f"{guard(value)}>={full_at}", w, call("MAX", "0", f"{w}-({full_at}-{value})*{per_pp}"))
    zero = p["zero_below"]
    if zero is not None:
        test = f"{guard(value)}<={num(zero)}" if p["zero_below_inclusive"] else f"{guard(value)}<{num(zero)}"
        score = IF(test, "0", score)
    return score


@compiles("budget_execution")
def _budget_execution(ctx: Ctx) -> str:
    budget, executed = ctx.number("budget"), ctx.number("executed")
    if ctx.params["base"] == "budget":
        ctx.optional_number("received")
        base = budget
    else:
        base = ctx.number("received")
    ctx.require(f"{base}>0")
    return f"{ctx.w}*{clamp01(f'{executed}/{base}')}"


def _sum_of(terms: list[str]) -> str:
    return "+".join(terms) if terms else "0"


@compiles("checklist_sum")
def _checklist_sum(ctx: Ctx) -> str:
    p = ctx.params
    flags = [(ctx.flag(item["key"]), item["points"]) for item in p["items"]]
    if p["all_or_nothing"]:
        total = sum((points for _, points in flags), ZERO)
        score = IF(AND(*(f for f, _ in flags)), num(min(ctx.weight, total)), "0")
    else:
        score = call("MIN", ctx.w, _sum_of([f"({f})*{num(points)}" for f, points in flags]))
    if p["veto_key"]:
        score = IF(ctx.flag(p["veto_key"]), "0", score)
    return score


@compiles("checklist_pct_deduction")
def _checklist_pct_deduction(ctx: Ctx) -> str:
    missing = [f"(NOT({ctx.flag(item['key'])}))*{num(item['deduct_pct'])}" for item in ctx.params["items"]]
    return f"{ctx.w}*(100-{call('MIN', '100', _sum_of(missing))})/100"


@compiles("base_plus_items")
def _base_plus_items(ctx: Ctx) -> str:
    p = ctx.params
    base = ctx.flag(p["base_key"])
    met = _sum_of([f"({ctx.flag(item['key'])})*1" for item in p["items"]])
    pct = call("MIN", "100", f"{num(p['base_pct'])}+{num(p['item_pct'])}*({met})")
    return IF(base, f"{ctx.w}*{pct}/100", "0")


@compiles("binary")
def _binary(ctx: Ctx) -> str:
    return IF(ctx.flag(ctx.params["key"]), ctx.w, "0")


@compiles("per_item_deduction")
def _per_item_deduction(ctx: Ctx) -> str:
    p, w = ctx.params, ctx.weight
    if p["points_per_item"] is None and p["deduct_pct_of_weight"] is None:
        raise Unsupported("per_item_deduction 未设置 points_per_item 或 deduct_pct_of_weight（规则包本身有误）")
    per_item = p["points_per_item"] if p["points_per_item"] is not None else w * p["deduct_pct_of_weight"] / HUNDRED
    cap = w
    if p["max_deduction"] is not None:
        cap = p["max_deduction"]
    elif p["max_deduction_pct"] is not None:
        cap = w * p["max_deduction_pct"] / HUNDRED
    count = ctx.number(p["key"])
    deduction = call("MIN", num(cap), f"{num(per_item)}*{count}")
    score = IF(f"{count}=0", num(w), call("MAX", "0", f"{num(w)}-{deduction}"))
    if p["severe_zero"]:
        score = IF(ctx.flag("severe"), "0", score)
    return score


@compiles("per_day_late")
def _per_day_late(ctx: Ctx) -> str:
    p, w = ctx.params, ctx.weight
    cap = w if p["max_deduction"] is None else p["max_deduction"]
    days = ctx.number("days_late")
    deduction = call("MIN", num(cap), f"{num(p['points_per_day'])}*{days}")
    return IF(f"{days}=0", num(w), call("MAX", "0", f"{num(w)}-{deduction}"))


@compiles("categorical")
def _categorical(ctx: Ctx) -> str:
    p, w = ctx.params, ctx.weight
    x, choices = ctx.category("category")
    top = max(p["points"].values())
    labels = dict(_category_choices(p))

    def raw(key):
        score = p["points"][key]
        if p["scale_to_weight"] and top > 0:
            return f"{num(score)}*{num(w)}/{num(top)}"
        return num(min(score, w))

    keys = [key for key, _ in choices]
    expr = raw(keys[-1])
    for key in reversed(keys[:-1]):
        expr = IF(f"{x}={string(labels[key])}", raw(key), expr)
    return expr


@compiles("qualitative_band")
def _qualitative_band(ctx: Ctx) -> str:
    bands = ctx.params["bands"] or QUALITATIVE_BANDS
    x = ctx.name("band")
    spec = ctx.spec("band")
    top_band = max(bands, key=lambda b: bands[b][1])
    has_pct, pct = ctx.optional_number("pct")
    usable = [(key, label) for key, label in spec.choices if key in bands]
    if not usable:
        raise Unsupported("评价档次的选项与规则包设定的档次不一致")
    ctx.require(OR(*(f"{x}={string(label)}" for _, label in usable)))
    checks, highs = [], []
    for key, label in usable:
        low, high = bands[key]
        top_ok = f"{pct}<={num(high)}" if high == HUNDRED or key == top_band else f"{pct}<{num(high)}"
        checks.append(AND(f"{x}={string(label)}", f"{pct}>={num(low)}", top_ok))
        highs.append((label, high))
    ctx.require(IF(has_pct, OR(*checks), "TRUE"))
    high = num(highs[-1][1])
    for label, value in reversed(highs[:-1]):
        high = IF(f"{x}={string(label)}", num(value), high)
    chosen = IF(has_pct, pct, high) if has_pct != "TRUE" else pct
    return f"{ctx.w}*{chosen}/100"


@compiles("tiered_bands")
def _tiered_bands(ctx: Ctx) -> str:
    bands = ctx.params["bands"]
    value = value_expr(ctx)
    expr = "0"
    for band in bands:          # later bands win; the first may have no lower bound
        score = band["points"] if "points" in band else ctx.weight * band["pct_of_weight"] / HUNDRED
        score = num(min(score, ctx.weight))
        expr = score if band["min"] is None else IF(f"{guard(value)}>={num(band['min'])}", score, expr)
    return expr


@compiles("veto")
def _veto(ctx: Ctx) -> str:
    return IF(ctx.flag(ctx.params["key"]), "0", ctx.w)


@compiles("bonus_capped")
def _bonus_capped(ctx: Ctx) -> str:
    p, w = ctx.params, ctx.w
    value = value_expr(ctx)
    full_at = num(p["full_at"])
    if not p["full_at"]:
        raise Unsupported("满分线为0")
    bonus = call("MIN", num(p["bonus_cap"]), f"{num(p['points_per_step'])}*(({value})-{full_at})/{num(p['step_pp'])}")
    return IF(f"{guard(value)}<{full_at}", f"{w}*({value})/{full_at}", f"{w}+{bonus}")


@compiles("global_deduction")
def _global_deduction(ctx: Ctx) -> str:
    p = ctx.params
    total = _sum_of([f"{num(item['points'])}*{ctx.number(item['key'])}" for item in p["items"]])
    if p["max_deduction"] is not None:
        total = call("MIN", num(p["max_deduction"]), total)
    return f"-({total})"


@compiles("composite_rate")
def _composite_rate(ctx: Ctx) -> str:
    value = composite_rate_value(ctx, ctx.params)
    return f"{ctx.w}*{clamp01(f'({value})/100')}"


def _transform_rule(name: str):
    def compile_rule(ctx: Ctx) -> str:
        value = TRANSFORM_COMPILERS[name](ctx, ctx.params)
        if not ctx.params["full_at"]:
            raise Unsupported("满分线为0")
        full_at = num(ctx.params["full_at"])
        return f"{ctx.w}*{clamp01(f'({value})/{full_at}')}"
    RULE_COMPILERS[name] = compile_rule


_transform_rule("survey_weighted")
_transform_rule("share_yes")


@compiles("composite")
def _composite(ctx: Ctx) -> str:
    shared_cap = ctx.params["shared_cap"]
    terms = []
    for key, _label, part_weight, rule in ctx.compiled.parts:
        weight = part_weight if part_weight is not None else (shared_cap if shared_cap is not None else ctx.weight)
        compiler = RULE_COMPILERS.get(rule.rule_type.name)
        if compiler is None or rule.rule_type.name == "composite":
            raise Unsupported(f"分项“{key}”的规则类型“{rule.rule_type.name}”没有对应的表格公式")
        if rule.rule_type.name == "veto" and rule.params["scope"] != "indicator":
            raise Unsupported(f"分项“{key}”是作用于一级指标、总分或等级的一票否决，模板公式不支持")
        score = compiler(ctx.sub(key, weight, rule))
        terms.append(f"{num(weight)}-({score})" if shared_cap is not None else f"({score})")
    if shared_cap is not None:
        deduction = call("MIN", num(shared_cap), "+".join(terms))
        return call("MAX", "0", f"{ctx.w}-{deduction}")
    return call("MIN", "+".join(terms), ctx.w)


@compiles("formula")
def _formula(ctx: Ctx) -> str:
    expression = ctx.compiled.expression
    translator = ExpressionTranslator(ctx)
    kind, text = translator.visit(expression.tree)
    if kind != "num":
        raise Unsupported(f"公式“{expression.source}”的结果不是数字")
    for decl in ctx.params["inputs"]:          # the engine parses every declared input, used or not
        spec = ctx.spec(decl["key"])
        if spec.kind == "bool":
            ctx.flag(decl["key"])
        else:
            ctx.number(decl["key"])
    if ctx.params["clamp"]:
        return clamp01(text, ctx.w)
    return text


# --------------------------------------------------------------------------- formula rules: simpleeval -> spreadsheet

class ExpressionTranslator:
    """A checked ``engine.expressions.Expression`` tree (Decimal literals) as spreadsheet formula text.

    Each node yields (kind, text): kind 'num' (a Decimal) or 'bool'. The
    supported subset keeps Python's meaning: and/or/if and chained comparisons
    become nested IFs (short-circuit, so a guarded division stays guarded),
    comparisons are guarded against binary representation error, booleans
    take part in arithmetic only beside a number (True + True is an int, not
    a Decimal, in Python), ** needs a literal non-zero integer exponent,
    round() literal places; % (Python's Decimal remainder) and strings are not
    supported.
    """

    COMPARE = {ast.Eq: "=", ast.NotEq: "<>", ast.Lt: "<", ast.LtE: "<=", ast.Gt: ">", ast.GtE: ">="}
    ARITH = {ast.Add: "+", ast.Sub: "-", ast.Mult: "*", ast.Div: "/"}

    def __init__(self, ctx: Ctx):
        self.ctx = ctx
        self.source = ctx.compiled.expression.source

    def fail(self, what: str):
        raise Unsupported(f"公式“{self.source}”中的{what}不在表格公式支持的范围内")

    def visit(self, node) -> tuple[str, str]:
        method = getattr(self, "visit_" + type(node).__name__, None)
        if method is None:
            self.fail(f"语法（{type(node).__name__}）")
        return method(node)

    def number(self, node) -> str:
        kind, text = self.visit(node)
        if kind == "bool":
            return IF(text, "1", "0")
        return text

    def condition(self, node) -> str:
        kind, text = self.visit(node)
        return text if kind == "bool" else f"({text})<>0"

    def visit_Constant(self, node):
        if isinstance(node.value, bool):
            return "bool", "TRUE" if node.value else "FALSE"
        if isinstance(node.value, Decimal):
            return "num", num(node.value)
        self.fail("常量")

    def visit_Name(self, node):
        if node.id in ("w", "weight"):
            return "num", self.ctx.w
        spec = self.ctx.specs.get((None, node.id))
        if spec is None:
            self.fail(f"名称“{node.id}”")
        if spec.kind == "bool":
            return "bool", self.ctx.flag(node.id)
        return "num", self.ctx.number(node.id)

    def visit_BinOp(self, node):
        left_kind, _ = self.visit(node.left)
        right_kind, _ = self.visit(node.right)
        if isinstance(node.op, ast.Pow):
            exponent = self.literal(node.right)
            if left_kind != "num" or exponent is None or exponent != exponent.to_integral_value() or not exponent \
                    or abs(exponent) > 100:
                self.fail("乘方（指数须为不为0的整数常量）")
            return "num", f"({self.number(node.left)})^({num(exponent)})"
        op = self.ARITH.get(type(node.op))
        if op is None:
            self.fail("运算符（如 % 取余）")
        if "num" not in (left_kind, right_kind):
            self.fail("是/否值之间的算术运算")
        return "num", f"({self.number(node.left)}{op}{self.number(node.right)})"

    def literal(self, node) -> Decimal | None:
        if isinstance(node, ast.Constant) and isinstance(node.value, Decimal):
            return node.value
        if isinstance(node, ast.UnaryOp) and isinstance(node.op, (ast.USub, ast.UAdd)):
            inner = self.literal(node.operand)
            if inner is not None:
                return -inner if isinstance(node.op, ast.USub) else inner
        return None

    def visit_UnaryOp(self, node):
        if isinstance(node.op, ast.Not):
            return "bool", f"NOT({self.condition(node.operand)})"
        kind, text = self.visit(node.operand)
        if kind != "num":
            self.fail("是/否值的正负号")
        return "num", f"(-{text})" if isinstance(node.op, ast.USub) else text

    def visit_BoolOp(self, node):
        texts = []
        for value in node.values:
            kind, text = self.visit(value)
            if kind != "bool":
                self.fail("and/or 连接的数值（只支持是/否条件）")
            texts.append(text)
        expr = texts[-1]
        for text in reversed(texts[:-1]):
            expr = IF(text, expr, "FALSE") if isinstance(node.op, ast.And) else IF(text, "TRUE", expr)
        return "bool", expr

    def visit_Compare(self, node):
        operands = [node.left] + list(node.comparators)
        tests = []
        for op, left, right in zip(node.ops, operands, operands[1:]):
            symbol = self.COMPARE.get(type(op))
            if symbol is None:
                self.fail("比较运算")
            tests.append(f"{guard(f'{self.number(left)}-({self.number(right)})')}{symbol}0")
        expr = tests[-1]
        for test in reversed(tests[:-1]):
            expr = IF(test, expr, "FALSE")
        return "bool", expr

    def visit_IfExp(self, node):
        body_kind, body = self.visit(node.body)
        else_kind, orelse = self.visit(node.orelse)
        if body_kind != else_kind:
            self.fail("条件表达式（两个分支类型不同）")
        return body_kind, IF(self.condition(node.test), body, orelse)

    def visit_Call(self, node):
        name = node.func.id if isinstance(node.func, ast.Name) else ""
        args = node.args
        kinds = [self.visit(arg)[0] for arg in args]
        if "bool" in kinds:
            self.fail(f"函数 {name} 的是/否参数")
        texts = [self.number(arg) for arg in args]
        if name in ("min", "max") and len(args) >= 2:
            return "num", call(name.upper(), *texts)
        if name == "abs" and len(args) == 1:
            return "num", call("ABS", texts[0])
        if name == "round" and len(args) in (1, 2):
            places = self.literal(args[1]) if len(args) == 2 else Decimal(0)
            if places is None or not -6 <= int(places) <= GUARD - 1:
                self.fail("round 的小数位数（须为常量）")
            return "num", call("ROUND", guard(texts[0]), str(int(places)))
        if name == "floor" and len(args) == 1:
            return "num", call("INT", guard(texts[0]))
        if name == "ceil" and len(args) == 1:
            return "num", f"(-{call('INT', '-' + guard(texts[0]))})"
        if name == "clamp" and len(args) == 3:
            return "num", call("MAX", texts[1], call("MIN", texts[2], texts[0]))
        self.fail(f"函数调用 {name}")


# --------------------------------------------------------------------------- indicators, levels, total

def status_ok(code: str) -> str:
    s = N.status_name(code)
    return OR(blank(s), *(f"{s}={string(word)}" for word in (NA_WORD, NOT_ACCEPTED_WORD, NO_DATA_WORD)))


def is_na(code: str) -> str:
    return f"{N.status_name(code)}={string(NA_WORD)}"


def raw_score(indicator: Indicator) -> tuple[str, str]:
    """(validity condition, raw score) of a scored indicator (state blank)."""
    compiler = RULE_COMPILERS.get(indicator.compiled.rule_type.name)
    if compiler is None:
        raise Unsupported(f"规则类型“{indicator.compiled.rule_type.name}”（{indicator.compiled.rule_type.label}）没有对应的表格公式")
    ctx = Ctx(indicator, indicator.weight, indicator.compiled)
    raw = compiler(ctx)
    return AND(*ctx.valid), raw


class PackCompiler:
    def __init__(self, pack: Pack):
        self.pack = pack
        self.rules: dict[str, tuple[str, str] | NotCompilable] = {}
        for indicator in pack.indicators:
            try:
                self.rules[indicator.code] = raw_score(indicator)
            except Unsupported as exc:
                self.rules[indicator.code] = NotCompilable(str(exc))
        self.vetoes = [i for i in pack.indicators if i.compiled.rule_type.name == "veto"]
        groups: dict[tuple, list] = {}
        for indicator in pack.indicators:
            groups.setdefault(na_group(pack, indicator), []).append(indicator)
        self.groups = groups
        self.helpers: dict[str, str] = {}      # named helper formulas (defined names), see redistribution()

    # -- vetoes

    def veto_parts(self, indicator: Indicator) -> tuple[str, str]:
        """(invalid, triggered) conditions of a veto indicator."""
        valid, _ = self.rules[indicator.code]
        s = N.status_name(indicator.code)
        flag = Ctx(indicator, indicator.weight, indicator.compiled).flag(indicator.compiled.params["key"])
        invalid = OR(f"NOT({status_ok(indicator.code)})", AND(blank(s), f"NOT({valid})"))
        triggered = AND(blank(s), flag)
        return invalid, triggered

    def vetoes_of(self, scope: str, top: str | None = None) -> list:
        found = []
        for indicator in self.vetoes:
            params = indicator.compiled.params
            if params["scope"] != scope or isinstance(self.rules[indicator.code], NotCompilable):
                continue
            if top is not None and indicator.path[0] != top:
                continue
            found.append(indicator)
        return found

    # -- weights under na_policy

    def redistribution(self, indicator: Indicator) -> tuple[str, str, str] | None:
        """(any sibling N/A, present weight P, effective weight) for na_policy redistribute, else None.

        The engine (``scoring.redistribute``/``split_weight``) shares the group's weight G among the
        siblings that have a task in proportion to their weights, at the indicator places, by largest
        remainder (ties in indicator order). That needs every sibling's share, so it is computed once
        per group in named helper formulas (``helpers``): calc_g<k>_present (P), calc_<CODE>_floor
        (the share rounded down), calc_<CODE>_rem (the remainder, guarded; -1 without a task),
        calc_g<k>_left (units left over) and calc_<CODE>_weight (the effective weight).
        """
        if self.pack.na_policy != "redistribute":
            return None
        group = na_group(self.pack, indicator)
        members = self.groups[group]
        if len(members) < 2:
            return None
        key = f"calc_g{list(self.groups).index(group) + 1}"
        if f"{key}_present" not in self.helpers:
            self.group_helpers(key, members)
        any_na = OR(*(is_na(m.code) for m in members))
        return any_na, f"{key}_present", f"calc_{N.token(indicator.code)}_weight"

    def group_helpers(self, key: str, members: list) -> None:
        places = self.pack.rounding.indicator.places
        scale = num(Decimal(10) ** places)
        unit = num(Decimal(1).scaleb(-places))
        present = f"{key}_present"
        group_weight = num(sum((m.weight for m in members), ZERO))
        self.helpers[present] = "+".join(f"({N.status_name(m.code)}<>{string(NA_WORD)})*{num(m.weight)}"
                                         for m in members)
        any_na = OR(*(is_na(m.code) for m in members))
        exact = {m.code: f"{group_weight}*{num(m.weight)}/{present}" for m in members}
        floor = {m.code: f"calc_{N.token(m.code)}_floor" for m in members}
        rem = {m.code: f"calc_{N.token(m.code)}_rem" for m in members}
        for m in members:
            self.helpers[floor[m.code]] = IF(is_na(m.code), "0",
                                             f"{call('INT', call('ROUND', f'{exact[m.code]}*{scale}', str(GUARD)))}/{scale}")
            self.helpers[rem[m.code]] = IF(is_na(m.code), "-1", guard(f"{exact[m.code]}-{floor[m.code]}"))
        left = f"{key}_left"
        self.helpers[left] = call("ROUND", f"({group_weight}-({'+'.join(floor.values())}))*{scale}", "0")
        for index, m in enumerate(members):
            others = [o for o in members if o is not m]
            rank = "+".join([f"({rem[o.code]}>{rem[m.code]})" for o in others]
                            + [f"({rem[o.code]}={rem[m.code]})" for o in members[:index]])
            share = f"{floor[m.code]}+{IF(f'{rank}<{left}', unit, '0')}"
            w = num(m.weight)
            self.helpers[f"calc_{N.token(m.code)}_weight"] = IF(is_na(m.code), IF(f"{present}=0", w, "0"),
                                                                 IF(any_na, share, w))

    def effective_weight(self, indicator: Indicator) -> str:
        redistribution = self.redistribution(indicator)
        return num(indicator.weight) if redistribution is None else redistribution[2]

    # -- scores

    def indicator_value(self, indicator: Indicator, finish: Callable[[str], str], full: str) -> str:
        """The formula of an indicator's score (``finish`` = quantize) or raw score (``finish`` = identity)."""
        rule = self.rules[indicator.code]
        if isinstance(rule, NotCompilable):
            raise Unsupported(rule.reason)
        valid, raw = rule
        code = indicator.code
        s = N.status_name(code)
        redistribution = self.redistribution(indicator)
        na_value = full
        checks = [status_ok(code)]
        if redistribution is not None:
            _, present, weight = redistribution
            if indicator.weight:
                raw = f"({raw})*({weight}/{num(indicator.weight)})"
            na_value = IF(f"{present}=0", full, "0")
            checks += [status_ok(m.code) for m in self.groups[na_group(self.pack, indicator)]]
        scored = IF(valid, finish(raw), '""')
        expr = IF(blank(s), scored, IF(is_na(code), na_value, "0"))
        expr = IF(AND(*checks), expr, '""')
        level_vetoes = self.vetoes_of("level", indicator.path[0])
        if level_vetoes:
            parts = [self.veto_parts(v) for v in level_vetoes]
            expr = IF(OR(*(p[0] for p in parts)), '""', IF(OR(*(p[1] for p in parts)), "0", expr))
        return expr

    def score(self, indicator: Indicator) -> str:
        rounding = self.pack.rounding.indicator
        full = num(quantize(indicator.weight, rounding.places, rounding.mode))
        expr = self.indicator_value(indicator, lambda raw: quant(raw, rounding), full)
        return call("IFERROR", expr, '""')

    def rate(self, indicator: Indicator) -> str:
        score = N.score_name(indicator.code)
        eff = self.effective_weight(indicator)
        if eff == "0":
            return '""'
        body = quant(f"{score}/{eff}*100", self.pack.rounding.rate)
        if eff != num(indicator.weight):
            body = IF(f"{eff}=0", '""', body)
        return call("IFERROR", IF(f"ISNUMBER({score})", body, '""'), '""')

    # -- levels and total

    def level_members(self) -> list[tuple[tuple, list]]:
        groups = N.level_groups(self.pack)
        return [(group, [i for i in self.pack.indicators if i.path[:1] == group]) for group in groups]

    def level_score(self, members: list) -> str:
        names = [N.score_name(i.code) for i in members]
        total = _sum_call(names)
        places = str(self.pack.rounding.indicator.places)
        return IF(f"{_count_call(names)}<{len(names)}", '""', call("ROUND", total, places))

    def level_rate(self, group: tuple, members: list, number: int) -> str:
        weight = self.pack.level_weights.get(group, sum((i.weight for i in members), ZERO))
        if not weight:
            return '""'
        score = N.level_score_name(number)
        return IF(f"ISNUMBER({score})", quant(f"{score}/{num(weight)}*100", self.pack.rounding.rate), '""')

    def total(self) -> str:
        pack = self.pack
        names = [N.score_name(i.code) for i in pack.indicators]
        complete = f"{_count_call(names)}={len(names)}"
        if pack.rounding.total_method == "sum_of_indicator_scores":
            summed = _sum_call(names)
        else:
            raws = [self.indicator_value(i, lambda raw: f"({raw})", num(i.weight)) for i in pack.indicators]
            summed = "+".join(f"({r})" for r in raws)
        total = call("MAX", "0", call("MIN", num(pack_plan(pack).total_cap), quant(summed, pack.rounding.total)))
        total_vetoes = self.vetoes_of("total")
        if total_vetoes:
            total = IF(OR(*(self.veto_parts(v)[1] for v in total_vetoes)), "0", total)
        return call("IFERROR", IF(complete, total, '""'), '""')

    def grade(self) -> str:
        bands = sorted(self.pack.grades, key=lambda b: b.minimum, reverse=True)
        expr = string(bands[-1].label)
        for band in reversed(bands[:-1]):
            expr = IF(f"{N.OUT_TOTAL}>={num(band.minimum)}", string(band.label), expr)
        for indicator in reversed(self.vetoes_of("grade")):
            forced = indicator.compiled.params["grade"] or bands[-1].label    # as engine.scoring: the lowest grade
            expr = IF(self.veto_parts(indicator)[1], string(forced), expr)
        return call("IFERROR", IF(f"ISNUMBER({N.OUT_TOTAL})", expr, '""'), '""')


def _chunks(names: list, size: int = 200) -> list:
    return [names[i:i + size] for i in range(0, len(names), size)] or [[]]


def _sum_call(names: list) -> str:
    parts = [call("SUM", *chunk) if chunk else "0" for chunk in _chunks(names)]
    return parts[0] if len(parts) == 1 else call("SUM", *parts)


def _count_call(names: list) -> str:
    parts = [call("COUNT", *chunk) if chunk else "0" for chunk in _chunks(names)]
    return parts[0] if len(parts) == 1 else "+".join(parts)


def _checked(text: str) -> str | NotCompilable:
    if len(text) > MAX_FORMULA_LENGTH:
        return NotCompilable(f"公式过长（{len(text)}个字符，超过表格软件的限制）")
    if nesting_depth(text) > MAX_NESTING:
        return NotCompilable("公式嵌套层数超过表格软件的限制")
    return text


def compile_pack(pack: Pack) -> CompiledSheet:
    """Every output formula of a pack's template (see the module docstring)."""
    compiler = PackCompiler(pack)
    sheet = CompiledSheet(pack.id, pack.version)
    engine_scores = []

    def put(name: str, build: Callable[[], str]) -> None:
        try:
            sheet.formulas[name] = _checked(build())
        except Unsupported as exc:
            sheet.formulas[name] = NotCompilable(str(exc))

    for indicator in pack.indicators:
        score = N.score_name(indicator.code)
        put(score, lambda i=indicator: compiler.score(i))
        if isinstance(sheet.formulas[score], NotCompilable):
            engine_scores.append(score)
            sheet.formulas[N.rate_name(indicator.code)] = NotCompilable(sheet.formulas[score].reason)
        else:
            put(N.rate_name(indicator.code), lambda i=indicator: compiler.rate(i))
    for number, (group, members) in enumerate(compiler.level_members(), 1):
        put(N.level_score_name(number), lambda m=members: compiler.level_score(m))
        put(N.level_rate_name(number), lambda g=group, m=members, n=number: compiler.level_rate(g, m, n))
        reads = [N.score_name(i.code) for i in members if N.score_name(i.code) in engine_scores]
        if reads:
            sheet.engine_cells[N.level_score_name(number)] = reads
            sheet.engine_cells[N.level_rate_name(number)] = reads
    put(N.OUT_TOTAL, compiler.total)
    put(N.OUT_GRADE, compiler.grade)
    if engine_scores:
        sheet.engine_cells[N.OUT_TOTAL] = list(engine_scores)
        sheet.engine_cells[N.OUT_GRADE] = list(engine_scores)
    for name, text in compiler.helpers.items():
        checked = _checked(text)
        if isinstance(checked, NotCompilable):    # cannot happen for sane packs; never emit a broken chain
            raise ValueError(f"{pack.id}: helper {name}: {checked.reason}")
        sheet.helpers[name] = text
    if pack.rounding.total_method != "sum_of_indicator_scores" and engine_scores:
        sheet.formulas[N.OUT_TOTAL] = NotCompilable("总分按未取舍的原始得分合计，而部分指标需用 anju 计算")
        sheet.formulas[N.OUT_GRADE] = NotCompilable("总分需用 anju 计算")
    return sheet


# --------------------------------------------------------------------------- formula text: tokens, checks, tamper check

_TOKEN = re.compile(r'''
    (?P<string>"(?:[^"]|"")*")
  | (?P<number>(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?)
  | (?P<word>[^\W\d][\w.]*)
  | (?P<op><>|<=|>=|[-+*/^&=<>%(),;:{}!])
  | (?P<space>\s+)
''', re.VERBOSE | re.UNICODE)


def tokens(text: str) -> list[tuple[str, str]]:
    """(kind, text) tokens of a formula; kinds: string, number, function, name, op. Raises ValueError."""
    text = text[1:] if text.startswith("=") else text
    out, position = [], 0
    while position < len(text):
        match = _TOKEN.match(text, position)
        if not match:
            raise ValueError(f"无法解析公式：{text[position:position + 20]}")
        position = match.end()
        kind = match.lastgroup
        if kind == "space":
            continue
        value = match.group()
        if kind == "word":
            following = text[position:].lstrip()
            kind = "function" if following.startswith("(") else "name"
        out.append((kind, value))
    return out


def functions_used(text: str) -> set[str]:
    return {value.upper().removeprefix("_XLFN.") for kind, value in tokens(text) if kind == "function"}


def names_used(text: str) -> set[str]:
    return {value for kind, value in tokens(text) if kind == "name" and value.upper() not in ("TRUE", "FALSE")}


def nesting_depth(text: str) -> int:
    depth = deepest = 0
    for kind, value in tokens(text):
        if value == "(":
            depth += 1
            deepest = max(deepest, depth)
        elif value == ")":
            depth -= 1
    return deepest


def normalise_formula(text: str) -> tuple:
    """A formula in a form that survives a save by Excel or LibreOffice: no spaces, upper-case
    function and name tokens, no _xlfn. prefixes, numbers by value, ';' as ','."""
    out = []
    for kind, value in tokens(text.strip()):
        if kind in ("function", "name"):
            value = value.upper().removeprefix("_XLFN.")
        elif kind == "number":
            value = format(Decimal(value).normalize(), "f")
        elif value == ";":
            value = ","
        out.append(value)
    return tuple(out)


def same_formula(expected: str, found: str | None) -> bool:
    if found is None:
        return False
    try:
        return normalise_formula(expected) == normalise_formula(found)
    except ValueError:
        return False


def formula_tampering(package, pack: Pack, compiled: CompiledSheet | None = None) -> list[tuple[str, str, str, str]]:
    """Output cells of a live workbook whose formula differs from what ``pack`` compiles to (公式被修改).

    ``package`` is an ``engine.workbook.xlsxpatch.Package``. Returns
    [(sheet, cell, expected formula, found formula or "" when the formula was
    replaced by a value)]; a changed named helper formula is reported as
    (NAMES_SHEET, its name, expected, found). A workbook none of whose compiled
    outputs holds a formula is not a live template and yields [].
    """
    compiled = compiled or compile_pack(pack)
    defined = {name.lower(): where for name, where in package.defined_names().items()}
    cells = []
    for name, expected in compiled.compiled.items():
        where = defined.get(name.lower())
        if where is None:
            continue
        sheet, ref = where[0], where[1].split(":")[0]
        cells.append((sheet, ref, expected, package.cell_formula(sheet, ref)))
    if not any(found is not None for *_, found in cells):
        return []
    tampered = [(sheet, ref, expected, found or "") for sheet, ref, expected, found in cells
                if not same_formula(expected, found)]
    if compiled.helpers:
        defined_formulas = named_formulas(package)
        for name, expected in compiled.helpers.items():
            found = defined_formulas.get(name.lower())
            if not same_formula(expected, found):
                tampered.append((NAMES_SHEET, name, expected, found or ""))
    return tampered


NAMES_SHEET = "（名称管理器）"    # where a named helper formula lives, in tamper reports


def named_formulas(package) -> dict[str, str]:
    """Workbook-level defined names of a package -> their definition text (lower-case names)."""
    from xml.etree import ElementTree

    main = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"
    root = ElementTree.fromstring(package.read_part(package.workbook_part))
    container = root.find(f"{{{main}}}definedNames")
    found = {}
    for element in container if container is not None else ():
        if element.get("localSheetId") is None:
            found[element.get("name", "").lower()] = (element.text or "").strip()
    return found


__all__ = ["ALLOWED_FUNCTIONS", "CompiledSheet", "GUARD", "NotCompilable", "RULE_COMPILERS", "compile_pack",
           "formula_tampering", "functions_used", "names_used", "normalise_formula", "same_formula", "tokens"]
