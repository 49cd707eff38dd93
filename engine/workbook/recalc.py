"""``anju recalc``: read a workbook by name, score it, write the results back by name.

One code path (``recalc_host``) for the CLI, ``anju batch`` and the in-workbook
button; only the host differs. What is written, all through defined names:
every indicator's score, rate and explanation, the 一级指标 subtotals, total,
grade, the stamp (engine version, pack id and version, time) and the 校验
messages. Nothing else in the workbook changes.

Statuses: ``recalculated`` (written), ``unchanged`` (the results in the
workbook are already current: nothing written unless ``force``), ``failed``
(the workbook could not be read, or its inputs are wrong: the messages are
written to 校验 when the file is writable), ``skipped`` (not an anju workbook),
``dry-run`` (computed, nothing written).
"""

from __future__ import annotations

import datetime as _dt
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path

from .. import __version__
from ..errors import AnjuError, EvaluationError, InputError
from ..numbers import fmt
from ..scoring import evaluate
from . import names as N
from .host import FileHost, WorkbookHost
from .reader import Message, WorkbookData, area_cells
from .xlsxpatch import WorkbookFileError

RECALCULATED, UNCHANGED, FAILED, SKIPPED, DRY_RUN = "recalculated", "unchanged", "failed", "skipped", "dry-run"
STAMP_SEPARATOR = "｜"
STAMP_OK = "计算完成"
STAMP_FAILED = "输入有误，未计算（见“校验”表）"


@dataclass
class RecalcReport:
    path: str
    status: str
    messages: list = field(default_factory=list)     # str, e.g. "评分表!J12：指标C101的…"
    findings: list = field(default_factory=list)     # Message (level, sheet, cell, text)
    total: str = ""
    grade: str = ""
    pack_id: str = ""
    pack_version: str = ""
    meta: dict = field(default_factory=dict)
    levels: dict = field(default_factory=dict)       # 一级指标 -> subtotal (text)
    result: object = None                            # EvaluationResult when scored
    written: bool = False

    @property
    def ok(self) -> bool:
        return self.status in (RECALCULATED, UNCHANGED, DRY_RUN)


# --------------------------------------------------------------------------- packs

_PACKS: dict = {}


def pack_for(catalog, pack_id: str):
    """Compiled packs are cached per catalog (compiling is most of a recalculation's time)."""
    key = (id(catalog), pack_id)
    cached = _PACKS.get(key)
    if cached is None or cached[0] is not catalog:
        cached = (catalog, catalog.pack(pack_id))
        _PACKS[key] = cached
    return cached[1]


class _CachingCatalog:
    """Wraps a catalog so readers get cached packs."""

    def __init__(self, catalog):
        self.catalog = catalog

    def pack(self, pack_id):
        return pack_for(self.catalog, pack_id)


# --------------------------------------------------------------------------- stamp

def stamp_text(pack, state: str, now: _dt.datetime) -> str:
    return STAMP_SEPARATOR.join((f"anju {__version__}", f"规则包 {pack.id} 版本 {pack.version}", state,
                                 f"计算时间 {now:%Y-%m-%d %H:%M:%S}"))


def stamp_key(text) -> str:
    """The stamp without its time (what must match for a workbook to be current)."""
    return STAMP_SEPARATOR.join(str(text or "").split(STAMP_SEPARATOR)[:-1])


# --------------------------------------------------------------------------- outputs

def success_outputs(data: WorkbookData, result) -> tuple[dict, list]:
    pack = result.pack
    values: dict = {}
    findings: list = []
    for r in result.indicators:
        values[N.score_name(r.code)] = r.score
        values[N.rate_name(r.code)] = r.rate
        values[N.explain_name(r.code)] = r.explanation
        for warning in r.warnings:
            findings.append(at_name(data, N.score_name(r.code), Message.WARNING, warning))
    listed = {w for r in result.indicators for w in r.warnings}
    for warning in result.warnings:
        if warning not in listed:
            findings.append(at_name(data, N.OUT_TOTAL, Message.WARNING, warning))
    by_path = {level.path: level for level in result.levels}
    for number, group in enumerate(N.level_groups(pack), 1):
        level = by_path.get(group)
        values[N.level_score_name(number)] = level.score if level else None
        values[N.level_rate_name(number)] = level.rate if level else None
    values[N.OUT_TOTAL] = result.total
    values[N.OUT_GRADE] = result.grade
    return values, findings


