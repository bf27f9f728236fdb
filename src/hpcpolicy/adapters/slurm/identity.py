"""Who submitted a Slurm job: the Unix user and their groups, never anything written in the job.

slurmctld authenticates the submitter (munge) and puts their uid and primary gid in ``job_desc``; nothing
the user writes into the job (comment, environment, ``--export``) is consulted. The service resolves uid
and gid to names with the host's NSS (``pwd``/``grp``, so LDAP/SSSD work as they do for Slurm) and adds
the supplementary groups of the user (``getgrouplist``). Run the service where NSS matches the
controller's, as it does on the controller host itself. The job's own gid is not used: only root can
choose it (``sbatch --uid --gid``), and a root-chosen group must not lend its roles to another user.

NSS answers are kept for a while (:class:`CachedResolver`, ``HPCPOLICY_NSS_CACHE_SECONDS``, 60 s by
default), as nscd and SSSD keep them: a lookup walked NSS for the user and each of their groups on every
submission (systemd's userdb module alone opens some sixty paths for it; a site's LDAP is a round trip to
SSSD per call), on the path where sbatch waits. A change of a user's groups therefore reaches decisions
within that time; an unknown uid is asked again every time (a new account is served at once).

The groups go into the request as they are (narrowed to those the policy names); the engine gives their
members the policy's ``groups.<name>.roles`` and, in v2, ``groups.<name>.projects``, as it does for a
gateway's or a token's groups, along with what it grants the user directly (``users.<name>``).
"""

from __future__ import annotations

import grp
import os
import pwd
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass


class UnknownUser(LookupError):
    """The uid (or user name) Slurm reports is unknown to this host's NSS."""


@dataclass(frozen=True, slots=True)
class UnixUser:
    name: str
    groups: tuple[str, ...]


#: Seconds an NSS answer is reused unless the service is told otherwise (``HPCPOLICY_NSS_CACHE_SECONDS``).
DEFAULT_NSS_CACHE_SECONDS = 60.0

#: (uid, user name Slurm gave if any) → the user and all their groups.
Resolver = Callable[[int | None, str | None], UnixUser]


def system_user(uid: int | None, user_name: str | None) -> UnixUser:
    """Resolve through NSS. The uid wins over the name (Slurm sets both; the uid is the authenticated one)."""
    try:
        entry = pwd.getpwuid(uid) if uid is not None else pwd.getpwnam(user_name or "")
    except (KeyError, OverflowError, ValueError):  # unknown; a uid beyond uid_t; a name with a NUL
        who = f"uid {uid}" if uid is not None else f"user {user_name!r}"
        raise UnknownUser(f"{who} is unknown on the policy service host") from None
    gids = [entry.pw_gid, *os.getgrouplist(entry.pw_name, entry.pw_gid)]
    return UnixUser(entry.pw_name, tuple(dict.fromkeys(_group_names(gids))))


def _group_names(gids: Iterable[int]) -> Iterable[str]:
    for gid in gids:
        try:
            yield grp.getgrgid(gid).gr_name
        except KeyError:
            continue  # a gid without a name can be in no policy mapping


class CachedResolver:
    """``resolve``'s answers kept ``ttl`` seconds (0: not kept), per uid (or per name when no uid is given,
    as :func:`system_user` looks them up); only known users are kept. At most ``max_entries`` at once (all
    dropped when full: a refill costs one lookup each). Safe to share between threads: two that miss at
    once both look up, and either answer is kept."""

    def __init__(
        self, resolve: Resolver, ttl: float, *, max_entries: int = 100_000, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.resolve = resolve
        self.ttl = ttl
        self.max_entries = max_entries
        self.clock = clock
        self._kept: dict[tuple[int | None, str | None], tuple[float, UnixUser]] = {}

    def __call__(self, uid: int | None, user_name: str | None) -> UnixUser:
        if self.ttl <= 0:
            return self.resolve(uid, user_name)
        key = (uid, None) if uid is not None else (None, user_name)
        now = self.clock()
        kept = self._kept.get(key)
        if kept is not None and now < kept[0]:
            return kept[1]
        user = self.resolve(uid, user_name)  # UnknownUser goes to the caller, and nothing is kept
        if len(self._kept) >= self.max_entries:
            self._kept.clear()
        self._kept[key] = (now + self.ttl, user)
        return user
