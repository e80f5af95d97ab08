"""The CRL keeper with a fake network and clocks: what it takes, what it refuses, when it asks again."""

from __future__ import annotations

import os
from datetime import UTC, datetime, timedelta

import pytest
from cryptography.hazmat.primitives.serialization import Encoding

from connector.pki import certificates
from connector.pki.authority import Authority
from connector.trust.edge import crls as crls_module
from connector.trust.edge.crls import CrlKeeper
from connector.trust.edge.fetching import FetchFailed
from connector.web.tls import TrustMaterial


class Net:
    def __init__(self) -> None:
        self.answers: list[bytes | Exception] = []
        self.asked: list[str] = []

    async def fetch(self, url: str, limit: int) -> bytes:
        self.asked.append(url)
        answer = self.answers.pop(0) if len(self.answers) > 1 else self.answers[0]
        if isinstance(answer, Exception):
            raise answer
        return answer


class Clocks:
    def __init__(self) -> None:
        self.now = datetime.now(UTC)
        self.mono = 1000.0

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)
        self.mono += seconds


def crl_pem(authority: Authority, number: int, days: int = 30, revoked: tuple[int, ...] = ()) -> bytes:
    crl = certificates.make_crl(
        authority.ca_key(), authority.ca_cert(), [(s, datetime.now(UTC)) for s in revoked], number, days
    )
    return crl.public_bytes(Encoding.PEM)


@pytest.fixture
def world(tmp_path):
    authority = Authority.init(tmp_path / "auth", "Alpha", public_url="https://alpha.example:8765")
    net, clocks = Net(), Clocks()
    keeper = CrlKeeper(tmp_path / "data", 60.0, 120.0, lambda: clocks.now, net.fetch, lambda: clocks.mono)
    material = TrustMaterial((authority.ca_cert_path,), ()).load()
    return authority, net, clocks, keeper, material


async def test_the_crl_of_a_ca_with_a_distribution_point_is_fetched_and_put_in_force(world):
    authority, net, clocks, keeper, material = world
    assert material.pending == {authority.ca_cert().subject.public_bytes()}  # no file configured: expected
    net.answers = [crl_pem(authority, 7, revoked=(42,))]
    keeper.sync(material)
    assert await keeper.refresh() is True
    assert net.asked == ["https://alpha.example:8765/crl.pem"]
    reloaded = TrustMaterial((authority.ca_cert_path,), (), fetched=keeper.paths()).load()
    assert not reloaded.pending and 42 in next(iter(reloaded.revoked.values()))


async def test_a_crl_that_goes_back_or_is_not_the_authority_s_is_refused_and_the_copy_in_force_stays(world, tmp_path):
    authority, net, clocks, keeper, material = world
    net.answers = [crl_pem(authority, 7)]
    keeper.sync(material)
    await keeper.refresh()
    source = next(iter(keeper.sources.values()))
    other = Authority.init(tmp_path / "other", "Other", public_url="https://alpha.example:8765")
    for answer, fragment in ((crl_pem(authority, 5), "lower than"), (crl_pem(other, 9), "not issued by")):
        net.answers = [answer]
        clocks.advance(61)
        assert await keeper.refresh() is False
        assert fragment in (source.last_error or "") and source.in_force
        assert certificates.crl_url_of(authority.ca_cert()) == source.url
    assert source.crl is not None and int(source.crl.extensions[0].value.crl_number) == 7


async def test_a_newer_crl_asks_for_a_rebuild_at_once_and_the_same_one_again_does_not(world):
    authority, net, clocks, keeper, material = world
    net.answers = [crl_pem(authority, 1)]
    keeper.sync(material)
    assert await keeper.refresh() is True
    clocks.advance(61)
    assert await keeper.refresh() is False  # the same CRL again: nothing to rebuild
    net.answers = [crl_pem(authority, 2, revoked=(42,))]
    clocks.advance(61)
    assert await keeper.refresh() is True  # a revocation: the TLS layer must take it now, not at its next check
    reloaded = TrustMaterial((authority.ca_cert_path,), (), fetched=keeper.paths()).load()
    assert 42 in next(iter(reloaded.revoked.values()))


async def test_the_tls_material_sees_a_change_in_a_fetched_crl_only_when_it_holds_another_crl(world):
    authority, net, clocks, keeper, material = world
    net.answers = [crl_pem(authority, 1)]
    keeper.sync(material)
    await keeper.refresh()
    loaded = TrustMaterial((authority.ca_cert_path,), (), fetched=keeper.paths()).load()
    path = keeper.paths()[0]
    written = path.stat().st_mtime_ns
    clocks.advance(61)
    assert await keeper.refresh() is False  # fetched and written again, the same CRL
    os.utime(path, ns=(written + 10**9, written + 10**9))  # the copy's new age, whatever the file system's clock
    assert not loaded.changed()  # nothing to rebuild: connections and sessions stay
    net.answers = [crl_pem(authority, 2, revoked=(42,))]
    clocks.advance(61)
    assert await keeper.refresh() is True
    assert loaded.changed()


