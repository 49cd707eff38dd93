"""城镇老旧小区改造 (old-community renovation): national packs and the seed-report packs."""

from engine.hookspecs import hookimpl

from ._folders import rules_folder


@hookimpl
def register_packs(register):
    register(rules_folder("old_community_renovation"))
