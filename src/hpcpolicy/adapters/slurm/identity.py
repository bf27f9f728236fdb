"""Who submitted a Slurm job, and which roles the policy gives them: the Unix user and groups, never the job.

slurmctld authenticates the submitter (munge) and puts their uid and primary gid in ``job_desc``; nothing
the user writes into the job (comment, environment, ``--export``) is consulted. The service resolves uid
and gid to names with the host's NSS (``pwd``/``grp``, so LDAP/SSSD work as they do for Slurm) and adds
the supplementary groups of the user (``getgrouplist``). Run the service where NSS matches the
controller's, as it does on the controller host itself. The job's own gid is not used: only root can
choose it (``sbatch --uid --gid``), and a root-chosen group must not lend its roles to another user.

Roles are the policy's: ``groups.<name>.roles`` for every Unix group the user is in. Roles the policy
grants the user directly (``users.<name>.roles`` and the groups listed there) are added by the engine.
"""

from __future__ import annotations

import grp
import os
import pwd
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from hpcpolicy.policy.schema import Policy


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


def roles_for(groups: Iterable[str], policy: Policy) -> tuple[str, ...]:
    """The roles the policy's ``groups`` mapping gives members of ``groups`` (sorted, each once)."""
    roles: set[str] = set()
    for name in groups:
        group = policy.groups.get(name)
        if group is not None:
            roles.update(group.roles)
    return tuple(sorted(roles))
