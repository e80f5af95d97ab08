"""The left operands this node evaluates, what each operator means for them, and where their values come from.

Value kinds and operator meanings (V is the observed value, R the right operand, a string or list of strings
unless said otherwise; a single string stands for a one-element set):

set of strings (`membership`, `credentialType`; V may be empty)
    eq r        r is in V (the peer holds it)         eq [r..]      V equals the set R exactly
    neq r       r is not in V                         neq [r..]     V differs from the set R
    isA r       r is in V
    hasPart R   every element of R is in V            isAllOf R     the same: V includes all of R
    isAnyOf R   V and R share an element              isNoneOf R    V and R share no element
    isPartOf R  V is non-empty and every element of V is in R
single string (`purpose`, `countryOfEstablishment`, `registeredIn`, `legalEntity`)
    eq r / neq r                      V equals / differs from r
    isAnyOf R, isPartOf R / isNoneOf R  V is / is not one of R
    For `countryOfEstablishment` and `registeredIn`, each name in R is a country code or a region standing for
    its member countries (`eq EU` reads "established in the EU"). hasPart, isAllOf and isA do not apply to one value.
date-time (`dateTime`; R an xsd:dateTime, or an xsd:date meaning that whole UTC day)
    eq, neq, lt, lteq, gt, gteq compare instants; against a date, eq/neq mean within/outside the day, lt/gteq
    compare with its first instant, lteq/gt with its last (`lteq 2026-12-31` includes all of 31 December).
integer (`count`; R an integer or a decimal string)
    eq, neq, lt, lteq, gt, gteq as usual.
duration (`elapsedTime`; R a non-negative ISO 8601 duration such as P30D, PT1H, P1M)
    V op R means now op (agreement time + R), months added on the calendar. eq means lteq, following ODRL's note
    that elapsedTime eq P60M grants a 60-minute window; neq does not apply.
Anything else (an operator outside a kind's list, set operators on numbers, ...) is not evaluable.

Where values come from (the trace names the source and the particular credential, record or reading):

Values read from credentials include the peer's credentials of other federations that this node's federation
recognises (`VerifiedClaims.recognised`), in this federation's terms, when the recognition covers the declared
purpose; the provenance then names the recognition path (which statements, signed by whom, for what, until when).

- `membership`: the `memberOf` claims (string, list, or objects with an id) of the peer's verified
  MembershipCredentials; `credentialType`: the types of all its verified credentials, VerifiableCredential
  excepted. Source "verified credentials". An unverified peer (no claims) makes both not evaluable; a verified
  peer without such credentials has the empty set.
- `countryOfEstablishment`: the `countryOfEstablishment` claim of the verified OrganizationCredential, upper-cased
  (`legalName` is only shown). Source "verified credentials". Not evaluable without one, when several disagree,
  or when the claim is not an ISO 3166-1 alpha-2 code.
- `registeredIn`, `legalEntity`: the registry facts of the verified OrganizationCredential - what its issuer
  checked against a base registry at issuance (`connector.trust.registries`): the country of the registered legal
  address (a place, like `countryOfEstablishment`), and the legal entity as ``<registry>:<identifier>`` (e.g.
  ``lei:5299...`` or ``jp-corporate-number:7010...``; `isAnyOf` a list admits the entities it names). Source
  "verified credentials"; the provenance names the registry, the publication and when it was checked. Not
  evaluable without a credential carrying such facts, or when several disagree.
- `purpose`: `DecisionContext.purpose`, what the consumer declared. Source "declared by the consumer".
- `dateTime`: `DecisionContext.now`. Source "node clock".
- `count`: the number of transfers started under the agreement *including the one being decided*, that is
  `use_count + 1` at stage "transfer" (so `count lteq 5` admits exactly five transfers). Before an agreement
  exists (stages "catalog" and "negotiation") it is 1, the prospective first transfer. Source "agreement usage
  record".
- `elapsedTime`: `now - agreement_time` at stage "transfer" (not evaluable without the agreement time); zero
  before an agreement exists, as if concluded now. Source "agreement timestamp and node clock".
"""

from __future__ import annotations

import weakref
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from connector.errors import ConnectorError
from connector.policy.context import DecisionContext
from connector.policy.regions import COUNTRY_CODES, describe_place, expand_place, is_static_place
from connector.policy.values import (
    Duration,
    IntervalSet,
    add_duration,
    format_instant,
    in_intervals,
    order_intervals,
    parse_date_time,
    parse_duration,
    parse_integer,
    to_micros,
)
from connector.trust.claims import (
    MEMBERSHIP_CREDENTIAL,
    ORGANIZATION_CREDENTIAL,
    RecognisedCredential,
    VerifiedClaims,
    VerifiedCredential,
)

