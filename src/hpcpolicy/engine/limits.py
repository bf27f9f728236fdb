"""What a request may say: identifiers every ledger database can store, numbers that stay finite.

Every front door (HTTP bodies and paths, CLI files, adapters) validates against these types before
anything is evaluated or written, so a hostile value is a 422 naming its field, the same on SQLite,
PostgreSQL and MariaDB, and never a 500 from deep inside a product, a sum or a database driver.

Identifiers (user ids, projects, clusters, partitions, scheduler job ids, keys):

- at most 191 characters: the ledger's indexed string columns (InnoDB's unique-key limit with utf8mb4);
- no control characters (C0, DEL, C1): PostgreSQL refuses NUL in text, logs and terminals misread the
  rest; lone surrogates are refused by the string type itself (they cannot be encoded as UTF-8);
- no leading or trailing whitespace: MariaDB compares ``'a'`` and ``'a '`` as equal in unique keys, so
  two ids that differ only there would be one id on one backend and two on another.

Numbers: finite (``Infinity``, ``NaN`` and ``1e309`` are refused by ``allow_inf_nan=False`` on the
models) and bounded far above any real machine, so that resources × walltime × rate and any sum of
charges stay finite. The bounds are per job: 10 million CPUs, a million GPUs or nodes, an exabyte of
memory, ten years of walltime.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Annotated

from pydantic import AfterValidator, Field, StringConstraints
from pydantic_core import PydanticCustomError

#: The length of the ledger's indexed string columns.
MAX_ID_LENGTH = 191
#: A scope id: its kind (``project:`` is the longest) and an identifier.
MAX_SCOPE_LENGTH = MAX_ID_LENGTH + len("project:")
#: Free text stored in the ledger (adjustment reasons).
MAX_TEXT_LENGTH = 2000

MAX_CPUS = 10_000_000
MAX_GPUS = 1_000_000
MAX_NODES = 1_000_000
MAX_MEMORY_GB = 1e9
MAX_WALLTIME_HOURS = 87_840.0  # ten leap years
#: CPU-, GPU-hours and cost of one job or one adjustment: above MAX_CPUS × MAX_WALLTIME_HOURS.
MAX_AMOUNT = 1e13

#: Control characters (C0, DEL, C1) and lone surrogates (which no database encoding can hold).
_UNSTORABLE = re.compile(r"[\x00-\x1f\x7f-\x9f\ud800-\udfff]")
_TEXT_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ud800-\udfff]")


def ident_problem(value: str, max_length: int = MAX_ID_LENGTH) -> str | None:
    """Why ``value`` cannot be an identifier (see the module docstring), or None when it can.

    The one statement of the rule: request models use it through :data:`Ident`, the JWT verifier on a
    token's user claim (a verified token is still foreign input).
    """
    if not value:
        return "it is empty"
    if len(value) > max_length:
        return f"it is longer than {max_length} characters"
    found = _UNSTORABLE.search(value)
    if found is not None:
        kind = "a lone surrogate" if found.group() >= "\ud800" else "a control character"
        return f"it contains {kind} (U+{ord(found.group()):04X}) at position {found.start()}"
    if value != value.strip():
        return "it starts or ends with whitespace"
    return None


def check_ident(value: str, max_length: int = MAX_ID_LENGTH) -> str:
    """``value`` if it is an identifier every backend stores and compares alike, else a clear error."""
    if (problem := ident_problem(value, max_length)) is not None:
        raise PydanticCustomError("identifier", "not a usable identifier: {problem}", {"problem": problem})
    return value


def check_scope(value: str) -> str:
    return check_ident(value, MAX_SCOPE_LENGTH)


def check_text(value: str) -> str:
    if (found := _TEXT_CONTROL.search(value)) is not None:
        raise PydanticCustomError(
            "text",
            "must not contain control characters other than newline and tab (U+{code} at position {at})",
            {"code": f"{ord(found.group()):04X}", "at": found.start()},
        )
    return value


Ident = Annotated[
    str, StringConstraints(min_length=1, max_length=MAX_ID_LENGTH), AfterValidator(check_ident)
]
Scope = Annotated[str, StringConstraints(min_length=3, max_length=MAX_SCOPE_LENGTH), AfterValidator(check_scope)]
Text = Annotated[str, StringConstraints(min_length=1, max_length=MAX_TEXT_LENGTH), AfterValidator(check_text)]

Cpus = Annotated[int, Field(ge=1, le=MAX_CPUS)]
Gpus = Annotated[int, Field(ge=0, le=MAX_GPUS)]
Nodes = Annotated[int, Field(ge=1, le=MAX_NODES)]
MemoryGb = Annotated[float, Field(ge=0, le=MAX_MEMORY_GB, allow_inf_nan=False)]
Walltime = Annotated[float, Field(gt=0, le=MAX_WALLTIME_HOURS, allow_inf_nan=False)]
Hours = Annotated[float, Field(ge=0, le=MAX_AMOUNT, allow_inf_nan=False)]
Amount = Hours

#: Instants a request may name (job start and end times): UTC, naive values taken as UTC.
EARLIEST = datetime(2000, 1, 1, tzinfo=UTC)
LATEST = datetime(2200, 1, 1, tzinfo=UTC)


def check_moment(value: datetime) -> datetime:
    """``value`` in UTC if it lies in [2000, 2200): the ledger's windows and date arithmetic stay in range
    (``datetime.min`` minus a second is an OverflowError). Tighter bounds (a job's end between its
    admission and now) are the ledger's rules, which know the job."""
    moment = value if value.tzinfo is not None else value.replace(tzinfo=UTC)
    if not EARLIEST <= moment < LATEST:
        raise PydanticCustomError("moment", "must be a time between 2000-01-01 and 2200-01-01")
    return moment.astimezone(UTC)


Moment = Annotated[datetime, AfterValidator(check_moment)]
