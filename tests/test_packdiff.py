"""``anju rules diff`` (engine.packdiff): differences between two packs, in Chinese; and child packs from diffs."""

import copy

import pytest
from click.testing import CliRunner
from openpyxl import load_workbook

from engine.cli import main
from engine.packdiff import ADDED, CHANGED, REMOVED, SETTING, as_extension, diff_packs, diff_workbook, format_changes
from engine.packs import build, merge, resolve
from engine.plugins import Catalog
from engine.rulebook import normalised

CATALOG = Catalog()
HENAN = "henan-2020-old-community"


def henan_data():
    return copy.deepcopy(resolve(HENAN, CATALOG.raw))


def indicator(data, code):
    return next(i for i in data["indicators"] if i["code"] == code)


@pytest.fixture(scope="module")
def edited():
    """henan with: O1 15→14 and O2 15→16, F1 社会筹资 step 4→2, O6 dropped, X1 added, version and rounding changed."""
    data = henan_data()
    data["id"], data["version"] = "henan-edited", "2.0"
    data["rounding"]["indicator"]["places"] = 2
    indicator(data, "O1").update(weight="14")
    indicator(data, "O1")["rule"]["max_deduction"] = "14"
    indicator(data, "O2").update(weight="16", target="350 万平方米")
    indicator(data, "O2")["rule"]["max_deduction"] = "16"
    indicator(data, "F1")["rule"]["parts"][1]["rule"]["step_pp"] = "2"
    data["indicators"] = [i for i in data["indicators"] if i["code"] != "O6"]
    data["indicators"].append({"code": "X1", "path": ["产出效益", "加装电梯完成率"], "weight": "10",
                               "rule": {"type": "shortfall_deduction", "max_deduction": "10"}})
    return data


def test_diff_lists_weights_targets_rules_added_and_removed(edited):
    a, b = CATALOG.pack(HENAN), build(edited)
    changes = diff_packs(a, b, CATALOG.rule_types)
    kinds = {(c.kind, c.code, c.what) for c in changes}
    assert (CHANGED, "O1", "分值") in kinds and (CHANGED, "O2", "分值") in kinds and (CHANGED, "O2", "目标值") in kinds
    assert (CHANGED, "F1", "分项“企业、居民等社会筹资占改造项目资金比例”的参数“每低几个百分点”") in kinds
    assert (ADDED, "X1", "指标") in kinds and (REMOVED, "O6", "指标") in kinds
    assert any(c.kind == SETTING and c.name == "版本" and (c.old, c.new) == ("1.0.0", "2.0") for c in changes)
    assert any(c.kind == SETTING and c.name == "指标得分保留小数位数" for c in changes)
    text = format_changes(changes, a, b)
    assert "分值：15 → 14" in text and "目标值：341.4058 万平方米 → 350 万平方米" in text
    assert "参数“每低几个百分点”：4 → 2" in text
    assert "+ X1 加装电梯完成率" in text and "- O6 工程质量" in text
    assert "原：" in text and "每低两个百分点扣1分" in text          # the generated 评分标准, before and after
    assert "新增 1 个指标，删除 1 个指标" in text


def test_identical_packs_and_defaults_written_out_are_no_difference():
    data = henan_data()
    explicit = copy.deepcopy(data)
    indicator(explicit, "O1")["rule"]["full_at"] = "100.0"          # the default, written out
    indicator(explicit, "P1")["rule"]["severe_zero"] = False
    changes = diff_packs(build(data), build(explicit), CATALOG.rule_types)
    assert changes == []
    assert "完全相同" in format_changes(changes, build(data), build(explicit))


def test_rule_type_change_is_reported_once():
    data = henan_data()
    indicator(data, "O3")["rule"] = {"type": "ratio_capped"}
    changes = [c for c in diff_packs(CATALOG.pack(HENAN), build(data)) if c.code == "O3"]
    assert [(c.what, c.old, c.new) for c in changes if c.what == "规则类型"] == [("规则类型", "每低N个百分点扣分", "正向比例")]
    assert {c.what for c in changes} == {"规则类型", "评分标准"}


def test_diff_workbook(edited, tmp_path):
    a, b = CATALOG.pack(HENAN), build(edited)
    path = tmp_path / "diff.xlsx"
    diff_workbook(diff_packs(a, b), a, b).save(path)
    ws = load_workbook(path)["差异"]
    assert [c.value for c in ws[2]] == ["类别", "编码", "指标/设置", "项目", f"原（{HENAN}）", "新（henan-edited）"]
    rows = [[c.value for c in row] for row in ws.iter_rows(min_row=3)]
    assert ["修改指标", "O1", "改造户数计划完成率", "分值", "15", "14"] in rows
    assert any(r[0] == "新增指标" and r[1] == "X1" for r in rows) and any(r[0] == "删除指标" and r[1] == "O6" for r in rows)


def test_cli_diff_prints_and_writes(tmp_path):
    runner = CliRunner()
    out = tmp_path / "d.xlsx"
    child = next(p for p in sorted(CATALOG.packs) if CATALOG.raw(p).get("extends"))
    parent = CATALOG.raw(child)["extends"]
    result = runner.invoke(main, ["rules", "diff", parent, child, "-o", str(out)], obj={})
    assert result.exit_code == 0, result.output
    assert result.output.startswith(f"比较规则包：{parent}") and "修改的指标：" in result.output and out.exists()


def test_cli_diff_accepts_a_workbook(tmp_path):
    runner = CliRunner()
    book = tmp_path / "h.xlsx"
    assert runner.invoke(main, ["rules", "export", HENAN, "-o", str(book)], obj={}).exit_code == 0
    result = runner.invoke(main, ["rules", "diff", HENAN, str(book)], obj={})
    assert result.exit_code == 0 and "完全相同" in result.output


def test_as_extension_writes_the_smallest_child(edited):
    parent = henan_data()
    resolved = dict(edited, extends=HENAN)
    child = as_extension(parent, resolved)
    assert child["extends"] == HENAN and "indicators" not in child
    assert set(child["override"]) == {"O1", "O2", "F1"}
    assert child["override"]["O1"] == {"weight": "14", "rule": indicator(edited, "O1")["rule"]}
    assert child["drop"] == ["O6"] and [a["code"] for a in child["add"]] == ["X1"] and child["add"][0]["after"] == "S1"
    assert set(child) >= {"id", "version", "rounding"} and "levels" not in child
    assert normalised(merge(parent, child)) == normalised(resolved)


def test_as_extension_refuses_reordering():
    parent = henan_data()
    resolved = dict(copy.deepcopy(parent), id="x", extends=HENAN)
    resolved["indicators"][0], resolved["indicators"][1] = resolved["indicators"][1], resolved["indicators"][0]
    assert as_extension(parent, resolved) is None
