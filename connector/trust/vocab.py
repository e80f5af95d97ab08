"""Names fixed by the specifications this package speaks: JSON-LD contexts, type names and media types.

Kept in one place so that a typo in a context URL (which JSON-LD processors and EDC compare byte for byte)
is fixed once.
"""

from __future__ import annotations

# W3C Verifiable Credentials Data Model 2.0 and its JOSE securing (VC-JOSE-COSE).
VC_CONTEXT = "https://www.w3.org/ns/credentials/v2"
VERIFIABLE_CREDENTIAL = "VerifiableCredential"
VERIFIABLE_PRESENTATION = "VerifiablePresentation"
ENVELOPED_VERIFIABLE_CREDENTIAL = "EnvelopedVerifiableCredential"
VC_JWT_TYP = "vc+jwt"
VP_JWT_TYP = "vp+jwt"
VC_JWT_DATA_URL_PREFIX = "data:application/vc+jwt,"

# W3C Bitstring Status List v1.0.
BITSTRING_STATUS_LIST_CREDENTIAL = "BitstringStatusListCredential"
BITSTRING_STATUS_LIST = "BitstringStatusList"
BITSTRING_STATUS_LIST_ENTRY = "BitstringStatusListEntry"

# Eclipse Decentralized Claims Protocol 1.0.
DCP_CONTEXT = "https://w3id.org/dspace-dcp/v1.0/dcp.jsonld"
PRESENTATION_QUERY_MESSAGE = "PresentationQueryMessage"
PRESENTATION_RESPONSE_MESSAGE = "PresentationResponseMessage"
CREDENTIAL_SERVICE = "CredentialService"
PRESENTATIONS_QUERY_PATH = "/presentations/query"

# DID Core and the key representation used in DID documents.
DID_CONTEXT = "https://www.w3.org/ns/did/v1"
DID_CONTEXT_V1_1 = "https://www.w3.org/ns/did/v1.1"
JWS_2020_CONTEXT = "https://w3id.org/security/suites/jws-2020/v1"
JSON_WEB_KEY_2020 = "JsonWebKey2020"
JSON_WEB_KEY = "JsonWebKey"

# Dataspace Protocol 2025-1: the DID service entry that points at a connector.
DSP_CONTEXT = "https://w3id.org/dspace/2025/1/context.jsonld"
DATA_SERVICE = "DataService"
