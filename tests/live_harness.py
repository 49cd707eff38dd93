"""Differential testing of live-template formulas against the engine (issue 7).

For one pack: hypothesis generates random but valid input sets (with a fixed
seed), the engine scores each set, LibreOffice computes the compiled formulas
(``engine.formulas.compile_pack``) for the same cells, and every score, rate,
subtotal, total and grade is compared at the pack's decimal places.

Speed: many cases go into ONE sheet of ONE workbook per pack, one block of rows
per case, and all packs go through one soffice call. A defined name of the
template is replaced by the absolute address of the case's cell (token by
token: a workbook-level name that refers to one cell or range means exactly
that reference). The wiring through the real template's names is checked by
the golden-case test, which fills real live templates.

Used by tests/test_live_differential.py (CI: small count) and
benchmarks/live_agreement.py (on demand: >= 1,000 cases per pack).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path

from hypothesis import HealthCheck, Phase, given, reject, seed as hypothesis_seed, settings
from hypothesis import strategies as st

from engine.errors import EvaluationError
from engine.formulas import GUARD, CompiledSheet, compile_pack, tokens
from engine.model import Pack
from engine.numbers import quantize
from engine.ruletypes import QUALITATIVE_BANDS
from engine.scoring import evaluate
from engine.workbook import names as N

DEFAULT_SEED = 20240607
STATES = ("无任务", "未验收", "无数据")


# --------------------------------------------------------------------------- input generation

def edges(pack: Pack) -> list[Decimal]:
    """Percentages where a pack's rules change behaviour (thresholds, band bounds)."""
    found = {Decimal(0), Decimal(60), Decimal(80), Decimal(90), Decimal(100)}

    def visit(params):
        for name, value in params.items():
            if name in ("full_at", "zero_below") and value is not None:
                found.add(Decimal(value))
            elif name == "bands" and isinstance(value, list):
                found.update(b["min"] for b in value if b.get("min") is not None)
            elif name == "bands" and isinstance(value, dict):
                for low, high in value.values():
                    found.update((low, high))
            elif isinstance(value, dict) and name == "value_from":
                visit(value)

    for indicator in pack.indicators:
        visit(indicator.compiled.params)
        for _, _, _, sub in indicator.compiled.parts:
            visit(sub.params)
    return sorted(found)


def _decimal(draw, low: str, high: str, places: int) -> Decimal:
    return draw(st.decimals(min_value=Decimal(low), max_value=Decimal(high), places=places,
                            allow_nan=False, allow_infinity=False))


def _percent(draw, edge_values) -> Decimal:
    """A percentage: near a rule edge (often exactly on it) or anywhere in 0–130."""
    if draw(st.booleans()):
        edge = draw(st.sampled_from(edge_values))
        delta = draw(st.sampled_from([Decimal(0), Decimal(0), Decimal("0.01"), Decimal("-0.01"), Decimal("0.005"),
                                      Decimal("-0.005"), Decimal("0.5"), Decimal("-0.5"), Decimal("-1"), Decimal("1")]))
        return max(Decimal(0), edge + delta)
    return _decimal(draw, "0", "130", draw(st.sampled_from([0, 1, 2, 2, 3])))


def _positive(draw) -> Decimal:
    magnitude = draw(st.sampled_from(["1", "10", "100", "1000", "10000", "1000000"]))
    places = draw(st.sampled_from([0, 0, 1, 2, 4]))
    value = _decimal(draw, "0.01", magnitude, places)
    return value if value > 0 else Decimal(1)


def _ratio(draw, edge_values) -> Decimal:
    """actual/target: exact edges, plain decimals, or arbitrary."""
    choice = draw(st.integers(0, 3))
    if choice == 0:
        return _percent(draw, edge_values) / 100
    if choice == 1:
        return draw(st.sampled_from([Decimal(0), Decimal("0.5"), Decimal("0.85"), Decimal("0.9"), Decimal("0.95"),
                                     Decimal("0.999"), Decimal(1), Decimal("1.0001"), Decimal("1.2")]))
    if choice == 2:
        return _decimal(draw, "0", "1.3", 3)
    return _decimal(draw, "0", "1.3", 6)


