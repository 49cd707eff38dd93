"""One test suite for the workbook hosts behind the 重新计算 button.

The same scenarios (``button_scenarios``) run through ``FileHost`` (what
``anju recalc`` uses) and through ``XlwingsHost`` on a faithful fake of the few
xlwings calls it makes (``fake_xlwings``); both must leave exactly what
``anju recalc`` leaves. ``UnoHost`` runs the same scenarios inside a real
LibreOffice in ``test_button_libreoffice.py``.

Then the Excel entry point itself: ``engine.excel_button.recalculate()`` with the
fake installed as the ``xlwings`` module, including every error path: each ends
in one Chinese message box, a 校验 row where the workbook can take one, and no
exception.
"""

from __future__ import annotations

import datetime as _dt
import re
import sys
from decimal import Decimal
from pathlib import Path

import pytest

import fake_xlwings as fx
from button_scenarios import (BY_NAME, CATALOG, SCENARIOS, anju_recalc, button_workbook, formula_outputs,
                              plain_workbook, results)
from engine import excel_button
from engine.button import xlsm
from engine.button.runner import TITLE, report_message
from engine.workbook import names as N
from engine.workbook.host import FileHost
from engine.workbook.livehost import blocks
from engine.workbook.recalc import FAILED, RECALCULATED, SKIPPED, UNCHANGED, recalc_host
from engine.workbook.xlwings_host import XlwingsHost, excel_value

NOW = _dt.datetime(2024, 5, 6, 7, 8, 9)


# --------------------------------------------------------------------------- hosts under test

class FileSide:
    """``FileHost`` on the closed file (the ``anju recalc`` path)."""

    computes_formulas = True          # (it writes the engine's value as the formula's cached value)

    def __init__(self, path: Path):
        self.path = path

    def host(self):
        return FileHost(self.path)

    def saved(self) -> Path:
        return self.path


class XlwingsSide:
    """``XlwingsHost`` on the fake Excel; ``saved()`` writes the fake's workbook to disk.
    The fake has no calculation engine: formula outputs are Excel's to compute, so they are
    checked to be left as they were instead of compared."""

    computes_formulas = False

    def __init__(self, path: Path):
        self.path = path
        self.book = fx.FakeBook.open(path, name="评价模板（2024）.xlsm")

    def host(self):
        return XlwingsHost(self.book)

    def saved(self) -> Path:
        out = self.saved_path()
        self.book.save(out)
        return out

    def saved_path(self) -> Path:
        return self.path.with_name("xlwings-" + self.path.name)


SIDES = {"file": FileSide, "xlwings": XlwingsSide}


@pytest.fixture(scope="module")
def workbooks(tmp_path_factory) -> dict:
    """{scenario name: (filled button template, what `anju recalc` made of a copy of it)}."""
    folder = tmp_path_factory.mktemp("scenarios")
    made = {}
    for scenario in SCENARIOS:
        source = button_workbook(scenario, folder / f"{scenario.name}.xlsm")
        made[scenario.name] = (source, anju_recalc(source))
    source = plain_workbook(folder / "plain.xlsx")
    made["plain"] = (source, anju_recalc(source))
    return made


@pytest.fixture(params=sorted(SIDES))
def side_factory(request, tmp_path, workbooks):
    def make(name: str):
        source = workbooks[name][0]
        copy = tmp_path / source.name
        copy.write_bytes(source.read_bytes())
        return SIDES[request.param](copy)
    make.kind = request.param
    return make


# --------------------------------------------------------------------------- the shared suite

@pytest.mark.parametrize("name", [s.name for s in SCENARIOS])
def test_each_host_leaves_what_anju_recalc_leaves(side_factory, workbooks, name):
    side = side_factory(name)
    report = recalc_host(side.host(), CATALOG, now=NOW)
    assert report.status == BY_NAME[name].status, report.messages
    assert comparable(side, side.saved()) == comparable(side, workbooks[name][1])


def comparable(side, path: Path) -> dict:
    """``results`` without the formula outputs when the host leaves them to a calculation engine
    (after checking that it did leave them: the formulas are still there)."""
    shown = results(path)
    if not side.computes_formulas:
        formulas = formula_outputs(side.path)
        assert formulas, "every template has at least out_scores_sum"
        if path == side.saved_path():
            assert formula_outputs(path) == formulas
        for name in formulas:
            shown["outputs"].pop(name, None)
    return shown


