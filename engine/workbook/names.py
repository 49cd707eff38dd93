"""The fill interface of anju workbooks: workbook-level defined names.

Pure: this module only builds and checks names. Reading and writing go through
these names and never through fixed cell addresses, so staff may insert rows,
hide columns or reorder sheets, and provincial systems may fill templates
programmatically (see the README section "工作簿名称约定").

Convention (every name is workbook-level; Excel treats names case-insensitively):

=============================  ===========================================================
``meta_pack_id``               规则包 id (基本信息)
``meta_pack_version``          规则包版本
``meta_project``               项目名称
``meta_region``                地区
``meta_year``                  评价年度
``meta_program``               项目类型
``meta_mode``                  评价方式（自评 / 第三方）
``in_<CODE>_<key>``            one rule input of indicator CODE (a single cell)
``in_<CODE>_<part>_<key>``     one input of part ``part`` of a composite rule
``in_<CODE>_answers``          survey counts: two columns (option label, count), one row per option
``in_<CODE>_status``           无任务 / 未验收 / 无数据, blank when the indicator is scored
``in_<CODE>_claimed``          the score claimed by the filing unit (自评/填报得分); not a rule input
``in_<CODE>_claimed2``         a second evaluation's score (e.g. 自评得分 beside 第三方); not a rule input
``in_total_claimed``           claimed total; ``in_grade_claimed`` claimed grade
``in_total_claimed2``          second evaluation's total; ``in_grade_claimed2`` its grade
``out_<CODE>_score``           得分 (number, the pack's decimal places)
``out_<CODE>_rate``            得分率 in percent units (number; blank when the weight is 0)
``out_<CODE>_explain``         评分说明 (text)
``out_level_<n>_score``        subtotal of the n-th 一级指标 (1-based, in indicator order)
``out_level_<n>_rate``         its 得分率 (percent units)
``out_total`` / ``out_grade``  总分 / 等级
``out_stamp``                  one text cell: engine version, pack id and version, time
``out_messages``               校验 rows, four columns: 级别, 工作表, 单元格, 说明
``out_scores_sum``             汇总's check formula ``=SUM(<score column>)``: the formula stays; anju recalc
                               refreshes its cached value in files (a formula cell, not a plain output)
``in_level_<n>_claimed``       claimed subtotal of the n-th 一级指标 (汇总; for ``anju audit``)
``out_review``                 复核 rows written by ``anju audit``, columns ``REVIEW_COLUMNS``
=============================  ===========================================================

Codes, part keys and input keys are used as they are when they consist of
letters (any script), digits, ``_`` and ``.``; any other character is replaced
by ``_``. A pack whose names would collide after this (ignoring case) cannot
have a template.
"""

from __future__ import annotations

import re

IN, OUT, META = "in_", "out_", "meta_"

META_FIELDS = ("pack_id", "pack_version", "project", "region", "year", "program", "mode")
META_LABELS = {"pack_id": "规则包", "pack_version": "规则包版本", "project": "项目名称", "region": "地区",
               "year": "评价年度", "program": "项目类型", "mode": "评价方式"}

STATUS_KEY = "status"
ANSWERS_KIND = "answers"
CLAIMED_KEYS = ("claimed", "claimed2")

OUT_TOTAL = "out_total"
OUT_GRADE = "out_grade"
OUT_STAMP = "out_stamp"
OUT_MESSAGES = "out_messages"
OUT_SCORES_SUM = "out_scores_sum"   # 汇总's check formula =SUM(scores); recalc refreshes its cached value in files
MESSAGE_COLUMNS = ("级别", "工作表", "单元格", "说明")

TOTAL_CLAIMED = {"claimed": "in_total_claimed", "claimed2": "in_total_claimed2"}
GRADE_CLAIMED = {"claimed": "in_grade_claimed", "claimed2": "in_grade_claimed2"}

# ---- anju audit (issue 6): claimed subtotals and the 复核 sheet
OUT_REVIEW = "out_review"
REVIEW_COLUMNS = ("序号", "级别", "类型", "指标", "单元格", "申报值", "复算值", "复核意见")
REVIEW_ROWS = 300


def level_claimed_name(number: int) -> str:
    return f"{IN}level_{int(number)}_claimed"