def _as_text(draw, value: Decimal, percent_ok: bool):
    """Sometimes a number typed as text, the ways ``numbers.to_decimal`` accepts."""
    pick = draw(st.integers(0, 19))
    plain = format(value, "f")
    if pick == 0 and value >= 1000 and "." not in plain:
        return f"{int(value):,}"
    if pick == 1:
        return f" {plain} "
    if pick == 2 and percent_ok:
        return plain + "%"
    return value


def _count(draw) -> Decimal:
    return Decimal(draw(st.one_of(st.just(0), st.just(0), st.integers(0, 3), st.integers(0, 40))))


@dataclass
class Case:
    cells: dict = field(default_factory=dict)      # name -> cell value (Decimal, str, bool)
    answers: dict = field(default_factory=dict)    # name -> {label: count or None}
    inputs: dict = field(default_factory=dict)     # what the reader would hand to the engine


def _engine_value(value):
    """What reader.clean_value makes of a value written into a cell (numbers travel as doubles)."""
    if isinstance(value, Decimal):
        return Decimal(repr(float(value)))
    if isinstance(value, str) and value.strip() == "":
        return None
    return value


def case_strategy(pack: Pack):
    edge_values = edges(pack)
    redistribute = pack.na_policy == "redistribute"

    @st.composite
    def build(draw):
        case = Case()
        for indicator in pack.indicators:
            code = indicator.code
            mapping: dict = {}
            roll = draw(st.integers(0, 29))
            state = STATES[roll] if roll < 3 else (STATES[0] if redistribute and roll < 6 else None)
            if state:
                case.cells[N.status_name(code)] = state
                mapping["status"] = state
                case.inputs[code] = mapping
                continue
            _fill_indicator(draw, indicator, case, mapping, edge_values)
            case.inputs[code] = mapping
        return case

    return build()


def _sub_params(indicator, part):
    if part is None:
        return indicator.compiled.params
    for key, _, _, sub in indicator.compiled.parts:
        if key == part:
            return sub.params
    return {}


def _fill_indicator(draw, indicator, case: Case, mapping: dict, edge_values) -> None:
    code = indicator.code
    specs = list(indicator.compiled.specs)
    by_part: dict = {}
    for spec in specs:
        by_part.setdefault(spec.part, []).append(spec)
    for part, group in by_part.items():
        params = _sub_params(indicator, part)
        keys = {s.key for s in group}
        values: dict = {}
        # actual/target pairs (and value-only or value-instead-of-actual modes)
        if {"actual", "target"} <= keys:
            optional = not next(s for s in group if s.key == "actual").required
            mode = draw(st.integers(0, 5)) if optional and "value" in keys else 0
            if mode in (1, 2):          # the completion rate entered directly
                values["value"] = _percent(draw, edge_values)
            else:
                target = _positive(draw)
                values["target"] = target
                values["actual"] = (target * _ratio(draw, edge_values)).quantize(Decimal("0.0001")).normalize()
                if mode == 3:           # a stray value beside actual/target: the engine ignores it
                    values["value"] = _percent(draw, edge_values)
        for spec in group:
            if spec.key in values or (spec.key in ("actual", "target") and {"actual", "target"} <= keys):
                continue
            if spec.key == "value" and {"actual", "target"} <= keys:
                continue
            values[spec.key] = _value_for(draw, indicator, spec, params, edge_values, values)
        # budget_execution: the base must be positive
        if indicator.compiled.rule_type.name == "budget_execution" and part is None:
            base = "budget" if params["base"] == "budget" else "received"
            if values.get(base) is None or values[base] <= 0:
                values[base] = _positive(draw)
        for spec in group:
            value = values.get(spec.key)
            if value is None:
                continue
            name = N.spec_name(code, spec)
            if spec.kind == "answers":
                case.answers[name] = value
                answers = {label: Decimal(count) for label, count in value.items() if count is not None}
                _put(mapping, spec, answers)
                continue
            if isinstance(value, Decimal) and spec.kind in ("number", "percent", "count", "days"):
                value = _as_text(draw, value, spec.kind == "percent" or spec.unit == "%")
            case.cells[name] = value
            engine = _engine_value(value)
            if engine is not None:
                _put(mapping, spec, engine)


