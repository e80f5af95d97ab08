"""A peer's standing, re-established later from what was verified about it, without the peer's cooperation.

When a transfer is requested, the verifier checks the consumer's credentials (`verifier.Verification`) and the
claims are stored with the transfer. Data flows long after that: a token is refreshed, a pull starts, a stream
runs for minutes. `Standing` decides, at any such moment, whether those credentials still hold: each one still
within its validity, its issuer still on a trust list in force for each of its types (and accredited when the
credential was issued, where the list keeps status history), its status list entry
still neither revoked nor suspended on a copy of the list no older than the status cache policy allows. It asks
nothing of the peer (no token, no presentation): status lists are public, fetched by the edge.

Sans-I/O, like the verifier, and driven the same way::

    check = Standing(claims, trust_store, settings, status_lists)
    step = check.begin(now)
    while isinstance(step, NeedStatusLists):
        try:
            step = check.with_status_list(url, token, fetched_at, now)   # GET step.urls[0]; refetch as asked
        except FetchFailed as exc:
            step = check.unavailable(str(exc), url)
    # step is InStanding or Refusal

Credentials accepted through recognition statements (`VerifiedClaims.recognised`) stand only while every statement
of their path does: not expired, and neither revoked nor suspended on its issuer's status list.

Every refusal names the failed check (``credential.expired``, ``credential.issuer_untrusted``,
``credential.type_not_allowed``, ``credential.revoked``, ``credential.suspended``, ``recognition.revoked``,
``recognition.expired``, ``status.*``); one that
could not be decided right now ends in ``.unavailable``. A credential stored without its status entry (claims
kept before the status was) cannot be re-checked and is refused (``credential.status_missing``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

from connector.errors import ConnectorError
from connector.trust.claims import RecognitionStep, VerifiedClaims, VerifiedCredential
from connector.trust.outcomes import NeedStatusLists, Refusal
from connector.trust.status_list import (
    Freshness,
    StatusList,
    StatusListCachePolicy,
    VerifiedStatusLists,
    check_status,
    verify_status_list,
)
from connector.trust.times import require_aware
from connector.trust.trust_list import TrustStore

_GENERIC = "VerifiableCredential"


@dataclass(frozen=True)
class StandingSettings:
    leeway: timedelta = timedelta(seconds=30)
    status_cache: StatusListCachePolicy = field(default_factory=StatusListCachePolicy)


@dataclass(frozen=True)
class InStanding:
    """Every credential re-checked holds; `status_lists` maps each list URL to when the copy used was fetched."""

    claims: VerifiedClaims
    status_lists: dict[str, str] = field(default_factory=dict)


def credential_problem(
    credential: VerifiedCredential, trust_store: TrustStore, now: datetime, leeway: timedelta
) -> ConnectorError | None:
    """What no longer holds about one credential at `now`, before its status is looked up (None: all of it)."""
    if now + leeway < credential.valid_from:
        return ConnectorError("credential.not_yet_valid", f"credential {credential.id} is not valid yet", "validFrom")
    if credential.valid_until is not None and now >= credential.valid_until + leeway:
        return ConnectorError(
            "credential.expired",
            f"credential {credential.id} expired at {credential.valid_until.isoformat()}",
            "validUntil",
        )
    if not trust_store.is_known(credential.issuer):
        return ConnectorError(
            "credential.issuer_untrusted",
            f"the issuer {credential.issuer} of credential {credential.id} is on no trust list in force",
            "issuer",
        )
    for credential_type in credential.types:
        if credential_type != _GENERIC and trust_store.may_issue(credential.issuer, credential_type) is None:
            return ConnectorError(
                "credential.type_not_allowed",
                f"no trust list in force lets {credential.issuer} issue {credential_type}",
                "type",
            )
    not_accredited = trust_store.issuer_not_accredited(credential.issuer, credential.valid_from)
    if not_accredited is not None:
        return ConnectorError(
            "credential.issuer_not_accredited",
            f"credential {credential.id} was issued when its issuer was not accredited: {not_accredited}",
            "issuer",
        )
    if credential.status is None:
        return ConnectorError(
            "credential.status_missing",
            f"the status entry of credential {credential.id} was not kept with the transfer, so its revocation "
            "cannot be checked; request a new transfer",
            "credentialStatus",
        )
    if not trust_store.status_list_allowed(credential.issuer, credential.status.list_url):
        return ConnectorError(
            "credential.status_url_not_allowed",
            f"no trust list in force allows {credential.issuer} to publish status lists at "
            f"{credential.status.list_url[:200]}",
            "statusListCredential",
        )
    return None


def _check_statement(step: RecognitionStep, status_list: StatusList) -> None:
    assert step.status is not None
    try:
        check_status(step.status, status_list)
    except ConnectorError as exc:
        if exc.code not in ("credential.revoked", "credential.suspended"):
            raise
        verb = exc.code.rsplit(".", 1)[1]
        raise ConnectorError(
            f"recognition.{verb}",
            f"the recognition through which the peer's credential was accepted has been {verb}: {step.describe()}",
            "recognition",
        ) from None


class Standing:
    """One re-check of one peer's stored claims. Not reusable; one task drives it."""

    def __init__(
        self,
        claims: VerifiedClaims,
        trust_store: TrustStore,
        settings: StandingSettings | None = None,
        status_lists: VerifiedStatusLists | None = None,
    ) -> None:
        self.claims = claims
        self._all_lists = trust_store
        self._store = trust_store
        self.settings = settings or StandingSettings()
        self._verify_list = status_lists.verify if status_lists is not None else verify_status_list
        self._pending: dict[str, set[str]] = {}  # status URL -> issuers whose credentials use it
        self._refetch: set[str] = set()
        self._seen: dict[str, str] = {}
        self._started = False
        self.step: NeedStatusLists | InStanding | Refusal | None = None

    def _refuse(self, exc: ConnectorError, step: str) -> Refusal:
        refusal = Refusal(exc.problem, self.claims.participant_id, step)
        self.step = refusal
        return refusal

    def _need(self) -> NeedStatusLists:
        self.step = NeedStatusLists(tuple(self._pending), frozenset(self._refetch & set(self._pending)))
        return self.step

    def begin(self, now: datetime) -> NeedStatusLists | InStanding | Refusal:
        """Everything that needs no status list; then the lists still to look at."""
        if self._started:
            raise ConnectorError("verification.out_of_order", "this standing check has already begun")
        self._started = True
        require_aware(now)
        self._store = self._all_lists.valid_at(now)
        for credential in self.claims.credentials:
            problem = credential_problem(credential, self._store, now, self.settings.leeway)
            if problem is not None:
                return self._refuse(problem, "credentials")
            assert credential.status is not None
            self._pending.setdefault(credential.status.list_url, set()).add(credential.issuer)
        for recognised in self.claims.recognised:
            for step in recognised.path:
                if now >= step.valid_until + self.settings.leeway:
                    return self._refuse(
                        ConnectorError(
                            "recognition.expired",
                            f"the recognition statement {step.statement} ({step.describe()}) expired at "
                            f"{step.valid_until.isoformat()}",
                            "recognition",
                        ),
                        "credentials",
                    )
                if step.status is not None:
                    self._pending.setdefault(step.status.list_url, set()).add(step.issuer)
        if not self._pending:
            return self._done()
        return self._need()

    def with_status_list(
        self, url: str, token: object, fetched_at: datetime, now: datetime
    ) -> NeedStatusLists | InStanding | Refusal:
        """One status list credential as fetched from `url` at `fetched_at` (possibly the edge's cached copy)."""
        if not isinstance(self.step, NeedStatusLists) or url not in self._pending:
            raise ConnectorError("verification.out_of_order", "this status list was not asked for", url[:200])
        try:
            require_aware(now)
            require_aware(fetched_at, "fetched_at")
            lists: list[StatusList] = []
            for issuer in sorted(self._pending[url]):
                try:
                    lists.append(self._verify_list(token, self._store, issuer, url, now, self.settings.leeway))
                except ConnectorError as exc:
                    if exc.code in ("status.list_expired", "status.list_not_yet_valid") and url not in self._refetch:
                        return self._again(url)
                    raise
            for status_list in lists:
                if self.settings.status_cache.evaluate_list(status_list, fetched_at, now) is not Freshness.FRESH:
                    if url not in self._refetch:
                        return self._again(url)
                    raise ConnectorError(
                        "status.stale", "even a refetched status list is older than the policy allows", url[:200]
                    )
            by_issuer = {sl.issuer: sl for sl in lists}
            for credential in self.claims.credentials:
                if credential.status is not None and credential.status.list_url == url:
                    check_status(credential.status, by_issuer[credential.issuer])
            for recognised in self.claims.recognised:
                for step in recognised.path:
                    if step.status is not None and step.status.list_url == url:
                        _check_statement(step, by_issuer[step.issuer])
        except ConnectorError as exc:
            return self._refuse(exc, "status")
        self._seen[url] = fetched_at.isoformat()
        del self._pending[url]
        return self._need() if self._pending else self._done()

    def _again(self, url: str) -> NeedStatusLists:
        self._refetch.add(url)
        return self._need()

    def unavailable(self, reason: str = "", url: str | None = None) -> Refusal:
        """The edge could not fetch a status list: refuse (fail closed), as not decidable now."""
        if not isinstance(self.step, NeedStatusLists):
            raise ConnectorError("verification.out_of_order", "the standing check is not waiting for a status list")
        detail = f": {reason}" if reason else ""
        return self._refuse(
            ConnectorError("status.unavailable", f"a credential status could not be obtained{detail}", url), "status"
        )

    def _done(self) -> InStanding:
        self.step = InStanding(self.claims, dict(self._seen))
        return self.step
