"""anju: a scoring engine for the performance evaluation of urban affordable-housing funds.

The scoring core (``engine.model``, ``engine.numbers``, ``engine.ruletypes``,
``engine.expressions``, ``engine.scoring``, ``engine.packs``, ``engine.checks``)
is pure: it imports no file, Excel or CLI code. Adapters live at the edge:
``engine.packfiles`` (YAML), ``engine.workbook`` (xlsx files), ``engine.button``
(xlwings / LibreOffice) and ``engine.cli``.
"""

__version__ = "0.1.0"
