"""Shared audit test cases: for every finding kind, one evaluation that triggers it and one that does not.

Used by tests/test_audit.py (pure ``audit``) and tests/test_audit_workbook.py (the
same cases written into generated workbooks and audited with ``audit_file``).
A case is (pack changes, input changes, claim changes) applied to a clean base
evaluation whose claimed scores equal the computed ones.
"""

from __future__ import annotations

import copy

BASE_PACK = {
    "schema": "anju-pack/1",
    "id": "audit-test",
    "name": "复核测试规则包",
    "program": "old_community_renovation",
    "version": "1.0.0",
    "rounding": {"indicator": {"places": 2, "mode": "ROUND_HALF_UP"}, "total": {"places": 2}},
    "grades": {"优": 90, "良": 80, "中": 60, "差": 0},
    "indicators": [
        {"code": "X1", "path": ["产出", "数量", "改造户数"], "weight": "30", "target": "≥100户", "unit": "户",
         "rule": {"type": "ratio_capped"}},
        {"code": "X2", "path": ["效益", "满意度", "居民满意度"], "weight": "20", "target": "≥90%",
         "rule": {"type": "threshold_linear", "basis": "value", "full_at": "95", "deduct_pct_of_weight_per_pp": "2", "zero_below": "60"},
         "inputs": {"value": {"label": "居民满意度", "unit": "%"}}},
        {"code": "X3", "path": ["产出", "成本", "改造成本"], "weight": "10", "target": "≤200万元/万平方米",
         "rule": {"type": "ratio_reverse"}},
        {"code": "X4", "path": ["资金", "筹集", "社会筹资占比"], "weight": "10", "target": "≥20%",
         "rule": {"type": "shortfall_deduction", "basis": "value", "full_at": "20", "step_pp": "4", "points_per_step": "1",
                  "max_deduction": "5"},
         "inputs": {"value": {"label": "社会筹资占改造资金比例", "unit": "%"}}},
        {"code": "X5", "path": ["资金", "执行", "预算执行率"], "weight": "30", "target": "100%",
         "rule": {"type": "budget_execution"}},
    ],
}

BASE_INPUTS = {
    "X1": {"actual": "100", "target": "100"},
    "X2": {"value": "96"},
    "X3": {"actual": "180", "target": "200"},
    "X4": {"value": "20"},
    "X5": {"budget": "1000", "executed": "1000", "received": "1000"},
}

BASE_CLAIMS = {"scores": {"X1": "30", "X2": "20", "X3": "10", "X4": "10", "X5": "30"}, "total": "100", "grade": "优"}


def reverse_to_forward(pack):
    pack["indicators"][2]["rule"] = {"type": "ratio_capped"}


def categorical_above_weight(pack):
    pack["indicators"][2]["rule"] = {"type": "categorical", "points": {"on_time": "15", "late": "0"}, "cap_at_weight": True}


def checklist_short(pack):
    pack["indicators"][0]["rule"] = {"type": "checklist_sum", "items": [{"key": "a", "label": "要点一", "points": "10"},
                                                                         {"key": "b", "label": "要点二", "points": "10"}]}


def weights_off(pack):
    pack["indicators"][0]["weight"] = "25"


def elevator_program(pack):
    pack["program"] = "elevator_retrofit"   # the elevator plugin's check: execution measured against the budget


def mixed_pp(pack):
    pack["indicators"][0]["rule"] = {"type": "shortfall_deduction", "pp_rounding": "round_half_up"}


