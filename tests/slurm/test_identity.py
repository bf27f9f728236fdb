"""Who submitted a job: NSS lookups, and the answers the service keeps for a while."""

from __future__ import annotations

import os
import pwd

import pytest

from hpcpolicy.adapters.slurm.identity import CachedResolver, UnixUser, UnknownUser, system_user
from hpcpolicy.settings import ServiceSettings


def test_system_user_resolves_the_uid_with_its_groups() -> None:
    me = pwd.getpwuid(os.getuid())
    user = system_user(me.pw_uid, "someone-else")  # the uid wins over the name
    assert user.name == me.pw_name
    assert user.groups  # the primary group at least


def test_system_user_refuses_an_unknown_uid() -> None:
    with pytest.raises(UnknownUser, match="uid 4294967294"):
        system_user(4294967294, None)


class Lookups:
    """A resolver that counts its calls; uid 666 is unknown."""

    def __init__(self) -> None:
        self.calls: list[tuple[int | None, str | None]] = []

    def __call__(self, uid: int | None, name: str | None) -> UnixUser:
        self.calls.append((uid, name))
        if uid == 666:
            raise UnknownUser("uid 666 is unknown")
        return UnixUser(name or f"u{uid}", (f"g{len(self.calls)}",))


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_an_answer_is_reused_until_its_time_is_up() -> None:
    lookups, clock = Lookups(), Clock()
    cached = CachedResolver(lookups, 60, clock=clock)
    first = cached(1000, "alice")
    clock.now += 59.9
    assert cached(1000, "alice") is first
    assert len(lookups.calls) == 1
    clock.now += 0.1  # 60 s: asked again, and the new groups are what decisions see
    again = cached(1000, "alice")
    assert again.groups != first.groups
    assert len(lookups.calls) == 2


def test_the_uid_is_the_key_and_the_name_only_without_one() -> None:
    lookups = Lookups()
    cached = CachedResolver(lookups, 60, clock=Clock())
    cached(1000, "alice")
    cached(1000, "mallory")  # the name Slurm adds does not pick another entry: the uid is authenticated
    cached(None, "alice")  # no uid: looked up by name, a different question
    cached(None, "alice")
    assert lookups.calls == [(1000, "alice"), (None, "alice")]


def test_an_unknown_user_is_asked_again_every_time() -> None:
    lookups = Lookups()
    cached = CachedResolver(lookups, 60, clock=Clock())
    for _ in range(2):
        with pytest.raises(UnknownUser):
            cached(666, None)
    assert len(lookups.calls) == 2  # a new account is served as soon as NSS knows it


def test_zero_seconds_keeps_nothing() -> None:
    lookups = Lookups()
    cached = CachedResolver(lookups, 0, clock=Clock())
    cached(1000, None)
    cached(1000, None)
    assert len(lookups.calls) == 2


def test_the_number_of_answers_kept_is_bounded() -> None:
    lookups = Lookups()
    cached = CachedResolver(lookups, 60, max_entries=3, clock=Clock())
    for uid in range(10):
        cached(uid, None)
    assert len(cached._kept) <= 3
    cached(9, None)
    assert len(lookups.calls) == 10  # the latest is still kept


def test_the_setting_refuses_a_negative_time() -> None:
    assert ServiceSettings().nss_cache_seconds == 60
    assert ServiceSettings(nss_cache_seconds=0).nss_cache_seconds == 0
    with pytest.raises(ValueError, match="nss_cache_seconds"):
        ServiceSettings(nss_cache_seconds=-1)
    with pytest.raises(ValueError, match="nss_cache_seconds"):
        ServiceSettings(nss_cache_seconds=float("nan"))
