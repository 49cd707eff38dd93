"""Generated 评分标准 (engine.standards): one renderer per rule type, in the seeds' phrasing."""

import ast
import dataclasses
from decimal import Decimal
from pathlib import Path

import pytest

from engine import standards
from engine.packs import build
from engine.plugins import Catalog
from engine.ruletypes import REGISTRY, Outcome, Param, RuleType
from engine.standards import describe, describe_rule

# Seed 004 (驻马店 2020, 河南 老旧小区 program table), 评分标准 column, indicator by indicator — and the sentence
# the engine generates for the shipped pack ``henan-2020-old-community`` (same meaning, seed phrasing; the engine
# also states what it computes that the seed leaves implicit: F1 deducts continuously, O1–O5 and S1 round the
# shortfall to whole percentage points).
HENAN_SEED_AND_GENERATED = {
    "F1": ("地方财政安排补助资金用于城镇老旧小区改造的(5分)；没有安排的(0分)。企业、居民等社会筹资占改造项目资金比例20%及以上的(5分)，"
           "未达到目标的，每低四个百分点扣1分，最多扣5分。",
           "地方财政按规定安排补助资金的（5分）；否则不得分。企业、居民等社会筹资占改造项目资金比例20%及以上的（5分）；"
           "低于20%的，每低四个百分点扣1分（不足四个百分点的按比例扣分），最多扣5分。"),
    "F2": ("资金管理办法健全规范(2分)；资金按规定时间分配下达到县（市、区）财政部门或项目单位(2分)，资金分配结合本地特点，"
           "有针对性地改善老旧小区居民居住条件(1分)。否则扣减相应分数。",
           "资金管理办法健全规范（2分）；按规定时间分配下达到县（市、区）财政部门或项目单位（2分）；"
           "结合本地特点有针对性地改善居住条件（1分）。否则扣减相应分数。"),
    "F3": ("建立了预算执行、绩效监控机制(2分)；编制了绩效目标、及时开展绩效评价工作(3分)。否则扣减相应分数。 没有违规违纪情况的(5分)；"
           "…经查实存在违规违纪行为的，每发现1项扣0.5分，最多扣5分。对性质恶劣、有重大不良影响的违规违纪项目一次性扣除5分。",
           "建立了预算执行、绩效监控机制（2分）；编制了绩效目标、及时开展绩效评价工作（3分）。否则扣减相应分数。"
           "无违规违纪的（5分）；每发现1项违规违纪扣0.5分，最多扣5分；存在性质恶劣的违规违纪情形的，一次性扣除5分。"),
    "P1": ("相关管理政策、年度计划等信息及时对外公开的(5分)；每少公开1项扣0.5分，最多扣5分。",
           "无未公开政策的（5分）；每发现1项未公开政策扣0.5分，最多扣5分。"),
    "P2": ("按时报送绩效自评表、绩效评价报告且内容完整的(5分)；报送逾期每1天扣1分，最多扣5分。",
           "按时报送评价报告的（5分）；评价报告报送逾期每1天扣1分，最多扣5分。"),
    "O1": ("项目实际开工量大于或等于年计划的(15分)；未达到计划的，每低一个百分点扣1分，最多扣15分。",
           "实际开工户数大于或等于计划改造户数的（15分）；未达到计划改造户数的，每低一个百分点扣1分（百分点差额四舍五入取整），最多扣15分。"),
    "O2": ("项目实际开工量大于或等于年度计划的(15分)；未达到计划的，每低一个百分点扣1分，最多扣15分。",
           "实际开工改造面积大于或等于计划改造面积的（15分）；未达到计划改造面积的，每低一个百分点扣1分（百分点差额四舍五入取整），最多扣15分。"),
    "O3": ("项目实际开工量大于或等于年度计划的(5分)；未达到计划的，每低一个百分点扣1分，最多扣5分。",
           "实际开工楼栋数大于或等于计划改造楼栋数的（5分）；未达到计划改造楼栋数的，每低一个百分点扣1分（百分点差额四舍五入取整），最多扣5分。"),
    "O4": ("项目实际开工量大于或等于年度计划的(5分)；未达到计划的，每低一个百分点扣1分，最多扣5分。",
           "实际开工小区数大于或等于计划改造小区数的（5分）；未达到计划改造小区数的，每低一个百分点扣1分（百分点差额四舍五入取整），最多扣5分。"),
    "O5": ("项目实际开工量大于或等于年度计划的(10分)；未达到计划的，每低一个百分点扣1分，最多扣10分。",
           "实际配建养老服务设施面积大于或等于计划配建养老服务设施面积的（10分）；未达到计划配建养老服务设施面积的，"
           "每低一个百分点扣1分（百分点差额四舍五入取整），最多扣10分。"),
    "O6": ("工程质量符合标准的(10分)；…经查实存在质量问题的，每发现1项扣1分，最多扣10分。",
           "无质量问题的（10分）；每发现1项质量问题扣1分，最多扣10分。"),
    "S1": ("满意度指标达到80%以上的(5分)；低于80%的，每低一个百分点扣1分，对于群众信访没有及时处置的，每一次扣1分，最多扣5分。",
           "居民满意度80%及以上的（5分）；低于80%的，每低一个百分点扣1分（百分点差额四舍五入取整）；每发现1次未及时处置信访扣1分；"
           "以上合计最多扣5分。"),
}