def test_scores_are_the_engine_scores(side_factory):
    side = side_factory("golden")
    report = recalc_host(side.host(), CATALOG, now=NOW)
    got = results(side.saved())["outputs"]
    pack = CATALOG.pack("hejing-2022-third-party")
    for code, expected in pack.golden[0]["expected_scores"].items():
        assert got[N.score_name(code)] == Decimal(expected).normalize(), code
    assert (got[N.OUT_TOTAL], got[N.OUT_GRADE]) == (Decimal("89.29"), "良")
    assert report.total == "89.29"


def test_second_run_is_unchanged_and_writes_nothing(side_factory):
    side = side_factory("golden")
    assert recalc_host(side.host(), CATALOG, now=NOW).status == RECALCULATED
    before = side.saved().read_bytes() if side_factory.kind == "file" else None
    writes = len(side.book.writes()) if side_factory.kind == "xlwings" else None
    again = recalc_host(side.host(), CATALOG, now=NOW + _dt.timedelta(hours=1))
    assert again.status == UNCHANGED
    if before is not None:
        assert side.saved().read_bytes() == before
    else:
        assert len(side.book.writes()) == writes


def test_fixing_the_input_clears_the_problems(side_factory, tmp_path):
    side = side_factory("bad-input")
    first = recalc_host(side.host(), CATALOG, now=NOW)
    assert first.status == FAILED and first.written
    shown = results(side.saved())
    assert any("B202" in (row[2] or "") or "两千" in row[3] for row in shown["messages"] if row[3]), shown["messages"]
    assert shown["outputs"][N.OUT_TOTAL] is None
    assert str(shown["outputs"][N.explain_name("B202")]).startswith("输入有误")
    # the user corrects the two cells, as in Excel or in the file
    good = {N.input_name("B202", "actual"): Decimal("2000.0052"), N.input_name("B204", "count"): 0}
    if side_factory.kind == "file":
        from engine.workbook.reader import read_workbook
        from engine.workbook.xlsxpatch import patch_cells
        data = read_workbook(side.path)
        edits: dict = {}
        for name, value in good.items():
            sheet, ref = data.area_of(name)
            edits.setdefault(sheet, {})[ref] = value
        patch_cells(side.path, edits)
    else:
        for name, value in good.items():
            sheet, ref = fx_destination(side.book, name)
            side.book.wb[sheet][ref].value = float(value)
    second = recalc_host(side.host(), CATALOG, now=NOW)
    assert second.status == RECALCULATED, second.messages
    fixed = results(side.saved())
    assert fixed["messages"] == []
    assert fixed["outputs"][N.OUT_TOTAL] == Decimal("89.29")


def test_a_workbook_that_is_not_anju_is_skipped(side_factory):
    side = side_factory("plain")
    report = recalc_host(side.host(), CATALOG, now=NOW)
    assert report.status == SKIPPED and not report.written


def test_protected_sheets_stay_protected_with_the_same_options(side_factory):
    side = side_factory("golden")
    import openpyxl

    def protection(path):
        wb = openpyxl.load_workbook(path)
        keep = ("sheet", "objects", "scenarios", "formatCells", "formatColumns", "formatRows", "insertColumns",
                "insertRows", "insertHyperlinks", "deleteColumns", "deleteRows", "sort", "autoFilter", "pivotTables",
                "password")
        return {ws.title: {k: getattr(ws.protection, k) for k in keep} for ws in wb.worksheets}

    before = protection(side.path)
    assert before["评分表"]["sheet"] and before["汇总"]["sheet"] and before["校验"]["sheet"]
    assert recalc_host(side.host(), CATALOG, now=NOW).status == RECALCULATED
    assert protection(side.saved()) == before


# --------------------------------------------------------------------------- the xlwings host in detail

def fx_destination(book, name):
    for defined in book.names:
        if defined.name == name:
            sheet, ref = defined.refers_to.lstrip("=").replace("$", "").split("!")
            return sheet.strip("'"), ref
    raise KeyError(name)


