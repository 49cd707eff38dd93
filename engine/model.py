"""Plain data: what a rule pack is and what an evaluation produces. No behaviour."""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal
from typing import NamedTuple

# Explicit input states (DOMAIN §8.5): never a silent 0.
NOT_APPLICABLE = "not_applicable"   # 无任务 / 不适用
NOT_ACCEPTED = "not_accepted"       # 未验收
NO_DATA = "no_data"                 # 无数据
SCORED = "scored"
VETOED = "vetoed"

STATE_WORDS = {
    "无任务": NOT_APPLICABLE, "不适用": NOT_APPLICABLE, "n/a": NOT_APPLICABLE, "na": NOT_APPLICABLE,
    "无建设任务": NOT_APPLICABLE, "not_applicable": NOT_APPLICABLE,
    "未验收": NOT_ACCEPTED, "not_accepted": NOT_ACCEPTED,
    "无数据": NO_DATA, "no_data": NO_DATA,
}
STATE_LABELS = {NOT_APPLICABLE: "无任务", NOT_ACCEPTED: "未验收", NO_DATA: "无数据"}


@dataclass(frozen=True)
class InputSpec:
    """One fact a rule needs. ``kind`` drives parsing, template cells and validation."""

    key: str
    label: str
    kind: str                      # number | percent | count | days | bool | category | answers | date | text
    unit: str = ""
    required: bool = True
    default: object = None
    choices: tuple = ()            # category: ((key, label), ...); answers: option labels
    part: str | None = None        # composite part key, for in_<CODE>_<part>_<key>
    minimum: Decimal | None = None
    maximum: Decimal | None = None

    @property
    def path(self) -> tuple[str, ...]:
        return (self.part, self.key) if self.part else (self.key,)


@dataclass(frozen=True)
class Rounding:
    places: int
    mode: str                      # a decimal rounding constant


@dataclass(frozen=True)
class RoundingPolicy:
    indicator: Rounding
    total: Rounding
    rate: Rounding
    total_method: str = "sum_of_indicator_scores"   # or round_raw_sum


@dataclass(frozen=True)
class GradeBand:
    label: str
    minimum: Decimal               # inclusive lower bound


@dataclass
class Indicator:
    code: str
    path: tuple[str, ...]          # 一级/二级/三级 names; the last is the indicator itself
    weight: Decimal
    rule: dict                     # the rule as written (type + parameters), resolved
    target: str = ""               # display text, e.g. "≥6个"
    unit: str = ""
    input_labels: dict = field(default_factory=dict)   # per-input overrides {key: {label, unit, default}}
    note: str = ""
    compiled: object = None        # engine.ruletypes.CompiledRule, set by engine.packs

    @property
    def name(self) -> str:
        return self.path[-1]


@dataclass
class Pack:
    id: str
    name: str
    program: str
    framework: str
    region: str
    years: str
    version: str
    source: str
    rounding: RoundingPolicy
    grades: list[GradeBand]
    indicators: list[Indicator]
    na_policy: str = "full_credit"            # or redistribute
    na_scope: str = "parent"                  # redistribute among siblings ("parent") or within the 一级指标 ("level")
    overachievement: str = "cap"              # or reduce_by_deviation: the default of ratio_capped rules
    total_weight: Decimal = Decimal(100)
    level_weights: dict = field(default_factory=dict)   # {("项目决策",): Decimal("15"), ...}
    extends: str | None = None
    origin: str = ""                           # where it came from (file, plugin)
    golden: list = field(default_factory=list) # the pack's own golden cases (raw dicts)
    data: dict = field(default_factory=dict)   # the resolved pack as data (for export/diff)

    def indicator(self, code: str) -> Indicator | None:
        return next((i for i in self.indicators if i.code == code), None)


# Results are immutable records (NamedTuple), so evaluations with the same answers can share one
# (engine.scoring keeps the result of a memoised rule outcome and of a repeated subtotal).
class IndicatorResult(NamedTuple):
    code: str
    path: tuple[str, ...]
    weight: Decimal
    score: Decimal
    raw_score: Decimal
    rate: Decimal | None
    explanation: str
    status: str
    effective_weight: Decimal | None
    facts: dict                    # read-only: may be shared by results with the same answers
    warnings: tuple


class LevelResult(NamedTuple):
    path: tuple[str, ...]
    weight: Decimal
    score: Decimal
    rate: Decimal | None


@dataclass(slots=True)
class EvaluationResult:
    pack: Pack
    indicators: list[IndicatorResult]
    levels: list[LevelResult]
    total: Decimal
    raw_total: Decimal
    grade: str
    warnings: list = field(default_factory=list)
    vetoes: list = field(default_factory=list)

    def indicator(self, code: str) -> IndicatorResult | None:
        return next((r for r in self.indicators if r.code == code), None)
