"""MkDocs hook: the state machines drawn from the tables in ``rindle_core.states``.

A page says ``<!-- rindle:state-diagram session -->`` (or ``asset``, ``job``)
where a diagram belongs; at build time the marker becomes a Mermaid
``stateDiagram-v2`` generated from ``SESSION_TRANSITIONS``,
``ASSET_TRANSITIONS`` or ``JOB_TRANSITIONS`` — one arrow per allowed
transition, so the picture cannot drift from the code. Terminal states (no
transition leaves them) get an arrow to the end mark and a heavy border, as
do (border only) the states that only reserved states follow, final until a
reserved feature lands; reserved states (in the table, written by no feature
yet) are dashed and labelled ``(reserved)``. ``tests/test_docs_diagrams.py`` checks the
generator against the tables. An unknown machine name fails the build.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from enum import StrEnum
from typing import Any

from rindle_core.states import ASSET_TRANSITIONS, JOB_TRANSITIONS, SESSION_TRANSITIONS

#: A marker on a line of its own (a mention inside text or code is left alone).
MARKER = re.compile(r"^<!--\s*rindle:state-diagram\s+(?P<machine>[a-z]+)\s*-->[ \t]*$", re.M)

MACHINES: Mapping[str, Mapping[Any, frozenset[Any]]] = {
    "session": SESSION_TRANSITIONS,
    "asset": ASSET_TRANSITIONS,
    "job": JOB_TRANSITIONS,
}

#: Where each machine starts (the tables list moves, not beginnings), with a
#: label when there is more than one way in: resumable sessions are created
#: ``signed`` (their session URI is the signature).
INITIAL: Mapping[str, Mapping[str, str]] = {
    "session": {"initialized": "", "signed": "resumable"},
    "asset": {"staged": ""},
    "job": {"pending": ""},
}

#: States in the tables that no rindle feature writes yet (tests/test_fsm_writes.py
#: keeps the same list and fails once one is written).
RESERVED: Mapping[str, tuple[str, ...]] = {
    "asset": ("processing", "ready", "degraded"),
}

TERMINAL_STYLE = "stroke-width:3px,font-weight:bold"
RESERVED_STYLE = "stroke-dasharray:5 5,color:#777,fill:#f4f4f4"


def _name(state: Any) -> str:
    return state.value if isinstance(state, StrEnum) else str(state)


def state_diagram(machine: str) -> str:
    """The Mermaid ``stateDiagram-v2`` source of *machine* (``session``, ``asset``, ``job``)."""
    try:
        table = MACHINES[machine]
    except KeyError:
        known = ", ".join(MACHINES)
        raise ValueError(f"unknown state machine {machine!r} (known: {known})") from None
    order = list(table)  # the enum's order: the lifecycle's
    reserved = RESERVED.get(machine, ())
    terminal = [_name(s) for s in order if not table[s]]
    final_now = [
        _name(s)
        for s in order
        if table[s] and _name(s) not in reserved and all(_name(t) in reserved for t in table[s])
    ]
    lines = ["stateDiagram-v2"]
    for state in order:
        if _name(state) in reserved:
            lines.append(f'    state "{_name(state)} (reserved)" as {_name(state)}')
    for start, label in INITIAL[machine].items():
        lines.append(f"    [*] --> {start}" + (f" : {label}" if label else ""))
    for source in order:
        for target in sorted(table[source], key=order.index):
            lines.append(f"    {_name(source)} --> {_name(target)}")
    lines.extend(f"    {state} --> [*]" for state in terminal)
    lines.append(f"    classDef terminal {TERMINAL_STYLE}")
    if terminal or final_now:
        lines.append(f"    class {','.join(terminal + final_now)} terminal")
    if reserved:
        lines.append(f"    classDef reserved {RESERVED_STYLE}")
        lines.append(f"    class {','.join(reserved)} reserved")
    return "\n".join(lines)


def replace_markers(markdown: str) -> str:
    """*markdown* with every state-diagram marker replaced by its ```mermaid block."""
    return MARKER.sub(lambda m: f"```mermaid\n{state_diagram(m['machine'])}\n```", markdown)


def on_page_markdown(markdown: str, page: Any, config: Any, files: Any) -> str:
    return replace_markers(markdown)
