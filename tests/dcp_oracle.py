"""An oracle for the Decentralized Claims Protocol that does not ask the code under test.

- Messages: validated with `jsonschema` against the official DCP 1.0.1 JSON Schemas vendored unchanged in
  `connector/trust/spec/schemas/` (see its README.md for the upstream defects worked around here: the context
  schema's `$id`, the Presentation Exchange schemas DCP references but does not ship, of which only the
  object type is checked, and the CredentialMessage schema that leaves `type` unchecked, whose value the
  specification's text states and this oracle checks for every issuance message).
- Self-issued ID tokens: the claims base.protocol.md ("Self-Issued ID Tokens") says MUST be included, as it says
  them - nothing of this project's own token code is used.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Mapping
from importlib import resources
from typing import Any

from jsonschema import Draft201909Validator
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT201909

SPEC = resources.files("connector.trust") / "spec"
BASE = "https://w3id.org/dspace-dcp/v1.0/"
SCHEMAS = {
    "PresentationQueryMessage": "presentation/presentation-query-message-schema.json",
    "PresentationResponseMessage": "presentation/presentation-response-message-schema.json",
    "IssuerMetadata": "issuance/issuer-metadata-schema.json",
    "CredentialObject": "issuance/credential-object-schema.json",
    "CredentialRequestMessage": "issuance/credential-request-message-schema.json",
    "CredentialStatus": "issuance/credential-status-schema.json",
    "CredentialMessage": "issuance/credential-message-schema.json",
    "CredentialOfferMessage": "issuance/credential-offer-message-schema.json",
}
ISSUANCE = (
    "IssuerMetadata",
    "CredentialRequestMessage",
    "CredentialStatus",
    "CredentialMessage",
    "CredentialOfferMessage",
)
EXAMPLES = {
    "presentation-query-message.json": "PresentationQueryMessage",
    "presentation-query-message-w-presentation-definition.json": "PresentationQueryMessage",
    "presentation-response-message.json": "PresentationResponseMessage",
    "presentation-response-message-w-presentation-submission.json": "PresentationResponseMessage",
}
ISSUANCE_EXAMPLES = {
    "issuer-metadata.json": "IssuerMetadata",
    "credential-object.json": "CredentialObject",
    "credential-request-message.json": "CredentialRequestMessage",
    "credential-status.json": "CredentialStatus",
    "credential-message.json": "CredentialMessage",
    "credential-message-rejected.json": "CredentialMessage",
    "credential-offer-message.json": "CredentialOfferMessage",
}
# Not part of DCP: only the shape DCP itself states for them (a JSON object) is checked.
_PRESENTATION_EXCHANGE = {
    "https://identity.foundation/presentation-exchange/schemas/presentation-definition.json": {"type": "object"},
    "https://identity.foundation/presentation-exchange/schemas/presentation-submission.json": {
        "properties": {"presentation_submission": {"type": "object"}}
    },
}


def load(relative: str) -> Any:
    return json.loads((SPEC / relative).read_text(encoding="utf-8"))


def example(name: str) -> Any:
    folder = "issuance" if name in ISSUANCE_EXAMPLES else "presentation"
    return load(f"examples/{folder}/{name}")


@functools.cache
def _validator(kind: str) -> Draft201909Validator:
    # Each schema under the URL it declares as its $id (the CredentialMessage schema's lies under presentation/).
    resources_by_url = [
        (load(f"schemas/{relative}").get("$id", BASE + relative), load(f"schemas/{relative}"))
        for relative in SCHEMAS.values()
    ]
    # Referenced by the message schemas under the 1.0 URL, although its own $id says v08.
    resources_by_url.append((BASE + "common/context-schema.json", load("schemas/common/context-schema.json")))
    resources_by_url.extend(_PRESENTATION_EXCHANGE.items())
    registry: Registry[Any] = Registry().with_resources(
        (url, Resource.from_contents(schema, default_specification=DRAFT201909)) for url, schema in resources_by_url
    )
    return Draft201909Validator(load(f"schemas/{SCHEMAS[kind]}"), registry=registry)


def schema_problems(kind: str, document: Any) -> list[str]:
    """Every way `document` violates the official schema of message `kind` (empty when it is valid)."""
    problems = [
        f"{'/'.join(str(p) for p in error.absolute_path) or '(root)'}: {error.message}"
        for error in _validator(kind).iter_errors(document)
    ]
    if kind in ISSUANCE and isinstance(document, dict) and document.get("type") != kind:
        problems.append(f"type: the specification names this message {kind}")
    return problems


def id_token_problems(header: Mapping[str, Any], claims: Mapping[str, Any]) -> list[str]:
    """What a self-issued ID token lacks of base.protocol.md "Self-Issued ID Tokens" and "Verifiable
    Presentation Access Token"."""
    problems = []

    def number(name: str) -> bool:
        return isinstance(claims.get(name), (int, float)) and not isinstance(claims.get(name), bool)

    for name in ("iss", "sub", "aud", "jti", "exp", "iat"):
        if name not in claims:
            problems.append(f"claim {name} MUST be included")
    if claims.get("iss") != claims.get("sub") or not isinstance(claims.get("iss"), str):
        problems.append("iss and sub MUST be equal and set to the bearer's DID")
    elif not claims["iss"].startswith("did:"):
        problems.append("iss MUST be the participant's DID")
    aud = claims.get("aud")
    if not (isinstance(aud, str) and aud.startswith("did:")):
        problems.append("aud MUST be set to the verifier's DID")
    if not isinstance(claims.get("jti"), str) or not claims.get("jti"):
        problems.append("jti MUST be used to mitigate replay")
    for name in ("exp", "iat"):
        if name in claims and not number(name):
            problems.append(f"{name} is a JSON number of seconds since the epoch")
    if number("exp") and number("iat") and claims["exp"] <= claims["iat"]:
        problems.append("exp is not after iat")
    if "token" in claims and not isinstance(claims["token"], str):
        problems.append("the token claim (access token) is a string")
    if not isinstance(header.get("alg"), str) or header.get("alg") in ("none", "HS256", "HS384", "HS512"):
        problems.append("the token is signed with a private key (no none, no MAC)")
    return problems
