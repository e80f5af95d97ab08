"""Usage duties read from ODRL: delete after a period, inform on each use, no onward transfer; what the node can
fulfil is agreed to (the duty shown as owed), anything else is refused naming it."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from connector.policy.duties import usage_duties
from connector.policy.engine import decide_contract, evaluate, parse_policy, validate_policy

AGREED = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


def delete(*constraints: dict[str, Any], action: Any = "delete") -> dict[str, Any]:
    return {"action": action, "constraint": list(constraints)} if constraints else {"action": action}


def elapsed(value: str, operator: str = "lteq") -> dict[str, Any]:
    return {"leftOperand": "elapsedTime", "operator": operator, "rightOperand": value}


def by(value: str, operator: str = "lteq") -> dict[str, Any]:
    return {"leftOperand": "dateTime", "operator": operator, "rightOperand": value}


def policy(duties: list[dict[str, Any]] = (), **rules: Any) -> Any:  # type: ignore[assignment]
    permission = {"action": "use", **({"duty": list(duties)} if duties else {})}
    return parse_policy({"@id": "urn:p", "@type": "Offer", "target": "urn:t", "permission": [permission], **rules})


def test_delete_within_a_period_is_due_that_long_after_the_agreement() -> None:
    duties = usage_duties(policy([delete(elapsed("P30D"))]))
    assert duties.delete_due(AGREED) == AGREED + timedelta(days=30)
    assert duties.unfulfillable == () and duties.any
    assert duties.describe() == ["delete the data received within P30D of the agreement"]


def test_delete_by_a_date_is_due_at_its_end_and_the_earliest_of_several_times_wins() -> None:
    assert usage_duties(policy([delete(by("2026-03-05"))])).delete_due(AGREED) == datetime(
        2026, 3, 5, 23, 59, 59, 999999, tzinfo=UTC
    )
    both = usage_duties(policy([delete(elapsed("P1D"), by("2026-03-10T00:00:00Z"))]))
    assert both.delete_due(AGREED) == AGREED + timedelta(days=1)
    several = usage_duties(policy([delete(elapsed("P10D"))], obligation=[delete(by("2026-03-02T00:00:00Z", "lt"))]))
    assert several.delete_due(AGREED) == datetime(2026, 3, 2, tzinfo=UTC)


def test_inform_and_a_distribute_prohibition_are_read_whatever_the_spelling_of_their_iris() -> None:
    duties = usage_duties(
        policy(
            [{"action": "http://www.w3.org/ns/odrl/2/inform"}, delete(elapsed("PT2S"), action="odrl:delete")],
            prohibition=[{"action": {"@id": "odrl:distribute"}}],
        )
    )
    assert duties.inform and duties.no_onward_transfer and len(duties.delete) == 1
    assert duties.to_json(AGREED) == {
        "delete": ["within PT2S of the agreement"],
        "deleteBy": "2026-03-01T12:00:02Z",
        "inform": True,
        "noOnwardTransfer": True,
    }


def test_a_policy_without_duties_imposes_none() -> None:
    duties = usage_duties(policy(prohibition=[{"action": "use", "constraint": [by("2020-01-01", "lt")]}]))
    assert not duties.any and duties.delete_due(AGREED) is None


@pytest.mark.parametrize(
    ("duty", "why"),
    [
        (delete(), "must say by when"),
        (delete({"leftOperand": "purpose", "operator": "eq", "rightOperand": "x"}), "must say by when"),
        (delete(elapsed("P1D", "gteq")), "must say by when"),
        ({"action": "inform", "constraint": [by("2026-01-01")]}, "takes no constraints"),
        ({"action": "compensate"}, "not 'compensate'"),
        ({"action": "inform", "consequence": [{"action": "delete"}]}, "consequences"),
    ],
)
def test_a_duty_the_node_cannot_fulfil_is_named_with_why(duty: dict[str, Any], why: str) -> None:
    duties = usage_duties(policy([duty]))
    assert [p.code for p in duties.unfulfillable] == ["policy.unfulfillable_duty"]
    assert why in duties.unfulfillable[0].reason
    assert duties.unfulfillable[0].where == "permission[0].duty[0]"


def test_a_permission_with_duties_the_node_fulfils_permits_and_shows_them_owed(build: Any) -> None:
    doc = policy([delete(elapsed("P30D")), {"action": "inform"}])
    decision = evaluate(doc, build.ctx(None, purpose="research"))
    assert decision.permitted, decision.reasons
    owed = [n for n in decision.trace.walk() if n.kind == "duty"]
    assert [(n.outcome, n.required) for n in owed] == [
        ("owed by the assignee", "duty 'delete' of permission 'use'"),
        ("owed by the assignee", "duty 'inform' of permission 'use'"),
    ]
    assert "deletes the data it receives within P30D of the agreement" in owed[0].why


def test_an_obligation_the_node_fulfils_does_not_deny_and_one_it_cannot_does(build: Any) -> None:
    ctx = build.ctx(None, purpose="research")
    assert evaluate(policy(obligation=[{"action": "inform"}]), ctx).permitted
    refused = evaluate(policy(obligation=[delete()]), ctx)
    assert refused.reasons == ("the policy imposes the obligation 'delete', which this node cannot fulfil",)
    node = next(n for n in refused.trace.walk() if n.kind == "obligation")
    assert node.code == "policy.unfulfillable_duty" and "must say by when" in node.why


def test_validation_reports_only_the_duties_the_node_cannot_fulfil() -> None:
    doc = {
        "@type": "Offer",
        "permission": [{"action": "use", "duty": [delete(elapsed("P7D")), {"action": "attribute"}]}],
        "prohibition": [{"action": "distribute"}],
        "obligation": [{"action": "inform"}],
    }
    found = validate_policy(doc)
    assert [(p.code, p.where) for p in found] == [("policy.unfulfillable_duty", "permission[0].duty[1]")]
    assert "'attribute'" in found[0].reason


def test_a_request_that_drops_an_offered_duty_is_not_agreed(build: Any) -> None:
    offered = {
        "@id": "urn:o",
        "@type": "Offer",
        "target": "urn:ds:1",
        "permission": [{"action": "use", "duty": [delete(elapsed("P30D"))]}],
        "prohibition": [{"action": "distribute"}],
    }
    kept = decide_contract([offered], offered, build.ctx(None, purpose="research"))
    assert kept.permitted, kept.reasons
    dropped = {**offered, "permission": [{"action": "use"}], "prohibition": []}
    refused = decide_contract([offered], dropped, build.ctx(None, purpose="research"))
    assert not refused.permitted
    text = "\n".join(refused.reasons)
    assert "the offer's duty 'delete' was dropped" in text and "'distribute'" in text
