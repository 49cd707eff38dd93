"""Each rule type on small hand-computed cases, plus the evaluation policies around them."""

from decimal import Decimal as D

import pytest

from engine.errors import EvaluationError, PackError
from engine.packs import build
from engine.scoring import evaluate


def pack_of(*indicators, **settings):
    data = {"id": "t", "rounding": {"indicator": {"places": 2, "mode": "ROUND_HALF_UP"}}, "indicators": list(indicators)}
    data.update(settings)
    return build(data)


def one(rule, inputs, weight="10", path=("产出", "数量", "指标"), **settings):
    pack = pack_of({"code": "X", "path": list(path), "weight": weight, "rule": rule}, **settings)
    return evaluate(pack, {"X": inputs}).indicator("X")


@pytest.mark.parametrize("rule,inputs,expected", [
    ({"type": "ratio_capped"}, {"actual": "90", "target": "100"}, "9.00"),
    ({"type": "ratio_capped"}, {"actual": "142.5", "target": "100"}, "10.00"),      # over-completion capped
    ({"type": "ratio_reverse"}, {"actual": "250", "target": "226.24"}, "9.05"),     # 10*226.24/250
    ({"type": "ratio_reverse"}, {"actual": "200", "target": "226.24"}, "10.00"),
    ({"type": "shortfall_deduction", "step_pp": "1", "points_per_step": "1"}, {"actual": "62395", "target": "63120"}, "8.85"),
    ({"type": "shortfall_deduction", "pp_rounding": "round_half_up"}, {"actual": "62395", "target": "63120"}, "9.00"),
    ({"type": "shortfall_deduction", "full_at": "20", "step_pp": "4", "step_rounding": "floor"}, {"value": "16.4"}, "10.00"),
    ({"type": "shortfall_deduction", "full_at": "100", "points_per_step": "0.1", "zero_below": "50"}, {"value": "49"}, "0.00"),
    ({"type": "threshold_linear", "full_at": "90", "deduct_pct_of_weight_per_pp": "2", "zero_below": "60"}, {"value": "85.28"}, "9.06"),
    ({"type": "threshold_linear", "full_at": "90", "deduct_pct_of_weight_per_pp": "2", "zero_below": "60"}, {"value": "59.9"}, "0.00"),
    ({"type": "budget_execution"}, {"budget": "120526", "executed": "11571"}, "0.96"),
    ({"type": "checklist_pct_deduction", "items": [{"key": "a", "deduct_pct": "40"}, {"key": "b", "deduct_pct": "30"}]},
     {"a": "否", "b": "是"}, "6.00"),
    ({"type": "base_plus_items", "base_key": "has", "base_pct": "50", "item_pct": "10", "items": ["a", "b"]},
     {"has": True, "a": True, "b": False}, "6.00"),
    ({"type": "binary", "key": "ok"}, {"ok": "否"}, "0.00"),
    ({"type": "per_item_deduction", "deduct_pct_of_weight": "25"}, {"count": 2}, "5.00"),
    ({"type": "per_item_deduction", "points_per_item": "0.5", "severe_zero": True}, {"count": 1, "severe": True}, "0.00"),
    ({"type": "per_day_late", "points_per_day": "1", "max_deduction": "3"}, {"days_late": 7}, "7.00"),
    ({"type": "categorical", "points": {"on_time": "10", "late_no_impact": "7"}}, {"category": "未按时但不影响进度或使用"}, "7.00"),
    ({"type": "categorical", "points": {"on_time": "5", "late": "2"}, "scale_to_weight": True}, {"category": "late"}, "4.00"),
    ({"type": "qualitative_band"}, {"band": "部分达成并具有一定效果", "pct": "70"}, "7.00"),
    ({"type": "tiered_bands", "basis": "value", "bands": [{"points": "0"}, {"min": "10", "points": "4"}, {"min": "20", "points": "7"}, {"min": "30", "points": "10"}]},
     {"value": "25"}, "7.00"),
    ({"type": "bonus_capped", "points_per_step": "1", "bonus_cap": "2"}, {"actual": "105", "target": "100"}, "12.00"),
    ({"type": "composite_rate", "components": ["area", "homes"]},
     {"area": {"actual": "90", "target": "100"}, "homes": {"actual": "110", "target": "100"}}, "10.00"),  # uncapped mean 100%
    ({"type": "composite_rate", "components": ["area", "homes"], "cap_components": True},
     {"area": {"actual": "90", "target": "100"}, "homes": {"actual": "110", "target": "100"}}, "9.50"),
    ({"type": "survey_weighted", "full_at": "90"}, {"answers": {"非常满意": 82, "满意": 39, "一般": 4}}, "9.48"),
    ({"type": "share_yes"}, {"answers": {"是": 123, "否": 2}}, "9.84"),
    ({"type": "formula", "expr": "w * min(1, a / b) - 0.5 * late", "inputs": [{"key": "a"}, {"key": "b"}, {"key": "late", "kind": "count"}]},
     {"a": "3", "b": "4", "late": 1}, "7.00"),
])
def test_rule_types(rule, inputs, expected):
    assert str(one(rule, inputs).score) == expected


