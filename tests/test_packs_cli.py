"""``anju rules check|test`` and ``anju score`` as real subprocesses: shipped packs pass, broken packs
fail with Chinese messages naming the indicator, ``extends`` resolves, seed 002 scores 89.29 良, and bad
input gives a Chinese error, exit code 2 and never a traceback."""

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ANJU = Path(sys.executable).parent / "anju"
RULES = Path(__file__).resolve().parent.parent / "rules"
CJK = re.compile(r"[\u4e00-\u9fff]")

NATIONAL = [f"national-{program}-{profile}"
            for program in ("old-community-renovation", "shantytown-redevelopment", "rental-housing", "elevator-retrofit")
            for profile in ("self-evaluation", "program-table")]
SEEDS = ["hejing-2022-third-party", "hejing-2022-self-evaluation", "henan-2020-old-community", "xinjiang-2019-transfer"]


def run_anju(*args):
    env = {**os.environ, "PYTHONIOENCODING": "utf-8"}
    env.pop("ANJU_RULES_PATH", None)
    result = subprocess.run([str(ANJU), *map(str, args)], capture_output=True, text=True, encoding="utf-8",
                            env=env, timeout=120)
    result.output = result.stdout + result.stderr
    assert "Traceback" not in result.output, result.output
    return result


def golden_inputs(pack_id: str, case: int = 0) -> dict:
    for file in RULES.rglob("*.yaml"):
        data = yaml.safe_load(file.read_text(encoding="utf-8"))
        if isinstance(data, dict) and data.get("id") == pack_id:
            return data["golden"][case]["inputs"]
    raise AssertionError(f"pack {pack_id} not found")


def write_yaml(path: Path, data) -> Path:
    path.write_text(yaml.safe_dump(data, allow_unicode=True, sort_keys=False), encoding="utf-8")
    return path


# --------------------------------------------------------------------------- rules check / test on shipped packs

def test_rules_check_passes_on_all_shipped_packs():
    result = run_anju("rules", "check")
    assert result.returncode == 0, result.output
    assert re.search(r"检查了 \d+ 个规则包：0 个错误", result.output), result.output
    for pack_id in NATIONAL + SEEDS:
        assert f"[通过] {pack_id}（" in result.output


def test_rules_test_passes_for_all_packs():
    result = run_anju("rules", "test", "-q")
    assert result.returncode == 0, result.output
    assert re.search(r"共 \d+ 个案例，\d+ 个通过，0 个不一致", result.output), result.output
    for pack_id in NATIONAL:
        # every national pack ships at least an all-met case and a realistic one
        assert result.output.count(f"[通过] {pack_id}/") >= 2, pack_id


# --------------------------------------------------------------------------- broken packs

def small_pack(pack_id, indicators, **extra):
    return {"schema": "anju-pack/1", "id": pack_id, "name": "测试规则包", "program": "old_community_renovation",
            "framework": "self_evaluation_10_50_30_10", **extra, "indicators": indicators}


def ratio(code, path, weight):
    return {"code": code, "path": path, "weight": weight, "rule": {"type": "ratio_capped"}}


def test_total_weight_not_100_is_an_error(tmp_path):
    pack = write_yaml(tmp_path / "p.yaml", small_pack("bad-total", [
        ratio("O1", ["产出指标", "数量指标", "改造户数"], "60"),
        ratio("B1", ["效益指标", "社会效益指标", "改善居住条件"], "35")]))
    result = run_anju("rules", "check", pack)
    assert result.returncode == 1, result.output
    assert "[错误] bad-total" in result.output
    assert "规则包“bad-total”各指标分值合计95，不等于满分100" in result.output


def test_level_weight_mismatch_is_an_error_naming_the_codes(tmp_path):
    pack = write_yaml(tmp_path / "p.yaml", small_pack("bad-level", [
        ratio("O1", ["产出指标", "数量指标", "改造户数"], "30"),
        ratio("O2", ["产出指标", "数量指标", "改造面积"], "30"),
        ratio("B1", ["效益指标", "社会效益指标", "改善居住条件"], "40")],
        levels={"产出指标": "50", "效益指标": "50"}))
    result = run_anju("rules", "check", pack)
    assert result.returncode == 1, result.output
    assert "一级/二级指标“产出指标”分值为50，其下指标（O1、O2）分值合计60，两者不一致" in result.output
    assert "一级/二级指标“效益指标”分值为50，其下指标（B1）分值合计40，两者不一致" in result.output
    assert "0 个错误" not in result.output