@pytest.fixture(scope="module")
def henan():
    return Catalog().pack("henan-2020-old-community")


@pytest.mark.parametrize("code", list(HENAN_SEED_AND_GENERATED))
def test_henan_standard_matches_seed_004(henan, code):
    seed, expected = HENAN_SEED_AND_GENERATED[code]
    assert describe(henan.indicator(code)) == expected, f"seed: {seed}"


def test_henan_every_indicator_has_a_stated_sentence(henan):
    assert [i.code for i in henan.indicators] == list(HENAN_SEED_AND_GENERATED)


def test_henan_sentences_carry_the_seed_numbers(henan):
    """Label-independent: the numbers a reader checks against the seed are all there."""
    text = {i.code: describe(i) for i in henan.indicators}
    assert "20%及以上的（5分）" in text["F1"] and "每低四个百分点扣1分" in text["F1"] and "最多扣5分" in text["F1"]
    assert "（2分）" in text["F2"] and "（1分）" in text["F2"] and "否则扣减相应分数" in text["F2"]
    assert "扣0.5分" in text["F3"] and "一次性扣除5分" in text["F3"]
    for code, weight in (("O1", 15), ("O2", 15), ("O3", 5), ("O4", 5), ("O5", 10)):
        assert f"大于或等于" in text[code] and f"（{weight}分）" in text[code]
        assert "每低一个百分点扣1分" in text[code] and f"最多扣{weight}分" in text[code]
    assert "每1天扣1分" in text["P2"]
    assert "80%及以上的（5分）" in text["S1"] and "合计最多扣5分" in text["S1"]


def test_every_shipped_pack_has_a_sentence_per_indicator():
    cat = Catalog()
    for pack_id in cat.packs:
        for indicator in cat.pack(pack_id).indicators:
            sentence = describe(indicator, cat.rule_types)
            assert sentence.endswith("。") and len(sentence) > 8, (pack_id, indicator.code, sentence)
            assert "None" not in sentence and "{" not in sentence, (pack_id, indicator.code, sentence)


