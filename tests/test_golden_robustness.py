"""``anju golden`` on hand-written golden files that are wrong in shape: every problem becomes a Chinese
message naming the file, case and indicator; the run goes on with the next case and file; exit 1."""

import os
import subprocess
import sys
import textwrap
from pathlib import Path

ANJU = Path(sys.executable).parent / "anju"

GOOD = """\
schema: anju-golden/1
cases:
  - id: good-case
    expected_total: "5"
    indicators:
      - {code: G1, path: [产出, g], weight: "5", rule: {type: ratio_capped}, inputs: {actual: "1", target: "1"}, expected_score: "5"}
"""


def run_anju(*args):
    env = {**os.environ, "PYTHONIOENCODING": "utf-8"}
    env.pop("ANJU_RULES_PATH", None)
    result = subprocess.run([str(ANJU), *map(str, args)], capture_output=True, text=True, encoding="utf-8",
                            env=env, timeout=120)
    output = result.stdout + result.stderr
    assert "Traceback" not in output, output
    assert "内部错误" not in output, output
    return result.returncode, output


def write(directory: Path, name: str, text: str) -> Path:
    path = directory / name
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


def case_block(output: str, case_id: str) -> str:
    """The lines printed for one case: its header and the indented lines below it."""
    lines = output.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("[") and f"] {case_id}（" in line)
    block = [lines[start]]
    for line in lines[start + 1:]:
        if not line.startswith("    "):
            break
        block.append(line)
    return "\n".join(block)


def with_good(tmp_path: Path, name: str, text: str) -> tuple[int, str, Path]:
    write(tmp_path, "00_good.yaml", GOOD)
    bad = write(tmp_path, name, text)
    code, output = run_anju("golden", tmp_path)
    assert "[通过] good-case" in output, output
    assert "G1: 计算 5，期望 5" in output
    return code, output, bad


def test_cases_as_a_mapping_is_a_file_error_and_the_good_file_still_runs(tmp_path):
    code, output, bad = with_good(tmp_path, "m_cases_dict.yaml", """\
        schema: anju-golden/1
        cases:
          id: x
          indicators: []
        """)
    assert code == 1
    assert f"[错误] {bad} 的 cases 应为案例列表" in output
    assert "共 1 个案例，1 个通过，0 个不一致；另有 1 个文件有错误，未能运行" in output


def test_a_case_that_is_a_string_fails_alone_and_the_next_case_runs(tmp_path):
    path = write(tmp_path, "cases.yaml", """\
        schema: anju-golden/1
        cases:
          - just-a-string
          - id: after-the-bad-one
            indicators:
              - {code: A, path: [产出, a], weight: "5", rule: {type: ratio_capped}, inputs: {actual: "1", target: "2"}, expected_score: "2.5"}
        """)
    code, output = run_anju("golden", path)
    assert code == 1
    block = case_block(output, "第1个案例")
    assert f"[不一致] 第1个案例（{path}）" in block
    assert "案例应为对照表" in block and "just-a-string" in block
    assert "[通过] after-the-bad-one" in output
    assert "共 2 个案例，1 个通过，1 个不一致" in output


def test_indicator_shapes_name_the_case_and_indicator(tmp_path):
    code, output, bad = with_good(tmp_path, "m_shapes.yaml", """\
        schema: anju-golden/1
        cases:
          - id: ind-dict
            indicators:
              A: {path: [产出, a], weight: "5", rule: {type: ratio_capped}}
          - id: ind-string
            indicators: [A]
          - id: rule-list
            indicators:
              - {code: A, path: [产出, a], weight: "5", rule: [ratio_capped], inputs: {actual: "1", target: "1"}}
          - id: rule-string
            indicators:
              - {code: B, path: [产出, b], weight: "5", rule: ratio_capped, inputs: {actual: "1", target: "1"}}
          - id: parts-dict
            indicators:
              - {code: C, path: [产出, c], weight: "5", rule: {type: composite, parts: {x: {weight: "5"}}}}
          - id: part-string
            indicators:
              - {code: D, path: [产出, d], weight: "5", rule: {type: composite, parts: ["x"]}}
        """)
    assert code == 1
    assert f"[不一致] ind-dict（{bad}）" in output
    assert "indicators 应为指标列表" in case_block(output, "ind-dict")
    assert "第1个指标应为对照表" in case_block(output, "ind-string")
    assert "指标A的 rule 应为对照表" in case_block(output, "rule-list")
    assert "指标B的 rule 应为对照表" in case_block(output, "rule-string")
    assert "文字“ratio_capped”" in case_block(output, "rule-string")
    assert "指标C的 rule.parts 应为分项列表" in case_block(output, "parts-dict")
    assert "指标D的 rule.parts 第1项应为对照表" in case_block(output, "part-string")
    assert "共 7 个案例，1 个通过，6 个不一致" in output