if TYPE_CHECKING:
    from connector.trust.registries import RegistryFacts

# Where values come from; the trace names these.
FROM_CREDENTIALS = "verified credentials"
FROM_CONSUMER = "declared by the consumer"
FROM_CLOCK = "node clock"
FROM_USAGE = "agreement usage record"
FROM_AGREEMENT_CLOCK = "agreement timestamp and node clock"

SET_OPERATORS = frozenset({"eq", "neq", "isA", "hasPart", "isAllOf", "isAnyOf", "isNoneOf", "isPartOf"})
CHOICE_OPERATORS = frozenset({"eq", "neq", "isAnyOf", "isPartOf", "isNoneOf"})
ORDER_OPERATORS = frozenset({"eq", "neq", "lt", "lteq", "gt", "gteq"})
DURATION_OPERATORS = frozenset({"eq", "lt", "lteq", "gt", "gteq"})


class NotEvaluable(Exception):
    """Raised by a test that meets a value it cannot judge (a region unknown to this node's configuration)."""

    def __init__(self, code: str, reason: str) -> None:
        super().__init__(reason)
        self.code = code
        self.reason = reason


# Interpreted right operands. Each has `test(value, regions) -> bool` and a `key` for normalised comparison.
@dataclass(frozen=True)
class SetTest:
    mode: str  # all | any | none | exactly | not_exactly | within
    values: frozenset[str]

    def test(self, value: frozenset[str], regions: Mapping[str, frozenset[str]]) -> bool:
        mode = self.mode
        if mode == "all":
            return self.values <= value
        if mode == "any":
            return not self.values.isdisjoint(value)
        if mode == "none":
            return self.values.isdisjoint(value)
        if mode == "exactly":
            return value == self.values
        if mode == "not_exactly":
            return value != self.values
        return bool(value) and value <= self.values  # within

    @property
    def key(self) -> tuple[Any, ...]:
        return ("set", self.mode, tuple(sorted(self.values)))


@dataclass(frozen=True)
class TermTest:
    positive: bool  # True: V is one of `values`; False: V is none of them
    values: frozenset[str]

    def test(self, value: str, regions: Mapping[str, frozenset[str]]) -> bool:
        return (value in self.values) == self.positive

    @property
    def key(self) -> tuple[Any, ...]:
        return ("term", self.positive, tuple(sorted(self.values)))


@dataclass(frozen=True)
class PlaceTest:
    positive: bool  # True: established in one of the places; False: in none of them
    names: tuple[str, ...]
    static: frozenset[str] | None  # the expansion when no name needs configuration

    def countries(self, regions: Mapping[str, frozenset[str]]) -> frozenset[str]:
        if self.static is not None:
            return self.static
        found: set[str] = set()
        for name in self.names:
            members = expand_place(name, regions)
            if members is None:
                raise NotEvaluable("policy.unknown_region", f"'{name}' is neither a country code nor a known region")
            found |= members
        return frozenset(found)

    def test(self, value: str, regions: Mapping[str, frozenset[str]]) -> bool:
        return (value in self.countries(regions)) == self.positive

    @property
    def key(self) -> tuple[Any, ...]:
        return ("place", self.positive, tuple(sorted(n.upper() if is_static_place(n) else n for n in self.names)))


@dataclass(frozen=True)
class OrderTest:
    intervals: IntervalSet  # the integers (counts, or instants in microseconds) that satisfy the constraint

    def test(self, value: int, regions: Mapping[str, frozenset[str]]) -> bool:
        return in_intervals(value, self.intervals)

    @property
    def key(self) -> tuple[Any, ...]:
        return ("order", self.intervals)


@dataclass(frozen=True)
class DurationTest:
    operator: str  # lt | lteq | gt | gteq (eq already read as lteq)
    duration: Duration

    def test(self, value: tuple[int, int], regions: Mapping[str, frozenset[str]]) -> bool:
        start, now = value
        end = add_duration(start, self.duration)
        op = self.operator
        if op == "lteq":
            return now <= end
        if op == "lt":
            return now < end
        if op == "gteq":
            return now >= end
        return now > end  # gt

    @property
    def key(self) -> tuple[Any, ...]:
        return ("duration", self.operator, self.duration.months, self.duration.micros)


