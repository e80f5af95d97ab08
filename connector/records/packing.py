"""How the store keeps a JSON text in fewer bytes, and reads it back exactly. Pure.

The evidence log's texts are small (a chain record's data, a message, an agreement, a signature's header: a few
hundred bytes each) and alike: the same protocol names, keys and addresses again and again. Compressed one by one
they barely shrink, since each starts with nothing to refer back to; compressed against a preset dictionary of the
words they share, they take about half. A packed text is one format byte and then the text's UTF-8 bytes as raw
DEFLATE (RFC 1951) against that format's dictionary, with a 4 KiB window.

The stored form is not what any hash covers: hashes are computed over the text, which unpacking restores byte for
byte (DEFLATE is lossless, and a row that does not unpack is reported, not guessed at). A format's dictionary never
changes once written; another dictionary would be another format byte.
"""

from __future__ import annotations

import zlib

FORMAT_1 = 1
_WBITS = -12  # raw DEFLATE, a 4 KiB window: the dictionary and a text fit in it
_MEM_LEVEL = 2  # small hash tables: texts of a few hundred bytes pack as small, in a quarter of the time

# Format 1's dictionary: the words the log's texts share, the most frequent last (nearest, so cheapest to refer
# to). Never edit it: rows packed with it are read with it.
_DICTIONARY_1 = "".join(
    (
        '"x5c":["\\u0001","typ":"JWT","alg":"ES256","alg":"EdDSA","iat":1,"exp":1,"nbf":1,"jti":"',
        '"vc_sha256":["","psig_sha256":"","typ":"dsp-agreement+jws","kid":"did:web:',
        '"types":["VerifiableCredential","MembershipCredential"],"OrganizationCredential"],"valid_until":"20',
        '"registration":{"checkedAt":"20","country":"","identifier":"","legalEntity":"lei:","legalName":"',
        '"registry":"lei","source":{"name":"","published":"20',
        '"recognised":[{"acceptedAs":["","by":"","credential":"urn:uuid:","federation":"',
        '"path":[{"accepted":" as ","of":"","statement":"urn:uuid:"}],"purposes":["',
        '"presentation_sha256":"","path":"/dsp/2025-1/catalog/request","issuer":"did:web:',
        '"checkpoint":1,"checkpoint_sha256":"","count":1,"head":"',
        '"TransferRequestMessage","TransferStartMessage","TransferCompletionMessage","TransferProcess",',
        '"TransferTerminationMessage","TransferSuspensionMessage","dataAddress":{"endpoint":"https://',
        '"endpointType":"https://w3id.org/idsa/v4.1/HTTP","format":"HttpData-PULL","agreementId":"urn:uuid:',
        '"ContractNegotiationTerminationMessage","ContractOfferMessage","code":"","reason":[',
        '"assignee":"did:web:","assigner":"did:web:","target":"","timestamp":"20',
        '"prohibition":[],"obligation":[{"action":"delete","duty":"permission":[{"action":"use",',
        '"constraint":[{"leftOperand":"https://w3id.org/connector/policy/',
        '"operator":"isAnyOf","operator":"isPartOf","operator":"eq","operator":"lteq","rightOperand":["',
        '"@type":"Offer","@type":"Agreement","@id":"urn:uuid:","offer":{"@id":"',
        '"https://w3id.org/connector/ext/agreementSignature":"\\u0001',
        '"https://w3id.org/connector/ext/agreementCountersignature":"\\u0001',
        '"@context":["https://w3id.org/dspace/2025/1/context.jsonld"],"@id":"urn:uuid:","@type":"',
        '"ContractRequestMessage","callbackAddress":"https://","consumerPid":"urn:uuid:',
        '"ContractAgreementMessage","agreement":"\\u0001","ContractAgreementVerificationMessage",',
        '"ContractNegotiationEventMessage","eventType":"ACCEPTED","eventType":"FINALIZED",',
        '"providerPid":"urn:uuid:","consumerPid":"urn:uuid:"}',
        '{"permitted":true,"process_prev":"","reasons":["the request is at least as strict as offer ',
        "permission 'use' permits 'use': all 2 constraint(s) are satisfied, and no prohibition applies",
        '"],"stage":"negotiation"}{"permitted":false,"stage":"transfer"',
        '{"agreement":"urn:uuid:","credentials":["","kid":"did:web:","#","process_prev":"',
        '","role":"consumer","role":"provider","signature_sha256":"","status":"verified"}',
        '{"cause":"received Contract","cause":"sent Contract","from":"REQUESTED","from":"AGREED",',
        '"from":"VERIFIED","kind":"transfer","kind":"negotiation","process_prev":"","reason":null,"to":"AGREED"}',
        '"to":"VERIFIED"}"to":"FINALIZED"}(FINALIZED)","to":"STARTED"}"to":"COMPLETED"}"to":"TERMINATED"}',
        '{"process_prev":null,"type":"ContractRequestMessage"}{"process_prev":"","type":"',
        '","url":"https://localhost:/dsp/2025-1/negotiations/urn:uuid:/agreement/verification/events"}',
    )
).encode("utf-8")

_DICTIONARIES = {FORMAT_1: _DICTIONARY_1}
_FORMAT_1_BYTE = bytes((FORMAT_1,))


# A compressor that has read the dictionary, copied for each text: reading the dictionary again for every text
# (a few KiB hashed into the tables) would cost more than packing the text. Copies are independent of each other
# and of the original, so threads may pack at once.
_PRIMED_1 = zlib.compressobj(6, zlib.DEFLATED, _WBITS, _MEM_LEVEL, zlib.Z_DEFAULT_STRATEGY, _DICTIONARY_1)


def pack(text: str) -> bytes:
    """`text` packed in the current format."""
    packer = _PRIMED_1.copy()
    return _FORMAT_1_BYTE + packer.compress(text.encode("utf-8", "surrogatepass")) + packer.flush()


def unpack(packed: bytes | bytearray | memoryview) -> str:
    """The text `pack` was given (ValueError for bytes that are no packing: a damaged or forged row)."""
    data = bytes(packed)
    dictionary = _DICTIONARIES.get(data[0]) if data else None
    if dictionary is None:
        raise ValueError("not a packed text (unknown format)")
    unpacker = zlib.decompressobj(_WBITS, zdict=dictionary)
    try:
        raw = unpacker.decompress(data[1:]) + unpacker.flush()
    except zlib.error as exc:
        raise ValueError(f"not a packed text ({exc})") from None
    if not unpacker.eof or unpacker.unused_data:
        raise ValueError("not a packed text (its stream does not end where the row does)")
    return raw.decode("utf-8", "surrogatepass")
