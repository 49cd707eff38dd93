"""Loading plugins (built-in program plugins, entry points in group ``anju``) and
collecting what they contribute into a ``Catalog`` of rule types, packs and checks."""

from __future__ import annotations

import dataclasses
import os
from functools import lru_cache
from pathlib import Path

import pluggy

from . import hookspecs
from .errors import PackError
from .packfiles import load_pack_file, pack_files
from .packs import build, resolve
from .ruletypes import REGISTRY, RuleType

ENTRY_POINT_GROUP = "anju"
RULES_PATH_ENV = "ANJU_RULES_PATH"


@lru_cache(maxsize=1)
def plugin_manager() -> pluggy.PluginManager:
    import plugins as builtin_plugins   # the repository's own program plugins

    pm = pluggy.PluginManager("anju")
    pm.add_hookspecs(hookspecs)
    for module in builtin_plugins.BUILTIN:
        pm.register(module, name=f"anju.{module.__name__.rsplit('.', 1)[-1]}")
    pm.load_setuptools_entrypoints(ENTRY_POINT_GROUP)
    try:
        pm.check_pending()   # a misspelt hook name fails loudly here
    except pluggy.PluginValidationError as exc:
        valid = "、".join(name for name in dir(hookspecs) if name.startswith("register_"))
        plugin = getattr(exc.plugin, "__name__", repr(exc.plugin))
        raise PackError(f"插件 {plugin} 实现了未知的钩子（{exc}）；可用的钩子：{valid}。请检查钩子名称的拼写") from None
    return pm


@dataclasses.dataclass
class PackSource:
    data: dict
    origin: str          # file path or "plugin:<name>"
    plugin: str


class Catalog:
    """Everything the plugins and rule folders contribute, with where each came from."""

    def __init__(self, rules_dirs=()):
        self.rule_types: dict[str, RuleType] = dict(REGISTRY)
        self.packs: dict[str, PackSource] = {}
        self.checks: list = []
        self.problems: list[str] = []
        pm = plugin_manager()
        for plugin_name, plugin in pm.list_name_plugin():
            self._collect(plugin_name, plugin, pm)
        extra = list(rules_dirs) + [p for p in os.environ.get(RULES_PATH_ENV, "").split(os.pathsep) if p]
        for folder in extra:
            self.add_path(Path(folder), "rules-dir")

    def _collect(self, name, plugin, pm):
        def add_rule_type(rule_type: RuleType):
            rule_type = dataclasses.replace(rule_type, origin=name)
            if rule_type.name in self.rule_types:
                raise PackError(f"插件 {name} 注册的规则类型“{rule_type.name}”与 {self.rule_types[rule_type.name].origin} 的重名")
            self.rule_types[rule_type.name] = rule_type

        def add_pack(item, origin: str | None = None):
            if isinstance(item, dict):
                self._add_pack(item, origin or f"plugin:{name}", name)
            else:
                self.add_path(Path(item), name)

        for hook, callback in (("register_rule_types", add_rule_type), ("register_packs", add_pack),
                               ("register_checks", self.checks.append)):
            impl = getattr(plugin, hook, None)
            if impl is not None:
                impl(callback)

    def add_path(self, path: Path, plugin: str):
        if not path.exists():
            self.problems.append(f"规则目录或文件不存在：{path}")
            return
        for file in pack_files(path):
            try:
                data = load_pack_file(file)
            except PackError as exc:
                self.problems.append(str(exc))
                continue
            if data is not None:
                self._add_pack(data, str(file), plugin)

    def _add_pack(self, data: dict, origin: str, plugin: str):
        pack_id = str(data.get("id") or "")
        if not pack_id:
            self.problems.append(f"{origin}：规则包缺少 id")
            return
        if pack_id in self.packs:
            self.problems.append(f"规则包 id“{pack_id}”重复：{self.packs[pack_id].origin} 与 {origin}（后者被忽略）")
            return
        self.packs[pack_id] = PackSource(data, origin, plugin)

    def raw(self, pack_id: str) -> dict | None:
        source = self.packs.get(pack_id)
        return source.data if source else None

    def pack(self, pack_id: str):
        """Resolve ``extends`` and compile a pack by id."""
        if pack_id not in self.packs:
            known = "、".join(sorted(self.packs)) or "无"
            raise PackError(f"找不到规则包“{pack_id}”。可用的规则包：{known}")
        source = self.packs[pack_id]
        return build(resolve(pack_id, self.raw), source.origin, self.rule_types)

    def pack_from_file(self, path: Path):
        """A pack given by file path (it may extend packs of the catalog)."""
        data = load_pack_file(path)
        if data is None:
            raise PackError(f"{path} 不是规则包文件（缺少 id 或 indicators）")
        lookup = lambda i: data if i == data.get("id") else self.raw(i)
        return build(resolve(str(data.get("id")), lookup), str(path), self.rule_types)


@lru_cache(maxsize=8)
def _cached_catalog(rules_dirs: tuple, env: str) -> Catalog:
    return Catalog(rules_dirs)


def catalog(rules_dirs=()) -> Catalog:
    """A Catalog per distinct set of rule folders (cached for the process)."""
    return _cached_catalog(tuple(str(d) for d in rules_dirs), os.environ.get(RULES_PATH_ENV, ""))
