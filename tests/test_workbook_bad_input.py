"""Bad input is reported, not crashed on: a Chinese message naming the sheet and
cell, written to 校验 when the file is writable, printed by the CLI, a non-zero
exit code, and nothing else in the file changed."""

from __future__ import annotations

import io
import zipfile
from decimal import Decimal

import openpyxl
import pytest
from click.testing import CliRunner

from engine.cli import main
from engine.plugins import catalog
from engine.scoring import evaluate
from engine.workbook import names as N
from engine.workbook.recalc import recalc_file
from engine.workbook.template import SHEET_CHECKS, SHEET_SCORES, build_template
from workbook_support import (assert_only_targets_changed, destination, fill, fill_answers, get, put,
                              target_cells)

CATALOG = catalog()
PACK_ID = "hejing-2022-third-party"


def run_cli(path):
    return CliRunner().invoke(main, ["recalc", str(path)], obj={})


def golden_workbook(tmp_path, pack_id=PACK_ID, name="评分.xlsx", change=None):
    """A filled template; ``change(wb)`` spoils it the way staff would."""
    pack = CATALOG.pack(pack_id)
    wb = build_template(pack)
    fill(wb, pack, pack.golden[0]["inputs"])
    if change:
        change(wb)
    path = tmp_path / name
    wb.save(path)
    return pack, path


def messages_in_sheet(path) -> list:
    wb = openpyxl.load_workbook(path)
    sheet, ref = destination(wb, N.OUT_MESSAGES)
    rows = wb[sheet][ref]
    return [tuple(c.value for c in row) for row in rows if any(c.value for c in row)]


def check_writable_failure(tmp_path, pack, path, fragment: str, where: str | None = None):
    """The CLI fails with the message; 校验 holds it; only 校验 and the outputs changed."""
    snapshot = tmp_path / ("before-" + path.name)
    snapshot.write_bytes(path.read_bytes())
    result = run_cli(path)
    assert result.exit_code == 2, result.output
    assert fragment in result.output
    if where:
        assert f"{where}：" in result.output
    rows = messages_in_sheet(path)
    assert any(fragment in str(row[3]) for row in rows), rows
    if where:
        sheet, cell = where.split("!")
        assert any(row[1] == sheet and row[2] == cell and fragment in row[3] for row in rows), rows
    assert_only_targets_changed(snapshot, path, target_cells(snapshot, pack, CATALOG))
    return rows


def cell_of(path, name):
    return "!".join(destination(openpyxl.load_workbook(path), name))


# --------------------------------------------------------------------------- bad values in cells

def test_text_in_a_number_cell(tmp_path):
    pack, path = golden_workbook(tmp_path, change=lambda wb: put(wb, N.input_name("C101", "actual"), "六个"))
    where = cell_of(path, N.input_name("C101", "actual"))
    label = next(s.label for s in pack.indicator("C101").compiled.specs if s.key == "actual")
    check_writable_failure(tmp_path, pack, path, f"指标C101的“{label}”应为数字，收到的是文字“六个”", where)
    wb = openpyxl.load_workbook(path)
    assert get(wb, N.score_name("C101")) is None and get(wb, N.OUT_TOTAL) is None   # no stale results
    assert "输入有误" in get(wb, N.explain_name("C101"))
    assert "输入有误" in get(wb, N.OUT_STAMP)


def test_blank_required_cell(tmp_path):
    pack, path = golden_workbook(tmp_path, change=lambda wb: put(wb, N.input_name("A101", "fits_policy"), None))
    where = cell_of(path, N.input_name("A101", "fits_policy"))
    check_writable_failure(tmp_path, pack, path, "缺少指标A101的", where)


def test_percent_typed_as_text(tmp_path):
    # in a percentage input "16.4%" is 16.4 percentage points, as in YAML
    pack = CATALOG.pack("henan-2020-old-community")
    name = N.input_name("F1", "value", "social_share")
    _, path = golden_workbook(tmp_path, "henan-2020-old-community", change=lambda wb: put(wb, name, "16.4%"))
    report = recalc_file(path, CATALOG)
    assert report.status == "recalculated", report.messages
    assert report.result.indicator("F1").score == evaluate(pack, pack.golden[0]["inputs"]).indicator("F1").score
    # "16.4%" typed into Excel arrives as the number 0.164: computed as written, but pointed out
    _, path = golden_workbook(tmp_path, "henan-2020-old-community", name="小数.xlsx",
                              change=lambda wb: put(wb, name, Decimal("0.164")))
    report = recalc_file(path, CATALOG)
    assert report.status == "recalculated"
    assert any("请填写16.4" in m and m.startswith(cell_of(path, name)) for m in report.messages), report.messages
    assert any("请填写16.4" in str(row[3]) for row in messages_in_sheet(path))
    # in a plain number cell "95%" is a mistake, named with its cell
    pack, path = golden_workbook(tmp_path, name="百分号.xlsx", change=lambda wb: put(wb, N.input_name("C101", "actual"), "95%"))
    check_writable_failure(tmp_path, pack, path, "不应带百分号（收到“95%”）", cell_of(path, N.input_name("C101", "actual")))


