"""Reading rule packs and inputs from YAML/JSON files (an I/O adapter)."""

from __future__ import annotations

import json
from pathlib import Path

import yaml

from .errors import AnjuError, PackError

PACK_SUFFIXES = (".yaml", ".yml")
# libyaml's C loader reads packs about ten times faster (batch workers load every pack at start-up)
SAFE_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def read_data_file(path: Path, what: str = "文件"):
    """YAML or JSON (JSON is YAML-compatible enough, but gets its own error text)."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        raise AnjuError(f"找不到{what}：{path}") from None
    except UnicodeDecodeError:
        raise AnjuError(f"{what} {path} 不是 UTF-8 编码的文本文件") from None
    except OSError as exc:
        raise AnjuError(f"无法读取{what} {path}：{exc.strerror}") from None
    try:
        if path.suffix.lower() == ".json":
            return json.loads(text)
        return yaml.load(text, Loader=SAFE_LOADER)
    except json.JSONDecodeError as exc:
        raise AnjuError(f"{what} {path} 的 JSON 格式有误（第{exc.lineno}行第{exc.colno}列）：{exc.msg}") from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"（第{mark.line + 1}行第{mark.column + 1}列）" if mark else ""
        raise AnjuError(f"{what} {path} 的 YAML 格式有误{where}：{getattr(exc, 'problem', exc)}") from None


def load_pack_file(path: Path) -> dict | None:
    """A pack mapping, or None for YAML files that are not packs (e.g. golden case files)."""
    try:
        data = read_data_file(path, "规则包文件")
    except AnjuError as exc:
        raise PackError(str(exc)) from None
    if not isinstance(data, dict) or "id" not in data or data.get("schema", "anju-pack/1") != "anju-pack/1":
        return None
    return data


def pack_files(path: Path) -> list[Path]:
    path = Path(path)
    if path.is_file():
        return [path]
    return sorted(p for p in path.rglob("*") if p.suffix.lower() in PACK_SUFFIXES and p.is_file())
