"""The name convention and the reader: what a workbook says, by defined name."""

from __future__ import annotations

from decimal import Decimal

import openpyxl
import pytest

from engine.model import InputSpec
from engine.plugins import catalog
from engine.scoring import evaluate
from engine.workbook import names as N
from engine.workbook.reader import constant_formula_value, formula_cells, read_workbook
from engine.workbook.recalc import recalc_file
from engine.workbook.template import build_template
from workbook_support import destination, fill, fill_answers, put

CATALOG = catalog()


# --------------------------------------------------------------------------- names

def test_names_convention():
    assert N.input_name("C101", "actual") == "in_C101_actual"
    assert N.input_name("F1", "arranged", "local_budget") == "in_F1_local_budget_arranged"
    assert N.spec_name("D301", InputSpec("answers", "问卷", "answers")) == "in_D301_answers"
    assert N.status_name("C101") == "in_C101_status"
    assert N.claimed_name("C101") == "in_C101_claimed" and N.claimed_name("C101", "claimed2") == "in_C101_claimed2"
    assert (N.score_name("C101"), N.rate_name("C101"), N.explain_name("C101")) == \
        ("out_C101_score", "out_C101_rate", "out_C101_explain")
    assert (N.level_score_name(2), N.level_rate_name(2)) == ("out_level_2_score", "out_level_2_rate")
    assert N.meta_name("pack_id") == "meta_pack_id"
    assert (N.OUT_TOTAL, N.OUT_GRADE, N.OUT_STAMP, N.OUT_MESSAGES) == ("out_total", "out_grade", "out_stamp", "out_messages")
    assert N.TOTAL_CLAIMED["claimed"] == "in_total_claimed" and N.GRADE_CLAIMED["claimed"] == "in_grade_claimed"
    # characters Excel does not allow in names become "_"
    assert N.input_name("1.2-a", "实际 值") == "in_1.2_a_实际_值"
    assert N.is_valid_name("in_1.2_a_实际_值") and not N.is_valid_name("1abc")


def test_every_shipped_pack_has_valid_unique_names():
    for pack_id in CATALOG.packs:
        assert N.check_pack_names(CATALOG.pack(pack_id)) == [], pack_id


def test_colliding_names_are_refused():
    from engine.packs import build
    from engine.workbook.template import TemplateError
    pack = build({"id": "t", "indicators": [
        {"code": "A-1", "path": ["x"], "weight": "5", "rule": {"type": "binary"}},
        {"code": "a_1", "path": ["x"], "weight": "5", "rule": {"type": "binary"}}]})
    assert any("重复" in p for p in N.check_pack_names(pack))
    with pytest.raises(TemplateError, match="重复"):
        build_template(pack)


# --------------------------------------------------------------------------- reading

def workbook(tmp_path, pack_id="hejing-2022-third-party", change=None, name="t.xlsx"):
    pack = CATALOG.pack(pack_id)
    wb = build_template(pack)
    fill(wb, pack, pack.golden[0]["inputs"])
    if change:
        change(wb)
    path = tmp_path / name
    wb.save(path)
    return pack, path


def test_reads_metadata_inputs_and_claimed_scores_separately(tmp_path):
    def change(wb):
        put(wb, N.meta_name("project"), "和静县2022年老旧小区改造")
        put(wb, N.meta_name("year"), 2022)
        put(wb, N.claimed_name("C101"), 7)
        put(wb, N.claimed_name("C101", "claimed2"), Decimal("6.5"))
        put(wb, N.TOTAL_CLAIMED["claimed"], Decimal("91.3"))
        put(wb, N.GRADE_CLAIMED["claimed"], "优")
        put(wb, N.TOTAL_CLAIMED["claimed2"], Decimal("89.29"))
    pack, path = workbook(tmp_path, change=change)
    data = read_workbook(path, catalog=CATALOG)
    assert data.pack_id == pack.id and data.pack_version == pack.version
    assert data.meta["project"] == "和静县2022年老旧小区改造" and data.meta["year"] == "2022"
    assert data.meta["mode"] == "第三方" and data.meta["region"] == pack.region
    assert data.claimed == {"C101": Decimal("7")} and data.claimed2 == {"C101": Decimal("6.5")}
    assert data.claimed_total == Decimal("91.3") and data.claimed_grade == "优"
    assert data.claimed_total2 == Decimal("89.29") and data.claimed_grade2 is None
    assert "claimed" not in data.inputs["C101"]
    assert data.inputs["C101"] == {"actual": Decimal("6"), "target": Decimal("6")}
    assert data.inputs["D301"]["answers"] == {"非常满意": Decimal("82"), "满意": Decimal("39"), "一般": Decimal("4"),
                                             "不满意": Decimal("0")}
    assert data.problems == []
    # exactly what the engine scores from the YAML facts
    assert evaluate(pack, data.inputs).total == evaluate(pack, pack.golden[0]["inputs"]).total


