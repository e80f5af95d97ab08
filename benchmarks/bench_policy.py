"""How fast the policy engine decides. A plain script: prints figures, asserts nothing about time.

    python benchmarks/bench_policy.py [--quick]

Measures, on one core:
- decisions per second for a realistic policy (membership + country region + purpose + dateTime + count), with a
  fresh DecisionContext per decision (as in a real transfer check) and with one context reused;
- the same for a policy with no constraints (the baseline) and the ratio between them;
- parsing cost per policy;
- filtering a catalogue of 10,000 datasets, each with its own access policy, for one peer;
- peak resident memory.
"""

from __future__ import annotations

import argparse
import resource
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from connector.policy.engine import DecisionContext, decide_access, decide_transfer, parse_policy
from connector.trust.claims import VerifiedClaims, VerifiedCredential

PEER = "did:web:localhost%3A8444:org-b"
NOW = datetime(2026, 5, 1, 9, 30, tzinfo=UTC)


def realistic_agreement() -> dict[str, Any]:
    return {
        "@id": "urn:uuid:agreement-1",
        "@type": "Agreement",
        "target": "urn:uuid:dataset-1",
        "assigner": "did:web:localhost%3A8443:org-a",
        "assignee": PEER,
        "timestamp": "2026-04-01T00:00:00Z",
        "permission": [
            {
                "action": "use",
                "constraint": [
                    {"leftOperand": "membership", "operator": "isAnyOf", "rightOperand": ["eu-dataspace", "catena"]},
                    {"leftOperand": "countryOfEstablishment", "operator": "isPartOf", "rightOperand": "EEA"},
                    {"leftOperand": "purpose", "operator": "isAnyOf", "rightOperand": ["research", "education"]},
                    {"leftOperand": "dateTime", "operator": "lteq", "rightOperand": "2099-12-31"},
                    {"leftOperand": "count", "operator": "lteq", "rightOperand": "1000000"},
                ],
            }
        ],
    }


def baseline_agreement() -> dict[str, Any]:
    doc = realistic_agreement()
    doc["permission"] = [{"action": "use"}]
    return doc


def claims() -> VerifiedClaims:
    issued = NOW - timedelta(days=30)
    return VerifiedClaims(
        PEER,
        NOW,
        (
            VerifiedCredential(
                "urn:uuid:cred-org",
                ("VerifiableCredential", "OrganizationCredential"),
                "did:web:authority-eu",
                "eu-dataspace",
                {"id": PEER, "countryOfEstablishment": "DE", "legalName": "Org B GmbH"},
                issued,
                None,
                "0" * 64,
            ),
            VerifiedCredential(
                "urn:uuid:cred-member",
                ("VerifiableCredential", "MembershipCredential"),
                "did:web:authority-eu",
                "eu-dataspace",
                {"id": PEER, "memberOf": "eu-dataspace"},
                issued,
                None,
                "1" * 64,
            ),
        ),
    )


def access_policy(index: int) -> dict[str, Any]:
    """A mix of typical access policies; about three in four admit the benchmark peer."""
    kinds = [
        {"leftOperand": "membership", "operator": "eq", "rightOperand": "eu-dataspace"},
        {"leftOperand": "countryOfEstablishment", "operator": "isPartOf", "rightOperand": ["EU", "EFTA"]},
        {"leftOperand": "credentialType", "operator": "hasPart", "rightOperand": "OrganizationCredential"},
        {"leftOperand": "membership", "operator": "eq", "rightOperand": "jp-dataspace"},
    ]
    return {
        "@id": f"urn:uuid:access-{index}",
        "@type": "Set",
        "permission": [{"action": "use", "constraint": [kinds[index % len(kinds)]]}],
    }


# CPU time of this process, not wall time: other work on the machine then skews the figures far less.
clock = time.process_time


def rate(run: Callable[[int], None], n: int, repeats: int) -> float:
    """Best-of-`repeats` operations per CPU second."""
    best = float("inf")
    for _ in range(repeats):
        start = clock()
        run(n)
        best = min(best, clock() - start)
    return n / best


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="fewer iterations (a smoke run)")
    args = parser.parse_args()
    n = 2_000 if args.quick else 50_000
    repeats = 1 if args.quick else 3
    peer = claims()

    realistic = parse_policy(realistic_agreement())
    baseline = parse_policy(baseline_agreement())
    shared = DecisionContext(peer, NOW, purpose="research", use_count=3)
    assert decide_transfer(realistic, shared).permitted, "the benchmark policy must permit"
    assert decide_transfer(baseline, shared).permitted

    def fresh(policy: Any) -> Callable[[int], None]:
        def run(count: int) -> None:
            for i in range(count):
                ctx = DecisionContext(peer, NOW, purpose="research", use_count=i)
                decide_transfer(policy, ctx)

        return run

    def reused(policy: Any) -> Callable[[int], None]:
        def run(count: int) -> None:
            for _ in range(count):
                decide_transfer(policy, shared)

        return run

    def parse_run(count: int) -> None:
        doc = realistic_agreement()
        for _ in range(count):
            parse_policy(doc)

    print(f"policy decisions (Python {sys.version.split()[0]}, CPU time of one core, best of {repeats})")
    realistic_fresh = rate(fresh(realistic), n, repeats)
    baseline_fresh = rate(fresh(baseline), n, repeats)
    realistic_reused = rate(reused(realistic), n, repeats)
    baseline_reused = rate(reused(baseline), n, repeats)
    print(f"  realistic policy, fresh context per decision : {realistic_fresh:>10,.0f} decisions/s")
    print(
        f"  no-constraint baseline, fresh context        : {baseline_fresh:>10,.0f} decisions/s"
        f"   (realistic costs {baseline_fresh / realistic_fresh:.2f}x the baseline)"
    )
    print(f"  realistic policy, one context reused         : {realistic_reused:>10,.0f} decisions/s")
    print(
        f"  no-constraint baseline, one context reused   : {baseline_reused:>10,.0f} decisions/s"
        f"   (ratio {baseline_reused / realistic_reused:.2f}x)"
    )
    parse_rate = rate(parse_run, max(n // 10, 200), repeats)
    print(f"  parsing the realistic policy                 : {parse_rate:>10,.0f} policies/s")

    datasets = 10_000
    start = clock()
    policies = [parse_policy(access_policy(i)) for i in range(datasets)]
    parse_seconds = clock() - start
    best = float("inf")
    visible = 0
    for _ in range(repeats):
        start = clock()
        ctx = DecisionContext(peer, NOW, stage="catalog")  # one context per catalogue request
        visible = sum(1 for policy in policies if decide_access(policy, ctx).permitted)
        best = min(best, clock() - start)
    print(f"catalogue filtering: {datasets:,} datasets, one access policy each, one peer")
    print(
        f"  filter (policies pre-parsed)                 : {best * 1000:>10.1f} ms"
        f"   ({best / datasets * 1e6:.1f} us per dataset, {visible:,} visible)"
    )
    print(f"  parsing the {datasets:,} access policies once      : {parse_seconds * 1000:>10.1f} ms")

    peak_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux
    print(f"peak RSS: {peak_kib / 1024:.1f} MiB")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
