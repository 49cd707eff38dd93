"""The scoring engine's fast paths must never change a result (issue 2, speed work).

* ``quick_parse`` (clean values, no message text) against ``parse_inputs_checked`` (the full path):
  on thousands of generated inputs, clean and dirty, for every indicator of every shipped pack, both
  give the same parsed inputs or the same Chinese errors.
* Memoised rule outcomes (yes/no, options, counts) against outcomes computed afresh.
* Settled outcomes (rounding kept on the Outcome) against a fresh evaluation.
"""

from __future__ import annotations

import random
from decimal import Decimal

import pytest

import engine.ruletypes as ruletypes
from engine.errors import EvaluationError
from engine.plugins import catalog
from engine.report import result_to_dict
from engine.scoring import evaluate, parse_inputs, parse_inputs_checked

CATALOG = catalog()
PACK_IDS = sorted(CATALOG.packs)


def number_like(rng: random.Random, integer: bool):
    clean = [rng.randint(0, 500), str(rng.randint(0, 500)), Decimal(rng.randint(0, 500))]
    if not integer:
        clean += [f"{rng.uniform(0, 500):.3f}", rng.uniform(0, 500), Decimal("12.50")]
    dirty = ["１２３", " 42 ", "1,200", "95%", "-3", "abc", "", "  ", None, True, "3.5", 2.5, -1, float("nan"),
             "1e20", "无任务", "未验收", Decimal("-0"), "0", [1], "1_000"]
    return rng.choice(clean * 3 + dirty)


def value_for(spec, rng: random.Random):
    kind = spec.kind
    if kind in ("number", "percent"):
        return number_like(rng, integer=False)
    if kind in ("count", "days"):
        return number_like(rng, integer=True)
    if kind == "bool":
        return rng.choice([True, False, True, False, "是", "否", 1, 0, "√", "maybe", None, "无数据"])
    if kind == "category":
        keys = [key for key, _ in spec.choices]
        labels = [label for _, label in spec.choices]
        return rng.choice(keys * 2 + labels + [f" {labels[0]} ", "其他", 3, None])
    if kind == "answers":
        options = list(spec.choices) or ["是", "否"]
        clean = {option: rng.randint(0, 40) for option in options}
        return rng.choice([clean, clean, clean, {f" {options[0]}": 3}, {options[0]: "5"}, {options[0]: -1},
                           [[options[0], 4]], {}, {"全角\u3000": 2}, {options[0]: 1.0}])
    return rng.choice(["文字", 3, None])


def raw_for(indicator, rng: random.Random):
    """A generated input mapping for one indicator, usually well-formed, sometimes not."""
    roll = rng.random()
    if roll < 0.03:
        return rng.choice([None, "无任务", "未验收", "无数据", 5, {"status": "无任务"}, {"status": "乱填"}, {"status": ""}])
    raw: dict = {}
    for spec in indicator.compiled.specs:
        value = value_for(spec, rng)
        if rng.random() < 0.05:
            continue                                    # missing
        target = raw.setdefault(spec.part, {}) if spec.part else raw
        target[spec.key] = value
    if rng.random() < 0.03:
        raw["unexpected"] = 1
    return raw


def outcome_of(function, indicator, raw):
    try:
        return "ok", function(indicator, raw)
    except EvaluationError as exc:
        return "error", [str(problem) for problem in exc.problems]


@pytest.mark.parametrize("pack_id", PACK_IDS)
def test_quick_parse_agrees_with_the_full_checks(pack_id):
    pack = CATALOG.pack(pack_id)
    rng = random.Random(pack_id)
    fast_taken = 0
    for _ in range(300):
        for indicator in pack.indicators:
            raw = raw_for(indicator, rng)
            fast = outcome_of(parse_inputs, indicator, raw)
            full = outcome_of(parse_inputs_checked, indicator, raw)
            assert repr(fast) == repr(full), (pack_id, indicator.code, raw)   # repr: True and 1 must not pass as equal
            if fast[0] == "ok" and fast[1][0] is None:
                fast_taken += 1
    assert fast_taken, "the generator never produced a clean input: the comparison proves nothing"


def golden_inputs(pack):
    return [case["inputs"] for case in pack.golden if isinstance(case.get("inputs"), dict)]


@pytest.mark.parametrize("pack_id", PACK_IDS)
def test_memoised_and_settled_outcomes_equal_fresh_ones(pack_id, monkeypatch):
    memo_pack = CATALOG.pack(pack_id)
    cases = golden_inputs(memo_pack)
    assert cases, f"{pack_id} has no golden case with inputs"
    # second and third evaluations hit the memo and the settled rounding
    remembered = [[result_to_dict(evaluate(memo_pack, inputs)) for _ in range(3)] for inputs in cases]
    monkeypatch.setattr(ruletypes, "MEMO_LIMIT", 0)
    for inputs, runs in zip(cases, remembered):
        fresh = result_to_dict(evaluate(CATALOG.pack(pack_id), inputs))   # a new pack: empty memo, nothing settled
        assert runs == [fresh] * 3


def test_memo_is_used_for_discrete_rules_only_and_stays_bounded(monkeypatch):
    pack = CATALOG.pack("hejing-2022-third-party")
    by_code = {indicator.code: indicator for indicator in pack.indicators}
    checklist, ratio = by_code["A101"].compiled, by_code["C101"].compiled
    facts = {"fits_policy": True, "regional_priority": True, "supports_dept_goal": True}
    first = ruletypes.run_rule(checklist, "A101", by_code["A101"].weight, facts)
    again = ruletypes.run_rule(checklist, "A101", by_code["A101"].weight, dict(facts))
    assert again is first                                      # the same answers: the same outcome, reused
    ratio_facts = {"actual": Decimal(5), "target": Decimal(6)}
    assert ruletypes.run_rule(ratio, "C101", by_code["C101"].weight, ratio_facts) is not \
        ruletypes.run_rule(ratio, "C101", by_code["C101"].weight, ratio_facts)   # measured values: never memoised
    assert ratio.memo is None

    monkeypatch.setattr(ruletypes, "MEMO_LIMIT", 3)
    counted = by_code["B204"].compiled                         # per_item_deduction over a count
    for count in range(10):
        ruletypes.run_rule(counted, "B204", by_code["B204"].weight, {"count": Decimal(count)})
    assert len(counted.memo) == 3
