"""Evidence records, the hash chain that links them, and compact proofs that some records are in it.

Hashing is two-level so that a record can be proven to be in the chain without showing its neighbours:

    body_sha256 = SHA-256(JCS({at, kind, process_id, peer, subject_sha256, data}))
    hash        = SHA-256(JCS({body_sha256, prev, seq}))

Every field is committed to by `hash`, exactly as with one flat hash, but the step from one record hash to the
next needs only the next record's 32-byte `body_sha256`, never its content. An inclusion proof for the records
of one agreement therefore carries those records in full plus one opaque digest per unrelated record between
them and the checkpoint; it reveals nothing about other peers or processes. That is linear in the distance to
the checkpoint (a Merkle tree would be logarithmic); checkpoints are frequent, so the first checkpoint after
the last disclosed record keeps the run short, and the structure needs no state besides the chain itself.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from json.encoder import encode_basestring
from typing import Any

from connector.canonical import canonical_bytes, json_sha256, sha256_hex
from connector.errors import Problem
from connector.evidence.errors import EvidenceError
from connector.evidence.rfc3339 import format_utc, parse_utc

GENESIS = "0" * 64  # the `prev` of record 1
# Each record about a process names the previous record about the same process (its hash; null for the first),
# so the records of one process form a chain of their own inside the log: an export that leaves one out in the
# middle, or the first, no longer links up.
PROCESS_PREV = "process_prev"

# Record kinds written by this node; other dotted lowercase names are accepted for forward compatibility.
DSP_RECEIVED = "dsp.received"
DSP_SENT = "dsp.sent"
STATE_CHANGED = "state.changed"
POLICY_DECIDED = "policy.decided"
CREDENTIAL_VERIFIED = "credential.verified"
SEAL_SENT = "seal.sent"
SEAL_RECEIVED = "seal.received"
AGREEMENT_SIGNED = "agreement.signed"
STANDING_REFUSED = "standing.refused"  # the data plane refused a peer no longer in standing (a pull, a token)
CHECKPOINT = "checkpoint"
KNOWN_KINDS = frozenset(
    {
        DSP_RECEIVED,
        DSP_SENT,
        STATE_CHANGED,
        POLICY_DECIDED,
        CREDENTIAL_VERIFIED,
        SEAL_SENT,
        SEAL_RECEIVED,
        AGREEMENT_SIGNED,
        STANDING_REFUSED,
        CHECKPOINT,
    }
)

FIELDS = ("seq", "at", "kind", "process_id", "peer", "subject_sha256", "data", "prev", "hash")
MAX_DATA_BYTES = 16 * 1024  # records are pointers to evidence, not the evidence itself
MAX_TEXT_CHARS = 1024

_KIND = re.compile(r"[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)*")
_HEX64 = re.compile(r"[0-9a-f]{64}")


def _is_hex64(value: object) -> bool:
    return isinstance(value, str) and _HEX64.fullmatch(value) is not None


def _bad(field_name: str, reason: str) -> EvidenceError:
    return EvidenceError("chain.record_malformed", reason, field_name)


def _check_text(name: str, value: object, *, did: bool = False) -> None:
    if value is None:
        return
    if not isinstance(value, str) or not value or len(value) > MAX_TEXT_CHARS:
        raise _bad(name, f"{name} must be null or a non-empty string of at most {MAX_TEXT_CHARS} characters")
    if did and not value.startswith("did:"):
        raise _bad(name, f"{name} must be a DID")


def _check_kind(kind: object) -> None:
    if not isinstance(kind, str) or len(kind) > 64 or not _KIND.fullmatch(kind):
        raise _bad("kind", "kind must be a dotted lowercase name")


def _after(head: ChainHead) -> tuple[int, str]:
    """The seq and prev of the record that follows a stored head."""
    if head.count < 0 or not _is_hex64(head.hash):
        raise _bad("prev", "chain head must have a count >= 0 and a 64-hex hash")
    return head.count + 1, head.hash


def _frozen_data(data: object) -> tuple[dict[str, Any], bytes]:
    """A private deep copy of `data` (so later changes by the caller cannot alter a hashed record), and its
    canonical bytes (which the body hash embeds: computed once here rather than again for every hash)."""
    if not isinstance(data, dict):
        raise _bad("data", "data must be a JSON object")
    try:
        encoded = canonical_bytes(data)
    except (ValueError, RecursionError) as exc:  # rfc8785's errors are ValueErrors
        raise _bad("data", f"data is not canonicalisable JSON ({exc})") from None
    if len(encoded) > MAX_DATA_BYTES:
        raise _bad("data", f"data exceeds {MAX_DATA_BYTES} bytes in canonical form")
    copy: dict[str, Any] = json.loads(encoded)
    return copy, encoded


def _text(value: str | None) -> bytes:
    # RFC 8785 writes a string (or null) as Python's encoder does without ASCII escaping (see canonical.py);
    # this is the encoder's own string function, without the cost of a json.dumps call per field.
    if value is None:
        return b"null"
    return encode_basestring(value).encode("utf-8")


def _body_bytes(
    at: str, kind: str, process_id: str | None, peer: str | None, subject_sha256: str | None, data_json: bytes
) -> bytes:
    """JCS of the body object, assembled around the already canonical `data` (members in JCS key order)."""
    return b"".join(
        (
            b'{"at":',
            _text(at),
            b',"data":',
            data_json,
            b',"kind":',
            _text(kind),
            b',"peer":',
            _text(peer),
            b',"process_id":',
            _text(process_id),
            b',"subject_sha256":',
            _text(subject_sha256),
            b"}",
        )
    )


def body_sha256_of(
    at: str, kind: str, process_id: str | None, peer: str | None, subject_sha256: str | None, data: Mapping[str, Any]
) -> str:
    """SHA-256 of JCS({at, kind, process_id, peer, subject_sha256, data})."""
    if all(v is None or isinstance(v, str) for v in (at, kind, process_id, peer, subject_sha256)):
        return sha256_hex(_body_bytes(at, kind, process_id, peer, subject_sha256, canonical_bytes(data)))
    return json_sha256(
        {"at": at, "kind": kind, "process_id": process_id, "peer": peer, "subject_sha256": subject_sha256, "data": data}
    )


_SAFE_SEQ = 2**53 - 1


def link_hash(seq: int, prev: str, body_sha256: str) -> str:
    """The record hash: binds a body to its position and to everything before it."""
    if type(seq) is int and 0 <= seq <= _SAFE_SEQ and _is_hex64(prev) and _is_hex64(body_sha256):
        # The usual case, spelled out: JCS of {"body_sha256", "prev", "seq"} with hex strings and a safe integer.
        return sha256_hex(f'{{"body_sha256":"{body_sha256}","prev":"{prev}","seq":{seq}}}'.encode("ascii"))
    return json_sha256({"body_sha256": body_sha256, "prev": prev, "seq": seq})


@dataclass(frozen=True)
class ChainHead:
    """The state a checkpoint commits to: how many records, and the hash of the last (GENESIS for none)."""

    count: int
    hash: str


@dataclass(frozen=True)
class Record:
    """One evidence record. Construction validates every field; `hash` is taken as given (see `intact`)."""

    seq: int
    at: str
    kind: str
    process_id: str | None
    peer: str | None
    subject_sha256: str | None
    data: dict[str, Any]
    prev: str
    hash: str

    def __post_init__(self) -> None:
        if not isinstance(self.seq, int) or isinstance(self.seq, bool) or self.seq < 1:
            raise _bad("seq", "seq must be an integer >= 1")
        try:
            parse_utc(self.at)
        except EvidenceError as exc:
            raise _bad("at", exc.reason) from None
        _check_kind(self.kind)
        _check_text("process_id", self.process_id)
        _check_text("peer", self.peer, did=True)
        if self.subject_sha256 is not None and not _is_hex64(self.subject_sha256):
            raise _bad("subject_sha256", "subject_sha256 must be null or 64 lowercase hex digits")
        for name in ("prev", "hash"):
            if not _is_hex64(getattr(self, name)):
                raise _bad(name, f"{name} must be 64 lowercase hex digits")
        data, data_json = _frozen_data(self.data)
        object.__setattr__(self, "data", data)
        object.__setattr__(self, "_data_json", data_json)  # not a field: derived from `data`, kept for hashing

    @property
    def data_json(self) -> bytes:
        """The canonical bytes of `data`."""
        return self._data_json  # type: ignore[attr-defined]

    @property
    def body_sha256(self) -> str:
        return sha256_hex(
            _body_bytes(self.at, self.kind, self.process_id, self.peer, self.subject_sha256, self.data_json)
        )

    def computed_hash(self) -> str:
        return link_hash(self.seq, self.prev, self.body_sha256)

    @property
    def intact(self) -> bool:
        """Whether the stored hash still matches the content."""
        return self.computed_hash() == self.hash

    @property
    def head(self) -> ChainHead:
        return ChainHead(self.seq, self.hash)

    @property
    def at_datetime(self) -> datetime:
        return parse_utc(self.at)

    def to_json(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name in FIELDS}

    def to_line(self) -> bytes:
        """The export form: one canonical JSON object (JSON Lines friendly, no newline included)."""
        return canonical_bytes(self.to_json())

    @classmethod
    def from_json(cls, obj: object) -> Record:
        if not isinstance(obj, Mapping):
            raise _bad("record", "a record must be a JSON object")
        keys = set(obj)
        if keys != set(FIELDS):
            extra, missing = sorted(keys - set(FIELDS)), sorted(set(FIELDS) - keys)
            raise _bad("record", f"record fields differ from the schema (unknown {extra}, missing {missing})")
        return cls(**{name: obj[name] for name in FIELDS})

    @classmethod
    def from_line(cls, line: bytes | str) -> Record:
        """Parse an exported line, refusing any spelling other than the canonical one.

        Requiring the canonical bytes means every byte of an export is significant: no edit can change the
        text of a record without changing what it hashes to, or making it unreadable.
        """
        raw = line.encode("utf-8") if isinstance(line, str) else bytes(line)
        raw = raw.rstrip(b"\n")
        try:
            obj = json.loads(raw)
        except (UnicodeDecodeError, ValueError):
            raise _bad("record", "record is not JSON") from None
        record = cls.from_json(obj)
        try:
            canonical = canonical_bytes(obj)
        except ValueError:
            raise _bad("record", "record is not canonicalisable JSON") from None
        if canonical != raw:
            raise _bad("record", "record is not in canonical JSON form (RFC 8785)")
        return record


def make_record(
    prev: Record | ChainHead | None,
    *,
    at: datetime,
    kind: str,
    process_id: str | None = None,
    peer: str | None = None,
    subject_sha256: str | None = None,
    data: Mapping[str, Any] | None = None,
) -> Record:
    """The record that follows `prev` (a record, the head of a stored log, or None for the first record)."""
    if prev is None:
        seq, prev_hash = 1, GENESIS
    elif isinstance(prev, Record):
        seq, prev_hash = prev.seq + 1, prev.hash
    else:
        seq, prev_hash = _after(prev)
    # Validate every field (by constructing) before hashing, so bad input fails with a reason, not a hash error.
    draft = Record(seq, format_utc(at), kind, process_id, peer, subject_sha256, dict(data or {}), prev_hash, GENESIS)
    return replace(draft, hash=draft.computed_hash())


def next_record(
    head: ChainHead,
    at: str,
    kind: str,
    process_id: str | None,
    peer: str | None,
    subject_sha256: str | None,
    data: object,
) -> Record:
    """What `make_record(head, ...)` makes, for the node's own journal (appends are on every protocol step). `at`
    (from `format_utc`) and `subject_sha256` (a digest just computed) are the journal's own and are not checked
    again; the head (read back from the store) and every field a caller supplies are, as in construction."""
    seq, prev = _after(head)
    _check_kind(kind)
    _check_text("process_id", process_id)
    _check_text("peer", peer, did=True)
    copy, data_json = _frozen_data(data)
    body = sha256_hex(_body_bytes(at, kind, process_id, peer, subject_sha256, data_json))
    record = Record.__new__(Record)
    # Filled as construction would (frozen: not through setattr), without running the checks again.
    record.__dict__.update(
        seq=seq,
        at=at,
        kind=kind,
        process_id=process_id,
        peer=peer,
        subject_sha256=subject_sha256,
        data=copy,
        prev=prev,
        hash=link_hash(seq, prev, body),
        _data_json=data_json,
    )
    return record


# --- verifying a chain -------------------------------------------------------------------------------------

ALTERED = "altered"  # a record's content no longer matches its hash
MISSING = "missing"  # a seq is absent: records were removed
REORDERED = "reordered"  # records are present but out of order
INSERTED = "inserted"  # two different intact records claim the same seq: one was added
DUPLICATE = "duplicate"  # the same record appears twice
WRONG_PREV = "wrong_prev"  # an intact record does not link to the one before it (its predecessor was replaced)
MALFORMED = "malformed"  # an entry is not a readable record
TRUNCATED = "truncated"  # the log ends before the expected head
DIVERGED = "diverged"  # the log reaches the expected count but with a different hash: it was rewritten
NOT_COVERED = "not_covered"  # the expected head lies before the records given

RecordLike = Record | Mapping[str, Any] | bytes | str


@dataclass(frozen=True)
class ChainBreak:
    """The first place where a chain fails to verify."""

    kind: str
    seq: int | None  # the seq the break is about (the missing one, the altered one, ...)
    position: int  # 0-based index in the list that was verified
    reason: str

    @property
    def problem(self) -> Problem:
        where = f"seq {self.seq}" if self.seq is not None else f"position {self.position}"
        return Problem(f"chain.{self.kind}", self.reason, where, {"seq": self.seq, "position": self.position})


@dataclass(frozen=True)
class ChainReport:
    verified: int  # records checked and linked before the first break (all of them when ok)
    head: ChainHead  # the last verified record (or the starting point when none verified)
    first_break: ChainBreak | None = None

    @property
    def ok(self) -> bool:
        return self.first_break is None

    @property
    def problem(self) -> Problem | None:
        return None if self.first_break is None else self.first_break.problem


def _coerce(item: object) -> Record | EvidenceError:
    try:
        if isinstance(item, Record):
            return item
        if isinstance(item, bytearray):
            return Record.from_line(bytes(item))
        if isinstance(item, (bytes, str)):
            return Record.from_line(item)
        return Record.from_json(item)
    except EvidenceError as exc:
        return exc


def missing_before(expected_seq: int, seq: int, position: int) -> ChainBreak:
    """The break of records `expected_seq`..`seq - 1` missing before the record `seq` at `position`."""
    gap = f"seq {expected_seq}" if seq == expected_seq + 1 else f"seqs {expected_seq}..{seq - 1}"
    return ChainBreak(MISSING, expected_seq, position, f"{gap} missing before seq {seq}: records were removed")


def _examine(
    position: int,
    item: Record | EvidenceError,
    expected_seq: int,
    expected_prev: str,
    items: Sequence[Record | EvidenceError],
    intact_at: Mapping[int, list[int]],
    intact: bool,
) -> ChainBreak | None:
    if isinstance(item, EvidenceError):
        reason = f"entry at position {position} is not a valid record: {item.reason}"
        return ChainBreak(MALFORMED, None, position, reason)
    seq = item.seq
    if not intact:
        return ChainBreak(ALTERED, seq, position, f"record seq {seq} does not match its hash: its content was altered")
    twins = [j for j in intact_at.get(seq, []) if j != position]
    if twins:
        other = items[twins[0]]
        assert isinstance(other, Record)
        if other.hash == item.hash:
            reason = f"record seq {seq} appears more than once (positions {position} and {twins[0]})"
            return ChainBreak(DUPLICATE, seq, position, reason)
        return ChainBreak(
            INSERTED,
            seq,
            position,
            f"two different records claim seq {seq} (positions {position} and {twins[0]}): one was inserted",
        )
    if seq != expected_seq:
        later = any(
            isinstance(items[j], Record) and items[j].seq == expected_seq  # type: ignore[union-attr]
            for j in range(position + 1, len(items))
        )
        if later or seq < expected_seq:
            reason = f"seq {expected_seq} expected at position {position} but seq {seq} found: records were reordered"
            return ChainBreak(REORDERED, expected_seq, position, reason)
        return missing_before(expected_seq, seq, position)
    if item.prev != expected_prev:
        return ChainBreak(
            WRONG_PREV,
            seq,
            position,
            f"record seq {seq} does not link to the record before it: that record was replaced or the log was spliced",
        )
    return None


def verify_chain(
    records: Iterable[RecordLike],
    start_prev: str | None = None,
    *,
    start_seq: int | None = None,
    expect_head: ChainHead | None = None,
) -> ChainReport:
    """Check that `records` form an unbroken chain and name the first broken link.

    Without `start_prev` the records must start at seq 1 (prev = GENESIS). With it, they are a segment whose
    first record follows `start_prev` (at `start_seq` when given). Records may be `Record`s, their JSON objects
    or their canonical export lines. A chain can only show what it contains: removing records from its end or
    rewriting it wholesale is detected only against `expect_head`, the (count, hash) of a signed checkpoint.
    """
    items = [_coerce(r) for r in records]
    intact = [isinstance(item, Record) and item.intact for item in items]
    intact_at: dict[int, list[int]] = {}
    for index, item in enumerate(items):
        if intact[index]:
            assert isinstance(item, Record)
            intact_at.setdefault(item.seq, []).append(index)

    if start_prev is None:
        if start_seq not in (None, 1):
            raise ValueError("a chain verified from its genesis starts at seq 1")
        expected_seq, expected_prev = 1, GENESIS
    else:
        if not _is_hex64(start_prev):
            raise ValueError("start_prev must be 64 lowercase hex digits")
        first = items[0] if items else None
        guess = first.seq if isinstance(first, Record) else 1
        expected_seq, expected_prev = (start_seq if start_seq is not None else guess), start_prev

    first_seq = expected_seq - 1  # the seq `start_prev` (or GENESIS) stands for
    committed = expected_prev if expect_head is not None and expect_head.count == first_seq else None
    for position, item in enumerate(items):
        broken = _examine(position, item, expected_seq, expected_prev, items, intact_at, intact[position])
        if broken is not None:
            return ChainReport(position, ChainHead(expected_seq - 1, expected_prev), broken)
        assert isinstance(item, Record)
        if expect_head is not None and item.seq == expect_head.count:
            committed = item.hash
        expected_seq, expected_prev = item.seq + 1, item.hash

    head = ChainHead(expected_seq - 1, expected_prev)
    report = ChainReport(len(items), head, None)
    if expect_head is None:
        return report
    end = len(items)
    if expect_head.count < first_seq:
        reason = f"the expected head (seq {expect_head.count}) precedes the records given"
        broken = ChainBreak(NOT_COVERED, expect_head.count, end, reason)
    elif expect_head.count > head.count:
        broken = ChainBreak(
            TRUNCATED,
            head.count + 1,
            end,
            f"the log ends at seq {head.count} but {expect_head.count} records were committed: records were removed",
        )
    elif committed != expect_head.hash:
        broken = ChainBreak(
            DIVERGED,
            expect_head.count,
            end,
            f"record seq {expect_head.count} differs from the committed head: the log was rewritten",
        )
    else:
        return report
    return ChainReport(len(items), head, broken)


# --- inclusion proofs --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class InclusionProof:
    """Disclosed records (ascending seq) plus the body digest of every undisclosed record after the first
    disclosed one, in order, up to and including seq `upto` (the count of the checkpoint proven against)."""

    records: tuple[Record, ...]
    bodies: tuple[str, ...]
    upto: int

    def to_json(self) -> dict[str, Any]:
        return {"records": [r.to_json() for r in self.records], "bodies": list(self.bodies), "upto": self.upto}

    @classmethod
    def from_json(cls, obj: object) -> InclusionProof:
        if not isinstance(obj, Mapping) or set(obj) != {"records", "bodies", "upto"}:
            raise EvidenceError("inclusion.malformed", "an inclusion proof has exactly records, bodies and upto")
        records, bodies, upto = obj["records"], obj["bodies"], obj["upto"]
        if not isinstance(records, list) or not isinstance(bodies, list):
            raise EvidenceError("inclusion.malformed", "records and bodies must be lists")
        if not all(_is_hex64(b) for b in bodies):
            raise EvidenceError("inclusion.malformed", "bodies must be 64-hex digests", "bodies")
        if not isinstance(upto, int) or isinstance(upto, bool) or upto < 1:
            raise EvidenceError("inclusion.malformed", "upto must be a positive integer", "upto")
        try:
            parsed = tuple(Record.from_json(r) for r in records)
        except EvidenceError as exc:
            reason = f"a disclosed record is malformed: {exc.reason}"
            raise EvidenceError("inclusion.malformed", reason, "records") from None
        return cls(parsed, tuple(bodies), upto)


def verify_inclusion(proof: InclusionProof, head: ChainHead) -> tuple[Record, ...]:
    """Prove that every record in `proof` sits, unaltered and at its seq, in the chain whose record `head.count`
    has hash `head.hash` (taken from a verified checkpoint). Returns the proven records."""
    records = proof.records
    if not records:
        raise EvidenceError("inclusion.empty", "the proof discloses no records")
    if proof.upto != head.count:
        reason = f"the proof reaches seq {proof.upto}, the checkpoint covers {head.count}"
        raise EvidenceError("inclusion.count", reason)
    seqs = [r.seq for r in records]
    if any(b <= a for a, b in zip(seqs, seqs[1:])):
        raise EvidenceError("inclusion.order", "disclosed records are not in strictly ascending seq order")
    if seqs[-1] > head.count:
        raise EvidenceError("inclusion.beyond", f"record seq {seqs[-1]} lies beyond the checkpoint (seq {head.count})")
    if len(records) + len(proof.bodies) != head.count - seqs[0] + 1:
        raise EvidenceError(
            "inclusion.length", "the number of disclosed records and digests does not span the run to the checkpoint"
        )
    for record in records:
        if not record.intact:
            reason = f"record seq {record.seq} does not match its hash"
            raise EvidenceError("inclusion.altered", reason, f"seq {record.seq}")
    disclosed = {r.seq: r for r in records}
    bodies = iter(proof.bodies)
    running = records[0].prev
    for seq in range(seqs[0], head.count + 1):
        found = disclosed.get(seq)
        if found is None:
            running = link_hash(seq, running, next(bodies))
            continue
        if found.prev != running:
            reason = f"record seq {seq} does not follow from the run before it"
            raise EvidenceError("inclusion.link", reason, f"seq {seq}")
        running = found.hash
    if running != head.hash:
        raise EvidenceError("inclusion.head", "the run does not end at the checkpoint's head hash")
    return records


def make_inclusion_proof(chain: Sequence[Record], seqs: Iterable[int], upto: int | None = None) -> InclusionProof:
    """The proof for records `seqs` of `chain` up to seq `upto` (default: the last record given).

    `chain` must hold every record from the smallest wanted seq to `upto`; the proof is checked before it is
    returned, so a broken chain yields an error here rather than a proof no one can verify.
    """
    by_seq = {r.seq: r for r in chain}
    wanted = sorted(set(seqs))
    if not wanted:
        raise EvidenceError("inclusion.empty", "no records asked for")
    end = max(by_seq) if upto is None and by_seq else upto
    if end is None or wanted[-1] > end:
        raise EvidenceError("inclusion.beyond", "a wanted record lies beyond the end of the proof")
    absent = [s for s in range(wanted[0], end + 1) if s not in by_seq]
    if absent:
        raise EvidenceError("inclusion.incomplete", f"the chain given lacks seq {absent[0]}")
    chosen = set(wanted)
    proof = InclusionProof(
        tuple(by_seq[s] for s in wanted),
        tuple(by_seq[s].body_sha256 for s in range(wanted[0], end + 1) if s not in chosen),
        end,
    )
    verify_inclusion(proof, by_seq[end].head)
    return proof
