"""anju audit, pure core: every finding kind has a case that triggers it and one that does not,
plus the seed 002 / 004 reports as published."""

from __future__ import annotations

import copy
from decimal import Decimal as D

import pytest

from engine.audit import DETECTORS, KINDS, WORKBOOK_KINDS, Claims, audit, audit_report, claims_from_mapping, format_report
from engine.packs import build
from engine.plugins import catalog
from engine.scoring import evaluate

from audit_cases import BASE_CLAIMS, BASE_INPUTS, BASE_PACK, CASES, build_case


def run(side: dict):
    pack_data, inputs, claims = build_case(side)
    cat = catalog()
    pack = build(pack_data, "test", cat.rule_types)
    return audit(pack, inputs, claims_from_mapping(claims), extra_checks=cat.checks, registry=cat.rule_types)


def test_every_kind_has_a_detector_and_a_case():
    assert set(DETECTORS) == set(KINDS)
    assert set(CASES) == set(KINDS) - WORKBOOK_KINDS   # workbook-only kinds: tests/test_audit_live.py


def test_clean_base_has_no_findings():
    assert run({}) == []


@pytest.mark.parametrize("kind", sorted(CASES))
def test_kind_triggered(kind):
    trigger, _ = CASES[kind]
    findings = run(trigger)
    found = [f for f in findings if f.kind == kind]
    assert found, f"{kind} not reported; got {[f.kind for f in findings]}"
    for f in found:
        assert f.severity in ("error", "warning", "info")
        assert f.message and any("\u4e00" <= ch <= "\u9fff" for ch in f.message)


@pytest.mark.parametrize("kind", sorted(CASES))
def test_kind_not_triggered(kind):
    _, clean = CASES[kind]
    findings = run(clean)
    assert not [f for f in findings if f.kind == kind], [f.message for f in findings]


# --------------------------------------------------------------------------- explainers

def only(findings, kind):
    found = [f for f in findings if f.kind == kind]
    assert len(found) == 1, [(f.kind, f.message) for f in findings]
    return found[0]


def test_threshold_explainer_names_the_target_value():
    f = only(run(CASES["threshold_mismatch"][0]), "threshold_mismatch")
    assert f.codes == ("X2",) and f.claimed == "18.11" and f.computed == "16.11"
    assert "满分线按90%" in f.message and "≥90%" in f.message


def test_rounding_explainer_reports_truncation():
    f = only(run(CASES["rounding_mode"][0]), "rounding_mode")
    assert "截尾" in f.message and "16.11" in f.message


def test_forward_formula_explainer():
    f = only(run(CASES["formula_direction"][0]), "formula_direction")
    assert "正向" in f.message and f.claimed == "10" and f.computed == "8"


def test_implied_input_names_the_value():
    f = only(run(CASES["implied_input"][0]), "implied_input")
    assert "16.4%" in f.message and "20%" in f.message


def test_parameter_explainer_whole_steps():
    f = only(run(CASES["rule_parameter_mismatch"][0]), "rule_parameter_mismatch")
    assert "整步" in f.message


def test_score_above_weight_explained_by_uncapped_points():
    side = {"pack": CASES["rule_maximum_above_weight"][0]["pack"], "inputs": {"X3": {"category": "on_time"}},
            "claims": {"scores": {"X3": "15"}, "total": "105"}}
    f = only(run(side), "score_above_weight")
    assert "未按分值" in f.message and "封顶" in f.message


def test_total_arithmetic_with_blank_score_names_the_blank():
    f = only(run({"claims": {"scores": {"X5": None}}}), "total_arithmetic")
    assert "X5得分为空" in f.message and "与所报一致" in f.message


def test_breakdowns_from_the_pure_api():
    pack_data, inputs, claims = build_case({})
    claims["breakdowns"] = [{"label": "分地区中央补助", "total": "118159", "parts": {"乌鲁木齐": "9644", "其他": "108548"}}]
    f = only(audit(build(pack_data), inputs, claims_from_mapping(claims)), "parts_sum_mismatch")
    assert "118192" in f.message and "118159" in f.message


