"""Fast checks of the rules-to-formulas compiler (engine.formulas); no LibreOffice here.

What the formulas compute is proved against the engine by LibreOffice in
tests/test_live_differential.py; these tests check the text: only functions
every target spreadsheet evaluates alike, only names the template defines,
within Excel's length and nesting limits, and that whatever cannot be
compiled is marked as such instead of getting a formula.
"""

from __future__ import annotations

import sys
from decimal import Decimal
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

import live_harness as H  # noqa: E402

from engine import formulas as F  # noqa: E402
from engine.model import Rounding  # noqa: E402
from engine.packs import build  # noqa: E402
from engine.plugins import catalog  # noqa: E402
from engine.ruletypes import REGISTRY, RuleType  # noqa: E402
from engine.workbook import names as N  # noqa: E402
from engine.workbook.template import build_template  # noqa: E402

SHIPPED = sorted(catalog().packs)


def all_packs():
    return [catalog().pack(pack_id) for pack_id in SHIPPED] + H.synthetic_packs()


@pytest.fixture(scope="module")
def compiled():
    return {pack.id: (pack, F.compile_pack(pack)) for pack in all_packs()}


def test_every_builtin_rule_type_has_a_compiler():
    assert set(REGISTRY) <= set(F.RULE_COMPILERS), set(REGISTRY) - set(F.RULE_COMPILERS)


def test_synthetic_packs_cover_the_whole_vocabulary():
    used = set()
    for pack in all_packs():
        for indicator in pack.indicators:
            used.add(indicator.compiled.rule_type.name)
            used.update(rule.rule_type.name for *_, rule in indicator.compiled.parts)
    assert set(REGISTRY) <= used, set(REGISTRY) - used


@pytest.mark.parametrize("pack_id", SHIPPED)
def test_every_output_of_every_shipped_pack_compiles(pack_id):
    pack = catalog().pack(pack_id)
    sheet = F.compile_pack(pack)
    assert sheet.not_compilable == {}
    expected = {N.OUT_TOTAL, N.OUT_GRADE}
    for indicator in pack.indicators:
        expected |= {N.score_name(indicator.code), N.rate_name(indicator.code)}
    for number in range(1, len(N.level_groups(pack)) + 1):
        expected |= {N.level_score_name(number), N.level_rate_name(number)}
    assert set(sheet.formulas) == expected


def test_only_portable_functions(compiled):
    for pack, sheet in compiled.values():
        for name, text in list(sheet.compiled.items()) + list(sheet.helpers.items()):
            used = F.functions_used(text)
            assert used <= F.ALLOWED_FUNCTIONS, (pack.id, name, used - F.ALLOWED_FUNCTIONS)
            assert not used & F.FORBIDDEN_FUNCTIONS
            assert "{" not in text.replace('"{"', "")   # no array constants, no dynamic arrays


def test_formulas_reference_only_names_the_template_defines(compiled):
    for pack_id in SHIPPED:
        pack, sheet = compiled[pack_id]
        defined = {name.lower() for name in build_template(pack, live=True).defined_names}
        for name, text in list(sheet.compiled.items()) + list(sheet.helpers.items()):
            missing = {n for n in F.names_used(text) if n.lower() not in defined}
            assert not missing, (pack_id, name, missing)
            assert name.lower() in defined, (pack_id, name)


def test_within_excel_limits(compiled):
    for pack, sheet in compiled.values():
        for name, text in sheet.compiled.items():
            assert len(text) <= 8192 and F.nesting_depth(text) <= 64, (pack.id, name, len(text))


def test_golden_formula_shape():
    sheet = F.compile_pack(catalog().pack("hejing-2022-third-party"))
    c101 = sheet.formula("out_C101_score")
    assert "ROUNDDOWN(ROUND(7*MAX(0,MIN(1," in c101
    assert 'in_C101_status="无任务"' in c101 and c101.startswith("IFERROR(")
    assert sheet.formula(N.OUT_GRADE).count('"良"') == 1


@pytest.mark.parametrize("mode,function", [("ROUND_HALF_UP", "ROUND("), ("ROUND_DOWN", "ROUNDDOWN("), ("ROUND_UP", "ROUNDUP("),
                                           ("ROUND_FLOOR", "INT("), ("ROUND_CEILING", "INT(-"),
                                           ("ROUND_HALF_EVEN", "MOD(ABS("), ("ROUND_HALF_DOWN", "MOD(ABS(")])
