"""Webhook deliveries: secrets, the HMAC signature, retry delays, URL checks, one POST.

Pure, reusable pieces; the store and the worker loop that drive them live elsewhere. Nothing
here may put a secret or a URL's query string into an error message, a log line or an
`Attempt`. The receiver-facing description is docs/webhooks.md; keep the two in step.
"""

from __future__ import annotations

import hashlib
import hmac
import math
import re
import secrets
import time
from dataclasses import dataclass
from types import TracebackType
from urllib.parse import urlsplit

import httpx

from deconflict.errors import DeconflictError

HEADER_EVENT_ID = "X-Deconflict-Event-Id"
"""The event's id; the same on every attempt, so receivers dedupe on it."""
HEADER_TIMESTAMP = "X-Deconflict-Timestamp"
"""Unix time in whole seconds when this attempt was signed (new on every attempt)."""
HEADER_SIGNATURE = "X-Deconflict-Signature"
"""`v1=<hex HMAC-SHA256>`, see `sign`."""
HEADER_DELIVERY = "X-Deconflict-Delivery"
"""Attempt number, 1 for the first POST of an event, up to `MAX_ATTEMPTS`."""

SECRET_PREFIX = "whsec_"
SIGNATURE_VERSION = "v1"
TOLERANCE_S = 300
"""Default largest difference, in seconds, between a delivery's timestamp and the
receiver's clock."""

MAX_ATTEMPTS = 12
"""Deliveries of one event, first POST included; after the last failure it is given up."""
FIRST_DELAY_S = 5.0
MAX_DELAY_S = 3600.0
JITTER = 0.10
"""Retry delays are spread by up to this fraction either way (then capped at MAX_DELAY_S)."""

MAX_URL_CHARS = 2000
TIMEOUT_S = 5.0
MAX_RESPONSE_BYTES = 64 * 1024
MAX_ERROR_CHARS = 200
USER_AGENT = "deconflict-webhooks/1"

_EVENT_ID = re.compile(r"[!-~]+")
"""Printable ASCII without spaces: safe in a header. Dots are refused separately because
the signing string uses them as separators."""


class InvalidWebhook(DeconflictError):
    """A webhook registration names a URL deliveries cannot or must not be sent to."""

    code = "invalid_webhook"
    http_status = 422
    exit_code = 2


class BadWebhookSignature(DeconflictError):
    """A received delivery's signature does not match, or its timestamp is too old or new."""

    code = "bad_webhook_signature"
    http_status = 401
    exit_code = 2


def new_secret() -> str:
    """A fresh signing secret: `whsec_` followed by 43 URL-safe characters (256 bits)."""
    return SECRET_PREFIX + secrets.token_urlsafe(32)


def _check_event_id(event_id: str) -> None:
    if not _EVENT_ID.fullmatch(event_id) or "." in event_id:
        raise ValueError("a webhook event id must be printable ASCII without spaces or dots")


def _digest(secret: str, timestamp_s: int, event_id: str, body: bytes) -> str:
    message = f"{timestamp_s}.{event_id}.".encode() + body
    return hmac.new(secret.encode("utf-8"), message, hashlib.sha256).hexdigest()


def sign(secret: str, timestamp_s: int, event_id: str, body: bytes) -> str:
    """The value of the `X-Deconflict-Signature` header for one delivery attempt.

    Scheme v1: the signed bytes are the ASCII decimal `timestamp_s`, a dot, the event id, a
    dot, then the request body exactly as sent (no re-encoding):

        signed = f"{timestamp_s}.{event_id}.".encode() + body
        header = "v1=" + HMAC-SHA256(key=secret.encode("utf-8"), msg=signed).hexdigest()

    The key is the whole secret string, `whsec_` prefix included; the hex is lower case.
    Event ids may not contain dots (nor spaces or non-ASCII), so the split is unambiguous;
    a `ValueError` says so otherwise.
    """
    _check_event_id(event_id)
    return f"{SIGNATURE_VERSION}={_digest(secret, timestamp_s, event_id, body)}"