def test_shared_cap_composite_limits_total_deduction():
    rule = {"type": "composite", "shared_cap": "5", "parts": [
        {"key": "sat", "rule": {"type": "shortfall_deduction", "full_at": "80", "basis": "value"}},
        {"key": "pet", "rule": {"type": "per_item_deduction", "points_per_item": "1"}}]}
    result = one(rule, {"sat": {"value": "77"}, "pet": {"count": 4}}, weight="5")
    assert result.score == D("0.00")            # 3 + 4 = 7 deducted, capped at 5
    assert "最多扣5分" in result.explanation


def test_veto_key_in_checklist_zeroes_indicator():
    rule = {"type": "checklist_sum", "veto_key": "violation", "items": [{"key": "a", "points": "3"}]}
    assert one(rule, {"a": True, "violation": True}, weight="3").score == 0


def test_veto_grade_scope_forces_grade():
    pack = pack_of({"code": "A", "path": ["产出", "完成"], "weight": "100", "rule": {"type": "ratio_capped"}},
                   {"code": "V", "path": ["否决"], "weight": "0",
                    "rule": {"type": "veto", "scope": "grade", "grade": "差", "label": "完成年度任务未达到90%"}})
    result = evaluate(pack, {"A": {"actual": "95", "target": "100"}, "V": {"triggered": "是"}})
    assert result.total == D("95.00") and result.grade == "差"


def test_global_deduction_reduces_total():
    pack = pack_of({"code": "A", "path": ["产出", "完成"], "weight": "100", "rule": {"type": "ratio_capped"}},
                   {"code": "G", "path": ["扣分项"], "weight": "0",
                    "rule": {"type": "global_deduction", "items": [{"key": "accident", "label": "安全事故", "points": "2"}]}})
    result = evaluate(pack, {"A": {"actual": "1", "target": "1"}, "G": {"accident": 2}})
    assert result.total == D("96.00")


def test_not_applicable_full_credit_and_redistribution():
    indicators = [{"code": "A", "path": ["产出", "数量", "甲"], "weight": "10", "rule": {"type": "ratio_capped"}},
                  {"code": "B", "path": ["产出", "数量", "乙"], "weight": "30", "rule": {"type": "ratio_capped"}},
                  {"code": "C", "path": ["效益", "社会", "丙"], "weight": "60", "rule": {"type": "binary"}}]
    inputs = {"A": "无任务", "B": {"actual": "50", "target": "100"}, "C": {"met": True}}
    full = evaluate(pack_of(*indicators), inputs)
    assert full.indicator("A").score == D("10.00") and full.total == D("85.00")
    moved = evaluate(pack_of(*indicators, na_policy="redistribute"), inputs)
    assert moved.indicator("A").score == 0
    assert moved.indicator("B").score == D("20.00")          # 30 -> 40 effective weight, 50%
    assert moved.total == D("80.00")