@pytest.fixture
def golden_book(tmp_path, workbooks):
    copy = tmp_path / "golden.xlsm"
    copy.write_bytes(workbooks["golden"][0].read_bytes())
    return fx.FakeBook.open(copy, name="评价模板（2024）.xlsm")


def test_reads_are_one_block_per_sheet_and_writes_are_blocks(golden_book):
    report = recalc_host(XlwingsHost(golden_book), CATALOG, now=NOW)
    assert report.status == RECALCULATED
    reads = [c for c in golden_book.calls if c[0] in ("get value", "get formula")]
    sheets = {c[1] for c in reads}
    assert len(reads) == 2 * len(sheets) <= 2 * 5, reads
    writes = golden_book.writes()
    assert ("set value", "校验", "A2:D201") in writes           # all 校验 rows in one call
    assert ("set value", "汇总", "D5:E8") in writes or any(w[1] == "汇总" and ":" in w[2] for w in writes)
    pack = CATALOG.pack("hejing-2022-third-party")
    # at most: one attempted block per indicator, then single cells where Excel refuses a block
    assert len(writes) <= 4 * len(pack.indicators) + 10
    assert golden_book.app.screen_updating is True
    assert golden_book.app.screen_updating_history[0] is False


def test_names_excel_reports_sheet_local_or_broken_are_ignored(golden_book):
    from openpyxl.workbook.defined_name import DefinedName

    golden_book.wb.defined_names["broken_name"] = DefinedName("broken_name", attr_text="#REF!")
    golden_book.wb["评分表"].defined_names["out_total"] = DefinedName("out_total", attr_text="'评分表'!$A$1")
    assert recalc_host(XlwingsHost(golden_book), CATALOG, now=NOW).status == RECALCULATED
    assert golden_book.wb["评分表"]["A1"].value != Decimal("89.29")
    assert golden_book.wb["汇总"][fx_destination(golden_book, N.OUT_TOTAL)[1]].value == 89.29


@pytest.mark.parametrize("text", ["=1+1", "+86 10", "-5", "001", "1/2", "2024-01-02", "50%", "TRUE", "'引号", "#N/A",
                                  "1e3", "普通的说明文字", "J12"])
def test_text_stays_text_in_excel(text):
    ws_book = fx.FakeBook(__import__("openpyxl").Workbook())
    sheet = ws_book.sheets[0]
    sheet.range("A1").value = excel_value(text)
    assert ws_book.wb.active["A1"].value == text


def test_decimals_never_reach_com_as_currency():
    assert excel_value(Decimal("1.23456")) == 1.23456 and isinstance(excel_value(Decimal("1.23456")), float)
    assert excel_value(Decimal("5")) == 5 and isinstance(excel_value(Decimal("5")), int)
    assert excel_value(None) is None and excel_value(True) is True


def test_blocks_cover_exactly_the_given_cells():
    cells = {"L5": 1, "M5": 2, "N5": "a", "L9": 3, "M9": 4, "N9": "b", "D5": 1, "E5": 2, "D6": 3, "E6": 4, "D7": 5,
             "A2": "x", "B2": None, "A3": "y", "B3": None}
    got = blocks(cells)
    assert ("D5:E6", [[1, 2], [3, 4]]) in got and ("D7", [[5]]) in got
    assert ("A2:B3", [["x", None], ["y", None]]) in got
    assert ("L5:N5", [[1, 2, "a"]]) in got and ("L9:N9", [[3, 4, "b"]]) in got
    covered = set()
    from engine.workbook.reader import area_cells
    for where, rows in got:
        for row in area_cells(where):
            covered.update(row)
    assert covered == set(cells)


# --------------------------------------------------------------------------- the entry point

@pytest.fixture
def logs(tmp_path, monkeypatch):
    folder = tmp_path / "logs"
    monkeypatch.setenv("ANJU_LOG_DIR", str(folder))
    return folder


def install_fake(monkeypatch, book=None, **options):
    monkeypatch.setitem(sys.modules, "xlwings", fx.module(book, **options))


def only_alert(book) -> dict:
    assert len(book.app.alerts) == 1, book.app.alerts
    alert = book.app.alerts[0]
    assert alert["title"] == TITLE and alert["buttons"] == "ok"
    return alert


