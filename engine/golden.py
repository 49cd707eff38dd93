"""Golden cases (schema ``anju-golden/1``, DOMAIN.md §6): rules inline, expected scores beside them.

Pure: takes parsed YAML documents, returns comparisons. The CLI prints them.
A case without indicator rules (a partial case that only publishes headline
numbers, like seed 001) is checked on what it does state: completion rates and
the share of the weight each known input earns under ``ratio_capped``.

Golden files are written by hand, so nothing in a document is trusted: every
shape is checked here and every problem becomes a Chinese sentence on the case
(or on the file), never an exception that ends the run.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass, field
from decimal import Decimal

from .errors import AnjuError, EvaluationError, PackError
from .numbers import HUNDRED, ONE, ZERO, fmt, quantize, safe_div, to_decimal
from .packs import INDICATOR_KEYS as PACK_INDICATOR_KEYS
from .packs import TOP_KEYS as PACK_TOP_KEYS
from .packs import build
from .scoring import evaluate, input_state

GOLDEN_SCHEMA = "anju-golden/1"
DEFAULT_TOLERANCE = Decimal("0.005")
DEFAULT_GRADES = {"优": 90, "良": 80, "中": 60, "差": 0}
TYPO_CUTOFF = 0.8

# Pack keys that describe a pack or hold its structure; every other key build() accepts is a
# scoring policy (rounding, grades, na_policy, overachievement, total_weight, levels, ...) that a
# golden case may set and that is handed to the pack unchanged. Derived from packs.TOP_KEYS so a
# policy added there passes through without touching this file.
PACK_DESCRIPTIVE_KEYS = {"schema", "id", "name", "program", "framework", "region", "years", "version", "source",
                         "extends", "indicators", "override", "add", "drop", "golden", "description",
                         "evaluation_mode"}
POLICY_KEYS = frozenset(PACK_TOP_KEYS - PACK_DESCRIPTIVE_KEYS)

# Keys the runner reads, plus free documentation keys seen in golden files (accepted, ignored).
DOCUMENT_KEYS = {"schema", "seed", "report", "program", "cases", "status", "note", "title", "source", "description",
                 "framework", "region", "years", "confidence", "assumptions"}
CASE_KEYS = {"id", "title", "program", "framework", "indicators", "known_inputs", "expected_total", "expected_grade",
             "level_totals", "tolerance",
             # documentation only
             "confidence", "assumptions", "alternatives", "published_total", "published_grade", "note",
             "expected_warnings", "variants", "discrepancy", "status", "report", "seed", "reproducible_from_report",
             "partial", "budget", "unreported_indicators_assumed", "source", "description", "name", "region",
             "years"} | POLICY_KEYS
INDICATOR_KEYS = {"code", "path", "weight", "target", "rule", "inputs", "expected_score",
                  # documentation only
                  "actual", "name", "title", "unit", "note", "published_score", "published_rate", "variants",
                  "discrepancy", "derived", "standard", "status", "confidence", "assumptions"} | PACK_INDICATOR_KEYS
PART_KEYS = {"key", "name", "weight", "rule", "inputs", "note"}
KNOWN_INPUT_KEYS = {"indicator", "target", "actual", "completion_pct", "expected_rate_of_weight", "status", "note",
                    "unit", "published_score"}
TOLERANCE_KEYS = {"indicator", "total"}


@dataclass
class Check:
    what: str            # indicator code, '总分', '等级', a level name ...
    got: str
    expected: str
    ok: bool


@dataclass
class CaseResult:
    case_id: str
    source: str
    checks: list = field(default_factory=list)
    error: str | None = None
    note: str = ""
    warnings: list = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.error is None and all(c.ok for c in self.checks)


@dataclass
class FileResult:
    """One golden file: its cases, or the problem that stopped it from running at all."""
    source: str
    cases: list = field(default_factory=list)
    error: str | None = None
    warnings: list = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.error is None and all(c.ok for c in self.cases)


# --------------------------------------------------------------------------- helpers

def describe(value) -> str:
    """A short Chinese description of what a YAML value turned out to be."""
    if value is None:
        return "空值"
    if isinstance(value, bool):
        return f"是/否值“{'是' if value else '否'}”"
    if isinstance(value, (int, float, Decimal)):
        return f"数字“{value}”"
    if isinstance(value, str):
        return f"文字“{value if len(value) <= 40 else value[:40] + '…'}”"
    if isinstance(value, dict):
        return "对照表（键: 值）"
    if isinstance(value, list):
        return "列表"
    return f"“{value}”"


def typo_warnings(mapping: dict, known, where: str, *, all_unknown: bool = False) -> list:
    """Warn about unknown keys that look like misspellings of known ones (or about every unknown key)."""
    warnings, known = [], sorted(str(k) for k in known)
    for key in mapping:
        name = str(key)
        if name in known:
            continue
        guess = difflib.get_close_matches(name, known, n=1, cutoff=TYPO_CUTOFF)
        if guess:
            warnings.append(f"{where}字段“{name}”未被识别，是否应为 {guess[0]}？（该字段已被忽略）")
        elif all_unknown:
            warnings.append(f"{where}字段“{name}”未被识别（可用：{'、'.join(known)}），已被忽略")
    return warnings


def join_problems(problems: list) -> str | None:
    unique = list(dict.fromkeys(problems))
    if not unique:
        return None
    if len(unique) == 1:
        return unique[0]
    return f"共 {len(unique)} 处问题：" + "".join(f"\n      - {p}" for p in unique)


def parse_number(value, what: str, problems: list) -> Decimal | None:
    try:
        return to_decimal(value, what=what)
    except AnjuError as exc:
        problems.append(str(exc))
        return None


# --------------------------------------------------------------------------- files

def not_golden_reason(document) -> str | None:
    """Why a parsed YAML document is not a golden file (None when it is one)."""
    if document is None:
        return "文件为空"
    if not isinstance(document, dict):
        return f"顶层应为含 schema、cases 的对照表，实际是{describe(document)}"
    if "schema" not in document:
        return f"没有 schema 字段，不是 {GOLDEN_SCHEMA}"
    if document.get("schema") != GOLDEN_SCHEMA:
        return f"schema 为 {document.get('schema')}，不是 {GOLDEN_SCHEMA}"
    return None


def run_file(document, source: str, registry=None) -> FileResult:
    """Run every case of one parsed golden file; problems are reported, never raised."""
    result = FileResult(source)
    reason = not_golden_reason(document)
    if reason:
        result.error = f"{source} 不是 {GOLDEN_SCHEMA} 格式的黄金案例文件：{reason}"
        return result
    result.warnings = typo_warnings(document, DOCUMENT_KEYS, "文件顶层")
    cases = document.get("cases")
    if cases is None or cases == []:
        hint = difflib.get_close_matches("cases", [str(k) for k in document if k != "cases"], n=1, cutoff=TYPO_CUTOFF)
        result.error = f"{source} 没有案例：cases 缺失或为空" + (f"（是否把 cases 写成了 {hint[0]}？）" if hint else "")
        return result
    if not isinstance(cases, list):
        result.error = f"{source} 的 cases 应为案例列表（每个案例以“- id: …”开头），收到的是{describe(cases)}"
        return result
    seen = {}
    for index, case in enumerate(cases, start=1):
        if isinstance(case, dict):
            case.setdefault("program", document.get("program"))
        case_result = run_case(case, source, registry, index=index)
        if case_result.case_id in seen:
            case_result.warnings.append(f"案例编号“{case_result.case_id}”与本文件第{seen[case_result.case_id]}个案例重复")
        seen.setdefault(case_result.case_id, index)
        result.cases.append(case_result)
    return result


def run_document(document: dict, source: str, registry=None) -> list:
    """Cases of one document as a flat list (a file-level problem becomes one failed entry)."""
    outcome = run_file(document, source, registry)
    if outcome.error:
        return [CaseResult("?", source, error=outcome.error, warnings=outcome.warnings)]
    return outcome.cases


# --------------------------------------------------------------------------- cases

def case_label(case, index: int | None) -> str:
    if isinstance(case, dict) and case.get("id") not in (None, ""):
        return str(case["id"])
    return f"第{index}个案例" if index else "?"


def run_case(case: dict, source: str, registry=None, index: int | None = None) -> CaseResult:
    result = CaseResult(case_label(case, index), source)
    if not isinstance(case, dict):
        result.error = f"案例应为对照表（含 id、indicators 等字段），收到的是{describe(case)}"
        return result
    result.warnings = typo_warnings(case, CASE_KEYS, "案例")
    problems: list = []
    try:
        if not case.get("indicators"):
            check_known_inputs(case, result, problems)
        else:
            run_full_case(case, result, problems, source, registry)
    except EvaluationError as exc:
        problems.extend(str(p) for p in exc.problems)
    except AnjuError as exc:
        problems.append(str(exc))
    except Exception as exc:   # a shape nobody foresaw: report it on this case and go on with the next
        problems.append(f"本案例的格式无法识别，计算中断（{type(exc).__name__}）；请对照 DOMAIN.md §6 检查各字段")
    result.error = join_problems(problems)
    return result


def case_tolerances(case: dict, problems: list, warnings: list) -> tuple[Decimal, Decimal]:
    raw = case.get("tolerance")
    if raw is None:
        return DEFAULT_TOLERANCE, DEFAULT_TOLERANCE
    if not isinstance(raw, dict):
        problems.append(f"tolerance 应为对照表，如 {{indicator: \"0.005\", total: \"0.005\"}}，收到的是{describe(raw)}")
        return DEFAULT_TOLERANCE, DEFAULT_TOLERANCE
    warnings += typo_warnings(raw, TOLERANCE_KEYS, "tolerance 的", all_unknown=True)
    values = []
    for which in ("indicator", "total"):
        value = DEFAULT_TOLERANCE
        if raw.get(which) is not None:
            parsed = parse_number(raw[which], f"容差（tolerance.{which}）", problems)
            if parsed is not None and parsed < 0:
                problems.append(f"容差（tolerance.{which}）不能为负数（收到“{raw[which]}”）")
            elif parsed is not None:
                value = parsed
        values.append(value)
    return values[0], values[1]


def run_full_case(case: dict, result: CaseResult, problems: list, source: str, registry) -> None:
    tol_ind, tol_total = case_tolerances(case, problems, result.warnings)
    pack_data, inputs, expected_scores, blocked = case_to_pack(case, problems, result.warnings)
    expected_levels = expected_level_totals(case, problems)
    expected_total = None
    if case.get("expected_total") is not None:
        expected_total = parse_number(case["expected_total"], "期望总分（expected_total）", problems)
    expected_grade = case.get("expected_grade")
    if isinstance(expected_grade, (dict, list)):
        problems.append(f"期望等级（expected_grade）应为等级名称，如“良”，收到的是{describe(expected_grade)}")
        expected_grade = None

    if blocked:
        problems.extend(diagnose(pack_data, inputs, source, registry))
        return
    try:
        pack = build(pack_data, source, registry)
    except PackError as exc:
        problems.extend(diagnose(pack_data, inputs, source, registry, first=str(exc)))
        return
    except Exception as exc:   # noqa: BLE001 - a shape build() does not foresee: find the indicator
        problems.extend(diagnose(pack_data, inputs, source, registry)
                        or [f"本案例的规则定义无法识别（{type(exc).__name__}）；请对照 DOMAIN.md §6 检查各字段"])
        return
    evaluation = evaluate(pack, inputs)

    for code, raw, expected in expected_scores:
        got = evaluation.indicator(code)
        result.checks.append(Check(code, fmt(got.score), str(raw), abs(got.score - expected) <= tol_ind))
    levels = {level.path[0]: level for level in evaluation.levels if len(level.path) == 1}
    for name, raw, expected in expected_levels:
        got = levels.get(name)
        result.checks.append(Check(name, fmt(got.score) if got else "（无此一级指标）", str(raw),
                                   bool(got) and abs(got.score - expected) <= tol_total))
    if expected_total is not None:
        result.checks.append(Check("总分", fmt(evaluation.total), str(case["expected_total"]),
                                   abs(evaluation.total - expected_total) <= tol_total))
    if expected_grade is not None:
        result.checks.append(Check("等级", evaluation.grade, str(expected_grade), evaluation.grade == str(expected_grade)))


def expected_level_totals(case: dict, problems: list) -> list:
    raw = case.get("level_totals")
    if raw is None:
        return []
    if not isinstance(raw, dict):
        problems.append(f"一级指标得分（level_totals）应为“一级指标名称: 期望得分”的对照表，收到的是{describe(raw)}")
        return []
    items = []
    for name, value in raw.items():
        parsed = parse_number(value, f"一级指标“{name}”的期望得分（level_totals）", problems)
        if parsed is not None:
            items.append((str(name), value, parsed))
    return items


def diagnose(pack_data: dict, inputs: dict, source: str, registry, first: str | None = None) -> list:
    """Every problem of a case that cannot be scored, not just the first build() stops at.

    Each indicator is built on its own with default settings, each policy setting is tried on its
    own with an indicator that builds, and the indicators that build are run on their inputs, so
    definition, setting and input problems are reported together.
    """
    messages, good = [first] if first else [], []
    base = {k: v for k, v in pack_data.items() if k not in POLICY_KEYS}

    def attempt(data: dict, what: str) -> bool:
        try:
            build(data, source, registry)
            return True
        except PackError as exc:
            messages.append(str(exc))
        except Exception as exc:   # noqa: BLE001 - shapes build() does not foresee
            messages.append(f"{what}无法识别（{type(exc).__name__}）")
        return False

    for indicator in pack_data["indicators"]:
        if attempt({**base, "indicators": [indicator]}, f"指标{indicator.get('code')}的定义"):
            good.append(indicator)
    settings_ok = True
    if good:
        for key in sorted(POLICY_KEYS & set(pack_data)):
            settings_ok &= attempt({**base, key: pack_data[key], "indicators": good[:1]}, f"本案例的 {key} 设置")
        try:
            pack = build({**(pack_data if settings_ok else base), "indicators": good}, source, registry)
            evaluate(pack, {i["code"]: inputs.get(i["code"]) for i in good})
        except EvaluationError as exc:
            messages += [str(p) for p in exc.problems]
        except AnjuError as exc:
            messages.append(str(exc))
        except Exception:   # noqa: BLE001 - the definition problems found above are what matters here
            pass
    prefix = f"规则包“{pack_data.get('id')}”"
    return [m.replace(prefix, "本案例", 1) if m.startswith(prefix) else m for m in dict.fromkeys(messages)]


def case_to_pack(case: dict, problems: list, warnings: list):
    """An inline golden case -> (pack mapping, inputs by code, expected scores, blocked).

    Composite parts carry their own inputs. Shape problems are appended to ``problems``; an
    indicator whose shape is wrong is left out and ``blocked`` is set, so the rest can still be
    diagnosed but the case is not scored. Policy settings (rounding, levels, ...) are checked by
    packs.build, whose errors ``diagnose`` collects.
    """
    indicators, inputs, expected_scores = [], {}, []
    blocked = False

    raw_indicators = case.get("indicators") or []
    if not isinstance(raw_indicators, list):
        problems.append(f"indicators 应为指标列表（每项以“- code: …”开头，含 path、weight、rule、inputs），收到的是{describe(raw_indicators)}")
        raw_indicators, blocked = [], True
    for position, raw in enumerate(raw_indicators, start=1):
        if not isinstance(raw, dict):
            problems.append(f"第{position}个指标应为对照表（含 code、path、weight、rule、inputs），收到的是{describe(raw)}")
            blocked = True
            continue
        if raw.get("code") in (None, ""):
            problems.append(f"第{position}个指标缺少编码（code）")
            blocked = True
            continue
        code = str(raw["code"])
        here = f"指标{code}"
        warnings += typo_warnings(raw, INDICATOR_KEYS, f"{here}的")
        rule = raw.get("rule")
        if rule is not None and not isinstance(rule, dict):
            problems.append(f"{here}的 rule 应为对照表，如 {{type: ratio_capped}}，收到的是{describe(rule)}")
            blocked = True
            continue
        rule = dict(rule or {})
        if rule.get("type") == "composite":
            parts, part_inputs, ok = [], {}, True
            raw_parts = rule.get("parts")
            if raw_parts is not None and not isinstance(raw_parts, list):
                problems.append(f"{here}的 rule.parts 应为分项列表（每项含 key、weight、rule），收到的是{describe(raw_parts)}")
                raw_parts, ok = [], False
            for number, part in enumerate(raw_parts or [], start=1):
                if not isinstance(part, dict):
                    problems.append(f"{here}的 rule.parts 第{number}项应为对照表（含 key、weight、rule），收到的是{describe(part)}")
                    ok = False
                    continue
                part = dict(part)
                warnings += typo_warnings(part, PART_KEYS, f"{here}的分项“{part.get('key')}”")
                if "inputs" in part:
                    part_inputs[str(part.get("key"))] = part.pop("inputs")
                parts.append(part)
            if not ok:
                blocked = True
                continue
            rule["parts"] = parts
            inputs[code] = raw["inputs"] if raw.get("inputs") is not None else part_inputs
        else:
            inputs[code] = raw.get("inputs")
        if raw.get("expected_score") is not None:
            parsed = parse_number(raw["expected_score"], f"{here}的期望得分（expected_score）", problems)
            if parsed is not None:
                expected_scores.append((code, raw["expected_score"], parsed))
        indicators.append({"code": code, "path": raw.get("path") or [code], "weight": raw.get("weight"),
                           "target": raw.get("target"), "rule": rule})

    pack = {"id": str(case.get("id") or "golden-case"), "name": str(case.get("title") or case.get("id") or ""),
            "program": case.get("program") or "", "framework": str(case.get("framework") or ""),
            "indicators": indicators}
    for key in sorted(POLICY_KEYS):
        if key in case and case[key] is not None:
            pack[key] = case[key]
    pack["grades"] = case.get("grades") or case.get("grade_bands") or DEFAULT_GRADES
    pack.pop("grade_bands", None)
    rounding = case.get("rounding")
    if isinstance(rounding, dict):   # a part left empty (``indicator:``) means the default, as if it were not written
        pack["rounding"] = {k: v for k, v in rounding.items() if v is not None}
    return pack, inputs, expected_scores, blocked


def check_known_inputs(case: dict, result: CaseResult, problems: list | None = None) -> CaseResult:
    """Partial cases: each known target/actual earns ratio_capped's share of the weight."""
    problems = [] if problems is None else problems
    raw_indicators = case.get("indicators")
    if raw_indicators not in (None, [], {}, ""):
        problems.append(f"indicators 应为指标列表，收到的是{describe(raw_indicators)}")
    known = case.get("known_inputs") or []
    if not isinstance(known, list):
        problems.append(f"known_inputs 应为列表（每项含 indicator、target、actual 等），收到的是{describe(known)}")
        known = []
    for position, item in enumerate(known, start=1):
        if not isinstance(item, dict):
            problems.append(f"known_inputs 第{position}项应为对照表（含 indicator、target、actual 等），收到的是{describe(item)}")
            continue
        name = str(item.get("indicator"))
        result.warnings += typo_warnings(item, KNOWN_INPUT_KEYS, f"known_inputs 第{position}项（{name}）的")
        try:
            check_known_input(item, name, result)
        except AnjuError as exc:
            problems.append(f"known_inputs 第{position}项（{name}）：{exc}")
    if not result.checks and not problems:
        result.note = "部分案例：报告未公布指标表，无可复算的指标（不计为失败）"
    return result