def test_explicit_states_are_not_silent_zero():
    result = one({"type": "ratio_capped"}, {"actual": "未验收"})
    assert result.score == 0 and result.status == "not_accepted" and "未验收" in result.explanation
    assert result.warnings


def test_truncation_and_total_rounding_guard():
    # eight 12.5-point indicators each scoring 9.375/12.5 ... total must never exceed the weight sum
    indicators = [{"code": f"I{i}", "path": ["产出", f"指标{i}"], "weight": "12.5", "rule": {"type": "ratio_capped"}} for i in range(8)]
    pack = pack_of(*indicators, rounding={"indicator": {"places": 2, "mode": "ROUND_DOWN"}, "total": {"places": 1}})
    result = evaluate(pack, {f"I{i}": {"actual": "3", "target": "4"} for i in range(8)})
    assert result.indicator("I0").score == D("9.37") and result.total == D("75.0")


def test_all_input_problems_reported_together():
    pack = pack_of({"code": "A", "path": ["产出", "甲"], "weight": "50", "rule": {"type": "ratio_capped"}},
                   {"code": "B", "path": ["产出", "乙"], "weight": "50", "rule": {"type": "per_item_deduction", "points_per_item": "1"}})
    with pytest.raises(EvaluationError) as caught:
        evaluate(pack, {"A": {"actual": "六个", "target": "6"}, "B": {"count": -1}, "Z": {}})
    text = str(caught.value)
    assert "六个" in text and "不小于0的整数" in text and "未知指标编码“Z”" in text


@pytest.mark.parametrize("value,expected", [("95%", "9.50"), ("９５", "9.50"), (" 95 ", "9.50")])
def test_percent_and_full_width_normalisation(value, expected):
    rule = {"type": "ratio_capped"}
    pack = pack_of({"code": "X", "path": ["满意度"], "weight": "10", "unit": "%", "rule": rule})
    assert str(evaluate(pack, {"X": {"actual": value, "target": "100"}}).indicator("X").score) == expected


@pytest.mark.parametrize("expr", ["__import__('os')", "w.real", "[x for x in (1, 2)]", "(lambda: 1)()", "a[0]", "open('f')", "9 ** 9999"])
def test_formula_sandbox_refuses_unsafe_expressions(expr):
    rule = {"type": "formula", "expr": expr, "inputs": [{"key": "a"}]}
    with pytest.raises((PackError, EvaluationError)):
        one(rule, {"a": "1"})


def test_formula_literals_are_exact_decimals():
    rule = {"type": "formula", "expr": "a * 0.1 + 0.2", "inputs": [{"key": "a"}], "clamp": False}
    assert one(rule, {"a": "1"}).raw_score == D("0.3")


def test_unknown_parameter_and_rule_type_are_pack_errors():
    with pytest.raises(PackError, match="未知参数"):
        pack_of({"code": "X", "path": ["a"], "weight": "100", "rule": {"type": "ratio_capped", "capp": "1"}})
    with pytest.raises(PackError, match="规则类型“ratio_caped”未知"):
        pack_of({"code": "X", "path": ["a"], "weight": "100", "rule": {"type": "ratio_caped"}})


# --------------------------------------------------------------------------- DOMAIN §4 readings checked against a review

def test_severe_case_zeroes_the_indicator_even_with_a_smaller_cap():
    rule = {"type": "per_item_deduction", "points_per_item": "0.5", "max_deduction": "2", "severe_zero": True}
    severe = one(rule, {"count": 1, "severe": "是"}, weight="4")
    assert severe.score == 0                                  # DOMAIN RT06: severe -> 0 (一次性扣除)
    assert "一次性扣除4分" in severe.explanation
    assert one(rule, {"count": 1, "severe": "否"}, weight="4").score == D("3.50")