def test_full_width_digits_are_read(tmp_path):
    pack, path = golden_workbook(tmp_path, change=lambda wb: (put(wb, N.input_name("C101", "actual"), "６"),
                                                              put(wb, N.input_name("C102", "actual"), "８．８４")))
    report = recalc_file(path, CATALOG)
    assert report.status == "recalculated", report.messages
    assert report.total == "89.29"


def test_negative_count(tmp_path):
    pack, path = golden_workbook(tmp_path, change=lambda wb: put(wb, N.input_name("B204", "count"), -1))
    check_writable_failure(tmp_path, pack, path, "应为不小于0的整数", cell_of(path, N.input_name("B204", "count")))


def test_value_out_of_range(tmp_path):
    pack, path = golden_workbook(tmp_path, change=lambda wb: put(wb, N.input_name("C102", "target"), Decimal("1e16")))
    check_writable_failure(tmp_path, pack, path, "数值过大", cell_of(path, N.input_name("C102", "target")))


def test_bad_survey_count_names_its_row(tmp_path):
    def spoil(wb):
        fill_answers(wb, N.input_name("D301", "answers"), {"一般": -4})
    pack, path = golden_workbook(tmp_path, change=spoil)
    wb = openpyxl.load_workbook(path)
    sheet, area = destination(wb, N.input_name("D301", "answers"))
    row = next(r for r in wb[sheet][area] if r[0].value == "一般")
    check_writable_failure(tmp_path, pack, path, "“一般”的人数应为不小于0的整数", f"{sheet}!{row[1].coordinate}")


def test_bad_category_and_state(tmp_path):
    pack, path = golden_workbook(tmp_path, change=lambda wb: (put(wb, N.input_name("C301", "category"), "差不多"),
                                                              put(wb, N.status_name("C302"), "暂缓")))
    rows = check_writable_failure(tmp_path, pack, path, "应从以下选项中选择", cell_of(path, N.input_name("C301", "category")))
    assert any("状态“暂缓”无效" in row[3] and row[2] == cell_of(path, N.status_name("C302")).split("!")[1] for row in rows)


def test_formula_in_input_cell(tmp_path):
    # constant arithmetic is computed exactly; a formula referring to cells is refused (no cached value is trusted)
    pack, path = golden_workbook(tmp_path, change=lambda wb: put(wb, N.input_name("C101", "actual"), "=2+4"))
    report = recalc_file(path, CATALOG)
    assert report.status == "recalculated", report.messages
    pack, path = golden_workbook(tmp_path, name="引用.xlsx",
                                 change=lambda wb: put(wb, N.input_name("C101", "actual"), "=基本信息!B4*2"))
    check_writable_failure(tmp_path, pack, path, "含公式（=基本信息!B4*2）", cell_of(path, N.input_name("C101", "actual")))


def test_errors_fixed_then_clean_again(tmp_path):
    pack, path = golden_workbook(tmp_path, change=lambda wb: put(wb, N.input_name("C101", "actual"), "六个"))
    assert recalc_file(path, CATALOG).status == "failed"
    assert messages_in_sheet(path)
    wb = openpyxl.load_workbook(path)
    put(wb, N.input_name("C101", "actual"), 6)
    wb.save(path)
    report = recalc_file(path, CATALOG)
    assert report.status == "recalculated" and report.total == "89.29"
    assert messages_in_sheet(path) == []   # old messages cleared


def test_unknown_pack_id(tmp_path):
    pack, path = golden_workbook(tmp_path, change=lambda wb: put(wb, N.meta_name("pack_id"), "no-such-pack"))
    check_writable_failure(tmp_path, pack, path, "找不到规则包“no-such-pack”", cell_of(path, N.meta_name("pack_id")))


def test_not_an_anju_workbook_is_skipped(tmp_path):
    path = tmp_path / "别的表.xlsx"
    wb = openpyxl.Workbook()
    wb.active["A1"] = "其他单位的统计表"
    wb.save(path)
    before = path.read_bytes()
    result = run_cli(path)
    assert result.exit_code == 2 and "不是 anju 模板" in result.output
    assert path.read_bytes() == before


# --------------------------------------------------------------------------- files that are not usable workbooks