def test_every_rounding_mode_compiles(mode, function):
    from engine.numbers import rounding_mode
    text = F.quant("x", Rounding(2, rounding_mode(mode)))
    assert function in text and F.functions_used(text) <= F.ALLOWED_FUNCTIONS
    assert f"ROUND(x,{F.GUARD})" in text or f"ROUND((x)*100,{F.GUARD - 2})" in text


def test_literals():
    assert F.num(Decimal("0.60")) == "0.6" and F.num(Decimal("100")) == "100"
    assert F.num(Decimal("-2.5")) == "(-2.5)" and F.num(Decimal("1E+3")) == "1000" and F.num(Decimal("-0")) == "0"
    assert F.string('a"b') == '"a""b"'


def pack_with(rule, *, weight="10", inputs=None):
    data = {"id": "t", "indicators": [{"code": "X1", "path": ["甲", "乙"], "weight": weight, "rule": rule}]}
    return build(data, "test")


@pytest.mark.parametrize("expr", ["a % 3", "a ** b", "a ** 0", "(a > 1) + (b > 1)", "a and b", "round(a, b)", "min(a)",
                                  "-(a > 1)", "a if a > 1 else a > 2"])
def test_formula_rules_outside_the_subset_are_not_compiled(expr):
    pack = pack_with({"type": "formula", "expr": expr, "inputs": [{"key": "a"}, {"key": "b"}]})
    sheet = F.compile_pack(pack)
    reason = sheet.formulas["out_X1_score"]
    assert isinstance(reason, F.NotCompilable) and "公式" in reason.reason
    assert isinstance(sheet.formulas["out_X1_rate"], F.NotCompilable)
    assert sheet.engine_cells[N.OUT_TOTAL] == ["out_X1_score"]
    assert "需用 anju 计算" in sheet.comment("out_X1_score") and "anju recalc" in sheet.comment(N.OUT_TOTAL)


@pytest.mark.parametrize("expr", ["w * a / b", "min(w, max(0, a - b))", "w if a >= b else 0", "round(a / 3, 2) + floor(b) - ceil(a)",
                                  "clamp(a * 2, 0, w) if not (a > 5 and b < 2) else abs(a - b)", "(a + 1) ** 2 / 100",
                                  "w * (1 if a == b else 0.5)", "w if 0 < a <= b else 0", "w - 0.1 * a"])
def test_formula_rules_inside_the_subset_compile(expr):
    pack = pack_with({"type": "formula", "expr": expr, "inputs": [{"key": "a"}, {"key": "b"}]})
    text = F.compile_pack(pack).formula("out_X1_score")
    assert text and F.functions_used(text) <= F.ALLOWED_FUNCTIONS


def test_plugin_rule_types_without_a_compiler_stay_engine_written():
    from engine.ruletypes import Outcome

    custom = RuleType("custom_rule", "自定义", lambda call: Outcome(call.weight, "满分"), {}, lambda p: [])
    data = {"id": "t", "indicators": [{"code": "X1", "path": ["甲"], "weight": "5", "rule": {"type": "custom_rule"}},
                                      {"code": "X2", "path": ["甲"], "weight": "5", "rule": {"type": "binary"}}]}
    pack = build(data, "test", {**REGISTRY, "custom_rule": custom})
    sheet = F.compile_pack(pack)
    assert "custom_rule" in sheet.formulas["out_X1_score"].reason
    assert sheet.formula("out_X2_score") and sheet.formula(N.OUT_TOTAL)
    assert sheet.engine_cells[N.level_score_name(1)] == ["out_X1_score"]


def test_normalised_comparison_ignores_what_a_save_may_change():
    text = 'IF(in_A_status="无任务",7,ROUNDDOWN(ROUND(7*MAX(0,MIN(1,in_A_actual/in_A_target)),9),2))'
    assert F.same_formula(text, "=if( in_a_status = \"无任务\" , 7.0 , _xlfn.ROUNDDOWN(ROUND(7*MAX(0;MIN(1,in_A_actual/in_A_target)),9),2))")
    assert not F.same_formula(text, text.replace("7*", "8*"))
    assert not F.same_formula(text, text.replace('"无任务"', '"无数据"'))
    assert not F.same_formula(text, None)