def test_a_total_veto_inside_a_composite_zeroes_the_total():
    composite = {"type": "composite", "parts": [
        {"key": "use", "weight": "5", "rule": {"type": "binary", "key": "ok"}},
        {"key": "ban", "weight": "5", "rule": {"type": "veto", "scope": "total", "label": "出现挤占挪用"}}]}
    pack = pack_of({"code": "A", "path": ["产出", "完成"], "weight": "90", "rule": {"type": "ratio_capped"}},
                   {"code": "B", "path": ["过程", "资金"], "weight": "10", "rule": composite})
    clean = evaluate(pack, {"A": {"actual": "1", "target": "1"}, "B": {"use": {"ok": True}, "ban": {"triggered": False}}})
    vetoed = evaluate(pack, {"A": {"actual": "1", "target": "1"}, "B": {"use": {"ok": True}, "ban": {"triggered": True}}})
    assert clean.total == D("100.00")
    assert vetoed.total == 0 and vetoed.indicator("B").status == "vetoed"


def test_a_grade_veto_without_a_named_grade_gives_the_lowest_grade():
    pack = pack_of({"code": "A", "path": ["产出", "完成"], "weight": "100", "rule": {"type": "ratio_capped"}},
                   {"code": "V", "path": ["否决"], "weight": "0", "rule": {"type": "veto", "scope": "grade"}},
                   grades={"优秀": 90, "良好": 80, "合格": 60, "不合格": 0})
    result = evaluate(pack, {"A": {"actual": "1", "target": "1"}, "V": {"triggered": "是"}})
    assert result.grade == "不合格" and "最低等级" in result.indicator("V").explanation


def test_rounding_never_lifts_a_total_above_the_weights():
    # eight 9.375-point indicators each rounded up to 9.38 sum to 75.04 (DOMAIN §4)
    eight = [{"code": f"O{i}", "path": ["产出", "数量", f"指标{i}"], "weight": "9.375", "rule": {"type": "ratio_capped"}}
             for i in range(8)]
    pack = pack_of(*eight)
    result = evaluate(pack, {f"O{i}": {"actual": "1", "target": "1"} for i in range(8)})
    assert result.indicator("O0").score == D("9.38")
    assert result.total == D("75") and any("各指标最高可得分合计75" in w for w in result.warnings)


@pytest.mark.parametrize("rule,inputs,expected", [
    # RT16 written as DOMAIN's breakpoints + points: <10 -> 0, [10,20) -> 4, [20,30) -> 7, >=30 -> 10
    ({"type": "tiered_bands", "breakpoints": ["10", "20", "30"], "points": ["0", "4", "7", "10"], "basis": "value"},
     {"value": "20"}, "7.00"),
    ({"type": "tiered_bands", "breakpoints": ["10", "20", "30"], "points": ["0", "4", "7", "10"], "basis": "value"},
     {"value": "9.99"}, "0.00"),
    # RT01 overachieve_policy: 30% over target loses 30%
    ({"type": "ratio_capped", "overachieve_policy": "reduce_by_deviation"}, {"actual": "130", "target": "100"}, "7.00"),
    ({"type": "ratio_capped", "overachieve_policy": "reduce_by_deviation"}, {"actual": "90", "target": "100"}, "9.00"),
    ({"type": "ratio_capped", "overachieve_policy": "none"}, {"actual": "130", "target": "100"}, "10.00"),
    # RT05 label aliases: 很满意 counted as 非常满意
    ({"type": "survey_weighted", "aliases": {"很满意": "非常满意"}}, {"answers": {"很满意": 8, "一般": 2}}, "8.60"),
    ({"type": "share_yes", "yes_label": "满意", "aliases": {"比较满意": "满意"}}, {"answers": {"满意": 6, "比较满意": 3, "不满意": 1}},
     "9.00"),
    # RT15 with DOMAIN's Chinese band names, default and local variant bands
    ({"type": "qualitative_band"}, {"band": "部分达成", "pct": "70"}, "7.00"),
    ({"type": "qualitative_band", "bands": {"达成": ["80", "100"], "部分达成": ["50", "80"], "未达成": ["0", "50"]}},
     {"band": "部分达成", "pct": "55"}, "5.50"),
    ({"type": "qualitative_band", "band": "达成"}, {}, "10.00"),
])
def test_domain_parameter_spellings(rule, inputs, expected):
    assert one(rule, inputs).score == D(expected)


