"""Exact numbers: parsing user input into Decimal, rounding by a pack's policy, display.

Everything published is a Decimal. Floats only ever arrive from spreadsheet
readers; they are converted through ``repr`` (the shortest string that
round-trips), so a cell showing 85.28 becomes Decimal("85.28"), not
85.2800000000000011368683772161602973937988281250.
"""

from __future__ import annotations

import math
from functools import lru_cache
import unicodedata
from decimal import (
    ROUND_CEILING,
    ROUND_DOWN,
    ROUND_FLOOR,
    ROUND_HALF_DOWN,
    ROUND_HALF_EVEN,
    ROUND_HALF_UP,
    ROUND_UP,
    Context,
    Decimal,
    InvalidOperation,
)

from .errors import InputError

ZERO = Decimal(0)
ONE = Decimal(1)
HUNDRED = Decimal(100)

# Nothing in a housing evaluation is near this; larger inputs are typos or attacks.
MAX_ABS = Decimal("1e15")

ROUNDING_MODES = {
    "ROUND_DOWN": ROUND_DOWN,
    "ROUND_HALF_UP": ROUND_HALF_UP,
    "ROUND_HALF_EVEN": ROUND_HALF_EVEN,
    "ROUND_HALF_DOWN": ROUND_HALF_DOWN,
    "ROUND_UP": ROUND_UP,
    "ROUND_FLOOR": ROUND_FLOOR,
    "ROUND_CEILING": ROUND_CEILING,
    # friendly aliases used in packs
    "truncate": ROUND_DOWN,
    "down": ROUND_DOWN,
    "half_up": ROUND_HALF_UP,
    "round_half_up": ROUND_HALF_UP,
    "half_even": ROUND_HALF_EVEN,
    "up": ROUND_UP,
    "floor": ROUND_FLOOR,
    "ceil": ROUND_CEILING,
}

MODE_NAMES_ZH = {
    ROUND_DOWN: "截尾",
    ROUND_HALF_UP: "四舍五入",
    ROUND_HALF_EVEN: "银行家舍入",
    ROUND_HALF_DOWN: "五舍六入",
    ROUND_UP: "进位",
    ROUND_FLOOR: "向下取整",
    ROUND_CEILING: "向上取整",
}

TRUE_WORDS = {"是", "有", "√", "✓", "✔", "true", "yes", "y", "1", "达到", "达标", "符合", "完成", "已完成", "满足", "对"}
FALSE_WORDS = {"否", "无", "×", "✗", "✘", "false", "no", "n", "0", "未达到", "不达标", "不符合", "未完成", "不满足", "错"}


def rounding_mode(name: str) -> str:
    """Map a pack's rounding mode name to a decimal constant (raises KeyError)."""
    return ROUNDING_MODES[name] if name in ROUNDING_MODES else ROUNDING_MODES[str(name).upper()]


def normalise_text(text: str) -> str:
    """NFKC folds full-width digits, ％ and spaces; drop thousands separators."""
    text = unicodedata.normalize("NFKC", text).strip()
    return text.replace(",", "").replace(" ", "").replace("\u2212", "-")


def to_decimal(value, *, what: str, code: str | None = None, key: str | None = None,
               allow_percent: bool = False) -> Decimal:
    """Parse a number from YAML, JSON or a spreadsheet cell.

    ``what`` names the value in Chinese for the error message.
    Normalisations (documented in the README): full-width digits and signs,
    thousands separators, surrounding spaces; a trailing ``%`` only where the
    input is a percentage (``95%`` means 95 percentage points).
    """
    if isinstance(value, bool):
        raise InputError(f"{what}应为数字，收到的是是/否值“{'是' if value else '否'}”", code, key)
    if isinstance(value, Decimal):
        number = value
    elif isinstance(value, int):
        number = Decimal(value)
    elif isinstance(value, float):
        if math.isnan(value) or math.isinf(value):
            raise InputError(f"{what}不是有效数字", code, key)
        number = Decimal(repr(value))
    elif isinstance(value, str) and value.isascii() and _plain_number(value) is not None:
        number = _plain_number(value)   # the common case: "2000", "85.28"
    elif isinstance(value, str):
        text = normalise_text(value)
        if text == "":
            raise InputError(f"{what}为空，请填写数字", code, key)
        if text.endswith("%"):
            if not allow_percent:
                raise InputError(f"{what}应为数字，不应带百分号（收到“{value}”）", code, key)
            text = text[:-1]
        try:
            number = Decimal(text)
        except InvalidOperation:
            raise InputError(f"{what}应为数字，收到的是文字“{value}”", code, key) from None
    else:
        raise InputError(f"{what}应为数字，收到的是“{value}”", code, key)
    if not number.is_finite():
        raise InputError(f"{what}不是有效数字（收到“{value}”）", code, key)
    if abs(number) > MAX_ABS:
        raise InputError(f"{what}数值过大（{value}），请检查单位或是否多输入了数字", code, key)
    return number