def verify(
    secret: str,
    header_value: str,
    timestamp_s: int,
    event_id: str,
    body: bytes,
    now_s: float,
    tolerance_s: float = TOLERANCE_S,
) -> None:
    """Check a received delivery; return None when it is genuine and fresh.

    `header_value` is the `X-Deconflict-Signature` header; it may list several
    comma-separated `v1=<hex>` entries (as during a secret rotation) and passes when any
    matches. Comparison is constant-time. Raises `BadWebhookSignature` when no entry matches
    or when `timestamp_s` is more than `tolerance_s` seconds away from `now_s` either way
    (which stops replays of old deliveries).
    """
    try:
        _check_event_id(event_id)
    except ValueError:
        raise BadWebhookSignature(
            "The webhook event id is malformed, so this delivery cannot be genuine."
        ) from None
    expected = _digest(secret, timestamp_s, event_id, body).encode("ascii")
    matched = False
    for entry in header_value.split(","):
        version, _, value = entry.strip().partition("=")
        # Every entry is compared, not the first match only, so timing says nothing.
        if version == SIGNATURE_VERSION and hmac.compare_digest(
            value.strip().encode("utf-8"), expected
        ):
            matched = True
    if not matched:
        raise BadWebhookSignature(
            "The webhook signature does not match this body, event id, timestamp and secret."
        )
    skew_s = now_s - timestamp_s
    if abs(skew_s) > tolerance_s:
        raise BadWebhookSignature(
            f"The webhook timestamp is {abs(skew_s):.0f} s "
            f"{'old' if skew_s > 0 else 'in the future'}, more than the {tolerance_s:g} s "
            "allowed; check this receiver's clock or treat it as a replay."
        )


def backoff_s(
    attempt: int, seed: str | int | None = None, first_delay_s: float = FIRST_DELAY_S
) -> float:
    """Seconds to wait before retry number `attempt` (1-based: retry 1 is the second POST).

    Nominal delay `first_delay_s` (5 s by default; the service setting
    `webhook_backoff_base_s`) × 2^(attempt−1); multiplied by a jitter factor in [0.9, 1.1]
    drawn deterministically from (`seed`, `attempt`) — pass the event id so retries of
    different events spread out yet a test can repeat them; no seed, no jitter. The result
    never exceeds one hour.
    """
    if attempt < 1:
        raise ValueError(f"retry numbers start at 1, got {attempt}")
    if not (math.isfinite(first_delay_s) and first_delay_s > 0):
        raise ValueError(f"the first retry delay must be a number above 0, got {first_delay_s}")
    # Past 2^10 the cap is reached anyway; bounding the exponent keeps the float finite.
    nominal = first_delay_s * 2.0 ** min(attempt - 1, 32)
    factor = 1.0
    if seed is not None:
        digest = hashlib.sha256(f"{seed}:{attempt}".encode()).digest()
        unit = int.from_bytes(digest[:8], "big") / 2.0**64  # in [0, 1)
        factor = 1.0 + JITTER * (2.0 * unit - 1.0)
    return min(nominal * factor, MAX_DELAY_S)


def check_url(url: str) -> str:
    """Return `url` unchanged when deliveries may be POSTed to it; raise `InvalidWebhook`.

    Accepted: absolute http or https URLs with a host, at most 2,000 characters, without
    user:password@ and without spaces or control characters. Loopback and private addresses
    are allowed on purpose (tests and field deployments use them). Messages never repeat the
    URL, whose query string may hold a token.
    """
    if len(url) > MAX_URL_CHARS:
        raise InvalidWebhook(
            f"The webhook URL is {len(url)} characters long; at most {MAX_URL_CHARS} are allowed."
        )
    if any(c.isspace() or ord(c) < 32 or ord(c) == 127 for c in url):
        raise InvalidWebhook(
            "The webhook URL contains spaces or control characters; percent-encode them."
        )
    try:
        parts = urlsplit(url)
        port = parts.port  # parses it: a bad port raises ValueError
    except ValueError:
        raise InvalidWebhook("The webhook URL cannot be parsed; check its host and port.") from None
    if parts.scheme.lower() not in ("http", "https"):
        raise InvalidWebhook("The webhook URL must be absolute and start with http:// or https://.")
    if "@" in parts.netloc:
        raise InvalidWebhook(
            "The webhook URL must not contain a user name or password (user:pass@); "
            "authenticate deliveries with the signature instead."
        )
    if not parts.hostname:
        raise InvalidWebhook("The webhook URL has no host name.")
    if port == 0:
        raise InvalidWebhook("The webhook URL names port 0, which cannot be connected to.")
    return url


@dataclass(frozen=True)
class Attempt:
    """The outcome of one POST of one event to one webhook, as the delivery log keeps it."""

    status_code: int | None
    """HTTP status the receiver answered; None when no answer was obtained."""
    error: str | None
    """Why the attempt got no answer ("connection refused", "timed out …"), or a note on an
    answer that cannot succeed (a redirect); None otherwise. At most 200 characters, never
    the secret nor the URL's query string."""
    duration_ms: float
    """Wall time from sending the request to the end of reading the answer, milliseconds."""
    delivered: bool
    """True when the receiver answered 2xx: the event needs no retry."""


