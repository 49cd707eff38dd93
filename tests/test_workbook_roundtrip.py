"""Round trip for every shipped pack's golden cases: template → filled through the
defined names with openpyxl → anju recalc → read back with openpyxl and with
LibreOffice (forced to recalculate) → equal to the engine's own scores."""

from __future__ import annotations

import json
from decimal import Decimal

import openpyxl
import pytest
from click.testing import CliRunner

import lo
from engine.cli import main
from engine.plugins import catalog
from engine.scoring import evaluate
from engine.workbook import names as N
from engine.workbook.recalc import recalc_file
from engine.workbook.xlsxpatch import CachedValue, patch_cells
from engine.workbook.template import SHEET_SCORES, SHEET_SUMMARY, SHEET_SURVEY, build_template, write_template
from workbook_support import compare, destination, expected_results, filled_template, read_results
from workbook_support import get as read_name

CATALOG = catalog()
PACK_IDS = sorted(CATALOG.packs)
CASES = [(pack_id, index) for pack_id in PACK_IDS for index, _ in enumerate(CATALOG.pack(pack_id).golden)]


def test_every_pack_has_a_template_with_every_name(tmp_path):
    for pack_id in PACK_IDS:
        pack = CATALOG.pack(pack_id)
        path = write_template(pack, tmp_path / f"{pack_id}.xlsx")
        wb = openpyxl.load_workbook(path)
        defined = {name.lower() for name in wb.defined_names}
        expected = {N.meta_name(f) for f in N.META_FIELDS} | {N.OUT_TOTAL, N.OUT_GRADE, N.OUT_STAMP, N.OUT_MESSAGES}
        expected |= set(N.TOTAL_CLAIMED.values()) | set(N.GRADE_CLAIMED.values())
        for indicator in pack.indicators:
            expected |= set(N.indicator_names(indicator))
        for number in range(1, len(N.level_groups(pack)) + 1):
            expected |= {N.level_score_name(number), N.level_rate_name(number)}
        assert {e.lower() for e in expected} <= defined, pack_id
        assert wb[SHEET_SCORES].protection.sheet and wb[SHEET_SCORES].protection.password is None
        for indicator in pack.indicators:
            sheet, ref = destination(wb, N.status_name(indicator.code))
            assert wb[sheet][ref].protection.locked is False
            sheet, ref = destination(wb, N.score_name(indicator.code))
            assert wb[sheet][ref].protection.locked is True
            for spec in indicator.compiled.specs:
                sheet, ref = destination(wb, N.spec_name(indicator.code, spec))
                cell = wb[sheet][ref.split(":")[-1]]
                assert cell.protection.locked is False, (pack_id, indicator.code, spec.key)
        assert wb[SHEET_SCORES].page_setup.orientation == "landscape"
        assert str(wb[SHEET_SCORES].page_setup.paperSize) == "9"   # A4
        assert wb[SHEET_SCORES].print_title_rows
        assert wb[SHEET_SUMMARY]._charts
        assert wb.calculation.fullCalcOnLoad


def test_template_layout_labels_every_input():
    pack = CATALOG.pack("hejing-2022-third-party")
    wb = build_template(pack)
    ws = wb[SHEET_SCORES]
    headers = [c.value for c in ws[3]]
    label_col = headers.index("输入项") + 1
    for indicator in pack.indicators:
        for spec in indicator.compiled.specs:
            if spec.kind == "answers":
                continue
            sheet, ref = destination(wb, N.spec_name(indicator.code, spec))
            row = ws[ref].row
            assert spec.label in str(ws.cell(row, label_col).value)
    # category inputs carry a drop-down with the Chinese labels
    sheet, ref = destination(wb, N.input_name("C301", "category"))
    lists = [dv for dv in ws.data_validations.dataValidation if ref in str(dv.sqref)]
    spec = pack.indicator("C301").compiled.specs[0]
    assert lists and all(label in lists[0].formula1 for _, label in spec.choices)
    # targets that look like formulas stay text
    assert any(c.value == "=6月" and c.data_type == "s" for row in ws.iter_rows() for c in row)


@pytest.fixture(scope="module")
def recalculated(tmp_path_factory):
    """Every golden case filled and recalculated once (reused by the LibreOffice test)."""
    folder = tmp_path_factory.mktemp("roundtrip")
    done = {}
    for pack_id, index in CASES:
        pack = CATALOG.pack(pack_id)
        case = pack.golden[index]
        path = filled_template(pack, case["inputs"], folder / f"{pack_id}-{index}.xlsx")
        report = recalc_file(path, CATALOG)
        done[(pack_id, index)] = (path, report, evaluate(pack, case["inputs"]))
    return done


