"""Exceptions whose text is shown to users, so it is always Chinese."""


class AnjuError(Exception):
    """Base class: ``str(error)`` is a complete Chinese sentence for the user."""


class InputError(AnjuError):
    """One bad input value. ``code`` and ``key`` locate it so adapters can name a cell."""

    def __init__(self, message: str, code: str | None = None, key: str | None = None):
        super().__init__(message)
        self.code = code
        self.key = key


class EvaluationError(AnjuError):
    """All input problems of one evaluation, reported together."""

    def __init__(self, problems: list[InputError]):
        self.problems = problems
        super().__init__("；\n".join(str(p) for p in problems))


class PackError(AnjuError):
    """A rule pack that cannot be loaded or resolved (unknown id, bad YAML, bad extends)."""


class RuleDefinitionError(AnjuError):
    """A rule's parameters are wrong; raised while a pack is compiled."""