def _put(mapping: dict, spec, value) -> None:
    target = mapping.setdefault(spec.part, {}) if spec.part else mapping
    target[spec.key] = value


def _value_for(draw, indicator, spec, params, edge_values, values):
    kind = spec.kind
    if kind == "bool":
        if not spec.required and draw(st.booleans()):
            return None
        answer = draw(st.booleans())
        return answer if draw(st.integers(0, 9)) == 0 else ("是" if answer else "否")
    if kind == "category":
        if spec.key == "band":
            bands = params.get("bands") or QUALITATIVE_BANDS
            usable = [(k, label) for k, label in spec.choices if k in bands]
            key, label = draw(st.sampled_from(usable))
            values["_band"] = key
            return label
        return draw(st.sampled_from([label for _, label in spec.choices]))
    if kind in ("count", "days"):
        if not spec.required and draw(st.booleans()):
            return None
        return _count(draw)
    if kind == "answers":
        labels = [str(label) for label in spec.choices]
        counts = {}
        for label in labels:
            counts[label] = draw(st.one_of(st.none(), st.integers(0, 5), st.integers(0, 300)))
        if not any(counts.values()):
            counts[labels[0]] = draw(st.integers(1, 200))
        return counts
    if spec.key == "pct":              # qualitative band score percentage (inside the band)
        if draw(st.booleans()):
            return None
        bands = params.get("bands") or QUALITATIVE_BANDS
        low, high = bands[values.get("_band", "achieved")]
        value = _decimal(draw, str(low), str(high), draw(st.sampled_from([0, 1, 2])))
        top = max(bands, key=lambda b: bands[b][1])
        if value >= high and not (high == 100 or values.get("_band") == top):
            value = low
        return value
    if not spec.required and spec.default is None and draw(st.integers(0, 2)) == 0:
        return None
    if kind == "percent" or spec.unit == "%":
        return _percent(draw, edge_values)
    return _positive(draw) if draw(st.integers(0, 5)) else _decimal(draw, "0", "10", 0)


def generate_cases(pack: Pack, count: int, seed: int = DEFAULT_SEED) -> tuple[list[Case], int]:
    """``count`` input sets the engine accepts (fixed seed); also how many generated sets it refused."""
    cases: list[Case] = []
    refused = [0]

    @settings(max_examples=count, database=None, phases=[Phase.generate], deadline=None,
              suppress_health_check=list(HealthCheck))
    @hypothesis_seed(seed)
    @given(case_strategy(pack))
    def collect(case):
        try:
            evaluate(pack, case.inputs)
        except EvaluationError:
            refused[0] += 1
            reject()
        cases.append(case)

    collect()
    return cases, refused[0]


# --------------------------------------------------------------------------- the block workbook

@dataclass
class Layout:
    """Row offsets of every name inside one case's block (columns: B value, C survey count, E output)."""

    inputs: dict          # name -> (row offset, kind)  kind: 'cell' or ('answers', labels)
    outputs: list         # [name] in column E, one per row
    height: int
    helpers: list = field(default_factory=list)   # [name] in column G, one per row


