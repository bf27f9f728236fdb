"""Service errors. Each maps to one HTTP status and RFC 7807 problem type in the API layer.

``ServiceError``
 ├── ``NotFound``      404: no such decision, lien or job
 ├── ``Conflict``      409: a state transition that cannot happen, or a key reused with other content
 └── ``InvalidInput``  422: input the models accepted but the policy or the ledger cannot (unknown scope)

:class:`hpcpolicy.ledger.base.LedgerUnavailable` (503) is not among them: it is a dependency failure.
"""

from __future__ import annotations


class ServiceError(Exception):
    status = 500
    title = "error"

    def __init__(self, detail: str, errors: list[tuple[str, str]] | None = None):
        super().__init__(detail)
        self.detail = detail
        self.errors = errors or []
        """``(field, message)`` for each bad value, as a 422's ``errors`` list names them."""

    @classmethod
    def fields(cls, what: str, errors: list[tuple[str, str]]) -> ServiceError:
        """One error for several bad fields: ``what: field: message; ...``."""
        return cls(f"{what}: " + "; ".join(f"{field}: {message}" for field, message in errors), errors)


class NotFound(ServiceError):
    status = 404
    title = "not found"


class Conflict(ServiceError):
    status = 409
    title = "conflict"


class InvalidInput(ServiceError):
    status = 422
    title = "invalid input"
