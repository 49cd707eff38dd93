"""The 重新计算 button in Excel: ``RunPython "import engine.excel_button as b; b.recalculate()"``.

The macro ``AnjuRecalculate`` (``engine/button/AnjuButton.bas``) calls xlwings'
``RunPython`` with that literal, ASCII-only command. xlwings starts the
interpreter named in the workbook's ``xlwings.conf`` sheet with
``--wb=<workbook> --from_xl=1 --hwnd=<Excel window>``; ``xw.Book.caller()``
finds the open workbook from those arguments.

The workbook is open, so nothing is patched on disk: ``XlwingsHost`` reads the
inputs and writes the outputs through xlwings by the same defined names, and
``runner.run_button`` runs the same engine path as ``anju recalc``. The file
is not saved; the user saves (and Ctrl+Z cannot undo the writes: Excel clears
its undo stack when a macro changes cells).

Every outcome is one Chinese message box (``book.app.alert``, a Unicode
``MessageBoxW`` on Windows); errors are also written to the 校验 sheet, and
tracebacks go to a UTF-8 log (``runner.log_dir()``). ``recalculate()`` never
raises, so the Python process always exits 0 and xlwings never shows its
(ANSI-garbled) stderr dialog.
"""

from __future__ import annotations

import sys

from .button.runner import TITLE, ButtonLog, run_button   # standard library only at import time

# = engine.button.xlsm.PINNED_XLWINGS_VERSION (a test checks they agree). Not imported from there:
# this module must import even when a dependency is broken, so that the error becomes a message box.
PINNED_XLWINGS_VERSION = "0.37.8"
RISKY_NAME_CHARACTERS = "=&%^!"       # cmd.exe / Book.caller() ("--wb=" is split at '=')


def recalculate() -> None:
    """Entry point of the button. Never raises."""
    log = ButtonLog("excel")
    try:
        import xlwings as xw
    except BaseException as exc:      # noqa: BLE001
        log.exception("import xlwings")
        native_alert(f"无法加载 xlwings（{type(exc).__name__}: {exc}）。"
                     f"请按部署说明安装 xlwings=={PINNED_XLWINGS_VERSION}。", ok=False)
        return
    try:
        book = xw.Book.caller()       # inside the function, never at module level (zombie Excel)
    except BaseException as exc:      # noqa: BLE001
        log.exception("xw.Book.caller()")
        names = [a for a in sys.argv if a.startswith("--wb=")]
        hint = ""
        if any(ch in (names[0] if names else "") for ch in RISKY_NAME_CHARACTERS):
            hint = f"工作簿文件名中不能含有 {' '.join(RISKY_NAME_CHARACTERS)} 等字符，请改名后重试。"
        native_alert(f"无法连接到调用按钮的 Excel 工作簿（{type(exc).__name__}: {exc}）。{hint}", ok=False)
        return
    try:
        press(book, xlwings_version=getattr(xw, "__version__", ""), log=log)
    except BaseException:             # noqa: BLE001 - press() does not raise; belt and braces
        log.exception("press()")


def press(book, *, xlwings_version: str = PINNED_XLWINGS_VERSION, log: ButtonLog | None = None,
          catalog=None) -> str:
    """Recalculate an xlwings ``Book`` and show the outcome; returns the message shown. Never raises."""
    log = log or ButtonLog("excel")
    alert = book_alert(book, log)
    try:
        from .workbook.reader import Message
        from .workbook.xlwings_host import XlwingsHost

        notes = []
        if xlwings_version != PINNED_XLWINGS_VERSION:
            notes.append(Message(Message.WARNING, "", "",
                                 f"本机的 xlwings 版本为 {xlwings_version or '未知'}，模板要求 {PINNED_XLWINGS_VERSION}；"
                                 f"如按钮工作不正常，请按部署说明安装 xlwings=={PINNED_XLWINGS_VERSION}"))
        name = str(getattr(book, "name", ""))
        if any(ch in name for ch in RISKY_NAME_CHARACTERS):
            notes.append(Message(Message.WARNING, "", "",
                                 f"工作簿文件名“{name}”含有 {' '.join(RISKY_NAME_CHARACTERS)} 之一，"
                                 f"按钮在某些情况下会找不到工作簿，建议改名"))
        host = XlwingsHost(book, notes=notes)
    except BaseException as exc:      # noqa: BLE001 - e.g. a broken installation
        from .button.runner import internal_error_text
        text = internal_error_text(exc, log.exception("press()"))
        alert(text, False)
        return text
    return run_button(host, alert, log=log, catalog=catalog)


def book_alert(book, log: ButtonLog):
    def alert(text: str, ok: bool) -> None:
        try:
            book.app.alert(text, title=TITLE, buttons="ok", mode="info" if ok else "critical")
        except BaseException:         # noqa: BLE001
            log.exception("book.app.alert")
            native_alert(text, ok=ok)
    return alert


def native_alert(text: str, *, ok: bool) -> None:
    """A Unicode message box without a workbook (Windows), else a UTF-8 line on stdout."""
    try:
        if sys.platform.startswith("win"):
            import ctypes
            flags = 0x40 if ok else 0x30          # MB_ICONINFORMATION / MB_ICONWARNING
            ctypes.windll.user32.MessageBoxW(None, text, TITLE, flags | 0x1000)   # MB_SYSTEMMODAL
        else:
            sys.stdout.buffer.write((TITLE + "：" + text + "\n").encode("utf-8"))
            sys.stdout.flush()
    except BaseException:             # noqa: BLE001
        pass


__all__ = ["PINNED_XLWINGS_VERSION", "press", "recalculate"]
