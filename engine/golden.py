"""Golden cases (schema ``anju-golden/1``, DOMAIN.md §6): rules inline, expected scores beside them.

Pure: takes parsed YAML documents, returns comparisons. The CLI prints them.
A case without indicator rules (a partial case that only publishes headline
numbers, like seed 001) is checked on what it does state: completion rates and
the share of the weight each known input earns under ``ratio_capped``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal

from .errors import AnjuError
from .numbers import HUNDRED, ONE, ZERO, fmt, quantize, safe_div, to_decimal
from .packs import build
from .scoring import evaluate, input_state

GOLDEN_SCHEMA = "anju-golden/1"
DEFAULT_TOLERANCE = Decimal("0.005")


@dataclass
class Check:
    what: str            # indicator code, '总分', '等级', a level name ...
    got: str
    expected: str
    ok: bool


@dataclass
class CaseResult:
    case_id: str
    source: str
    checks: list = field(default_factory=list)
    error: str | None = None
    note: str = ""

    @property
    def ok(self) -> bool:
        return self.error is None and all(c.ok for c in self.checks)


def run_document(document: dict, source: str, registry=None) -> list:
    if not isinstance(document, dict) or document.get("schema") != GOLDEN_SCHEMA:
        return [CaseResult("?", source, error=f"{source} 不是 {GOLDEN_SCHEMA} 格式的黄金案例文件")]
    results = []
    for case in document.get("cases") or []:
        case.setdefault("program", document.get("program"))
        results.append(run_case(case, source, registry))
    return results


def tolerance(case: dict, which: str) -> Decimal:
    return to_decimal((case.get("tolerance") or {}).get(which, DEFAULT_TOLERANCE), what="容差")


def close(got: Decimal, expected, tol: Decimal) -> bool:
    return abs(got - to_decimal(expected, what="期望值")) <= tol


def run_case(case: dict, source: str, registry=None) -> CaseResult:
    result = CaseResult(str(case.get("id", "?")), source)
    try:
        if not case.get("indicators"):
            return check_known_inputs(case, result)
        pack_data, inputs = case_to_pack(case)
        evaluation = evaluate(build(pack_data, source, registry), inputs)
    except AnjuError as exc:
        result.error = str(exc)
        return result
    tol_ind, tol_total = tolerance(case, "indicator"), tolerance(case, "total")
    for indicator in case["indicators"]:
        if indicator.get("expected_score") is None:
            continue
        got = evaluation.indicator(str(indicator["code"]))
        result.checks.append(Check(str(indicator["code"]), fmt(got.score), str(indicator["expected_score"]),
                                   close(got.score, indicator["expected_score"], tol_ind)))
    levels = {level.path[0]: level for level in evaluation.levels if len(level.path) == 1}
    for name, expected in (case.get("level_totals") or {}).items():
        got = levels.get(name)
        result.checks.append(Check(name, fmt(got.score) if got else "（无此一级指标）", str(expected),
                                   bool(got) and close(got.score, expected, tol_total)))
    if case.get("expected_total") is not None:
        result.checks.append(Check("总分", fmt(evaluation.total), str(case["expected_total"]),
                                   close(evaluation.total, case["expected_total"], tol_total)))
    if case.get("expected_grade") is not None:
        result.checks.append(Check("等级", evaluation.grade, str(case["expected_grade"]), evaluation.grade == str(case["expected_grade"])))
    return result


def case_to_pack(case: dict) -> tuple[dict, dict]:
    """An inline golden case -> (pack mapping, inputs by code). Composite parts carry their own inputs."""
    indicators, inputs = [], {}
    for raw in case["indicators"]:
        rule = dict(raw.get("rule") or {})
        code = str(raw.get("code"))
        if rule.get("type") == "composite":
            parts = []
            part_inputs = {}
            for part in rule.get("parts") or []:
                part = dict(part)
                if "inputs" in part:
                    part_inputs[str(part.get("key"))] = part.pop("inputs")
                parts.append(part)
            rule["parts"] = parts
            inputs[code] = raw["inputs"] if raw.get("inputs") is not None else part_inputs
        else:
            inputs[code] = raw.get("inputs")
        indicators.append({"code": code, "path": raw.get("path") or [code], "weight": raw.get("weight"),
                           "target": raw.get("target"), "rule": rule})
    pack = {"id": str(case.get("id")), "name": str(case.get("title") or case.get("id")),
            "program": case.get("program") or "", "framework": str(case.get("framework") or ""),
            "rounding": case.get("rounding") or {}, "grades": case.get("grade_bands") or {"优": 90, "良": 80, "中": 60, "差": 0},
            "indicators": indicators}
    for key in ("na_policy", "total_weight", "levels"):
        if key in case:
            pack[key] = case[key]
    return pack, inputs


def check_known_inputs(case: dict, result: CaseResult) -> CaseResult:
    """Partial cases: each known target/actual earns ratio_capped's share of the weight."""
    known = case.get("known_inputs") or []
    for item in known:
        name = str(item.get("indicator"))
        if item.get("status") and input_state(item["status"]) and item.get("expected_rate_of_weight") is not None:
            # an explicit N/A earns full credit under the default policy
            result.checks.append(Check(name, "1", str(item["expected_rate_of_weight"]), close(ONE, item["expected_rate_of_weight"], Decimal("0.0001"))))
            continue
        if item.get("target") is None or item.get("actual") is None:
            continue
        target = to_decimal(item["target"], what=f"{name}目标值")
        actual = to_decimal(item["actual"], what=f"{name}实际值")
        ratio = safe_div(actual, target)
        if item.get("completion_pct") is not None:
            expected_pct = to_decimal(item["completion_pct"], what="完成率")
            places = max(0, -expected_pct.as_tuple().exponent)
            got_pct = quantize(ratio * HUNDRED, places, "ROUND_HALF_UP")
            result.checks.append(Check(f"{name}完成率", fmt(got_pct), str(item["completion_pct"]), got_pct == expected_pct))
        if item.get("expected_rate_of_weight") is not None:
            share = min(ONE, max(ZERO, ratio))
            result.checks.append(Check(f"{name}得分占分值比例", fmt(share), str(item["expected_rate_of_weight"]),
                                       close(share, item["expected_rate_of_weight"], Decimal("0.0001"))))
    if not result.checks:
        result.note = "部分案例：报告未公布指标表，无可复算的指标（不计为失败）"
    return result