def layout(pack: Pack, compiled: CompiledSheet) -> Layout:
    inputs, row = {}, 0
    for indicator in pack.indicators:
        inputs[N.status_name(indicator.code)] = (row, "cell")
        row += 1
        for spec in indicator.compiled.specs:
            name = N.spec_name(indicator.code, spec)
            if spec.kind == "answers":
                labels = [str(label) for label in spec.choices]
                inputs[name] = (row, ("answers", labels))
                row += len(labels)
            else:
                inputs[name] = (row, "cell")
                row += 1
    outputs = list(compiled.formulas)     # engine-written outputs get the engine's value, as recalc writes it
    helpers = list(compiled.helpers)      # named helper formulas: one cell each (column G)
    return Layout(inputs, outputs, max(row, len(outputs), len(helpers)) + 1, helpers)


def _ref(name: str, lay: Layout, base: int) -> str:
    if name in lay.inputs:
        offset, kind = lay.inputs[name]
        if kind == "cell":
            return f"$B${base + offset}"
        return f"$B${base + offset}:$C${base + offset + len(kind[1]) - 1}"
    if name in lay.helpers:
        return f"$G${base + lay.helpers.index(name)}"
    return f"$E${base + lay.outputs.index(name)}"


class FormulaPatterns:
    """Compiled formulas as token lists, to substitute names by a case's cell references quickly."""

    def __init__(self, compiled: CompiledSheet, lay: Layout):
        self.lay = lay
        self.position = {name: i for i, name in enumerate(lay.outputs)}
        self.patterns = {}
        for name, text in list(compiled.compiled.items()) + list(compiled.helpers.items()):
            parts = []
            for kind, value in tokens(text):
                parts.append((True, value) if kind == "name" and value.upper() not in ("TRUE", "FALSE") else (False, value))
            self.patterns[name] = parts

    def formula(self, name: str, base: int) -> str:
        # the compiler emits no spaces outside string literals, so the tokens join back unchanged
        return "=" + "".join(_ref(value, self.lay, base) if is_name else value for is_name, value in self.patterns[name])


def write_block_workbook(pack: Pack, compiled: CompiledSheet, cases: list[Case], path: Path, results: list) -> Layout:
    from openpyxl import Workbook

    lay = layout(pack, compiled)
    patterns = FormulaPatterns(compiled, lay)
    wb = Workbook(write_only=True)
    ws = wb.create_sheet("cases")
    for index, case in enumerate(cases):
        base = 1 + index * lay.height
        rows = [[None] * 7 for _ in range(lay.height)]
        for i, name in enumerate(lay.helpers):
            rows[i][6] = patterns.formula(name, base)
        for name, (offset, kind) in lay.inputs.items():
            if kind == "cell":
                value = case.cells.get(name)
                if value is not None:
                    rows[offset][1] = float(value) if isinstance(value, Decimal) else value
            else:
                answers = case.answers.get(name) or {}
                for i, label in enumerate(kind[1]):
                    rows[offset + i][1] = label
                    count = answers.get(label)
                    rows[offset + i][2] = None if count is None else int(count)
        engine = None
        for i, name in enumerate(lay.outputs):
            if name in patterns.patterns:
                rows[i][4] = patterns.formula(name, base)
            else:
                engine = engine or expected_outputs(pack, results[index])
                value = engine.get(name)
                rows[i][4] = float(value) if isinstance(value, Decimal) else value
        for row in rows:
            ws.append(row)
    wb.save(path)
    return lay


def read_block_results(path: Path, lay: Layout, count: int) -> list[dict]:
    import python_calamine

    book = python_calamine.CalamineWorkbook.from_path(str(path))
    grid = book.get_sheet_by_name("cases").to_python(skip_empty_area=False)
    results = []
    for index in range(count):
        base = index * lay.height
        values = {}
        for i, name in enumerate(lay.outputs):
            row = grid[base + i] if base + i < len(grid) else []
            values[name] = row[4] if len(row) > 4 else None
        results.append(values)
    return results


# --------------------------------------------------------------------------- comparison

