"""``anju rules new``: scaffold a province plugin package.

The generated folder is an installable Python package (``pip install ./anju-henan``):

* ``pyproject.toml`` with an ``[project.entry-points.anju]`` entry point, so anju
  finds the plugin once it is installed;
* ``anju_<slug>/__init__.py`` with ``@hookimpl register_packs(register)`` pointing
  at the packaged YAML folder (``importlib.resources``);
* ``anju_<slug>/rules/<pack id>.yaml``: a pack that ``extends`` the national one,
  with commented examples of ``override`` / ``add`` / ``drop`` and a golden case
  (inputs taken from the parent's first golden case, or generated, and the
  expected scores computed by the engine at scaffold time);
* ``tests/test_<slug>.py``: runs the pack's golden cases and ``anju rules check``
  through the engine and the CLI;
* ``README.md`` (Chinese) saying how to install, edit and test.

It passes ``anju rules check`` and its own tests as generated.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

from .errors import AnjuError
from .model import Pack
from .numbers import fmt

# 省级行政区 → pinyin slug (for package names and pack ids)
PROVINCES = {
    "北京": "beijing", "天津": "tianjin", "河北": "hebei", "山西": "shanxi", "内蒙古": "neimenggu", "辽宁": "liaoning",
    "吉林": "jilin", "黑龙江": "heilongjiang", "上海": "shanghai", "江苏": "jiangsu", "浙江": "zhejiang", "安徽": "anhui",
    "福建": "fujian", "江西": "jiangxi", "山东": "shandong", "河南": "henan", "湖北": "hubei", "湖南": "hunan",
    "广东": "guangdong", "广西": "guangxi", "海南": "hainan", "重庆": "chongqing", "四川": "sichuan", "贵州": "guizhou",
    "云南": "yunnan", "西藏": "xizang", "陕西": "shaanxi", "甘肃": "gansu", "青海": "qinghai", "宁夏": "ningxia",
    "新疆": "xinjiang", "新疆生产建设兵团": "bingtuan", "大连": "dalian", "青岛": "qingdao", "宁波": "ningbo",
    "厦门": "xiamen", "深圳": "shenzhen",
}
SUFFIXES = ("维吾尔自治区", "壮族自治区", "回族自治区", "自治区", "特别行政区", "省", "市")
PROGRAM_SLUGS = {"old_community_renovation": "old-community", "shantytown_redevelopment": "shantytown",
                 "rental_housing": "rental-housing", "elevator_retrofit": "elevator-retrofit"}
YEARS = re.compile(r"^\s*(\d{4})\s*(-\s*(\d{4})?)?\s*$")
SLUG = re.compile(r"^[a-z][a-z0-9]*(?:[-_][a-z0-9]+)*$")


@dataclass
class Scaffold:
    folder: Path
    package: str          # distribution name, e.g. anju-henan
    module: str           # import name, e.g. anju_henan
    pack_id: str
    files: list


def region_slug(region: str) -> str | None:
    name = region.strip()
    if name in PROVINCES:
        return PROVINCES[name]
    for suffix in SUFFIXES:
        if name.endswith(suffix) and name[: -len(suffix)] in PROVINCES:
            return PROVINCES[name[: -len(suffix)]]
    if SLUG.match(name.lower()):
        return name.lower()
    return None


def parse_years(years: str) -> tuple[str, str]:
    """'2025-' → ('2025', '2025-'); '2025-2027' → ('2025', '2025-2027'); '2025' → ('2025', '2025')."""
    match = YEARS.match(str(years))
    if not match:
        raise AnjuError(f"适用年度“{years}”格式不对，应写成 2025、2025- 或 2025-2027")
    start, dash, end = match.group(1), match.group(2), match.group(3)
    if end and end < start:
        raise AnjuError(f"适用年度“{years}”的结束年份早于开始年份")
    return start, f"{start}-{end or ''}" if dash else start


def scaffold(parent: Pack, region: str, years: str, out_dir: Path, *, slug: str | None = None, pack_id: str | None = None,
             name: str | None = None, force: bool = False) -> Scaffold:
    """Write the plugin package for a province pack extending ``parent``; returns what was written."""
    start, years_text = parse_years(years)
    slug = (slug or region_slug(region) or "").lower().replace("_", "-")
    if not slug or not SLUG.match(slug):
        raise AnjuError(f"无法从地区“{region}”得到英文代码，请用 --slug 指定（如 --slug henan，只能用小写字母、数字和连字符）")
    module = "anju_" + slug.replace("-", "_")
    package = "anju-" + slug
    program = PROGRAM_SLUGS.get(parent.program, parent.program.replace("_", "-") or "pack")
    pack_id = pack_id or f"{slug}-{start}-{program}"
    if not SLUG.match(pack_id.replace(".", "-")):
        raise AnjuError(f"规则包编号“{pack_id}”只能用小写字母、数字和连字符")
    if pack_id == parent.id:
        raise AnjuError(f"新规则包编号“{pack_id}”与父规则包相同，请用 --id 指定另一个编号")
    folder = Path(out_dir) / package
    if folder.exists() and any(folder.iterdir()) and not force:
        raise AnjuError(f"目录 {folder} 已存在且不为空；换一个 --output 目录，或加 --force 覆盖")
    display_region = region.strip()
    name = name or f"{display_region}{years_text.rstrip('-')}{'年起' if years_text.endswith('-') else '年'}{strip_scope(parent.name)}"
    files = {
        "pyproject.toml": pyproject(package, module, slug, display_region),
        f"{module}/__init__.py": module_source(module, display_region),
        f"{module}/rules/{pack_id}.yaml": pack_yaml(parent, pack_id, name, display_region, years_text),
        f"tests/test_{module}.py": test_source(module, pack_id, parent.id),
        "README.md": readme(package, module, pack_id, parent, display_region, years_text),
    }
    written = []
    for relative, text in files.items():
        target = folder / relative
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text, encoding="utf-8")
        written.append(target)
    return Scaffold(folder, package, module, pack_id, written)


def strip_scope(name: str) -> str:
    """'城镇保障性安居工程…（城镇老旧小区改造，全国通用）' → without '，全国通用' / '（全国）'."""
    text = re.sub(r"[，,]\s*全国通用", "", name)
    return re.sub(r"（全国(通用)?）", "", text)


def q(text: str) -> str:
    """A YAML double-quoted scalar."""
    return '"' + str(text).replace("\\", "\\\\").replace('"', '\\"') + '"'


def pyproject(package: str, module: str, slug: str, region: str) -> str:
    return f'''[build-system]
requires = ["setuptools>=61"]
build-backend = "setuptools.build_meta"

[project]
name = "{package}"
version = "0.1.0"
description = "anju 插件：{region}城镇保障性安居工程资金绩效评价规则包"
readme = "README.md"
requires-python = ">=3.11"
# 本插件运行在已安装 anju 的环境中（anju 不在公共软件源上，因此不在这里声明依赖）。
dependencies = []

[project.optional-dependencies]
test = ["pytest>=8"]

# anju 通过这个入口点发现插件（pluggy 项目名 anju）
[project.entry-points.anju]
{slug.replace("-", "_")} = "{module}"

[tool.setuptools]
packages = ["{module}"]

[tool.setuptools.package-data]
"{module}" = ["rules/*.yaml"]
'''


def module_source(module: str, region: str) -> str:
    return f'''"""anju 插件：{region}规则包。

