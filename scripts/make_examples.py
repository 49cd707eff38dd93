"""Build the example workbooks under workbooks/examples/ from rule pack + facts + published scores.

    .venv/bin/python scripts/make_examples.py            # (re)build every example
    .venv/bin/python scripts/make_examples.py --check    # exit 1 if a committed example is out of date

Each example is the pack's standard template (``anju template``) filled by defined
name with the report's facts and, in the blue "claimed" cells, the scores exactly
as the report published them; then ``anju recalc`` and ``anju audit`` are run on it,
so the green cells and the 复核 sheet are already filled. Try:

    anju audit workbooks/examples/和静县2022第三方评价.xlsx

The output is byte-reproducible: fixed document dates and zip timestamps, a fixed
recalculation time, and an audit that rewrites nothing when run again.
"""

from __future__ import annotations

import argparse
import copy
import datetime as dt
import io
import re
import sys
import tempfile
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from engine.audit import audit_file, fill_workbook  # noqa: E402
from engine.plugins import catalog  # noqa: E402
from engine.workbook.recalc import recalc_file  # noqa: E402
from engine.workbook.template import build_template  # noqa: E402

OUT = ROOT / "workbooks" / "examples"
FIXED_TIME = dt.datetime(2023, 7, 25, 9, 0, 0)      # the date of the seed 002 report
ZIP_TIME = (2023, 7, 25, 9, 0, 0)


# --------------------------------------------------------------------------- the examples

def seed002() -> dict:
    """Seed 002 附件一 (third-party) with 附件4's self-evaluation as the second evaluation.

    Pack: the rules AS WRITTEN in the report (D301 full marks at 95%, C401 forward on a ≤ target,
    C302 5 points on a weight of 3, half-up rounding), so the report's own slips show up.
    Facts: the third-party's verified facts (the golden case of hejing-2022-third-party).
    Claimed: the published 得分 column, the published 一级指标 subtotals, 89.29 良.
    Second evaluation (对照评价): the self-evaluation 附件4 gave full marks on every indicator it
    shares with 附件一 (its own weights differ; full marks map to this table's weights), total 100 优.
    """
    cat = catalog()
    applied = cat.pack("hejing-2022-third-party")
    published = dict(applied.golden[0]["expected_scores"])
    shared = ("B202", "C101", "C102", "C201", "C202", "C301", "C302", "C401", "D101", "D102", "D201", "D301")
    weights = {i.code: str(i.weight) for i in applied.indicators}
    return {
        "file": "和静县2022第三方评价.xlsx",
        "pack": "hejing-2022-third-party-as-written",
        "meta": {"project": "和静县2022年城镇老旧小区改造项目", "region": "新疆维吾尔自治区巴音郭楞蒙古自治州和静县",
                 "year": "2022", "mode": "第三方"},
        "inputs": copy.deepcopy(applied.golden[0]["inputs"]),
        "claims": {"scores": published, "total": "89.29", "grade": "良",
                   "levels": {"项目决策": "14.5", "项目过程": "24", "项目产出": "32", "项目效益": "18.79"},
                   "scores2": {code: weights[code] for code in shared}, "total2": "100", "grade2": "优"},
    }


def seed004() -> dict:
    """Seed 004 驻马店 2020 (Henan program table) as published.

    Facts: as the report states them. 资金筹集's social funding share is "基本达到20%": entered as 20
    (the published 9.1 implies 16.4%, see DOMAIN.md §3.2 #42). 满意度 "80%以上": 80.
    Claimed: the published 市县评价得分 column with S1 blank (as printed), the subtotals of the report
    text (24.1 / 10 / 59 / 5), total 98.1, grade "优秀".
    """
    cat = catalog()
    pack = cat.pack("henan-2020-old-community")
    inputs = copy.deepcopy(pack.golden[0]["inputs"])
    inputs["F1"]["social_share"] = {"value": "20"}
    scores = {code: value for code, value in pack.golden[0]["expected_scores"].items() if code != "S1"}
    return {
        "file": "驻马店2020老旧小区改造自评.xlsx",
        "pack": "henan-2020-old-community",
        "meta": {"project": "驻马店市2020年老旧小区改造项目财政资金", "region": "河南省驻马店市", "year": "2020", "mode": "自评"},
        "inputs": inputs,
        "claims": {"scores": scores, "total": "98.1", "grade": "优秀",
                   "levels": {"资金管理": "24.1", "项目管理": "10", "产出效益": "59", "服务对象满意度": "5"}},
    }


EXAMPLES = (seed002, seed004)


# --------------------------------------------------------------------------- building

def normalise_zip(data: bytes) -> bytes:
    """Fixed member timestamps and document dates, so the same input gives the same bytes."""
    stamp = FIXED_TIME.strftime("%Y-%m-%dT%H:%M:%SZ")
    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(data)) as source, zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as target:
        for info in source.infolist():
            content = source.read(info.filename)
            if info.filename == "docProps/core.xml":
                content = re.sub(rb"(<dcterms:(?:created|modified)[^>]*>)[^<]*(</dcterms:)", rb"\g<1>" + stamp.encode() + rb"\g<2>", content)
            member = zipfile.ZipInfo(info.filename, date_time=ZIP_TIME)
            member.compress_type = zipfile.ZIP_DEFLATED
            member.external_attr = 0o600 << 16
            target.writestr(member, content)
    return out.getvalue()


def build(example: dict, folder: Path) -> Path:
    cat = catalog()
    pack = cat.pack(example["pack"])
    path = folder / example["file"]
    workbook = build_template(pack)
    buffer = io.BytesIO()
    workbook.save(buffer)
    path.write_bytes(normalise_zip(buffer.getvalue()))
    fill_workbook(path, pack, example["inputs"], example["claims"], example["meta"])
    report = recalc_file(path, cat, force=True, now=FIXED_TIME)
    if report.status != "recalculated":
        raise SystemExit(f"{path.name}: recalc {report.status}: {report.messages}")
    audit_file(path, cat)
    path.write_bytes(normalise_zip(path.read_bytes()))
    return path


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="compare with the committed examples instead of writing")
    args = parser.parse_args(argv)
    OUT.mkdir(parents=True, exist_ok=True)
    stale = []
    with tempfile.TemporaryDirectory() as temp:
        for make in EXAMPLES:
            example = make()
            built = build(example, Path(temp))
            target = OUT / example["file"]
            if args.check:
                if not target.exists() or target.read_bytes() != built.read_bytes():
                    stale.append(target.name)
            else:
                target.write_bytes(built.read_bytes())
                print(f"wrote {target.relative_to(ROOT)}")
    if stale:
        print("out of date: " + ", ".join(stale) + " (run scripts/make_examples.py)")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