def _zip_with(tmp_path, name, replace: dict) -> object:
    _, source = golden_workbook(tmp_path, name="source.xlsx")
    path = tmp_path / name
    with zipfile.ZipFile(source) as src, zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as out:
        for info in src.infolist():
            out.writestr(info.filename, replace.get(info.filename, src.read(info)))
        for extra, data in replace.items():
            if extra not in src.namelist():
                out.writestr(extra, data)
    return path


def _scores_part(tmp_path):
    from workbook_support import sheet_parts
    _, source = golden_workbook(tmp_path, name="parts.xlsx")
    return sheet_parts(source)[SHEET_SCORES]


def corrupted(tmp_path):
    _, path = golden_workbook(tmp_path, name="损坏.xlsx")
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    return path


def zip_bomb(tmp_path):
    path = tmp_path / "炸弹.xlsx"
    _, source = golden_workbook(tmp_path, name="source.xlsx")
    with zipfile.ZipFile(source) as src, zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as out:
        for info in src.infolist():
            out.writestr(info.filename, src.read(info))
        with out.open("xl/media/huge.bin", "w", force_zip64=True) as handle:
            chunk = bytes(1 << 20)
            for _ in range(110):
                handle.write(chunk)
    return path


def entity_expansion(tmp_path):
    part = _scores_part(tmp_path)
    laughs = (b'<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;">'
              b'<!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;">]>'
              b'<worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"><sheetData>'
              b'<row r="1"><c r="A1" t="inlineStr"><is><t>&lol3;</t></is></c></row></sheetData></worksheet>')
    return _zip_with(tmp_path, "实体.xlsx", {part: laughs})


def renamed_text(tmp_path):
    path = tmp_path / "其实是文本.xlsx"
    path.write_text("项目名称,得分\n某小区,90\n", encoding="utf-8")
    return path


def renamed_zip(tmp_path):
    path = tmp_path / "其实是压缩包.xlsx"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("readme.txt", "不是工作簿")
    return path


def encrypted(tmp_path):
    from msoffcrypto.format.ooxml import OOXMLFile
    _, source = golden_workbook(tmp_path, name="source.xlsx")
    path = tmp_path / "加密.xlsx"
    with open(source, "rb") as handle, open(path, "wb") as out:
        OOXMLFile(handle).encrypt("secret", out)
    return path


def old_xls(tmp_path):
    # the start of an OLE2 compound file holding a BIFF8 "Workbook" stream, as Excel 97-2003 writes it
    path = tmp_path / "旧版.xls"
    header = bytes.fromhex("D0CF11E0A1B11AE1") + bytes(16) + bytes.fromhex("3E000300FEFF0900")
    path.write_bytes(header + bytes(512 - len(header)) + "Workbook".encode("utf-16-le") + bytes(4096))
    return path


FILE_CASES = [
    (corrupted, "不是有效的 Excel 工作簿"),
    (zip_bomb, "疑似压缩炸弹"),
    (entity_expansion, "DOCTYPE/实体声明"),
    (renamed_text, "不是有效的 Excel 工作簿"),
    (renamed_zip, "不是 Excel 工作簿"),
    (encrypted, "已用密码加密"),
    (old_xls, "Excel 97-2003"),
]


@pytest.mark.parametrize("make,fragment", FILE_CASES, ids=[f.__name__ for f, _ in FILE_CASES])
def test_unusable_files_are_refused_and_untouched(tmp_path, make, fragment):
    path = make(tmp_path)
    before = path.read_bytes()
    result = run_cli(path)
    assert result.exit_code == 2, result.output
    assert fragment in result.output, result.output
    assert "Traceback" not in result.output and "内部错误" not in result.output
    assert path.read_bytes() == before
    assert not list(tmp_path.glob(".~anju-*"))   # no temporary file left behind


def test_file_open_in_excel_is_refused(tmp_path):
    pack, path = golden_workbook(tmp_path, name="打开中.xlsx")
    (tmp_path / "~$打开中.xlsx").write_bytes(b"lock")
    before = path.read_bytes()
    result = run_cli(path)
    assert result.exit_code == 2
    assert "正在 Excel/WPS 中打开" in result.output and "~$打开中.xlsx" in result.output
    assert path.read_bytes() == before


def test_read_only_file_reports_and_stays(tmp_path):
    import os
    if os.geteuid() == 0:
        pytest.skip("root can write read-only folders")
    pack, path = golden_workbook(tmp_path, change=lambda wb: put(wb, N.input_name("C101", "actual"), "六个"))
    tmp_path.chmod(0o555)
    try:
        before = path.read_bytes()
        result = run_cli(path)
        assert result.exit_code == 2 and "六个" in result.output and "未能写入" in result.output
        assert path.read_bytes() == before
    finally:
        tmp_path.chmod(0o755)