def test_unknown_rule_type_is_an_error_naming_the_indicator(tmp_path):
    indicators = [ratio("O1", ["产出指标", "数量指标", "改造户数"], "50"),
                  {"code": "O2", "path": ["产出指标", "数量指标", "改造面积"], "weight": "50", "rule": {"type": "ratio_magic"}}]
    pack = write_yaml(tmp_path / "p.yaml", small_pack("bad-type", indicators))
    result = run_anju("rules", "check", pack)
    assert result.returncode == 1, result.output
    assert "指标O2：规则类型“ratio_magic”未知；可用类型：" in result.output
    assert "ratio_capped" in result.output      # the list of valid types is shown


def test_categorical_points_above_weight_is_an_error_unless_capped(tmp_path):
    c302 = {"code": "C302", "path": ["产出指标", "时效指标", "计划完工时间"], "weight": "3",
            "rule": {"type": "categorical", "points": {"on_time": "5", "late_no_impact": "2", "late_with_impact": "0"}}}
    pack = write_yaml(tmp_path / "p.yaml", small_pack("bad-categorical", [ratio("O1", ["产出指标", "数量指标", "改造户数"], "97"), c302]))
    result = run_anju("rules", "check", pack)
    assert result.returncode == 1, result.output
    assert "指标C302（计划完工时间）评分标准最高可得5分，超过分值3分" in result.output
    assert "cap_at_weight" in result.output

    c302["rule"]["cap_at_weight"] = True
    write_yaml(tmp_path / "p.yaml", small_pack("bad-categorical", [ratio("O1", ["产出指标", "数量指标", "改造户数"], "97"), c302]))
    result = run_anju("rules", "check", tmp_path / "p.yaml")
    assert result.returncode == 0, result.output
    assert "提示：" in result.output and "规则包已声明按分值封顶" in result.output


# --------------------------------------------------------------------------- extends

def test_extending_pack_overrides_replaces_adds_and_drops(tmp_path):
    rules_dir = tmp_path / "rules"
    rules_dir.mkdir()
    child = {
        "schema": "anju-pack/1",
        "id": "testprov-2025-old-community",
        "name": "某省2025年老旧小区改造绩效评价指标表（测试）",
        "extends": "national-old-community-renovation-program-table",
        "region": "某省",
        "years": "2025",
        "drop": ["O5"],                                                     # 配建养老服务设施 10
        "override": {
            "O1": {"weight": "12"},                                         # 15 -> 12
            "O2": {"weight": "18"},                                         # 15 -> 18
            "O6": {"rule": {"type": "per_item_deduction", "points_per_item": "2", "max_deduction": "10"}},  # 1 -> 2 per item
        },
        "add": [{"code": "O7", "after": "O4", "path": ["产出效益", "完善类、提升类改造内容完成率"], "weight": "10",
                 "target": "100%", "unit": "项", "rule": {"type": "ratio_capped"},
                 "inputs": {"target": {"label": "计划完善类提升类改造项目数"}, "actual": {"label": "已完成项目数"}}}],
    }
    write_yaml(rules_dir / "child.yaml", child)

    check = run_anju("--rules-dir", rules_dir, "rules", "check", "testprov-2025-old-community")
    assert check.returncode == 0, check.output
    assert "[通过] testprov-2025-old-community（12 个指标" in check.output

    inputs = golden_inputs("national-old-community-renovation-program-table")
    inputs.pop("O5")
    inputs["O1"] = {"target": "1000", "actual": "970"}     # 97%: short 3 pp -> 12 - 3 = 9
    inputs["O6"] = {"count": 2}                             # 10 - 2 x 2 = 6
    inputs["O7"] = {"target": "50", "actual": "45"}         # 10 x 0.9 = 9
    result = run_anju("--rules-dir", rules_dir, "score", "--pack", "testprov-2025-old-community", "--format", "json",
                      write_yaml(tmp_path / "in.yaml", inputs))
    assert result.returncode == 0, result.output
    data = json.loads(result.stdout)
    scores = {i["code"]: i["score"] for i in data["indicators"]}
    weights = {i["code"]: i["weight"] for i in data["indicators"]}
    assert list(scores) == ["F1", "F2", "F3", "P1", "P2", "O1", "O2", "O3", "O4", "O7", "O6", "S1"]
    assert weights["O1"] == "12" and weights["O2"] == "18" and "O5" not in weights
    assert scores["O1"] == "9" and scores["O2"] == "18" and scores["O6"] == "6" and scores["O7"] == "9"
    o7 = next(i for i in data["indicators"] if i["code"] == "O7")
    assert "计划完善类提升类改造项目数50项，已完成项目数45项，完成率90%" in o7["explanation"]
    # 10 + 5 + 10 + 5 + 5 + 9 + 18 + 5 + 5 + 9 + 6 + 5 = 92
    assert data["total"] == "92" and data["grade"] == "优"
    assert data["pack"]["id"] == "testprov-2025-old-community" and data["pack"]["region"] == "某省"