def test_rounding_and_level_totals_shapes(tmp_path):
    code, output, _ = with_good(tmp_path, "m_rounding.yaml", """\
        schema: anju-golden/1
        cases:
          - id: rounding-string
            rounding: ROUND_DOWN
            indicators:
              - {code: A, path: [产出, a], weight: "5", rule: {type: ratio_capped}, inputs: {actual: "1", target: "1"}}
          - id: rounding-part-string
            rounding: {indicator: "2"}
            indicators:
              - {code: A, path: [产出, a], weight: "5", rule: {type: ratio_capped}, inputs: {actual: "1", target: "1"}}
          - id: level-totals-list
            level_totals: [产出, "5"]
            indicators:
              - {code: A, path: [产出, a], weight: "5", rule: {type: ratio_capped}, inputs: {actual: "1", target: "1"}}
        """)
    assert code == 1
    assert "rounding 应为对照表" in case_block(output, "rounding-string")
    assert "rounding.indicator 应为对照表" in case_block(output, "rounding-part-string")
    assert "level_totals）应为“一级指标名称: 期望得分”的对照表" in case_block(output, "level-totals-list")


def test_non_numeric_expectations_are_all_reported(tmp_path):
    code, output, _ = with_good(tmp_path, "m_expected.yaml", """\
        schema: anju-golden/1
        cases:
          - id: bad-expected
            expected_total: "abc"
            tolerance: {indicator: "x"}
            indicators:
              - {code: A, path: [产出, a], weight: "5", rule: {type: ratio_capped}, inputs: {actual: "1", target: "1"}, expected_score: "五分"}
        """)
    assert code == 1
    block = case_block(output, "bad-expected")
    assert "[不一致] bad-expected" in block
    assert "共 3 处问题" in block
    assert "指标A的期望得分（expected_score）应为数字，收到的是文字“五分”" in block
    assert "期望总分（expected_total）应为数字，收到的是文字“abc”" in block
    assert "容差（tolerance.indicator）应为数字" in block


def test_every_broken_indicator_of_a_case_is_reported(tmp_path):
    code, output, _ = with_good(tmp_path, "m_many.yaml", """\
        schema: anju-golden/1
        cases:
          - id: many-problems
            indicators:
              - {code: A, path: [产出, a], weight: "五", rule: {type: ratio_capped}, inputs: {actual: "1", target: "1"}}
              - {code: B, path: [产出, b], weight: "5", rule: {type: no_such_type}, inputs: {}}
              - {code: C, path: [产出, c], weight: "5", rule: {type: ratio_capped}, inputs: {actual: "abc", target: "1"}}
        """)
    assert code == 1
    block = case_block(output, "many-problems")
    assert "共 3 处问题" in block
    assert "指标A：分值（weight）应为数字" in block
    assert "指标B：规则类型“no_such_type”未知" in block
    assert "指标C" in block and "abc" in block


def test_yaml_error_wrong_schema_and_empty_file_in_a_directory(tmp_path):
    write(tmp_path, "00_good.yaml", GOOD)
    broken = write(tmp_path, "broken.yaml", "schema: anju-golden/1\ncases:\n  - id: x\n    indicators: [ {code: A\n")
    other = write(tmp_path, "other.yaml", "schema: anju-golden/2\ncases: []\n")
    pack = write(tmp_path, "pack.yaml", "id: some-pack\nindicators: []\n")
    empty = write(tmp_path, "empty.yaml", "")
    code, output = run_anju("golden", tmp_path)
    assert code == 1, output                                  # the YAML error fails the run
    assert f"[错误] 黄金案例文件 {broken} 的 YAML 格式有误（第5行" in output
    assert f"跳过 {other}：schema 为 anju-golden/2，不是 anju-golden/1" in output
    assert f"跳过 {pack}：没有 schema 字段" in output
    assert f"跳过 {empty}：文件为空" in output
    assert "[通过] good-case" in output
    assert "共 1 个案例，1 个通过，0 个不一致；另有 1 个文件有错误" in output