Compiled = SetTest | TermTest | PlaceTest | OrderTest | DurationTest


@dataclass(frozen=True)
class Observation:
    """A left operand's value at decision time, with what a person needs to trust it."""

    value: Any
    seen: str  # "the peer is established in JP"
    source: str  # one of the FROM_* categories
    provenance: str  # the particular credential, record or clock reading
    available: bool = True
    code: str | None = None  # why not available, when it is not


@dataclass(frozen=True)
class OperandSpec:
    name: str
    kind: str  # set | term | place | instant | integer | duration
    operators: frozenset[str]
    source: str
    meaning: str
    observe: Callable[[DecisionContext], Observation]


def _bad(reason: str) -> ConnectorError:
    return ConnectorError("policy.bad_right_operand", reason)


def _strings(raw: Any, what: str) -> tuple[str, ...]:
    """A string or non-empty list of non-empty strings."""
    if isinstance(raw, str):
        if not raw:
            raise _bad(f"{what} must not be empty")
        return (raw,)
    if isinstance(raw, (list, tuple)):
        if not raw:
            raise _bad(f"{what} must not be an empty list")
        if not all(isinstance(item, str) and item for item in raw):
            raise _bad(f"{what} must list non-empty strings")
        return tuple(raw)
    raise _bad(f"{what} must be a string or a list of strings, not {type(raw).__name__}")


def _single(raw: Any, operator: str, what: str) -> str:
    if not isinstance(raw, str) or not raw:
        raise _bad(f"'{operator}' compares with one {what}, so the right operand must be a single string")
    return raw


def _compile_set(operator: str, raw: Any) -> SetTest:
    values = _strings(raw, "the right operand")
    if operator in ("eq", "neq"):
        if isinstance(raw, str):
            return SetTest("all" if operator == "eq" else "none", frozenset(values))
        return SetTest("exactly" if operator == "eq" else "not_exactly", frozenset(values))
    if operator == "isA":
        return SetTest("all", frozenset((_single(raw, operator, "value"),)))
    mode = {"hasPart": "all", "isAllOf": "all", "isAnyOf": "any", "isNoneOf": "none", "isPartOf": "within"}[operator]
    return SetTest(mode, frozenset(values))


def _compile_term(operator: str, raw: Any) -> TermTest:
    if operator in ("eq", "neq"):
        values: tuple[str, ...] = (_single(raw, operator, "value"),)
    else:
        values = _strings(raw, "the right operand")
    return TermTest(operator in ("eq", "isAnyOf", "isPartOf"), frozenset(values))


def _compile_place(operator: str, raw: Any) -> PlaceTest:
    if operator in ("eq", "neq"):
        names: tuple[str, ...] = (_single(raw, operator, "place"),)
    else:
        names = _strings(raw, "the right operand")
    static: frozenset[str] | None = None
    if all(is_static_place(n) for n in names):
        static = frozenset().union(*(expand_place(n, {}) or frozenset() for n in names))
    return PlaceTest(operator in ("eq", "isAnyOf", "isPartOf"), names, static)


def _compile_instant(operator: str, raw: Any) -> OrderTest:
    if not isinstance(raw, str):
        raise _bad("a dateTime right operand must be an xsd:dateTime or xsd:date string")
    try:
        span = parse_date_time(raw)
    except ConnectorError as exc:
        raise _bad(exc.reason) from exc
    return OrderTest(order_intervals(operator, span.first, span.last))


def _compile_integer(operator: str, raw: Any) -> OrderTest:
    try:
        number = parse_integer(raw)
    except ConnectorError as exc:
        raise _bad(f"a count must be an integer; {exc.reason}") from exc
    return OrderTest(order_intervals(operator, number, number))


def _compile_duration(operator: str, raw: Any) -> DurationTest:
    if not isinstance(raw, str):
        raise _bad("an elapsedTime right operand must be an ISO 8601 duration string such as P30D")
    try:
        duration = parse_duration(raw)
    except ConnectorError as exc:
        raise _bad(exc.reason) from exc
    return DurationTest("lteq" if operator == "eq" else operator, duration)


_COMPILERS: dict[str, Callable[[str, Any], Compiled]] = {
    "set": _compile_set,
    "term": _compile_term,
    "place": _compile_place,
    "instant": _compile_instant,
    "integer": _compile_integer,
    "duration": _compile_duration,
}


