""" "Narrower or equal": when a requested constraint provably implies an offered one, and when a requested policy is
at least as strict as an offer.

`narrowing(offer, requested)` is True only when every context that satisfies `requested` also satisfies `offer`,
proved from the constraints alone (contexts with every value known; in others evaluation denies anyway).
Anything not proved is not narrower. What is proved, per value kind (same left operand on both sides):

- order kinds (`count`, `dateTime`): the integers (microsecond instants) the request admits are a subset of those
  the offer admits: `count lteq 5` is narrowed by `lteq 3`, `eq 2`, `lt 5`; `dateTime lteq 2026-12-31` by
  `lteq 2026-06-30` or `lt 2026-12-31T12:00Z`.
- `elapsedTime`: bounds in the same direction with a duration that is shorter (upper bounds) or longer (lower
  bounds) from every possible start, counting a month as 28 to 31 days: `lteq P30D` is narrowed by `lteq P7D`,
  `lteq PT1H`, `lteq P0M27D`, not by `lteq P1M`.
- single strings (`purpose`, `countryOfEstablishment`, `registeredIn`, `legalEntity`, regions expanded): "is
  one of S1" narrows "is one of S2" when S1 is a subset of S2; "is none of S1" narrows "is none of S2" when S1
  includes S2; "is one of S1" narrows "is none of S2" when they are disjoint; for countries, "is none of S1"
  narrows "is one of S2" when every other country is in S2. So `purpose isAnyOf [research, education]` is
  narrowed by `purpose eq research` and `countryOfEstablishment isPartOf EEA` by `eq DE` or `isPartOf EU`.
- sets (`membership`, `credentialType`): by the table in `_set_implies`, e.g. `isAnyOf [a, b, c]` is narrowed by
  `isAnyOf [a, b]`, `eq a` and `isAllOf [a, x]`.
- logical: a request implies an `and` (or `andSequence`) offer when it implies every member; a request `and`
  implies an offer when one member does; a request `or`/`xone` when every member does; a request implies an offer
  `or` when it implies one member (all of whose members the node can evaluate). Equal normal forms always narrow.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping

from connector.policy.model import AtomicConstraint, Constraint, LogicalConstraint, Policy, Rule
from connector.policy.normalise import constraint_key, describe_constraint, describe_rule, rule_key
from connector.policy.operands import DurationTest, OrderTest, PlaceTest, SetTest, TermTest
from connector.policy.regions import COUNTRY_CODES, expand_place
from connector.policy.values import duration_provably_le, duration_provably_lt, intervals_subset
from connector.policy.vocabulary import action_covers

Regions = Mapping[str, frozenset[str]]


def _set_implies(a: SetTest, b: SetTest) -> bool:
    """Whether every set V passing `a` passes `b` (modes in operands.SetTest)."""
    sa, sb = a.values, b.values
    ma, mb = a.mode, b.mode
    if mb == "all":  # sb <= V
        return (ma in ("all", "exactly") and sb <= sa) or (ma == "any" and len(sa) == 1 and sb <= sa)
    if mb == "any":  # V meets sb
        return (ma in ("all", "exactly") and not sa.isdisjoint(sb)) or (ma in ("any", "within") and sa <= sb)
    if mb == "none":  # V misses sb
        return (ma == "none" and sb <= sa) or (ma in ("exactly", "within") and sa.isdisjoint(sb))
    if mb == "exactly":
        return (ma == "exactly" and sa == sb) or (ma == "within" and sa == sb and len(sa) == 1)
    if mb == "not_exactly":
        return (
            (ma == "not_exactly" and sa == sb)
            or (ma == "exactly" and sa != sb)
            or (ma == "all" and not sa <= sb)
            or (ma == "none" and not sa.isdisjoint(sb))
            or (ma == "any" and sa.isdisjoint(sb))
            or (ma == "within" and not sb <= sa)
        )
    # within: V non-empty and V <= sb
    return (ma == "within" and sa <= sb) or (ma == "exactly" and bool(sa) and sa <= sb)


def _choice_implies(
    pa: bool, sa: frozenset[str], pb: bool, sb: frozenset[str], universe: frozenset[str] | None
) -> bool:
    """ "V in S" (positive) / "V not in S" (negative) implication, V ranging over `universe` (None: unbounded)."""
    if universe is not None:
        sa, sb = sa & universe, sb & universe
    if pa and pb:
        return sa <= sb
    if pa and not pb:
        return sa.isdisjoint(sb)
    if not pa and not pb:
        return sb <= sa
    return universe is not None and universe - sa <= sb


def _duration_implies(a: DurationTest, b: DurationTest) -> bool:
    da, db, oa, ob = a.duration, b.duration, a.operator, b.operator
    if ob == "lteq":
        return oa in ("lteq", "lt") and duration_provably_le(da, db)
    if ob == "lt":
        return (oa == "lt" and duration_provably_le(da, db)) or (oa == "lteq" and duration_provably_lt(da, db))
    if ob == "gteq":
        return oa in ("gteq", "gt") and duration_provably_le(db, da)
    return (oa == "gt" and duration_provably_le(db, da)) or (oa == "gteq" and duration_provably_lt(db, da))  # gt


def _atomic_implies(a: AtomicConstraint, b: AtomicConstraint, regions: Regions) -> bool:
    if a.left_operand != b.left_operand or a.problems or b.problems:
        return False
    ca, cb = a.compiled, b.compiled
    if isinstance(ca, OrderTest) and isinstance(cb, OrderTest):
        return intervals_subset(ca.intervals, cb.intervals)
    if isinstance(ca, SetTest) and isinstance(cb, SetTest):
        return _set_implies(ca, cb)
    if isinstance(ca, TermTest) and isinstance(cb, TermTest):
        return _choice_implies(ca.positive, ca.values, cb.positive, cb.values, None)
    if isinstance(ca, PlaceTest) and isinstance(cb, PlaceTest):
        sa, sb = _expand(ca, regions), _expand(cb, regions)
        if sa is None or sb is None:
            return False
        return _choice_implies(ca.positive, sa, cb.positive, sb, COUNTRY_CODES)
    if isinstance(ca, DurationTest) and isinstance(cb, DurationTest):
        return _duration_implies(ca, cb)
    return False


def _expand(test: PlaceTest, regions: Regions) -> frozenset[str] | None:
    if test.static is not None:
        return test.static
    found: set[str] = set()
    for name in test.names:
        members = expand_place(name, regions)
        if members is None:
            return None
        found |= members
    return frozenset(found)


def _evaluable(constraint: Constraint, regions: Regions) -> bool:
    """Whether the node can evaluate this constraint whenever its values are known."""
    if isinstance(constraint, AtomicConstraint):
        if constraint.problems:
            return False
        return not isinstance(constraint.compiled, PlaceTest) or _expand(constraint.compiled, regions) is not None
    return bool(constraint.constraints) and all(_evaluable(c, regions) for c in constraint.constraints)


def _implies(a: Constraint, b: Constraint, regions: Regions) -> bool:
    if constraint_key(a) == constraint_key(b):
        return True
    if isinstance(b, LogicalConstraint) and b.operator in ("and", "andSequence") and b.constraints:
        return all(_implies(a, member, regions) for member in b.constraints)
    if isinstance(a, LogicalConstraint) and a.constraints:
        if a.operator in ("or", "xone"):
            if all(_implies(member, b, regions) for member in a.constraints):
                return True
        elif any(_implies(member, b, regions) for member in a.constraints):
            return True
    if isinstance(b, LogicalConstraint) and b.operator == "or" and _evaluable(b, regions):
        if any(_implies(a, member, regions) for member in b.constraints):
            return True
    if isinstance(a, AtomicConstraint) and isinstance(b, AtomicConstraint):
        return _atomic_implies(a, b, regions)
    return False


def narrowing(offer_constraint: Constraint, requested_constraint: Constraint, regions: Regions | None = None) -> bool:
    """Whether `requested_constraint` is provably narrower than or equal to `offer_constraint`."""
    return _implies(requested_constraint, offer_constraint, regions or {})


def _all_of(constraints: tuple[Constraint, ...]) -> LogicalConstraint:
    return LogicalConstraint("and", constraints)


def _kept(required: tuple[Rule, ...], present: tuple[Rule, ...]) -> list[Rule]:
    """Members of `required` (duties) missing from `present`, as multisets of normal forms."""
    available = Counter(rule_key(r) for r in present)
    missing: list[Rule] = []
    for rule in required:
        key = rule_key(rule)
        if available[key] > 0:
            available[key] -= 1
        else:
            missing.append(rule)
    return missing


def permission_gaps(offered: Rule, requested: Rule, regions: Regions) -> list[str]:
    """Why `requested` does not grant at most what `offered` grants (empty: it is narrower or equal)."""
    if not action_covers(offered.action, requested.action):
        return [f"it is about '{requested.action}', which the offered '{offered.action}' does not cover"]
    gaps: list[str] = []
    conjunction = _all_of(requested.constraints)
    for constraint in offered.constraints:
        if not _implies(conjunction, constraint, regions):
            gaps.append(f"the offer's constraint '{describe_constraint(constraint)}' is missing or widened")
    for duty in _kept(offered.duties, requested.duties):
        gaps.append(f"the offer's duty '{duty.action}' was dropped")
    return gaps


def prohibition_gaps(offered: Rule, requested: Rule, regions: Regions) -> list[str]:
    """Why `requested` does not prohibit at least what `offered` prohibits (empty: it does)."""
    if not action_covers(requested.action, offered.action):
        return [f"it is about '{requested.action}', which does not cover '{offered.action}'"]
    gaps: list[str] = []
    conjunction = _all_of(offered.constraints)
    for constraint in requested.constraints:
        if not _implies(conjunction, constraint, regions):
            gaps.append(f"its constraint '{describe_constraint(constraint)}' narrows the offered prohibition")
    for remedy in _kept(offered.duties, requested.duties):
        gaps.append(f"the offer's remedy '{remedy.action}' was dropped")
    return gaps


def strictness_gaps(offer: Policy, request: Policy, target: str | None, regions: Regions | None = None) -> list[str]:
    """Why `request` is not at least as strict as `offer` for `target`; empty when it is.

    At least as strict: same target; every requested permission narrows an offered one (same or narrower action,
    every offered constraint present or narrower, every offered duty kept; extra constraints allowed); every
    offered prohibition is kept by a requested one at least as broad; every offered obligation is kept."""
    regions = regions or {}
    gaps: list[str] = []
    if target is None:
        gaps.append("the offer names no target to compare with")
    elif request.target is None:
        gaps.append(f"the request names no target; the offer is for {target}")
    elif request.target != target:
        gaps.append(f"the request is for target {request.target}, the offer for {target}")
    if offer.assigner and request.assigner and offer.assigner != request.assigner:
        gaps.append(f"the request names assigner {request.assigner}, the offer {offer.assigner}")
    for permission in request.permissions:
        per_offer = [permission_gaps(offered, permission, regions) for offered in offer.permissions]
        if any(not found for found in per_offer):
            continue
        if not offer.permissions:
            gaps.append(f"requested {describe_rule(permission)} is not offered: the offer has no permission")
            continue
        best = min(per_offer, key=len)
        gaps.append(f"requested {describe_rule(permission)} is not granted by the offer: " + "; ".join(best))
    for prohibition in offer.prohibitions:
        per_request = [prohibition_gaps(prohibition, kept, regions) for kept in request.prohibitions]
        if any(not found for found in per_request):
            continue
        fewest = min(per_request, key=len) if per_request else ["the request has no such prohibition"]
        gaps.append(f"offered {describe_rule(prohibition)} is not kept: " + "; ".join(fewest))
    for obligation in _kept(offer.obligations, request.obligations):
        gaps.append(f"offered {describe_rule(obligation)} is not kept")
    return gaps