def check_known_input(item: dict, name: str, result: CaseResult) -> None:
    if item.get("status") and input_state(item["status"]) and item.get("expected_rate_of_weight") is not None:
        # an explicit N/A earns full credit under the default policy
        expected = to_decimal(item["expected_rate_of_weight"], what="期望得分占分值比例（expected_rate_of_weight）")
        result.checks.append(Check(name, "1", str(item["expected_rate_of_weight"]), abs(ONE - expected) <= Decimal("0.0001")))
        return
    if item.get("target") is None or item.get("actual") is None:
        return
    target = to_decimal(item["target"], what=f"{name}目标值")
    actual = to_decimal(item["actual"], what=f"{name}实际值")
    ratio = safe_div(actual, target)
    if item.get("completion_pct") is not None:
        expected_pct = to_decimal(item["completion_pct"], what="完成率")
        places = min(12, max(0, -expected_pct.as_tuple().exponent))
        got_pct = quantize(ratio * HUNDRED, places, "ROUND_HALF_UP")
        result.checks.append(Check(f"{name}完成率", fmt(got_pct), str(item["completion_pct"]), got_pct == expected_pct))
    if item.get("expected_rate_of_weight") is not None:
        expected = to_decimal(item["expected_rate_of_weight"], what="期望得分占分值比例（expected_rate_of_weight）")
        share = min(ONE, max(ZERO, ratio))
        result.checks.append(Check(f"{name}得分占分值比例", fmt(share), str(item["expected_rate_of_weight"]),
                                   abs(share - expected) <= Decimal("0.0001")))
