"""No dead states: every state in an enum is written somewhere in rindle_core.

The transition tables say which moves are *allowed*; this test reads the
package's source to see which states the code ever *writes*, so a state
that only exists on paper (in the enum and the table, never the target of a
compare-and-set or an insert) fails here instead of misleading readers,
operators and the state-machine tests.

A state is written when it is (found by walking the AST of every module):

* the ``target`` of ``cas_session`` / ``cas_asset`` / ``cas_job``, or one of
  the ``via`` states a compare-and-set moves a session through;
* the ``state=`` of a ``.values(...)`` (an insert or an update);
* passed, directly or through any chain of calls, as the argument a
  function hands on to one of the above (``Maintenance.settle(s,
  SessionState.EXPIRED)`` → ``cas_session(..., target, ...)``), or assigned
  to the local variable that is written (``target = JobState.FAILED``), or
  bound to it by a ``for`` loop or by a call, whose function's ``return``
  (and the module constants it returns from) are then read
  (``for step in verification_path(state)`` → ``_TO_VERIFYING``).
"""

from __future__ import annotations

import ast
from collections import defaultdict
from collections.abc import Iterator
from enum import StrEnum
from pathlib import Path

import pytest

import rindle_core
from rindle_core import AssetState, JobState, SessionState

PACKAGE = Path(rindle_core.__file__).parent
ENUMS: dict[str, type[StrEnum]] = {
    "SessionState": SessionState,
    "AssetState": AssetState,
    "JobState": JobState,
}
#: Aliases the package uses for the enums (``states.py``: ``_S = SessionState``).
ALIASES = {"_S": "SessionState", "_A": "AssetState", "_J": "JobState", **{n: n for n in ENUMS}}
#: The compare-and-set writers and the name of their target parameter.
CAS = {"cas_session", "cas_asset", "cas_job"}


def _modules() -> Iterator[tuple[Path, ast.Module]]:
    for path in sorted(PACKAGE.rglob("*.py")):
        if "migrations" in path.parts:
            continue  # migrations create columns, they never move a row's state
        yield path, ast.parse(path.read_text(encoding="utf-8"), filename=str(path))


def _state_ref(node: ast.AST) -> tuple[str, str] | None:
    """``SessionState.SIGNED`` / ``_S.SIGNED`` / ``X.Y.value`` -> (enum, member)."""
    if isinstance(node, ast.Attribute) and node.attr == "value":
        node = node.value
    if (
        isinstance(node, ast.Attribute)
        and isinstance(node.value, ast.Name)
        and node.value.id in ALIASES
    ):
        return ALIASES[node.value.id], node.attr
    return None


def _params(func: ast.FunctionDef | ast.AsyncFunctionDef) -> list[str]:
    names = [a.arg for a in (*func.args.posonlyargs, *func.args.args)]
    if names and names[0] in ("self", "cls"):
        names = names[1:]
    return names


def _callee(call: ast.Call) -> str | None:
    if isinstance(call.func, ast.Name):
        return call.func.id
    if isinstance(call.func, ast.Attribute):
        return call.func.attr
    return None