# --------------------------------------------------------------------------- seed 002 through the CLI

def test_score_seed_002_third_party_json(tmp_path):
    facts = write_yaml(tmp_path / "hejing.yaml", golden_inputs("hejing-2022-third-party"))
    result = run_anju("score", "--pack", "hejing-2022-third-party", "--format", "json", facts)
    assert result.returncode == 0, result.output
    data = json.loads(result.stdout)
    assert data["schema"] == "anju-result/1"
    assert data["pack"]["id"] == "hejing-2022-third-party"
    assert data["total"] == "89.29" and data["grade"] == "良"
    assert len(data["indicators"]) == 22
    for item in data["indicators"]:
        assert {"code", "path", "weight", "score", "rate", "status", "explanation", "warnings"} <= set(item)
        assert CJK.search(item["explanation"]) and f"得{item['score']}分" in item["explanation"], item
        assert isinstance(item["score"], str) and isinstance(item["rate"], str)
    by_code = {i["code"]: i for i in data["indicators"]}
    assert by_code["D301"]["score"] == "4.52"
    assert "85.28%" in by_code["D301"]["explanation"] and "4.528按2位小数截尾" in by_code["D301"]["explanation"]
    assert by_code["C301"]["score"] == "5" and by_code["C301"]["rate"] == "71.42"
    assert "计划改造面积8.84万平方米" in by_code["C102"]["explanation"]
    top = {tuple(level["path"]): level for level in data["levels"] if len(level["path"]) == 1}
    assert {k[0]: (v["weight"], v["score"]) for k, v in top.items()} == {
        "项目决策": ("15", "14.5"), "项目过程": ("25", "24"), "项目产出": ("40", "32"), "项目效益": ("20", "18.79")}
    assert all({"path", "weight", "score", "rate"} <= set(level) for level in data["levels"])


def test_score_table_format_lists_every_indicator(tmp_path):
    facts = write_yaml(tmp_path / "hejing.yaml", golden_inputs("hejing-2022-third-party"))
    result = run_anju("score", "--pack", "hejing-2022-third-party", facts)
    assert result.returncode == 0, result.output
    assert "总分：89.29　等级：良" in result.stdout
    assert sum(1 for line in result.stdout.splitlines() if re.match(r"^[A-D]\d{3}\t", line)) == 22


# --------------------------------------------------------------------------- bad input

def henan_inputs():
    return golden_inputs("henan-2020-old-community")


def score_henan(tmp_path, inputs, name="in.yaml"):
    return run_anju("score", "--pack", "henan-2020-old-community", "--format", "json", write_yaml(tmp_path / name, inputs))


def expect_input_error(result, *fragments):
    assert result.returncode == 2, result.output
    assert "输入数据有误" in result.stderr or "错误：" in result.stderr, result.output
    assert CJK.search(result.stderr)
    for fragment in fragments:
        assert fragment in result.stderr, result.output
    assert result.stdout == ""


def test_unknown_code(tmp_path):
    inputs = henan_inputs()
    inputs["X99"] = {"count": 0}
    expect_input_error(score_henan(tmp_path, inputs), "未知指标编码“X99”：规则包 henan-2020-old-community 中没有该指标")


