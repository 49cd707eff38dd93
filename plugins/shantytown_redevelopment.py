"""城市棚户区改造 (shantytown redevelopment): national packs."""

from engine.hookspecs import hookimpl

from ._folders import rules_folder


@hookimpl
def register_packs(register):
    register(rules_folder("shantytown_redevelopment"))