def compile_right_operand(spec: OperandSpec, operator: str, raw: Any) -> Compiled:
    """Interpret a right operand for a left operand; ConnectorError(policy.bad_right_operand) if it does not fit."""
    return _COMPILERS[spec.kind](operator, raw)


def describe_right_operand(spec: OperandSpec | None, raw: Any) -> str:
    """The right operand as a person reads it; places show the countries they stand for."""
    items = list(raw) if isinstance(raw, (list, tuple)) else [raw]
    if spec is not None and spec.kind == "place" and all(isinstance(i, str) for i in items):
        shown = [describe_place(i, expand_place(i, {})) if is_static_place(i) else i for i in items]
    else:
        shown = [i if isinstance(i, str) else repr(i) for i in items]
    if isinstance(raw, (list, tuple)):
        return "[" + ", ".join(shown) + "]"
    return shown[0]


def _set_text(values: frozenset[str]) -> str:
    return "{" + ", ".join(sorted(values)) + "}"


def _credential_origin(kind: str, issuer: str, federation: str) -> str:
    return f"verified {kind} issued by {issuer} in federation '{federation}'"


def _origin(kind: str, cred: VerifiedCredential, via: RecognisedCredential | None) -> str:
    """Where a credential a decision relies on comes from: verified as is, or recognised (with the path)."""
    if via is None:
        return _credential_origin(kind, cred.issuer, cred.federation)
    return f"{kind} of federation '{cred.federation}', {via.describe()}"


def _unverified(name: str) -> Observation:
    return Observation(
        None,
        "the peer's credentials were not verified",
        FROM_CREDENTIALS,
        f"no verified credentials to read {name} from",
        available=False,
        code="policy.missing_value",
    )


def _member_names(claim: Any) -> list[str]:
    """`memberOf` as a string, a list, or objects carrying an id."""
    items = claim if isinstance(claim, (list, tuple)) else [claim]
    names: list[str] = []
    for item in items:
        if isinstance(item, str) and item:
            names.append(item)
        elif isinstance(item, Mapping):
            ident = item.get("id", item.get("@id"))
            if isinstance(ident, str) and ident:
                names.append(ident)
    return names


def _observe_membership(ctx: DecisionContext) -> Observation:
    claims = ctx.claims
    if claims is None:
        return _unverified("membership")
    members: set[str] = set()
    origins: list[str] = []
    for cred, via in claims.usable(MEMBERSHIP_CREDENTIAL, ctx.purpose):
        names = _member_names(cred.subject.get("memberOf"))
        if names:
            members.update(names)
            origins.append(_origin(MEMBERSHIP_CREDENTIAL, cred, via))
    value = frozenset(members)
    seen = f"the peer is a verified member of {_set_text(value)}" if value else "the peer is a member of no data space"
    provenance = "; ".join(origins) if origins else "no verified MembershipCredential names a data space"
    return Observation(value, seen, FROM_CREDENTIALS, provenance)


def _observe_credential_types(ctx: DecisionContext) -> Observation:
    claims = ctx.claims
    if claims is None:
        return _unverified("credential types")
    usable = claims.usable(None, ctx.purpose)
    value = frozenset(t for c, _ in usable for t in c.types if t != "VerifiableCredential")
    federations = sorted({c.federation for c in claims.credentials})
    seen = f"the peer holds verified credentials of types {_set_text(value)}" if value else "the peer holds none"
    provenance = (
        f"{len(claims.credentials)} verified credential(s) from federation(s) "
        + ", ".join(f"'{f}'" for f in federations)
        if claims.credentials
        else "no verified credentials were presented"
    )
    recognised = [via.describe() for _, via in usable if via is not None]
    if recognised:
        provenance += "; " + "; ".join(recognised)
    return Observation(value, seen, FROM_CREDENTIALS, provenance)


