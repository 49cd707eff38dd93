"""``anju template --button``: the macro-enabled template with the 重新计算 button.

The standard template (``engine.workbook.template.build_template``) plus the
very-hidden ``xlwings.conf`` sheet, saved by openpyxl to bytes and converted by
``engine.button.xlsm.make_macro_enabled`` (VBA project with the xlwings standalone
module and ``AnjuButton.bas``, form buttons on 评分表 and 汇总), then written
atomically (temporary file + rename).
"""

from __future__ import annotations

import io
import os
from pathlib import Path

from ..workbook.template import SHEET_SCORES, SHEET_SUMMARY, TemplateError, build_template
from . import xlsm

# Top-left cell of each button: right of the titles, inside the frozen header rows of 评分表.
BUTTON_CELLS = {SHEET_SCORES: "M2", SHEET_SUMMARY: "F2"}


def button_template_bytes(pack, *, interpreter_win: str | None = None, interpreter_mac: str | None = None,
                          live: bool = False) -> bytes:
    """The .xlsm bytes of a pack's template with the button (deterministic for a pack).
    ``live``: with the compiled formulas in the output cells (``anju template --live``)."""
    workbook = build_template(pack, live=live)
    options = {}
    if interpreter_win:
        options["interpreter_win"] = interpreter_win
    if interpreter_mac:
        options["interpreter_mac"] = interpreter_mac
    xlsm.add_xlwings_conf_sheet(workbook, **options)
    buffer = io.BytesIO()
    workbook.save(buffer)
    try:
        return xlsm.make_macro_enabled(buffer.getvalue(), button_sheets=BUTTON_CELLS)
    except xlsm.XlwingsVersionError:
        raise
    except (ValueError, OSError) as exc:
        raise TemplateError(f"无法生成带“重新计算”按钮的模板：{exc}") from exc


def write_button_template(pack, path, *, overwrite: bool = False, interpreter_win: str | None = None,
                          live: bool = False) -> Path:
    """Generate the button template and save it to ``path`` (.xlsm)."""
    path = Path(path)
    if path.suffix.lower() != ".xlsm":
        raise TemplateError(f"带按钮的模板是启用宏的工作簿，文件名应以 .xlsm 结尾（收到“{path.name}”）")
    if path.exists() and not overwrite:
        raise TemplateError(f"文件“{path}”已存在；如需覆盖请加 --force")
    if not path.parent.exists():
        raise TemplateError(f"文件夹“{path.parent}”不存在")
    data = button_template_bytes(pack, interpreter_win=interpreter_win, live=live)
    temp = path.with_name(f".~anju-{path.name}")
    try:
        temp.write_bytes(data)
        os.replace(temp, path)
    except OSError as exc:
        temp.unlink(missing_ok=True)
        raise TemplateError(f"无法保存“{path}”：{exc.strerror or exc}") from exc
    return path


__all__ = ["BUTTON_CELLS", "button_template_bytes", "write_button_template"]
