"""Build the filled, not yet scored county workbooks under workbooks/examples/各县填报/.

    .venv/bin/python scripts/make_county_examples.py

One workbook per golden case of every national pack, filled through the defined
names the way a provincial system would (``engine.workbook.fill``), under
made-up county names. ``scripts/demo.sh`` recalculates them in batch and writes
the summary. Output bytes are reproducible (fixed zip and document times).
"""

from __future__ import annotations

import io
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from engine.packs import PROGRAMS  # noqa: E402
from engine.plugins import catalog  # noqa: E402
from engine.workbook.fill import fill_workbook  # noqa: E402
from engine.workbook.template import build_template  # noqa: E402
from scripts.make_examples import normalise_zip  # noqa: E402

OUT = ROOT / "workbooks" / "examples" / "各县填报"
COUNTIES = ["甲县", "乙县", "丙县", "丁县", "戊县", "己县", "庚县", "辛县", "壬县", "癸县"]


def main() -> int:
    cat = catalog()
    OUT.mkdir(parents=True, exist_ok=True)
    packs = sorted(pid for pid in cat.packs if pid.startswith("national-"))
    count = 0
    for pack_id in packs:
        pack = cat.pack(pack_id)
        for case_number, case in enumerate(pack.golden):
            county = COUNTIES[(count * 3) % len(COUNTIES)]
            program = PROGRAMS.get(pack.program, pack.program)
            kind = "自评表" if "self-evaluation" in pack_id else "指标表"
            path = OUT / f"{county}_{program}_{kind}_{case_number + 1}.xlsx"
            buffer = io.BytesIO()
            build_template(pack).save(buffer)
            path.write_bytes(normalise_zip(buffer.getvalue()))
            fill_workbook(path, pack, case["inputs"], meta={"region": county, "project": f"{county}{program}项目",
                                                          "year": "2024", "mode": "自评"})
            path.write_bytes(normalise_zip(path.read_bytes()))
            count += 1
            print(f"wrote {path.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
