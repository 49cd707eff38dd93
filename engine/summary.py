"""The provincial summary (汇总表) of a batch: a new workbook (openpyxl), CSV and JSON.

Rows are sorted by program, year and total (best first), ranked within program
and year; failed and skipped files are listed after the scored ones with their
reason, so nothing silently drops out of the report.
"""

from __future__ import annotations

import csv
import json
import os
import tempfile
from decimal import Decimal, InvalidOperation
from pathlib import Path

from openpyxl import Workbook
from openpyxl.chart import BarChart, Reference
from openpyxl.styles import Alignment, Font, PatternFill
from openpyxl.utils import get_column_letter

from .batch import STATUS_ZH, FileRecord

PROGRAM_ZH = {"old_community_renovation": "城镇老旧小区改造", "shantytown_redevelopment": "城市棚户区改造",
              "rental_housing": "租赁住房保障", "elevator_retrofit": "既有住宅加装电梯"}
SCORE_BINS = [(Decimal(0), Decimal(60), "60分以下"), (Decimal(60), Decimal(70), "60–70"), (Decimal(70), Decimal(80), "70–80"),
              (Decimal(80), Decimal(90), "80–90"), (Decimal(90), Decimal(101), "90分及以上")]


def total_of(record: FileRecord) -> Decimal | None:
    try:
        return Decimal(record.total) if record.total not in ("", None) else None
    except InvalidOperation:
        return None


def ranked(records: list[FileRecord]) -> list[tuple[FileRecord, int | None]]:
    scored = [r for r in records if total_of(r) is not None and r.status != "failed"]
    others = [r for r in records if r not in scored]
    scored.sort(key=lambda r: (r.program, r.year, -total_of(r), r.region, r.path))
    rows, rank, group, previous = [], 0, None, None
    for position, record in enumerate(scored):
        key = (record.program, record.year)
        if key != group:
            group, rank, start = key, 0, position
        rank = position - start + 1 if total_of(record) != previous or rank == 0 else rank
        previous = total_of(record)
        rows.append((record, rank))
    others.sort(key=lambda r: (r.status, r.path))
    return rows + [(r, None) for r in others]


def level_names(records) -> list[str]:
    names = []
    for record in records:
        for name in record.levels:
            if name not in names:
                names.append(name)
    return names


def table(records: list[FileRecord], with_findings: bool) -> tuple[list[str], list[list]]:
    levels = level_names(records)
    header = ["排名", "地区", "项目名称", "项目类型", "年度", "规则包", "版本", "总分", "等级", *levels, "状态", "说明", "文件"]
    if with_findings:
        header[-2:-2] = ["复核发现（错误）", "复核发现（警告）", "复核发现（提示）"]
    rows = []
    for record, rank in ranked(records):
        total = total_of(record)
        row = [rank, record.region, record.project, PROGRAM_ZH.get(record.program, record.program), record.year,
               record.pack_id, record.pack_version, total, record.grade,
               *[_number(record.levels.get(name)) for name in levels], STATUS_ZH.get(record.status, record.status),
               record.message, record.path]
        if with_findings:
            counts = record.findings or {}
            row[-2:-2] = [counts.get("error", 0), counts.get("warning", 0), counts.get("info", 0)]
        rows.append(row)
    return header, rows


def _number(value):
    """Subtotals stay Decimal: openpyxl writes them as numbers, CSV as typed."""
    try:
        return Decimal(str(value)) if value not in (None, "") else None
    except InvalidOperation:
        return value


def write_summary(records: list[FileRecord], path: Path, *, with_findings: bool = False) -> None:
    header, rows = table(records, with_findings)
    wb = Workbook()
    ws = wb.active
    ws.title = "汇总表"
    ws.append(header)
    for row in rows:
        ws.append(row)
    bold = Font(bold=True)
    fill = PatternFill("solid", fgColor="DDEBF7")
    for cell in ws[1]:
        cell.font, cell.fill = bold, fill
        cell.alignment = Alignment(horizontal="center", vertical="center", wrap_text=True)
    ws.freeze_panes = "A2"
    ws.auto_filter.ref = f"A1:{get_column_letter(len(header))}{max(2, len(rows) + 1)}"
    for index, name in enumerate(header, start=1):
        ws.column_dimensions[get_column_letter(index)].width = {"说明": 36, "文件": 24, "项目名称": 18, "规则包": 22}.get(name, 9)
    total_column = header.index("总分") + 1
    for row in ws.iter_rows(min_row=2, min_col=total_column, max_col=total_column):
        row[0].number_format = "0.00"
    wrapped = Alignment(wrap_text=True, vertical="top")
    for name in ("说明", "文件", "项目名称", "规则包"):
        column = header.index(name) + 1
        for row in ws.iter_rows(min_row=2, min_col=column, max_col=column):
            row[0].alignment = wrapped
    ws.print_title_rows = "1:1"
    ws.page_setup.orientation = "landscape"
    ws.page_setup.paperSize = ws.PAPERSIZE_A4
    ws.page_setup.fitToWidth = 1
    ws.sheet_properties.pageSetUpPr.fitToPage = True
    ws.page_setup.fitToHeight = 0
    add_charts(wb, records)
    write_atomically(path, wb.save)