def _observe_country(ctx: DecisionContext) -> Observation:
    claims = ctx.claims
    if claims is None:
        return _unverified("countryOfEstablishment")
    stated = []
    for cred, via in claims.usable(ORGANIZATION_CREDENTIAL, ctx.purpose):
        code = cred.subject.get("countryOfEstablishment")
        if isinstance(code, str) and code.strip():
            stated.append((code.strip().upper(), cred, via))
    if not stated:
        return Observation(
            None,
            "the peer's country of establishment is not known",
            FROM_CREDENTIALS,
            "no verified OrganizationCredential states a countryOfEstablishment",
            available=False,
            code="policy.missing_value",
        )
    codes = sorted({code for code, _, _ in stated})
    code, cred, via = stated[0]
    origin = _origin(ORGANIZATION_CREDENTIAL, cred, via)
    if len(codes) > 1:
        return Observation(
            None,
            "the peer's country of establishment is ambiguous",
            FROM_CREDENTIALS,
            "verified OrganizationCredentials disagree: " + ", ".join(codes),
            available=False,
            code="policy.ambiguous_value",
        )
    if code not in COUNTRY_CODES:
        return Observation(
            None,
            f"the peer states '{code}', which is not an ISO 3166-1 alpha-2 country code",
            FROM_CREDENTIALS,
            origin,
            available=False,
            code="policy.bad_value",
        )
    legal_name = cred.subject.get("legalName")
    who = f"the peer ({legal_name})" if isinstance(legal_name, str) and legal_name else "the peer"
    return Observation(code, f"{who} is established in {code}", FROM_CREDENTIALS, origin)


def _registry_facts(
    claims: VerifiedClaims, purpose: str | None
) -> list[tuple[RegistryFacts, VerifiedCredential, RecognisedCredential | None]]:
    from connector.trust.registries import read_registry_facts  # with the first registry operand evaluated

    found = []
    for cred, via in claims.usable(ORGANIZATION_CREDENTIAL, purpose):
        try:
            facts = read_registry_facts(cred.subject)
        except ConnectorError:  # a verified credential's facts are well-formed; this is defensive
            continue
        if facts is not None:
            found.append((facts, cred, via))
    return found


def _observe_registry(name: str, ctx: DecisionContext, value_of: Callable[[RegistryFacts], str]) -> Observation:
    claims = ctx.claims
    if claims is None:
        return _unverified(name)
    found = _registry_facts(claims, ctx.purpose)
    if not found:
        return Observation(
            None,
            "the peer's registration in a base registry is not known",
            FROM_CREDENTIALS,
            "no verified OrganizationCredential carries registry-checked facts",
            available=False,
            code="policy.missing_value",
        )
    values = sorted({value_of(f) for f, _, _ in found})
    if len(values) > 1:
        return Observation(
            None,
            f"the peer's {name} is ambiguous",
            FROM_CREDENTIALS,
            "verified OrganizationCredentials disagree: " + ", ".join(values),
            available=False,
            code="policy.ambiguous_value",
        )
    facts, cred, via = found[0]
    origin = _origin(ORGANIZATION_CREDENTIAL, cred, via)
    provenance = f"{origin}; registry {facts.describe()}"
    if name == "registeredIn":
        seen = f"the peer ({facts.legal_name}) is registered in {facts.address.country} as {facts.legal_entity}"
    else:
        seen = f"the peer is the legal entity {facts.legal_entity} ({facts.legal_name})"
    return Observation(values[0], seen, FROM_CREDENTIALS, provenance)


def _observe_registered_in(ctx: DecisionContext) -> Observation:
    return _observe_registry("registeredIn", ctx, lambda f: f.address.country)


def _observe_legal_entity(ctx: DecisionContext) -> Observation:
    return _observe_registry("legalEntity", ctx, lambda f: f.legal_entity)


def _observe_purpose(ctx: DecisionContext) -> Observation:
    if not ctx.purpose:
        return Observation(
            None,
            "the consumer declared no purpose",
            FROM_CONSUMER,
            f"nothing was declared for this {ctx.stage} decision",
            available=False,
            code="policy.missing_value",
        )
    return Observation(
        ctx.purpose, f"the consumer declared the purpose '{ctx.purpose}'", FROM_CONSUMER, "the consumer's request"
    )


def _observe_date_time(ctx: DecisionContext) -> Observation:
    now = to_micros(ctx.now)
    return Observation(now, f"the time is {format_instant(now)}", FROM_CLOCK, "read at decision time")


def _observe_count(ctx: DecisionContext) -> Observation:
    if ctx.stage != "transfer":
        return Observation(
            1,
            "the first transfer under a new agreement would be use 1",
            FROM_USAGE,
            f"no agreement exists yet at the {ctx.stage} stage",
        )
    use = ctx.use_count + 1
    return Observation(
        use,
        f"this transfer would be use {use} of the agreement",
        FROM_USAGE,
        f"{ctx.use_count} transfer(s) started before under this agreement",
    )


def _elapsed_text(micros: int) -> str:
    if micros < 0:
        return f"-{Duration(0, -micros)}"
    return str(Duration(0, micros))