@pytest.mark.parametrize("pack_id,index", CASES)
def test_roundtrip_openpyxl(recalculated, pack_id, index):
    path, report, result = recalculated[(pack_id, index)]
    pack = CATALOG.pack(pack_id)
    assert report.status == "recalculated", report.messages
    assert report.total == str(result.total.normalize()) or Decimal(report.total) == result.total
    assert compare(read_results(path, pack), expected_results(pack, result)) == []
    # the template's check formula keeps its formula and gets a fresh cached value
    wb = openpyxl.load_workbook(path)
    sheet, ref = destination(wb, N.OUT_SCORES_SUM)
    assert str(wb[sheet][ref].value).startswith("=SUM(")
    cached = openpyxl.load_workbook(path, data_only=True)[sheet][ref].value
    assert Decimal(repr(cached)) == sum(r.score for r in result.indicators)
    case = pack.golden[index]
    if case.get("expected_total") is not None:
        assert abs(result.total - Decimal(str(case["expected_total"]))) <= Decimal("0.005")


def test_roundtrip_libreoffice(recalculated, tmp_path):
    """LibreOffice, made to recalculate on load, shows the same results and recomputes the template's formulas."""
    lo.require()
    paths = [path for path, _, _ in recalculated.values()]
    # give the template's check formula a wrong cached value: only a real recalculation fixes it
    for path in paths:
        sheet, ref = destination(openpyxl.load_workbook(path), N.OUT_SCORES_SUM)
        patch_cells(path, {sheet: {ref: CachedValue(-1)}})
    converted = lo.recalculate(paths, tmp_path / "libreoffice")
    for (pack_id, index), (path, _, result) in recalculated.items():
        pack = CATALOG.pack(pack_id)
        copy = converted[path]
        assert compare(read_results(copy, pack), expected_results(pack, result)) == [], (pack_id, index)
        wb = openpyxl.load_workbook(copy, data_only=True)
        check = read_name(wb, N.OUT_SCORES_SUM)
        assert Decimal(repr(check)).quantize(Decimal("0.000001")) == sum(r.score for r in result.indicators)
        survey = wb[SHEET_SURVEY]
        for row in survey.iter_rows():
            if row[0].value == "合计":
                counts = []
                r = row[0].row - 1
                while isinstance(survey.cell(r, 2).value, (int, float)) or survey.cell(r, 1).value not in ("选项", None):
                    value = survey.cell(r, 2).value
                    counts.append(value or 0)
                    r -= 1
                assert (row[1].value or 0) == sum(counts)


def test_anju_score_cli_agrees_with_workbook(recalculated, tmp_path):
    pack_id, index = "hejing-2022-third-party", 0
    path, _, _ = recalculated[(pack_id, index)]
    pack = CATALOG.pack(pack_id)
    facts = tmp_path / "facts.json"
    facts.write_text(json.dumps(pack.golden[index]["inputs"], ensure_ascii=False), encoding="utf-8")
    result = CliRunner().invoke(main, ["score", "--pack", pack_id, "--format", "json", str(facts)], obj={})
    assert result.exit_code == 0, result.output
    scored = json.loads(result.output)
    read = read_results(path, pack)
    for item in scored["indicators"]:
        assert Decimal(repr(read[N.score_name(item["code"])])) == Decimal(item["score"])
        assert read[N.explain_name(item["code"])] == item["explanation"]
    assert Decimal(repr(read[N.OUT_TOTAL])) == Decimal(scored["total"])
    assert read[N.OUT_GRADE] == scored["grade"]


def test_recalc_cli(tmp_path):
    pack = CATALOG.pack("xinjiang-2019-transfer")
    path = filled_template(pack, pack.golden[0]["inputs"], tmp_path / "新疆.xlsx")
    runner = CliRunner()
    first = runner.invoke(main, ["recalc", str(path)], obj={})
    assert first.exit_code == 0, first.output
    assert "已重新计算" in first.output and "78.2" in first.output
    again = runner.invoke(main, ["recalc", str(path)], obj={})
    assert again.exit_code == 0 and "未变化" in again.output
    forced = runner.invoke(main, ["recalc", "--force", str(path)], obj={})
    assert forced.exit_code == 0 and "已重新计算" in forced.output


def test_template_cli(tmp_path):
    runner = CliRunner()
    out = tmp_path / "模板.xlsx"
    result = runner.invoke(main, ["template", "--pack", "henan-2020-old-community", "-o", str(out)], obj={})
    assert result.exit_code == 0, result.output
    assert out.exists() and "已生成模板" in result.output
    again = runner.invoke(main, ["template", "--pack", "henan-2020-old-community", "-o", str(out)], obj={})
    assert again.exit_code == 2 and "已存在" in again.output
    unknown = runner.invoke(main, ["template", "--pack", "no-such-pack", "-o", str(tmp_path / "x.xlsx")], obj={})
    assert unknown.exit_code == 2 and "找不到规则包" in unknown.output
