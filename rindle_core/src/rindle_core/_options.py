"""Reading a storage's options: one reader, one message format, for every plugin.

Every storage plugin's factory (``create_storage(options, *, base_dir)``,
see :mod:`rindle_core.plugins`) reads its ``[storage.NAME]`` table with an
:class:`Options`::

    def create_storage(options: Mapping[str, object], /, *, base_dir: Path) -> MyStorage:
        read = Options(options, known=("bucket", "key_file", "read_timeout"), base_dir=base_dir)
        return MyStorage(
            read.string("bucket", required=True),
            key_file=read.path("key_file", kind="file"),
            read_timeout=read.seconds("read_timeout", 10.0),
        )

Messages name the option and never quote a string value (options may be
credentials); :func:`rindle_core.plugins.build_storage` puts the storage in
front, so a configuration file's mistakes read::

    storage 'media' (s3): unknown option 'bukcet' (did you mean 'bucket'?)
    storage 'media' (s3): option 'bucket' is required
    storage 'media' (s3): option 'max_attempts' must be an integer from 1 to 20, got a string
    storage 'files' (local): option 'root' must be a path, got 3

Paths are resolved against *base_dir*: the directory of the configuration
file, or the working directory for storages built from Python.
"""

from __future__ import annotations

import difflib
import math
import os
from collections.abc import Collection, Iterable, Mapping
from pathlib import Path
from typing import Final, Literal, overload

from ._errors import ConfigurationError

__all__ = [
    "Options",
    "check_boolean",
    "check_integer",
    "check_seconds",
    "check_string",
    "option_error",
    "unknown_option",
]

#: Keys every reader accepts and ignores: ``type`` picks the plugin.
_ALWAYS: Final = frozenset({"type"})


def shown(value: object) -> str:
    """How a message shows a wrong *value*: numbers and booleans, else only their kind."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        text = repr(value)
        return text if len(text) <= 24 else f"a {len(text)}-digit number"
    kinds = {str: "a string", bytes: "bytes", list: "an array", tuple: "an array", dict: "a table"}
    for kind, name in kinds.items():
        if isinstance(value, kind):
            return name
    return f"a {type(value).__name__}"


def option_error(name: str, problem: str) -> ConfigurationError:
    """``option 'NAME' PROBLEM``: the one shape of a bad option's message."""
    return ConfigurationError(f"option {name!r} {problem}")


def unknown_option(name: str, known: Iterable[str]) -> ConfigurationError:
    """``unknown option 'NAME' (did you mean 'OTHER'?)``."""
    close = difflib.get_close_matches(name, sorted(known), n=1)
    hint = f" (did you mean {close[0]!r}?)" if close else ""
    return ConfigurationError(f"unknown option {name!r}{hint}")


def _must(name: str, expected: str, value: object) -> ConfigurationError:
    return option_error(name, f"must be {expected}, got {shown(value)}")


def check_string(name: str, value: object, *, choices: Collection[str] = ()) -> str:
    """*value* if it is a non-empty string (one of *choices*, when given)."""
    if choices:
        if not isinstance(value, str) or value not in choices:
            listed = ", ".join(repr(choice) for choice in sorted(choices))
            raise _must(name, f"one of {listed}", value)
        return value
    if not isinstance(value, str) or not value.strip():
        raise _must(name, "a non-empty string", value)
    return value


def check_integer(name: str, value: object, *, minimum: int = 1, maximum: int | None = None) -> int:
    """*value* if it is an integer (not a boolean) from *minimum* to *maximum*."""
    expected = (
        f"an integer from {minimum} to {maximum}"
        if maximum is not None
        else f"an integer of at least {minimum}"
    )
    if type(value) is not int or value < minimum or (maximum is not None and value > maximum):
        raise _must(name, expected, value)
    return value


def check_seconds(
    name: str, value: object, *, maximum: float = 3600, allow_zero: bool = False
) -> float:
    """*value* as seconds, if it is a finite number in ``(0, maximum]`` (``[0, …]``)."""
    low = "0" if allow_zero else "above 0"
    expected = f"a number of seconds {'from ' if allow_zero else ''}{low} to {maximum:g}"
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise _must(name, expected, value)
    # Compare before converting: float() of a huge int raises OverflowError.
    if isinstance(value, float) and not math.isfinite(value):
        raise _must(name, expected, value)
    if value < 0 or (value == 0 and not allow_zero) or value > maximum:
        raise _must(name, expected, value)
    return float(value)


def check_boolean(name: str, value: object) -> bool:
    """*value* if it is ``true`` or ``false``."""
    if not isinstance(value, bool):
        raise _must(name, "true or false", value)
    return value


