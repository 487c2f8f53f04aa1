"""Webhook pieces against a real HTTP receiver on a loopback port: signing the receiver can
check, failures that come back as data, retry delays, URL checks, and docs/webhooks.md's
own verification snippet run against real signatures."""

from __future__ import annotations

import hashlib
import hmac
import re
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from deconflict.api.webhooks import (
    HEADER_DELIVERY,
    HEADER_EVENT_ID,
    HEADER_SIGNATURE,
    HEADER_TIMESTAMP,
    MAX_ATTEMPTS,
    MAX_DELAY_S,
    Attempt,
    BadWebhookSignature,
    InvalidWebhook,
    WebhookSender,
    backoff_s,
    check_url,
    new_secret,
    sign,
    verify,
)
from deconflict.errors import DeconflictError

DOC = Path(__file__).resolve().parents[2] / "docs" / "webhooks.md"
SECRET = "whsec_test-secret"
BODY = b'{"type":"clearance.changed","declaration":"M-1"}'
T = 1_700_000_000


# --- a real receiver ------------------------------------------------------------------


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: bytes
    verdict: str | None
    """None when `verify` passed, else its message."""


@dataclass
class Receiver:
    """What the test tells the receiver to do, and what it saw."""

    url: str
    mode: str = "verify"
    """verify (200 if `verify` passes, else 401) | fail (500) | slow | redirect | big"""
    secret: str = SECRET
    requests: list[Received] = field(default_factory=list)
    release: threading.Event = field(default_factory=threading.Event)
    """Set to let a `slow` answer go (the fixture sets it on teardown)."""


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as real receivers do
    server: _Server

    def do_POST(self) -> None:
        rx = self.server.receiver
        body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        headers = {k.lower(): v for k, v in self.headers.items()}
        try:
            verify(
                rx.secret,
                headers.get(HEADER_SIGNATURE.lower(), ""),
                int(headers.get(HEADER_TIMESTAMP.lower(), "0")),
                headers.get(HEADER_EVENT_ID.lower(), ""),
                body,
                now_s=time.time(),
            )
            verdict = None
        except BadWebhookSignature as exc:
            verdict = exc.message
        rx.requests.append(Received(self.path, headers, body, verdict))
        try:
            if rx.mode == "slow":
                rx.release.wait(timeout=10)
                self._answer(200)
            elif rx.mode == "fail":
                self._answer(500, b"internal error")
            elif rx.mode == "redirect":
                self._answer(302, extra={"Location": "/elsewhere"})
            elif rx.mode == "big":
                self._answer(200, b"x" * (4 * 1024 * 1024))
            else:
                self._answer(200 if verdict is None else 401)
        except OSError:
            pass  # the sender hung up first (timeout, body cut): what these tests provoke

    def _answer(self, status: int, body: bytes = b"", extra: dict[str, str] | None = None) -> None:
        self.send_response(status)
        self.send_header("Content-Length", str(len(body)))
        for k, v in (extra or {}).items():
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        pass


class _Server(ThreadingHTTPServer):
    receiver: Receiver

    def handle_error(self, request: Any, client_address: Any) -> None:
        pass  # connections the sender drops on purpose are not errors here


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    server = _Server(("127.0.0.1", 0), _Handler)
    server.receiver = Receiver(url=f"http://127.0.0.1:{server.server_address[1]}/hook")
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield server.receiver
    finally:
        server.receiver.release.set()
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


@pytest.fixture
def sender() -> Iterator[WebhookSender]:
    with WebhookSender() as s:
        yield s


def _post(sender: WebhookSender, url: str, secret: str = SECRET, attempt: int = 1) -> Attempt:
    return sender.post(url, secret, "evt_42", int(time.time()), attempt, BODY)


# --- deliveries -----------------------------------------------------------------------


def test_delivery_carries_headers_and_the_receiver_verifies_it(
    receiver: Receiver, sender: WebhookSender
) -> None:
    result = _post(sender, receiver.url, attempt=3)
    assert result.delivered and result.status_code == 200 and result.error is None
    assert result.duration_ms > 0
    (got,) = receiver.requests
    assert got.verdict is None
    assert got.path == "/hook" and got.body == BODY
    assert got.headers["content-type"] == "application/json"
    assert got.headers[HEADER_EVENT_ID.lower()] == "evt_42"
    assert got.headers[HEADER_DELIVERY.lower()] == "3"
    assert re.fullmatch(r"v1=[0-9a-f]{64}", got.headers[HEADER_SIGNATURE.lower()])