def _plain_number(text: str) -> Decimal | None:
    try:
        return Decimal(text)
    except InvalidOperation:
        return None


def to_bool(value, *, what: str, code: str | None = None, key: str | None = None) -> bool:
    """Parse a yes/no answer: 是/否, 有/无, √/×, true/false, 1/0."""
    if isinstance(value, bool):
        return value
    if isinstance(value, (int, Decimal)) and value in (0, 1):
        return bool(value)
    if isinstance(value, float) and value in (0.0, 1.0):
        return bool(value)
    if isinstance(value, str):
        text = normalise_text(value).lower()
        if text in TRUE_WORDS:
            return True
        if text in FALSE_WORDS:
            return False
    raise InputError(f"{what}应填“是”或“否”，收到的是“{value}”", code, key)


EXPONENTS = [Decimal(1).scaleb(-places) for places in range(0, 13)]


def quantize(value: Decimal, places: int, mode: str) -> Decimal:
    """Round to ``places`` decimals with a decimal rounding constant.

    Scores are far below 10**20, so the default 28-digit context is enough and
    no local context is needed (this is on the hot path of every evaluation).
    """
    return value.quantize(EXPONENTS[places], mode)   # positional: a keyword argument costs twice as much here


DISPLAY_PLACES = 4


@lru_cache(maxsize=8192)   # weights, item points and common values repeat in every evaluation
def fmt(value: Decimal | int, places: int | None = None) -> str:
    """Plain display of a number: no exponent, no trailing zeros (101.20 -> 101.2).

    Without ``places`` at most four decimals are shown (half up): intermediate
    arithmetic in a 评分说明 reads 0.96 or 2.7564, never 28 digits.
    String work instead of Decimal.normalize(): this runs ~100 times per evaluation.
    """
    if value.__class__ is not Decimal:
        value = Decimal(value)
    if places is not None:
        return _plain(value.quantize(EXPONENTS[places], ROUND_HALF_UP))
    text = _plain(value)
    if "." in text and len(text) - text.index(".") - 1 > DISPLAY_PLACES:   # too many decimals to show
        return _plain(value.quantize(EXPONENTS[DISPLAY_PLACES], ROUND_HALF_UP))
    return text


def _plain(value: Decimal) -> str:
    text = str(value)              # plain unless the exponent is large: then format() spells it out
    if "E" in text:
        text = format(value, "f")
    whole, dot, fraction = text.partition(".")
    if dot:
        fraction = fraction.rstrip("0")
        text = f"{whole}.{fraction}" if fraction else whole
    return "0" if text == "-0" else text


def exact(value: Decimal | int) -> str:
    """A published number as a string, exactly (for JSON and files): no exponent, no trailing zeros."""
    text = format(Decimal(value).normalize(), "f")
    return "0" if text in ("-0", "") else text


def fmt_pct(value: Decimal, places: int = 2) -> str:
    """A percentage value (already in percent units) for explanations: 101.2%."""
    return fmt(value, places) + "%"


def clamp(value: Decimal, low: Decimal, high: Decimal) -> Decimal:
    return max(low, min(high, value))


# One fixed context instead of a localcontext() per call: division runs on every indicator.
_DIVISION = Context(prec=40)


def safe_div(numerator: Decimal, denominator: Decimal) -> Decimal:
    """Division at generous precision (results are rounded later by policy)."""
    return _DIVISION.divide(numerator, denominator)