@pytest.mark.parametrize("rule,message", [
    ({"type": "tiered_bands", "breakpoints": ["10", "20"], "points": ["0", "4"], "basis": "value"}, "points 应比 breakpoints 多一个"),
    ({"type": "tiered_bands", "basis": "value"}, "breakpoints"),
    ({"type": "tiered_bands", "breakpoints": ["10"], "points": ["0", "4"], "bands": [{"min": "0", "points": "1"}], "basis": "value"},
     "只用一种写法"),
    ({"type": "ratio_capped", "overachieve_policy": "bonus"}, "overachieve_policy"),
])
def test_wrong_parameter_spellings_are_pack_errors(rule, message):
    with pytest.raises(PackError, match=message):
        pack_of({"code": "X", "path": ["产出", "指标"], "weight": "100", "rule": rule})


def test_informational_parameters_reach_the_explanation():
    late = one({"type": "per_day_late", "points_per_day": "1", "deadline": "2022-06-30"}, {"days_late": 3})
    assert "规定期限2022-06-30" in late.explanation and late.score == D("7.00")
    spent = one({"type": "budget_execution", "cutoff_date": "2022-12-31", "funds": "central"}, {"budget": "100", "executed": "96"})
    assert "截至2022-12-31，中央资金全年预算数100万元" in spent.explanation


@pytest.mark.parametrize("rounding,message", [
    ({"indicator": {"places": 2, "mod": "ROUND_DOWN"}}, "rounding.indicator 中有未知项“mod”（是否应为 mode？）"),
    ({"indicatr": {"places": 2}}, "rounding 中有未知项“indicatr”"),
    ("2位", "rounding 应为对照表"),
    ({"total": {"method": "sum_of_indicator_scores", "order": "sum_then_round"}}, "互相矛盾"),
])
def test_rounding_typos_are_errors_not_silently_ignored(rounding, message):
    with pytest.raises(PackError, match=message):
        pack_of({"code": "X", "path": ["产出", "指标"], "weight": "100", "rule": {"type": "binary"}}, rounding=rounding)


def test_rounding_order_is_the_total_method():
    ordered = pack_of({"code": "X", "path": ["产出", "指标"], "weight": "100", "rule": {"type": "binary"}},
                      rounding={"indicator": {"places": "2"}, "total": {"order": "sum_then_round"}})
    assert ordered.rounding.total_method == "round_raw_sum" and ordered.rounding.indicator.places == 2


def test_na_scope_level_shares_within_the_first_level_indicator():
    indicators = [{"code": "A", "path": ["产出", "数量", "甲"], "weight": "10", "rule": {"type": "ratio_capped"}},
                  {"code": "B", "path": ["产出", "数量", "乙"], "weight": "30", "rule": {"type": "ratio_capped"}},
                  {"code": "Q", "path": ["产出", "质量", "丁"], "weight": "10", "rule": {"type": "ratio_capped"}},
                  {"code": "C", "path": ["效益", "社会", "丙"], "weight": "50", "rule": {"type": "binary"}}]
    inputs = {"A": "无任务", "B": {"actual": "50", "target": "100"}, "Q": {"actual": "1", "target": "1"}, "C": {"met": True}}
    parent = evaluate(pack_of(*indicators, na_policy="redistribute"), inputs)
    assert parent.indicator("B").score == D("20.00") and parent.indicator("Q").score == D("10.00")   # 数量 only: 30 -> 40
    level = evaluate(pack_of(*indicators, na_policy="redistribute", na_scope="level"), inputs)
    assert level.indicator("B").score == D("18.75") and level.indicator("Q").score == D("12.50")     # 产出 50 over 40
    assert level.total == D("81.25")
    levels = {lv.path: lv for lv in level.levels}
    assert levels[("产出",)].weight == D("50") and levels[("产出", "质量")].weight == D("12.50")
    assert levels[("产出", "数量")].weight == D("37.50")
    with pytest.raises(PackError, match="na_scope"):
        pack_of(*indicators, na_policy="redistribute", na_scope="一级")


