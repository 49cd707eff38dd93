"""The shared golden cases (copied from /work/shared/golden into tests/golden) run through the real
``anju golden`` command, as staff and CI would run it."""

import os
import shutil
import subprocess
import sys
from pathlib import Path

import yaml

GOLDEN = Path(__file__).parent / "golden"
ANJU = Path(sys.executable).parent / "anju"


def run_anju(*args, cwd=None):
    env = {**os.environ, "PYTHONIOENCODING": "utf-8"}
    env.pop("ANJU_RULES_PATH", None)
    return subprocess.run([str(ANJU), *map(str, args)], capture_output=True, text=True, encoding="utf-8",
                          env=env, cwd=cwd, timeout=120)


def test_golden_copies_are_present():
    names = sorted(p.name for p in GOLDEN.glob("*.yaml"))
    assert names == ["000_xinjiang_2019_old_community.yaml", "001_xinjiang_2021_programs.yaml",
                     "002_hejing_2022_old_community.yaml", "004_zhumadian_2020_old_community.yaml"]
    assert (GOLDEN / "inferred" / "003_jilin_2024_elevator_shantytown.yaml").is_file()


def test_all_golden_cases_reproduce():
    result = run_anju("golden", GOLDEN)
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    assert "0 个不一致" in output
    assert "Traceback" not in output
    # every case of every file ran (000, 001 x3, 002 x2, 004, inferred 003)
    assert "共 8 个案例，8 个通过" in output
    for case in ("seed000-xinjiang-2019-reconstruction", "seed002-third-party", "seed002-self-evaluation-table",
                 "seed004-zhumadian-2020", "seed003-jilin-2024-inferred"):
        assert f"[通过] {case}" in output


def test_headline_totals_are_the_published_ones():
    output = run_anju("golden", GOLDEN).stdout
    assert "总分: 计算 89.29，期望 89.29" in output      # 和静 third party
    assert "总分: 计算 98.1，期望 98.1" in output        # 驻马店
    assert "总分: 计算 78.2，期望 78.2" in output        # 新疆 reconstruction R


def test_a_wrong_expected_score_fails_and_names_the_indicator(tmp_path):
    copy = tmp_path / "golden"
    shutil.copytree(GOLDEN, copy)
    file = copy / "004_zhumadian_2020_old_community.yaml"
    document = yaml.safe_load(file.read_text(encoding="utf-8"))
    case = document["cases"][0]
    o5 = next(i for i in case["indicators"] if i["code"] == "O5")
    assert o5["expected_score"] == "9"
    o5["expected_score"] = "8"                         # deliberately wrong (the engine computes 9)
    file.write_text(yaml.safe_dump(document, allow_unicode=True, sort_keys=False), encoding="utf-8")

    result = run_anju("golden", copy)
    output = result.stdout + result.stderr
    assert result.returncode == 1, output
    assert "1 个不一致" in output
    assert "[不一致] seed004-zhumadian-2020" in output
    assert "✗ O5: 计算 9，期望 8" in output
    assert "Traceback" not in output
