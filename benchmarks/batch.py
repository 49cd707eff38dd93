"""Batch recalculation benchmark (issue 5): anju batch vs openpyxl and LibreOffice, as whole processes.

    python benchmarks/batch.py [--n 2000] [--openpyxl-n 200] [--libreoffice-n 40] [--keep DIR]

Generates N filled workbooks from several shipped packs with varied inputs, then
measures in one run, each as a separate process:
  * ``anju batch --force`` with 1 and 2 jobs (every file read, scored and written back);
  * baseline 1: openpyxl load -> read inputs by name -> score -> write outputs -> save, per file;
  * baseline 2: LibreOffice headless recalculation (recalc-on-load forced, one soffice call for
    all files) of the same workbooks, i.e. load, recalculate formulas and save — the step a user
    would run instead. It is given the live-formula template when ``anju template --live`` exists.
Prints workbooks per second, the ratios, and each run's peak RSS (largest single process).
"""

from __future__ import annotations

import argparse
import random
import shutil
import subprocess
import sys
import tempfile
import time
from decimal import Decimal
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from engine.plugins import catalog  # noqa: E402
from engine.workbook.fill import fill_workbook  # noqa: E402
from engine.workbook.template import write_template  # noqa: E402

PACKS = ["hejing-2022-third-party", "henan-2020-old-community", "national-old-community-renovation-self-evaluation",
         "national-rental-housing-program-table", "national-elevator-retrofit-self-evaluation"]
VARIANTS_PER_PACK = 8
ANJU = str(Path(sys.executable).parent / "anju")


def random_value(spec, rng: random.Random):
    if spec.kind == "bool":
        return rng.random() < 0.85
    if spec.kind == "category":
        return rng.choice(spec.choices)[0]
    if spec.kind in ("count", "days"):
        return rng.choice([0, 0, 0, 1, 2])
    if spec.kind == "answers":
        return {label: rng.randint(0, 60) + (20 if i == 0 else 0) for i, label in enumerate(spec.choices)}
    if spec.kind == "percent":
        return Decimal(rng.randint(6000, 10000)) / 100
    if spec.key == "target":
        return Decimal(rng.randint(50, 5000))
    return Decimal(rng.randint(40, 5200))


def random_inputs(pack, rng: random.Random) -> dict:
    inputs = {}
    for indicator in pack.indicators:
        values: dict = {}
        for spec in indicator.compiled.specs:
            if not spec.required and spec.key == "value":
                continue      # actual/target given instead
            if spec.key == "actual" and any(s.key == "target" for s in indicator.compiled.specs if s.part == spec.part):
                target = values.get(spec.part, values).get("target") if spec.part else values.get("target")
            holder = values.setdefault(spec.part, {}) if spec.part else values
            holder[spec.key] = random_value(spec, rng)
        for holder in [values] + [v for v in values.values() if isinstance(v, dict)]:
            if "actual" in holder and "target" in holder:   # completion between 80% and 110%
                holder["actual"] = (holder["target"] * Decimal(rng.randint(80, 110)) / 100).quantize(Decimal("0.01"))
        if indicator.rule.get("type") == "budget_execution":
            values["received"] = values["budget"]
        inputs[indicator.code] = values
    return inputs


def generate(folder: Path, n: int, seed: int = 7) -> list[Path]:
    rng = random.Random(seed)
    cat = catalog()
    sources = []
    for pack_id in PACKS:
        pack = cat.pack(pack_id)
        blank = folder / f"_template_{pack_id}.xlsx"
        write_template(pack, blank)
        for variant in range(VARIANTS_PER_PACK):
            target = folder / f"_source_{pack_id}_{variant}.xlsx"
            fill_workbook(blank, pack, random_inputs(pack, rng), meta={"region": f"第{variant + 1}县", "project": "基准测试", "year": "2024"},
                          out_path=target)
            sources.append(target)
        blank.unlink()
    data = folder / "data"
    data.mkdir()
    paths = []
    for index in range(n):
        path = data / f"wb{index:05d}.xlsx"
        shutil.copyfile(sources[index % len(sources)], path)
        paths.append(path)
    for source in sources:
        source.unlink()
    return paths


def timed(command: list[str]) -> tuple[float, int, subprocess.CompletedProcess]:
    """Run a command as a child of a small wrapper so its peak RSS (largest process) and its
    CPU time (all its processes, user + system: ``LAST_CPU``) can be read."""
    global LAST_CPU
    wrapper = ("import resource, subprocess, sys, time; t = time.perf_counter(); "
               "p = subprocess.run(sys.argv[1:], capture_output=True); "
               "u = resource.getrusage(resource.RUSAGE_CHILDREN); "
               "print(time.perf_counter() - t, u.ru_maxrss, p.returncode, u.ru_utime + u.ru_stime); "
               "sys.stderr.write(p.stderr.decode(errors='replace')[-2000:])")
    done = subprocess.run([sys.executable, "-c", wrapper, *command], capture_output=True, text=True)
    seconds, rss_kb, code, cpu = done.stdout.split()
    LAST_CPU = float(cpu)
    return float(seconds), int(rss_kb), subprocess.CompletedProcess(command, int(code), "", done.stderr)


LAST_CPU = 0.0


