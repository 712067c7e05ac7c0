"""The base of every pipeline component: a registered name and options validated with ``extra="forbid"``.

Sources, filters, scorers and selectors each subclass their kind's base (``Source``, ``Filter``,
...) and set ``name`` and, if they take any, an ``Options`` model. ``build(kind, spec)`` makes
one from a ``ComponentSpec``; an unknown name or option is a ``ConfigError`` that lists what exists.
"""

from __future__ import annotations

from typing import Any, ClassVar

from pydantic import BaseModel, ConfigDict, ValidationError

from townsquare.errors import ConfigError

_REGISTRY: dict[str, dict[str, type[Component]]] = {}


class NoOptions(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Component:
    """A named pipeline stage. ``kind`` is set by each kind's base class, ``name`` by each component."""

    kind: ClassVar[str] = ""
    name: ClassVar[str] = ""
    Options: ClassVar[type[BaseModel]] = NoOptions

    def __init__(self, options: BaseModel | None = None, **values: Any) -> None:
        self.options = options if options is not None else self.Options(**values)

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if "name" in cls.__dict__ and cls.kind:
            _REGISTRY.setdefault(cls.kind, {})[cls.name] = cls

    def describe(self) -> dict[str, Any]:
        """What runs, for ``townsquare feed --pipeline`` and the explanations."""
        return {"kind": self.kind, "name": self.name, "component": type(self).__name__,
                "options": self.options.model_dump()}

    def __repr__(self) -> str:
        opts = ", ".join(f"{k}={v!r}" for k, v in self.options.model_dump().items())
        return f"{type(self).__name__}({opts})"


def build(kind: str, name: str, options: dict[str, Any] | None = None) -> Component:
    """A component of ``kind`` (source, filter, scorer, selector) registered as ``name``."""
    import townsquare.feed.components  # noqa: F401  (registers the built-in components)

    known = _REGISTRY.get(kind, {})
    if name not in known:
        raise ConfigError(f"no feed {kind} called {name!r}; {kind}s: {', '.join(sorted(known))}")
    cls = known[name]
    try:
        return cls(cls.Options(**(options or {})))
    except ValidationError as error:
        fields = ", ".join(cls.Options.model_fields) or "none"
        raise ConfigError(f"feed {kind} {name!r}: {error.errors()[0]['msg']} "
                          f"({'.'.join(map(str, error.errors()[0]['loc']))}); its options: {fields}") from error


def names(kind: str) -> list[str]:
    import townsquare.feed.components  # noqa: F401

    return sorted(_REGISTRY.get(kind, {}))
