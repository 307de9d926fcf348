"""The :class:`UploadAPI`: requests in, broker calls, responses out. Framework-neutral."""

from __future__ import annotations

import logging
import traceback
from collections.abc import Iterable
from typing import Final

from .._broker import Broker
from .._errors import ConfigurationError, RindleError
from . import _problems as problems
from ._access import Authorize
from ._context import Call, Settings
from ._http import Request, Response
from ._problems import HTTPProblem, problem_for, problem_response, problem_type_of
from ._routes import ROUTES, Route, match

__all__ = ["DEFAULT_MAX_BODY", "UploadAPI"]

#: The largest request body read (a 10,000-part list fits with room to spare).
DEFAULT_MAX_BODY: Final = 1024 * 1024

logger = logging.getLogger("rindle_core.web")


class UploadAPI:
    """rindle's HTTP face: :meth:`handle` turns a :class:`Request` into a :class:`Response`.

    *authorize* is the host's hook, ``authorize(request, action, profile,
    session) -> owner id | None``, asked before every action; without one,
    every request is refused with a problem that says to supply it.
    *profiles* limits the profiles reachable over HTTP (default: all the
    broker's). *uppy_profile* is the profile Uppy's ``/s3/...`` uploads go
    to (default: the only exposed profile, if there is one). Mount it with
    :func:`rindle_core.web.asgi.create_app`, :func:`rindle_core.web.fastapi.router`,
    :func:`rindle_core.web.wsgi.create_app` or :func:`rindle_core.web.flask.blueprint`.

    :meth:`handle` calls the broker (database and storage I/O): async mounts
    run it in a worker thread.
    """

    def __init__(
        self,
        broker: Broker,
        *,
        authorize: Authorize | None = None,
        profiles: Iterable[str] | None = None,
        uppy_profile: str | None = None,
        max_body: int = DEFAULT_MAX_BODY,
    ) -> None:
        if authorize is not None and not callable(authorize):
            raise ConfigurationError("authorize must be a function")
        exposed = _exposed(broker, profiles)
        if uppy_profile is None and len(exposed) == 1:
            (uppy_profile,) = exposed
        if uppy_profile is not None and uppy_profile not in exposed:
            raise ConfigurationError(f"uppy_profile {uppy_profile!r} is not an exposed profile")
        if isinstance(max_body, bool) or not isinstance(max_body, int) or max_body < 1024:
            raise ConfigurationError("max_body must be an integer of at least 1024 bytes")
        if authorize is None:
            logger.warning("rindle web: no authorize hook, so every request is refused")
        self._settings = Settings(broker, authorize, exposed, uppy_profile)
        self.max_body: Final = max_body

    def __repr__(self) -> str:
        return (
            f"UploadAPI(profiles={sorted(self._settings.profiles)!r}, "
            f"uppy_profile={self._settings.uppy_profile!r})"
        )

    @property
    def broker(self) -> Broker:
        """The broker requests act through."""
        return self._settings.broker

    @property
    def routes(self) -> tuple[Route, ...]:
        """Every operation (method, path, contract), as the OpenAPI document lists them."""
        return ROUTES

    def route_for(self, request: Request) -> Route | None:
        """The operation *request* reaches, if any."""
        return match(request.method.upper(), request.path)[0]

    def payload_too_large(self) -> Response:
        """The 413 problem, for a mount that refuses a body before reading it all."""
        return problem_response(
            problems.PAYLOAD_TOO_LARGE, f"the body is larger than {self.max_body} bytes"
        )

    def handle(self, request: Request) -> Response:
        """Answer *request*; errors become ``application/problem+json`` responses.

        Never raises: an unexpected exception is a 500 problem without detail,
        logged with its type and frames but not its message.
        """
        try:
            return self._dispatch(request)
        except HTTPProblem as problem:
            return problem_response(problem.problem, problem.detail, headers=problem.headers)
        except RindleError as exc:
            if problem_type_of(exc).status >= 500:
                logger.warning("rindle web: %s (%s)", type(exc).__name__, _operation(request))
            return problem_for(exc)
        except Exception as exc:
            logger.error(
                "rindle web: unexpected %s in %s (message withheld)\n%s",
                type(exc).__name__,
                _operation(request),
                "".join(traceback.format_tb(exc.__traceback__)),
            )
            return problem_response(
                problems.INTERNAL_ERROR, problems.INTERNAL_ERROR.fixed_detail or ""
            )

    def _dispatch(self, request: Request) -> Response:
        if len(request.body) > self.max_body:
            return self.payload_too_large()
        route, params, allowed = match(request.method.upper(), request.path)
        if route is None:
            if allowed:
                raise HTTPProblem(
                    problems.METHOD_NOT_ALLOWED,
                    f"{request.method[:16]} is not allowed here",
                    headers=[("Allow", ", ".join(allowed))],
                )
            raise HTTPProblem(problems.NOT_FOUND, "no such route")
        return route.handler(Call(self._settings, request, params))


def _exposed(broker: Broker, profiles: Iterable[str] | None) -> frozenset[str]:
    if profiles is None:
        return frozenset(broker.profiles)
    if isinstance(profiles, str):
        raise ConfigurationError("profiles must be a list of profile names, not a string")
    exposed = frozenset(profiles)
    unknown = sorted(exposed - set(broker.profiles))
    if unknown:
        raise ConfigurationError(f"profiles {unknown!r} are not registered with the broker")
    return exposed


def _operation(request: Request) -> str:
    route = match(request.method.upper(), request.path)[0]
    return route.operation_id if route is not None else "(no route)"
