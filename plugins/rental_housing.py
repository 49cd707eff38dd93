"""租赁住房保障 (公租房、租赁补贴、保障性租赁住房): national packs."""

from engine.hookspecs import hookimpl

from ._folders import rules_folder


@hookimpl
def register_packs(register):
    register(rules_folder("rental_housing"))