class Options:
    """The options of one storage, read and checked one by one.

    *values* is the ``[storage.NAME]`` table (``type`` is ignored); a key
    outside *known* is refused at once, with a did-you-mean. A key given as
    ``None`` counts as not given. *base_dir* resolves relative paths; it
    defaults to the working directory.
    """

    def __init__(
        self,
        values: Mapping[str, object],
        *,
        known: Iterable[str],
        base_dir: str | os.PathLike[str] | None = None,
    ) -> None:
        self._known = frozenset(known)
        for name in sorted(values):
            if not isinstance(name, str) or (name not in self._known and name not in _ALWAYS):
                raise unknown_option(str(name), self._known)
        self._values = {k: v for k, v in values.items() if k not in _ALWAYS and v is not None}
        self.base_dir = Path(base_dir) if base_dir is not None else Path.cwd()

    def __contains__(self, name: object) -> bool:
        return name in self._values

    def __repr__(self) -> str:  # names only: values may be credentials
        return f"Options({sorted(self._values)!r}, base_dir={str(self.base_dir)!r})"

    def error(self, name: str, problem: str) -> ConfigurationError:
        """A :class:`ConfigurationError` ``option 'NAME' PROBLEM``."""
        return option_error(name, problem)

    def get(self, name: str, default: object = None) -> object:
        """The raw value of *name* (an object built in Python, say), or *default*."""
        self._check_known(name)
        return self._values.get(name, default)

    def _required(self, name: str) -> object:
        self._check_known(name)
        if name not in self._values:
            raise option_error(name, "is required")
        return self._values[name]

    def _check_known(self, name: str) -> None:
        if name not in self._known:  # a plugin bug, not a user's mistake
            raise KeyError(f"option {name!r} is not among the known options")

    @overload
    def string(
        self, name: str, default: str, *, required: bool = ..., choices: Collection[str] = ...
    ) -> str: ...
    @overload
    def string(
        self,
        name: str,
        default: None = None,
        *,
        required: Literal[True],
        choices: Collection[str] = ...,
    ) -> str: ...
    @overload
    def string(
        self,
        name: str,
        default: None = None,
        *,
        required: Literal[False] = False,
        choices: Collection[str] = ...,
    ) -> str | None: ...
    def string(
        self,
        name: str,
        default: str | None = None,
        *,
        required: bool = False,
        choices: Collection[str] = (),
    ) -> str | None:
        """A non-empty string (one of *choices*, when given)."""
        if required:
            return check_string(name, self._required(name), choices=choices)
        value = self.get(name)
        return default if value is None else check_string(name, value, choices=choices)

    def integer(
        self, name: str, default: int, *, minimum: int = 1, maximum: int | None = None
    ) -> int:
        """An integer from *minimum* (default 1) to *maximum*."""
        return check_integer(name, self.get(name, default), minimum=minimum, maximum=maximum)

    def seconds(
        self, name: str, default: float, *, maximum: float = 3600, allow_zero: bool = False
    ) -> float:
        """A finite number of seconds above 0 (or from 0) up to *maximum*."""
        return check_seconds(name, self.get(name, default), maximum=maximum, allow_zero=allow_zero)

    @overload
    def boolean(self, name: str, default: bool) -> bool: ...
    @overload
    def boolean(self, name: str, default: None = None) -> bool | None: ...
    def boolean(self, name: str, default: bool | None = None) -> bool | None:
        """``true`` or ``false``."""
        value = self.get(name)
        return default if value is None else check_boolean(name, value)

    @overload
    def path(
        self, name: str, *, required: Literal[True], kind: Literal["file", "dir"] | None = ...
    ) -> Path: ...
    @overload
    def path(
        self,
        name: str,
        *,
        required: Literal[False] = False,
        kind: Literal["file", "dir"] | None = ...,
    ) -> Path | None: ...
    def path(
        self,
        name: str,
        *,
        required: bool = False,
        kind: Literal["file", "dir"] | None = None,
    ) -> Path | None:
        """A path, ``~`` expanded and made absolute against :attr:`base_dir`.

        With *kind* ``"file"`` it must name an existing file; with ``"dir"``
        it must not name anything but a directory (it may not exist yet).
        """
        value = self._required(name) if required else self.get(name)
        if value is None:
            return None
        if not isinstance(value, str | os.PathLike) or not os.fspath(value):
            raise _must(name, "a path", value)
        path = Path(os.fspath(value)).expanduser()
        resolved = path if path.is_absolute() else (self.base_dir / path).absolute()
        if kind == "file" and not resolved.is_file():
            raise option_error(name, f"must name a file: {str(resolved)!r} is not one")
        if kind == "dir" and resolved.exists() and not resolved.is_dir():
            raise option_error(name, f"must name a directory: {str(resolved)!r} is not one")
        return resolved