def test_states_in_status_cell_or_value_cell(tmp_path):
    def change(wb):
        put(wb, N.status_name("C201"), "未验收")
        put(wb, N.input_name("C101", "actual"), "无任务")
        put(wb, N.input_name("C101", "target"), None)
        fill_answers(wb, N.input_name("D101", "answers"), "无数据")
    pack, path = workbook(tmp_path, change=change)
    data = read_workbook(path, catalog=CATALOG)
    result = evaluate(pack, data.inputs)
    assert result.indicator("C201").status == "not_accepted"
    assert result.indicator("C101").status == "not_applicable" and result.indicator("C101").score == Decimal("7")
    assert result.indicator("D101").status == "no_data"


def test_blank_optional_inputs_are_absent(tmp_path):
    pack, path = workbook(tmp_path, "xinjiang-2019-transfer")
    data = read_workbook(path, catalog=CATALOG)
    assert data.inputs["E0"] == {"budget": Decimal("120526"), "executed": Decimal("11571")}   # "received" left blank
    assert "value" not in data.inputs["Q1"]


def test_booleans_as_checkboxes_or_words(tmp_path):
    pack = CATALOG.pack("hejing-2022-third-party")
    wb = build_template(pack)
    fill(wb, pack, pack.golden[0]["inputs"], bool_style="bool")   # TRUE/FALSE cells, as a program may write
    path = tmp_path / "bool.xlsx"
    wb.save(path)
    assert recalc_file(path, CATALOG).total == "89.29"


def test_formulas_are_found_and_constants_computed(tmp_path):
    xml = (b'<worksheet><sheetData><row r="1"><c r="A1"><f>1200+300</f><v>1500</v></c>'
           b'<c r="B1" s="1"><v>3</v></c><c r="C1"><f>SUM(A1:B1)&amp;"&#22522;"</f></c></row></sheetData></worksheet>')
    assert formula_cells(xml) == {"A1": "1200+300", "C1": 'SUM(A1:B1)&"基"'}
    assert constant_formula_value("1200+300") == Decimal("1500")
    assert constant_formula_value("(3+4)/2") == Decimal("3.5")
    assert constant_formula_value("95%") == Decimal("0.95")
    assert constant_formula_value("A1*2") is None and constant_formula_value("1/0") is None


def test_locate_maps_engine_keys_to_cells(tmp_path):
    pack, path = workbook(tmp_path, "henan-2020-old-community")
    data = read_workbook(path, catalog=CATALOG)
    wb = openpyxl.load_workbook(path)
    assert data.locate("F1", "local_budget.arranged") == destination(wb, N.input_name("F1", "arranged", "local_budget"))
    assert data.locate("F1", "social_share") == destination(wb, N.input_name("F1", "value", "social_share"))
    assert data.locate("O1", "status") == destination(wb, N.status_name("O1"))
    assert data.locate("O1", None) == destination(wb, N.input_name("O1", "actual"))
    pack, path = workbook(tmp_path, name="d.xlsx")
    data = read_workbook(path, catalog=CATALOG)
    sheet, area = destination(openpyxl.load_workbook(path), N.input_name("D301", "answers"))
    first = area.split(":")[0]
    assert data.locate("D301", "answers") == (sheet, "B" + first[1:])


def test_template_from_another_pack_version_is_noted(tmp_path):
    pack, path = workbook(tmp_path, change=lambda wb: put(wb, N.meta_name("pack_version"), "0.9.0"))
    report = recalc_file(path, CATALOG)
    assert report.status == "recalculated"
    assert any("0.9.0" in m and pack.version in m for m in report.messages)


def test_missing_names_are_reported(tmp_path):
    def change(wb):
        del wb.defined_names[N.input_name("C101", "actual")]
    pack, path = workbook(tmp_path, change=change)
    report = recalc_file(path, CATALOG)
    assert report.status == "failed"
    assert any("缺少名称“in_C101_actual”" in m for m in report.messages)