def test_missing_input(tmp_path):
    inputs = henan_inputs()
    del inputs["P2"]["days_late"]
    expect_input_error(score_henan(tmp_path, inputs), "缺少指标P2的“评价报告逾期报送天数”（days_late）")


def test_missing_actual_of_a_completion_rate(tmp_path):
    inputs = henan_inputs()
    del inputs["O1"]["actual"]
    result = score_henan(tmp_path, inputs)
    expect_input_error(result, "O1", "实际开工户数")      # named with the pack's label, not the input key


def test_missing_indicator(tmp_path):
    inputs = henan_inputs()
    del inputs["O6"]
    expect_input_error(score_henan(tmp_path, inputs), "缺少指标O6（工程质量）的输入数据")


def test_text_where_a_number_is_expected(tmp_path):
    inputs = henan_inputs()
    inputs["O2"]["actual"] = "三百多"
    expect_input_error(score_henan(tmp_path, inputs), "指标O2的“实际开工改造面积”应为数字，收到的是文字“三百多”")


def test_negative_count(tmp_path):
    inputs = henan_inputs()
    inputs["O6"] = {"count": -1}
    expect_input_error(score_henan(tmp_path, inputs), "指标O6的“发现质量问题项数”应为不小于0的整数（收到-1）")


def test_percent_sign_on_a_count_is_an_error(tmp_path):
    inputs = henan_inputs()
    inputs["P1"] = {"count": "95%"}
    expect_input_error(score_henan(tmp_path, inputs), "指标P1的“未公开政策项数”应为数字，不应带百分号（收到“95%”）")


def test_several_problems_are_reported_together(tmp_path):
    inputs = henan_inputs()
    inputs["P1"] = {"count": "95%"}
    inputs["O6"] = {"count": -1}
    inputs["X99"] = {}
    result = score_henan(tmp_path, inputs)
    expect_input_error(result, "P1", "O6", "X99")
    assert result.stderr.count("  - ") == 3


def test_percent_sign_on_a_percent_input_is_normalised(tmp_path):
    inputs = henan_inputs()
    inputs["S1"]["satisfaction"] = {"value": "95%"}
    inputs["F1"]["social_share"] = {"value": "16.4%"}
    result = score_henan(tmp_path, inputs)
    assert result.returncode == 0, result.output
    data = json.loads(result.stdout)
    assert data["total"] == "98.1"
    s1 = next(i for i in data["indicators"] if i["code"] == "S1")
    assert s1["score"] == "5" and "95%" in s1["explanation"]


def test_full_width_digits_are_normalised(tmp_path):
    inputs = henan_inputs()
    inputs["O1"] = {"target": "３３２２４", "actual": "３３６２３"}
    inputs["O5"] = {"target": "６３１２０", "actual": "６２３９５"}
    result = score_henan(tmp_path, inputs)
    assert result.returncode == 0, result.output
    data = json.loads(result.stdout)
    by_code = {i["code"]: i for i in data["indicators"]}
    assert by_code["O1"]["score"] == "15" and "计划改造户数33224户，实际开工户数33623户，完成率101.2%" in by_code["O1"]["explanation"]
    assert by_code["O5"]["score"] == "9"
    assert data["total"] == "98.1" and data["grade"] == "优"


def test_malformed_yaml(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("O1: {actual: 33623, target: 33224\nO2: [\n", encoding="utf-8")
    result = run_anju("score", "--pack", "henan-2020-old-community", bad)
    assert result.returncode == 2, result.output
    assert "的 YAML 格式有误（第" in result.stderr


def test_unknown_pack(tmp_path):
    result = run_anju("score", "--pack", "no-such-pack", write_yaml(tmp_path / "in.yaml", henan_inputs()))
    assert result.returncode == 2, result.output
    assert "找不到规则包“no-such-pack”" in result.stderr


@pytest.mark.parametrize("pack_id", NATIONAL)
def test_national_pack_scores_its_golden_case_through_the_cli(tmp_path, pack_id):
    result = run_anju("score", "--pack", pack_id, "--format", "json", write_yaml(tmp_path / "in.yaml", golden_inputs(pack_id)))
    assert result.returncode == 0, result.output
    data = json.loads(result.stdout)
    assert data["total"] == "100" and data["grade"] == "优"
    assert data["pack"]["region"] == "全国" and data["pack"]["version"] == "2025.1"