def test_tamper_check(tmp_path):
    from engine.workbook.live import apply_live_formulas
    from engine.workbook.xlsxpatch import Formula, open_package, patch_cells

    pack = catalog().pack("hejing-2022-third-party")
    wb = build_template(pack)
    sheet = apply_live_formulas(wb, pack)
    path = tmp_path / "live.xlsx"
    wb.save(path)
    assert F.formula_tampering(open_package(path), pack) == []
    where = open_package(path).defined_names()["out_C101_score"]
    patch_cells(path, {where[0]: {where[1]: Formula("7")}})
    found = F.formula_tampering(open_package(path), pack)
    assert [(s, c) for s, c, *_ in found] == [where]
    assert found[0][2] == sheet.formula("out_C101_score") and found[0][3] == "7"
    patch_cells(path, {where[0]: {where[1]: Decimal("6.5")}})          # formula replaced by a number
    assert [(s, c, f) for s, c, _, f in F.formula_tampering(open_package(path), pack)] == [(*where, "")]


def test_not_a_live_template_is_not_tampered(tmp_path):
    from engine.workbook.xlsxpatch import open_package

    pack = catalog().pack("hejing-2022-third-party")
    path = tmp_path / "plain.xlsx"
    build_template(pack).save(path)
    assert F.formula_tampering(open_package(path), pack) == []


def test_recalc_keeps_formulas_and_caches_engine_values(tmp_path):
    from engine.workbook.live import apply_live_formulas, live_edits
    from engine.workbook.xlsxpatch import CachedValue, Formula, open_package, patch_cells

    pack = catalog().pack("hejing-2022-third-party")
    wb = build_template(pack)
    sheet = apply_live_formulas(wb, pack)
    path = tmp_path / "live.xlsx"
    wb.save(path)
    package = open_package(path)
    names = package.defined_names()
    total_sheet, total_cell = names[N.OUT_TOTAL]
    score_sheet, score_cell = names["out_C101_score"]
    explain_sheet, explain_cell = names["out_C101_explain"]
    patch_cells(path, {score_sheet: {score_cell: Formula("1+1")}})
    package = open_package(path)
    edits = {total_sheet: {total_cell: Decimal("89.29")}}
    edits.setdefault(score_sheet, {})[score_cell] = Decimal("7")
    edits.setdefault(explain_sheet, {})[explain_cell] = "说明"
    new, restored = live_edits(package, pack, edits, sheet)
    assert new[total_sheet][total_cell] == CachedValue(Decimal("89.29"))
    assert new[score_sheet][score_cell] == Formula(sheet.formula("out_C101_score"), Decimal("7"))
    assert new[explain_sheet][explain_cell] == "说明"
    assert restored == [(score_sheet, score_cell, sheet.formula("out_C101_score"), "1+1")]
    patch_cells(path, new)
    package = open_package(path)
    assert F.formula_tampering(package, pack) == []


def test_tamper_check_covers_named_helper_formulas(tmp_path):
    import re
    import zipfile

    from engine.workbook.live import apply_live_formulas
    from engine.workbook.xlsxpatch import open_package

    pack = catalog().pack("national-rental-housing-self-evaluation")          # na_policy: redistribute
    wb = build_template(pack)
    sheet = apply_live_formulas(wb, pack)
    assert sheet.helpers and all(name.startswith("calc_") for name in sheet.helpers)
    path = tmp_path / "live.xlsx"
    wb.save(path)
    assert F.formula_tampering(open_package(path), pack) == []
    name, text = next((n, t) for n, t in sheet.helpers.items() if n.endswith("_present"))
    edited = tmp_path / "edited.xlsx"
    with zipfile.ZipFile(path) as source, zipfile.ZipFile(edited, "w", zipfile.ZIP_DEFLATED) as target:
        for item in source.infolist():
            data = source.read(item)
            if item.filename == "xl/workbook.xml":
                pattern = re.compile(rf'(<definedName name="{name}"[^>]*>)[^<]*(</definedName>)')
                xml, replaced = pattern.subn(r"\g<1>1\g<2>", data.decode("utf-8"))
                assert replaced == 1
                data = xml.encode("utf-8")
            target.writestr(item, data)
    assert [(s, c, f) for s, c, _, f in F.formula_tampering(open_package(edited), pack)] == [(F.NAMES_SHEET, name, "1")]
