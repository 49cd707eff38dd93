"""Agreement of live-template formulas (LibreOffice) with the engine, on demand.

    .venv/bin/python benchmarks/live_agreement.py                 # 1,000 cases per shipped pack
    .venv/bin/python benchmarks/live_agreement.py --cases 200 --pack hejing-2022-third-party
    ANJU_DIFF_CASES=5000 .venv/bin/python benchmarks/live_agreement.py --json out.json

For every pack: hypothesis generates random but valid input sets (fixed seed),
the engine scores them, headless LibreOffice (forced to recalculate on load)
computes the compiled formulas, and every score, rate, subtotal, total and
grade is compared at the pack's decimal places. Prints the agreement rate per
pack and overall, and each disagreement with its inputs. Exit status 1 when
a disagreement is found that is not of a documented kind.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(ROOT))

import live_harness as H  # noqa: E402

from engine.plugins import catalog  # noqa: E402


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", type=int, default=int(os.environ.get("ANJU_DIFF_CASES", "1000")))
    parser.add_argument("--seed", type=int, default=H.DEFAULT_SEED)
    parser.add_argument("--pack", action="append", help="pack id (repeatable; default: every shipped pack)")
    parser.add_argument("--json", type=Path, help="write the report as JSON")
    parser.add_argument("--keep", type=Path, help="keep the generated workbooks in this folder")
    args = parser.parse_args(argv)

    packs = [catalog().pack(pack_id) for pack_id in (args.pack or sorted(catalog().packs))]
    folder = args.keep or Path(tempfile.mkdtemp(prefix="anju-live-"))
    folder.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    reports = H.run(packs, args.cases, folder, args.seed)
    seconds = time.perf_counter() - started

    total_cases = sum(r.cases for r in reports)
    agreeing = sum(r.agreeing_cases for r in reports)
    outputs = sum(r.outputs_compared for r in reports)
    outputs_ok = sum(r.outputs_agreeing for r in reports)
    unexplained = 0
    print(f"{'pack':52} {'cases':>6} {'agree':>6} {'rate':>9} {'outputs':>9}")
    for r in reports:
        print(f"{r.pack_id:52} {r.cases:6} {r.agreeing_cases:6} {r.rate:9.4%} {r.outputs_agreeing:>5}/{r.outputs_compared}")
        for index, name, want, got, inputs, cause in r.mismatches:
            unexplained += cause is None
            print(f"    case {index}: {name} engine={want} LibreOffice={got}  [{cause or 'UNEXPLAINED'}]")
            print(f"        inputs: {json.dumps(inputs, ensure_ascii=False, default=str)}")
        for name, reason in r.not_compilable.items():
            print(f"    not compilable: {name}: {reason}")
    print(f"\n{total_cases} cases in {len(reports)} packs, seed {args.seed}: {agreeing} agree "
          f"({agreeing / total_cases:.4%}); outputs {outputs_ok}/{outputs} ({outputs_ok / outputs:.5%}); "
          f"{unexplained} unexplained; {seconds:.0f} s")
    if args.json:
        args.json.write_text(json.dumps({
            "seed": args.seed, "cases_per_pack": args.cases, "seconds": round(seconds, 1),
            "cases": total_cases, "agreeing_cases": agreeing, "outputs": outputs, "agreeing_outputs": outputs_ok,
            "packs": [{"pack": r.pack_id, "cases": r.cases, "agreeing": r.agreeing_cases, "refused": r.refused,
                       "mismatches": [{"case": i, "output": n, "engine": str(w), "libreoffice": g, "cause": cause,
                                       "inputs": inp}
                                      for i, n, w, g, inp, cause in r.mismatches]} for r in reports],
        }, ensure_ascii=False, indent=2, default=str), encoding="utf-8")
    return 1 if unexplained else 0


if __name__ == "__main__":
    sys.exit(main())
