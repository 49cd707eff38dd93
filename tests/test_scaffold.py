"""``anju rules new`` (engine.scaffold): a province plugin package that installs, is discovered and passes its tests."""

import dataclasses
import json
import os
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner

from engine.cli import main
from engine.errors import AnjuError
from engine.numbers import fmt
from engine.plugins import Catalog
from engine.scaffold import golden_case, parse_years, region_slug, scaffold
from engine.scoring import evaluate

ROOT = Path(__file__).resolve().parents[1]
CATALOG = Catalog()
NATIONAL = "national-old-community-renovation-program-table"


def parent_id():
    return NATIONAL if NATIONAL in CATALOG.packs else "henan-2020-old-community"


def clean_env():
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV", "PYTHONHOME")}
    env["PYTHONDONTWRITEBYTECODE"] = "1"
    return env


def run(args, cwd, timeout=600):
    return subprocess.run([str(a) for a in args], cwd=cwd, env=clean_env(), capture_output=True, text=True, timeout=timeout)


def test_region_and_years():
    assert region_slug("河南省") == "henan" and region_slug("新疆维吾尔自治区") == "xinjiang" and region_slug("广西壮族自治区") == "guangxi"
    assert region_slug("重庆市") == "chongqing" and region_slug("guangxi") == "guangxi" and region_slug("某某省") is None
    assert parse_years("2025-") == ("2025", "2025-") and parse_years("2025-2027") == ("2025", "2025-2027")
    assert parse_years("2025") == ("2025", "2025")
    with pytest.raises(AnjuError, match="格式不对"):
        parse_years("二〇二五")
    with pytest.raises(AnjuError, match="早于"):
        parse_years("2027-2025")


def test_generated_package_files(tmp_path):
    result = scaffold(CATALOG.pack(parent_id()), "河南省", "2025-", tmp_path)
    assert result.folder == tmp_path / "anju-henan" and result.module == "anju_henan"
    project = tomllib.loads((result.folder / "pyproject.toml").read_text(encoding="utf-8"))
    assert project["project"]["name"] == "anju-henan"
    assert project["project"]["entry-points"]["anju"] == {"henan": "anju_henan"}
    module = (result.folder / "anju_henan" / "__init__.py").read_text(encoding="utf-8")
    assert "@hookimpl" in module and "def register_packs(register)" in module and "importlib.resources" in module
    pack = yaml.safe_load((result.folder / "anju_henan" / "rules" / f"{result.pack_id}.yaml").read_text(encoding="utf-8"))
    assert pack["extends"] == parent_id() and pack["region"] == "河南省" and pack["years"] == "2025-"
    assert pack["id"].startswith("henan-2025-") and len(pack["golden"]) == 1 and "indicators" not in pack
    assert (result.folder / "tests" / "test_anju_henan.py").exists() and "pip install" in (result.folder / "README.md").read_text(encoding="utf-8")


def test_scaffold_passes_rules_check_and_its_own_tests(tmp_path):
    runner = CliRunner()
    made = runner.invoke(main, ["rules", "new", "--extends", parent_id(), "--region", "广西壮族自治区", "--years", "2025-2027",
                                "-o", str(tmp_path)], obj={})
    assert made.exit_code == 0, made.output
    folder = tmp_path / "anju-guangxi"
    rules = folder / "anju_guangxi" / "rules"
    [pack_file] = rules.glob("*.yaml")
    pack_id = yaml.safe_load(pack_file.read_text(encoding="utf-8"))["id"]
    for command in ("check", "test"):
        result = runner.invoke(main, ["--rules-dir", str(rules), "rules", command, pack_id], obj={})
        assert result.exit_code == 0, result.output
    tests = run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", folder / "tests"], cwd=tmp_path)
    assert tests.returncode == 0, tests.stdout + tests.stderr
    assert "4 passed" in tests.stdout


def test_refuses_to_overwrite_and_unknown_regions(tmp_path):
    parent = CATALOG.pack(parent_id())
    scaffold(parent, "河南省", "2025-", tmp_path)
    with pytest.raises(AnjuError, match="已存在"):
        scaffold(parent, "河南省", "2025-", tmp_path)
    scaffold(parent, "河南省", "2025-", tmp_path, force=True)
    with pytest.raises(AnjuError, match="--slug"):
        scaffold(parent, "某某省", "2025-", tmp_path)
    assert scaffold(parent, "某某省", "2025-", tmp_path, slug="moumou").pack_id.startswith("moumou-2025-")


@pytest.mark.parametrize("pack_id", sorted(CATALOG.packs))
def test_generated_golden_case_without_a_parent_case(pack_id):
    """A parent without golden cases still gets a case: inputs meeting every target, scores computed."""
    pack = dataclasses.replace(CATALOG.pack(pack_id), golden=[])
    case = golden_case(pack)
    assert case is not None and "自动生成" in case["title"]
    assert set(case["expected_scores"]) == {i.code for i in pack.indicators}
    assert case["expected_total"] == fmt(evaluate(pack, case["inputs"]).total)


