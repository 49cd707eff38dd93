"""End to end in a real spreadsheet host: the LibreOffice button.

``anju button install-libreoffice`` puts the Python-UNO macro (and the “anju”
toolbar) into a fresh profile; ONE headless soffice then opens every scenario
workbook of ``button_scenarios`` (the real button template, filled), presses
the button through the script provider as a toolbar does, saves and closes.
Each saved workbook must hold exactly what ``anju recalc`` writes (UnoHost in
the shared scenario set of ``test_button_hosts.py``), and every press must end
in a Chinese message (returned by the macro; message boxes return at once in
headless mode).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
from decimal import Decimal
from pathlib import Path

import pytest
from click.testing import CliRunner

from button_scenarios import SCENARIOS, anju_recalc, button_workbook, plain_workbook, results
from engine.button import libreoffice as lo
from engine.cli import main
from engine.workbook import names as N

DRIVER = Path(__file__).with_name("lo_button_driver.py")
EXPECTED_MODULES = {"ThisWorkbook", "xlwings", "Dictionary", "AnjuButton"}


def _soffice() -> str:
    import shutil

    found = shutil.which("soffice") or shutil.which("libreoffice")
    if found is None:
        pytest.skip("LibreOffice (soffice) 未安装：跳过 LibreOffice 按钮测试")
    return found


def _python(soffice: str) -> str:
    python = lo.office_python(soffice)
    if python is None or subprocess.run([python, "-c", "import uno"], capture_output=True).returncode != 0:
        pytest.skip("LibreOffice 的 Python-UNO 不可用（python3-uno / libreoffice-script-provider-python）")
    return python


def _run(args: list[str], timeout: int) -> subprocess.CompletedProcess:
    """Our own process group, so a hung soffice is ended with it (and nothing else)."""
    proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True)
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.communicate()
        pytest.fail(f"LibreOffice did not finish within {timeout} s")
    return subprocess.CompletedProcess(args, proc.returncode, out.decode("utf-8", "replace"),
                                       err.decode("utf-8", "replace"))


@pytest.fixture(scope="module")
def session(tmp_path_factory):
    """Install the macro, build the scenario workbooks, run LibreOffice once over all of them."""
    soffice = _soffice()
    python = _python(soffice)
    folder = tmp_path_factory.mktemp("lo-button")
    profile = folder / "profile"
    install = CliRunner().invoke(main, ["button", "install-libreoffice", "--profile", str(profile)], obj={})
    assert install.exit_code == 0, install.output
    files, expected = [], {}
    for scenario in SCENARIOS:
        path = button_workbook(scenario, folder / f"{scenario.name}.xlsm")
        expected[scenario.name] = anju_recalc(path)                  # a copy, recalculated by the CLI
        files.append({"path": str(path), "presses": 2 if scenario.name == "golden" else 1,
                      "inspect": scenario.name == "golden"})
        if scenario.name == "stale":
            files[-1]["before"] = str(folder / "stale-before.xlsm")
    plain = plain_workbook(folder / "plain.xlsx")
    files.append({"path": str(plain), "store": False})
    job = folder / "job.json"
    job.write_text(json.dumps({"soffice": soffice, "profile": str(profile), "script": lo.SCRIPT_URI,
                               "log_dir": str(folder / "logs"), "files": files}, ensure_ascii=False), encoding="utf-8")
    run = _run([python, str(DRIVER), str(job)], timeout=600)
    assert run.returncode == 0, run.stderr[-3000:]
    report = json.loads(run.stdout.strip().splitlines()[-1])
    by_name = {Path(item["path"]).stem: item for item in report["files"]}
    return {"report": report, "by_name": by_name, "expected": expected, "folder": folder, "install": install.output,
            "profile": profile}


def test_install_writes_the_macro_with_the_engine_paths(session):
    macro = session["profile"] / "user" / "Scripts" / "python" / "anju_button.py"
    text = macro.read_text(encoding="utf-8")
    assert "ANJU_PATHS = [\n" in text and "def recalculate(*args)" in text
    assert "检查通过" in session["install"]


def test_the_toolbar_button_calls_the_macro(session):
    assert session["report"]["toolbar"] == [{"url": lo.SCRIPT_URI, "label": "重新计算"}]


@pytest.mark.parametrize("name", [s.name for s in SCENARIOS])
def test_libreoffice_button_writes_what_anju_recalc_writes(session, name):
    saved = Path(session["by_name"][name]["path"])
    got, want = results(saved), results(session["expected"][name])
    # out_scores_sum is =SUM(scores), computed by LibreOffice; when the scores are blank (input errors)
    # that is 0, while anju recalc leaves the formula's cached value blank in the file.
    for shown in (got, want):
        if N.OUT_SCORES_SUM in shown["outputs"] and shown["outputs"][N.OUT_SCORES_SUM] is None:
            shown["outputs"][N.OUT_SCORES_SUM] = Decimal(0)
    assert got == want


def test_every_press_ends_in_a_chinese_message(session):
    texts = {name: item["texts"] for name, item in session["by_name"].items()}
    assert texts["golden"][0].startswith("重新计算完成：总分 89.29，等级 良")
    assert texts["golden"][1].startswith("结果已是最新")
    assert texts["states"][0].startswith("重新计算完成")
    assert texts["bad-input"][0].startswith("未能计算") and "校验" in texts["bad-input"][0]
    assert "no-such-pack" in texts["unknown-pack"][0]
    assert "不是 anju 评分模板" in texts["plain"][0]
    assert "请先在 LibreOffice Calc 中打开" in session["report"]["no_document"]
    log = (session["folder"] / "logs" / "button.log").read_text(encoding="utf-8")
    assert "[libreoffice] golden.xlsm: recalculated 89.29" in log


def test_libreoffice_opens_the_button_template_and_lists_the_modules(session):
    golden = session["by_name"]["golden"]
    modules = {name.split(".", 1)[1] for name in golden["modules"]}
    assert EXPECTED_MODULES <= modules
    assert 'RunPython "import engine.excel_button as b; b.recalculate()"' in golden["modules"]["VBAProject.AnjuButton"]
    sheets = {b["sheet"] for b in golden["buttons"] if b["label"] == "重新计算"}
    assert sheets == {"评分表", "汇总"}


def test_protected_sheets_stay_protected_with_the_same_options(session):
    import openpyxl

    keep = ("sheet", "objects", "scenarios", "formatCells", "formatColumns", "formatRows", "insertColumns",
            "insertRows", "insertHyperlinks", "deleteColumns", "deleteRows", "sort", "autoFilter", "pivotTables",
            "password", "selectLockedCells", "selectUnlockedCells")

    def protection(path):
        wb = openpyxl.load_workbook(path)
        return {ws.title: {k: getattr(ws.protection, k) for k in keep} for ws in wb.worksheets}

    before = protection(session["folder"] / "stale-before.xlsm")       # both as LibreOffice stores them
    after = protection(Path(session["by_name"]["stale"]["path"]))
    assert before["评分表"]["sheet"] and before["校验"]["sheet"]
    assert after == before


def test_the_formulas_of_a_live_template_are_left_to_libreoffice(session, tmp_path):
    from button_scenarios import BY_NAME, formula_outputs

    fresh = button_workbook(BY_NAME["live"], tmp_path / "live.xlsm")
    before = formula_outputs(fresh)
    assert len(before) > 20                                   # every score, rate, subtotal, total, grade
    after = formula_outputs(Path(session["by_name"]["live"]["path"]))
    assert set(after) == set(before)                          # (LibreOffice may respell a formula when saving)