def failure_outputs(data: WorkbookData, pack, errors: list) -> dict:
    """Clear every result (stale scores next to wrong inputs mislead); name the problem beside the indicator."""
    values: dict = {}
    by_code: dict = {}
    for message, code in errors:
        if code:
            by_code.setdefault(code, []).append(message.text)
    for indicator in pack.indicators:
        values[N.score_name(indicator.code)] = None
        values[N.rate_name(indicator.code)] = None
        texts = by_code.get(indicator.code)
        values[N.explain_name(indicator.code)] = ("输入有误：" + "；".join(texts)) if texts else None
    for number in range(1, len(N.level_groups(pack)) + 1):
        values[N.level_score_name(number)] = None
        values[N.level_rate_name(number)] = None
    values[N.OUT_TOTAL] = None
    values[N.OUT_GRADE] = None
    return values


def at_name(data: WorkbookData, name: str, level: str, text: str) -> Message:
    where = data.cell_of(name) or ("", "")
    return Message(level, where[0], where[1], text)


def message_rows(data: WorkbookData, findings: list) -> list:
    area = data.area_of(N.OUT_MESSAGES)
    capacity = len(area_cells(area[1])) if area else 0
    rows = [m.row() for m in findings]
    if capacity and len(rows) > capacity:
        hidden = len(rows) - capacity + 1
        rows = rows[:capacity - 1] + [(Message.WARNING, None, None, f"另有{hidden}条信息未列出，请查看命令行输出")]
    return rows


def same_value(old, new) -> bool:
    if new is None or new == "":
        return old is None or old == ""
    if isinstance(new, Decimal):
        return isinstance(old, Decimal) and old == new
    return old == new


def is_current(data: WorkbookData, values: dict, rows: list) -> bool:
    """True when the workbook already shows exactly these results (and a stamp of this engine and pack)."""
    for name, value in values.items():
        if name == N.OUT_STAMP:
            if name in data.outputs and stamp_key(data.outputs.get(name)) != stamp_key(value):
                return False
            continue
        if name == N.OUT_MESSAGES or name not in data.outputs:
            continue
        if not same_value(data.outputs[name], value):
            return False
    old_rows = [tuple(v for v in values_) for _, values_ in data.messages]
    new_rows = [tuple(None if v in ("", None) else v for v in row) for row in rows]
    return old_rows == new_rows


def changed_only(data: WorkbookData, values: dict) -> dict:
    """The values that differ from what the workbook shows (the stamp is always written):
    fewer patched cells, and a file diff that shows what a recalculation really changed."""
    return {name: value for name, value in values.items()
            if name == N.OUT_STAMP or name not in data.outputs or not same_value(data.outputs[name], value)}


# --------------------------------------------------------------------------- the one code path

