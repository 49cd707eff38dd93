"""Sandboxed Decimal expressions for ``formula`` rules and veto conditions (simpleeval).

An expression is parsed once, when its pack is compiled: the syntax tree is
checked against a whitelist (no attribute access, subscripts, comprehensions,
lambdas, f-strings, imports) and every numeric literal is replaced by the
Decimal spelled in the source, so ``0.1`` means exactly one tenth.
Evaluation reuses the checked tree; numbers and strings stay bounded.
"""

from __future__ import annotations

import ast
import operator
from decimal import ROUND_CEILING, ROUND_FLOOR, ROUND_HALF_UP, Decimal, DivisionByZero, InvalidOperation

import simpleeval

from .errors import InputError, RuleDefinitionError
from .numbers import MAX_ABS, quantize

MAX_EXPRESSION_LENGTH = 1000
MAX_STRING_LITERAL = 200
MAX_EXPONENT = 100

_ALLOWED_NODES = (
    ast.Expression, ast.Expr, ast.BinOp, ast.UnaryOp, ast.BoolOp, ast.Compare, ast.IfExp,
    ast.Call, ast.Name, ast.Load, ast.Constant,
    ast.Add, ast.Sub, ast.Mult, ast.Div, ast.Mod, ast.Pow, ast.USub, ast.UAdd, ast.Not,
    ast.And, ast.Or, ast.Eq, ast.NotEq, ast.Lt, ast.LtE, ast.Gt, ast.GtE,
)


def _bounded(value):
    if isinstance(value, Decimal) and value.is_finite() and abs(value) > MAX_ABS:
        raise ArithmeticError("结果数值过大")
    return value


def _arith(op):
    def apply(a, b):
        return _bounded(op(a, b))
    return apply


def _power(a, b):
    if not isinstance(b, Decimal) or b != b.to_integral_value() or abs(b) > MAX_EXPONENT:
        raise ArithmeticError(f"乘方的指数须为不超过{MAX_EXPONENT}的整数")
    return _bounded(a ** b)


def _round(x, places=0):
    return quantize(x, int(places), ROUND_HALF_UP)


def _clamp(x, low, high):
    return max(low, min(high, x))


OPERATORS = {
    ast.Add: _arith(operator.add), ast.Sub: _arith(operator.sub), ast.Mult: _arith(operator.mul),
    ast.Div: _arith(operator.truediv), ast.Mod: _arith(operator.mod), ast.Pow: _power,
    ast.USub: operator.neg, ast.UAdd: operator.pos, ast.Not: operator.not_,
    ast.Eq: operator.eq, ast.NotEq: operator.ne, ast.Lt: operator.lt, ast.LtE: operator.le,
    ast.Gt: operator.gt, ast.GtE: operator.ge,
}

FUNCTIONS = {
    "min": min, "max": max, "abs": abs, "round": _round,
    "floor": lambda x: x.to_integral_value(rounding=ROUND_FLOOR),
    "ceil": lambda x: x.to_integral_value(rounding=ROUND_CEILING),
    "clamp": _clamp,
}


class Expression:
    """A checked, parsed expression; ``evaluate(names)`` returns a Decimal or bool."""

    def __init__(self, source: str, allowed_names: set[str], where: str):
        self.source = str(source).strip()
        self.where = where
        self.names_used: set[str] = set()
        if not self.source:
            raise RuleDefinitionError(f"{where}：表达式为空")
        if len(self.source) > MAX_EXPRESSION_LENGTH:
            raise RuleDefinitionError(f"{where}：表达式过长（超过{MAX_EXPRESSION_LENGTH}个字符）")
        try:
            tree = ast.parse(self.source, mode="eval")
        except SyntaxError as exc:
            raise RuleDefinitionError(f"{where}：表达式“{self.source}”有语法错误（第{exc.offset}个字符附近）") from None
        for node in ast.walk(tree):
            self._check_node(node, allowed_names)
        self.tree = tree.body

    def _check_node(self, node, allowed_names):
        if not isinstance(node, _ALLOWED_NODES):
            kind = type(node).__name__
            raise RuleDefinitionError(f"{self.where}：表达式“{self.source}”使用了不允许的语法（{kind}）；只允许四则运算、比较、条件表达式和函数 {', '.join(FUNCTIONS)}")
        if isinstance(node, ast.Call):
            if not isinstance(node.func, ast.Name) or node.func.id not in FUNCTIONS or node.keywords:
                raise RuleDefinitionError(f"{self.where}：表达式“{self.source}”调用了不允许的函数；可用函数：{', '.join(FUNCTIONS)}")
        elif isinstance(node, ast.Name):
            if node.id not in FUNCTIONS and node.id not in allowed_names:
                raise RuleDefinitionError(f"{self.where}：表达式中的名称“{node.id}”未定义；可用名称：{', '.join(sorted(allowed_names))}")
            self.names_used.add(node.id)
        elif isinstance(node, ast.Constant):
            if isinstance(node.value, bool) or node.value is None:
                return
            if isinstance(node.value, (int, float)):
                literal = ast.get_source_segment(self.source, node) or repr(node.value)
                node.value = Decimal(literal.replace("_", ""))
            elif isinstance(node.value, str):
                if len(node.value) > MAX_STRING_LITERAL:
                    raise RuleDefinitionError(f"{self.where}：表达式中的字符串过长")
            else:
                raise RuleDefinitionError(f"{self.where}：表达式含不支持的常量")

    def evaluate(self, names: dict, code: str | None = None):
        evaluator = simpleeval.SimpleEval(operators=OPERATORS, functions=FUNCTIONS, names=names)
        try:
            return evaluator.eval(self.source, previously_parsed=self.tree)
        except (ZeroDivisionError, DivisionByZero):
            raise InputError(f"{self.where}：计算“{self.source}”时出现除以零", code) from None
        except (ArithmeticError, InvalidOperation) as exc:
            raise InputError(f"{self.where}：计算“{self.source}”失败：{exc}", code) from None
        except simpleeval.InvalidExpression as exc:
            raise InputError(f"{self.where}：计算“{self.source}”失败：{exc}", code) from None
        except TypeError:
            raise InputError(f"{self.where}：计算“{self.source}”时数据类型不匹配（例如把是/否当作数字）", code) from None