def test_one_sender_delivers_repeatedly(receiver: Receiver, sender: WebhookSender) -> None:
    assert all(_post(sender, receiver.url, attempt=n).delivered for n in (1, 2, 3))
    assert [r.headers[HEADER_DELIVERY.lower()] for r in receiver.requests] == ["1", "2", "3"]


def test_receiver_with_another_secret_refuses(receiver: Receiver, sender: WebhookSender) -> None:
    result = _post(sender, receiver.url, secret="whsec_not-the-one")
    assert result == Attempt(401, None, result.duration_ms, False)
    assert receiver.requests[0].verdict is not None


def test_500_is_not_delivered(receiver: Receiver, sender: WebhookSender) -> None:
    receiver.mode = "fail"
    result = _post(sender, receiver.url)
    assert (result.status_code, result.delivered, result.error) == (500, False, None)


def test_redirect_is_not_followed(receiver: Receiver, sender: WebhookSender) -> None:
    receiver.mode = "redirect"
    result = _post(sender, receiver.url)
    assert result.status_code == 302 and not result.delivered
    assert result.error is not None and "redirect" in result.error
    assert len(receiver.requests) == 1


def test_large_answer_is_cut_short(receiver: Receiver, sender: WebhookSender) -> None:
    receiver.mode = "big"
    result = _post(sender, receiver.url)
    assert result.delivered and result.status_code == 200
    assert _post(sender, receiver.url).delivered  # the pool recovers from the dropped one


def test_closed_port_gives_an_error_not_an_exception(sender: WebhookSender) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    result = _post(sender, f"http://127.0.0.1:{port}/hook?token=SECRETQUERY")
    assert result.status_code is None and not result.delivered
    assert result.error == "connection refused"


def test_slow_receiver_times_out(receiver: Receiver) -> None:
    receiver.mode = "slow"
    with WebhookSender(timeout_s=0.3) as quick:
        start = time.monotonic()
        result = _post(quick, receiver.url)
        elapsed = time.monotonic() - start
    assert elapsed < 2.0
    assert result.status_code is None and not result.delivered
    assert result.error is not None and "timed out" in result.error
    assert 250 < result.duration_ms < 2000


@pytest.mark.parametrize(
    "url",
    [
        "http://exa mple.invalid/hook?token=SECRETQUERY",
        "ftp://example.invalid/hook?token=SECRETQUERY",
        "hook?token=SECRETQUERY",
        "http://[::1/hook?token=SECRETQUERY",
        "http://\x00/hook?token=SECRETQUERY",
    ],
)
def test_bad_url_comes_back_as_a_short_error_without_query_or_secret(
    sender: WebhookSender, url: str
) -> None:
    result = sender.post(url, "whsec_SECRETKEY", "evt_1", T, 1, BODY)
    assert result.status_code is None and not result.delivered
    assert result.error and len(result.error) <= 200
    assert "SECRETQUERY" not in result.error and "SECRETKEY" not in result.error


# --- signatures -----------------------------------------------------------------------


def test_signature_is_the_documented_hmac() -> None:
    expected = hmac.new(SECRET.encode(), f"{T}.evt_42.".encode() + BODY, hashlib.sha256)
    assert sign(SECRET, T, "evt_42", BODY) == "v1=" + expected.hexdigest()
    # Pinned, so the scheme cannot drift away from receivers already deployed.
    assert sign("whsec_test", 1700000000, "evt_1", b'{"type":"ping"}') == (
        "v1=4f42dc74182de812fa75d43d011fd32addb53592a8123cf4e53389b9bd202065"
    )


def test_verify_accepts_a_fresh_genuine_delivery() -> None:
    verify(SECRET, sign(SECRET, T, "evt_42", BODY), T, "evt_42", BODY, now_s=T + 299)
    verify(SECRET, sign(SECRET, T, "evt_42", BODY), T, "evt_42", BODY, now_s=T - 299)


