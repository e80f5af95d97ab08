"""Names fixed by the specifications this package speaks: JSON-LD contexts, type names and media types.

Kept in one place so that a typo in a context URL (which JSON-LD processors and EDC compare byte for byte)
is fixed once.
"""

from __future__ import annotations

# The DCP credential profiles (dcp.profiles.md): VC Data Model, revocation system and proof stack.
PROFILE_VC20 = "vc20-bssl/jwt"
PROFILE_VC11 = "vc11-sl2021/jwt"

# W3C Verifiable Credentials Data Model 2.0 and its JOSE securing (VC-JOSE-COSE).
VC_CONTEXT = "https://www.w3.org/ns/credentials/v2"
VERIFIABLE_CREDENTIAL = "VerifiableCredential"
VERIFIABLE_PRESENTATION = "VerifiablePresentation"
ENVELOPED_VERIFIABLE_CREDENTIAL = "EnvelopedVerifiableCredential"
ENVELOPED_VERIFIABLE_PRESENTATION = "EnvelopedVerifiablePresentation"
VC_JWT_TYP = "vc+jwt"
VP_JWT_TYP = "vp+jwt"
VC_JWT_DATA_URL_PREFIX = "data:application/vc+jwt,"
VP_JWT_DATA_URL_PREFIX = "data:application/vp+jwt,"

# W3C Verifiable Credentials Data Model 1.1 as JWT (the vc and vp claims), and the context EDC and the DCP TCK
# add to JWT presentations of it.
VC_V1_CONTEXT = "https://www.w3.org/2018/credentials/v1"
PRESENTATION_SUBMISSION_CONTEXT = "https://identity.foundation/presentation-exchange/submission/v1"
JWT_TYP = "JWT"

# W3C Bitstring Status List v1.0.
BITSTRING_STATUS_LIST_CREDENTIAL = "BitstringStatusListCredential"
BITSTRING_STATUS_LIST = "BitstringStatusList"
BITSTRING_STATUS_LIST_ENTRY = "BitstringStatusListEntry"

# W3C Status List 2021 (the 2023-04-27 working draft DCP's vc11-sl2021/jwt profile names).
STATUS_LIST_2021_CREDENTIAL = "StatusList2021Credential"
STATUS_LIST_2021 = "StatusList2021"
STATUS_LIST_2021_ENTRY = "StatusList2021Entry"

# Eclipse Decentralized Claims Protocol 1.0.
DCP_CONTEXT = "https://w3id.org/dspace-dcp/v1.0/dcp.jsonld"
PRESENTATION_QUERY_MESSAGE = "PresentationQueryMessage"
PRESENTATION_RESPONSE_MESSAGE = "PresentationResponseMessage"
CREDENTIAL_SERVICE = "CredentialService"
PRESENTATIONS_QUERY_PATH = "/presentations/query"
CREDENTIALS_PATH = "/credentials"  # DCP issuance: the issuer's Credential Request API, and the holder's Storage API

# DID Core and the key representation used in DID documents.
DID_CONTEXT = "https://www.w3.org/ns/did/v1"
DID_CONTEXT_V1_1 = "https://www.w3.org/ns/did/v1.1"
JWS_2020_CONTEXT = "https://w3id.org/security/suites/jws-2020/v1"
JSON_WEB_KEY_2020 = "JsonWebKey2020"
JSON_WEB_KEY = "JsonWebKey"

# Dataspace Protocol 2025-1: the DID service entry that points at a connector.
DSP_CONTEXT = "https://w3id.org/dspace/2025/1/context.jsonld"
DATA_SERVICE = "DataService"
