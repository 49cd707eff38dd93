"""The 重新计算 button: a macro-enabled workbook built on Linux from committed VBA sources.

``engine.button.ovba`` writes an [MS-OVBA] ``vbaProject.bin`` (compound file, ``dir``
stream, compressed module source, no compiled cache) from text modules;
``engine.button.xlsm`` turns an openpyxl ``.xlsx`` into an ``.xlsm`` with that project,
the xlwings standalone module taken from the installed xlwings package, our
``AnjuButton.bas`` and a form button bound to ``AnjuRecalculate``.
"""
