"""Property tests of the whole HTTP surface: schemathesis generates requests, valid and
invalid, from the live server's /openapi.json, and every answer must be an answer, never a
crash: no 5xx, and every 4xx is the one JSON error shape `{"error": {"code", "message"}}`
whose message is one sentence and leaks no traceback.

Every operation of the schema is fuzzed, as a party and as the operator, except the SSE
stream, which never ends on its own (test_access.py reads it with a deadline). Path
parameters are either generated or taken from real objects (the caller's own declaration,
a peer's, a message, a webhook...), so the fuzz reaches past "not found". Runs are
derandomized and bounded: EXAMPLES cases per operation, generation mode and caller.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from hypothesis.errors import Unsatisfiable
from schemathesis import Case, GenerationMode
from schemathesis.config import SchemathesisConfig
from schemathesis.core.result import Ok

from api.server import Party, Server

NOT_FUZZED = {("GET", "/v1/events/stream")}
"""Operations left out: an event stream answers until the client goes."""

EXAMPLES = 12
"""Cases per operation and generation mode (about 40 operations, valid and invalid cases
as a party, valid ones as the operator)."""

SENTENCE = re.compile(r"[^\n\r]*[^\s.][.]")
"""One sentence: no line break, a full stop at the end after a word."""


def iso(t_s: float) -> str:
    return datetime.fromtimestamp(t_s, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def movement(party: str, decl_id: str, lon: float, start_s: float) -> dict[str, Any]:
    """A 20-minute northbound movement along longitude `lon`."""
    return {
        "type": "Feature",
        "geometry": {"type": "LineString", "coordinates": [[lon, 35.0], [lon, 35.2]]},
        "properties": {
            "id": decl_id,
            "party": party,
            "kind": "movement",
            "times": [iso(start_s), iso(start_s + 1200)],
        },
    }


@dataclass
class World:
    """The fuzzing server and real values for path parameters."""

    server: Server
    party: Party
    """The fuzzed party (a force)."""
    peer: Party
    """Another force, whose declaration conflicts with the party's."""
    real: dict[str, list[Any]]
    """Path parameter name -> values naming real objects."""


