"""URL types of the delivery settings: checked when settings load, so a typo fails at start, not at the first
event, and a hostile value (another scheme, a control character, no host) never reaches a client library."""

from __future__ import annotations

from typing import Annotated
from urllib.parse import urlsplit

from pydantic import AfterValidator


def _url(value: str, schemes: set[str]) -> str:
    """``value`` stripped, if it is a URL with one of ``schemes``, a host and no control characters or spaces."""
    text = value.strip()
    if not text or any(ch.isspace() or ord(ch) < 32 or ord(ch) == 127 for ch in text) or len(text) > 2048:
        raise ValueError("must be a URL without spaces or control characters (at most 2048 characters)")
    try:
        parts = urlsplit(text)
        parts.port  # noqa: B018 - raises on a port that is not a number in range
    except ValueError as exc:
        raise ValueError(f"not a valid URL: {exc}") from None
    if parts.scheme.lower() not in schemes or not parts.hostname:
        raise ValueError(f"must be a {' or '.join(sorted(schemes))} URL with a host")
    return text


#: A NATS server, or several comma-separated; an HTTP(S) endpoint.
NatsUrls = Annotated[str, AfterValidator(lambda v: ",".join(_url(part, {"nats", "tls"}) for part in v.split(",")))]
HttpUrl = Annotated[str, AfterValidator(lambda v: _url(v, {"http", "https"}))]

