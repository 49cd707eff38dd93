"""Live templates computed by LibreOffice alone agree with the engine (issue 7).

One soffice call (forced to recalculate on load, see tests/lo.py) computes:

* every shipped pack's golden cases in real live templates (``build_template``
  + the compiled formulas, filled through the defined names): LibreOffice must
  show the golden scores, total and grade, and every rate and subtotal of the
  engine;
* the differential run: hypothesis input sets (fixed seed) per shipped pack and
  per synthetic pack covering the whole rule vocabulary, compared output by
  output at the pack's places. CI runs ``ANJU_DIFF_CASES`` (default 30) per
  pack; ``ANJU_DIFF_CASES=1000`` (or benchmarks/live_agreement.py) is the full
  run. Disagreements must be of the documented kind (an exact value within
  1e-9 of a rounding edge, see ``live_harness.explain``);
* invalid inputs: the score of the indicator concerned, the total and the grade
  show "" (never a number the engine would refuse to give).
"""

from __future__ import annotations

import os
import sys
from decimal import Decimal
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

import live_harness as H  # noqa: E402
import lo  # noqa: E402
import workbook_support as W  # noqa: E402

from engine.plugins import catalog  # noqa: E402
from engine.scoring import evaluate  # noqa: E402
from engine.workbook import names as N  # noqa: E402
from engine.workbook.template import build_template  # noqa: E402

CASES = int(os.environ.get("ANJU_DIFF_CASES", "30"))
SEED = int(os.environ.get("ANJU_DIFF_SEED", str(H.DEFAULT_SEED)))
SHIPPED = sorted(catalog().packs)
SYNTHETIC = [data["id"] for data in H.SYNTHETIC_PACKS]


def live_template(pack):
    """The live template of a pack as an openpyxl workbook (formulas in the output cells)."""
    return build_template(pack, live=True)


# invalid inputs for hejing-2022-third-party, applied one at a time to its golden case
INVALID = [
    ("C101", {"actual": None}),                       # required input left blank
    ("C101", {"target": "0"}),                        # target must be > 0
    ("C102", {"actual": "八点八"}),                    # text in a number cell
    ("C102", {"actual": "-1"}),                       # negative
    ("B204", {"count": "1.5"}),                       # not a whole count
    ("C301", {"category": "提前开工"}),                 # not one of the drop-down labels
    ("A101", {"fits_policy": "也许"}),                  # not 是/否
    ("D301", {"answers": {"非常满意": 0, "满意": 0, "一般": 0, "不满意": 0}}),   # no answers
    ("D102", {"answers": {"非常满意": 10, "很满意": 3}}),                 # an option without a weight
    ("C201", "已验收"),                                 # a status that is not a state
]


@pytest.fixture(scope="module")
def computed(tmp_path_factory):
    lo.require()
    folder = tmp_path_factory.mktemp("live")
    # golden cases in real live templates
    golden = []
    for pack_id in SHIPPED:
        pack = catalog().pack(pack_id)
        for case in pack.golden:
            wb = live_template(pack)
            W.fill(wb, pack, case["inputs"])
            path = folder / f"golden-{pack_id}-{case['id']}.xlsx"
            wb.save(path)
            golden.append((pack, case, path))
    # the differential run
    packs = [catalog().pack(pack_id) for pack_id in SHIPPED] + H.synthetic_packs()
    prepared = [H.prepare(pack, CASES, folder, SEED) for pack in packs]
    # invalid inputs
    invalid = []
    pack = catalog().pack("hejing-2022-third-party")
    base = pack.golden[0]["inputs"]
    for index, (code, change) in enumerate(INVALID):
        inputs = {k: (dict(v) if isinstance(v, dict) else v) for k, v in base.items()}
        inputs[code] = change if isinstance(change, str) else {**inputs[code], **change}
        inputs[code] = {k: v for k, v in inputs[code].items() if v is not None} if isinstance(inputs[code], dict) else inputs[code]
        wb = live_template(pack)
        W.fill(wb, pack, inputs)
        if isinstance(change, str):
            W.put(wb, N.status_name(code), change)
        path = folder / f"invalid-{index}.xlsx"
        wb.save(path)
        invalid.append((code, path))
    paths = [p for *_, p in golden] + [p.path for p in prepared] + [p for _, p in invalid]
    converted = lo.recalculate(paths, timeout=3600)
    return {"golden": [(pack, case, converted[path]) for pack, case, path in golden],
            "reports": {p.pack.id: H.check(p, converted[p.path]) for p in prepared},
            "invalid": [(code, converted[path]) for code, path in invalid], "pack": pack}


@pytest.mark.parametrize("pack_id", SHIPPED)
def test_golden_cases_in_live_templates_recalculated_by_libreoffice_alone(computed, pack_id):
    cases = [(pack, case, path) for pack, case, path in computed["golden"] if pack.id == pack_id]
    assert cases, f"{pack_id} has no golden case"
    for pack, case, path in cases:
        read = W.read_results(path, pack)
        for code, want in (case.get("expected_scores") or {}).items():
            assert W.as_decimal(read[N.score_name(code)]) == Decimal(str(want)), (case["id"], code, read[N.score_name(code)])
        if case.get("expected_total") is not None:
            assert W.as_decimal(read[N.OUT_TOTAL]) == Decimal(str(case["expected_total"])), (case["id"], read[N.OUT_TOTAL])
        if case.get("expected_grade"):
            assert read[N.OUT_GRADE] == case["expected_grade"], case["id"]
        expected = H.expected_outputs(pack, evaluate(pack, case["inputs"]))
        assert H.differences(pack, expected, read) == [], case["id"]


@pytest.mark.parametrize("pack_id", SHIPPED + SYNTHETIC)
def test_formulas_agree_with_the_engine(computed, pack_id):
    report = computed["reports"][pack_id]
    assert report.cases == CASES
    assert report.unexplained == [], [m[:4] for m in report.unexplained[:5]]
    assert report.agreeing_cases >= report.cases - len(report.mismatches)
    if pack_id in SHIPPED:
        assert report.not_compilable == {}


def test_agreement_summary(computed, capsys):
    reports = computed["reports"].values()
    cases = sum(r.cases for r in reports)
    agreeing = sum(r.agreeing_cases for r in reports)
    outputs = sum(r.outputs_compared for r in reports)
    with capsys.disabled():
        print(f"\n[live formulas] {cases} cases, {agreeing} agree with the engine ({agreeing / cases:.2%}); "
              f"{sum(r.outputs_agreeing for r in reports)}/{outputs} outputs")
    unexplained = [m[:4] for r in reports for m in r.unexplained]
    assert not unexplained, unexplained[:5]   # documented rounding-edge cases only (live_harness.explain)


def test_invalid_inputs_show_blank_not_a_number(computed):
    pack = computed["pack"]
    golden = pack.golden[0]["expected_scores"]
    for code, path in computed["invalid"]:
        read = W.read_results(path, pack)
        assert read[N.score_name(code)] in (None, ""), (code, read[N.score_name(code)])
        assert read[N.rate_name(code)] in (None, ""), code
        assert read[N.OUT_TOTAL] in (None, "") and read[N.OUT_GRADE] in (None, ""), code
        others = [c for c in golden if c != code]
        assert all(W.as_decimal(read[N.score_name(c)]) == Decimal(golden[c]) for c in others), code
