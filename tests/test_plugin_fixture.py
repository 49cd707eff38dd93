"""A third-party province plugin (tests/fixtures/province_plugin) installed as a real distribution into a
temporary target directory, then discovered by the ``anju`` console script through its entry point."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ANJU = Path(sys.executable).parent / "anju"
FIXTURE = Path(__file__).parent / "fixtures" / "province_plugin"
PACK_ID = "guangxi-demo-2025-old-community-self-evaluation"
PACK_FILE = FIXTURE / "anju_guangxi_demo" / "packs" / f"{PACK_ID}.yaml"


def run_anju(*args, pythonpath=None):
    env = {**os.environ, "PYTHONIOENCODING": "utf-8"}
    env.pop("ANJU_RULES_PATH", None)
    env.pop("PYTHONPATH", None)
    if pythonpath:
        env["PYTHONPATH"] = str(pythonpath)
    result = subprocess.run([str(ANJU), *map(str, args)], capture_output=True, text=True, encoding="utf-8",
                            env=env, timeout=120)
    result.output = result.stdout + result.stderr
    assert "Traceback" not in result.output, result.output
    return result


@pytest.fixture(scope="module")
def plugin_dir(tmp_path_factory):
    """``pip install --no-deps --target`` the fixture (offline: its build backend has no requirements)."""
    target = tmp_path_factory.mktemp("site")
    build_tmp = tmp_path_factory.mktemp("pip-build")
    done = subprocess.run([sys.executable, "-m", "pip", "install", "--no-deps", "--no-build-isolation", "--no-index",
                           "--disable-pip-version-check", "--quiet", "--target", str(target), str(FIXTURE)],
                          capture_output=True, text=True, timeout=120,
                          env={**os.environ, "TMPDIR": str(build_tmp), "PIP_NO_CACHE_DIR": "1"})
    assert done.returncode == 0, done.stdout + done.stderr
    assert (target / "anju_guangxi_demo" / "packs" / f"{PACK_ID}.yaml").is_file()
    entry_points = next(target.glob("anju_guangxi_demo-*.dist-info")) / "entry_points.txt"
    assert "guangxi_demo = anju_guangxi_demo" in entry_points.read_text(encoding="utf-8")
    return target


def test_plugins_lists_the_plugin_its_pack_and_rule_type(plugin_dir):
    result = run_anju("plugins", pythonpath=plugin_dir)
    assert result.returncode == 0, result.output
    assert "guangxi_demo（anju_guangxi_demo）钩子：register_packs, register_rule_types" in result.stdout
    assert f"{PACK_ID}  版本 2025.1-gx  广西（演示）2025年城镇老旧小区改造资金绩效自评表  [插件 guangxi_demo：" in result.stdout
    assert "guangxi_per_household_subsidy（户均补助标准执行（广西））[来源 guangxi_demo]" in result.stdout
    # the built-in program plugins and their national packs are still there
    assert "national-old-community-renovation-self-evaluation" in result.stdout


def test_plugins_json_records_origins(plugin_dir):
    result = run_anju("plugins", "--json", pythonpath=plugin_dir)
    assert result.returncode == 0, result.output
    info = json.loads(result.stdout)
    plugin = next(p for p in info["plugins"] if p["name"] == "guangxi_demo")
    assert plugin["module"] == "anju_guangxi_demo"
    assert plugin["hooks"] == ["register_packs", "register_rule_types"]
    pack = next(p for p in info["packs"] if p["id"] == PACK_ID)
    assert pack["plugin"] == "guangxi_demo"
    assert pack["origin"] == str(plugin_dir / "anju_guangxi_demo" / "packs" / f"{PACK_ID}.yaml")
    rule_type = next(r for r in info["rule_types"] if r["name"] == "guangxi_per_household_subsidy")
    assert rule_type["origin"] == "guangxi_demo"
    assert next(r for r in info["rule_types"] if r["name"] == "ratio_capped")["origin"] == "engine"
    assert info["problems"] == []


def test_the_plugin_pack_scores_with_the_custom_rule(plugin_dir, tmp_path):
    inputs = yaml.safe_load(PACK_FILE.read_text(encoding="utf-8"))["golden"][0]["inputs"]
    facts = tmp_path / "in.yaml"
    facts.write_text(yaml.safe_dump(inputs, allow_unicode=True), encoding="utf-8")
    result = run_anju("score", "--pack", PACK_ID, "--format", "json", facts, pythonpath=plugin_dir)
    assert result.returncode == 0, result.output
    data = json.loads(result.stdout)
    by_code = {i["code"]: i for i in data["indicators"]}
    assert "O7" not in by_code                                       # dropped from the national pack
    assert [i["code"] for i in data["indicators"]][6:8] == ["O6", "G1"]   # added after O6
    g1 = by_code["G1"]
    assert g1["path"] == ["产出指标", "成本指标", "户均补助资金"] and g1["weight"] == "5"
    assert g1["score"] == "3.75"
    assert ("户均补助=中央和自治区补助资金1260万元÷改造受益户数1000户=1.26万元/户，广西标准1.2万元/户，"
            "超过标准5%，每超过1%扣分值的5%，扣1.25分（广西户均补助规则）") in g1["explanation"]
    assert by_code["S1"]["score"] == "10"                            # overridden: full at 80%
    assert data["total"] == "98.75" and data["grade"] == "优"
    assert data["pack"]["region"] == "广西壮族自治区（演示）"


def test_the_plugin_pack_checks_and_its_golden_case_passes(plugin_dir):
    check = run_anju("rules", "check", PACK_ID, pythonpath=plugin_dir)
    assert check.returncode == 0, check.output
    assert f"[通过] {PACK_ID}（12 个指标" in check.output
    test = run_anju("rules", "test", PACK_ID, pythonpath=plugin_dir)
    assert test.returncode == 0, test.output
    assert "G1: 计算 3.75，期望 3.75" in test.output


def test_custom_rule_input_errors_are_chinese(plugin_dir, tmp_path):
    inputs = yaml.safe_load(PACK_FILE.read_text(encoding="utf-8"))["golden"][0]["inputs"]
    inputs["G1"] = {"subsidy": "1260", "households": "0"}
    facts = tmp_path / "in.yaml"
    facts.write_text(yaml.safe_dump(inputs, allow_unicode=True), encoding="utf-8")
    result = run_anju("score", "--pack", PACK_ID, facts, pythonpath=plugin_dir)
    assert result.returncode == 2, result.output
    assert "指标G1：改造受益户数须大于0" in result.stderr


def test_without_the_plugin_its_pack_is_unknown(tmp_path):
    facts = tmp_path / "in.yaml"
    facts.write_text("{}\n", encoding="utf-8")
    result = run_anju("score", "--pack", PACK_ID, facts)
    assert result.returncode == 2, result.output
    assert f"找不到规则包“{PACK_ID}”" in result.stderr


def test_a_misspelt_hook_name_fails_loudly(tmp_path):
    """A plugin whose hook is misspelt (register_packz) must not be silently ignored: pluggy's
    check_pending stops anju. Written as a bare dist-info + module (no build needed)."""
    site = tmp_path / "site"
    dist_info = site / "anju_misspelt_demo-0.1.0.dist-info"
    dist_info.mkdir(parents=True)
    (site / "anju_misspelt_demo.py").write_text(
        "from engine.hookspecs import hookimpl\n\n\n@hookimpl\ndef register_packz(register):\n    pass\n", encoding="utf-8")
    (dist_info / "METADATA").write_text("Metadata-Version: 2.1\nName: anju-misspelt-demo\nVersion: 0.1.0\n", encoding="utf-8")
    (dist_info / "entry_points.txt").write_text("[anju]\nmisspelt_demo = anju_misspelt_demo\n", encoding="utf-8")
    for args in (("plugins",), ("rules", "check")):
        result = run_anju(*args, pythonpath=site)
        assert result.returncode != 0, result.output
        assert "register_packz" in result.output
        assert "anju_misspelt_demo" in result.output