def add_charts(wb: Workbook, records: list[FileRecord]) -> None:
    scored = [r for r in records if total_of(r) is not None and r.status != "failed"]
    data = wb.create_sheet("图表")
    data.append(["总分区间", "工作簿数"])
    for low, high, label in SCORE_BINS:
        data.append([label, sum(1 for r in scored if low <= total_of(r) < high)])
    histogram = BarChart()
    histogram.title = "总分分布"
    histogram.y_axis.title = "工作簿数"
    histogram.x_axis.title = "总分区间"
    histogram.add_data(Reference(data, min_col=2, min_row=1, max_row=len(SCORE_BINS) + 1), titles_from_data=True)
    histogram.set_categories(Reference(data, min_col=1, min_row=2, max_row=len(SCORE_BINS) + 1))
    histogram.legend = None
    histogram.width, histogram.height = 16, 7.5
    data.add_chart(histogram, "E2")

    order = ["优", "优秀", "良", "良好", "中", "合格", "差", "不合格"]
    grades = sorted({r.grade for r in scored if r.grade}, key=lambda g: (order.index(g) if g in order else len(order), g))
    regions = sorted({r.region or "（未填地区）" for r in scored})
    start = len(SCORE_BINS) + 4
    data.cell(start, 1, "地区")
    for column, grade in enumerate(grades, start=2):
        data.cell(start, column, grade)
    for row, region in enumerate(regions, start=start + 1):
        data.cell(row, 1, region)
        for column, grade in enumerate(grades, start=2):
            data.cell(row, column, sum(1 for r in scored if (r.region or "（未填地区）") == region and r.grade == grade))
    if grades and regions:
        chart = BarChart()
        chart.type = "bar"
        chart.grouping = "stacked"
        chart.overlap = 100
        chart.title = "各地区评价等级分布"
        chart.add_data(Reference(data, min_col=2, max_col=len(grades) + 1, min_row=start, max_row=start + len(regions)),
                       titles_from_data=True)
        chart.set_categories(Reference(data, min_col=1, min_row=start + 1, max_row=start + len(regions)))
        chart.height = max(7.5, 0.6 * len(regions) + 3)
        chart.width = 16
        data.add_chart(chart, "E18")
    data.page_setup.orientation = "landscape"
    data.page_setup.paperSize = data.PAPERSIZE_A4
    data.sheet_properties.pageSetUpPr.fitToPage = True
    data.page_setup.fitToWidth = 1
    data.page_setup.fitToHeight = 0
    data.column_dimensions["A"].width = 18


def write_csv(records: list[FileRecord], path: Path, *, with_findings: bool = False) -> None:
    header, rows = table(records, with_findings)

    def save(target):
        with open(target, "w", newline="", encoding="utf-8-sig") as handle:   # BOM: Excel opens it as UTF-8
            writer = csv.writer(handle)
            writer.writerow(header)
            writer.writerows(rows)
    write_atomically(path, save)


def write_json(records: list[FileRecord], path: Path, *, interrupted: bool = False) -> None:
    payload = {"schema": "anju-batch/1", "interrupted": interrupted,
               "files": [dict(r.to_dict(), rank=rank) for r, rank in ranked(records)]}

    def save(target):
        Path(target).write_text(json.dumps(payload, ensure_ascii=False, indent=2), encoding="utf-8")
    write_atomically(path, save)


def write_atomically(path: Path, save) -> None:
    path = Path(path)
    handle, temporary = tempfile.mkstemp(prefix=".~anju-", suffix=path.suffix, dir=path.parent or ".")
    os.close(handle)
    try:
        save(temporary)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
