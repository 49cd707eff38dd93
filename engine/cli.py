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
    from .golden import run_document
    from .packfiles import pack_files

    registry = get_catalog(ctx).rule_types
    results = []
    for path in paths:
        for file in pack_files(Path(path)):
            try:
                document = read_data_file(file, "黄金案例文件")
            except AnjuError as exc:
                click.echo(f"错误：{exc}", err=True)
                results.append(None)
                continue
            if isinstance(document, dict) and document.get("schema") == "anju-golden/1":
                results += run_document(document, str(file), registry)
    failed = print_case_results([r for r in results if r], quiet) + results.count(None)
    ctx.exit(EXIT_FAILED if failed or not results else 0)


def print_case_results(results, quiet: bool) -> int:
    failed = 0
    for case in results:
        status = "通过" if case.ok else "不一致"
        failed += not case.ok
        click.echo(f"[{status}] {case.case_id}（{case.source}）{case.note}")
        if case.error:
            click.echo(f"    错误：{case.error}")
        for check in case.checks:
            if quiet and check.ok:
                continue
            mark = "  " if check.ok else "✗ "
            click.echo(f"    {mark}{check.what}: 计算 {check.got}，期望 {check.expected}")
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
    from .summary import write_csv, write_json, write_summary

    paths, early = discover(folders, recursive)
    jobs = jobs or default_jobs()
    total = len(paths)
    click.echo(f"共找到 {total} 个工作簿，使用 {min(jobs, max(total, 1))} 个进程{'（试运行，不写入）' if dry_run else ''}", err=True)
    progress = make_progress(total)
    records, interrupted = run_batch(paths, jobs=min(jobs, max(total, 1)), rules_dirs=ctx.obj.get("rules_dirs", ()),
                                     force=force, dry_run=dry_run, audit=audit, on_record=progress.update)
    progress.close()
    records = early + records
    counts = {}
    for record in records:
        counts[record.status] = counts.get(record.status, 0) + 1
    from .summary import STATUS_ZH
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
        from .summary import STATUS_ZH
        detail = f"总分 {record.total} {record.grade}" if record.total else record.message
        click.echo(f"[{self.done}/{self.total}] {STATUS_ZH.get(record.status, record.status)}：{record.path} {detail}", err=True)

    def close(self):
        if self.bar is not None:
            self.bar.close()


def run():   # console-script entry point
    main(obj={})