def test_scaffolded_plugin_installs_in_a_fresh_venv(tmp_path):
    """The generated package installs with pip into a fresh venv and its entry point is discovered.

    How: ``python -m venv`` from the base interpreter (no ``--system-site-packages``: nothing of the project's
    venv is visible). anju's declared dependencies (read from pyproject.toml) plus setuptools, wheel and pytest
    are installed from the package index pip is configured with (about 10 s here). anju itself is installed with
    pip from a copy of the working tree (a copy, so no build files land in the shared checkout). The scaffolded
    plugin is then installed with ``pip install --no-deps --no-build-isolation <plugin>`` (a regular, not an
    editable, install: the packaged YAML must come from site-packages). In that venv, ``anju plugins`` must list
    the plugin and its pack from site-packages, ``anju rules check/test`` must pass, and the generated pytest
    file must pass.

    If the index cannot be reached (offline CI; ``ANJU_TEST_OFFLINE=1`` forces this path), the venv instead gets a ``.pth`` line that runs
    ``site.addsitedir`` on the project venv's site-packages, so anju and its dependencies come from there;
    the plugin is still installed into the fresh venv by pip and found through its entry point. Building it
    offline needs ``wheel`` (or setuptools >= 70.1) in the project venv; without either the test is skipped.
    """
    base = getattr(sys, "_base_executable", None) or sys.executable
    venv = tmp_path / "venv"
    made = run([base, "-m", "venv", venv], cwd=tmp_path, timeout=120)
    assert made.returncode == 0, made.stderr
    python = venv / "bin" / "python"
    purelib = run([python, "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"], cwd=tmp_path).stdout.strip()
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    deps = list(project["dependencies"]) + ["setuptools>=68", "wheel", "pytest>=8"]
    offline = os.environ.get("ANJU_TEST_OFFLINE") == "1"       # force the fallback below
    installed = None if offline else run([python, "-m", "pip", "install", "-q", *deps], cwd=tmp_path)
    if installed is not None and installed.returncode == 0:
        source = tmp_path / "anju-src"
        source.mkdir()
        for name in ("engine", "plugins", "rules"):
            shutil.copytree(ROOT / name, source / name, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
        for name in ("pyproject.toml", "README.md"):
            shutil.copy(ROOT / name, source / name)
        anju = run([python, "-m", "pip", "install", "-q", "--no-deps", "--no-build-isolation", source], cwd=tmp_path)
        assert anju.returncode == 0, anju.stdout + anju.stderr
    else:
        import importlib.metadata
        import importlib.util
        import sysconfig
        setuptools_version = tuple(int(x) for x in importlib.metadata.version("setuptools").split(".")[:2])
        if importlib.util.find_spec("wheel") is None and setuptools_version < (70, 1):
            pytest.skip("无法连接软件包索引，且本环境没有 wheel（setuptools < 70.1 不能离线构建 wheel）")
        project_site = sysconfig.get_path("purelib")   # this (the project's) venv
        Path(purelib, "anju_project_venv.pth").write_text(f"import site; site.addsitedir({project_site!r})\n", encoding="utf-8")

    parent = parent_id()
    made = run([python, "-c", "from engine.cli import run; run()", "rules", "new", "--extends", parent, "--region", "河南省",
                "--years", "2025-", "-o", tmp_path / "plugins"], cwd=tmp_path)
    assert made.returncode == 0, made.stdout + made.stderr
    plugin = tmp_path / "plugins" / "anju-henan"
    pip = run([python, "-m", "pip", "install", "-q", "--no-deps", "--no-build-isolation", plugin], cwd=tmp_path)
    assert pip.returncode == 0, pip.stdout + pip.stderr

    cli = [python, "-c", "from engine.cli import run; run()"]
    listed = run(cli + ["plugins", "--json"], cwd=tmp_path)
    assert listed.returncode == 0, listed.stderr
    info = json.loads(listed.stdout)
    assert any(p["name"] == "henan" and p["module"] == "anju_henan" and "register_packs" in p["hooks"] for p in info["plugins"])
    pack = next(p for p in info["packs"] if p["id"] == "henan-2025-old-community")
    assert pack["plugin"] == "henan" and pack["origin"].startswith(purelib), pack
    assert not info["problems"], info["problems"]
    for command in ("check", "test"):
        result = run(cli + ["rules", command, "henan-2025-old-community"], cwd=tmp_path)
        assert result.returncode == 0, result.stdout + result.stderr
    tests = run([python, "-m", "pytest", "-q", "-p", "no:cacheprovider", plugin / "tests"], cwd=tmp_path)
    assert tests.returncode == 0, tests.stdout + tests.stderr
    assert "4 passed" in tests.stdout
