"""Benchmark of ``anju recalc`` on a typical template (hejing-2022-third-party, 22 indicators, golden inputs).

Prints:
* one ``anju recalc --force FILE`` as a whole process (Python start-up, imports, catalog, read, score, write);
* in-process read + score + write (calamine + target-cell patch), and its parts;
* the same job with openpyxl (load, read the same names, score, write, save), measured in the same run.

Target: in-process under 10 ms.   Run: .venv/bin/python benchmarks/recalc.py [--quick]
In-process figures are medians of wall time and, after the slash, of CPU time (time.process_time):
the CPU figure is the one to compare when other work loads the machine; the wall figure also
holds the two fsyncs that make each write durable.
"""

from __future__ import annotations

import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))

PACK_ID = "hejing-2022-third-party"


def median_ms(function, repeat: int) -> float:
    return measure(function, repeat)[0]


def measure(function, repeat: int) -> tuple[float, float]:
    """Median wall and median CPU milliseconds of a call."""
    walls, cpus = [], []
    for _ in range(repeat):
        started, cpu = time.perf_counter(), time.process_time()
        function()
        walls.append((time.perf_counter() - started) * 1000)
        cpus.append((time.process_time() - cpu) * 1000)
    return statistics.median(walls), statistics.median(cpus)


def both(times: tuple[float, float]) -> str:
    return f"{times[0]:6.2f} / {times[1]:5.2f} ms"


class OpenpyxlCells:
    """reader.CellSource over an openpyxl workbook (for the comparison only)."""

    def __init__(self, wb):
        self.wb = wb

    def defined_names(self):
        names = {}
        for name, defined in self.wb.defined_names.items():
            for sheet, ref in defined.destinations:
                names[name] = (sheet, ref.replace("$", ""))
        return names

    def raw(self, sheet, ref):
        value = self.wb[sheet][ref].value
        return "" if value is None else value

    def formula(self, sheet, ref):
        cell = self.wb[sheet][ref]
        return str(cell.value)[1:] if cell.data_type == "f" else None


def main() -> None:
    quick = "--quick" in sys.argv
    from engine.plugins import catalog
    from engine.scoring import evaluate
    from engine.workbook import names as N
    from engine.workbook.host import FileHost
    from engine.workbook.reader import Reader, read_with
    from engine.workbook.recalc import _CachingCatalog, recalc_file, success_outputs
    from workbook_support import filled_template

    cat = catalog()
    pack = cat.pack(PACK_ID)
    folder = Path(tempfile.mkdtemp(prefix="anju-bench-"))
    try:
        source = filled_template(pack, pack.golden[0]["inputs"], folder / "典型模板.xlsx")   # filled, never recalculated
        n_fast, n_slow, n_proc = (20, 5, 3) if quick else (100, 20, 7)
        copies = []
        for index in range(max(n_fast, n_proc) + 2):
            copy = folder / f"副本{index}.xlsx"
            shutil.copyfile(source, copy)
            copies.append(copy)
        path = copies.pop()
        assert recalc_file(path, cat).status == "recalculated"

        # whole process, first recalculation of a filled template (all outputs written)
        anju = Path(sys.executable).with_name("anju")
        command = [str(anju)] if anju.exists() else [sys.executable, "-m", "engine.cli"]
        pending = list(copies)

        def process():
            done = subprocess.run(command + ["recalc", str(pending.pop())], stdout=subprocess.DEVNULL,
                                  stderr=subprocess.PIPE, check=False)
            assert done.returncode == 0, done.stderr.decode()
        process()
        whole = median_ms(process, n_proc)

        # in-process (catalog loaded; the compiled pack is cached after the first file)
        pending = list(copies)
        in_process = measure(lambda: recalc_file(pending.pop(), cat), n_fast)
        again = measure(lambda: recalc_file(path, cat, force=True), n_fast)
        unchanged = measure(lambda: recalc_file(path, cat), n_fast)
        cached = _CachingCatalog(cat)
        host = FileHost(source)
        read_ms = measure(lambda: host.read_inputs(cached), n_fast)
        data = host.read_inputs(cached)
        score_ms = measure(lambda: evaluate(pack, data.inputs), n_fast)
        result = evaluate(pack, data.inputs)
        values, _ = success_outputs(data, result)
        values[N.OUT_STAMP] = "anju benchmark"
        values[N.OUT_MESSAGES] = []
        write_ms = measure(lambda: host.write_outputs(values), n_fast)   # rewrites the same values each time

        # openpyxl: load, read the same names, score, write the same names, save
        import openpyxl

        out = folder / "openpyxl.xlsx"

        def openpyxl_job():
            wb = openpyxl.load_workbook(source)
            data = read_with(Reader(source, OpenpyxlCells(wb)), pack)
            result = evaluate(pack, data.inputs)
            values, _ = success_outputs(data, result)
            for name, value in values.items():
                sheet, ref = data.area_of(name)
                wb[sheet][ref.split(":")[0]] = value
            wb.save(out)
        openpyxl_job()
        openpyxl_ms = median_ms(openpyxl_job, n_slow)
        load_ms = median_ms(lambda: openpyxl.load_workbook(source), n_slow)
    finally:
        shutil.rmtree(folder, ignore_errors=True)

    print(f"典型模板：规则包 {PACK_ID}，{len(pack.indicators)} 个指标（中位数，毫秒；机器负载 {os.getloadavg()[0]:.1f}）")
    print(f"  整个进程 anju recalc（含 Python 启动、导入、规则包加载，首次计算）：{whole:8.1f} ms")
    print("  进程内数字：墙钟 / CPU（time.process_time）")
    print(f"  进程内 读取 + 评分 + 写回（首次计算，写入全部结果）：   {both(in_process)}   目标 < 10 ms")
    print(f"      其中 读取（工作表 XML，必要时 calamine；名称）：{both(read_ms)}，评分：{both(score_ms)}，"
          f"写回（目标单元格修补）：{both(write_ms)}")
    print(f"  进程内 再次计算 --force（只有计算标记变化）：          {both(again)}")
    print(f"  进程内 结果已是最新（只读取和比较，不写入）：          {both(unchanged)}")
    print(f"  openpyxl 载入 + 计算 + 保存（同一次运行）：                 {openpyxl_ms:8.1f} ms   （其中仅载入 {load_ms:.1f} ms）")
    print(f"  进程内加速比（墙钟）：{openpyxl_ms / in_process[0]:.1f} 倍")


if __name__ == "__main__":
    main()