def _observe_elapsed(ctx: DecisionContext) -> Observation:
    now = to_micros(ctx.now)
    if ctx.stage != "transfer":
        return Observation(
            (now, now),
            "no time has elapsed: the agreement would be concluded now",
            FROM_AGREEMENT_CLOCK,
            f"no agreement exists yet at the {ctx.stage} stage; node clock {format_instant(now)}",
        )
    if ctx.agreement_time is None:
        return Observation(
            None,
            "the time the agreement was concluded is not known",
            FROM_AGREEMENT_CLOCK,
            "no agreement timestamp was given",
            available=False,
            code="policy.missing_value",
        )
    start = to_micros(ctx.agreement_time)
    return Observation(
        (start, now),
        f"{_elapsed_text(now - start)} has elapsed since the agreement was concluded",
        FROM_AGREEMENT_CLOCK,
        f"agreement concluded at {format_instant(start)}, node clock {format_instant(now)}",
    )


OPERAND_SPECS: Mapping[str, OperandSpec] = {
    spec.name: spec
    for spec in (
        OperandSpec(
            "membership",
            "set",
            SET_OPERATORS,
            FROM_CREDENTIALS,
            "data spaces the peer is a verified member of (memberOf of its MembershipCredentials)",
            _observe_membership,
        ),
        OperandSpec(
            "credentialType",
            "set",
            SET_OPERATORS,
            FROM_CREDENTIALS,
            "types of the peer's verified credentials",
            _observe_credential_types,
        ),
        OperandSpec(
            "countryOfEstablishment",
            "place",
            CHOICE_OPERATORS,
            FROM_CREDENTIALS,
            "the peer's country of establishment (its verified OrganizationCredential)",
            _observe_country,
        ),
        OperandSpec(
            "registeredIn",
            "place",
            CHOICE_OPERATORS,
            FROM_CREDENTIALS,
            "the country where the peer is registered, as its issuer checked against a base registry",
            _observe_registered_in,
        ),
        OperandSpec(
            "legalEntity",
            "term",
            CHOICE_OPERATORS,
            FROM_CREDENTIALS,
            "the peer's legal entity in a base registry, as <registry>:<identifier> (jp-corporate-number, lei)",
            _observe_legal_entity,
        ),
        OperandSpec(
            "purpose", "term", CHOICE_OPERATORS, FROM_CONSUMER, "the purpose the consumer declared", _observe_purpose
        ),
        OperandSpec("dateTime", "instant", ORDER_OPERATORS, FROM_CLOCK, "the time of the decision", _observe_date_time),
        OperandSpec(
            "count",
            "integer",
            ORDER_OPERATORS,
            FROM_USAGE,
            "the number of transfers under the agreement, this one included",
            _observe_count,
        ),
        OperandSpec(
            "elapsedTime",
            "duration",
            DURATION_OPERATORS,
            FROM_AGREEMENT_CLOCK,
            "time since the agreement was concluded",
            _observe_elapsed,
        ),
    )
}


# Observations read from credentials depend on the VerifiedClaims object alone, and a node reuses that object
# for a peer until it re-verifies, so they are kept per claims object (dropped when it is garbage-collected)
# rather than recomputed for every new context.
FROM_CLAIMS = frozenset({"membership", "credentialType", "countryOfEstablishment", "registeredIn", "legalEntity"})
_claims_memo: dict[int, dict[str | tuple[str, str | None], Observation]] = {}


def _claims_observations(claims: VerifiedClaims) -> dict[str | tuple[str, str | None], Observation]:
    key = id(claims)
    found = _claims_memo.get(key)
    if found is None:
        found = _claims_memo[key] = {}
        weakref.finalize(claims, _claims_memo.pop, key, None)
    return found


def observe(name: str, ctx: DecisionContext) -> Observation:
    """The value of a known left operand in this context, computed once per context (per claims object for
    values read from credentials, and per purpose when recognised credentials count for some purposes only)."""
    cache = ctx.observations
    found = cache.get(name)
    if found is None:
        claims = ctx.claims
        if claims is not None and name in FROM_CLAIMS:
            shared = _claims_observations(claims)
            key: str | tuple[str, str | None] = (name, ctx.purpose) if claims.recognised else name
            found = shared.get(key)
            if found is None:
                found = shared[key] = OPERAND_SPECS[name].observe(ctx)
        else:
            found = OPERAND_SPECS[name].observe(ctx)
        cache[name] = found
    return found
