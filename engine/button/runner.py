"""What a press of 重新计算 does, whatever the spreadsheet program: shared by the Excel
(xlwings) and the LibreOffice (UNO) buttons.

``run_button(host, alert)`` runs the one engine path (``recalc.recalc_host``, as
``anju recalc`` does) on a live-workbook host and ends with exactly one Chinese
message box. It never raises: an unexpected exception is logged with its
traceback to a UTF-8 file (``log_dir()``), written as a row of the 校验 sheet
when the workbook can still be written, and shown in the message box. xlwings
shows Python's stderr in the ANSI code page, which garbles Chinese, and only
when Python fails; so nothing may escape.
"""

from __future__ import annotations

import datetime as _dt
import os
import sys
import traceback
from pathlib import Path

TITLE = "anju 重新计算"
MAX_LISTED = 6
LOG_NAME = "button.log"
LOG_LIMIT = 1_000_000        # bytes; the log is renamed to button.log.1 beyond this


# --------------------------------------------------------------------------- log

def log_dir() -> Path:
    """%LOCALAPPDATA%\\anju\\logs on Windows, ~/.anju/logs elsewhere (ANJU_LOG_DIR overrides)."""
    if os.environ.get("ANJU_LOG_DIR"):
        return Path(os.environ["ANJU_LOG_DIR"])
    if sys.platform.startswith("win") and os.environ.get("LOCALAPPDATA"):
        return Path(os.environ["LOCALAPPDATA"]) / "anju" / "logs"
    return Path.home() / ".anju" / "logs"


class ButtonLog:
    """Append-only UTF-8 log of button presses. Logging problems are swallowed."""

    def __init__(self, where: str = ""):
        self.where = where
        self.path: Path | None = None

    def write(self, text: str) -> Path | None:
        try:
            self.path = self.path or log_dir() / LOG_NAME
            self.path.parent.mkdir(parents=True, exist_ok=True)
            if self.path.exists() and self.path.stat().st_size > LOG_LIMIT:
                os.replace(self.path, self.path.with_name(LOG_NAME + ".1"))
            stamp = _dt.datetime.now().strftime("%Y-%m-%d %H:%M:%S")
            with open(self.path, "a", encoding="utf-8", newline="\n") as handle:
                handle.write(f"{stamp} [{self.where}] {text.rstrip()}\n")
            return self.path
        except Exception:
            return None

    def exception(self, context: str) -> Path | None:
        return self.write(f"{context}\n{traceback.format_exc()}")


# --------------------------------------------------------------------------- messages

def report_message(report) -> tuple[str, bool]:
    """(Chinese text for the message box, True when it is good news) for a ``RecalcReport``."""
    from ..workbook.recalc import DRY_RUN, RECALCULATED, SKIPPED, UNCHANGED

    findings = list(report.findings)
    if report.status in (RECALCULATED, UNCHANGED, DRY_RUN):
        head = "重新计算完成" if report.status != UNCHANGED else "结果已是最新（输入没有变化，未重新写入）"
        text = f"{head}：总分 {report.total}，等级 {report.grade}。"
        if findings:
            text += f"\n\n“校验”表中有 {len(findings)} 条提示，请查看。"
        return text, True
    if report.status == SKIPPED:
        return ("这个工作簿不是 anju 评分模板（缺少名称 meta_pack_id），无法重新计算。"
                "\n请使用 anju template 生成的模板。"), False
    lines = [str(m) for m in findings] or list(report.messages) or ["未知原因"]
    shown = lines[:MAX_LISTED]
    text = "未能计算，请修改后再点“重新计算”：\n\n" + "\n".join(f"· {line}" for line in shown)
    if len(lines) > len(shown):
        text += f"\n……另有 {len(lines) - len(shown)} 条"
    if report.written:
        text += "\n\n完整列表见“校验”表；得分和评分说明已清空，以免与错误的输入并存。"
    return text, False


def internal_error_text(exc: BaseException, log_path: Path | None) -> str:
    where = f"详细信息已记录在：{log_path}" if log_path else "（无法写入日志文件）"
    return (f"重新计算时发生内部错误（{type(exc).__name__}: {exc}）。工作簿中的数据没有被破坏。\n"
            f"{where}\n请把这个文件和工作簿一起发给技术支持。")


# --------------------------------------------------------------------------- the press

def run_button(host, alert, *, log: ButtonLog | None = None, catalog=None) -> str:
    """Recalculate the live workbook behind ``host`` and show the outcome with ``alert(text, ok)``.

    Returns the text shown. Never raises (not even KeyboardInterrupt/SystemExit).
    """
    log = log or ButtonLog()
    try:
        from ..workbook.recalc import recalc_host

        if catalog is None:
            from ..plugins import catalog as default_catalog
            catalog = default_catalog()
        report = recalc_host(host, catalog)
        text, ok = report_message(report)
        log.write(f"{host.label}: {report.status} {report.total} {report.grade}"
                  + "".join(f"\n  {m}" for m in report.messages))
    except BaseException as exc:      # noqa: BLE001 - the last line of defence, by design
        path = log.exception(f"{getattr(host, 'label', '?')}: 内部错误")
        text, ok = internal_error_text(exc, path), False
        try:
            from ..workbook.livehost import error_rows
            host.write_messages(error_rows(text.replace("\n", " ")))
        except BaseException:         # noqa: BLE001
            log.exception("内部错误未能写入“校验”表")
    show(alert, text, ok, log)
    return text


def show(alert, text: str, ok: bool, log: ButtonLog) -> None:
    try:
        alert(text, ok)
    except BaseException:             # noqa: BLE001
        log.exception(f"无法显示消息框：{text}")


__all__ = ["ButtonLog", "TITLE", "internal_error_text", "log_dir", "report_message", "run_button"]