def test_button_press_recalculates_the_calling_book_like_anju_recalc(golden_book, monkeypatch, logs, workbooks):
    install_fake(monkeypatch, golden_book)
    assert excel_button.recalculate() is None
    alert = only_alert(golden_book)
    assert alert["mode"] == "info"
    assert alert["prompt"].startswith("重新计算完成：总分 89.29，等级 良")
    out = logs.parent / "after.xlsm"
    golden_book.save(out)
    got, want = results(out), results(workbooks["golden"][1])
    assert got["outputs"].pop(N.OUT_SCORES_SUM) is None          # a formula: Excel computes it
    want["outputs"].pop(N.OUT_SCORES_SUM)
    assert got == want
    assert "recalculated 89.29" in (logs / "button.log").read_text(encoding="utf-8")


def test_second_press_says_up_to_date(golden_book, monkeypatch, logs):
    install_fake(monkeypatch, golden_book)
    excel_button.recalculate()
    excel_button.recalculate()
    assert golden_book.app.alerts[1]["prompt"].startswith("结果已是最新")


def test_input_errors_end_in_a_chinese_alert_and_the_checks_sheet(tmp_path, workbooks, monkeypatch, logs):
    copy = tmp_path / "bad.xlsm"
    copy.write_bytes(workbooks["bad-input"][0].read_bytes())
    book = fx.FakeBook.open(copy)
    install_fake(monkeypatch, book)
    excel_button.recalculate()
    alert = only_alert(book)
    assert alert["mode"] == "critical"
    assert alert["prompt"].startswith("未能计算")
    assert "B204" in alert["prompt"] or "评分表!" in alert["prompt"]
    assert "校验" in alert["prompt"]
    out = tmp_path / "after.xlsm"
    book.save(out)
    got, want = results(out), results(workbooks["bad-input"][1])
    for shown in (got, want):
        shown["outputs"].pop(N.OUT_SCORES_SUM)
    assert got == want


def test_unknown_pack_is_an_alert_too(tmp_path, workbooks, monkeypatch, logs):
    copy = tmp_path / "unknown.xlsm"
    copy.write_bytes(workbooks["unknown-pack"][0].read_bytes())
    book = fx.FakeBook.open(copy)
    install_fake(monkeypatch, book)
    excel_button.recalculate()
    alert = only_alert(book)
    assert alert["mode"] == "critical" and "no-such-pack" in alert["prompt"]


def test_not_an_anju_workbook(tmp_path, workbooks, monkeypatch, logs):
    book = fx.FakeBook.open(workbooks["plain"][0])
    install_fake(monkeypatch, book)
    excel_button.recalculate()
    alert = only_alert(book)
    assert alert["mode"] == "critical" and "不是 anju 评分模板" in alert["prompt"]


@pytest.mark.parametrize("error", [RuntimeError("引擎出错"), KeyboardInterrupt(), SystemExit(3)])
def test_an_internal_error_is_logged_alerted_and_written_never_raised(golden_book, monkeypatch, logs, error):
    def boom(*args, **kwargs):
        raise error

    monkeypatch.setattr("engine.workbook.recalc.evaluate", boom)
    install_fake(monkeypatch, golden_book)
    excel_button.recalculate()                                  # must not raise
    alert = only_alert(golden_book)
    assert alert["mode"] == "critical" and "内部错误" in alert["prompt"]
    log = (logs / "button.log").read_text(encoding="utf-8")
    assert "Traceback" in log and type(error).__name__ in log
    assert str(logs / "button.log") in alert["prompt"]
    sheet, ref = fx_destination(golden_book, N.OUT_MESSAGES)
    first = ref.split(":")[0]
    ws = golden_book.wb[sheet]
    assert ws[first].value == "错误"
    assert "内部错误" in ws.cell(ws[first].row, ws[first].column + 3).value


def test_a_password_protected_sheet_is_reported_not_raised(tmp_path, workbooks, monkeypatch, logs):
    copy = tmp_path / "locked.xlsm"
    copy.write_bytes(workbooks["golden"][0].read_bytes())
    book = fx.FakeBook.open(copy, password_sheets={"评分表": "secret"})
    install_fake(monkeypatch, book)
    excel_button.recalculate()
    alert = only_alert(book)
    assert alert["mode"] == "critical" and "保护密码" in alert["prompt"]
    assert book.wb["评分表"].protection.sheet