async def test_the_same_crl_fetched_again_only_ages_the_copy_on_disk_and_a_lost_copy_is_written_again(world):
    authority, net, clocks, keeper, material = world
    pem = crl_pem(authority, 1)
    net.answers = [pem]
    keeper.sync(material)
    await keeper.refresh()
    path = keeper.paths()[0]
    first = path.stat()
    clocks.advance(61)
    assert await keeper.refresh() is False
    again = path.stat()
    assert again.st_ino == first.st_ino  # not written again (no new file, no sync)
    assert again.st_mtime == pytest.approx(clocks.now.timestamp())  # but its age is the fetch's
    path.unlink()
    clocks.advance(61)
    assert await keeper.refresh() is False
    assert path.read_bytes() == pem and keeper.paths() == (path,)


async def test_a_new_crl_that_cannot_be_kept_on_disk_is_not_put_in_force(world):
    authority, net, clocks, keeper, material = world
    net.answers = [crl_pem(authority, 1)]
    keeper.sync(material)
    await keeper.refresh()
    source = next(iter(keeper.sources.values()))
    source.path.unlink()
    source.path.mkdir()  # the copy's name taken by a folder: the new CRL cannot replace it
    net.answers = [crl_pem(authority, 2, revoked=(42,))]
    clocks.advance(61)
    assert await keeper.refresh() is False
    assert "cannot be kept" in (source.last_error or "") and source.failures == 1
    assert source.crl is not None and 42 not in {r.serial_number for r in source.crl}


async def test_failures_back_off_with_jitter_and_the_copy_lapses_after_the_grace_period(world, monkeypatch):
    authority, net, clocks, keeper, material = world
    monkeypatch.setattr(crls_module.random, "uniform", lambda low, high: high)  # the longest wait
    net.answers = [crl_pem(authority, 1)]
    keeper.sync(material)
    await keeper.refresh()
    source = next(iter(keeper.sources.values()))
    assert source.due - clocks.mono == pytest.approx(60 * 0.95)  # asked again a little before max age
    net.answers = [FetchFailed("connection refused")]
    clocks.advance(60)
    delays = []
    for _ in range(8):
        clocks.mono = source.due
        await keeper.refresh()
        delays.append(round(source.due - clocks.mono, 1))
    assert delays == [1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 60.0, 60.0]  # doubling up to the max age
    clocks.now = source.fetched_at + timedelta(seconds=60 + 120 - 1)
    assert await keeper.refresh(force=True) is False and source.in_force  # still within the grace period
    clocks.advance(2)
    assert await keeper.refresh(force=True) is True and not source.in_force
    assert keeper.paths() == ()
    net.answers = [crl_pem(authority, 2)]
    assert await keeper.refresh(force=True) is True and source.in_force


async def test_a_crl_fetched_by_an_earlier_run_is_used_at_start_while_it_is_young_enough(world, tmp_path):
    authority, net, clocks, keeper, material = world
    net.answers = [crl_pem(authority, 3)]
    keeper.sync(material)
    await keeper.refresh()
    path = next(iter(keeper.sources.values())).path
    restarted = CrlKeeper(tmp_path / "data", 60.0, 120.0, lambda: clocks.now, None, lambda: clocks.mono)
    assert restarted.paths() == (path,)
    old = path.stat().st_mtime - 200
    os.utime(path, (old, old))
    assert CrlKeeper(tmp_path / "data", 60.0, 120.0, lambda: clocks.now, None).paths() == ()


async def test_an_expired_crl_is_never_put_in_force(world):
    authority, net, clocks, keeper, material = world
    net.answers = [crl_pem(authority, 1, days=1)]
    keeper.sync(material)
    clocks.advance(2 * 86400)
    await keeper.refresh()
    source = next(iter(keeper.sources.values()))
    assert not source.in_force and "expired" in (source.last_error or "")


async def test_a_copy_dated_ahead_of_the_clock_is_fetched_again_within_max_age_and_lapses_in_time(world):
    # A run whose clock was an hour ahead kept the CRL; the clock has been set back since (the file's time is the
    # copy's fetch time, for the next start).
    authority, net, clocks, keeper, material = world
    net.answers = [crl_pem(authority, 1)]
    keeper.sync(material)
    await keeper.refresh()
    source = next(iter(keeper.sources.values()))
    ahead = (clocks.now + timedelta(hours=1)).timestamp()
    os.utime(source.path, (ahead, ahead))
    restarted = CrlKeeper(source.path.parent.parent, 60.0, 120.0, lambda: clocks.now, net.fetch, lambda: clocks.mono)
    restarted.sync(material)
    taken = next(iter(restarted.sources.values()))
    assert taken.in_force
    assert taken.due - clocks.mono <= 60  # asked again within max age, not an hour later
    net.answers = [FetchFailed("connection refused")]
    clocks.advance(60 + 120 + 1)  # max age and grace, from now
    await restarted.refresh()
    assert not taken.in_force  # lapsed: not kept an hour longer


async def test_another_crl_under_the_same_number_is_put_in_force_at_once(world):
    # An authority stopped between signing its CRL and recording the number signs that number again, now with
    # a revocation: the node must not wait for the next number to refuse the certificate.
    authority, net, clocks, keeper, material = world
    net.answers = [crl_pem(authority, 5)]
    keeper.sync(material)
    assert await keeper.refresh() is True
    clocks.advance(61)
    net.answers = [crl_pem(authority, 5, revoked=(42,))]
    assert await keeper.refresh() is True
    reloaded = TrustMaterial((authority.ca_cert_path,), (), fetched=keeper.paths()).load()
    assert 42 in next(iter(reloaded.revoked.values()))
