"""anju audit on workbooks: every finding kind triggered (and not) by a generated, filled template;
the 复核 sheet; recalc-produced claims; the shipped seed 002 / 004 examples; the CLI."""

from __future__ import annotations

import json
import shutil
import sys
from decimal import Decimal as D
from pathlib import Path

import pytest
from click.testing import CliRunner

from engine.audit import KINDS, audit_file, fill_workbook
from engine.cli import main
from engine.packs import build
from engine.plugins import catalog
from engine.workbook import names as N
from engine.workbook.reader import read_workbook
from engine.workbook.recalc import recalc_file
from engine.workbook.template import write_template

from audit_cases import BASE_INPUTS, CASES, build_case

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = ROOT / "workbooks" / "examples"
SEED002 = EXAMPLES / "和静县2022第三方评价.xlsx"
SEED004 = EXAMPLES / "驻马店2020老旧小区改造自评.xlsx"


class PackCatalog:
    """The real catalog's rule types and checks, plus one test pack."""

    def __init__(self, pack_data: dict):
        real = catalog()
        self.rule_types, self.checks = real.rule_types, real.checks
        self.data = pack_data

    def pack(self, pack_id):
        return build(self.data, "test", self.rule_types)


def workbook_for(tmp_path: Path, side: dict, name: str = "case.xlsx"):
    pack_data, inputs, claims = build_case(side)
    cat = PackCatalog(pack_data)
    pack = cat.pack(pack_data["id"])
    path = tmp_path / name
    write_template(pack, path)
    fill_workbook(path, pack, inputs, claims, {"project": "测试项目", "region": "测试县", "year": "2024", "mode": "第三方"})
    return path, cat


@pytest.mark.parametrize("kind", sorted(CASES))
def test_workbook_kind_triggered(tmp_path, kind):
    path, cat = workbook_for(tmp_path, CASES[kind][0])
    report = audit_file(path, cat)
    found = [f for f in report.findings if f.kind == kind]
    assert found, [(f.kind, f.message) for f in report.findings]
    if kind not in ("pack_check", "pack_weights", "mixed_pp_rounding", "checklist_below_weight", "forward_formula_on_at_most_target",
                    "rule_maximum_above_weight", "input_error"):
        assert all(f.cells for f in found), [(f.kind, f.refs) for f in found]


@pytest.mark.parametrize("kind", sorted(CASES))
def test_workbook_kind_not_triggered(tmp_path, kind):
    path, cat = workbook_for(tmp_path, CASES[kind][1])
    report = audit_file(path, cat)
    assert not [f for f in report.findings if f.kind == kind], [f.message for f in report.findings]


def test_clean_workbook_reports_nothing_and_writes_an_empty_review(tmp_path):
    path, cat = workbook_for(tmp_path, {})
    report = audit_file(path, cat)
    assert report.findings == [] and report.written == "复核"


def test_review_sheet_is_written_losslessly_and_idempotently(tmp_path):
    path, cat = workbook_for(tmp_path, CASES["threshold_mismatch"][0])
    before = path.read_bytes()
    audit_file(path, cat, write=False)
    assert path.read_bytes() == before                      # --no-write
    report = audit_file(path, cat)
    written = path.read_bytes()
    assert written != before
    audit_file(path, cat)
    assert path.read_bytes() == written                     # nothing changes on a second audit
    import openpyxl
    ws = openpyxl.load_workbook(path)["复核"]
    assert [c.value for c in ws[1]][:len(N.REVIEW_COLUMNS)] == list(N.REVIEW_COLUMNS)
    rows = [[c.value for c in row] for row in ws.iter_rows(min_row=2, max_row=1 + len(report.findings))]
    assert [r[7] for r in rows] == [f.message for f in report.findings]       # every message, whole
    assert any(r[2] == KINDS["threshold_mismatch"].label and r[4] for r in rows)
    # the rest of the workbook is untouched: a recalc still sees its inputs
    assert read_workbook(path, cat.pack("audit-test")).inputs["X2"] == {"value": D("85.28")}


def test_fewer_findings_clear_old_review_rows(tmp_path):
    path, cat = workbook_for(tmp_path, CASES["total_mismatch"][0])
    first = audit_file(path, cat)
    assert len(first.findings) >= 2
    fill_workbook(path, cat.pack("audit-test"), {"X1": {"actual": "100", "target": "100"}}, {})
    second = audit_file(path, cat)
    assert second.findings == []
    import openpyxl
    ws = openpyxl.load_workbook(path)["复核"]
    assert all(c.value is None for row in ws.iter_rows(min_row=2, max_row=10) for c in row)


def claims_from_outputs(path: Path, pack) -> dict:
    data = read_workbook(path, pack, outputs=True)
    out = data.outputs
    levels = {name: out[N.level_score_name(n)] for n, name in enumerate([g[0] for g in N.level_groups(pack)], 1)}
    return {"scores": {i.code: out[N.score_name(i.code)] for i in pack.indicators},
            "total": out[N.OUT_TOTAL], "grade": out[N.OUT_GRADE], "levels": levels}