MAX_NAME_LENGTH = 255

_TOKEN_BAD = re.compile(r"[^\w.]", re.UNICODE)
_NAME_OK = re.compile(r"[^\W\d][\w.]*", re.UNICODE)


def token(text) -> str:
    """A code or key as it appears inside a name."""
    return _TOKEN_BAD.sub("_", str(text))


def meta_name(field: str) -> str:
    if field not in META_FIELDS:
        raise ValueError(f"未知的基本信息字段：{field}")
    return META + field


def input_name(code: str, key: str, part: str | None = None) -> str:
    """``in_<CODE>_<key>`` or, for a composite part, ``in_<CODE>_<part>_<key>``."""
    middle = f"{token(part)}_{token(key)}" if part else token(key)
    return f"{IN}{token(code)}_{middle}"


def spec_name(code: str, spec) -> str:
    """The name of an ``InputSpec``'s cell (or, for survey answers, its two-column range)."""
    return input_name(code, spec.key, spec.part)


def status_name(code: str) -> str:
    return f"{IN}{token(code)}_{STATUS_KEY}"


def claimed_name(code: str, which: str = "claimed") -> str:
    if which not in CLAIMED_KEYS:
        raise ValueError(which)
    return f"{IN}{token(code)}_{which}"


def score_name(code: str) -> str:
    return f"{OUT}{token(code)}_score"


def rate_name(code: str) -> str:
    return f"{OUT}{token(code)}_rate"


def explain_name(code: str) -> str:
    return f"{OUT}{token(code)}_explain"


def level_score_name(number: int) -> str:
    return f"{OUT}level_{int(number)}_score"


def level_rate_name(number: int) -> str:
    return f"{OUT}level_{int(number)}_rate"


def is_valid_name(name: str) -> bool:
    """A name Excel accepts as a workbook-level defined name (for the names built here)."""
    return bool(_NAME_OK.fullmatch(name)) and len(name) <= MAX_NAME_LENGTH


def indicator_names(indicator) -> dict[str, str]:
    """Every name of one indicator: {name: what} (what is 'status', 'claimed', 'score', or 'input:<part.key>')."""
    code = indicator.code
    names = {status_name(code): "status"}
    for spec in indicator.compiled.specs:
        names[spec_name(code, spec)] = "input:" + (f"{spec.part}.{spec.key}" if spec.part else spec.key)
    for which in CLAIMED_KEYS:
        names[claimed_name(code, which)] = which
    names[score_name(code)] = "score"
    names[rate_name(code)] = "rate"
    names[explain_name(code)] = "explain"
    return names


def level_groups(pack) -> list[tuple[str, ...]]:
    """The 一级指标 groups in indicator order (what ``out_level_<n>`` numbers)."""
    groups: list[tuple[str, ...]] = []
    for indicator in pack.indicators:
        key = indicator.path[:1]
        if key not in groups:
            groups.append(key)
    return groups


def check_pack_names(pack) -> list[str]:
    """Problems (Chinese) that prevent a template: invalid or colliding names."""
    problems, seen = [], {}
    fixed = [meta_name(f) for f in META_FIELDS] + [OUT_TOTAL, OUT_GRADE, OUT_STAMP, OUT_MESSAGES, OUT_SCORES_SUM]
    fixed += list(TOTAL_CLAIMED.values()) + list(GRADE_CLAIMED.values())
    fixed += [level_score_name(n) for n in range(1, len(level_groups(pack)) + 1)]
    fixed += [level_rate_name(n) for n in range(1, len(level_groups(pack)) + 1)]
    fixed += [level_claimed_name(n) for n in range(1, len(level_groups(pack)) + 1)] + [OUT_REVIEW]   # anju audit
    for name in fixed:
        seen[name.lower()] = "（固定名称）"
    for indicator in pack.indicators:
        for name in indicator_names(indicator):
            where = f"指标{indicator.code}"
            if not is_valid_name(name):
                problems.append(f"{where}的名称“{name}”不是有效的 Excel 名称")
            key = name.lower()
            if key in seen:
                problems.append(f"{where}的名称“{name}”与{seen[key]}的名称重复（Excel 名称不区分大小写）")
            seen[key] = where
    return problems