def test_verify_accepts_any_listed_signature() -> None:
    header = f"v1={'0' * 64}, {sign(SECRET, T, 'evt_42', BODY)}"
    verify(SECRET, header, T, "evt_42", BODY, now_s=T)


@pytest.mark.parametrize(
    ("secret", "header_secret", "timestamp", "event_id", "body", "now", "words"),
    [
        (SECRET, SECRET, T, "evt_42", BODY + b" ", T, "does not match"),
        ("whsec_other", SECRET, T, "evt_42", BODY, T, "does not match"),
        (SECRET, SECRET, T + 1, "evt_42", BODY, T, "does not match"),
        (SECRET, SECRET, T, "evt_43", BODY, T, "does not match"),
        (SECRET, SECRET, T, "evt_42", BODY, T + 301, "old"),
        (SECRET, SECRET, T, "evt_42", BODY, T - 301, "in the future"),
        (SECRET, SECRET, T, "evt.42", BODY, T, "malformed"),
    ],
    ids=[
        "tampered body",
        "wrong secret",
        "changed timestamp",
        "other event",
        "stale",
        "future",
        "dotted id",
    ],
)
def test_verify_rejects(
    secret: str,
    header_secret: str,
    timestamp: int,
    event_id: str,
    body: bytes,
    now: int,
    words: str,
) -> None:
    header = sign(header_secret, T, "evt_42", BODY)
    with pytest.raises(BadWebhookSignature, match=words) as caught:
        verify(secret, header, timestamp, event_id, body, now_s=now)
    assert isinstance(caught.value, DeconflictError)
    assert caught.value.message.count(". ") == 0 and secret not in caught.value.message


@pytest.mark.parametrize("header", ["", "v1=", "v0=" + "0" * 64, "garbage", "v1=é" * 3])
def test_verify_rejects_malformed_headers(header: str) -> None:
    with pytest.raises(BadWebhookSignature):
        verify(SECRET, header, T, "evt_42", BODY, now_s=T)


def test_sign_refuses_ids_that_would_make_the_signing_string_ambiguous() -> None:
    for bad in ("a.b", "", "with space", "é"):
        with pytest.raises(ValueError):
            sign(SECRET, T, bad, BODY)


@given(body=st.binary(max_size=2048), data=st.data())
def test_sign_verify_round_trip_and_any_byte_change_fails(body: bytes, data: st.DataObject) -> None:
    header = sign(SECRET, T, "evt_42", body)
    verify(SECRET, header, T, "evt_42", body, now_s=T)
    if body:
        i = data.draw(st.integers(0, len(body) - 1), label="index")
        b = data.draw(st.integers(0, 255).filter(lambda v: v != body[i]), label="byte")
        changed = body[:i] + bytes([b]) + body[i + 1 :]
    else:
        changed = data.draw(st.binary(min_size=1, max_size=1), label="added")
    with pytest.raises(BadWebhookSignature):
        verify(SECRET, header, T, "evt_42", changed, now_s=T)


def test_new_secret_is_prefixed_random_and_long() -> None:
    a, b = new_secret(), new_secret()
    assert a.startswith("whsec_") and len(a) == 6 + 43 and a != b
    assert re.fullmatch(r"whsec_[A-Za-z0-9_-]{43}", a)


# --- retry delays ---------------------------------------------------------------------


def test_backoff_doubles_from_5_s_and_caps_at_an_hour() -> None:
    delays = [backoff_s(n) for n in range(1, 16)]
    assert delays[:11] == [5.0 * 2**k for k in range(10)] + [MAX_DELAY_S]
    assert delays[10:] == [MAX_DELAY_S] * 5
    assert backoff_s(10_000) == MAX_DELAY_S


def test_backoff_jitter_is_within_10_percent_repeatable_and_seed_dependent() -> None:
    for n in range(1, 12):
        nominal = min(5.0 * 2 ** (n - 1), MAX_DELAY_S)
        for seed in ("evt_1", "evt_2", 7):
            d = backoff_s(n, seed=seed)
            assert 0.9 * nominal <= d <= min(1.1 * nominal, MAX_DELAY_S)
            assert d == backoff_s(n, seed=seed)
    assert len({backoff_s(3, seed=f"evt_{i}") for i in range(20)}) > 10
    seeded = [backoff_s(n, seed="evt_1") for n in range(1, MAX_ATTEMPTS)]
    assert seeded == sorted(seeded)  # ±10 % never undoes a doubling


