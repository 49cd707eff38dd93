"""Live templates in workbooks: the compiled formulas (``engine.formulas``) in the output cells.

* ``apply_live_formulas(wb, pack)`` writes them into a template built by
  ``engine.workbook.template`` (openpyxl, before saving): ``anju template --live``;
  named helper formulas (redistributed weights) become workbook-level names.
  An output that cannot be compiled keeps an empty, engine-written cell whose
  comment says why; an output whose formula reads such a cell says so too.
* ``live_edits(package, pack, edits)`` is for ``anju recalc``: where an output
  cell holds the formula the pack compiles to, the engine's value becomes the
  formula's cached value (``CachedValue``), so any reader shows the
  authoritative number and the formula stays; where the formula was edited
  (公式被修改) the compiled formula is restored with the engine's value and
  the cell is reported. Cells without a formula (ordinary templates) get plain
  values as before.
"""

from __future__ import annotations

from ..formulas import CompiledSheet, compile_pack, same_formula
from ..model import Pack
from .xlsxpatch import CachedValue, Formula

COMMENT_AUTHOR = "anju"


def apply_live_formulas(wb, pack: Pack, compiled: CompiledSheet | None = None) -> CompiledSheet:
    """Write every compiled output formula into ``wb`` (an openpyxl Workbook with the template's names)."""
    from openpyxl.comments import Comment

    from openpyxl.workbook.defined_name import DefinedName

    compiled = compiled or compile_pack(pack)
    for name, text in compiled.helpers.items():      # named formulas the output formulas use
        wb.defined_names[name] = DefinedName(name, attr_text=text)
    for name in compiled.formulas:
        target = _cell(wb, name)
        if target is None:
            continue
        text = compiled.formula(name)
        if text is not None:
            target.value = "=" + text
        note = compiled.comment(name)
        if note:
            comment = Comment(note, COMMENT_AUTHOR)
            comment.width, comment.height = 260, 110
            target.comment = comment
    return compiled


def _cell(wb, name: str):
    defined = wb.defined_names.get(name)
    if defined is None:
        return None
    for sheet, ref in defined.destinations:
        return wb[sheet][ref.replace("$", "").split(":")[0]]
    return None


def cached(value):
    """An engine value as the cached value of a formula cell ("" where the formula shows a blank)."""
    if value is None:
        return ""
    return value


_COMPILED: dict = {}


def compiled_for(pack: Pack) -> CompiledSheet:
    """A pack's compiled formulas, once per process (batch recalculates many workbooks of one pack)."""
    key = (id(pack), pack.id, pack.version)
    if key not in _COMPILED:
        _COMPILED[key] = compile_pack(pack)
    return _COMPILED[key]


def live_edits(package, pack: Pack, edits: dict, compiled: CompiledSheet | None = None) -> tuple[dict, list]:
    """Adapt recalc's ``{sheet: {cell: value}}`` to a live workbook.

    Returns (edits, restored): ``restored`` lists (sheet, cell, expected, found)
    for output cells whose formula had been edited and is put back.
    """
    compiled = compiled or compile_pack(pack)
    formulas = {name.lower(): text for name, text in compiled.compiled.items()}
    by_cell = {}
    for name, (sheet, ref) in package.defined_names().items():
        expected = formulas.get(name.lower())
        if expected is not None:
            by_cell[(sheet, ref.split(":")[0])] = expected
    out, restored = {}, []
    for sheet, cells in edits.items():
        changed = dict(cells)
        for ref, value in cells.items():
            expected = by_cell.get((sheet, ref))
            if expected is None or isinstance(value, (CachedValue, Formula)):
                continue
            found = package.cell_formula(sheet, ref)
            if found is None:
                continue                      # not a live cell: the value is written as before
            if same_formula(expected, found):
                changed[ref] = CachedValue(cached(value))
            else:
                changed[ref] = Formula(expected, cached(value))
                restored.append((sheet, ref, expected, found))
        out[sheet] = changed
    return out, restored


__all__ = ["apply_live_formulas", "live_edits", "cached"]
