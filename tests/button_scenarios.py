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
from engine.errors import PackError
from engine.plugins import catalog
from engine.workbook import names as N
from engine.workbook.reader import read_workbook
from engine.workbook.recalc import stamp_key
from engine.workbook.template import build_template
from engine.workbook.xlsxpatch import patch_cells
from workbook_support import fill

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
    Scenario("live", "hejing-2022-third-party", "recalculated", "anju template --live: formulas in the outputs"),
]
BY_NAME = {s.name: s for s in SCENARIOS}


_BASE: dict[tuple, bytes] = {}


def base_button_workbook(pack_id: str, live: bool = False) -> bytes:
    """The pack's button template filled with its first golden case (built once per process:
    openpyxl needs about two seconds for a template)."""
    if (pack_id, live) not in _BASE:
        pack = CATALOG.pack(pack_id)
        wb = build_template(pack, live=live)
        fill(wb, pack, pack.golden[0]["inputs"])
        xlsm.add_xlwings_conf_sheet(wb)
        buffer = io.BytesIO()
        wb.save(buffer)
        _BASE[(pack_id, live)] = xlsm.make_macro_enabled(buffer.getvalue(), button_sheets=BUTTON_CELLS)
    return _BASE[(pack_id, live)]


def edit_by_names(path: Path, values: dict, cells: dict | None = None) -> None:
    """Change cells of a closed workbook by defined name (and ``{sheet: {ref: value}}``), surgically."""
    data = read_workbook(path, CATALOG.pack("hejing-2022-third-party"))
    edits: dict = {sheet: dict(refs) for sheet, refs in (cells or {}).items()}
    for name, value in values.items():
        sheet, ref = data.area_of(name)
        edits.setdefault(sheet, {})[ref.split(":")[0]] = value
    patch_cells(path, edits)


def button_workbook(scenario: Scenario, path: Path) -> Path:
    """The scenario's filled button template (.xlsm) at ``path``."""
    path.write_bytes(base_button_workbook(scenario.pack_id, live=scenario.name == "live"))
    first = CATALOG.pack(scenario.pack_id).indicators[0].code
    if scenario.name == "stale":
        old_rows = {f"{col}{row}": text for row in range(2, 6)
                    for col, text in zip("ABCD", ("错误", "评分表", f"J{row}", f"旧的问题 {row}"))}
        edit_by_names(path, {N.OUT_TOTAL: Decimal("12.5"), N.OUT_GRADE: "差", N.score_name(first): 99,
                             N.explain_name(first): "旧的说明"}, {"校验": old_rows})
    elif scenario.name == "states":
        edit_by_names(path, {N.status_name("C201"): "无任务", N.input_name("C201", "actual"): None,
                             N.input_name("C201", "target"): None, N.status_name("B202"): "无数据"})
    elif scenario.name == "bad-input":
        edit_by_names(path, {N.input_name("B202", "actual"): "两千", N.input_name("B204", "count"): -1})
    elif scenario.name == "unknown-pack":
        edit_by_names(path, {N.meta_name("pack_id"): "no-such-pack"})
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


def formula_outputs(path: Path) -> dict:
    """{out_ name: formula} of the output cells that hold a formula (computed by the spreadsheet program)."""
    wb = openpyxl.load_workbook(path)
    found = {}
    for name, defined in wb.defined_names.items():
        if not name.lower().startswith("out_"):
            continue
        for sheet, ref in defined.destinations:
            value = wb[sheet][ref.replace("$", "").split(":")[0]].value
            if isinstance(value, str) and value.startswith("="):
                found[name] = value
    return found


def results(path: Path) -> dict:
    """What a recalculation left in a workbook: every out_ value (the stamp without its time)
    and the 校验 rows."""
    try:
        data = read_workbook(path, outputs=True)
    except PackError:                      # the unknown-pack scenario: read its cells with the real pack
        data = read_workbook(path, CATALOG.pack("hejing-2022-third-party"), outputs=True)
    outputs = dict(data.outputs)
    if N.OUT_STAMP in outputs:
        outputs[N.OUT_STAMP] = stamp_key(outputs[N.OUT_STAMP])
    for key, value in outputs.items():
        if isinstance(value, Decimal):
            outputs[key] = value.normalize()
    return {"outputs": outputs, "messages": [values for _, values in data.messages]}


__all__ = ["BY_NAME", "CATALOG", "SCENARIOS", "Scenario", "anju_recalc", "button_workbook", "formula_outputs",
           "plain_workbook", "results"]
