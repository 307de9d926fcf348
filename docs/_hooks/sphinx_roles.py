"""Griffe extension: Sphinx cross-reference roles in docstrings become links.

rindle's docstrings use Sphinx roles (``:class:`Broker```,
``:meth:`~rindle_core.Broker.close```); mkdocstrings renders Markdown, where
they would show as raw text. When a package has been loaded, every docstring
of its own (not those of re-exports) is rewritten once, in memory: a role
whose target griffe resolves — from the docstring's own scope, as Python
would — becomes an mkdocs-autorefs cross-reference to the object's canonical
path; any other (``ValueError``, ``boto3.Session``) becomes inline code. The
source files are not touched.

References are ``optional``: one to an object the reference does not render
(a private helper) shows as code instead of failing the strict build;
``tests/test_docs_api.py`` checks that the rendered page has no raw role and
that the usual targets are links.

Enabled in ``mkdocs.yml`` under the python handler's ``extensions``.
"""

from __future__ import annotations

import html
import re
from collections.abc import Callable, Iterator
from typing import Any

#: ``:role:`target``` and ``:role:`~dotted.target``` (also ``:py:class:``).
ROLE = re.compile(
    r":(?:py:)?(?P<role>class|exc|func|meth|attr|data|const|obj|mod):"
    r"`(?P<tilde>~?)(?P<target>[^`\s]+)`"
)

Resolver = Callable[[str], "str | None"]


def rewrite_roles(text: str, resolve: Resolver) -> str:
    """*text* with every Sphinx role replaced: a link when *resolve* knows the
    target (it returns the identifier to link to), else inline code.

    The link text is the target as written, or its last part with ``~``;
    callables (``:func:``, ``:meth:``) get ``()``, as Sphinx shows them.
    """

    def replace(match: re.Match[str]) -> str:
        target = match["target"]
        shown = target.lstrip(".")
        if match["tilde"]:
            shown = shown.rsplit(".", 1)[-1]
        if match["role"] in ("func", "meth") and not shown.endswith(")"):
            shown += "()"
        identifier = resolve(target)
        if identifier is None:
            return f"`{shown}`"
        return (
            f'<autoref identifier="{html.escape(identifier)}" optional>'
            f"<code>{html.escape(shown)}</code></autoref>"
        )

    return ROLE.sub(replace, text)


def _objects(obj: Any) -> Iterator[Any]:
    """*obj* and everything it defines (modules, classes, functions, attributes),
    never following an alias (a re-export's docstring is its target's)."""
    yield obj
    for member in list(obj.members.values()):
        if not member.is_alias:
            yield from _objects(member)


try:
    import griffe
except ImportError:  # the tests import rewrite_roles without griffe installed
    griffe = None


if griffe is not None:

    class SphinxRoles(griffe.Extension):
        """Rewrite the roles of every docstring of a package once it is loaded."""

        def on_package(self, *, pkg: Any, loader: Any, **kwargs: Any) -> None:
            collection = loader.modules_collection
            for obj in _objects(pkg):
                if obj.docstring is not None and ":" in obj.docstring.value:
                    scope = obj
                    obj.docstring.value = rewrite_roles(
                        obj.docstring.value,
                        lambda target, scope=scope: _resolve(scope, target, collection),
                    )

    def _resolve(scope: Any, target: str, collection: Any) -> str | None:
        """The canonical path of *target* seen from *scope*, if griffe knows it."""
        if target.startswith("."):
            return None  # a relative module (``._leases``): private
        first, _, rest = target.partition(".")
        if first in collection.members:
            path = target
        else:
            try:
                path = scope.resolve(first) + (f".{rest}" if rest else "")
            except griffe.NameResolutionError:
                return None
        try:
            found = collection[path]
            return str(found.canonical_path)
        except (KeyError, ValueError, griffe.AliasResolutionError, griffe.CyclicAliasError):
            return None