def test_pack_overachievement_sets_the_default_of_ratio_rules():
    rule = {"code": "X", "path": ["产出", "指标"], "weight": "10", "rule": {"type": "ratio_capped"}}
    marked_down = pack_of(rule, overachievement="reduce_by_deviation")
    assert evaluate(marked_down, {"X": {"actual": "120", "target": "100"}}).indicator("X").score == D("8.00")
    assert evaluate(pack_of(rule), {"X": {"actual": "120", "target": "100"}}).indicator("X").score == D("10.00")


def test_an_option_spelt_like_a_state_word_is_the_state():
    rule = {"type": "categorical", "points": {"on_time": "10", "late": "5", "na": "0"}, "labels": {"na": "不适用"}}
    for spelling in ("不适用", " 不适用", "na"):
        result = one(rule, {"category": spelling}, weight="10")
        assert result.status == "not_applicable" and result.score == D("10.00"), spelling


def test_composite_part_vetoes():
    def pack(part_key, scope):
        composite = {"type": "composite", "parts": [
            {"key": "use", "weight": "5", "rule": {"type": "binary", "key": "ok"}},
            {"key": part_key, "weight": "5", "rule": {"type": "veto", "scope": scope}}]}
        return pack_of({"code": "A", "path": ["产出", "完成"], "weight": "90", "rule": {"type": "ratio_capped"}},
                       {"code": "B", "path": ["过程", "资金"], "weight": "10", "rule": composite})
    inputs = lambda key: {"A": {"actual": "1", "target": "1"}, "B": {"use": {"ok": True}, key: {"triggered": True}}}  # noqa: E731
    only_part = evaluate(pack("ban", "indicator"), inputs("ban"))
    assert only_part.indicator("B").score == D("5.00") and only_part.indicator("B").status == "scored"
    with pytest.raises(PackError, match="保留给一票否决"):
        pack("veto", "total")


def test_a_cap_above_one_lifts_the_total_cap():
    pack = pack_of({"code": "A", "path": ["产出", "甲"], "weight": "50", "rule": {"type": "ratio_capped", "cap": "1.2"}},
                   {"code": "B", "path": ["产出", "乙"], "weight": "40", "rule": {"type": "ratio_capped", "cap": "1.2"}})
    result = evaluate(pack, {"A": {"actual": "2", "target": "1"}, "B": {"actual": "2", "target": "1"}})
    assert result.total == D("100") and any("超过满分100" in w for w in result.warnings)


def test_pack_overachievement_reaches_composite_parts():
    composite = {"type": "composite", "parts": [
        {"key": "homes", "weight": "5", "rule": {"type": "ratio_capped"}},
        {"key": "area", "weight": "5", "rule": {"type": "ratio_capped", "overachieve_policy": "none"}}]}
    pack = pack_of({"code": "X", "path": ["产出", "数量"], "weight": "10", "rule": composite}, overachievement="reduce_by_deviation")
    result = evaluate(pack, {"X": {"homes": {"actual": "120", "target": "100"}, "area": {"actual": "120", "target": "100"}}})
    assert result.indicator("X").score == D("9.00")      # homes 5 x 0.8 = 4, area capped at 5