def test_backoff_refuses_retry_zero() -> None:
    with pytest.raises(ValueError):
        backoff_s(0)


# --- URL checks -----------------------------------------------------------------------


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:8080/hook",
        "http://localhost/hook",
        "https://[::1]:8443/x",
        "HTTPS://Example.org/a/b?c=d",
        "https://hooks.example.org",
    ],
)
def test_check_url_accepts(url: str) -> None:
    assert check_url(url) == url


@pytest.mark.parametrize(
    ("url", "words"),
    [
        ("ftp://example.org/hook", "http:// or https://"),
        ("/hook", "http:// or https://"),
        ("example.org/hook", "http:// or https://"),
        ("javascript:alert(1)", "http:// or https://"),
        ("http://user:pass@example.org/hook", "password"),
        ("http://user@example.org/hook", "password"),
        ("http:///hook", "no host"),
        ("http://example.org:99999/hook", "port"),
        ("http://example.org:abc/hook", "port"),
        ("http://example.org:0/hook", "port 0"),
        ("http://example.org/a hook", "spaces"),
        ("http://example.org/\nhook", "control"),
        ("https://example.org/?token=SECRETQUERY&pad=" + "x" * 2000, "2000"),
    ],
)
def test_check_url_refuses(url: str, words: str) -> None:
    with pytest.raises(InvalidWebhook, match=re.escape(words)) as caught:
        check_url(url)
    error = caught.value
    assert (error.code, error.http_status) == ("invalid_webhook", 422)
    assert "SECRETQUERY" not in error.message and "example.org" not in error.message


def test_check_url_length_limit_is_inclusive() -> None:
    base = "https://example.org/"
    assert check_url(base + "x" * (2000 - len(base)))
    with pytest.raises(InvalidWebhook):
        check_url(base + "x" * (2001 - len(base)))


# --- the receiver-facing doc ----------------------------------------------------------


def _doc_snippet() -> str:
    blocks: list[str] = re.findall(r"```python\n(.*?)```", DOC.read_text(), flags=re.S)
    assert len(blocks) == 1, "docs/webhooks.md should hold exactly one Python snippet"
    return blocks[0]


def test_doc_snippet_accepts_real_deliveries_and_refuses_bad_ones() -> None:
    names: dict[str, Any] = {}
    exec(compile(_doc_snippet(), str(DOC), "exec"), names)
    check = names["verify_delivery"]
    now = int(time.time())
    headers = {
        HEADER_EVENT_ID: "evt_42",
        HEADER_TIMESTAMP: str(now),
        HEADER_SIGNATURE: sign(SECRET, now, "evt_42", BODY),
        HEADER_DELIVERY: "1",
    }
    assert check(SECRET, headers, BODY) is True
    assert check(SECRET, headers, BODY + b" ") is False
    assert check("whsec_other", headers, BODY) is False
    old = dict(headers, **{HEADER_TIMESTAMP: str(now - 600)})
    old[HEADER_SIGNATURE] = sign(SECRET, now - 600, "evt_42", BODY)
    assert check(SECRET, old, BODY) is False
    assert check(SECRET, {}, BODY) is False


def test_doc_names_headers_and_matches_the_retry_schedule() -> None:
    text = DOC.read_text()
    for header in (HEADER_EVENT_ID, HEADER_TIMESTAMP, HEADER_SIGNATURE, HEADER_DELIVERY):
        assert f"`{header}`" in text
    rows = dict(re.findall(r"^\| (\d+) \| ([^|]+) \|", text, flags=re.M))
    assert sorted(map(int, rows)) == list(range(1, MAX_ATTEMPTS + 1))
    for n in range(2, MAX_ATTEMPTS + 1):
        assert rows[str(n)].strip().startswith(f"{backoff_s(n - 1):g} s"), f"attempt {n}"
