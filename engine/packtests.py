"""A pack's own golden cases (``golden:`` in the pack): inputs by code and expected scores."""

from __future__ import annotations

from .errors import AnjuError
from .golden import CaseResult, Check, case_tolerances, join_problems, parse_number
from .model import Pack
from .numbers import fmt
from .scoring import evaluate


def run_pack_golden(pack: Pack) -> list[CaseResult]:
    if not pack.golden:
        return [CaseResult(f"{pack.id}", pack.origin, error=f"规则包“{pack.id}”没有自带黄金案例（golden），每个规则包至少应有一个")]
    return [run_one(pack, case) for case in pack.golden]


def run_one(pack: Pack, case) -> CaseResult:
    if not isinstance(case, dict):
        return CaseResult(f"{pack.id}/?", pack.origin, error=f"规则包“{pack.id}”的黄金案例应为对照表（id、inputs、expected_…）")
    result = CaseResult(f"{pack.id}/{case.get('id', '?')}", pack.origin)
    try:
        return check_one(pack, case, result)
    except AnjuError as exc:      # bad inputs, a bad expected value or tolerance: this case fails, the others still run
        result.error = str(exc)
        return result


def check_one(pack: Pack, case: dict, result: CaseResult) -> CaseResult:
    expected_scores = case.get("expected_scores") or {}
    if not isinstance(expected_scores, dict):
        raise AnjuError("expected_scores 应为“指标编码: 期望得分”的对照表")
    problems: list = []
    tol_ind, tol_total = case_tolerances(case, problems, result.warnings)
    wanted = [(str(code), raw, parse_number(raw, f"指标{code}的期望得分", problems)) for code, raw in expected_scores.items()]
    total = None if case.get("expected_total") is None else parse_number(case["expected_total"], "期望总分", problems)
    if problems:
        raise AnjuError(join_problems(problems))
    evaluation = evaluate(pack, case.get("inputs") or {})
    for code, raw, expected in wanted:
        got = evaluation.indicator(code)
        if got is None:
            result.checks.append(Check(code, "（无此指标）", str(raw), False))
        else:
            result.checks.append(Check(code, fmt(got.score), str(raw), abs(got.score - expected) <= tol_ind))
    if total is not None:
        result.checks.append(Check("总分", fmt(evaluation.total), str(case["expected_total"]),
                                   abs(evaluation.total - total) <= tol_total))
    if case.get("expected_grade") is not None:
        result.checks.append(Check("等级", evaluation.grade, str(case["expected_grade"]), evaluation.grade == str(case["expected_grade"])))
    return result
