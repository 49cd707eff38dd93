"""Batch recalculation of workbook folders (``anju batch``): discovery, worker
processes, progress, and the per-file records the summary is built from.

Each file goes through exactly the same code path as ``anju recalc``
(``engine.workbook.recalc.recalc_file``), which writes to a temporary file and
renames it, so an interrupted batch leaves every workbook fully old or fully new.
Files are handed to the workers in groups whose writes are made durable together
(``xlsxpatch.DeferredWrites``: one journal flush per group instead of two per file);
a file is reported only once it is in place.
"""

from __future__ import annotations

import os
import signal
import sys
import time
from dataclasses import asdict, dataclass, field
from multiprocessing import get_context
from pathlib import Path

WORKBOOK_SUFFIXES = {".xlsx", ".xlsm"}
TEMP_PREFIXES = ("~$", ".~anju-", ".~lock.", "~")   # Office/WPS lock files, our temp files, LibreOffice locks
STATUS_ZH = {"recalculated": "已重新计算", "unchanged": "未变化（跳过）", "failed": "失败", "skipped": "跳过",
             "dry-run": "试运行（未写入）"}


@dataclass
class FileRecord:
    """One workbook's outcome, as shown in the summary (plain data, picklable)."""

    path: str
    status: str                   # recalculated | unchanged | failed | skipped | dry-run
    message: str = ""
    pack_id: str = ""
    pack_version: str = ""
    program: str = ""
    region: str = ""
    project: str = ""
    year: str = ""
    total: str = ""
    grade: str = ""
    levels: dict = field(default_factory=dict)    # 一级指标 -> subtotal
    findings: dict = field(default_factory=dict)  # audit counts by severity (with --audit)
    seconds: float = 0.0

    def to_dict(self) -> dict:
        return asdict(self)


def is_temporary(path: Path) -> bool:
    return path.name.startswith(TEMP_PREFIXES)


def discover(folders, recursive: bool) -> tuple[list[Path], list[FileRecord]]:
    """Workbooks under the folders (files given directly are taken as they are)."""
    found, skipped = [], []
    for folder in folders:
        folder = Path(folder)
        if folder.is_file():
            candidates = [folder]
        elif folder.is_dir():
            candidates = folder.rglob("*") if recursive else folder.iterdir()
        else:
            skipped.append(FileRecord(str(folder), "failed", f"找不到文件夹：{folder}"))
            continue
        for path in sorted(candidates):
            if not path.is_file() or path.suffix.lower() not in WORKBOOK_SUFFIXES:
                continue
            if is_temporary(path):
                continue
            found.append(path)
    return found, skipped


# --------------------------------------------------------------------------- workers

_worker_state: dict = {}
GROUP_SIZE = 32   # files per durable commit: ~0.1 s of work, so progress still moves steadily


def _load_state(rules_dirs, force, dry_run, audit):
    from .plugins import catalog
    from .workbook import recalc  # noqa: F401  (imported once here, not in the first file's time)
    _worker_state.update(args=(rules_dirs, force, dry_run, audit), catalog=catalog(rules_dirs),
                         force=force, dry_run=dry_run, audit=audit)


def _init_worker(rules_dirs, force, dry_run, audit):
    # The parent handles Ctrl-C; workers finish (or are terminated between atomic writes).
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    if _worker_state.get("args") != (rules_dirs, force, dry_run, audit):   # forked workers inherit the parent's
        _load_state(rules_dirs, force, dry_run, audit)


def process_group(paths: list[str]) -> list[FileRecord]:
    """Recalculate several workbooks and put their new files in place together; never raises."""
    from .workbook.xlsxpatch import DeferredWrites

    state = _worker_state
    deferred = None if state["dry_run"] or state["audit"] else DeferredWrites()   # audit reads the written file
    try:
        records = [process_file(path, deferred) for path in paths]
    except BaseException:   # Ctrl-C with --jobs 1: the staged files go, their workbooks stay as they were
        deferred and deferred.discard()
        raise
    if deferred is None or not len(deferred):
        return records
    try:
        failed = {Path(target): str(exc) for target, exc in deferred.commit().items()}
    except Exception as exc:   # e.g. the disk failed while syncing: nothing of this group was replaced
        failed = {Path(record.path): f"{type(exc).__name__}: {exc}" for record in records}
    for record in records:
        reason = failed.get(Path(record.path))
        if reason and record.status != "failed":
            record.status, record.message = "failed", reason
    return records