def recalc_host(host: WorkbookHost, catalog, *, force: bool = False, dry_run: bool = False,
                now: _dt.datetime | None = None) -> RecalcReport:
    """Read, score and write back one workbook. Never raises for a bad workbook or bad input."""
    now = now or _dt.datetime.now()
    report = RecalcReport(path=host.label, status=FAILED)
    try:
        data = host.read_inputs(_CachingCatalog(catalog))
    except WorkbookFileError as exc:
        return fail(report, str(exc))
    report.meta = dict(data.meta)
    report.pack_id, report.pack_version = data.pack_id or "", data.pack_version or ""
    if data.area_of(N.meta_name("pack_id")) is None:
        report.status = SKIPPED
        report.messages = [f"“{host.label}”不是 anju 模板（没有名称 {N.meta_name('pack_id')}），已跳过"]
        return report
    pack = data.pack
    if pack is None:
        if not data.pack_id:
            data.problems.append(at_name(data, N.meta_name("pack_id"), Message.ERROR,
                                         "基本信息中的规则包 id 为空，无法计算；请使用 anju template 生成的模板"))
        return write_failure(host, report, data, None, [(m, None) for m in data.problems], now, dry_run)
    report.pack_version = pack.version
    notes = list(data.notes)
    if data.pack_version and data.pack_version != pack.version:
        notes.append(at_name(data, N.meta_name("pack_version"), Message.WARNING,
                             f"模板的规则包版本为 {data.pack_version}，当前规则包“{pack.id}”的版本为 {pack.version}，"
                             f"已按当前版本计算；如指标有变化，请用 anju template 重新生成模板"))
    errors = [(m, None) for m in data.problems]
    result = None
    try:
        result = evaluate(pack, data.inputs)
    except EvaluationError as exc:
        for problem in exc.problems:
            if (problem.code, problem.key) in data.problem_keys:
                continue   # the reader already named the exact cell
            errors.append((data.message(Message.ERROR, problem.code, problem.key, str(problem)), problem.code))
    except InputError as exc:
        errors.append((data.message(Message.ERROR, exc.code, exc.key, str(exc)), exc.code))
    # reader problems carry their cell; attach them to their indicator for the explanation column
    errors = [(m, code or owner(data, m)) for m, code in errors]
    if errors:
        return write_failure(host, report, data, pack, errors, now, dry_run, notes)
    values, findings = success_outputs(data, result)
    if getattr(host, "writes_cached_values", False) and data.area_of(N.OUT_SCORES_SUM):
        values[N.OUT_SCORES_SUM] = sum((r.score for r in result.indicators), Decimal(0))
    findings = notes + findings
    values[N.OUT_STAMP] = stamp_text(pack, STAMP_OK, now)
    rows = message_rows(data, findings)
    report.result = result
    report.total, report.grade = fmt(result.total), result.grade
    report.levels = {level.path[0]: fmt(level.score) for level in result.levels if len(level.path) == 1}
    report.findings = findings
    report.messages = [str(m) for m in findings]
    if dry_run:
        report.status = DRY_RUN
        return report
    if not force and is_current(data, values, rows):
        report.status = UNCHANGED
        return report
    values = changed_only(data, values)
    values[N.OUT_MESSAGES] = rows
    try:
        host.write_outputs(values)
    except WorkbookFileError as exc:
        return fail(report, str(exc))
    report.status, report.written = RECALCULATED, True
    for sheet, cell, _, found in getattr(host, "restored", []):
        text = f"{sheet}!{cell}：公式被修改（原为“={found[:40]}”），已恢复为规则包编译的公式" if found else \
            f"{sheet}!{cell}：公式被删除，已恢复为规则包编译的公式"
        report.findings.append(Message(Message.WARNING, sheet, cell, text))
        report.messages.append(text)
    return report


def owner(data: WorkbookData, message: Message) -> str | None:
    """The indicator whose input cell a reader message points at."""
    for (code, _), where in data.origins.items():
        if where == (message.sheet, message.cell):
            return code
    return None


def fail(report: RecalcReport, text: str) -> RecalcReport:
    report.status = FAILED
    report.findings.append(Message(Message.ERROR, "", "", text))
    report.messages.append(text)
    return report


def write_failure(host, report, data, pack, errors, now, dry_run, notes=()) -> RecalcReport:
    findings = [m for m, _ in errors] + list(notes)
    report.status = FAILED
    report.findings = findings
    report.messages = [str(m) for m in findings]
    if dry_run:
        return report
    values = failure_outputs(data, pack, errors) if pack is not None else {}
    if pack is not None and getattr(host, "writes_cached_values", False) and data.area_of(N.OUT_SCORES_SUM):
        values[N.OUT_SCORES_SUM] = None
    if pack is not None:
        values[N.OUT_STAMP] = stamp_text(pack, STAMP_FAILED, now)
    rows = message_rows(data, findings)
    if is_current(data, values, rows):
        return report   # the same problems are already shown
    values = changed_only(data, values)
    values[N.OUT_MESSAGES] = rows
    try:
        host.write_outputs(values)
        report.written = True
    except WorkbookFileError as exc:
        text = f"（问题未能写入“校验”表：{exc}）"
        report.findings.append(Message(Message.ERROR, "", "", text))
        report.messages.append(text)
    except AnjuError as exc:
        report.messages.append(str(exc))
    return report


def recalc_file(path, catalog=None, *, force: bool = False, dry_run: bool = False,
                now: _dt.datetime | None = None, deferred=None) -> RecalcReport:
    """Recalculate one closed workbook file (see the module docstring for statuses).

    ``deferred`` (an ``xlsxpatch.DeferredWrites``, for ``anju batch``): the new file is only
    staged; it is in place once ``deferred.commit()`` has succeeded for it."""
    if catalog is None:
        from ..plugins import catalog as default_catalog
        catalog = default_catalog()
    host = FileHost(Path(path), check_lock=not dry_run, deferred=deferred)
    report = recalc_host(host, catalog, force=force, dry_run=dry_run, now=now)
    report.path = str(path)
    return report