def test_claims_produced_by_recalculation_report_nothing():
    """Scores copied from the engine's own result give no finding (any evaluation, here three variants)."""
    pack = build(copy.deepcopy(BASE_PACK))
    for change in ({}, {"X1": {"actual": "87", "target": "100"}}, {"X2": {"value": "77.77"}, "X4": {"value": "13.3"}}):
        inputs = {**copy.deepcopy(BASE_INPUTS), **change}
        result = evaluate(pack, inputs)
        claims = Claims(scores={r.code: r.score for r in result.indicators}, total=result.total, grade=result.grade,
                        levels={level.path[0]: level.score for level in result.levels if len(level.path) == 1})
        assert audit(pack, inputs, claims) == []


def test_findings_sorted_by_severity():
    findings = run({"claims": {"grade": "优秀", "total": "90"}, "inputs": {"X2": {"value": "105"}}})
    order = [f.severity for f in findings]
    assert order == sorted(order, key=("error", "warning", "info").index)


# --------------------------------------------------------------------------- the seed reports as published

def seed002_claims():
    pack = catalog().pack("hejing-2022-third-party")
    published = {code: D(v) for code, v in pack.golden[0]["expected_scores"].items()}
    self_eval = {c: D(v) for c, v in {"B202": "5", "C101": "7", "C102": "7", "C201": "3", "C202": "7", "C301": "7", "C302": "3",
                                       "C401": "6", "D101": "5", "D102": "5", "D201": "5", "D301": "5"}.items()}
    return pack.golden[0]["inputs"], Claims(scores=published, total=D("89.29"), grade="良", scores2=self_eval,
                                             total2=D("100"), grade2="优", label="第三方评价", label2="自评")


def test_seed002_as_written():
    cat = catalog()
    pack = cat.pack("hejing-2022-third-party-as-written")
    inputs, claims = seed002_claims()
    report = audit_report(pack, inputs, claims, "seed002", extra_checks=cat.checks, registry=cat.rule_types)
    kinds = {(f.kind, f.codes) for f in report.findings}
    assert ("threshold_mismatch", ("D301",)) in kinds
    assert ("rounding_mode", ("D301",)) in kinds
    assert ("rule_maximum_above_weight", ("C302",)) in kinds
    assert ("forward_formula_on_at_most_target", ("C401",)) in kinds
    assert ("total_mismatch", ()) in kinds
    d301 = next(f for f in report.findings if f.kind == "threshold_mismatch")
    assert d301.claimed == "4.52" and "4.03" in d301.message and "4.02" in d301.message and "90%" in d301.message
    gaps = {f.codes for f in report.findings if f.kind == "self_vs_verified_gap"}
    assert {("C201",), ("C301",), ("C302",), ("D301",), ()} <= gaps
    assert "D301" in format_report(report)


def test_seed002_as_applied_reports_only_the_pack_and_self_evaluation():
    cat = catalog()
    pack = cat.pack("hejing-2022-third-party")
    inputs, claims = seed002_claims()
    kinds = {f.kind for f in audit(pack, inputs, claims, extra_checks=cat.checks, registry=cat.rule_types)}
    assert kinds == {"rule_maximum_above_weight", "self_vs_verified_gap"}


def test_seed004_as_published():
    cat = catalog()
    pack = cat.pack("henan-2020-old-community")
    inputs = copy.deepcopy(pack.golden[0]["inputs"])
    inputs["F1"]["social_share"] = {"value": "20"}      # the report: “基本达到20%”
    scores = {code: D(v) for code, v in pack.golden[0]["expected_scores"].items()}
    scores["S1"] = None                                  # blank in the published table
    findings = audit(pack, inputs, Claims(scores=scores, total=D("98.1"), grade="优秀"), extra_checks=cat.checks)
    kinds = {(f.kind, f.codes) for f in findings}
    assert ("implied_input", ("F1",)) in kinds
    assert ("score_missing", ("S1",)) in kinds
    assert any(k == "total_arithmetic" for k, _ in kinds)
    assert any(k == "grade_wording" for k, _ in kinds)
    assert any(k == "mixed_pp_rounding" for k, _ in kinds)


def test_claims_mapping_refuses_unknown_fields():
    from engine.errors import AnjuError
    with pytest.raises(AnjuError):
        claims_from_mapping({"score": {}})
    claims = claims_from_mapping(BASE_CLAIMS)
    assert claims.scores["X1"] == D("30") and claims.total == D("100")
