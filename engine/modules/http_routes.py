"""The HTTP module's route table: ``METHOD:path`` → the trigger bound to it. Pure: no I/O.

Routes change at run time (an ``http`` trigger binds or unbinds whenever a worker says so), so
the table is a plain mutable index rather than a compiled router:

* paths are normalised once, at bind time: leading ``/`` optional, empty segments dropped, no
  trailing ``/`` (``"t/x"``, ``"/t/x"`` and ``"/t//x/"`` are the same route, ``/t/x``);
* a ``:name`` segment captures one path segment as ``path_params[name]``;
* the method is case-insensitive (stored upper-case);
* static routes are one dict lookup; routes with parameters are grouped by segment count and
  tried most-specific first (a literal segment beats a parameter at the first place they
  differ), so ``/users/me`` wins over ``/users/:id``;
* two live bindings with the same shape (``GET /users/:id`` and ``GET /users/:uid``) cannot
  both exist: the second is refused with :class:`RouteConflict`.

A ``GET`` route also answers ``HEAD`` (the app drops the body), as most HTTP servers do.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

__all__ = ["METHODS", "Route", "RouteMatch", "RouteTable", "RouteConflict", "InvalidRoute", "parse_route", "split_path"]

METHODS = frozenset({"GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"})


class InvalidRoute(ValueError):
    """An ``http`` trigger config that cannot be a route (the binding is refused)."""


class RouteConflict(ValueError):
    """Another live binding already serves this ``METHOD:path``."""


@dataclass(frozen=True, slots=True)
class Route:
    """One bound route: what the trigger asked for, normalised."""

    trigger_id: str
    function_id: str
    method: str
    path: str
    """The normalised registered path, e.g. ``/users/:id`` (what handlers see as ``path``)."""
    segments: tuple[str, ...]
    namespace: str = "default"
    metadata: dict[str, Any] | None = None
    condition_function_id: str | None = None
    middleware_function_ids: tuple[str, ...] = ()

    @property
    def shape(self) -> tuple[str, ...]:
        """The segments with every parameter name erased: two routes with one shape clash."""
        return tuple(":" if s.startswith(":") else s for s in self.segments)

    @property
    def has_params(self) -> bool:
        return any(s.startswith(":") for s in self.segments)


@dataclass(frozen=True, slots=True)
class RouteMatch:
    route: Route
    path_params: dict[str, str]


def split_path(path: str) -> tuple[str, ...]:
    """The non-empty segments of a path (``"/a//b/"`` → ``("a", "b")``)."""
    return tuple(s for s in path.split("/") if s)


def _optional_str(config: dict[str, Any], key: str) -> str | None:
    value = config.get(key)
    if value is None:
        return None
    if not isinstance(value, str) or not value.strip():
        raise InvalidRoute(f"http trigger: '{key}' must be a non-empty string")
    return value


def parse_route(trigger_id: str, function_id: str, config: Any, *, namespace: str = "default",
                metadata: dict[str, Any] | None = None) -> Route:
    """Validate an ``http`` trigger config ``{api_path, http_method, condition_function_id?,
    middleware_function_ids?}`` into a :class:`Route`. Unknown keys are ignored.

    Raises:
        InvalidRoute: missing or malformed ``api_path``/``http_method``, an unknown method, an
            empty or duplicate ``:param`` name.
    """
    if not isinstance(config, dict):
        raise InvalidRoute("http trigger config must be an object {api_path, http_method}")
    api_path, method = config.get("api_path"), config.get("http_method")
    if not isinstance(api_path, str) or not api_path.strip():
        raise InvalidRoute("http trigger: 'api_path' is required (e.g. \"users/:id\")")
    if not isinstance(method, str) or not method.strip():
        raise InvalidRoute("http trigger: 'http_method' is required (GET, POST, PUT, PATCH, DELETE, HEAD or OPTIONS)")
    method = method.strip().upper()
    if method not in METHODS:
        raise InvalidRoute(f"http trigger: unknown http_method {config['http_method']!r}; use one of {', '.join(sorted(METHODS))}")
    if any(c in api_path for c in "?#") or any(ord(c) < 0x21 for c in api_path):
        raise InvalidRoute(f"http trigger: api_path {api_path!r} may not contain '?', '#', spaces or control characters")
    segments = split_path(api_path.strip())
    names = [s[1:] for s in segments if s.startswith(":")]
    if any(not n for n in names):
        raise InvalidRoute(f"http trigger: api_path {api_path!r} has a ':' segment without a name")
    if len(set(names)) != len(names):
        raise InvalidRoute(f"http trigger: api_path {api_path!r} repeats a parameter name")
    condition = _optional_str(config, "condition_function_id")
    middleware = config.get("middleware_function_ids") or []
    if not isinstance(middleware, list) or not all(isinstance(m, str) and m for m in middleware):
        raise InvalidRoute("http trigger: 'middleware_function_ids' must be a list of function ids")
    return Route(trigger_id, function_id, method, "/" + "/".join(segments), segments, namespace, metadata,
                 condition, tuple(middleware))


def _specificity(route: Route) -> tuple[bool, ...]:
    # False (a literal) sorts before True (a parameter): literals win at the first difference.
    return tuple(s.startswith(":") for s in route.segments)


@dataclass(slots=True)
class RouteTable:
    """Every live route, indexed for matching. Not thread-safe (one event loop owns it)."""

    by_trigger: dict[str, Route] = field(default_factory=dict)
    _static: dict[tuple[str, tuple[str, ...]], Route] = field(default_factory=dict)
    _dynamic: dict[tuple[str, int], list[Route]] = field(default_factory=dict)
    _shapes: dict[tuple[str, tuple[str, ...]], Route] = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.by_trigger)

    def add(self, route: Route) -> None:
        """Serve ``route``; rebinding the same trigger id replaces its old route.

        Raises:
            RouteConflict: another trigger serves the same ``METHOD`` and path shape.
        """
        key = (route.method, route.shape)
        holder = self._shapes.get(key)
        if holder is not None and holder.trigger_id != route.trigger_id:
            raise RouteConflict(f"{route.method} {route.path} is already served by trigger {holder.trigger_id} "
                                f"(function {holder.function_id}); unregister it first")
        self.remove(route.trigger_id)
        self.by_trigger[route.trigger_id] = route
        self._shapes[key] = route
        if route.has_params:
            bucket = self._dynamic.setdefault((route.method, len(route.segments)), [])
            bucket.append(route)
            bucket.sort(key=_specificity)
        else:
            self._static[(route.method, route.segments)] = route

    def remove(self, trigger_id: str) -> Route | None:
        """Stop serving the route of ``trigger_id``; returns it, or None if it had none."""
        route = self.by_trigger.pop(trigger_id, None)
        if route is None:
            return None
        del self._shapes[(route.method, route.shape)]
        if route.has_params:
            bucket = self._dynamic[(route.method, len(route.segments))]
            bucket.remove(route)
            if not bucket:
                del self._dynamic[(route.method, len(route.segments))]
        else:
            del self._static[(route.method, route.segments)]
        return route

    def match(self, method: str, segments: tuple[str, ...]) -> RouteMatch | None:
        """The route serving ``method`` (upper-case) on a request path's segments, or None."""
        found = self._match_exact(method, segments)
        if found is None and method == "HEAD":
            found = self._match_exact("GET", segments)
        return found

    def _match_exact(self, method: str, segments: tuple[str, ...]) -> RouteMatch | None:
        route = self._static.get((method, segments))
        if route is not None:
            return RouteMatch(route, {})
        for candidate in self._dynamic.get((method, len(segments)), ()):
            params: dict[str, str] = {}
            for want, got in zip(candidate.segments, segments, strict=True):
                if want.startswith(":"):
                    params[want[1:]] = got
                elif want != got:
                    break
            else:
                return RouteMatch(candidate, params)
        return None

    def allowed(self, segments: tuple[str, ...]) -> list[str]:
        """The methods some route serves on this path (for a 405's ``Allow``), sorted."""
        methods = {m for m in METHODS if self._match_exact(m, segments) is not None}
        if "GET" in methods:
            methods.add("HEAD")
        return sorted(methods)