@pytest.mark.parametrize("change", [{}, {"X1": {"actual": "87", "target": "100"}}, {"X2": {"value": "77.77"}, "X4": {"value": "13.3"}}])
def test_claims_produced_by_recalc_report_nothing(tmp_path, change):
    pack_data, _, _ = build_case({})
    cat = PackCatalog(pack_data)
    pack = cat.pack("audit-test")
    path = tmp_path / "recalc.xlsx"
    write_template(pack, path)
    fill_workbook(path, pack, {**BASE_INPUTS, **change}, {}, {"project": "测试", "mode": "自评"})
    assert recalc_file(path, cat).status == "recalculated"
    fill_workbook(path, pack, {}, claims_from_outputs(path, pack))
    assert audit_file(path, cat).findings == []


def test_seed002_recalc_claims_leave_only_the_pack_warning(tmp_path):
    cat = catalog()
    pack = cat.pack("hejing-2022-third-party")
    path = tmp_path / "hejing.xlsx"
    write_template(pack, path)
    fill_workbook(path, pack, pack.golden[0]["inputs"], {}, {"mode": "第三方"})
    assert recalc_file(path, cat).status == "recalculated"
    fill_workbook(path, pack, {}, claims_from_outputs(path, pack))
    kinds = {(f.kind, f.codes) for f in audit_file(path, cat).findings}
    assert kinds == {("rule_maximum_above_weight", ("C302",))}     # the pack's own (declared, capped) quirk


# --------------------------------------------------------------------------- the shipped examples

def copy_of(tmp_path, source: Path) -> Path:
    target = tmp_path / source.name
    shutil.copyfile(source, target)
    return target


def test_seed002_example(tmp_path):
    path = copy_of(tmp_path, SEED002)
    report = audit_file(path, catalog())
    by = {(f.kind, f.codes): f for f in report.findings}
    d301 = by[("threshold_mismatch", ("D301",))]
    assert d301.claimed == "4.52" and d301.computed == "4.03" and "4.02" in d301.message and "90%" in d301.message
    assert d301.cells and d301.cells[0].startswith("评分表!")
    assert ("rounding_mode", ("D301",)) in by and "截尾" in by[("rounding_mode", ("D301",))].message
    assert ("rule_maximum_above_weight", ("C302",)) in by
    assert ("forward_formula_on_at_most_target", ("C401",)) in by
    assert by[("total_mismatch", ())].computed == "88.80"
    assert ("self_vs_verified_gap", ("C201",)) in by
    written = path.read_bytes()
    audit_file(path, catalog())
    assert path.read_bytes() == written                       # auditing again rewrites nothing


def test_seed004_example(tmp_path):
    path = copy_of(tmp_path, SEED004)
    report = audit_file(path, catalog())
    by = {(f.kind, f.codes): f for f in report.findings}
    assert "16.4%" in by[("implied_input", ("F1",))].message
    assert ("score_missing", ("S1",)) in by
    assert any(k == "total_arithmetic" for k, _ in by) and any(k == "grade_wording" for k, _ in by)
    assert by[("implied_input", ("F1",))].cells[-1] == read_workbook(path).locate("F1", "social_share.value")[0] + "!" + \
        read_workbook(path).locate("F1", "social_share.value")[1]


def test_example_builder_is_byte_reproducible(tmp_path):
    """Two builds give the same bytes (the committed files are rebuilt with scripts/make_examples.py)."""
    sys.path.insert(0, str(ROOT / "scripts"))
    import make_examples
    built = []
    for folder in ("a", "b"):
        (tmp_path / folder).mkdir()
        built.append(make_examples.build(make_examples.seed004(), tmp_path / folder).read_bytes())
    assert built[0] == built[1]


def test_cli_audit(tmp_path):
    path = copy_of(tmp_path, SEED002)
    runner = CliRunner()
    result = runner.invoke(main, ["audit", str(path)], obj={})
    assert result.exit_code == 1                              # errors found
    assert "满分线与评分标准不符" in result.output and "D301" in result.output and "复核" in result.output
    result = runner.invoke(main, ["audit", "--json", "--no-write", str(path)], obj={})
    document = json.loads(result.output)
    assert document["files"][0]["counts"]["error"] >= 2
    assert {f["kind"] for f in document["files"][0]["findings"]} >= {"threshold_mismatch", "rounding_mode",
                                                                      "rule_maximum_above_weight", "forward_formula_on_at_most_target"}


def test_cli_audit_yaml_and_bad_file(tmp_path):
    import yaml
    pack = catalog().pack("henan-2020-old-community")
    doc = {"pack": pack.id, "inputs": pack.golden[0]["inputs"],
           "claims": {"scores": pack.golden[0]["expected_scores"], "total": "98.1", "grade": "优"}}
    file = tmp_path / "case.yaml"
    file.write_text(yaml.safe_dump(doc, allow_unicode=True), encoding="utf-8")
    runner = CliRunner()
    result = runner.invoke(main, ["audit", str(file)], obj={})
    assert result.exit_code == 0, result.output                 # only the info finding on mixed pp rounding
    assert "百分点取整口径不一" in result.output
    bad = tmp_path / "bad.xlsx"
    bad.write_bytes(b"not a workbook")
    result = runner.invoke(main, ["audit", str(bad)], obj={})
    assert result.exit_code == 2 and "错误" in result.output