@pytest.mark.parametrize("name,params,weight,expected", [
    ("ratio_capped", {}, "7", "实际完成值大于或等于目标值的（7分）；未达到的，按完成比例得分，得分=7×实际完成值÷目标值。"),
    ("ratio_reverse", {}, "6", "实际完成值小于或等于目标值的（6分）；超过的，得分=6×目标值÷实际完成值。"),
    ("shortfall_deduction", {"full_at": "100", "points_per_step": "0.1", "zero_below": "50"}, "5",
     "实际完成值大于或等于目标值的（5分）；未达到目标值的，每低一个百分点扣0.1分，最多扣5分；低于50%的不得分。"),
    ("shortfall_deduction", {"full_at": "20", "step_pp": "4", "step_rounding": "floor", "max_deduction": "5"}, "5",
     "完成值20%及以上的（5分）；低于20%的，每低四个百分点扣1分（不足四个百分点的部分不扣分），最多扣5分。"),
    ("threshold_linear", {"value_from": {"transform": "share_yes"}, "full_at": "95", "deduct_pct_of_weight_per_pp": "2", "zero_below": "60"}, "5",
     "问卷中回答“是”的比例95%及以上的（5分）；低于95%的，每低一个百分点扣分值的2%（0.1分）；低于60%的不得分。"),
    ("budget_execution", {}, "10", "预算执行率（全年执行数÷全年预算数）达到100%的（10分）；未达到的，得分=10×预算执行率。"),
    ("checklist_sum", {"all_or_nothing": True, "items": [{"key": "a", "label": "符合发展政策", "points": "1.5"},
                                                         {"key": "b", "label": "符合区域优先发展重点", "points": "1.5"}]}, "3",
     "符合发展政策（1.5分）；符合区域优先发展重点（1.5分）；以上全部满足的（3分），否则不得分。"),
    ("checklist_pct_deduction", {"items": [{"key": "a", "label": "程序规范", "deduct_pct": "40"}]}, "5",
     "各要点均满足的（5分）；“程序规范”不满足的扣分值的40%，扣完为止。"),
    ("base_plus_items", {"base_key": "has", "base_label": "设置了绩效目标", "base_pct": "50", "item_pct": "10",
                         "items": [{"key": "clear", "label": "明确"}, {"key": "measurable", "label": "可衡量"}]}, "5",
     "设置了绩效目标的，得分值的50%（2.5分）；在此基础上，明确、可衡量每满足一项加分值的10%（0.5分）；不具备的不得分。"),
    ("binary", {"key": "ok", "label": "是否无违规"}, "3", "无违规的（3分）；否则不得分。"),
    ("per_item_deduction", {"deduct_pct_of_weight": "25", "max_deduction_pct": "100", "item_label": "未完备归档事项数"}, "3",
     "无未完备归档事项的（3分）；每发现1项未完备归档事项扣分值的25%（0.75分），扣完为止。"),
    ("per_day_late", {"points_per_day": "1", "max_deduction": "3"}, "3", "按时完成的（3分）；逾期每1天扣1分，最多扣3分。"),
    ("categorical", {"points": {"on_time": "7", "late_no_impact": "5", "late_with_impact": "0"}}, "7",
     "按时完成的（7分）；未按时但不影响进度或使用的（5分）；未按时且影响进度或交付的（0分）。"),
    ("categorical", {"points": {"on_time": "5", "late": "2"}, "cap_at_weight": True}, "3",
     "按时完成的（5分）；未按时完成的（2分）（得分最高不超过分值3分）。"),
    ("qualitative_band", {}, "10", "达成年度指标的，得分值的80%–100%；部分达成并具有一定效果的，得分值的60%–80%；"
                                   "未达成且效果较差的，得分值的0%–60%（分值10分，由评价人在档内确定得分比例）。"),
    ("tiered_bands", {"basis": "value", "bands": [{"points": "0"}, {"min": "10", "points": "4"}, {"min": "30", "points": "10"}]}, "10",
     "完成值低于10%的（0分）；10%（含）至30%的（4分）；30%及以上的（10分）。"),
    ("veto", {"label": "出现重大安全事故", "scope": "total"}, "0", "出现重大安全事故的，一票否决，总分记0分；否则（0分）。"),
    ("bonus_capped", {"points_per_step": "1", "bonus_cap": "2"}, "10",
     "实际完成值大于或等于目标值的（10分）；未达到目标值的，按完成比例得分；超过100%的，每超一个百分点加1分，最多加2分。"),
    ("global_deduction", {"items": [{"key": "a", "label": "审计发现违规", "points": "1"}], "max_deduction": "5"}, "0",
     "扣分项（从总分中扣除）：审计发现违规，每出现一次扣1分；合计最多扣5分。"),
    ("composite_rate", {"components": [{"key": "a", "label": "改造面积"}, {"key": "b", "label": "改造户数"}]}, "15",
     "改造面积、改造户数的平均完成率（各项完成率=实际值÷目标值，超额完成部分不封顶）达到100%的（15分）；未达到的，得分=15×平均完成率。"),
    ("share_yes", {"full_at": "95"}, "10", "问卷中回答“是”的比例达到95%及以上的（10分）；未达到的，得分=10×问卷中回答“是”的比例÷95%。"),
    ("formula", {"expr": "w * a / b", "inputs": [{"key": "a"}, {"key": "b"}], "describe": "得分=分值×a÷b"}, "10", "得分=分值×a÷b。"),
])
def test_each_rule_type_renders_its_sentence(name, params, weight, expected):
    assert describe_rule(name, params, weight) == expected


