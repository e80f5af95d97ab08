"""Which kinds of source exist, by the ``type`` of a data address, and how each is checked and built."""

from __future__ import annotations

import importlib
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from connector.errors import Problem
from connector.sources.base import Source, SourceContext, SourceError


@dataclass(frozen=True)
class SourceKind:
    name: str
    validate: Callable[[Mapping[str, Any]], list[Problem]]
    build: Callable[[Mapping[str, Any], SourceContext], Source]


class SourceRegistry:
    def __init__(self, kinds: Iterable[SourceKind] = ()) -> None:
        self._kinds: dict[str, SourceKind] = {}
        for kind in kinds:
            self.register(kind)

    def register(self, kind: SourceKind) -> None:
        if kind.name in self._kinds:
            raise ValueError(f"a source kind named {kind.name!r} is already registered")
        self._kinds[kind.name] = kind

    @property
    def kinds(self) -> tuple[str, ...]:
        return tuple(sorted(self._kinds))

    def validate(self, config: Any) -> list[Problem]:
        """Everything wrong with a data address (empty when it is usable); pure, no I/O."""
        if not isinstance(config, Mapping):
            return [Problem("source.config.invalid", "a data address must be a JSON object", None)]
        kind_name = config.get("type")
        if kind_name is None:
            return [Problem("source.config.missing", "the data address has no type", "type")]
        kind = self._kinds.get(kind_name) if isinstance(kind_name, str) else None
        if kind is None:
            known = ", ".join(self.kinds)
            reason = f"unknown source type {kind_name!r} (known: {known})"
            return [Problem("source.config.unknown_type", reason, "type")]
        return kind.validate(config)

    def build(self, config: Any, context: SourceContext) -> Source:
        """The source a data address describes; raises SourceError with the first problem."""
        problems = self.validate(config)
        if problems:
            first = problems[0]
            raise SourceError(first.code, first.reason, first.where, problems=[str(p) for p in problems])
        return self._kinds[config["type"]].build(config, context)


def built_in(name: str, module: str) -> SourceKind:
    """A kind whose module (with its `validate_source_config` and `build_source`) is imported when a data address
    of that kind is first checked, so that a node loads only the kinds its assets use."""

    def validate(config: Mapping[str, Any]) -> list[Problem]:
        return importlib.import_module(module).validate_source_config(config)

    def build(config: Mapping[str, Any], context: SourceContext) -> Source:
        return importlib.import_module(module).build_source(config, context)

    return SourceKind(name, validate, build)


def default_registry() -> SourceRegistry:
    return SourceRegistry(
        [
            built_in("file", "connector.sources.file"),
            built_in("http", "connector.sources.http"),
            built_in("sql", "connector.sources.sql"),
        ]
    )


_DEFAULT = default_registry()


def validate_source_config(config: Any) -> list[Problem]:
    """Everything wrong with a data address of any built-in kind."""
    return _DEFAULT.validate(config)


def build_source(config: Any, context: SourceContext) -> Source:
    return _DEFAULT.build(config, context)
