"""The 重新计算 button: a real .xlsx from openpyxl, converted, and read back by other tools.

No mocks: olevba (a separate process), olefile, openpyxl and, when installed,
LibreOffice read the generated files.
"""

from __future__ import annotations

import io
import json
import os
import re
import shutil
import signal
import struct
import subprocess
import sys
import textwrap
import warnings
import zipfile
from pathlib import Path

import olefile
import openpyxl
import pytest
import xlwings
from lxml import etree
from openpyxl.comments import Comment
from openpyxl.worksheet.table import Table

from engine.button import ovba, xlsm

with warnings.catch_warnings():  # oletools still uses pyparsing's old names
    warnings.simplefilter("ignore")
    from oletools.olevba import decompress_stream

BUTTONS = {"评分表": "M2", "汇总": "F2"}
MAIN = "{http://schemas.openxmlformats.org/spreadsheetml/2006/main}"
R_ID = "{http://schemas.openxmlformats.org/officeDocument/2006/relationships}id"
X = "{urn:schemas-microsoft-com:office:excel}"
V = "{urn:schemas-microsoft-com:vml}"
EXPECTED_MODULES = [
    "ThisWorkbook", "Sheet1", "Sheet2", "Sheet3", "xlwings", "Dictionary", "AnjuButton"
]
COMMAND_LINE = 'RunPython "import engine.excel_button as b; b.recalculate()"'
# CT_Worksheet child order (ECMA-376 Part 1, 18.3.1.99).
WORKSHEET_ORDER = """sheetPr dimension sheetViews sheetFormatPr cols sheetData sheetCalcPr
    sheetProtection protectedRanges scenarios autoFilter sortState dataConsolidate
    customSheetViews mergeCells phoneticPr conditionalFormatting dataValidations hyperlinks
    printOptions pageMargins pageSetup headerFooter rowBreaks colBreaks customProperties
    cellWatches ignoredErrors smartTags drawing legacyDrawing legacyDrawingHF drawingHF
    picture oleObjects controls webPublishItems tableParts extLst""".split()


def _xlsx_bytes() -> bytes:
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.title = "评分表"
    ws["A1"] = "指标"
    ws["B1"] = "得分"
    ws["A2"] = "资金到位率"
    ws["B2"] = 9.5
    ws["B2"].comment = Comment("满分 10 分", "anju")
    ws.column_dimensions["C"].width = 24
    summary = wb.create_sheet("汇总")
    summary.append(["项目", "总分"])
    summary.append(["保障性安居工程", "=评分表!B2"])
    summary.add_table(Table(displayName="SummaryTable", ref="A1:B2"))
    xlsm.add_xlwings_conf_sheet(wb)
    out = io.BytesIO()
    wb.save(out)
    return out.getvalue()


@pytest.fixture(scope="module")
def xlsx_bytes() -> bytes:
    return _xlsx_bytes()


@pytest.fixture(scope="module")
def xlsm_bytes(xlsx_bytes: bytes) -> bytes:
    return xlsm.make_macro_enabled(xlsx_bytes, button_sheets=BUTTONS)


