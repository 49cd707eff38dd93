"""既有住宅加装电梯 (elevator retrofit subsidies): national packs and a program check.

Subsidy (奖补) funds are often counted as "executed" once transferred to the
city or county (seed 003, discrepancy 39); a pack that measures execution
against the budget rather than funds received gets a reminder.
"""

from engine.hookspecs import hookimpl

from ._folders import rules_folder


@hookimpl
def register_packs(register):
    register(rules_folder("elevator_retrofit"))


def budget_base_reminder(pack):
    if pack.program != "elevator_retrofit":
        return []
    return [("warning", f"规则包“{pack.id}”指标{i.code}：加装电梯补助资金的执行率按预算数计算；"
                        "如补助资金拨付到项目才算执行，请考虑 base: funds_received")
            for i in pack.indicators
            if i.rule.get("type") == "budget_execution" and i.compiled.params["base"] == "budget"]


@hookimpl
def register_checks(register):
    register(budget_base_reminder)