def expected_outputs(pack: Pack, result) -> dict:
    """The engine's values by output name, as numbers at the pack's places (None = blank)."""
    policy = pack.rounding
    values = {N.OUT_TOTAL: result.total, N.OUT_GRADE: result.grade}
    for r in result.indicators:
        values[N.score_name(r.code)] = r.score
        values[N.rate_name(r.code)] = r.rate
    by_path = {level.path: level for level in result.levels}
    for number, group in enumerate(N.level_groups(pack), 1):
        values[N.level_score_name(number)] = quantize(by_path[group].score, policy.indicator.places, policy.indicator.mode)
        values[N.level_rate_name(number)] = by_path[group].rate
    return values


def places_of(pack: Pack, name: str) -> int:
    policy = pack.rounding
    if name == N.OUT_TOTAL:
        return policy.total.places
    if name.endswith("_rate"):
        return policy.rate.places
    return policy.indicator.places


def differences(pack: Pack, expected: dict, got: dict) -> list[tuple[str, object, object]]:
    found = []
    for name, want in expected.items():
        if name not in got:
            continue          # an engine-written (not compilable) output
        value = got[name]
        if isinstance(want, str):
            if (value or "") != want:
                found.append((name, want, value))
            continue
        if want is None:
            if value not in (None, ""):
                found.append((name, want, value))
            continue
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            found.append((name, want, value))
            continue
        places = places_of(pack, name)
        scale = Decimal(1).scaleb(-places)
        if Decimal(repr(float(value))).quantize(scale) != Decimal(want).quantize(scale):
            found.append((name, want, value))
    return found


EDGE_TOLERANCE = Decimal("1e-9")


def unrounded(pack: Pack, result, name: str) -> tuple[Decimal, object] | None:
    """The engine's value of an output before the pack's rounding, and that rounding."""
    policy = pack.rounding
    for r in result.indicators:
        if name == N.score_name(r.code):
            return r.raw_score, policy.indicator
        if name == N.rate_name(r.code) and r.effective_weight:
            return r.score / r.effective_weight * 100, policy.rate
    by_path = {level.path: level for level in result.levels}
    for number, group in enumerate(N.level_groups(pack), 1):
        level = by_path[group]
        if name == N.level_rate_name(number) and level.weight:
            return level.score / level.weight * 100, policy.rate
    if name == N.OUT_TOTAL:
        summed = sum((r.score for r in result.indicators), Decimal(0)) \
            if policy.total_method == "sum_of_indicator_scores" else result.raw_total
        return summed, policy.total
    return None


def explain(pack: Pack, result, name: str) -> str | None:
    """The documented cause of a disagreement, or None when it is unexplained (a bug).

    Documented cause: the engine's value lies within 1e-9 of a rounding edge of
    the pack's rounding (x.xx5 for half-way modes, x.xx0 for directed ones) but
    not on it. The formula rounds its double to GUARD (9) decimals before the
    pack's rounding (to remove binary representation error), so a value within
    5e-10 of the edge is rounded as if it were on the edge; the engine's Decimal
    (28 significant digits) can also land a value on the other side of an edge.
    Outputs computed from such a score (its rate, subtotal, total, grade)
    follow it (``follows``).
    """
    from decimal import ROUND_HALF_DOWN, ROUND_HALF_EVEN, ROUND_HALF_UP, localcontext

    if name == N.OUT_GRADE:
        cause = explain(pack, result, N.OUT_TOTAL)
        return f"等级随总分：{cause}" if cause else None

    with localcontext() as ctx:
        ctx.prec = 80        # measure the distance to the edge without rounding it away
        found = unrounded(pack, result, name)
        if found is None:
            return None
        value, rounding = found
        step = Decimal(1).scaleb(-rounding.places)
        offset = step / 2 if rounding.mode in (ROUND_HALF_UP, ROUND_HALF_EVEN, ROUND_HALF_DOWN) else Decimal(0)
        position = (value - offset) / step
        distance = abs(position - position.to_integral_value()) * step
    if 0 < distance < EDGE_TOLERANCE:      # exactly on the edge, the guarded formula must agree
        return (f"舍入边界：精确值 {value:.15} 距{rounding.places}位小数的舍入边界仅 {distance:.1E}"
                f"（公式先舍入到{GUARD}位小数以消除二进制误差，距边界不足 5E-{GUARD + 1} 的值按边界处理）")
    return None