@pytest.fixture(scope="module")
def xlsm_path(xlsm_bytes: bytes, tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("button") / "评估模板.xlsm"
    path.write_bytes(xlsm_bytes)
    return path


@pytest.fixture(scope="module")
def package(xlsm_bytes: bytes) -> dict[str, bytes]:
    with zipfile.ZipFile(io.BytesIO(xlsm_bytes)) as archive:
        return {name: archive.read(name) for name in archive.namelist()}


def _normalise(text: str) -> str:
    return text.replace("\r\n", "\n").rstrip("\n")


def _installed(relative: str) -> str:
    return (Path(xlwings.__file__).parent / relative).read_bytes().decode("ascii")


def _olevba(path: Path, *options: str) -> dict[str, str]:
    """Module file name -> code, as the olevba command line reports it (JSON mode)."""
    run = subprocess.run(
        [sys.executable, "-m", "oletools.olevba", "-j", *options, str(path)],
        capture_output=True,
        text=True,
        timeout=300,
        check=True,
    )
    report = json.loads(run.stdout)
    files = [item for item in report if item.get("type") == "OpenXML"]
    assert len(files) == 1, run.stdout[:2000]
    return {macro["vba_filename"]: macro["code"] for macro in files[0]["macros"]}


# --------------------------------------------------------------------------------------
# What olevba extracts
# --------------------------------------------------------------------------------------


def test_olevba_extracts_exactly_the_committed_and_installed_sources(xlsm_path: Path):
    modules = _olevba(xlsm_path, "--attr")
    assert list(modules) == [
        "ThisWorkbook.cls",
        "Sheet1.cls",
        "Sheet2.cls",
        "Sheet3.cls",
        "xlwings.bas",
        "Dictionary.cls",
        "AnjuButton.bas",
    ]
    committed = xlsm.ANJU_BUTTON_BAS.read_text(encoding="ascii")
    assert _normalise(modules["AnjuButton.bas"]) == _normalise(committed)
    # The xlwings module is the installed package's file, byte for byte but line ends.
    assert _normalise(modules["xlwings.bas"]) == _normalise(_installed("xlwings.bas"))
    # Dictionary: stream form = the .cls without its VERSION/BEGIN..END preamble, with
    # VB_Base and the two attributes Excel adds; the code itself is untouched.
    dictionary = modules["Dictionary.cls"].replace("\r\n", "\n").split("\n")
    assert dictionary[:8] == [
        'Attribute VB_Name = "Dictionary"',
        f'Attribute VB_Base = "{ovba.CLASS_VB_BASE}"',
        "Attribute VB_GlobalNameSpace = False",
        "Attribute VB_Creatable = False",
        "Attribute VB_PredeclaredId = False",
        "Attribute VB_Exposed = True",
        "Attribute VB_TemplateDerived = False",
        "Attribute VB_Customizable = False",
    ]
    cls_lines = _installed("addin/Dictionary.cls").replace("\r\n", "\n").rstrip("\n").split("\n")
    assert cls_lines[:4] == ["VERSION 1.0 CLASS", "BEGIN", "  MultiUse = -1  'True", "END"]
    assert dictionary[8:] == cls_lines[9:]
    assert modules["ThisWorkbook.cls"].startswith('Attribute VB_Name = "ThisWorkbook"')
    assert ovba.WORKBOOK_VB_BASE in modules["ThisWorkbook.cls"]
    assert ovba.WORKSHEET_VB_BASE in modules["Sheet1.cls"]


def test_olevba_default_view_shows_the_button_module_without_its_name_line(xlsm_path: Path):
    code = _olevba(xlsm_path)["AnjuButton.bas"]
    committed = xlsm.ANJU_BUTTON_BAS.read_text(encoding="ascii").split("\n", 1)[1]
    assert _normalise(code) == _normalise(committed)
    assert COMMAND_LINE in code
    assert "Sub AnjuRecalculate()" in code


def test_button_module_is_ascii_with_the_literal_command():
    raw = xlsm.ANJU_BUTTON_BAS.read_bytes()
    assert raw.isascii()
    text = raw.decode("ascii")
    assert text.startswith('Attribute VB_Name = "AnjuButton"')
    calls = re.findall(r'^\s*RunPython\s+(".*")\s*$', text, re.M)
    assert calls == ['"import engine.excel_button as b; b.recalculate()"']
    assert xlsm.RUNPYTHON_COMMAND == "import engine.excel_button as b; b.recalculate()"


# --------------------------------------------------------------------------------------
# The vbaProject.bin container
# --------------------------------------------------------------------------------------


def _dir_records(data: bytes) -> list[tuple[int, bytes]]:
    records, pos = [], 0
    while pos < len(data):
        rid, size = struct.unpack_from("<HI", data, pos)
        if rid == 0x0009:  # PROJECTVERSION: Reserved says 4, six bytes follow
            size = 6
        records.append((rid, data[pos + 6 : pos + 6 + size]))
        pos += 6 + size
    return records


def test_vba_project_is_a_compound_file_without_compiled_cache(package: dict[str, bytes]):
    data = package["xl/vbaProject.bin"]
    assert olefile.isOleFile(data)
    with olefile.OleFileIO(data, raise_defects=olefile.DEFECT_INCORRECT) as ole:
        streams = sorted("/".join(entry) for entry in ole.listdir())
        assert streams == sorted(
            ["PROJECT", "PROJECTwm", "VBA/_VBA_PROJECT", "VBA/dir"]
            + [f"VBA/{name}" for name in EXPECTED_MODULES]
        )
        assert not [s for s in streams if "__SRP_" in s]
        assert ole.openstream("VBA/_VBA_PROJECT").read() == bytes.fromhex("CC61FFFF000100")
        project = ole.openstream("PROJECT").read().decode("cp1252")
        directory = ovba.decompress(ole.openstream("VBA/dir").read())
        sources = {name: ole.openstream(f"VBA/{name}").read() for name in EXPECTED_MODULES}
    assert project.startswith('ID="{')
    for name in ("ThisWorkbook", "Sheet1", "Sheet2", "Sheet3"):
        assert f"Document={name}/&H00000000\r\n" in project
    assert "Module=xlwings\r\nClass=Dictionary\r\nModule=AnjuButton\r\n" in project
    records = _dir_records(directory)
    names = [payload.decode("cp1252") for rid, payload in records if rid == 0x0019]
    offsets = [struct.unpack("<I", payload)[0] for rid, payload in records if rid == 0x0031]
    assert names == EXPECTED_MODULES
    assert offsets == [0] * len(EXPECTED_MODULES)  # source at 0: no p-code before it
    assert not [rid for rid, _ in records if rid in (0x000D, 0x000E, 0x002F, 0x0033)]
    for name, stream in sources.items():
        # oletools' own decompressor reads the source from offset 0 of each stream
        text = bytes(decompress_stream(bytearray(stream))).decode("ascii")
        assert text.startswith(f'Attribute VB_Name = "{name}"\r\n')
        assert "\n" not in text.replace("\r\n", "")  # CRLF only


def test_compression_matches_the_specification_examples():
    # [MS-OVBA] 3.2.2 "Normal Compression Example", byte for byte.
    plain = b"#aaabcdefaaaaghijaaaaaklaaamnopqaaaaaaaaaaaarstuvwxyzaaa"
    packed = bytes.fromhex(
        "01 2F B0 00 23 61 61 61 62 63 64 65 82 66 00 70 61 67 68 69 6A 01 38 08 61 6B 6C"
        " 00 20 6D 6E 6F 70 06 71 02 70 04 00 72 73 74 75 76 10 77 78 79 7A 00 2C"
    )
    assert ovba.compress(plain) == packed
    assert ovba.decompress(packed) == plain
    assert ovba.compress(b"abcdefghijklmnopqrstuv.") == bytes.fromhex(
        "0119B000" + b"abcdefgh".hex() + "00" + b"ijklmnop".hex() + "00" + b"qrstuv.".hex()
    )
    source = _installed("xlwings.bas").encode("ascii")
    assert ovba.decompress(ovba.compress(source)) == source
    for size in (1, 8, 9, 4095, 4096, 4097, 8192, 8193):
        data = (b"    Dim i As Long\r\n" * 600)[:size]
        assert ovba.decompress(ovba.compress(data)) == data


def test_output_is_deterministic(xlsx_bytes: bytes, xlsm_bytes: bytes):
    assert xlsm.make_macro_enabled(xlsx_bytes, button_sheets=BUTTONS) == xlsm_bytes
    assert xlsm.build_vba_project_bin(["Sheet1"]) == xlsm.build_vba_project_bin(["Sheet1"])
    with zipfile.ZipFile(io.BytesIO(xlsm_bytes)) as archive:
        assert {info.date_time for info in archive.infolist()} == {(1980, 1, 1, 0, 0, 0)}
        assert archive.namelist()[0] == "[Content_Types].xml"


# --------------------------------------------------------------------------------------
# Package parts: content types, relationships, code names, buttons
# --------------------------------------------------------------------------------------


def test_content_types_and_relationships(package: dict[str, bytes]):
    types = etree.fromstring(package["[Content_Types].xml"])
    overrides = {o.get("PartName"): o.get("ContentType") for o in types if o.get("PartName")}
    defaults = {d.get("Extension"): d.get("ContentType") for d in types if d.get("Extension")}
    assert overrides["/xl/workbook.xml"] == "application/vnd.ms-excel.sheet.macroEnabled.main+xml"
    assert overrides["/xl/vbaProject.bin"] == "application/vnd.ms-office.vbaProject"
    assert defaults["vml"] == "application/vnd.openxmlformats-officedocument.vmlDrawing"
    rels = etree.fromstring(package["xl/_rels/workbook.xml.rels"])
    vba = [r for r in rels if r.get("Type") == xlsm.REL_VBA]
    assert [r.get("Target") for r in vba] == ["vbaProject.bin"]
    assert len({r.get("Id") for r in rels}) == len(rels)


def test_code_names_bind_the_document_modules(package: dict[str, bytes]):
    workbook = etree.fromstring(package["xl/workbook.xml"])
    assert workbook.find(f"{MAIN}workbookPr").get("codeName") == "ThisWorkbook"
    for number in (1, 2, 3):
        sheet = etree.fromstring(package[f"xl/worksheets/sheet{number}.xml"])
        assert sheet[0].tag == f"{MAIN}sheetPr"
        assert sheet[0].get("codeName") == f"Sheet{number}"


def _sheet_vml(package: dict[str, bytes], number: int) -> tuple[etree._Element, etree._Element]:
    """(worksheet root, its VML root) following legacyDrawing's relationship."""
    sheet_part = f"xl/worksheets/sheet{number}.xml"
    sheet = etree.fromstring(package[sheet_part])
    legacy = sheet.findall(f"{MAIN}legacyDrawing")
    assert len(legacy) == 1
    rels = etree.fromstring(package[f"xl/worksheets/_rels/sheet{number}.xml.rels"])
    (rel,) = [r for r in rels if r.get("Id") == legacy[0].get(R_ID)]
    assert rel.get("Type").endswith("/vmlDrawing")
    target = rel.get("Target")
    part = target.lstrip("/") if target.startswith("/") else os.path.normpath(
        os.path.join("xl/worksheets", target)
    )
    return sheet, etree.fromstring(package[part])


@pytest.mark.parametrize("number", [1, 2])
def test_each_button_sheet_has_one_legacy_drawing_with_the_bound_button(package, number):
    sheet, vml = _sheet_vml(package, number)
    children = [etree.QName(c).localname for c in sheet]
    assert children == sorted(children, key=WORKSHEET_ORDER.index)  # schema order
    buttons = vml.findall(f"{V}shape/{X}ClientData[@ObjectType='Button']")
    assert len(buttons) == 1
    assert buttons[0].findtext(f"{X}FmlaMacro") == "[0]!AnjuRecalculate"
    shape = buttons[0].getparent()
    assert shape.get("type") == "#_x0000_t201"
    assert "".join(shape.itertext()).strip().startswith("重新计算")
    assert vml.find(f"{V}shapetype[@id='_x0000_t201']") is not None
    ids = [s.get("id") for s in vml.findall(f"{V}shape")]
    assert len(ids) == len(set(ids))


def test_button_anchor_cells(package):
    _, vml = _sheet_vml(package, 1)
    anchor = vml.findtext(f"{V}shape/{X}ClientData[@ObjectType='Button']/{X}Anchor")
    assert [int(n) for n in anchor.split(",")][:4] == [12, 0, 1, 0]  # M2
    _, vml = _sheet_vml(package, 2)
    anchor = vml.findtext(f"{V}shape/{X}ClientData[@ObjectType='Button']/{X}Anchor")
    assert [int(n) for n in anchor.split(",")][:4] == [5, 0, 1, 0]  # F2


def test_comment_and_button_share_the_comment_drawing(package):
    _, vml = _sheet_vml(package, 1)
    notes = vml.findall(f"{V}shape/{X}ClientData[@ObjectType='Note']")
    assert len(notes) == 1 and notes[0].findtext(f"{X}Row") == "1"
    assert len([n for n in package if n.endswith(".vml")]) == 2


def test_legacy_drawing_goes_before_table_parts(package):
    sheet = etree.fromstring(package["xl/worksheets/sheet2.xml"])
    children = [etree.QName(c).localname for c in sheet]
    assert children.index("legacyDrawing") < children.index("tableParts")


# --------------------------------------------------------------------------------------
# openpyxl and the xlwings.conf sheet
# --------------------------------------------------------------------------------------


def test_openpyxl_loads_the_result_with_keep_vba(xlsm_path: Path):
    wb = openpyxl.load_workbook(xlsm_path, keep_vba=True)
    assert wb.sheetnames == ["评分表", "汇总", "xlwings.conf"]
    assert wb.vba_archive is not None
    assert "xl/vbaProject.bin" in wb.vba_archive.namelist()
    assert wb["评分表"]["B2"].value == 9.5
    assert wb["评分表"]["B2"].comment.text == "满分 10 分"
    assert wb["汇总"]["B2"].value == "=评分表!B2"


def test_xlwings_conf_sheet(xlsm_path: Path):
    ws = openpyxl.load_workbook(xlsm_path)["xlwings.conf"]
    assert ws.sheet_state == "veryHidden"
    rows = [(a.value, b.value) for a, b in ws.iter_rows(min_row=1, max_row=ws.max_row, max_col=2)]
    keys = [key for key, _ in rows]
    assert keys == [
        "Interpreter_Win",
        "Interpreter_Mac",
        "ADD_WORKBOOK_TO_PYTHONPATH",
        "PYTHONPATH",
        "USE UDF SERVER",
        "SHOW CONSOLE",
    ]  # from A1 down without gaps: GetConfigFromSheet uses Range("A1").End(xlDown)
    assert ws.cell(row=len(keys) + 1, column=1).value is None
    values = {key.upper(): value for key, value in rows}
    assert values == {
        "INTERPRETER_WIN": r"%LOCALAPPDATA%\anju\python\python.exe",
        "INTERPRETER_MAC": "$HOME/.anju/python/bin/python3",
        "ADD_WORKBOOK_TO_PYTHONPATH": "False",
        "PYTHONPATH": None,
        "USE UDF SERVER": "False",
        "SHOW CONSOLE": "False",
    }


def test_conf_sheet_never_becomes_the_active_sheet():
    wb = openpyxl.Workbook()
    xlsm.add_xlwings_conf_sheet(wb)
    assert wb.active.title != "xlwings.conf"
    with pytest.raises(ValueError):
        xlsm.add_xlwings_conf_sheet(wb)


# --------------------------------------------------------------------------------------
# xlwings version pin
# --------------------------------------------------------------------------------------


def test_xlwings_version_check():
    assert xlsm.pinned_xlwings_version() == "0.37.8"
    assert xlsm.check_xlwings_vba_version() == xlwings.__version__ == xlsm.pinned_xlwings_version()
    bas, _ = xlsm.xlwings_vba_sources()
    other = bas.replace(
        f'XLWINGS_VERSION As String = "{xlwings.__version__}"',
        'XLWINGS_VERSION As String = "0.30.0"',
    )
    with pytest.raises(xlsm.XlwingsVersionError, match="0.30.0"):
        xlsm.check_xlwings_vba_version(other)
    with pytest.raises(xlsm.XlwingsVersionError):
        xlsm.check_xlwings_vba_version("Attribute VB_Name = \"xlwings\"\r\n")


def test_pin_matches_the_project_dependency():
    import tomllib

    pyproject = Path(__file__).resolve().parents[1] / "pyproject.toml"
    if not pyproject.is_file():
        pytest.skip("no pyproject.toml next to the tests")
    dependencies = tomllib.loads(pyproject.read_text(encoding="utf-8"))["project"]["dependencies"]
    assert f"xlwings=={xlsm.pinned_xlwings_version()}" in dependencies


def test_bad_arguments_are_refused(xlsx_bytes: bytes, xlsm_bytes: bytes):
    with pytest.raises(ValueError, match="no worksheet"):
        xlsm.make_macro_enabled(xlsx_bytes, button_sheets={"不存在": "A1"})
    with pytest.raises(ValueError, match="no Sub"):
        xlsm.make_macro_enabled(xlsx_bytes, button_sheets=BUTTONS, macro="Nope")
    with pytest.raises(ValueError, match="already has a VBA project"):
        xlsm.make_macro_enabled(xlsm_bytes, button_sheets=BUTTONS)


# --------------------------------------------------------------------------------------
# LibreOffice
# --------------------------------------------------------------------------------------

_UNO_PROBE = textwrap.dedent(
    '''
    import json, subprocess, sys, time, uuid
    import uno
    from com.sun.star.beans import PropertyValue

    def prop(name, value):
        p = PropertyValue()
        p.Name, p.Value = name, value
        return p

    soffice, path, profile = sys.argv[1:4]
    pipe = "anju_" + uuid.uuid4().hex
    proc = subprocess.Popen(
        [soffice, "--headless", "--invisible", "--norestore", "--nologo", "--nodefault",
         "-env:UserInstallation=" + uno.systemPathToFileUrl(profile),
         "--accept=pipe,name=%s;urp;" % pipe],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    result = {}
    try:
        local = uno.getComponentContext()
        resolver = local.ServiceManager.createInstanceWithContext(
            "com.sun.star.bridge.UnoUrlResolver", local)
        for _ in range(240):
            try:
                ctx = resolver.resolve(
                    "uno:pipe,name=%s;urp;StarOffice.ComponentContext" % pipe)
                break
            except Exception:
                time.sleep(0.5)
        else:
            raise SystemExit("soffice did not accept a connection")
        smgr = ctx.ServiceManager
        provider = smgr.createInstanceWithContext(
            "com.sun.star.configuration.ConfigurationProvider", ctx)
        vba = provider.createInstanceWithArguments(
            "com.sun.star.configuration.ConfigurationUpdateAccess",
            (prop("nodepath", "/org.openoffice.Office.Calc/Filter/Import/VBA"),))
        for name in ("Load", "Executable"):  # "load VBA code", "executable code"
            vba.replaceByName(name, True)
        vba.commitChanges()
        desktop = smgr.createInstanceWithContext("com.sun.star.frame.Desktop", ctx)
        doc = desktop.loadComponentFromURL(
            uno.systemPathToFileUrl(path), "_blank", 0,
            (prop("Hidden", True), prop("MacroExecutionMode", 0)))
        libraries = doc.BasicLibraries
        result["libraries"] = list(libraries.getElementNames())
        result["vba_compatibility_mode"] = bool(libraries.VBACompatibilityMode)
        modules = {}
        for library in libraries.getElementNames():
            libraries.loadLibrary(library)
            container = libraries.getByName(library)
            for module in container.getElementNames():
                modules[library + "." + module] = container.getByName(module)
        result["modules"] = modules
        sheets, buttons = doc.Sheets, []
        for i in range(sheets.Count):
            sheet = sheets.getByIndex(i)
            forms = sheet.DrawPage.Forms
            for f in range(forms.Count):
                form = forms.getByIndex(f)
                for c in range(form.Count):
                    control = form.getByIndex(c)
                    buttons.append({
                        "sheet": sheet.Name,
                        "label": getattr(control, "Label", None),
                        "events": [[e.ListenerType, e.EventMethod, e.ScriptType, e.ScriptCode]
                                   for e in form.getScriptEvents(c)],
                    })
        result["buttons"] = buttons
        result["code_names"] = [sheets.getByIndex(i).CodeName for i in range(sheets.Count)]
        doc.close(True)
        try:
            desktop.terminate()
        except Exception:
            pass  # the bridge goes away with the office process
    finally:
        try:
            proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    print(json.dumps(result, ensure_ascii=False))
    '''
)


def _python_with_uno(soffice: str) -> str | None:
    """A Python that can import LibreOffice's ``uno`` (LibreOffice's own, or the system's)."""
    program = Path(soffice).resolve().parent
    candidates = [program / "python", program / "python.exe", Path("/usr/bin/python3")]
    for candidate in candidates:
        if candidate.is_file():
            probe = subprocess.run(
                [str(candidate), "-c", "import uno"], capture_output=True, timeout=60
            )
            if probe.returncode == 0:
                return str(candidate)
    return None


def _run_own_process(args: list[str], timeout: int) -> subprocess.CompletedProcess:
    """Run ``args`` in a new session; on timeout end that session (ours) and fail."""
    proc = subprocess.Popen(
        args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True
    )
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.communicate()
        pytest.fail(f"{args[0]} did not finish within {timeout} s")
    return subprocess.CompletedProcess(args, proc.returncode, out, err)


def test_libreoffice_imports_the_modules_and_binds_the_buttons(xlsm_path: Path, tmp_path: Path):
    soffice = shutil.which("soffice") or shutil.which("libreoffice")
    if soffice is None:
        pytest.skip("LibreOffice (soffice) is not installed, so no office opened the file")
    profile = tmp_path / "lo-profile"
    python = _python_with_uno(soffice)
    if python is None:
        # No Python-UNO: let LibreOffice load and re-save the file, then read its project.
        out_dir = tmp_path / "converted"
        run = _run_own_process(
            [soffice, "--headless", "--norestore", f"-env:UserInstallation={profile.as_uri()}",
             "--convert-to", "xlsm", "--outdir", str(out_dir), str(xlsm_path)],
            timeout=300,
        )
        assert run.returncode == 0, run.stderr
        modules = _olevba(out_dir / xlsm_path.name, "--attr")
        assert {"AnjuButton.bas", "xlwings.bas"} <= set(modules)
        assert COMMAND_LINE in modules["AnjuButton.bas"]
        return
    script = tmp_path / "uno_probe.py"
    script.write_text(_UNO_PROBE, encoding="utf-8")
    args = [python, str(script), soffice, str(xlsm_path), str(profile)]
    run = _run_own_process(args, timeout=300)
    assert run.returncode == 0, run.stderr
    result = json.loads(run.stdout.strip().splitlines()[-1])
    print(json.dumps({k: v for k, v in result.items() if k != "modules"}, ensure_ascii=False))

    assert "VBAProject" in result["libraries"]
    assert result["vba_compatibility_mode"] is True
    modules = result["modules"]
    assert sorted(modules) == sorted(f"VBAProject.{name}" for name in EXPECTED_MODULES)
    assert result["code_names"] == ["Sheet1", "Sheet2", "Sheet3"]
    button = modules["VBAProject.AnjuButton"]
    assert "Sub AnjuRecalculate()" in button
    assert COMMAND_LINE in button
    # LibreOffice prefixes its own "Rem Attribute VBA_ModuleType=" and "Option VBASupport"
    # lines; the xlwings module's code follows unchanged.
    assert _installed("xlwings.bas").split("\r\n", 2)[1] in modules["VBAProject.xlwings"]
    assert "VBAClassModule" in modules["VBAProject.Dictionary"]
    expected = (
        "vnd.sun.star.script:VBAProject.AnjuButton.AnjuRecalculate"
        "?language=Basic&location=document"
    )
    by_sheet = {b["sheet"]: b for b in result["buttons"]}
    assert set(by_sheet) == set(BUTTONS)
    for sheet in BUTTONS:
        assert by_sheet[sheet]["label"] == "重新计算"
        assert [e[3] for e in by_sheet[sheet]["events"]] == [expected]