def test_every_builtin_rule_type_has_a_renderer():
    assert set(REGISTRY) <= set(standards.RENDERERS)


def test_labels_argument_overrides_input_names():
    labels = {"actual": "实际改造户数", "target": {"label": "计划改造户数（户）"}}
    assert describe_rule("ratio_capped", {}, "5", labels) == \
        "实际改造户数大于或等于计划改造户数（户）的（5分）；未达到的，按完成比例得分，得分=5×实际改造户数÷计划改造户数（户）。"


def test_pack_input_labels_flow_into_the_sentence():
    pack = build({"id": "t", "indicators": [{
        "code": "X", "path": ["产出", "改造户数"], "weight": "15", "inputs": {"actual": {"label": "实际开工户数"}, "target": {"label": "年度计划户数"}},
        "rule": {"type": "shortfall_deduction", "max_deduction": "15"}}]})
    assert describe(pack.indicators[0]) == \
        "实际开工户数大于或等于年度计划户数的（15分）；未达到年度计划户数的，每低一个百分点扣1分，最多扣15分。"


def test_composite_parts_are_joined_and_shared_cap_stated():
    summed = describe_rule("composite", {"parts": [
        {"key": "a", "weight": "5", "rule": {"type": "binary", "key": "arranged", "label": "地方财政安排补助资金"}},
        {"key": "b", "weight": "5", "rule": {"type": "per_day_late", "points_per_day": "1"}}]}, "10")
    assert summed == "地方财政安排补助资金的（5分）；否则不得分。按时完成的（5分）；逾期每1天扣1分，最多扣5分。"
    shared = describe_rule("composite", {"shared_cap": "5", "parts": [
        {"key": "s", "rule": {"type": "shortfall_deduction", "full_at": "80"}},
        {"key": "p", "rule": {"type": "per_item_deduction", "points_per_item": "1", "item_label": "未及时处置信访次数"}}]}, "5")
    assert shared == ("完成值80%及以上的（5分）；低于80%的，每低一个百分点扣1分；每发现1次未及时处置信访扣1分；以上合计最多扣5分。")


def test_plugin_rule_type_falls_back_to_its_description_or_own_renderer():
    rule_type = RuleType("double_check", "双人复核", lambda call: Outcome(call.weight, ""), {"k": Param("decimal", "系数")},
                         lambda p: [], description="两名评价人分别打分后取平均")
    registry = {**REGISTRY, rule_type.name: rule_type}
    assert describe_rule("double_check", {"k": "1"}, "4", registry=registry) == "两名评价人分别打分后取平均（分值4分）。"
    try:
        standards.register_renderer("double_check", lambda ctx: f"系数{ctx.params['k']}，满分{ctx.weight}分")
        assert describe_rule("double_check", {"k": "2"}, "4", registry=registry) == "系数2，满分4分。"
    finally:
        standards.RENDERERS.pop("double_check", None)


def test_renderer_registry_is_keyed_by_rule_type_name():
    assert standards.RENDERERS["shortfall_deduction"] is standards._shortfall
    assert dataclasses.is_dataclass(standards.Ctx)


def test_standards_module_stays_pure():
    """No file, spreadsheet or CLI imports: the module may run anywhere (templates, reports, a button)."""
    tree = ast.parse(Path(standards.__file__).read_text(encoding="utf-8"))
    imported = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            imported |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            imported.add((node.module or "").split(".")[0] if node.level == 0 else f".{node.module}")
    forbidden = {"openpyxl", "click", "yaml", "os", "io", "pathlib", "python_calamine", "xlwings", "shutil", "subprocess"}
    assert not imported & forbidden
    assert {m for m in imported if m.startswith(".")} <= {".numbers", ".ruletypes"}


def test_numbers_in_sentences_have_no_float_noise():
    text = describe_rule("threshold_linear", {"full_at": "90", "deduct_pct_of_weight_per_pp": "2", "zero_below": "60"}, Decimal("4.5"))
    assert "（0.09分）" in text and "4.5分" in text