def follows(pack: Pack, name: str, causes: dict) -> str | None:
    """A rate, subtotal, total or grade that differs only because an indicator score (explained) does."""
    explained = [n for n, cause in causes.items() if cause and n.endswith("_score") and not n.startswith("out_level_")]
    if not explained:
        return None
    codes = {i.code: i for i in pack.indicators}
    if name.endswith("_rate") and not name.startswith("out_level_"):
        score = name[: -len("_rate")] + "_score"
        return f"随 {score} 的差异" if score in explained else None
    if name.startswith("out_level_"):
        number = int(name.split("_")[2])
        group = N.level_groups(pack)[number - 1]
        inside = [n for n in explained if codes.get(n[len("out_"):-len("_score")]) is not None
                  and codes[n[len("out_"):-len("_score")]].path[:1] == group]
        return f"随 {'、'.join(inside)} 的差异" if inside else None
    if name in (N.OUT_TOTAL, N.OUT_GRADE):
        return f"随 {'、'.join(explained)} 的差异"
    return None


@dataclass
class PackReport:
    pack_id: str
    cases: int = 0
    refused: int = 0
    agreeing_cases: int = 0
    outputs_compared: int = 0
    outputs_agreeing: int = 0
    mismatches: list = field(default_factory=list)   # (case index, name, engine, spreadsheet, inputs, cause or None)
    not_compilable: dict = field(default_factory=dict)
    seconds_generate: float = 0.0

    @property
    def rate(self) -> float:
        return self.agreeing_cases / self.cases if self.cases else 1.0

    @property
    def unexplained(self) -> list:
        return [m for m in self.mismatches if m[5] is None]


@dataclass
class Prepared:
    pack: Pack
    compiled: CompiledSheet
    cases: list
    results: list
    report: PackReport
    path: Path | None = None
    lay: Layout | None = None


def prepare(pack: Pack, count: int, folder: Path, seed: int = DEFAULT_SEED) -> Prepared:
    started = time.perf_counter()
    compiled = compile_pack(pack)
    cases, refused = generate_cases(pack, count, seed)
    results = [evaluate(pack, case.inputs) for case in cases]
    report = PackReport(pack.id, len(cases), refused, not_compilable={k: v.reason for k, v in compiled.not_compilable.items()})
    path = folder / f"diff-{pack.id}.xlsx"
    lay = write_block_workbook(pack, compiled, cases, path, results)
    report.seconds_generate = time.perf_counter() - started
    return Prepared(pack, compiled, cases, results, report, path, lay)


def check(prepared: Prepared, recalculated: Path) -> PackReport:
    report = prepared.report
    got_all = read_block_results(recalculated, prepared.lay, len(prepared.cases))
    for index, (case, result, got) in enumerate(zip(prepared.cases, prepared.results, got_all)):
        expected = {name: value for name, value in expected_outputs(prepared.pack, result).items()
                    if prepared.compiled.formula(name) is not None}
        compared = [name for name in expected if name in got]
        diffs = differences(prepared.pack, expected, got)
        report.outputs_compared += len(compared)
        report.outputs_agreeing += len(compared) - len(diffs)
        if not diffs:
            report.agreeing_cases += 1
        causes = {name: explain(prepared.pack, result, name) for name, _, _ in diffs}
        for name, want, value in diffs:
            cause = causes[name] or follows(prepared.pack, name, causes)
            report.mismatches.append((index, name, want, value, case.inputs, cause))
    return report


def run(packs: list[Pack], count: int, folder: Path, seed: int = DEFAULT_SEED) -> list[PackReport]:
    """Generate, compute with LibreOffice (one soffice call for all packs) and compare."""
    import lo

    prepared = [prepare(pack, count, folder, seed) for pack in packs]
    converted = lo.recalculate([p.path for p in prepared], timeout=3600)
    return [check(p, converted[p.path]) for p in prepared]