def process_file(path: str, deferred=None) -> FileRecord:
    """Recalculate (and optionally audit) one workbook; never raises.

    With ``deferred`` (``xlsxpatch.DeferredWrites``) the new file is only staged: see ``process_group``."""
    from .workbook.recalc import recalc_file
    from .workbook.xlsxpatch import is_locked

    started = time.perf_counter()
    state = _worker_state
    try:
        lock = is_locked(Path(path))
        if lock is not None and not state["dry_run"]:
            record = FileRecord(path, "skipped", f"文件正在 Excel/WPS 中打开（存在锁文件 {lock.name}），已跳过；请关闭后重新运行")
            record.seconds = round(time.perf_counter() - started, 4)
            return record
        report = recalc_file(Path(path), state["catalog"], force=state["force"], dry_run=state["dry_run"],
                             deferred=deferred)
        record = record_from_report(path, report)
        if state["audit"] and record.status in ("recalculated", "unchanged", "dry-run"):
            from .audit import audit_file
            audit = audit_file(Path(path), state["catalog"], write=not state["dry_run"])
            record.findings = audit.counts()
    except Exception as exc:   # one bad file never stops the batch
        record = FileRecord(path, "failed", f"{type(exc).__name__}: {exc}")
    record.seconds = round(time.perf_counter() - started, 4)
    return record


MAX_MESSAGES = 5


def short_message(messages: list) -> str:
    """The first few problems of a file; the full list is in its 校验 sheet."""
    shown = "；".join(messages[:MAX_MESSAGES])
    more = len(messages) - MAX_MESSAGES
    return shown + (f"；另有{more}条，详见该工作簿的“校验”表" if more > 0 else "")


def meta_text(value) -> str:
    """Spreadsheet readers return 2024 as 2024.0; show it as typed."""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return "" if value is None else str(value)


def program_label(pack) -> str:
    from .packs import PROGRAMS
    return PROGRAMS.get(pack.program, pack.program) if pack is not None else ""


def record_from_report(path: str, report) -> FileRecord:
    meta = {key: meta_text(value) for key, value in (getattr(report, "meta", {}) or {}).items()}
    return FileRecord(
        path=path,
        status=report.status,
        message=short_message(getattr(report, "messages", []) or []),
        pack_id=getattr(report, "pack_id", "") or "",
        pack_version=getattr(report, "pack_version", "") or "",
        program=meta.get("program", "") or program_label(getattr(getattr(report, "result", None), "pack", None)),
        region=meta.get("region", ""),
        project=meta.get("project", ""),
        year=meta.get("year", ""),
        total=str(getattr(report, "total", "") or ""),
        grade=str(getattr(report, "grade", "") or ""),
        levels=dict(getattr(report, "levels", {}) or {}),
    )


def run_batch(paths: list[Path], *, jobs: int, rules_dirs=(), force=False, dry_run=False, audit=False, on_record=None):
    """Process files in worker processes; yields nothing, calls ``on_record`` as results arrive.

    Returns (records, interrupted). On Ctrl-C the pool is terminated: files already
    renamed into place are complete, files in flight keep their old bytes, and
    leftover temporary files are removed.
    """
    records: list[FileRecord] = []
    args = (tuple(str(d) for d in rules_dirs), force, dry_run, audit)
    interrupted = False
    groups = file_groups([str(p) for p in paths], jobs)
    if jobs <= 1:
        _init_worker(*args)
        signal.signal(signal.SIGINT, signal.default_int_handler)
        try:
            for group in groups:
                for record in process_group(group):
                    records.append(record)
                    on_record and on_record(record)
        except KeyboardInterrupt:
            interrupted = True
    else:
        method = "fork" if sys.platform != "win32" else "spawn"
        if method == "fork":
            _load_state(*args)   # the catalog is loaded once and shared with the workers
        pool = get_context(method).Pool(jobs, _init_worker, args)
        try:
            for group_records in pool.imap_unordered(process_group, groups):
                for record in group_records:
                    records.append(record)
                    on_record and on_record(record)
            pool.close()
        except KeyboardInterrupt:
            interrupted = True
            pool.terminate()
        finally:
            pool.join()
    if interrupted:
        remove_temporaries(paths)
    return records, interrupted


def file_groups(paths: list[str], jobs: int) -> list[list[str]]:
    """Groups of at most GROUP_SIZE files, small enough that every worker gets several."""
    size = max(1, min(GROUP_SIZE, len(paths) // (jobs * 4)))
    return [paths[start:start + size] for start in range(0, len(paths), size)]


def remove_temporaries(paths) -> None:
    for folder in {Path(p).parent for p in paths}:
        for leftover in folder.glob(".~anju-*"):
            try:
                leftover.unlink()
            except OSError:
                pass


def default_jobs() -> int:
    return max(1, len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1))
