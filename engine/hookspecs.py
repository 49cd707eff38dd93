"""Plugin hook specifications (pluggy project name ``anju``).

A plugin is any module or object with ``@hookimpl`` functions named like the
specs below. Built-in program plugins live in the top-level ``plugins``
package; third-party plugins are installed packages declaring an entry point
in the group ``anju``::

    [project.entry-points.anju]
    guangxi = "anju_guangxi"

Every hook receives a ``register`` callback (in the style of simonw/llm), so a
plugin never imports engine internals to add what it contributes.
"""

import pluggy

hookspec = pluggy.HookspecMarker("anju")
hookimpl = pluggy.HookimplMarker("anju")


@hookspec
def register_rule_types(register):
    """Contribute rule types.

    Call ``register(rule_type)`` with an ``engine.ruletypes.RuleType`` for each
    rule type. A rule type is a pure function ``score(call) -> Outcome`` plus
    its declared parameters and inputs; its name must not clash with a
    built-in one (a clash is an error at start-up). Pure matters: when all
    of a rule's inputs are discrete (yes/no, options, counts) the engine
    reuses the Outcome for the same answers, so keep no state between
    calls and never change an Outcome after returning it.
    """


@hookspec
def register_packs(register):
    """Contribute rule packs.

    Call ``register(path)`` with a YAML file or a folder of YAML packs
    (``*.yaml``), or ``register(mapping, origin="...")`` with a pack already
    parsed. Packs may ``extends:`` packs of other plugins.
    """


@hookspec
def register_checks(register):
    """Contribute program-specific pack checks for ``anju rules check``.

    Call ``register(check)`` where ``check(pack) -> list[(severity, message)]``,
    severity being ``"error"`` or ``"warning"`` and the message a Chinese
    sentence naming the pack and indicator. Return nothing for packs the check
    does not concern.
    """
