"""Who submitted a Slurm job: the Unix user and their groups, never anything written in the job.

slurmctld authenticates the submitter (munge) and puts their uid and primary gid in ``job_desc``; nothing
the user writes into the job (comment, environment, ``--export``) is consulted. The service resolves uid
and gid to names with the host's NSS (``pwd``/``grp``, so LDAP/SSSD work as they do for Slurm) and adds
the supplementary groups of the user (``getgrouplist``). Run the service where NSS matches the
controller's, as it does on the controller host itself. The job's own gid is not used: only root can
choose it (``sbatch --uid --gid``), and a root-chosen group must not lend its roles to another user.

The groups go into the request as they are (narrowed to those the policy names); the engine gives their
members the policy's ``groups.<name>.roles`` and, in v2, ``groups.<name>.projects``, as it does for a
gateway's or a token's groups, along with what it grants the user directly (``users.<name>``).
"""

from __future__ import annotations

import grp
import os
import pwd
from collections.abc import Callable, Iterable
from dataclasses import dataclass


class UnknownUser(LookupError):
    """The uid (or user name) Slurm reports is unknown to this host's NSS."""


@dataclass(frozen=True, slots=True)
class UnixUser:
    name: str
    groups: tuple[str, ...]


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
