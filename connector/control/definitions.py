"""Assets, policies and offers as the management API and the configuration write them: read and checked.

Every input is validated before anything is stored, with errors that name the offending field: an asset's
source by the source kinds' own validators, a policy by the ODRL engine (the same JSON that goes on the wire).
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from typing import Any

from connector.errors import ConnectorError
from connector.records.definitions import Asset, OfferDefinition, PolicyDefinition
from connector.sources import validate_source_config
from connector.web import inputs

ROOTED_KINDS = ("file", "sql")  # source kinds read below one of the node's data roots
DEFAULT_ROOT = "default"  # the root a source names when it names none: [data] root
ASSET_FIELDS = ("id", "title", "description", "keywords", "mediaType", "formats", "source", "properties")
POLICY_FIELDS = ("id", "description", "policy")
OFFER_FIELDS = ("id", "assetId", "contractPolicyId", "accessPolicyId")
FORMATS = ("HttpData-PULL", "HttpData-PUSH")


def validate_source(source: Mapping[str, Any], where: str = "source", roots: Collection[str] | None = None) -> None:
    """Refuses a source its kind's validator refuses, and (given the node's data `roots`) a file or SQL source below a
    data root the node does not configure: such an asset could never be served."""
    problems = validate_source_config(dict(source))
    if problems:
        first = problems[0]
        field = f"{where}.{first.where}" if first.where else where
        raise ConnectorError("asset.invalid_source", first.reason, field)
    if roots is not None and source.get("type") in ROOTED_KINDS:
        name = source.get("root", DEFAULT_ROOT)
        if name not in roots:
            setting = "[data] root" if name == DEFAULT_ROOT else f"[data] roots.{name}"
            configured = f" (configured: {', '.join(sorted(roots))})" if roots else " (none is configured)"
            raise ConnectorError(
                "asset.no_data_root",
                f"no data root named '{name}' is configured on this node{configured}, so this asset could never be "
                f"served: set {setting} to the folder its data lies below",
                f"{where}.root",
            )


def _wire_shape_problems(policy: Mapping[str, Any]) -> list[tuple[str, str]]:
    """What the DSP 2025-1 schema forbids in a policy that the ODRL engine alone would accept: a right operand
    must be a string, an object or an array (so `"5"`, not `5`), else peers refuse our catalogue."""
    found: list[tuple[str, str]] = []

    def walk(constraints: Any, path: str) -> None:
        for i, c in enumerate(constraints if isinstance(constraints, list) else []):
            here = f"{path}[{i}]"
            if not isinstance(c, dict):
                continue
            for op in ("and", "or", "xone", "andSequence"):
                if op in c:
                    walk(c[op], f"{here}.{op}")
            if "rightOperand" in c and not isinstance(c["rightOperand"], (str, dict, list)):
                found.append(
                    (
                        f"{here}.rightOperand",
                        "a right operand must be a string, an object or an array on "
                        f'the wire (DSP 2025-1): write "{c["rightOperand"]}", not {c["rightOperand"]}',
                    )
                )

    for kind in ("permission", "prohibition", "obligation"):
        for r, rule in enumerate(policy.get(kind) or []):
            if isinstance(rule, dict):
                walk(rule.get("constraint"), f"{kind}[{r}].constraint")
                for d, duty in enumerate(rule.get("duty") or []):
                    if isinstance(duty, dict):
                        walk(duty.get("constraint"), f"{kind}[{r}].duty[{d}].constraint")
    return found


def validate_policy_json(
    policy: Mapping[str, Any], where: str = "policy", regions: Mapping[str, frozenset[str]] | None = None
) -> None:
    from connector.policy.engine import validate_policy  # the engine: with the first policy defined

    for field, reason in _wire_shape_problems(policy):
        raise ConnectorError("policy.invalid", reason, f"{where}.{field}")
    problems = validate_policy(dict(policy), regions)
    if problems:
        first = problems[0]
        field = f"{where}.{first.where}" if first.where else where
        more = f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""
        raise ConnectorError(
            "policy.invalid",
            first.reason + more,
            field,
            problems=[{"where": p.where, "reason": p.reason} for p in problems],
        )


def asset_from_json(
    body: Mapping[str, Any], asset_id: str | None = None, roots: Collection[str] | None = None
) -> Asset:
    """An asset as the API or the configuration writes it; given the node's data `roots`, one whose data lies below
    a root the node does not configure is refused."""
    inputs.unknown_keys(body, ASSET_FIELDS)
    aid = asset_id or inputs.identifier(body)
    source = inputs.obj(body, "source")
    assert source is not None
    validate_source(source, roots=roots)
    formats = inputs.string_list(body, "formats", ("HttpData-PULL",))
    for i, fmt in enumerate(formats):
        if fmt not in FORMATS:
            raise ConnectorError(
                "asset.invalid", f"unknown format '{fmt}' (known: {', '.join(FORMATS)})", f"formats[{i}]"
            )
    if not formats:
        raise ConnectorError("asset.invalid", "at least one format is needed", "formats")
    return Asset(
        id=aid,
        title=inputs.string(body, "title", False, "") or "",
        description=inputs.string(body, "description", False, "") or "",
        keywords=inputs.string_list(body, "keywords"),
        media_type=inputs.string(body, "mediaType", False, "application/octet-stream") or "application/octet-stream",
        formats=formats,
        source=source,
        properties=inputs.obj(body, "properties", False) or {},
    )


def policy_from_json(
    body: Mapping[str, Any], policy_id: str | None = None, regions: Mapping[str, frozenset[str]] | None = None
) -> PolicyDefinition:
    inputs.unknown_keys(body, POLICY_FIELDS)
    pid = policy_id or inputs.identifier(body)
    policy = inputs.obj(body, "policy")
    assert policy is not None
    validate_policy_json(policy, regions=regions)
    return PolicyDefinition(id=pid, policy=policy, description=inputs.string(body, "description", False, "") or "")


def offer_from_json(body: Mapping[str, Any]) -> OfferDefinition:
    inputs.unknown_keys(body, OFFER_FIELDS)
    return OfferDefinition(
        id=inputs.identifier(body),
        asset_id=inputs.identifier(body, "assetId"),
        contract_policy_id=inputs.identifier(body, "contractPolicyId"),
        access_policy_id=inputs.string(body, "accessPolicyId", False),
    )
