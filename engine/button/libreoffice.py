"""The 重新计算 button in LibreOffice Calc: a Python-UNO user macro and its ``UnoHost``.

LibreOffice does not run xlwings' VBA (WScript, COM), and Python macros embed only
in ODF files, so the button is a user-profile macro that works on whatever
workbook is open: ``anju button install-libreoffice`` copies
``lo_macro/anju_button.py`` into ``<profile>/user/Scripts/python/`` (with the
folders of the engine and its packages written into it) and adds a toolbar
“anju” with a 重新计算 button to Calc. The macro can also be run from
工具 → 宏 → 运行宏 → 我的宏 → anju_button → recalculate.

``UnoHost`` implements the same workbook port as ``FileHost`` and
``XlwingsHost`` through the UNO API (``doc.NamedRanges``, cell ranges), and
``run_macro`` runs the same engine path (``runner.run_button`` →
``recalc.recalc_host``) and ends with one Chinese message box.

LibreOffice runs macros with its own Python: on Linux that is the system
``python3`` (3.11 on Debian 12), so anju must be installed for that Python
version; LibreOffice for Windows bundles an older Python, which anju does not
support (docs/deployment.md).
"""

from __future__ import annotations

import datetime as _dt
import os
import sys
import sysconfig
from contextlib import contextmanager
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path

from ..workbook.livehost import BlockCells, LiveWorkbookHost, address
from ..workbook.xlsxpatch import WorkbookFileError
from .runner import TITLE, ButtonLog, internal_error_text, run_button

MACRO_FILE = "anju_button.py"
MACRO_SOURCE = Path(__file__).with_name("lo_macro") / MACRO_FILE
SCRIPT_URI = "vnd.sun.star.script:anju_button.py$recalculate?language=Python&location=user"
TOOLBAR_FILE = "custom_toolbar_anju.xml"
TOOLBAR_RESOURCE = "private:resource/toolbar/custom_toolbar_anju"

# com.sun.star.util.NumberFormat bits
_DATE, _TIME, _LOGICAL = 2, 4, 1024


# --------------------------------------------------------------------------- reading

class UnoCells(BlockCells):
    """Cells of a Calc document: per sheet one data block and one formula block
    (the bounding box of the anju names on it); number formats only for numbers."""

    def __init__(self, doc):
        super().__init__()
        self.doc = doc
        self._names: dict | None = None
        self._kinds: dict[int, int] = {}

    def defined_names(self) -> dict[str, tuple[str, str]]:
        if self._names is None:
            names: dict[str, tuple[str, str]] = {}
            ranges = self.doc.NamedRanges            # workbook-level names only
            sheets = self.doc.Sheets
            for name in ranges.getElementNames():
                try:
                    cells = ranges.getByName(name).getReferredCells()
                except Exception:
                    cells = None
                if cells is None:                     # a constant or formula name, or #REF!
                    continue
                a = cells.getRangeAddress()
                sheet = sheets.getByIndex(a.Sheet).getName()
                names[name] = (sheet, address(a.StartRow + 1, a.StartColumn + 1, a.EndRow + 1, a.EndColumn + 1))
                self.grow_box(sheet, a.StartRow + 1, a.StartColumn + 1, a.EndRow + 1, a.EndColumn + 1)
            self._names = names
        return self._names

    def sheet(self, name: str):
        return self.doc.Sheets.getByName(name)

    def _read_box(self, sheet: str, r1: int, c1: int, r2: int, c2: int) -> tuple:
        block = self.sheet(sheet).getCellRangeByPosition(c1 - 1, r1 - 1, c2 - 1, r2 - 1)
        return block.getDataArray(), block.getFormulaArray()

    def _read_cell(self, sheet: str, ref: str) -> tuple:
        cell = self.sheet(sheet).getCellRangeByName(ref)
        return cell.getDataArray()[0][0], cell.getFormulaArray()[0][0]

    def raw(self, sheet: str, ref: str):
        value, _ = self._at(sheet, ref)
        if isinstance(value, str):
            return value if value != "" else None
        if isinstance(value, float):
            return self._typed_number(sheet, ref, value)
        return value

    def formula(self, sheet: str, ref: str) -> str | None:
        value, formula = self._at(sheet, ref)
        if isinstance(formula, str) and formula.startswith("=") and formula != value:
            return formula[1:]
        return None

    def _typed_number(self, sheet: str, ref: str, value: float):
        """A number as calamine/xlwings give it: bool for a logical format, datetime for a date format."""
        cell = self.sheet(sheet).getCellRangeByName(ref)
        key = cell.NumberFormat
        kind = self._kinds.get(key)
        if kind is None:
            try:
                kind = int(self.doc.NumberFormats.getByKey(key).Type)
            except Exception:
                kind = 0
            self._kinds[key] = kind
        if kind & _LOGICAL:
            return bool(value)
        if kind & (_DATE | _TIME):
            null = self.doc.NullDate
            base = _dt.datetime(null.Year, null.Month, null.Day)
            return base + _dt.timedelta(days=value)
        return value