def test_a_failing_alert_falls_back_without_raising(golden_book, monkeypatch, logs, capsys):
    def broken(*args, **kwargs):
        raise fx.ComError("RPC server unavailable")

    golden_book.app.alert = broken
    install_fake(monkeypatch, golden_book)
    excel_button.recalculate()
    assert "重新计算完成" in capsys.readouterr().out
    assert "book.app.alert" in (logs / "button.log").read_text(encoding="utf-8")


def test_a_broken_installation_is_an_alert_not_a_traceback(golden_book, monkeypatch, logs):
    monkeypatch.setitem(sys.modules, "engine.workbook.xlwings_host", None)   # import fails
    install_fake(monkeypatch, golden_book)
    excel_button.recalculate()
    alert = only_alert(golden_book)
    assert alert["mode"] == "critical" and "内部错误" in alert["prompt"]


def test_book_caller_failing_is_reported_without_raising(monkeypatch, logs, capsys):
    install_fake(monkeypatch, None, caller_error=KeyError("评价=模板.xlsm"))
    monkeypatch.setattr(sys, "argv", ["-c", "--wb=评价=模板.xlsm", "--from_xl=1"])
    excel_button.recalculate()
    out = capsys.readouterr().out
    assert "无法连接到调用按钮的 Excel 工作簿" in out and "改名" in out


def test_missing_xlwings_is_reported_without_raising(monkeypatch, logs, capsys):
    monkeypatch.setitem(sys.modules, "xlwings", None)          # import xlwings -> ImportError
    excel_button.recalculate()
    assert "无法加载 xlwings" in capsys.readouterr().out


def test_a_different_xlwings_version_is_a_warning_in_the_checks_sheet(golden_book, monkeypatch, logs):
    install_fake(monkeypatch, golden_book, version="0.30.0")
    excel_button.recalculate()
    alert = only_alert(golden_book)
    assert alert["mode"] == "info" and "1 条提示" in alert["prompt"]
    sheet, ref = fx_destination(golden_book, N.OUT_MESSAGES)
    texts = [golden_book.wb[sheet].cell(r, 4).value for r in range(2, 6)]
    assert any(t and "0.30.0" in t and xlsm.PINNED_XLWINGS_VERSION in t for t in texts), texts


def test_book_caller_is_only_called_inside_the_function():
    import ast

    tree = ast.parse(Path(excel_button.__file__).read_text(encoding="utf-8"))
    outside = [node for node in tree.body if not isinstance(node, (ast.FunctionDef, ast.ClassDef))]
    assert not [n for node in outside for n in ast.walk(node) if isinstance(n, ast.Attribute) and n.attr == "caller"]
    recalculate = next(n for n in tree.body if isinstance(n, ast.FunctionDef) and n.name == "recalculate")
    assert any(isinstance(n, ast.Attribute) and n.attr == "caller" for n in ast.walk(recalculate))


def test_the_pins_agree():
    assert excel_button.PINNED_XLWINGS_VERSION == xlsm.PINNED_XLWINGS_VERSION == fx.VERSION
    assert xlsm.RUNPYTHON_COMMAND == "import engine.excel_button as b; b.recalculate()"
    assert xlsm.RUNPYTHON_COMMAND.isascii()


def test_report_messages_are_chinese_for_every_status():
    from engine.workbook.recalc import RecalcReport
    from engine.workbook.reader import Message

    for status in ("recalculated", "unchanged", "failed", "skipped"):
        report = RecalcReport(path="x", status=status, total="1", grade="优",
                              findings=[Message(Message.ERROR, "评分表", "J5", "不是数字")] * 9)
        text, ok = report_message(report)
        assert ok == (status in ("recalculated", "unchanged"))
        assert re.search(r"[\u4e00-\u9fff]", text)
    assert "另有 3 条" in report_message(RecalcReport(path="x", status="failed",
                                                      findings=[Message("错误", "", "", "x")] * 9))[0]