def _scrub(text: str, url: str, secret: str) -> str:
    """Remove anything sensitive an exception text may quote, then bound its length."""
    query = url.partition("?")[2].partition("#")[0]
    for sensitive in (url, secret, query):
        if sensitive:
            text = text.replace(sensitive, "…")
    text = " ".join(text.split())
    if len(text) > MAX_ERROR_CHARS:
        text = text[: MAX_ERROR_CHARS - 1] + "…"
    return text


def _describe(exc: Exception) -> str:
    """A short, fixed phrase for the failures a delivery log sees most; raw text otherwise."""
    if isinstance(exc, httpx.ConnectTimeout):
        return "timed out connecting"
    if isinstance(exc, httpx.ReadTimeout):
        return "timed out waiting for the response"
    if isinstance(exc, httpx.WriteTimeout):
        return "timed out sending the request"
    if isinstance(exc, httpx.TimeoutException):
        return "timed out"
    raw = str(exc) or type(exc).__name__
    lowered = raw.lower()
    if isinstance(exc, httpx.ConnectError):
        if "refused" in lowered:
            return "connection refused"
        if "name or service not known" in lowered or "nodename nor servname" in lowered:
            return "host name not found"
        if "certificate" in lowered or "ssl" in lowered:
            return "TLS failed: " + raw
        return "could not connect: " + raw
    if isinstance(exc, httpx.InvalidURL | httpx.UnsupportedProtocol):
        return "invalid URL: " + raw
    if isinstance(exc, httpx.RemoteProtocolError):
        return "invalid HTTP answer: " + raw
    return f"{type(exc).__name__}: {raw}"


class WebhookSender:
    """POSTs signed deliveries through one pooled `httpx.Client`; never follows redirects.

    Use as a context manager or call `close()`. Only `timeout_s` is meant to change (tests
    shorten it); connect, read, write and pool waits each get that bound.
    """

    def __init__(self, *, timeout_s: float = TIMEOUT_S, user_agent: str = USER_AGENT) -> None:
        self._client = httpx.Client(
            timeout=httpx.Timeout(timeout_s),
            follow_redirects=False,
            # Ambient proxy variables and ~/.netrc must not apply: netrc credentials would be
            # sent to whatever URL a party registered.
            trust_env=False,
            headers={"User-Agent": user_agent},
        )
        self._timeout_s = timeout_s

    def post(
        self, url: str, secret: str, event_id: str, timestamp_s: int, attempt: int, body: bytes
    ) -> Attempt:
        """Send `body` (JSON bytes) once; return what happened. Network failures, timeouts
        and malformed URLs come back as an `Attempt` with `error` set, never as exceptions.
        `timestamp_s` should be the current time: it is signed and receivers reject old ones.
        An event id `sign` refuses is a caller's bug and raises `ValueError`.
        """
        headers = {
            "Content-Type": "application/json",
            HEADER_EVENT_ID: event_id,
            HEADER_TIMESTAMP: str(timestamp_s),
            HEADER_SIGNATURE: sign(secret, timestamp_s, event_id, body),
            HEADER_DELIVERY: str(attempt),
        }
        start = time.monotonic()
        # A receiver trickling its body a byte at a time cannot hold the worker forever.
        deadline = start + 2 * self._timeout_s
        try:
            with self._client.stream("POST", url, content=body, headers=headers) as response:
                read = 0
                # Raw bytes: no decompression, so a small gzip bomb stays small.
                for chunk in response.iter_raw():
                    read += len(chunk)
                    if read >= MAX_RESPONSE_BYTES or time.monotonic() > deadline:
                        break  # leaving the block closes the connection instead of reusing it
                status = response.status_code
        except (httpx.HTTPError, httpx.InvalidURL, httpx.StreamError, OSError) as exc:
            return Attempt(
                status_code=None,
                error=_scrub(_describe(exc), url, secret),
                duration_ms=(time.monotonic() - start) * 1000.0,
                delivered=False,
            )
        duration_ms = (time.monotonic() - start) * 1000.0
        error = None
        if 300 <= status < 400:
            error = f"redirect ({status}) not followed; register the final URL"
        return Attempt(
            status_code=status,
            error=error,
            duration_ms=duration_ms,
            delivered=200 <= status < 300,
        )

    def close(self) -> None:
        """Close the connection pool."""
        self._client.close()

    def __enter__(self) -> WebhookSender:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()