# --------------------------------------------------------------------------- the host

def document_label(doc) -> str:
    url = getattr(doc, "URL", "") or ""
    if url:
        try:
            import uno
            return Path(uno.fileUrlToSystemPath(url)).name
        except Exception:
            return url.rsplit("/", 1)[-1]
    return str(getattr(doc, "Title", "") or "未保存的工作簿")


class UnoHost(LiveWorkbookHost):
    """A spreadsheet document open in LibreOffice Calc (a UNO ``SpreadsheetDocument``).

    Writes go cell by cell (UNO calls inside LibreOffice are cheap; a string is
    stored as it is, not parsed as by Excel's ``Range.Value``), with a password-less
    sheet protection lifted for the writes and restored afterwards.
    """

    WHOLE_BLOCKS = False

    def __init__(self, doc, *, notes=()):
        super().__init__(document_label(doc), UnoCells(doc), notes=notes)
        self.doc = doc

    def write_cells(self, edits: dict) -> None:
        locked = False
        try:
            self.doc.lockControllers()           # one repaint at the end
            locked = True
        except Exception:
            pass
        try:
            for sheet_name, cells in edits.items():
                sheet = self.doc.Sheets.getByName(sheet_name)
                with unprotected(sheet, sheet_name):
                    for ref, value in cells.items():
                        try:
                            put_cell(sheet.getCellRangeByName(ref), value)
                        except Exception as exc:
                            raise WorkbookFileError(f"无法写入“{sheet_name}”!{ref}：{exc}") from exc
        finally:
            if locked:
                try:
                    self.doc.unlockControllers()
                except Exception:
                    pass


@contextmanager
def unprotected(sheet, name: str):
    """Lift a password-less sheet protection for the writes (on a protected sheet Calc
    silently refuses to *clear* a locked cell through UNO, though it sets values).
    ``unprotect``/``protect`` keep the protection options (allowed actions) of the sheet."""
    if not sheet.isProtected():
        yield
        return
    try:
        sheet.unprotect("")
    except Exception as exc:
        raise WorkbookFileError(
            f"工作表“{name}”设置了保护密码，无法写入计算结果。请先“工具 → 保护工作表”撤消保护后再点“重新计算”。") from exc
    try:
        yield
    finally:
        sheet.protect("")


def put_cell(cell, value) -> None:
    if value is None or value == "":
        cell.setString("")                       # an empty cell (formats kept)
    elif isinstance(value, bool):
        cell.setValue(1.0 if value else 0.0)
    elif isinstance(value, (int, float, Decimal)):
        cell.setValue(float(value))
    else:
        cell.setString(str(value))


# --------------------------------------------------------------------------- the macro

def is_spreadsheet(obj) -> bool:
    try:
        return bool(obj.supportsService("com.sun.star.sheet.SpreadsheetDocument"))
    except Exception:
        return False


def find_document(script_context, args):
    """The document to recalculate: one passed in (API callers), else the current one
    (a toolbar button, a menu entry or a form button in the document itself)."""
    for arg in args or ():
        if is_spreadsheet(arg):
            return arg
    return script_context.getDocument()


def uno_alert(doc, ctx, log: ButtonLog):
    def alert(text: str, ok: bool) -> None:
        import uno

        toolkit = ctx.ServiceManager.createInstanceWithContext("com.sun.star.awt.Toolkit", ctx)
        window = doc.getCurrentController().getFrame().getContainerWindow()
        kind = uno.Enum("com.sun.star.awt.MessageBoxType", "INFOBOX" if ok else "WARNINGBOX")
        box = toolkit.createMessageBox(window, kind, 1, TITLE, text)   # 1 = MessageBoxButtons.BUTTONS_OK
        box.execute()                            # returns at once in headless mode
        try:
            box.dispose()
        except Exception:
            pass
    return alert


def run_macro(script_context, args=()) -> str:
    """What the installed macro calls. Returns the text shown; never raises."""
    log = ButtonLog("libreoffice")
    ctx = None
    doc = None
    try:
        ctx = script_context.getComponentContext()
        doc = find_document(script_context, args)
        if not is_spreadsheet(doc):
            text = "请先在 LibreOffice Calc 中打开 anju 评分模板，再点“重新计算”。"
            if doc is not None:
                uno_alert(doc, ctx, log)(text, False)
            return text
        host = UnoHost(doc)
    except BaseException as exc:                 # noqa: BLE001
        text = internal_error_text(exc, log.exception("UnoHost"))
        try:
            uno_alert(doc, ctx, log)(text, False)
        except BaseException:                    # noqa: BLE001
            log.exception("message box")
        return text
    return run_button(host, uno_alert(doc, ctx, log), log=log)


