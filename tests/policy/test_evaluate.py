"""The decision rule: permissions, prohibitions, duties, obligations, actions and the assignee."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest

from connector.errors import ConnectorError
from connector.policy.engine import DecisionContext, evaluate, parse_policy
from connector.policy.vocabulary import action_covers

YES = {"leftOperand": "purpose", "operator": "eq", "rightOperand": "research"}
NO = {"leftOperand": "purpose", "operator": "eq", "rightOperand": "marketing"}


def decide(build: Any, doc: dict[str, Any], action: str = "use", **ctx: Any) -> Any:
    ctx.setdefault("purpose", "research")
    return evaluate(parse_policy(doc), build.ctx(ctx.pop("claims", None), **ctx), action)


def offer(**rules: Any) -> dict[str, Any]:
    return {"@id": "urn:p", "@type": "Offer", "target": "urn:t", **rules}


def test_an_unconstrained_permission_permits(build: Any) -> None:
    decision = decide(build, offer(permission=[{"action": "use"}]))
    assert decision.permitted
    assert decision.reasons == ("permission 'use' permits 'use': it has no constraints, and no prohibition applies",)


def test_one_satisfied_permission_among_several_is_enough(build: Any) -> None:
    decision = decide(
        build, offer(permission=[{"action": "use", "constraint": [NO]}, {"action": "use", "constraint": [YES]}])
    )
    assert decision.permitted
    assert decision.reasons[0].startswith("permission #2 'use' permits 'use'")


def test_no_satisfied_permission_denies_naming_each_failed_constraint(build: Any) -> None:
    decision = decide(
        build, offer(permission=[{"action": "use", "constraint": [NO]}, {"action": "use", "constraint": [YES, NO]}])
    )
    assert not decision.permitted
    assert len(decision.reasons) == 2
    assert all("purpose eq marketing" in reason and "not satisfied" in reason for reason in decision.reasons)
    assert decision.reasons[0].startswith("permission #1 'use' requires purpose eq marketing")


def test_a_policy_without_permissions_denies(build: Any) -> None:
    decision = decide(build, offer(prohibition=[{"action": "distribute"}]))
    assert not decision.permitted
    assert decision.reasons == ("the policy has no permission that covers 'use'",)


def test_a_satisfied_prohibition_wins_over_a_permission(build: Any) -> None:
    doc = offer(permission=[{"action": "use"}], prohibition=[{"action": "use", "constraint": [YES]}])
    decision = decide(build, doc)
    assert not decision.permitted
    assert decision.reasons[0].startswith("prohibition 'use' applies: prohibition 'use' requires purpose eq research")


def test_an_unconditional_prohibition_applies_unconditionally(build: Any) -> None:
    decision = decide(build, offer(permission=[{"action": "use"}], prohibition=[{"action": "use"}]))
    assert decision.reasons == ("prohibition 'use' applies: unconditionally",)


def test_an_unsatisfied_prohibition_does_not_block(build: Any) -> None:
    doc = offer(permission=[{"action": "use"}], prohibition=[{"action": "use", "constraint": [NO]}])
    assert decide(build, doc).permitted


def test_a_prohibition_that_cannot_be_evaluated_denies(build: Any) -> None:
    japan = {"leftOperand": "countryOfEstablishment", "operator": "eq", "rightOperand": "JP"}
    doc = offer(permission=[{"action": "use"}], prohibition=[{"action": "use", "constraint": [japan]}])
    decision = decide(build, doc)
    assert not decision.permitted  # no verified OrganizationCredential: cannot rule the prohibition out
    assert "not evaluable" in decision.reasons[0]


def test_a_duty_on_a_permission_denies_because_the_node_fulfils_none(build: Any) -> None:
    decision = decide(build, offer(permission=[{"action": "use", "duty": [{"action": "delete"}]}]))
    assert not decision.permitted
    assert decision.reasons == ("permission 'use' imposes the duty 'delete', which this node cannot fulfil",)
    duty = decision.trace.children[0].children[0]
    assert (duty.kind, duty.outcome, duty.code) == ("duty", "cannot be fulfilled", "policy.unfulfillable_duty")


def test_an_obligation_denies(build: Any) -> None:
    decision = decide(build, offer(permission=[{"action": "use"}], obligation=[{"action": "compensate"}]))
    assert decision.reasons == ("the policy imposes the obligation 'compensate', which this node cannot fulfil",)


def test_a_prohibition_remedy_does_not_block(build: Any) -> None:
    remedied = {"action": "use", "constraint": [NO], "remedy": [{"action": "delete"}]}
    decision = decide(build, offer(permission=[{"action": "use"}], prohibition=[remedied]))
    assert decision.permitted


@pytest.mark.parametrize(
    ("rule_action", "requested", "covers"),
    [
        ("use", "use", True),
        ("use", "read", True),
        ("use", "distribute", True),
        ("use", "transfer", False),
        ("use", "sell", False),
        ("transfer", "sell", True),
        ("read", "use", False),
        ("read", "read", True),
        ("use", "urn:custom:analyse", True),
    ],
)
def test_action_hierarchy(rule_action: str, requested: str, covers: bool) -> None:
    assert action_covers(rule_action, requested) is covers


def test_use_permits_narrower_actions_but_not_the_reverse(build: Any) -> None:
    assert decide(build, offer(permission=[{"action": "use"}]), action="odrl:read").permitted
    decision = decide(build, offer(permission=[{"action": "read"}]), action="use")
    assert not decision.permitted
    assert decision.trace.children[0].outcome == "not applicable"


def test_a_prohibition_on_a_narrower_action_does_not_block_the_broader_request(build: Any) -> None:
    doc = offer(permission=[{"action": "use"}], prohibition=[{"action": "distribute"}])
    assert decide(build, doc, action="use").permitted
    assert not decide(build, doc, action="distribute").permitted


def test_an_assigned_policy_requires_the_verified_peer_to_be_the_assignee(build: Any) -> None:
    doc = offer(permission=[{"action": "use"}], assignee=build.peer)
    assert decide(build, doc, claims=build.claims()).permitted
    stranger = decide(build, doc, claims=build.claims(participant="did:web:elsewhere"))
    assert not stranger.permitted and "assigned to" in stranger.reasons[0]
    unverified = decide(build, doc)
    assert not unverified.permitted and "not verified" in unverified.reasons[0]


def test_reasons_are_not_repeated(build: Any) -> None:
    unknown = {"leftOperand": "partner", "operator": "eq", "rightOperand": "gold"}
    decision = decide(build, offer(permission=[{"action": "use", "constraint": [unknown]}]))
    assert len(decision.reasons) == len(set(decision.reasons)) == 1


def test_the_trace_has_one_node_per_rule_and_constraint(build: Any) -> None:
    doc = offer(
        permission=[{"action": "use", "constraint": [YES, {"or": [NO, YES]}]}],
        prohibition=[{"action": "use", "constraint": [NO]}],
    )
    trace = decide(build, doc).trace
    assert trace.kind == "policy" and trace.outcome == "permitted"
    assert [n.kind for n in trace.walk()] == [
        "policy",
        "permission",
        "constraint",
        "or",
        "constraint",
        "constraint",
        "prohibition",
        "constraint",
    ]
    assert [n.where for n in trace.walk() if n.kind == "constraint"] == [
        "permission[0].constraint[0]",
        "permission[0].constraint[1].or[0]",
        "permission[0].constraint[1].or[1]",
        "prohibition[0].constraint[0]",
    ]


def test_decisions_do_not_depend_on_earlier_decisions_sharing_a_context(build: Any) -> None:
    ctx = build.ctx(build.claims(country="DE"), purpose="research")
    first = parse_policy(
        offer(
            permission=[
                {
                    "action": "use",
                    "constraint": [
                        {"leftOperand": "countryOfEstablishment", "operator": "isPartOf", "rightOperand": "EU"}
                    ],
                }
            ]
        )
    )
    second = parse_policy(
        offer(
            permission=[
                {
                    "action": "use",
                    "constraint": [
                        {"leftOperand": "countryOfEstablishment", "operator": "isNoneOf", "rightOperand": ["EU"]}
                    ],
                }
            ]
        )
    )
    assert [evaluate(first, ctx).permitted, evaluate(second, ctx).permitted, evaluate(first, ctx).permitted] == [
        True,
        False,
        True,
    ]


@pytest.mark.parametrize(
    "fields",
    [
        {"now": datetime(2026, 1, 1)},  # naive
        {"now": datetime(2026, 1, 1, tzinfo=UTC), "agreement_time": datetime(2026, 1, 1)},
        {"now": datetime(2026, 1, 1, tzinfo=UTC), "use_count": -1},
        {"now": datetime(2026, 1, 1, tzinfo=UTC), "use_count": True},
        {"now": datetime(2026, 1, 1, tzinfo=UTC), "stage": "delivery"},
    ],
)
def test_a_context_refuses_values_it_cannot_decide_with(fields: dict[str, Any]) -> None:
    with pytest.raises(ConnectorError) as caught:
        DecisionContext(None, **fields)
    assert caught.value.code == "policy.bad_context"


def test_any_timezone_is_accepted_for_now(build: Any) -> None:
    tokyo = timezone(timedelta(hours=9))
    doc = offer(
        permission=[
            {
                "action": "use",
                "constraint": [{"leftOperand": "dateTime", "operator": "lt", "rightOperand": "2026-03-01T12:00:00Z"}],
            }
        ]
    )
    assert decide(build, doc, now=datetime(2026, 3, 1, 20, 59, tzinfo=tokyo)).permitted  # 11:59Z
    assert not decide(build, doc, now=datetime(2026, 3, 1, 21, 0, tzinfo=tokyo)).permitted
