"""Workbooks for the button tests: one set of scenarios, run through every host
(``anju recalc``/FileHost, XlwingsHost on the fake, UnoHost in LibreOffice) and
compared with what ``anju recalc`` writes.

Every scenario workbook is the real button template (``anju template --button``)
filled through the defined names with openpyxl before the macro-enabled
conversion, as a provincial system would fill the plain template.
"""

from __future__ import annotations

import io
import shutil
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

import openpyxl
from click.testing import CliRunner

from engine.button import xlsm
from engine.button.build import BUTTON_CELLS
from engine.cli import main
from engine.plugins import catalog
from engine.workbook import names as N
from engine.workbook.reader import read_workbook
from engine.workbook.recalc import stamp_key
from engine.workbook.template import build_template
from workbook_support import fill, put

CATALOG = catalog()


@dataclass(frozen=True)
class Scenario:
    name: str
    pack_id: str
    status: str              # what anju recalc reports
    note: str = ""


SCENARIOS = [
    Scenario("golden", "hejing-2022-third-party", "recalculated", "bool, category, count, number, survey answers"),
    Scenario("parts", "henan-2020-old-community", "recalculated", "composite parts, days, percent"),
    Scenario("stale", "hejing-2022-third-party", "recalculated", "old results and old 校验 rows are replaced"),
    Scenario("states", "hejing-2022-third-party", "recalculated", "无任务 / 无数据 instead of inputs"),
    Scenario("bad-input", "hejing-2022-third-party", "failed", "text in a number cell, a negative count"),
    Scenario("unknown-pack", "hejing-2022-third-party", "failed", "meta_pack_id names no pack"),
]
BY_NAME = {s.name: s for s in SCENARIOS}


def _prepare(wb, scenario: Scenario, pack) -> None:
    inputs = pack.golden[0]["inputs"]
    fill(wb, pack, inputs)
    if scenario.name == "stale":
        put(wb, N.OUT_TOTAL, 12.5)
        put(wb, N.OUT_GRADE, "差")
        put(wb, N.score_name(pack.indicators[0].code), 99)
        put(wb, N.explain_name(pack.indicators[0].code), "旧的说明")
        ws = wb["校验"]
        for row in range(2, 6):
            for col, text in enumerate(("错误", "评分表", f"J{row}", f"旧的问题 {row}"), 1):
                ws.cell(row, col, text)
    elif scenario.name == "states":
        put(wb, N.status_name("C201"), "无任务")
        put(wb, N.input_name("C201", "actual"), None)
        put(wb, N.input_name("C201", "target"), None)
        put(wb, N.status_name("B202"), "无数据")
    elif scenario.name == "bad-input":
        put(wb, N.input_name("B202", "actual"), "两千")
        put(wb, N.input_name("B204", "count"), -1)
    elif scenario.name == "unknown-pack":
        put(wb, N.meta_name("pack_id"), "no-such-pack")


def button_workbook(scenario: Scenario, path: Path) -> Path:
    """The scenario's filled button template (.xlsm) at ``path``."""
    pack = CATALOG.pack(scenario.pack_id)
    wb = build_template(pack)
    _prepare(wb, scenario, pack)
    xlsm.add_xlwings_conf_sheet(wb)
    buffer = io.BytesIO()
    wb.save(buffer)
    path.write_bytes(xlsm.make_macro_enabled(buffer.getvalue(), button_sheets=BUTTON_CELLS))
    return path


def plain_workbook(path: Path) -> Path:
    """Not an anju workbook: no names at all."""
    wb = openpyxl.Workbook()
    wb.active.title = "评分表"
    wb.active["A1"] = "随便一个表"
    wb.save(path)
    return path


def anju_recalc(path: Path) -> Path:
    """Run the ``anju recalc`` command on a copy; returns the copy."""
    copy = path.with_name("cli-" + path.name)
    shutil.copyfile(path, copy)
    result = CliRunner().invoke(main, ["recalc", str(copy)], obj={})
    assert result.exit_code in (0, 2), result.output
    return copy


def results(path: Path) -> dict:
    """What a recalculation left in a workbook: every out_ value (the stamp without its time)
    and the 校验 rows."""
    data = read_workbook(path, outputs=True)
    outputs = dict(data.outputs)
    if N.OUT_STAMP in outputs:
        outputs[N.OUT_STAMP] = stamp_key(outputs[N.OUT_STAMP])
    for key, value in outputs.items():
        if isinstance(value, Decimal):
            outputs[key] = value.normalize()
    return {"outputs": outputs, "messages": [values for _, values in data.messages]}


__all__ = ["BY_NAME", "CATALOG", "SCENARIOS", "Scenario", "anju_recalc", "button_workbook", "plain_workbook", "results"]