anju 启动时通过入口点（pyproject.toml 中的 [project.entry-points.anju]）加载本模块，
调用 register_packs 注册本包 rules/ 目录下的全部 YAML 规则包。
"""

from importlib.resources import files
from pathlib import Path

import pluggy

hookimpl = pluggy.HookimplMarker("anju")

RULES = Path(str(files(__name__).joinpath("rules")))


@hookimpl
def register_packs(register):
    register(RULES)
'''


def pack_yaml(parent: Pack, pack_id: str, name: str, region: str, years: str) -> str:
    from .rulebook import dump_pack   # YAML in the packs' own style

    case = golden_case(parent)
    first = parent.indicators[0] if parent.indicators else None
    example_code = first.code if first is not None else "X1"
    example_weight = fmt(first.weight) if first is not None else "10"
    head = f'''# {name}
# 由 `anju rules new --extends {parent.id}` 生成。本规则包继承全国规则包“{parent.id}”（{parent.name}），
# 只需写出与全国规则包不同的地方：
#   override: 修改已有指标（分值 weight、目标值 target、规则 rule 等），例如
#     override:
#       {example_code}:
#         weight: '{example_weight}'
#   add:      增加指标（after: 指定放在哪个指标之后），例如
#     add:
#     - {{code: X1, path: [产出效益, 新增指标], weight: '5', after: {example_code}, rule: {{type: ratio_capped}}}}
#   drop:     删除指标，例如  drop: [{example_code}]
# 修改分值后，请同时调整其他指标或 levels，使合计仍为满分；改完运行：
#   anju rules check {pack_id}
#   anju rules test {pack_id}
#   pytest
'''
    body = {"schema": "anju-pack/1", "id": pack_id, "name": name, "extends": parent.id, "region": region, "years": years,
            "version": "0.1.0", "source": f"在全国规则包 {parent.id} 基础上制定（请填写本省文件文号）"}
    text = dump_pack(body)
    golden = dump_pack({"golden": [case]}) if case else ""
    return head + text + "override: {}\n" + golden


def golden_case(parent: Pack) -> dict | None:
    """A golden case for the new pack: the parent's first case's inputs (or generated ones), expected scores computed now."""
    from .scoring import evaluate

    inputs = None
    title = "全部指标按全国规则包的黄金案例填报（由 anju rules new 生成，请按本省实际案例修改）"
    for case in parent.golden or []:
        if isinstance(case, dict) and isinstance(case.get("inputs"), dict):
            inputs = case["inputs"]
            break
    if inputs is None:
        inputs = sample_inputs(parent)
        title = "各项目标均完成（由 anju rules new 自动生成，请按本省实际案例修改）"
    try:
        result = evaluate(parent, inputs)
    except AnjuError:
        return None
    return {"id": "scaffold-example", "title": title, "inputs": inputs,
            "expected_scores": {r.code: fmt(r.score) for r in result.indicators},
            "expected_total": fmt(result.total), "expected_grade": result.grade}


def sample_inputs(pack: Pack) -> dict:
    """Inputs meeting every target: actual = target = 100, every item met, nothing late, first category."""
    inputs = {}
    for indicator in pack.indicators:
        values: dict = {}
        for spec in indicator.compiled.specs:
            if spec.kind in ("number", "percent"):
                value = "100"
            elif spec.kind in ("count", "days"):
                value = 0
            elif spec.kind == "bool":
                value = not any(word in spec.label for word in ("否决", "恶劣", "违规", "事故", "情形"))
            elif spec.kind == "category":
                value = spec.choices[0][0] if spec.choices else ""
            elif spec.kind == "answers":
                value = {spec.choices[0]: 100} if spec.choices else {"是": 100}
            else:
                value = ""
            if not spec.required and spec.key == "value":
                continue
            container = values.setdefault(spec.part, {}) if spec.part else values
            container[spec.key] = value
        inputs[indicator.code] = values
    return inputs


def test_source(module: str, pack_id: str, parent_id: str) -> str:
    return f'''"""{pack_id} 的测试：黄金案例全部通过，anju rules check 无错误。

