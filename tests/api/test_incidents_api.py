"""The incident procedure through a real server: file with an attachment, the accused's
account, the operator's finding, a third party told nothing, no token refused."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime, timedelta

from api.server import Server


def test_incident_over_http(server: Server) -> None:
    alpha = server.add_party("ALPHA", "force")
    bravo = server.add_party("BRAVO", "force")
    charlie = server.add_party("CHARLIE", "force")
    at = (datetime.now(UTC) - timedelta(hours=1)).isoformat()
    doc = {
        "against": "BRAVO",
        "at": at,
        "place": [42.14, 37.17],
        "radius_m": 300,
        "category": "near_miss",
        "description": "Two vehicles passed within 20 m at the crossing.",
        "attachments": [
            {
                "name": "track.gpx",
                "media_type": "application/gpx+xml",
                "content_base64": base64.b64encode(b"<gpx/>").decode(),
            }
        ],
    }
    r = alpha.post("/v1/incidents", json=doc)
    assert r.status_code == 201, r.text
    iid = r.json()["incident"]

    inbox = bravo.get("/v1/inbox").json()
    assert [i["incident"] for i in inbox["incidents"]] == [iid]
    r = bravo.get(f"/v1/incidents/{iid}/attachments/0")
    assert r.status_code == 200 and r.content == b"<gpx/>"
    r = bravo.post(f"/v1/incidents/{iid}/accounts", json={"text": "We kept to our lane."})
    assert r.status_code == 201, r.text
    assert r.json()["state"] == "open"

    r = server.operator.post(
        f"/v1/incidents/{iid}/finding",
        json={"finding": "No contact; both at fault for speed.", "outcome": "agreed"},
    )
    assert r.status_code == 200, r.text
    seen = alpha.get(f"/v1/incidents/{iid}").json()
    assert seen["finding"]["by"] == ["@operator"]
    assert [a["party"] for a in seen["accounts"]] == ["BRAVO"]

    # A third party is told nothing exists; every refusal is JSON with one sentence.
    for r in (
        charlie.get(f"/v1/incidents/{iid}"),
        charlie.get(f"/v1/incidents/{iid}/attachments/0"),
        charlie.post(f"/v1/incidents/{iid}/accounts", json={"text": "I saw it."}),
    ):
        assert r.status_code == 404, r.text
        assert r.json()["error"]["message"] == "No incident you may see has that id; check the id."
    assert charlie.get("/v1/incidents").json()["items"] == []
    r = alpha.post("/v1/incidents", json={**doc, "category": "war"})
    assert r.status_code == 422 and "category" in r.json()["error"]["message"]

    anonymous = server.client(None)
    for r in (anonymous.get("/v1/incidents"), anonymous.post("/v1/incidents", json=doc)):
        assert r.status_code == 401 and r.json()["error"]["code"] == "unauthorized"

    # The public record is sealed; alpha opens its incident's entries and reads each step.
    entries = server.operator.get("/v1/log/entries", params={"start": 0, "limit": 500}).json()
    assert not [e for e in entries["entries"] if iid in e or '"incident.' in e]
    kinds = []
    for index in range(len(entries["entries"])):
        for c in alpha.get(f"/v1/log/entries/{index}").json()["contents"]:
            if c["name"] == "sealed":
                kinds.append(json.loads(base64.b64decode(c["content"]))["type"])
    assert [k for k in kinds if k.startswith("incident.")] == [
        "incident.filed",
        "incident.account",
        "incident.finding",
    ]