def test_skipped_files_alone_do_not_fail_a_directory(tmp_path):
    write(tmp_path, "00_good.yaml", GOOD)
    write(tmp_path, "other.yaml", "schema: anju-golden/2\ncases: []\n")
    code, output = run_anju("golden", tmp_path)
    assert code == 0, output
    assert "跳过" in output and "共 1 个案例，1 个通过，0 个不一致" in output


def test_a_named_non_golden_file_is_an_error(tmp_path):
    good = write(tmp_path, "good.yaml", GOOD)
    other = write(tmp_path, "other.yaml", "schema: anju-golden/2\ncases: []\n")
    code, output = run_anju("golden", other, good)
    assert code == 1
    assert f"[错误] {other} 不是 anju-golden/1 格式的黄金案例文件：schema 为 anju-golden/2" in output
    assert "[通过] good-case" in output


def test_a_golden_file_without_cases_is_an_error(tmp_path):
    path = write(tmp_path, "no_cases.yaml", "schema: anju-golden/1\nreport: 无 cases\n")
    code, output = run_anju("golden", path)
    assert code == 1
    assert f"[错误] {path} 没有案例：cases 缺失或为空" in output


def test_case_policy_keys_reach_the_pack(tmp_path):
    # 2/3 of 7 = 4.6667: ROUND_DOWN gives 4.66, the default half-up 4.67; na_policy redistribute moves
    # the N/A indicator's 3 points to A (7 -> 10 * 2/3 = 6.66)
    path = write(tmp_path, "policy.yaml", """\
        schema: anju-golden/1
        cases:
          - id: policy-pass-through
            na_policy: redistribute
            total_weight: "10"
            overachievement: cap
            rounding: {indicator: {places: 2, mode: ROUND_DOWN}}
            grade_bands: [{label: 合格, min: 6}, {label: 不合格, min: 0}]
            expected_grade: 合格
            expected_total: "6.66"
            indicators:
              - {code: A, path: [产出, a], weight: "7", rule: {type: ratio_capped}, inputs: {actual: "2", target: "3"}, expected_score: "6.66"}
              - {code: B, path: [产出, b], weight: "3", rule: {type: ratio_capped}, inputs: 无任务}
        """)
    code, output = run_anju("golden", path)
    assert code == 0, output
    assert "总分: 计算 6.66，期望 6.66" in output
    assert "等级: 计算 合格，期望 合格" in output


def test_a_bad_policy_value_is_reported_not_ignored(tmp_path):
    code, output, _ = with_good(tmp_path, "m_policy.yaml", """\
        schema: anju-golden/1
        cases:
          - id: bad-policy
            overachievement: no_such_policy
            levels: [产出]
            indicators:
              - {code: A, path: [产出, a], weight: "5", rule: {type: ratio_capped}, inputs: {actual: "1", target: "1"}}
        """)
    assert code == 1
    block = case_block(output, "bad-policy")
    assert "overachievement“no_such_policy”无效" in block
    assert "一级指标权重（levels）应为“指标层级: 分值”的对照表" in block


def test_misspelled_keys_warn_and_documentation_keys_are_accepted(tmp_path):
    path = write(tmp_path, "typo.yaml", """\
        schema: anju-golden/1
        seed: s
        report: r
        cases:
          - id: typo-case
            na_polcy: redistribute
            confidence: low
            assumptions: [a]
            alternatives: [{name: x}]
            published_total: "5"
            expected_warnings: []
            discrepancy: none
            status: ok
            some_free_note: anything
            expected_total: "5"
            indicators:
              - {code: A, path: [产出, a], weight: "5", rule: {type: ratio_capped}, inputs: {actual: "1", target: "1"},
                 expected_socre: "4", variants: [], published_score: "5"}
        """)
    code, output = run_anju("golden", path)
    assert code == 0, output                                  # warnings never fail a case
    block = case_block(output, "typo-case")
    assert "[通过] typo-case" in block
    assert "警告：案例字段“na_polcy”未被识别，是否应为 na_policy？" in block
    assert "警告：指标A的字段“expected_socre”未被识别，是否应为 expected_score？" in block
    assert block.count("警告") == 2                          # documentation and free keys are not flagged