OPENPYXL_JOB = r'''
import sys
from pathlib import Path
import openpyxl
from engine.plugins import catalog
from engine.scoring import evaluate
from engine.workbook import names as N

cat = catalog()
packs = {}

def cell(wb, name):
    sheet, ref = next(wb.defined_names[name].destinations)
    return wb[sheet][ref.replace("$", "").split(":")[0]]

for path in sys.argv[1:]:
    wb = openpyxl.load_workbook(path)
    pack_id = cell(wb, "meta_pack_id").value
    pack = packs.get(pack_id) or packs.setdefault(pack_id, cat.pack(pack_id))
    inputs = {}
    for ind in pack.indicators:
        values = {}
        for spec in ind.compiled.specs:
            name = N.spec_name(ind.code, spec)
            if name not in wb.defined_names:
                continue
            if spec.kind == "answers":
                sheet, ref = next(wb.defined_names[name].destinations)
                rows = wb[sheet][ref.replace("$", "")]
                value = {r[0].value: r[1].value for r in rows if r[0].value is not None and r[1].value is not None}
            else:
                value = cell(wb, name).value
            if value is None or value == {}:
                continue
            (values.setdefault(spec.part, {}) if spec.part else values)[spec.key] = value
        inputs[ind.code] = values
    result = evaluate(pack, inputs)
    for r in result.indicators:
        cell(wb, N.score_name(r.code)).value = r.score
        cell(wb, N.rate_name(r.code)).value = r.rate
        cell(wb, N.explain_name(r.code)).value = r.explanation
    cell(wb, N.OUT_TOTAL).value = result.total
    cell(wb, N.OUT_GRADE).value = result.grade
    wb.save(path)
'''


def libreoffice_rate(paths: list[Path], workdir: Path) -> tuple[float, float] | None:
    soffice = shutil.which("soffice")
    if not soffice or not paths:   # --libreoffice-n 0 skips it (soffice without files waits forever)
        return None
    profile = workdir / "lo-profile"
    (profile / "user").mkdir(parents=True)
    (profile / "user" / "registrymodifications.xcu").write_text(
        '<?xml version="1.0" encoding="UTF-8"?>\n<oor:items xmlns:oor="http://openoffice.org/2001/registry" '
        'xmlns:xs="http://www.w3.org/2001/XMLSchema" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">\n'
        '<item oor:path="/org.openoffice.Office.Calc/Formula/Load"><prop oor:name="OOXMLRecalcMode" oor:op="fuse">'
        '<value>0</value></prop></item>\n</oor:items>\n', encoding="utf-8")
    out = workdir / "lo-out"
    out.mkdir()
    # one start-up is measured separately so the rate is per workbook, not per soffice launch
    command = [soffice, f"-env:UserInstallation=file://{profile}", "--headless", "--norestore",
               "--convert-to", "xlsx:Calc MS Excel 2007 XML", "--outdir", str(out)]
    seconds, _, _ = timed(command + [str(p) for p in paths])
    return len(paths) / seconds, seconds


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=2000, help="workbooks for anju batch (10000 for the full claim)")
    parser.add_argument("--openpyxl-n", type=int, default=200, help="workbooks for the openpyxl baseline")
    parser.add_argument("--libreoffice-n", type=int, default=40, help="workbooks for the LibreOffice baseline")
    parser.add_argument("--keep", type=Path, help="keep the generated workbooks in this folder")
    args = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="anju-bench-"))
    try:
        started = time.perf_counter()
        paths = generate(work, args.n)
        print(f"generated {len(paths)} filled workbooks from {len(PACKS)} packs in {time.perf_counter() - started:.1f} s")
        pristine = work / "pristine"
        shutil.copytree(paths[0].parent, pristine)
        results, cpu_ms = {}, {}
        for jobs in (1, 2):
            shutil.rmtree(paths[0].parent)
            shutil.copytree(pristine, paths[0].parent)
            seconds, rss, done = timed([ANJU, "batch", str(paths[0].parent), "--force", "--jobs", str(jobs)])
            if done.returncode != 0:
                print(done.stderr)
                raise SystemExit(f"anju batch failed with exit code {done.returncode}")
            results[f"anju batch --jobs {jobs}"] = (len(paths) / seconds, seconds, rss)
            cpu_ms[jobs] = LAST_CPU / len(paths) * 1000
        subset = [str(p) for p in sorted(pristine.iterdir())[: args.openpyxl_n]]
        seconds, rss, done = timed([sys.executable, "-c", OPENPYXL_JOB, *subset])
        if done.returncode != 0:
            print(done.stderr)
            raise SystemExit("openpyxl baseline failed")
        results["openpyxl load+compute+save"] = (len(subset) / seconds, seconds, rss)
        lo = libreoffice_rate(sorted(pristine.iterdir())[: args.libreoffice_n], work)
        if lo:
            results["LibreOffice headless recalc"] = (lo[0], lo[1], 0)
        print(f"\n{'pipeline':34} {'workbooks/s':>12} {'seconds':>9} {'peak RSS MB':>12}")
        for name, (rate, seconds, rss) in results.items():
            print(f"{name:34} {rate:12.1f} {seconds:9.2f} {rss / 1024 if rss else float('nan'):12.1f}")
        best = results["anju batch --jobs 2"][0]
        print()
        print(f"anju 2 jobs / 1 job:        {best / results['anju batch --jobs 1'][0]:.2f}x")
        print(f"anju 2 jobs / openpyxl:     {best / results['openpyxl load+compute+save'][0]:.1f}x   (target >= 15x)")
        if lo:
            print(f"anju 2 jobs / LibreOffice:  {best / lo[0]:.1f}x   (target >= 50x)")
        print(f"target: >= 600 workbooks/s with 2 jobs; measured {best:.0f}/s")
        print(f"CPU per workbook (all processes, start-up included; compare this when the machine is busy): "
              f"{cpu_ms[1]:.2f} ms with 1 job, {cpu_ms[2]:.2f} ms with 2 jobs")
        if args.keep:
            shutil.copytree(pristine, args.keep, dirs_exist_ok=True)
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
