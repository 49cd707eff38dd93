"""Evaluation results as data (the stable JSON shape, ``anju-result/1``) and as a text table."""

from __future__ import annotations

from .model import EvaluationResult, STATE_LABELS
from .numbers import exact as fmt   # published numbers: exact, never shortened

RESULT_SCHEMA = "anju-result/1"


def result_to_dict(result: EvaluationResult) -> dict:
    """Numbers are strings so no reader turns them into binary floats."""
    pack = result.pack
    return {
        "schema": RESULT_SCHEMA,
        "pack": {"id": pack.id, "name": pack.name, "version": pack.version, "program": pack.program,
                 "framework": pack.framework, "region": pack.region, "years": pack.years},
        "indicators": [{
            "code": r.code,
            "path": list(r.path),
            "weight": fmt(r.weight),
            "score": fmt(r.score),
            "rate": None if r.rate is None else fmt(r.rate),
            "status": r.status,
            "explanation": r.explanation,
            "warnings": r.warnings,
        } for r in result.indicators],
        "levels": [{"path": list(level.path), "weight": fmt(level.weight), "score": fmt(level.score),
                    "rate": None if level.rate is None else fmt(level.rate)} for level in result.levels],
        "total": fmt(result.total),
        "grade": result.grade,
        "warnings": result.warnings,
    }


def result_to_table(result: EvaluationResult) -> str:
    lines = [f"规则包：{result.pack.id}（{result.pack.name}，版本 {result.pack.version}）", ""]
    lines.append("编码\t指标\t分值\t得分\t得分率\t评分说明")
    for r in result.indicators:
        rate = "" if r.rate is None else fmt(r.rate) + "%"
        state = f"[{STATE_LABELS[r.status]}] " if r.status in STATE_LABELS else ""
        lines.append(f"{r.code}\t{'/'.join(r.path)}\t{fmt(r.weight)}\t{fmt(r.score)}\t{rate}\t{state}{r.explanation}")
    lines.append("")
    for level in result.levels:
        if len(level.path) == 1:
            rate = "" if level.rate is None else f"（{fmt(level.rate)}%）"
            lines.append(f"{level.path[0]}：{fmt(level.score)}/{fmt(level.weight)}{rate}")
    lines.append(f"总分：{fmt(result.total)}　等级：{result.grade}")
    for warning in result.warnings:
        lines.append(f"提示：{warning}")
    return "\n".join(lines)
