"""Budget alerts (v2): who is told (``contacts`` on the account tree), when (rules) and how (channels).

A rule picks scopes by pattern and says which conditions fire: the share of a budget used crosses a
threshold, the forecast runs the budget dry before its window ends, a running job's lien is stuck past its
walltime, or denials spike. Each alert fires once per window and goes to the channels the rule names:
``email`` (the scope's contacts) and webhooks by name. Webhook URLs and SMTP credentials are secrets and
live in the settings (``HPCPOLICY_ALERT_WEBHOOKS``, ``HPCPOLICY_SMTP_*``), never in this file: the policy
declares only the webhook names it uses (docs/alerts.md).
"""

from __future__ import annotations

from typing import Annotated

from pydantic import Field, StringConstraints, model_validator

from hpcpolicy.policy.schema.common import Model, Name

#: An address the SMTP envelope and a ``To:`` header can carry as is: ASCII, no spaces, quotes, angle
#: brackets, commas or control characters (nothing that could end a header or add a recipient).
_LABEL = r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
EMAIL_PATTERN = rf"^[A-Za-z0-9.!#$%&'*+/=?^_`{{|}}~-]{{1,64}}@{_LABEL}(?:\.{_LABEL})+$"
Email = Annotated[str, StringConstraints(max_length=254, pattern=EMAIL_PATTERN)]
#: ``kind:glob`` (``project:wgs-*``, ``team:ml``) or ``*`` (every scope); globs take ``*`` and ``?``.
ScopePattern = Annotated[
    str, StringConstraints(max_length=200, pattern=r"^(\*|(org|team|project|user|member):[A-Za-z0-9_.@*?/:-]{1,190})$")
]
#: A share of a limit: 0.8 is 80 % used (charged plus reserved). Above 1 is past the limit (overdrafts).
Threshold = Annotated[float, Field(gt=0, le=10, allow_inf_nan=False)]
#: The channel that mails the scope's contacts; every other channel names a webhook.
EMAIL = "email"


class StuckLiens(Model):
    """A running job's lien is stuck when no finish report came ``grace_hours`` after its walltime ended
    (it still holds its estimate against every budget of its path)."""

    grace_hours: Annotated[float, Field(ge=0, le=8760, allow_inf_nan=False)] = 1.0


class DeniedSpike(Model):
    """``count`` denied decisions or more on a scope within the last ``minutes``."""

    count: Annotated[int, Field(ge=1, le=1_000_000)]
    minutes: Annotated[int, Field(ge=1, le=1440)] = 15


class AlertRule(Model):
    """What fires for which scopes, and where it goes."""

    name: Name
    scopes: list[ScopePattern] = Field(default=["*"], min_length=1, max_length=100)
    used: list[Threshold] = Field(default=[], max_length=20)
    runs_dry_before_end: bool = False
    stuck_liens: StuckLiens | bool = False
    denied_spike: DeniedSpike | None = None
    channels: list[Name] = Field(default=[EMAIL], min_length=1, max_length=20)

    @model_validator(mode="after")
    def _fires_something(self) -> AlertRule:
        if not (self.used or self.runs_dry_before_end or self.stuck_liens or self.denied_spike):
            raise ValueError("a rule needs a condition: used, runs_dry_before_end, stuck_liens or denied_spike")
        return self

    @property
    def stuck(self) -> StuckLiens | None:
        """The stuck-lien condition (``stuck_liens: true`` is the default grace), or None."""
        if isinstance(self.stuck_liens, StuckLiens):
            return self.stuck_liens
        return StuckLiens() if self.stuck_liens else None


class Alerts(Model):
    """``webhooks``: the names rules may send to (their URLs come from ``HPCPOLICY_ALERT_WEBHOOKS``)."""

    webhooks: list[Name] = Field(default=[], max_length=50)
    rules: list[AlertRule] = Field(default=[], max_length=200)
