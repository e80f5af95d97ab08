"""Checks shared by the sources' configuration validators, each producing Problems whose `where` names the field."""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from typing import Any

from connector.errors import Problem
from connector.sources.base import SourceError, describe

# A media type as "type/subtype" with optional parameters; no control characters (it becomes a header).
_MEDIA_TYPE = re.compile(
    r"[A-Za-z0-9][A-Za-z0-9!#$&^_.+-]*/[A-Za-z0-9][A-Za-z0-9!#$&^_.+-]*"
    r"(\s*;\s*[A-Za-z0-9!#$&^_.+-]+=(\"[^\"\x00-\x1f\x7f]*\"|[A-Za-z0-9!#$&^_.+-]+))*",
)
_ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def invalid(where: str, reason: str) -> Problem:
    return Problem("source.config.invalid", reason, where)


def missing(where: str, what: str) -> Problem:
    return Problem("source.config.missing", f"{what} is required", where)


def unknown_fields(config: Mapping[str, Any], allowed: frozenset[str]) -> list[Problem]:
    """A field nobody reads is refused: a misspelt ``heders`` must not silently drop a credential.
    JSON-LD keywords (``@type`` ...) are tolerated because data addresses often carry them."""
    return [
        Problem("source.config.unknown", f"unknown field {describe(key)}", str(key))
        for key in config
        if not (isinstance(key, str) and (key in allowed or key.startswith("@")))
    ]


def check_string(config: Mapping[str, Any], key: str, what: str, *, required: bool) -> list[Problem]:
    if key not in config:
        return [missing(key, what)] if required else []
    value = config[key]
    if not isinstance(value, str) or value == "":
        return [invalid(key, f"{what} must be a non-empty string")]
    if "\x00" in value:
        return [invalid(key, f"{what} must not contain a NUL character")]
    return []


def check_media_type(config: Mapping[str, Any], key: str = "mediaType") -> list[Problem]:
    if key not in config:
        return []
    value = config[key]
    if not isinstance(value, str) or not is_media_type(value):
        return [invalid(key, f"{describe(value)} is not a media type such as text/csv")]
    return []


def is_media_type(value: str) -> bool:
    return len(value) <= 255 and _MEDIA_TYPE.fullmatch(value) is not None


def check_seconds(value: Any, where: str) -> list[Problem]:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value <= 0:
        return [invalid(where, "a timeout must be a positive number of seconds")]
    return []


def check_secret(value: Any, where: str) -> list[Problem]:
    """A value that is either a literal string or {"env": NAME} (optionally with a literal "prefix")."""
    if isinstance(value, str):
        return [] if _is_header_safe(value) else [invalid(where, "the value must not contain control characters")]
    if not isinstance(value, Mapping):
        return [invalid(where, 'the value must be a string or {"env": "VARIABLE_NAME"}')]
    problems = [
        Problem("source.config.unknown", f"unknown field {describe(k)}", f"{where}.{k}")
        for k in value
        if k not in ("env", "prefix")
    ]
    name = value.get("env")
    if not isinstance(name, str) or _ENV_NAME.fullmatch(name) is None:
        problems.append(invalid(f"{where}.env", "env must name an environment variable (letters, digits, _)"))
    prefix = value.get("prefix", "")
    if not isinstance(prefix, str) or not _is_header_safe(prefix):
        problems.append(invalid(f"{where}.prefix", "prefix must be a string without control characters"))
    return problems


def resolve_secret(value: str | Mapping[str, Any], environ: Mapping[str, str], where: str) -> str:
    """The literal value of a (validated) secret field; raises naming the variable, never showing a value."""
    if isinstance(value, str):
        return value
    name = value["env"]
    found = environ.get(name)
    if found is None or found == "":
        raise SourceError(
            "source.secret.missing", f"the environment variable {name} named by the asset is not set", where
        )
    if not _is_header_safe(found):
        raise SourceError("source.secret.invalid", f"the environment variable {name} holds control characters", where)
    return str(value.get("prefix", "")) + found


def _is_header_safe(text: str) -> bool:
    return not any(ord(c) < 0x20 and c != "\t" or ord(c) == 0x7F for c in text)
