"""The ``anju`` command (click). Every message a user sees is Chinese; no traceback
ever reaches the console: known problems exit 2 with their message, unexpected
ones exit 3 with a short Chinese note."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click

from . import __version__
from .errors import AnjuError, EvaluationError
from .packfiles import read_data_file
from .clitext import install as install_chinese_click_texts

install_chinese_click_texts()

EXIT_FAILED = 1      # a check or golden case failed, or some files failed in a batch
EXIT_BAD_INPUT = 2   # the user's input, pack or file is wrong


class AnjuGroup(click.Group):
    """Turns every error into a Chinese message and an exit code."""

    def main(self, *args, **kwargs):
        if hasattr(sys.stdout, "reconfigure"):
            sys.stdout.reconfigure(errors="replace")
            sys.stderr.reconfigure(errors="replace")
        return super().main(*args, **kwargs)

    def invoke(self, ctx):
        try:
            return super().invoke(ctx)
        except EvaluationError as exc:
            click.echo("输入数据有误：", err=True)
            for problem in exc.problems:
                click.echo(f"  - {problem}", err=True)
            ctx.exit(EXIT_BAD_INPUT)
        except AnjuError as exc:
            click.echo(f"错误：{exc}", err=True)
            ctx.exit(EXIT_BAD_INPUT)
        except (click.exceptions.Exit, click.ClickException, click.Abort, KeyboardInterrupt):
            raise
        except Exception as exc:   # last resort: never show a traceback to staff
            click.echo(f"内部错误：{type(exc).__name__}: {exc}。请把此信息和所用文件发给技术支持。", err=True)
            ctx.exit(3)


def get_catalog(ctx):
    from .plugins import catalog
    return catalog(ctx.obj.get("rules_dirs", ()))


@click.group(cls=AnjuGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--rules-dir", multiple=True, type=click.Path(file_okay=True), help="额外的规则包目录（可多次指定；也可用环境变量 ANJU_RULES_PATH）")
@click.version_option(__version__, prog_name="anju", message="%(prog)s %(version)s")
@click.pass_context
def main(ctx, rules_dir):
    """anju：城镇保障性安居工程资金绩效评价评分工具。"""
    ctx.ensure_object(dict)
    ctx.obj["rules_dirs"] = tuple(rules_dir)


# --------------------------------------------------------------------------- score

@main.command()
@click.option("--pack", "pack_id", required=True, help="规则包 id，例如 hejing-2022-third-party")
@click.option("--format", "output", type=click.Choice(["table", "json"]), default="table", show_default=True, help="输出格式")
@click.argument("input_file", type=click.Path(dir_okay=False))
@click.pass_context
def score(ctx, pack_id, output, input_file):
    """按规则包对 INPUT_FILE（YAML 或 JSON：指标编码 → 输入项）评分。"""
    from .report import result_to_dict, result_to_table
    from .scoring import evaluate

    pack = get_catalog(ctx).pack(pack_id)
    data = read_data_file(Path(input_file), "输入文件")
    if isinstance(data, dict) and isinstance(data.get("inputs"), dict):
        data = data["inputs"]   # also accept {inputs: {...}} as in a pack's golden case
    result = evaluate(pack, data if data is not None else {})
    if output == "json":
        click.echo(json.dumps(result_to_dict(result), ensure_ascii=False, indent=2))
    else:
        click.echo(result_to_table(result))


# --------------------------------------------------------------------------- golden

@main.command()
@click.argument("paths", nargs=-1, required=True, type=click.Path(exists=True))
@click.option("-q", "--quiet", is_flag=True, help="只显示不一致的项目")
@click.pass_context
def golden(ctx, paths, quiet):
    """运行 anju-golden/1 格式的黄金案例（文件或目录），逐项对比计算值与期望值。"""
    from .golden import FileResult, not_golden_reason, run_file
    from .packfiles import pack_files

    registry = get_catalog(ctx).rule_types
    outcomes = []   # in file order: FileResult, or a str for a skipped file
    for path in paths:
        named = Path(path).is_file()   # a file named on the command line must be a golden file
        for file in pack_files(Path(path)):
            try:
                document = read_data_file(file, "黄金案例文件")
            except AnjuError as exc:
                outcomes.append(FileResult(str(file), error=str(exc)))
                continue
            reason = not_golden_reason(document)
            if reason and not named:
                outcomes.append(f"跳过 {file}：{reason}")
                continue
            outcomes.append(run_file(document, str(file), registry))
    ctx.exit(print_golden_results(outcomes, quiet))


def print_golden_results(outcomes: list, quiet: bool) -> int:
    """Print golden files in order (skips, file errors, cases with their warnings); return the exit code."""
    cases = failed = file_errors = 0
    for outcome in outcomes:
        if isinstance(outcome, str):
            click.echo(outcome)
            continue
        for warning in outcome.warnings:
            click.echo(f"警告：{outcome.source}：{warning}")
        if outcome.error:
            file_errors += 1
            click.echo(f"[错误] {outcome.error}")
            continue
        for case in outcome.cases:
            cases += 1
            failed += not case.ok
            print_case(case, quiet)
    summary = f"共 {cases} 个案例，{cases - failed} 个通过，{failed} 个不一致"
    if file_errors:
        summary += f"；另有 {file_errors} 个文件有错误，未能运行"
    click.echo(summary)
    if not cases and not file_errors:
        click.echo("没有找到 anju-golden/1 格式的黄金案例")
    return EXIT_FAILED if failed or file_errors or not cases else 0


def print_case(case, quiet: bool) -> None:
    """One golden case: its verdict, warnings, error and (all, or with --quiet only the failing) checks."""
    click.echo(f"[{'通过' if case.ok else '不一致'}] {case.case_id}（{case.source}）{case.note}")
    for warning in case.warnings:
        click.echo(f"    警告：{warning}")
    if case.error:
        click.echo(f"    错误：{case.error}")
    for check in case.checks:
        if quiet and check.ok:
            continue
        click.echo(f"    {'  ' if check.ok else '✗ '}{check.what}: 计算 {check.got}，期望 {check.expected}")


def print_case_results(results, quiet: bool) -> int:
    failed = 0
    for case in results:
        failed += not case.ok
        print_case(case, quiet)
    click.echo(f"共 {len(results)} 个案例，{len(results) - failed} 个通过，{failed} 个不一致")
    return failed


# --------------------------------------------------------------------------- plugins

@main.command()
@click.option("--json", "as_json", is_flag=True, help="以 JSON 输出")
@click.pass_context
def plugins(ctx, as_json):
    """列出插件、规则包和规则类型，以及各自的来源。"""
    from .plugins import plugin_manager

    cat = get_catalog(ctx)
    pm = plugin_manager()
    info = {
        "plugins": [{"name": name, "module": getattr(plugin, "__name__", repr(plugin)),
                     "hooks": sorted(h.name for h in pm.get_hookcallers(plugin) or [])} for name, plugin in pm.list_name_plugin()],
        "packs": [{"id": pid, "plugin": src.plugin, "origin": src.origin, "program": src.data.get("program"),
                   "version": str(src.data.get("version", "")), "name": src.data.get("name", "")} for pid, src in sorted(cat.packs.items())],
        "rule_types": [{"name": rt.name, "label": rt.label, "origin": rt.origin} for rt in sorted(cat.rule_types.values(), key=lambda r: r.name)],
        "problems": cat.problems,
    }
    if as_json:
        click.echo(json.dumps(info, ensure_ascii=False, indent=2))
        return
    click.echo("插件：")
    for p in info["plugins"]:
        click.echo(f"  {p['name']}（{p['module']}）钩子：{', '.join(p['hooks'])}")
    click.echo("规则包：")
    for p in info["packs"]:
        click.echo(f"  {p['id']}  版本 {p['version']}  {p['name']}  [插件 {p['plugin']}：{p['origin']}]")
    click.echo("规则类型：")
    for r in info["rule_types"]:
        click.echo(f"  {r['name']}（{r['label']}）[来源 {r['origin']}]")
    for problem in cat.problems:
        click.echo(f"问题：{problem}", err=True)


# --------------------------------------------------------------------------- rules

@main.group()
def rules():
    """规则包：检查、测试（以及导出、导入、比较、新建）。"""


def packs_for(ctx, targets):
    """Pack objects (or load errors) for ids/paths; all catalog packs when none given."""
    from .packfiles import load_pack_file, pack_files

    cat = get_catalog(ctx)
    if not targets:
        for problem in cat.problems:
            yield problem, None
        targets = sorted(cat.packs)
    for target in targets:
        path = Path(target)
        if path.exists():
            for file in pack_files(path):
                try:
                    if load_pack_file(file) is not None:
                        yield str(file), cat.pack_from_file(file)
                except AnjuError as exc:
                    yield str(exc), None
        else:
            try:
                yield target, cat.pack(target)
            except AnjuError as exc:
                yield str(exc), None


@rules.command("check")
@click.argument("targets", nargs=-1)
@click.pass_context
def rules_check(ctx, targets):
    """检查规则包（id 或 YAML 路径；不指定则检查全部）：分值合计、规则参数、最高分、正反向等。"""
    from .checks import ERROR, check_pack

    cat = get_catalog(ctx)
    errors = warnings = checked = 0
    for label, pack in packs_for(ctx, targets):
        if pack is None:
            click.echo(f"[错误] {label}")
            errors += 1
            continue
        checked += 1
        findings = check_pack(pack, cat.checks)
        pack_errors = sum(f.severity == ERROR for f in findings)
        errors += pack_errors
        warnings += len(findings) - pack_errors
        click.echo(f"{'[通过]' if not pack_errors else '[错误]'} {pack.id}（{len(pack.indicators)} 个指标，来源 {pack.origin}）")
        for f in findings:
            click.echo(f"    {'错误' if f.severity == ERROR else '提示'}：{f.message}")
    click.echo(f"检查了 {checked} 个规则包：{errors} 个错误，{warnings} 个提示")
    ctx.exit(EXIT_FAILED if errors or not checked else 0)


@rules.command("test")
@click.argument("pack_ids", nargs=-1)
@click.option("-q", "--quiet", is_flag=True, help="只显示不一致的项目")
@click.pass_context
def rules_test(ctx, pack_ids, quiet):
    """运行规则包自带的黄金案例（不指定则运行全部规则包的案例）。"""
    from .packtests import run_pack_golden

    results = []
    for label, pack in packs_for(ctx, pack_ids):
        if pack is None:
            click.echo(f"[错误] {label}")
            results.append(None)
            continue
        results += run_pack_golden(pack)
    failed = print_case_results([r for r in results if r], quiet) + results.count(None)
    ctx.exit(EXIT_FAILED if failed or not results else 0)


# --------------------------------------------------------------------------- workbooks: template, recalc (issue 3)

@main.command()
@click.option("--pack", "pack_id", required=True, help="规则包 id，例如 hejing-2022-third-party")
@click.option("-o", "--output", "output", required=True, type=click.Path(dir_okay=False), help="要生成的模板文件（.xlsx）")
@click.option("--force", is_flag=True, help="覆盖已存在的文件")
@click.option("--button", is_flag=True, help="生成带“重新计算”按钮的启用宏模板（.xlsm，Excel 通过 xlwings 运行；见 docs/deployment.md）")
@click.option("--interpreter", default=None, help="与 --button 一起用：写入 xlwings.conf 的 python.exe 路径（默认 %LOCALAPPDATA%\\anju\\python\\python.exe）")
@click.option("--live", is_flag=True, help="得分、小计、总分、等级写成实时公式：在 Excel、WPS、LibreOffice 中随填随算，无需宏和 Python（见 docs/live-formulas.md）")
@click.pass_context
def template(ctx, pack_id, output, force, button, interpreter, live):
    """生成规则包的标准填报模板（说明、基本信息、评分表、满意度调查、汇总、校验）。"""
    from .workbook.template import write_template

    pack = get_catalog(ctx).pack(pack_id)
    if button or interpreter:   # issue 4: the macro-enabled template (engine.button.build)
        from .button.build import write_button_template
        path = write_button_template(pack, Path(output), overwrite=force, interpreter_win=interpreter, live=live)
    else:
        path = write_template(pack, Path(output), overwrite=force, live=live)
    click.echo(f"已生成模板：{path}（规则包 {pack.id}，版本 {pack.version}，{len(pack.indicators)} 个指标）")


RECALC_STATUS_ZH = {"recalculated": "已重新计算", "unchanged": "未变化", "failed": "失败", "skipped": "跳过",
                    "dry-run": "试运行"}


@main.command()
@click.argument("files", nargs=-1, required=True, type=click.Path(dir_okay=False))
@click.option("--force", is_flag=True, help="结果已是最新时也重新写入（更新计算时间）")
@click.option("--dry-run", is_flag=True, help="只计算和检查，不写入工作簿")
@click.pass_context
def recalc(ctx, files, force, dry_run):
    """重新计算工作簿：写回得分、得分率、评分说明、汇总、总分、等级、计算标记和校验信息，其他内容不变。"""
    from .workbook.recalc import recalc_file

    catalog = get_catalog(ctx)
    bad = 0
    for file in files:
        report = recalc_file(Path(file), catalog, force=force, dry_run=dry_run)
        label = RECALC_STATUS_ZH.get(report.status, report.status)
        if report.status in ("recalculated", "unchanged", "dry-run"):
            tail = "（结果已是最新，未写入；加 --force 可重新写入）" if report.status == "unchanged" else ""
            click.echo(f"[{label}] {file}：总分 {report.total}，等级 {report.grade}{tail}")
            for finding in report.findings:
                click.echo(f"  {finding.level}：{finding}")
            continue
        bad += 1
        click.echo(f"[{label}] {file}", err=True)
        for message in report.messages:
            click.echo(f"  {message}", err=True)
        if report.status == "failed" and report.written:
            click.echo("  （以上问题已写入工作簿的“校验”表）", err=True)
    ctx.exit(EXIT_BAD_INPUT if bad else 0)


# --------------------------------------------------------------------------- batch

@main.command()
@click.argument("folders", nargs=-1, required=True, type=click.Path())
@click.option("-r", "--recursive", is_flag=True, help="包括子文件夹")
@click.option("-j", "--jobs", type=click.IntRange(1, 64), default=None, help="并行进程数（默认：CPU 核数）")
@click.option("--force", is_flag=True, help="全部重新计算（默认跳过输入和规则包版本都未变化的工作簿）")
@click.option("--dry-run", is_flag=True, help="只计算和检查，不写入任何工作簿")
@click.option("--summary", "summary_path", type=click.Path(dir_okay=False), help="写出汇总表 .xlsx（同时写同名 .csv）")
@click.option("--json", "json_path", type=click.Path(dir_okay=False), help="把每个文件的结果写成 JSON")
@click.option("--audit", is_flag=True, help="同时复核填报得分（anju audit），并把发现数计入汇总表")
@click.pass_context
def batch(ctx, folders, recursive, jobs, force, dry_run, summary_path, json_path, audit):
    """批量重新计算文件夹中的全部工作簿（与 anju recalc 相同的计算和写回）。"""
    from .batch import default_jobs, discover, run_batch

    paths, early = discover(folders, recursive)
    jobs = jobs or default_jobs()
    total = len(paths)
    click.echo(f"共找到 {total} 个工作簿，使用 {min(jobs, max(total, 1))} 个进程{'（试运行，不写入）' if dry_run else ''}", err=True)
    progress = make_progress(total)
    records, interrupted = run_batch(paths, jobs=min(jobs, max(total, 1)), rules_dirs=ctx.obj.get("rules_dirs", ()),
                                     force=force, dry_run=dry_run, audit=audit, on_record=progress.update)
    progress.close()
    records = early + records
    from .summary import STATUS_ZH, write_csv, write_json, write_summary   # openpyxl: only after the workers ran
    counts = {}
    for record in records:
        counts[record.status] = counts.get(record.status, 0) + 1
    click.echo("，".join(f"{STATUS_ZH.get(k, k)} {v} 个" for k, v in sorted(counts.items())) or "没有工作簿", err=True)
    for record in records:
        if record.status == "failed":
            click.echo(f"失败：{record.path}：{record.message}", err=True)
    if summary_path:
        write_summary(records, Path(summary_path), with_findings=audit)
        write_csv(records, Path(summary_path).with_suffix(".csv"), with_findings=audit)
        click.echo(f"汇总表已写入 {summary_path}（及 {Path(summary_path).with_suffix('.csv').name}）", err=True)
    if json_path:
        write_json(records, Path(json_path), interrupted=interrupted)
    if interrupted:
        click.echo("已中断：已完成的工作簿均已完整写入，未完成的保持原样。", err=True)
        ctx.exit(130)
    ctx.exit(EXIT_FAILED if counts.get("failed") else 0)


class make_progress:
    """tqdm on a terminal; plain lines otherwise (logs, CI, redirected output)."""

    def __init__(self, total):
        self.total, self.done, self.started = total, 0, __import__("time").perf_counter()
        self.bar = None
        if sys.stderr.isatty():
            from tqdm import tqdm
            self.bar = tqdm(total=total, unit="个", desc="重新计算", dynamic_ncols=True)

    def update(self, record):
        self.done += 1
        if self.bar is not None:
            self.bar.update(1)
            return
        from .batch import STATUS_ZH
        detail = f"总分 {record.total} {record.grade}" if record.total else record.message
        click.echo(f"[{self.done}/{self.total}] {STATUS_ZH.get(record.status, record.status)}：{record.path} {detail}", err=True)

    def close(self):
        if self.bar is not None:
            self.bar.close()


# --------------------------------------------------------------------------- audit (issue 6)

@main.command()
@click.argument("files", nargs=-1, required=True, type=click.Path(dir_okay=False))
@click.option("--json", "as_json", is_flag=True, help="以 JSON 输出（anju-audit/1）")
@click.option("--no-write", is_flag=True, help="只显示复核结果，不写入工作簿的“复核”表")
@click.option("--pack", "pack_id", help="YAML/JSON 文件未写 pack 时使用的规则包 id")
@click.pass_context
def audit(ctx, files, as_json, no_write, pack_id):
    """复核手工评分：按规则包复算 FILES（工作簿，或含 pack/inputs/claims 的 YAML/JSON），
    对照填报得分、小计、总分、等级、事实数据和规则包，列出发现的问题并写入“复核”表。"""
    from .audit import DATA_SUFFIXES, audit_data_file, audit_file, format_report

    cat = get_catalog(ctx)
    reports, failed = [], 0
    for file in files:
        path = Path(file)
        try:
            if path.suffix.lower() in DATA_SUFFIXES:
                report = audit_data_file(path, cat, pack_id)
            else:
                report = audit_file(path, cat, write=not no_write)
        except AnjuError as exc:
            click.echo(f"错误：{exc}", err=True)
            failed += 1
            continue
        except Exception as exc:   # WorkbookFileError and friends carry a Chinese sentence
            if type(exc).__name__ != "WorkbookFileError":
                raise
            click.echo(f"错误：{exc}", err=True)
            failed += 1
            continue
        reports.append(report)
        if not as_json:
            click.echo(format_report(report))
            if report.written:
                click.echo(f"复核结果已写入“{report.written}”表。")
            click.echo("")
    if as_json:
        click.echo(json.dumps({"schema": "anju-audit/1", "files": [r.to_dict() for r in reports]}, ensure_ascii=False, indent=2))
    if failed:
        ctx.exit(EXIT_BAD_INPUT)
    ctx.exit(EXIT_FAILED if any(r.counts()["error"] for r in reports) else 0)


# --------------------------------------------------------------------------- rules: export / import / new / diff (issue 8)

def pack_argument(ctx, target: str):
    """A pack named by id, by YAML path, or by a 规则表 workbook (.xlsx)."""
    cat = get_catalog(ctx)
    path = Path(target)
    if path.suffix.lower() == ".xlsx" and path.exists():
        from .rulebook import import_workbook
        return import_workbook(path, cat.rule_types, cat.raw).pack
    if path.suffix.lower() in (".yaml", ".yml", ".json") and path.exists():
        return cat.pack_from_file(path)
    return cat.pack(target)


def print_rulebook_problems(ctx, workbook, exc):
    click.echo(f"规则表 {workbook} 有 {len(exc.problems)} 处问题，未转换：", err=True)
    for problem in exc.problems:
        click.echo(f"  - {problem}", err=True)
    ctx.exit(EXIT_BAD_INPUT)


@rules.command("export")
@click.argument("pack_id")
@click.option("-o", "--output", required=True, type=click.Path(dir_okay=False), help="输出的规则表，如 规则表.xlsx")
@click.pass_context
def rules_export(ctx, pack_id, output):
    """把规则包（id 或 YAML 路径）导出为可编辑的 Excel 规则表：指标与参数、自动生成的评分标准、黄金案例和说明。"""
    from .rulebook import export_pack

    if not output.lower().endswith(".xlsx"):
        raise AnjuError(f"输出文件应为 .xlsx（收到 {output}）")
    pack = pack_argument(ctx, pack_id)
    export_pack(pack, Path(output), get_catalog(ctx).rule_types)
    click.echo(f"已把规则包“{pack.id}”（{len(pack.indicators)} 个指标，{len(pack.golden)} 个黄金案例）导出到 {output}")
    click.echo(f"修改后用 anju rules import {output} -o {pack.id}.yaml 校验并转换回规则包。")


@rules.command("import")
@click.argument("workbook", type=click.Path(dir_okay=False))
@click.option("-o", "--output", type=click.Path(dir_okay=False), help="写出的规则包 YAML；不指定则显示在屏幕上")
@click.pass_context
def rules_import(ctx, workbook, output):
    """校验 Excel 规则表并转换为规则包 YAML（每个问题都指出工作表、单元格和指标）。"""
    from .checks import ERROR, check_pack
    from .rulebook import RulebookError, dump_pack, import_workbook

    cat = get_catalog(ctx)
    try:
        imported = import_workbook(Path(workbook), cat.rule_types, cat.raw)
    except RulebookError as exc:
        print_rulebook_problems(ctx, workbook, exc)
        return
    text = f"# 由 anju rules import 从 {Path(workbook).name} 生成\n" + dump_pack(imported.data)
    for warning in imported.warnings:
        click.echo(f"提示：{warning}", err=True)
    findings = check_pack(imported.pack, cat.checks)
    for finding in findings:
        click.echo(f"{'错误' if finding.severity == ERROR else '提示'}：{finding.message}", err=True)
    if output:
        target = Path(output)
        tmp = target.with_name(f".~anju-{target.name}")
        try:
            tmp.write_text(text, encoding="utf-8")
            tmp.replace(target)
        except OSError as exc:
            tmp.unlink(missing_ok=True)
            raise AnjuError(f"无法写入 {output}：{exc.strerror}") from None
        how = f"继承“{imported.data['extends']}”，" if imported.data.get("extends") else ""
        click.echo(f"规则表校验通过：规则包“{imported.pack.id}”（{how}{len(imported.pack.indicators)} 个指标，"
                   f"{len(imported.pack.golden)} 个黄金案例）已写入 {output}")
    else:
        click.echo(text, nl=False)
    if any(f.severity == ERROR for f in findings):
        ctx.exit(EXIT_FAILED)


@rules.command("new")
@click.option("--extends", "parent_id", required=True, help="继承的全国规则包 id，如 national-old-community-renovation-program-table")
@click.option("--region", required=True, help="省份，如 河南省")
@click.option("--years", required=True, help="适用年度，如 2025-（2025年起）或 2025-2027")
@click.option("--slug", help="英文代码（包名 anju-<slug>），默认按省份拼音")
@click.option("--id", "pack_id", help="新规则包 id，默认 <slug>-<起始年>-<项目类型>")
@click.option("--name", help="新规则包名称")
@click.option("-o", "--output", "out_dir", default=".", show_default=True, type=click.Path(file_okay=False), help="在此目录下创建插件目录")
@click.option("--force", is_flag=True, help="插件目录已存在时覆盖其中的文件")
@click.pass_context
def rules_new(ctx, parent_id, region, years, slug, pack_id, name, out_dir, force):
    """新建省级规则包插件：可用 pip 安装的 Python 包（入口点、继承全国规则包的 YAML、黄金案例和测试）。"""
    from .scaffold import scaffold

    parent = get_catalog(ctx).pack(parent_id)
    result = scaffold(parent, region, years, Path(out_dir), slug=slug, pack_id=pack_id, name=name, force=force)
    click.echo(f"已创建插件 {result.package}（规则包“{result.pack_id}”，继承“{parent.id}”）：")
    for file in result.files:
        click.echo(f"  {file}")
    click.echo("下一步：")
    click.echo(f"  pip install -e {result.folder}        # 安装后 anju plugins 会列出该插件")
    click.echo(f"  anju rules check {result.pack_id}")
    click.echo(f"  anju rules test {result.pack_id}")
    click.echo(f"  pytest {result.folder}")


@rules.command("diff")
@click.argument("pack_a")
@click.argument("pack_b")
@click.option("-o", "--output", type=click.Path(dir_okay=False), help="同时把差异写入 Excel 工作簿（.xlsx）")
@click.pass_context
def rules_diff(ctx, pack_a, pack_b, output):
    """比较两个规则包（id、YAML 或规则表 .xlsx）：设置、分值、目标值、规则参数、评分标准、新增和删除的指标。"""
    from .packdiff import diff_packs, diff_workbook, format_changes
    from .rulebook import RulebookError, save_workbook

    if output and not output.lower().endswith(".xlsx"):
        raise AnjuError(f"差异工作簿应为 .xlsx（收到 {output}）")
    try:
        a, b = pack_argument(ctx, pack_a), pack_argument(ctx, pack_b)
    except RulebookError as exc:
        print_rulebook_problems(ctx, pack_a if pack_a.lower().endswith(".xlsx") else pack_b, exc)
        return
    registry = get_catalog(ctx).rule_types
    changes = diff_packs(a, b, registry)
    click.echo(format_changes(changes, a, b))
    if output:
        save_workbook(diff_workbook(changes, a, b), Path(output))
        click.echo(f"差异已写入 {output}")


# --------------------------------------------------------------------------- button (issue 4)

@main.group()
def button():
    """“重新计算”按钮：安装 LibreOffice 宏（Excel 按钮见 anju template --button）。"""


@button.command("install-libreoffice")
@click.option("--profile", type=click.Path(file_okay=False), default=None,
              help="LibreOffice 用户配置文件夹（含 user 子文件夹；默认 Linux ~/.config/libreoffice/4）")
@click.option("--no-toolbar", is_flag=True, help="不添加“anju”工具栏（只安装宏）")
@click.option("--uninstall", is_flag=True, help="删除已安装的宏和工具栏")
@click.option("--no-check", is_flag=True, help="安装后不检查 LibreOffice 的 Python 能否加载 anju")
def button_install_libreoffice(profile, no_toolbar, uninstall, no_check):
    """把“重新计算”宏（Python-UNO）装入 LibreOffice 用户配置：Calc 中打开 anju 模板后点工具栏“重新计算”。
    安装前请关闭 LibreOffice。"""
    from .button import libreoffice as lo

    if uninstall:
        removed = lo.uninstall_macro(profile)
        click.echo("已删除：" + "、".join(str(p) for p in removed) if removed else "没有找到已安装的 anju 宏")
        return
    installed = lo.install_macro(profile, toolbar=not no_toolbar)
    click.echo(f"已安装宏：{installed.macro}")
    if installed.toolbar:
        click.echo(f"已添加工具栏“anju”：{installed.toolbar}（如未显示：视图 → 工具栏 → anju）")
    click.echo(f"宏地址：{lo.SCRIPT_URI}")
    if not no_check:
        ok, detail = lo.check_macro(installed.macro)
        if ok:
            click.echo(f"检查通过：LibreOffice 的 Python 可以加载 anju（{detail}）")
        else:
            click.echo(f"警告：LibreOffice 的 Python 无法加载 anju：{detail}", err=True)
            click.echo("  LibreOffice 用自己的 Python 运行宏；请用与它相同版本的 Python 安装 anju（见 docs/deployment.md）。", err=True)
            ctx = click.get_current_context()
            ctx.exit(EXIT_FAILED)


def run():   # console-script entry point
    main(obj={})
