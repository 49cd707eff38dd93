"""Built-in program plugins: one module per program type, each contributing its rule packs
(from ``rules/<program>/``) and any program-specific checks through the hooks in
``engine.hookspecs``."""

from . import elevator_retrofit, old_community_renovation, rental_housing, shantytown_redevelopment

BUILTIN = (old_community_renovation, shantytown_redevelopment, rental_housing, elevator_retrofit)