# kind -> (trigger, clean); each side is {"pack": fn, "inputs": {code: inputs}, "claims": {...}}
CASES = {
    "input_error": ({"inputs": {"X1": {"actual": "六个", "target": "100"}}}, {}),
    "score_above_weight": ({"claims": {"scores": {"X1": "35"}, "total": "105"}}, {}),
    "threshold_mismatch": ({"inputs": {"X2": {"value": "85.28"}}, "claims": {"scores": {"X2": "18.11"}}},
                           {"inputs": {"X2": {"value": "85.28"}}, "claims": {"scores": {"X2": "16.11"}, "total": "96.11"}}),
    "formula_direction": ({"inputs": {"X3": {"actual": "250", "target": "200"}}},
                          {"inputs": {"X3": {"actual": "250", "target": "200"}}, "claims": {"scores": {"X3": "8"}, "total": "98"}}),
    "implied_input": ({"claims": {"scores": {"X4": "9.1"}, "total": "99.1"}}, {}),
    "score_mismatch": ({"inputs": {"X1": {"actual": "90", "target": "100"}}, "claims": {"scores": {"X1": "20"}, "total": "90"}},
                       {"inputs": {"X1": {"actual": "90", "target": "100"}}, "claims": {"scores": {"X1": "27"}, "total": "97"}}),
    "rounding_mode": ({"inputs": {"X2": {"value": "85.27"}}, "claims": {"scores": {"X2": "16.10"}, "total": "96.10"}},
                      {"inputs": {"X2": {"value": "85.27"}}, "claims": {"scores": {"X2": "16.11"}, "total": "96.11"}}),
    "rule_parameter_mismatch": ({"inputs": {"X4": {"value": "16.4"}}},
                                {"inputs": {"X4": {"value": "16.4"}}, "claims": {"scores": {"X4": "9.1"}, "total": "99.1"}}),
    "score_missing": ({"claims": {"scores": {"X5": None}}}, {}),
    "level_arithmetic": ({"claims": {"levels": {"产出": "30"}}}, {"claims": {"levels": {"产出": "40"}}}),
    "total_arithmetic": ({"claims": {"total": "90"}}, {}),
    "total_mismatch": ({"inputs": {"X1": {"actual": "90", "target": "100"}}},
                       {"inputs": {"X1": {"actual": "90", "target": "100"}}, "claims": {"scores": {"X1": "27"}, "total": "97"}}),
    "grade_mismatch": ({"claims": {"grade": "良"}}, {}),
    "grade_wording": ({"claims": {"grade": "优秀"}}, {}),
    "parts_sum_mismatch": ({"claims": {"levels": {"产出": "40", "效益": "20", "资金": "30"}}},
                           {"claims": {"levels": {"产出": "40", "效益": "20", "资金": "40"}}}),
    "rate_above_100": ({"inputs": {"X2": {"value": "105"}}}, {"inputs": {"X2": {"value": "100"}}}),
    "funds_received_above_budget": ({"inputs": {"X5": {"budget": "1000", "executed": "1000", "received": "1648"}}}, {}),
    "executed_above_funds": ({"inputs": {"X5": {"budget": "1000", "executed": "1100", "received": "1000"}}}, {}),
    "self_vs_verified_gap": ({"claims": {"scores": {"X2": "16.11"}, "total": "96.11",
                                         "scores2": {"X1": "30", "X2": "20"}, "total2": "100", "grade2": "优"},
                              "inputs": {"X2": {"value": "85.28"}}},
                             {"claims": {"scores2": {"X1": "30", "X2": "20"}, "total2": "100", "grade2": "优"}}),
    "rule_maximum_above_weight": ({"pack": categorical_above_weight, "inputs": {"X3": {"category": "on_time"}}},
                                  {"inputs": {"X3": {"actual": "180", "target": "200"}}}),
    "forward_formula_on_at_most_target": ({"pack": reverse_to_forward}, {}),
    "checklist_below_weight": ({"pack": checklist_short, "inputs": {"X1": {"a": "是", "b": "是"}},
                                "claims": {"scores": {"X1": "20"}, "total": "90"}}, {}),
    "pack_weights": ({"pack": weights_off, "claims": {"scores": {"X1": "25"}, "total": "95"}}, {}),
    "pack_check": ({"pack": elevator_program}, {}),
    "mixed_pp_rounding": ({"pack": mixed_pp}, {}),
}


def merge_claims(base: dict, change: dict) -> dict:
    claims = copy.deepcopy(base)
    for key, value in change.items():
        if isinstance(value, dict) and isinstance(claims.get(key), dict):
            claims[key].update(value)
        else:
            claims[key] = value
    return claims


def build_case(side: dict) -> tuple[dict, dict, dict]:
    """(pack mapping, inputs, claims mapping) for one side of a case."""
    pack = copy.deepcopy(BASE_PACK)
    if side.get("pack"):
        side["pack"](pack)
    inputs = copy.deepcopy(BASE_INPUTS)
    inputs.update(copy.deepcopy(side.get("inputs") or {}))
    claims = merge_claims(BASE_CLAIMS, side.get("claims") or {})
    return pack, inputs, claims
