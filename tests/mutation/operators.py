"""Mutants of one module: a handful of operators that matter where permissions, the stale guard,
the ledger's transitions, the DLQ path and the validator's verdicts are decided.

Each mutant is a text splice of the original source (so comments and layout stay put and the diff
is one readable line), checked to parse and to change the module's AST.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator
from dataclasses import dataclass

# The comparison flips: each operator to its off-by-one or negated twin.
_CMP_FLIPS: dict[type[ast.cmpop], tuple[str, str]] = {
    ast.Lt: ("<", "<="),
    ast.LtE: ("<=", "<"),
    ast.Gt: (">", ">="),
    ast.GtE: (">=", ">"),
    ast.Eq: ("==", "!="),
    ast.NotEq: ("!=", "=="),
    ast.In: ("in", "not in"),
    ast.NotIn: ("not in", "in"),
    ast.Is: ("is", "is not"),
    ast.IsNot: ("is not", "is"),
}
_CMP_TOKEN = {
    "<": r"<(?!=)",
    "<=": r"<=",
    ">": r">(?!=)",
    ">=": r">=",
    "==": r"==",
    "!=": r"!=",
    "in": r"(?<![\w.])(?<!not )in(?!\w)",
    "not in": r"(?<![\w.])not\s+in(?!\w)",
    "is": r"(?<![\w.])is(?!\s+not\b)(?!\w)",
    "is not": r"(?<![\w.])is\s+not(?!\w)",
}
# Inside DynamoDB expression strings (condition and key-condition expressions).
_EXPR_CMP = re.compile(r"(?<=\s)(<=|>=|<>|<|>|=)(?=\s)")
_EXPR_CMP_FLIPS = {"<": "<=", "<=": "<", ">": ">=", ">=": ">", "=": "<>", "<>": "="}
_EXPR_BOOL = re.compile(r"\b(AND|OR)\b")
# Where a string is a condition (not an update expression, where `=` assigns): the value of a
# `...ConditionExpression` key or keyword, a name with "condition" in it, or these arguments.
_CONDITION_ARGUMENTS = {"_conditional_update": 2}


@dataclass(frozen=True)
class Mutant:
    module: str  # path under layers/shared, e.g. "connector/domain/ledger.py"
    line: int
    scope: str  # enclosing class/function qualname, "<module>" at top level
    operator: str
    original: str  # the changed line(s) as they read before, whitespace collapsed
    replacement: str  # ... and after
    source: str  # the whole mutated module
    occurrence: int = 1  # several identical mutations in one scope: 1, 2, ...

    @property
    def id(self) -> str:
        """Stable across edits elsewhere in the module: no line number in it."""
        suffix = f" #{self.occurrence}" if self.occurrence > 1 else ""
        return f"{self.module}::{self.scope}::{self.operator}::{self.original} -> {self.replacement}{suffix}"


@dataclass(frozen=True)
class _Splice:
    start: int  # offsets into the source text
    end: int
    text: str
    operator: str
    line: int
    scope: str


def mutants(module: str, source: str, *, expression_strings: bool = False) -> list[Mutant]:
    """Every mutant of `source`; `expression_strings` also mutates DynamoDB expression strings."""
    tree = ast.parse(source)
    baseline = ast.dump(tree)
    offsets = _line_offsets(source)
    found: list[Mutant] = []
    seen: dict[tuple[str, str, str, str], int] = {}
    for splice in _splices(tree, source, offsets, expression_strings):
        mutated = source[: splice.start] + splice.text + source[splice.end :]
        try:
            changed = ast.dump(ast.parse(mutated)) != baseline
        except SyntaxError:
            continue
        if not changed:
            continue
        original, replacement = _changed_lines(source, mutated, splice)
        key = (splice.scope, splice.operator, original, replacement)
        seen[key] = seen.get(key, 0) + 1
        found.append(
            Mutant(
                module, splice.line, splice.scope, splice.operator, original, replacement, mutated, seen[key]
            )
        )
    return found


def _line_offsets(source: str) -> list[int]:
    offsets = [0]
    for line in source.splitlines(keepends=True):
        offsets.append(offsets[-1] + len(line))
    return offsets


def _changed_lines(source: str, mutated: str, splice: _Splice) -> tuple[str, str]:
    """The lines the splice touches, before and after, each collapsed to one line."""
    first = source.rfind("\n", 0, splice.start) + 1
    last = source.find("\n", splice.end)
    last = len(source) if last < 0 else last
    delta = len(splice.text) - (splice.end - splice.start)
    return _collapse(source[first:last]), _collapse(mutated[first : last + delta])


def _collapse(text: str, limit: int = 200) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


class _Walker(ast.NodeVisitor):
    def __init__(self, source: str, offsets: list[int], expression_strings: bool) -> None:
        self.source = source
        self.offsets = offsets
        self.expression_strings = expression_strings
        self.scopes: list[str] = []
        self.splices: list[_Splice] = []
        self.skip: set[int] = set()  # ids of nodes not to mutate (docstrings, f-string parts)
        self.conditions: set[int] = set()  # ids of string constants that are condition expressions

    # --- positions ---------------------------------------------------------------------------------

    def start(self, node: ast.AST) -> int:
        return self.offsets[node.lineno - 1] + _col(self.source, self.offsets, node.lineno, node.col_offset)  # type: ignore[attr-defined]

    def end(self, node: ast.AST) -> int:
        line, col = node.end_lineno, node.end_col_offset  # type: ignore[attr-defined]
        return self.offsets[line - 1] + _col(self.source, self.offsets, line, col)

    def add(self, start: int, end: int, text: str, operator: str) -> None:
        scope = ".".join(self.scopes) or "<module>"
        line = self.source.count("\n", 0, start) + 1
        self.splices.append(_Splice(start, end, text, operator, line, scope))

    # --- scopes -------------------------------------------------------------------------------------

    def _scoped(self, node: ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef) -> None:
        body = node.body
        if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant):
            self.skip.add(id(body[0]))
            self.skip.add(id(body[0].value))
        # Decorators and defaults belong to the enclosing scope.
        for decorator in node.decorator_list:
            self.visit(decorator)
        if not isinstance(node, ast.ClassDef):
            self.visit(node.args)
            if node.returns:
                self.visit(node.returns)
        else:
            for base in node.bases:
                self.visit(base)
        self.scopes.append(node.name)
        for statement in body:
            self.visit(statement)
        self.scopes.pop()

    visit_FunctionDef = _scoped
    visit_AsyncFunctionDef = _scoped
    visit_ClassDef = _scoped

    def visit_Module(self, node: ast.Module) -> None:
        if self.expression_strings:
            for parent in ast.walk(node):
                for part in _condition_parts(parent):
                    self.conditions.update(id(n) for n in ast.walk(part))
        if node.body and isinstance(node.body[0], ast.Expr) and isinstance(node.body[0].value, ast.Constant):
            self.skip.add(id(node.body[0]))
            self.skip.add(id(node.body[0].value))
        self.generic_visit(node)

    def visit_JoinedStr(self, node: ast.JoinedStr) -> None:
        # f-strings build messages; positions inside them are unreliable before Python 3.12.
        return

    # --- expressions --------------------------------------------------------------------------------

    def visit_Compare(self, node: ast.Compare) -> None:
        left = node.left
        for op, right in zip(node.ops, node.comparators, strict=True):
            original, replacement = _CMP_FLIPS[type(op)]
            gap_start, gap_end = self.end(left), self.start(right)
            gap = self.source[gap_start:gap_end]
            match = re.search(_CMP_TOKEN[original], gap)
            if match:
                self.add(gap_start + match.start(), gap_start + match.end(), replacement, "compare")
            left = right
        self.generic_visit(node)

    def visit_BoolOp(self, node: ast.BoolOp) -> None:
        word, other = ("and", "or") if isinstance(node.op, ast.And) else ("or", "and")
        for before, after in zip(node.values, node.values[1:], strict=False):
            gap_start = self.end(before)
            gap = self.source[gap_start : self.start(after)]
            match = re.search(rf"(?<!\w){word}(?!\w)", gap)
            if match:
                self.add(gap_start + match.start(), gap_start + match.end(), other, "and/or")
        self.generic_visit(node)

    def visit_UnaryOp(self, node: ast.UnaryOp) -> None:
        if isinstance(node.op, ast.Not):
            operand = self.source[self.start(node.operand) : self.end(node.operand)]
            # Keep parentheses the operand may need where `not` bound it.
            text = operand if _is_atom(node.operand) else f"({operand})"
            self.add(self.start(node), self.end(node), text, "drop-not")
        self.generic_visit(node)

    def visit_Constant(self, node: ast.Constant) -> None:
        if id(node) in self.skip:
            return
        value = node.value
        if isinstance(value, bool):
            self.add(self.start(node), self.end(node), str(not value), "bool")
        elif isinstance(value, int):
            text = self.source[self.start(node) : self.end(node)]
            if _int_literal(text) == value:
                for delta in (1, -1):
                    self.add(self.start(node), self.end(node), str(value + delta), f"int{delta:+d}")
        elif isinstance(value, str) and id(node) in self.conditions:
            self._expression_string(node)

    def _expression_string(self, node: ast.Constant) -> None:
        text = self.source[self.start(node) : self.end(node)]
        base = self.start(node)
        for match in _EXPR_CMP.finditer(text):
            self.add(
                base + match.start(), base + match.end(), _EXPR_CMP_FLIPS[match.group(1)], "expr-compare"
            )
        for match in _EXPR_BOOL.finditer(text):
            other = "OR" if match.group(1) == "AND" else "AND"
            self.add(base + match.start(), base + match.end(), other, "expr-and/or")

    # --- statements ---------------------------------------------------------------------------------

    def _drop(self, node: ast.stmt, text: str = "pass") -> None:
        self.add(self.start(node), self.end(node), text, "drop")

    def visit_Expr(self, node: ast.Expr) -> None:
        if id(node) not in self.skip and not (
            isinstance(node.value, ast.Constant) and node.value.value is Ellipsis
        ):
            self._drop(node)
        self.generic_visit(node)

    def visit_Raise(self, node: ast.Raise) -> None:
        if self.scopes:
            self._drop(node)
        self.generic_visit(node)

    def visit_Return(self, node: ast.Return) -> None:
        if node.value is not None and not (isinstance(node.value, ast.Constant) and node.value.value is None):
            self.add(self.start(node), self.end(node), "return None", "return-none")
        self.generic_visit(node)

    def visit_AugAssign(self, node: ast.AugAssign) -> None:
        self._drop(node)
        self.generic_visit(node)

    def visit_Assign(self, node: ast.Assign) -> None:
        # Writes into state (an attribute, an entry); a dropped local only raises NameError.
        if self.scopes and all(isinstance(t, ast.Attribute | ast.Subscript) for t in node.targets):
            self._drop(node)
        self.generic_visit(node)

    def visit_Continue(self, node: ast.Continue) -> None:
        self._drop(node)

    def visit_Break(self, node: ast.Break) -> None:
        self._drop(node)

    def visit_If(self, node: ast.If) -> None:
        body = node.body
        if not (len(body) == 1 and isinstance(body[0], ast.Pass)):
            self.add(self.start(body[0]), self.end(body[-1]), "pass", "drop-if-body")
        self.generic_visit(node)


def _splices(
    tree: ast.Module, source: str, offsets: list[int], expression_strings: bool
) -> Iterator[_Splice]:
    walker = _Walker(source, offsets, expression_strings)
    walker.visit(tree)
    return iter(sorted(walker.splices, key=lambda s: (s.start, s.end, s.operator, s.text)))


def _condition_parts(node: ast.AST) -> Iterator[ast.AST]:
    """The parts of `node` that hold a DynamoDB condition expression."""
    if isinstance(node, ast.Dict):
        for key, value in zip(node.keys, node.values, strict=True):
            if isinstance(key, ast.Constant) and str(key.value).endswith("ConditionExpression"):
                yield value
    elif isinstance(node, ast.Call):
        for keyword in node.keywords:
            if (keyword.arg or "").endswith("ConditionExpression"):
                yield keyword.value
        name = node.func.attr if isinstance(node.func, ast.Attribute) else getattr(node.func, "id", "")
        position = _CONDITION_ARGUMENTS.get(name)
        if position is not None and len(node.args) > position:
            yield node.args[position]
    elif isinstance(node, ast.Assign | ast.AugAssign | ast.AnnAssign):
        targets = node.targets if isinstance(node, ast.Assign) else [node.target]
        if any(isinstance(t, ast.Name) and "condition" in t.id.lower() for t in targets):
            yield node.value  # type: ignore[misc]


def _col(source: str, offsets: list[int], line: int, byte_col: int) -> int:
    """ast columns count UTF-8 bytes; offsets into the text count characters."""
    text = source[offsets[line - 1] : offsets[line] if line < len(offsets) else len(source)]
    return len(text.encode("utf-8")[:byte_col].decode("utf-8", errors="ignore"))


def _int_literal(text: str) -> int | None:
    try:
        value = ast.literal_eval(text)
    except (ValueError, SyntaxError):
        return None
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _is_atom(node: ast.expr) -> bool:
    return isinstance(node, ast.Name | ast.Attribute | ast.Call | ast.Subscript | ast.Constant)