# --------------------------------------------------------------------------- installing

def default_profile() -> Path:
    """LibreOffice's default user installation folder (the one holding ``user/``)."""
    if sys.platform.startswith("win"):
        return Path(os.environ.get("APPDATA", Path.home() / "AppData" / "Roaming")) / "LibreOffice" / "4"
    if sys.platform == "darwin":
        return Path.home() / "Library" / "Application Support" / "LibreOffice" / "4"
    config = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(config) / "libreoffice" / "4"


def engine_paths() -> list[str]:
    """Folders LibreOffice's Python needs on sys.path to import this anju and its packages."""
    import engine

    found = [str(Path(engine.__file__).resolve().parent.parent)]
    paths = sysconfig.get_paths()
    found += [paths.get("purelib", ""), paths.get("platlib", "")]
    try:
        import site
        found += list(site.getsitepackages())
        if site.ENABLE_USER_SITE:             # pip install --user
            found.append(site.getusersitepackages())
    except Exception:
        pass
    result = []
    for path in found:
        if path and Path(path).is_dir() and path not in result:
            result.append(path)
    return result


def macro_text(paths: list[str]) -> str:
    source = MACRO_SOURCE.read_text(encoding="utf-8")
    marker = "ANJU_PATHS = []\n"
    if marker not in source:
        raise RuntimeError("anju_button.py has no ANJU_PATHS line")
    listing = "ANJU_PATHS = [\n" + "".join(f"    {path!r},\n" for path in paths) + "]\n"
    return source.replace(marker, listing, 1)


def toolbar_xml() -> str:
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        '<toolbar:toolbar xmlns:toolbar="http://openoffice.org/2001/toolbar" '
        'xmlns:xlink="http://www.w3.org/1999/xlink" toolbar:id="toolbar" toolbar:uiname="anju">\n'
        f' <toolbar:toolbaritem xlink:href="{SCRIPT_URI.replace("&", "&amp;")}" '
        'toolbar:text="重新计算" toolbar:style="text"/>\n'
        '</toolbar:toolbar>\n'
    )


def _write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    temp = path.with_name(f".~anju-{path.name}")
    temp.write_text(text, encoding="utf-8", newline="\n")
    os.replace(temp, path)


@dataclass
class Installed:
    macro: Path
    toolbar: Path | None
    paths: list = field(default_factory=list)


def install_macro(profile=None, *, toolbar: bool = True, paths: list | None = None) -> Installed:
    """Copy the macro (and the toolbar) into a LibreOffice user profile. Close LibreOffice first."""
    profile = Path(profile) if profile else default_profile()
    if profile.name == "user" and not (profile / "user").exists():
        profile = profile.parent                # accept the user/ folder itself too
    user = profile / "user"
    paths = engine_paths() if paths is None else list(paths)
    macro = user / "Scripts" / "python" / MACRO_FILE
    _write(macro, macro_text(paths))
    bar = None
    if toolbar:
        bar = user / "config" / "soffice.cfg" / "modules" / "scalc" / "toolbar" / TOOLBAR_FILE
        _write(bar, toolbar_xml())
    return Installed(macro, bar, paths)


def uninstall_macro(profile=None) -> list[Path]:
    profile = Path(profile) if profile else default_profile()
    removed = []
    for path in (profile / "user" / "Scripts" / "python" / MACRO_FILE,
                 profile / "user" / "config" / "soffice.cfg" / "modules" / "scalc" / "toolbar" / TOOLBAR_FILE):
        if path.exists():
            path.unlink()
            removed.append(path)
    return removed


def office_python(soffice: str | None = None) -> str | None:
    """The Python LibreOffice runs macros with: its bundled one, else the system python3 (Linux)."""
    import shutil

    soffice = soffice or shutil.which("soffice") or shutil.which("libreoffice")
    if soffice:
        program = Path(soffice).resolve().parent
        for name in ("python.exe", "python"):
            if (program / name).is_file():
                return str(program / name)
    if not sys.platform.startswith("win") and Path("/usr/bin/python3").is_file():
        return "/usr/bin/python3"
    return None


def check_macro(macro: Path, python: str | None = None) -> tuple[bool, str]:
    """Run the installed macro file as a script with LibreOffice's Python: does the engine import?"""
    import subprocess

    python = python or office_python()
    if python is None:
        return False, "找不到 LibreOffice 使用的 Python，无法检查"
    try:
        run = subprocess.run([python, str(macro)], capture_output=True, timeout=120)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return False, f"无法运行 {python}：{exc}"
    out = (run.stdout + run.stderr).decode("utf-8", "replace").strip()
    return run.returncode == 0, (out.splitlines() or [""])[-1]


__all__ = ["SCRIPT_URI", "UnoCells", "UnoHost", "check_macro", "default_profile", "engine_paths", "install_macro",
           "macro_text", "office_python", "run_macro", "uninstall_macro"]