class _Scan:
    """Every function of the package, with the calls made inside it."""

    def __init__(self) -> None:
        #: function name -> its definitions (names may repeat across modules)
        self.defs: dict[str, list[ast.FunctionDef | ast.AsyncFunctionDef]] = defaultdict(list)
        #: (enclosing function or None, call) for every call in the package
        self.calls: list[tuple[ast.FunctionDef | ast.AsyncFunctionDef | None, ast.Call]] = []
        #: module-level constant name -> its value
        self.constants: dict[str, list[ast.expr]] = defaultdict(list)
        for _, module in _modules():
            self._visit(module, None)

    def _visit(self, node: ast.AST, func: ast.FunctionDef | ast.AsyncFunctionDef | None) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef):
                self.defs[child.name].append(child)
                self._visit(child, child)
            else:
                if func is None and isinstance(child, ast.Assign | ast.AnnAssign) and child.value:
                    targets = child.targets if isinstance(child, ast.Assign) else [child.target]
                    for target in targets:
                        if isinstance(target, ast.Name):
                            self.constants[target.id].append(child.value)
                if isinstance(child, ast.Call):
                    self.calls.append((func, child))
                self._visit(child, func)

    def written(self) -> set[tuple[str, str]]:
        """Every (enum, member) the package writes."""
        found: set[tuple[str, str]] = set()
        # Sinks: (function name, parameter name) whose argument ends up written.
        sinks: set[tuple[str, str]] = {(name, "target") for name in CAS}
        # The states one compare-and-set passes through on its way (ADR 0113).
        sinks |= {("cas_session", "via"), ("complete_verified", "via")}
        pending: list[tuple[ast.FunctionDef | ast.AsyncFunctionDef | None, ast.expr]] = []
        for func, call in self.calls:
            if _callee(call) == "values":
                pending += [(func, kw.value) for kw in call.keywords if kw.arg == "state"]
        changed = True
        while changed:
            changed = False
            for func, call in self.calls:
                name = _callee(call)
                for sink_func, param in list(sinks):
                    if name != sink_func:
                        continue
                    for arg in self._argument(call, sink_func, param):
                        pending.append((func, arg))
            while pending:
                func, expr = pending.pop()
                ref = _state_ref(expr)
                if ref is not None:
                    found.add(ref)
                    continue
                if isinstance(expr, ast.Attribute) and expr.attr == "value":
                    expr = expr.value  # ``target.value``
                if not isinstance(expr, ast.Name) or func is None:
                    continue
                if expr.id in _params(func) and (func.name, expr.id) not in sinks:
                    sinks.add((func.name, expr.id))
                    changed = True
                found |= self._assigned(func, expr.id)
        return found

    def _argument(self, call: ast.Call, func_name: str, param: str) -> list[ast.expr]:
        args = [kw.value for kw in call.keywords if kw.arg == param]
        for definition in self.defs.get(func_name, []):
            params = _params(definition)
            if param in params and params.index(param) < len(call.args):
                args.append(call.args[params.index(param)])
        return args

    def _assigned(
        self, func: ast.FunctionDef | ast.AsyncFunctionDef, name: str
    ) -> set[tuple[str, str]]:
        """State references bound to local *name*: assigned (``target, r = JobState.X,
        "x"``), looped over (``for name in …``), or returned by a function called there."""
        refs: set[tuple[str, str]] = set()
        for node in ast.walk(func):
            if isinstance(node, ast.Assign):
                targets = node.targets
            elif isinstance(node, ast.For):
                targets = [node.target]
            else:
                continue
            bound = {n.id for t in targets for n in ast.walk(t) if isinstance(n, ast.Name)}
            if name in bound:
                value = node.value if isinstance(node, ast.Assign) else node.iter
                refs |= self._refs(value, depth=3)
        return refs

    def _refs(self, expr: ast.AST, *, depth: int) -> set[tuple[str, str]]:
        """State references in *expr*, in what functions it calls return, and in
        the module constants those returns read."""
        refs = {r for n in ast.walk(expr) if (r := _state_ref(n)) is not None}
        if depth == 0:
            return refs
        for node in ast.walk(expr):
            if isinstance(node, ast.Call) and (callee := _callee(node)) is not None:
                for definition in self.defs.get(callee, []):
                    for ret in ast.walk(definition):
                        if isinstance(ret, ast.Return) and ret.value is not None:
                            refs |= self._refs(ret.value, depth=depth - 1)
            elif isinstance(node, ast.Name):
                for value in self.constants.get(node.id, []):
                    refs |= self._refs(value, depth=depth - 1)
        return refs


@pytest.fixture(scope="module")
def written() -> set[tuple[str, str]]:
    return _Scan().written()


def test_the_scan_sees_the_writes_it_must(written: set[tuple[str, str]]) -> None:
    """The scanner itself: writes known to exist, direct and indirect, are found."""
    assert {
        ("AssetState", "STAGED"),  # insert .values(state=...)
        ("SessionState", "VERIFYING"),  # cas_session(..., SessionState.VERIFYING, ...)
        ("SessionState", "EXPIRED"),  # settle(s, SessionState.EXPIRED) -> cas_session(target)
        ("AssetState", "ANALYZING"),  # _move(asset, AssetState.ANALYZING) -> cas_asset(target)
        ("JobState", "SUCCEEDED"),  # target, result = JobState.SUCCEEDED, ... -> .values()
        ("SessionState", "UPLOADED"),  # for step in verification_path(...) -> _TO_VERIFYING
        ("SessionState", "RESUMING"),  # target = progress_state(...) -> its returns
    } <= written


#: States of DESIGN.md's asset machine after ``available`` that belong to
#: features rindle has not built: variant processing (``processing``,
#: ``ready``, ``degraded``) and asset deletion (``deleted``, with
#: ``delete_asset``). They are kept so the table matches the design; each is
#: checked to be *unwritten*, so this list must shrink when its feature lands.
RESERVED: dict[StrEnum, str] = {
    AssetState.PROCESSING: "variant processing is not built",
    AssetState.READY: "variant processing is not built",
    AssetState.DEGRADED: "variant processing is not built",
}


@pytest.mark.parametrize("state", list(RESERVED), ids=lambda s: f"{type(s).__name__}.{s.name}")
def test_reserved_states_are_not_written_yet(state: StrEnum, written: set[tuple[str, str]]) -> None:
    assert (type(state).__name__, state.name) not in written, (
        f"{type(state).__name__}.{state.name} is written now: take it off RESERVED"
    )


@pytest.mark.parametrize(
    "state",
    [s for enum in ENUMS.values() for s in enum if s not in RESERVED],
    ids=lambda s: f"{type(s).__name__}.{s.name}",
)
def test_every_state_is_written_somewhere(state: StrEnum, written: set[tuple[str, str]]) -> None:
    assert (type(state).__name__, state.name) in written, (
        f"{type(state).__name__}.{state.name} is in the enum and the transition table, "
        "but no code in rindle_core ever writes it: remove it, or write it"
    )
