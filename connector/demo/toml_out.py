"""Writing the demo's configuration files: a small TOML emitter for JSON-like values (inline tables for nested
objects), so that policies in the configuration are the same JSON that goes on the wire."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any

_BARE = re.compile(r"^[A-Za-z0-9_-]+$")


def key(name: str) -> str:
    return name if _BARE.match(name) else json.dumps(name)


def value(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, (int, float)):
        return repr(v)
    if isinstance(v, str):
        return json.dumps(v, ensure_ascii=False)  # TOML basic strings accept JSON's escapes
    if isinstance(v, (list, tuple)):
        return "[" + ", ".join(value(x) for x in v) + "]"
    if isinstance(v, Mapping):
        return "{" + ", ".join(f"{key(k)} = {value(x)}" for k, x in v.items()) + "}"
    raise TypeError(f"cannot write {type(v).__name__} as TOML")


def table(name: str, entries: Mapping[str, Any]) -> str:
    lines = [f"[{name}]"] + [f"{key(k)} = {value(v)}" for k, v in entries.items() if v is not None]
    return "\n".join(lines) + "\n"


def array_table(name: str, entries: Mapping[str, Any]) -> str:
    lines = [f"[[{name}]]"] + [f"{key(k)} = {value(v)}" for k, v in entries.items() if v is not None]
    return "\n".join(lines) + "\n"