@pytest.fixture(scope="module")
def world(store: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    s = Server(tmp_path_factory.mktemp("fuzz") / "deconflict.sqlite", store=store).start()
    try:
        s.add_party("fuzz-observer", "observer")
        party = s.add_party("fuzz-force", "force")
        peer = s.add_party("fuzz-peer", "force")
        start = time.time() + 4 * 86400
        r = party.post("/v1/declarations", json=movement(party.name, "F-1", 38.0, start))
        assert r.status_code == 201, r.text
        r = peer.post("/v1/declarations", json=movement(peer.name, "P-1", 38.001, start))
        assert r.status_code == 201, r.text
        spare = party.post(f"/v1/parties/{party.name}/tokens", json={"revoke_others": False})
        assert spare.status_code == 201, spare.text
        hook = party.post("/v1/webhooks", json={"url": "http://127.0.0.1:9/hook"})
        assert hook.status_code == 201, hook.text
        key = party.post(
            f"/v1/parties/{party.name}/keys",
            json={"public_key": "11qYAYKxCrfVS/7TyWQHOg7hcvPapiMlrwIaaPcHURo="},
        )
        assert key.status_code == 201, key.text
        to_me = peer.post("/v1/messages", json={"to": party.name, "text": "Radio check."})
        from_me = party.post("/v1/messages", json={"to": peer.name, "text": "Loud and clear."})
        assert to_me.status_code == from_me.status_code == 201, (to_me.text, from_me.text)
        incident = party.post(
            "/v1/incidents",
            json={
                "against": peer.name,
                "at": iso(time.time() - 600),
                "place": [38.0, 35.1],
                "category": "near_miss",
                "description": "Too close.",
                "attachments": [
                    {"name": "a.txt", "media_type": "text/plain", "content_base64": "aGk="}
                ],
            },
        )
        assert incident.status_code == 201, incident.text
        checkpoint = s.operator.post("/v1/log/checkpoint")
        assert checkpoint.status_code == 201, checkpoint.text
        real = {
            "party": [party.name, peer.name],
            "decl_id": ["F-1", "P-1"],
            "message_id": [to_me.json()["message"], from_me.json()["message"]],
            "hook_id": [hook.json()["webhook"]],
            "token_id": [spare.json()["token_id"]],
            "key_id": [key.json()["key_id"]],
            "version": [1],
            "checkpoint_id": [checkpoint.json()["id"]],
            "index": [0, 5],
            "incident_id": [incident.json()["incident"]],
            "n": [0],
        }
        yield World(s, party, peer, real)
    finally:
        s.close()


@pytest.fixture(scope="module")
def http() -> Iterator[requests.Session]:
    with requests.Session() as session:
        yield session


def problem_with(status: int, content_type: str, text: str) -> str | None:
    """What is wrong with one answer, or None."""
    if status >= 500:
        return f"server error {status}: {text[:300]}"
    if not 400 <= status < 500:
        return None
    if not content_type.startswith("application/json"):
        return f"{status} answered as {content_type!r}, not JSON: {text[:200]}"
    try:
        doc = json.loads(text)
    except ValueError:
        return f"{status} body is not JSON: {text[:200]}"
    if not (
        isinstance(doc, dict)
        and set(doc) == {"error"}
        and isinstance(doc["error"], dict)
        and {"code", "message"} <= set(doc["error"])
    ):
        return f"{status} body is not the error shape: {text[:300]}"
    code, message = doc["error"]["code"], doc["error"]["message"]
    if not (isinstance(code, str) and re.fullmatch(r"[a-z_]+", code)):
        return f"{status} error code {code!r} is not a snake_case word"
    if not isinstance(message, str) or not SENTENCE.fullmatch(message):
        return f"{status} message is not one sentence: {message!r}"
    if "Traceback" in message or 'File "' in message:
        return f"{status} message holds a traceback: {message!r}"
    return None


def test_problem_with_judges_answers() -> None:
    """The judge itself: what it lets through and what it catches."""
    ok = '{"error": {"code": "not_found", "message": "Nothing is here.", "details": null}}'
    assert problem_with(404, "application/json", ok) is None
    assert problem_with(200, "text/html", "<p>") is None
    assert problem_with(500, "application/json", ok)
    assert problem_with(404, "text/plain", "Not Found")
    assert problem_with(422, "application/json", '{"detail": "x"}')
    for message in ("no full stop", "Two lines.\nHere.", 'File "x.py", line 1.', "."):
        body = json.dumps({"error": {"code": "bad", "message": message}})
        assert problem_with(400, "application/json", body), message


@dataclass
class Failure:
    operation: str
    mode: str
    request: str
    problem: str


def cases(world: World, operation: Any, mode: GenerationMode) -> st.SearchStrategy[Case]:
    """Generated cases, half of them with path parameters naming real objects. Invalid
    cases keep real paths only where a body or query is left to make invalid."""
    names = re.findall(r"{(\w+)}", operation.path)
    generated = operation.as_strategy(mode)
    rest = len(operation.body) + len(operation.query)
    if not names or not set(names) <= set(world.real) or (mode.is_negative and not rest):
        return generated  # type: ignore[no-any-return]
    real = st.fixed_dictionaries({n: st.sampled_from(world.real[n]) for n in names})
    return st.one_of(
        generated, real.flatmap(lambda values: operation.as_strategy(mode, path_parameters=values))
    )


@dataclass
class Caller:
    """Who fuzzes, with its current token: a party may rotate its own token (revoking the
    others) in the middle of a run, and goes on with the new one."""

    name: str
    token: str


def fuzz(
    world: World,
    party: Party,
    http: requests.Session,
    examples: int,
    modes: tuple[GenerationMode, ...] = (GenerationMode.POSITIVE, GenerationMode.NEGATIVE),
) -> list[Failure]:
    """Every operation, valid then invalid cases; the first failure of each kept."""
    caller = Caller(party.name, party.token)
    schema = schemathesis.openapi.from_url(
        world.server.url + "/openapi.json",
        config=SchemathesisConfig.from_dict(
            {
                "seed": 20240601,
                "headers": {"Authorization": f"Bearer {caller.token}"},
                "generation": {"deterministic": True, "database": "none"},
            }
        ),
    )
    failures: list[Failure] = []
    seen = 0
    for result in schema.get_all_operations():
        assert isinstance(result, Ok), result
        operation = result.ok()
        if (operation.method.upper(), operation.path) in NOT_FUZZED:
            continue
        seen += 1
        for mode in modes:
            failures += fuzz_one(world, http, caller, operation, mode, examples)
    assert seen >= 30, f"only {seen} operations in the schema"
    return failures


def fuzz_one(
    world: World,
    http: requests.Session,
    caller: Caller,
    operation: Any,
    mode: GenerationMode,
    examples: int,
) -> list[Failure]:
    found: list[Failure] = []

    @settings(
        max_examples=examples,
        derandomize=True,
        deadline=None,
        database=None,
        phases=[Phase.explicit, Phase.generate],  # no shrinking: the first failure is kept
        suppress_health_check=list(HealthCheck),
    )
    @given(case=cases(world, operation, mode))
    def run(case: Case) -> None:
        if found:
            return
        try:
            response = case.call(
                base_url=world.server.url,
                session=http,
                headers={"Authorization": f"Bearer {caller.token}"},
                timeout=30,
            )
        except requests.RequestException as exc:
            wrong: str | None = f"no answer: {exc}"
        else:
            if (
                response.status_code == 201
                and operation.path == "/v1/parties/{party}/tokens"
                and case.path_parameters == {"party": caller.name}
            ):  # a new token of its own: the old ones may be revoked
                caller.token = response.json()["token"]
            wrong = problem_with(
                response.status_code,
                ",".join(response.headers.get("content-type", [])),
                response.text,
            )
        if wrong is not None:
            found.append(
                Failure(
                    f"{operation.method.upper()} {operation.path}",
                    mode.value,
                    case.as_curl_command(),
                    wrong,
                )
            )

    try:
        run()
    except Unsatisfiable:  # nothing in it can be made invalid (GET /v1/me takes no input)
        assert mode is GenerationMode.NEGATIVE
    return found


def report(failures: list[Failure]) -> str:
    return "\n\n".join(f"{f.operation} ({f.mode}): {f.problem}\n  {f.request}" for f in failures)


def test_fuzz_as_party_gets_no_5xx_and_one_error_shape(
    world: World, http: requests.Session
) -> None:
    failures = fuzz(world, world.party, http, EXAMPLES)
    assert not failures, report(failures)


def test_fuzz_as_operator_gets_no_5xx_and_one_error_shape(
    world: World, http: requests.Session
) -> None:
    # Valid cases only: invalid ones are refused by the same validation as a party's.
    failures = fuzz(world, world.server.operator, http, EXAMPLES, (GenerationMode.POSITIVE,))
    assert not failures, report(failures)
