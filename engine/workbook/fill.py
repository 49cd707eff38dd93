"""Filling a template programmatically, through the defined names only.

Provincial systems that collect data elsewhere write it into the standard
template this way; the examples, the audit tests and the batch benchmark use
it too. Values go in with the lossless patcher, so a filled template is
byte-identical to the template except for the filled cells.
"""

from __future__ import annotations

import re
from decimal import Decimal
from pathlib import Path

from ..errors import AnjuError
from ..model import Pack
from . import names as N
from .reader import area_cells
from .xlsxpatch import open_package, patch_cells

_PLAIN_NUMBER = re.compile(r"-?\d+(\.\d+)?")


def cell_value(value):
    """A value as a workbook cell should hold it: numbers as Decimal, yes/no as 是/否, text as typed."""
    if value is None or isinstance(value, Decimal):
        return value
    if isinstance(value, bool):
        return "是" if value else "否"
    if isinstance(value, (int, float)):
        return Decimal(repr(value)) if isinstance(value, float) else Decimal(value)
    text = str(value)
    return Decimal(text) if _PLAIN_NUMBER.fullmatch(text.strip()) else text


def fill_workbook(path, pack: Pack, inputs: dict, claims: dict | None = None, meta: dict | None = None,
                  *, out_path=None) -> None:
    """Write inputs, claimed scores and 基本信息 into a generated template, by defined name, losslessly.

    ``inputs`` as for ``engine.scoring.evaluate`` (a state word such as "未验收" goes to the status cell);
    ``claims``: {scores, total, grade, levels, scores2, total2, grade2} (see ``engine.audit.claims_from_mapping``);
    ``meta``: {project, region, year, mode, ...} written as text (年度 "2022", not 2022.0).
    """
    from ..scoring import input_state

    names = {k.lower(): v for k, v in open_package(path).defined_names().items()}
    edits: dict = {}

    def put(name: str, value, *, text: bool = False) -> None:
        where = names.get(name.lower())
        if where is None:
            raise AnjuError(f"工作簿 {Path(path).name} 中没有名称“{name}”（是否为规则包“{pack.id}”的模板？）")
        sheet, area = where
        edits.setdefault(sheet, {})[area.split(":")[0]] = (None if value is None else str(value)) if text else cell_value(value)

    for field_name, value in (meta or {}).items():
        put(N.meta_name(field_name), value, text=True)
    for code in inputs:
        if pack.indicator(str(code)) is None:
            raise AnjuError(f"规则包“{pack.id}”中没有指标“{code}”")
    for indicator in pack.indicators:
        raw = inputs.get(indicator.code)
        if raw is None:
            continue
        if isinstance(raw, str) and input_state(raw):
            put(N.status_name(indicator.code), raw)
            continue
        if isinstance(raw, dict) and raw.get("status"):
            put(N.status_name(indicator.code), raw["status"])
        for spec in indicator.compiled.specs:
            container = raw.get(spec.part, {}) if spec.part else raw
            value = container.get(spec.key) if isinstance(container, dict) else None
            if value is None:
                continue
            name = N.spec_name(indicator.code, spec)
            if spec.kind == N.ANSWERS_KIND:
                fill_answers(edits, names[name.lower()], spec, indicator.code, value)
                continue
            if spec.kind == "category":
                value = dict(spec.choices).get(value, value)
            put(name, value)
    claims = claims or {}
    for key, which in (("scores", "claimed"), ("scores2", "claimed2")):
        for code, value in (claims.get(key) or {}).items():
            put(N.claimed_name(code, which), value)
    for key, name in (("total", N.TOTAL_CLAIMED["claimed"]), ("total2", N.TOTAL_CLAIMED["claimed2"]),
                      ("grade", N.GRADE_CLAIMED["claimed"]), ("grade2", N.GRADE_CLAIMED["claimed2"])):
        if claims.get(key) is not None:
            put(name, claims[key])
    levels = [group[0] for group in N.level_groups(pack)]
    for level, value in (claims.get("levels") or {}).items():
        put(N.level_claimed_name(levels.index(level) + 1), value)
    patch_cells(path, edits, out_path=out_path)


def fill_answers(edits: dict, where: tuple, spec, code: str, answers) -> None:
    """Survey counts into the two-column ``in_<CODE>_answers`` range: template options first, others in free rows."""
    sheet, area = where
    rows = area_cells(area)
    labels = [str(c) for c in spec.choices]
    answers = {str(k): v for k, v in dict(answers).items()}
    if len(answers) > len(rows):
        raise AnjuError(f"指标{code}的问卷选项多于模板的{len(rows)}行")
    free = [i for i, label in enumerate(labels) if label not in answers]
    for label in answers:
        if label not in labels:
            if free:
                labels[free.pop()] = label
            else:
                labels.append(label)
    for row, label in zip(rows, labels):
        edits.setdefault(sheet, {})[row[0]] = label
        edits[sheet][row[1]] = cell_value(answers.get(label))
