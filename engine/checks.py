"""Pack checks for ``anju rules check``: arithmetic of weights and rule maxima,
rule direction, and whatever program plugins add. Pure: Pack in, findings out.

Parameter types, unknown rule types, duplicate codes and expression syntax are
already refused when a pack is built (``engine.packs``); those errors reach the
user through the same command.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from decimal import Decimal

from .model import Pack
from .numbers import ZERO, fmt

ERROR, WARNING = "error", "warning"
FORWARD_TYPES = {"ratio_capped", "shortfall_deduction", "bonus_capped", "composite_rate"}
AT_MOST = re.compile(r"^\s*(≤|<=|＜＝|不高于|不超过|低于|小于|<)")


@dataclass(frozen=True)
class Finding:
    severity: str
    pack: str
    code: str | None
    message: str


def check_pack(pack: Pack, extra_checks=()) -> list[Finding]:
    findings = []
    findings += check_weights(pack)
    for indicator in pack.indicators:
        findings += check_indicator(pack, indicator)
    for check in extra_checks:
        for severity, message in check(pack) or []:
            findings.append(Finding(severity, pack.id, None, message))
    return findings


def check_weights(pack: Pack) -> list[Finding]:
    findings = []
    scored = [i for i in pack.indicators if i.rule.get("type") != "global_deduction"]
    total = sum((i.weight for i in scored), ZERO)
    if total != pack.total_weight:
        findings.append(Finding(ERROR, pack.id, None,
                                f"规则包“{pack.id}”各指标分值合计{fmt(total)}，不等于满分{fmt(pack.total_weight)}"))
    for level, declared in pack.level_weights.items():
        members = [i for i in scored if i.path[:len(level)] == level]
        if not members:
            findings.append(Finding(ERROR, pack.id, None, f"规则包“{pack.id}”levels 中的“{'/'.join(level)}”没有对应的指标"))
            continue
        summed = sum((i.weight for i in members), ZERO)
        if summed != declared:
            codes = "、".join(i.code for i in members)
            findings.append(Finding(ERROR, pack.id, None,
                                    f"规则包“{pack.id}”一级/二级指标“{'/'.join(level)}”分值为{fmt(declared)}，"
                                    f"其下指标（{codes}）分值合计{fmt(summed)}，两者不一致"))
    return findings


def check_indicator(pack: Pack, indicator) -> list[Finding]:
    findings = []
    where = f"规则包“{pack.id}”指标{indicator.code}（{indicator.name}）"
    compiled = indicator.compiled
    rules = [(indicator.weight, compiled, "")]
    for key, label, part_weight, sub in compiled.parts:
        rules.append((part_weight if part_weight is not None else indicator.weight, sub, f"分项“{label}”"))
    for weight, rule, part in rules:
        findings += check_maximum(pack, indicator, where + part, weight, rule)
    rule_type = compiled.rule_type.name
    if rule_type in FORWARD_TYPES and AT_MOST.match(indicator.target or ""):
        findings.append(Finding(WARNING, pack.id, indicator.code,
                                f"{where}目标值为“{indicator.target}”（越低越好），却按正向比例规则 {rule_type} 计分；"
                                "超出目标反而得分更高，应改用 ratio_reverse"))
    if rule_type == "global_deduction" and indicator.weight != 0:
        findings.append(Finding(ERROR, pack.id, indicator.code, f"{where}为扣分项（global_deduction），分值应为0"))
    if rule_type == "bonus_capped":
        findings.append(Finding(WARNING, pack.id, indicator.code, f"{where}允许超额加分，得分可能超过分值"))
    return findings


def check_maximum(pack: Pack, indicator, where: str, weight: Decimal, rule) -> list[Finding]:
    """A rule that can award more than the weight (seed 002 C302: 5 points on a weight of 3)."""
    maximum = rule.rule_type.max_points(rule.params, weight)
    if maximum is None or maximum <= weight:
        if maximum is not None and rule.rule_type.name == "checklist_sum" and maximum < weight:
            return [Finding(WARNING, pack.id, indicator.code,
                            f"{where}各要点分值合计{fmt(maximum)}，小于分值{fmt(weight)}，满分不可达")]
        return []
    declared = rule.params.get("cap_at_weight") or rule.params.get("scale_to_weight")
    if declared:
        how = "按分值封顶" if rule.params.get("cap_at_weight") else "按比例折算"
        return [Finding(WARNING, pack.id, indicator.code,
                        f"{where}评分标准最高可得{fmt(maximum)}分，超过分值{fmt(weight)}分；规则包已声明{how}，请核对评分标准文字")]
    return [Finding(ERROR, pack.id, indicator.code,
                    f"{where}评分标准最高可得{fmt(maximum)}分，超过分值{fmt(weight)}分（如确需保留原文，请设 cap_at_weight: true）")]