安装本插件（pip install -e .）后，anju 通过入口点发现规则包；未安装时直接读取本目录的 rules/。
"""

from pathlib import Path

from click.testing import CliRunner

from engine.checks import ERROR, check_pack
from engine.cli import main
from engine.packtests import run_pack_golden
from engine.plugins import Catalog

PACK_ID = "{pack_id}"
RULES = Path(__file__).resolve().parents[1] / "{module}" / "rules"


def catalog():
    cat = Catalog()
    if PACK_ID not in cat.packs:          # not installed: read the folder directly
        cat.add_path(RULES, "local")
    return cat


def cli_args():
    return [] if PACK_ID in Catalog().packs else ["--rules-dir", str(RULES)]


def test_pack_extends_the_national_pack():
    cat = catalog()
    assert cat.raw(PACK_ID)["extends"] == "{parent_id}"
    assert cat.pack(PACK_ID).indicators


def test_golden_cases_pass():
    results = run_pack_golden(catalog().pack(PACK_ID))
    assert results
    for result in results:
        assert result.ok, (result.error, [c for c in result.checks if not c.ok])


def test_pack_check_has_no_errors():
    cat = catalog()
    findings = check_pack(cat.pack(PACK_ID), cat.checks)
    assert not [f.message for f in findings if f.severity == ERROR]


def test_cli_rules_check_and_test():
    runner = CliRunner()
    for command in ("check", "test"):
        result = runner.invoke(main, cli_args() + ["rules", command, PACK_ID], obj={{}})
        assert result.exit_code == 0, result.output
'''


def readme(package: str, module: str, pack_id: str, parent: Pack, region: str, years: str) -> str:
    return f'''# {package}：{region}绩效评价规则包（anju 插件）

本插件为 anju 增加规则包 `{pack_id}`（适用年度 {years}），继承全国规则包 `{parent.id}`
（{parent.name}），只写出{region}与全国规则的不同之处。

## 安装

在已安装 anju 的环境中：

    pip install -e .

安装后 `anju plugins` 会列出本插件和规则包 `{pack_id}`。

## 修改规则

编辑 `{module}/rules/{pack_id}.yaml`：用 `override` 修改指标的分值、目标值或规则，
用 `add` 增加指标，用 `drop` 删除指标。也可以导出为 Excel 规则表修改后再导入：

    anju rules export {pack_id} -o 规则表.xlsx
    anju rules import 规则表.xlsx -o {module}/rules/{pack_id}.yaml

与全国规则包比较差异：

    anju rules diff {parent.id} {pack_id}

## 检查与测试

    anju rules check {pack_id}
    anju rules test {pack_id}
    pytest

黄金案例（`golden:`）是由 `anju rules new` 按全国规则包生成的示例，请换成本省的实际评价案例。
'''