# --------------------------------------------------------------------------- synthetic packs: the whole vocabulary

SURVEY_WEIGHTS = {"非常满意": "1", "比较满意": "0.7", "一般": "0.35", "不满意": "0"}


def _ind(code, path, weight, rule, **extra):
    return {"code": code, "path": path, "weight": str(weight), "rule": rule, **extra}


SYNTHETIC_PACKS = [
    {   # every rule type the shipped packs do not use, odd rounding modes, round_raw_sum
        "id": "synthetic-vocabulary", "name": "词汇表全覆盖（测试用）", "program": "old_community_renovation",
        "rounding": {"indicator": {"places": 2, "mode": "ROUND_HALF_EVEN"},
                     "total": {"method": "round_raw_sum", "places": 1, "mode": "ROUND_FLOOR"},
                     "rate": {"places": 1, "mode": "ROUND_CEILING"}},
        "grades": {"优秀": 90, "良好": "79.5", "合格": 60, "不合格": 0},
        "indicators": [
            _ind("V1", ["甲", "超额加分"], 10, {"type": "bonus_capped", "full_at": "90", "step_pp": "2",
                                                "points_per_step": "0.5", "bonus_cap": "2"}),
            _ind("V2", ["甲", "扣分项"], 0, {"type": "global_deduction", "max_deduction": "6", "items": [
                {"key": "accidents", "label": "安全事故", "points": "2"}, {"key": "complaints", "label": "投诉", "points": "0.5"}]}),
            _ind("V3", ["甲", "多项完成率"], 9, {"type": "composite_rate", "cap_components": True, "components": [
                {"key": "homes", "label": "户数"}, {"key": "area", "label": "面积"}, {"key": "blocks", "label": "楼栋"}]}),
            _ind("V4", ["乙", "问卷满意度"], 7, {"type": "survey_weighted", "full_at": "95", "weights": SURVEY_WEIGHTS}),
            _ind("V5", ["乙", "是占比"], 6, {"type": "share_yes", "full_at": "90"}),
            _ind("V6", ["乙", "分档"], 8, {"type": "tiered_bands", "bands": [
                {"points": "1"}, {"min": "60", "pct_of_weight": "50"}, {"min": "85.5", "points": "6"},
                {"min": "95", "pct_of_weight": "100"}]}),
            _ind("V7", ["乙", "分类折算"], 3, {"type": "categorical", "scale_to_weight": True,
                                               "points": {"on_time": "7", "late_no_impact": "5", "late_with_impact": "0"}}),
            _ind("V8", ["丙", "公式"], 12, {"type": "formula", "inputs": [
                {"key": "a", "label": "甲值"}, {"key": "b", "label": "乙值"}, {"key": "ok", "label": "达标", "kind": "bool"},
                {"key": "n", "label": "次数", "kind": "count"}],
                "expr": "min(w, a / b * w) if b > 0 and ok else (w / 2 if not ok or n >= 3 else clamp(a - n ** 2, 0, w))"}),
            _ind("V9", ["丙", "公式取整"], 6, {"type": "formula", "clamp": False, "inputs": [
                {"key": "x", "label": "完成率", "kind": "percent"}, {"key": "k", "label": "次数", "kind": "count"}],
                "expr": "round(x * 0.06, 1) - floor(k / 3) * 0.5 + ceil(x / 200) - abs(x - 80) / 100 + max(0, x - 100, k) * 0"}),
            _ind("V10", ["丙", "定性自设档"], 5, {"type": "qualitative_band",
                                                  "bands": {"达成": ["85", "100"], "部分达成": ["50", "85"], "未达成": ["0", "50"]}}),
            _ind("V11", ["丁", "按步扣分"], 6, {"type": "shortfall_deduction", "full_at": "95", "step_pp": "3",
                                                "points_per_step": "1.5", "pp_rounding": "ceil", "step_rounding": "floor",
                                                "zero_below": "50"}),
            _ind("V12", ["丁", "线性含下限"], 4, {"type": "threshold_linear", "full_at": "100", "deduct_pct_of_weight_per_pp": "3",
                                                  "zero_below": "70", "zero_below_inclusive": True,
                                                  "value_from": {"transform": "composite_rate", "components": [
                                                      {"key": "p1", "label": "一期"}, {"key": "p2", "label": "二期"}]}}),
            _ind("V13", ["丁", "共用上限"], 5, {"type": "composite", "shared_cap": "4", "parts": [
                {"key": "quality", "label": "质量", "rule": {"type": "per_item_deduction", "deduct_pct_of_weight": "30",
                                                            "max_deduction_pct": "80", "severe_zero": True}},
                {"key": "late", "label": "逾期", "rule": {"type": "per_day_late", "points_per_day": "0.3"}},
                {"key": "floor", "label": "取整", "rule": {"type": "shortfall_deduction", "full_at": "90",
                                                         "pp_rounding": "floor", "points_per_step": "0.5"}}]}),
            _ind("V14", ["丁", "否决"], 5, {"type": "veto", "key": "fraud", "label": "出现虚报冒领"}),
            _ind("V15", ["戊", "执行率按到位数"], 5, {"type": "budget_execution", "base": "funds_received"}),
            _ind("V16", ["戊", "比例封顶"], 5, {"type": "ratio_capped", "cap": "0.9"}),
            _ind("V17", ["戊", "全部满足"], 3, {"type": "checklist_sum", "all_or_nothing": True, "items": [
                {"key": "i1", "label": "要点一", "points": "2"}, {"key": "i2", "label": "要点二", "points": "2"}]}),
        ],
    },
    {   # vetoes of every scope, redistributed N/A weights, half-down/up rounding
        "id": "synthetic-vetoes", "name": "否决与分值调整（测试用）", "program": "rental_housing",
        "na_policy": "redistribute", "na_scope": "level",
        "rounding": {"indicator": {"places": 1, "mode": "ROUND_HALF_DOWN"},
                     "total": {"places": 0, "mode": "ROUND_UP"}, "rate": {"places": 3, "mode": "ROUND_DOWN"}},
        "levels": {"决策": "30", "产出": "45", "效益": "25"},
        "indicators": [
            _ind("A1", ["决策", "立项", "规范"], 10, {"type": "binary", "key": "ok"}),
            _ind("A2", ["决策", "立项", "比例"], 7, {"type": "ratio_capped", "overachieve_policy": "reduce_by_deviation"}),
            _ind("A3", ["决策", "立项", "挪用"], 3, {"type": "veto", "key": "misuse", "scope": "level"}),
            _ind("A4", ["决策", "目标", "扣分"], 10, {"type": "per_item_deduction", "points_per_item": "1.5"}),
            _ind("B1", ["产出", "数量", "户数"], 15, {"type": "ratio_capped"}),
            _ind("B2", ["产出", "数量", "面积"], 11, {"type": "ratio_reverse"}),
            _ind("B3", ["产出", "数量", "楼栋"], 9, {"type": "shortfall_deduction", "step_pp": "2", "points_per_step": "1"}),
            _ind("B4", ["产出", "质量", "事故"], 10, {"type": "veto", "key": "accident", "scope": "total"}),
            _ind("C1", ["效益", "满意度"], 15, {"type": "threshold_linear", "full_at": "90", "deduct_pct_of_weight_per_pp": "2.5",
                                               "value_from": {"transform": "share_yes", "yes_label": "满意"}}),
            _ind("C2", ["效益", "造假"], 10, {"type": "veto", "key": "fake", "scope": "grade", "grade": "差"}),
        ],
    },
]


def synthetic_packs() -> list[Pack]:
    from engine.packs import build

    return [build(dict(data), "tests/live_harness.py") for data in SYNTHETIC_PACKS]
