"""PRICEWISE_ESTIMATION_VIA_MCP: the API computes estimates through the MCP compute_estimate tool,
with the same figures as in process."""

from __future__ import annotations

from typing import Any

from tests.support import free_port

KITCHEN = "Kitchen remodel, about 200 sq ft, new cabinets and quartz counters"
SAME = ("estimate", "matched_reference_class", "narrative", "assumptions", "risks", "status", "region",
        "extracted_attributes", "calibration", "low_confidence", "missing_details")


def _figures(body: dict[str, Any]) -> dict[str, Any]:
    return {k: body[k] for k in SAME}


async def test_estimates_through_mcp_have_the_in_process_figures(served, make_client):
    via, _ = await served(auth_mode="local", estimation_via_mcp=True)
    local = await make_client(auth_mode="local")  # the same database, computing in process
    for body in ({"description": KITCHEN}, {"description": KITCHEN, "region": "NorCal"},
                 {"description": "a pool with a spa in San Diego"}):
        a = await via.post("/estimate/start", json=body)
        b = await local.post("/estimate/start", json=body)
        assert a.status_code == b.status_code == 200, (a.text, b.text)
        assert _figures(a.json()) == _figures(b.json())
        assert a.json()["session_id"] != b.json()["session_id"]  # each app stored its own estimate
    # refining goes through MCP too
    sid_a = a.json()["session_id"]
    sid_b = b.json()["session_id"]
    more = {"additional_info": "It should be heated and about 16x32"}
    ra = await via.post(f"/estimate/{sid_a}/refine", json=more)
    rb = await local.post(f"/estimate/{sid_b}/refine", json=more)
    assert ra.status_code == rb.status_code == 200, (ra.text, rb.text)
    assert _figures(ra.json()) == _figures(rb.json()) and ra.json()["version"] == 2
    assert (await via.get("/feedback/summary")).json()["total_estimates"] == 6


async def test_with_the_mcp_server_unreachable_the_estimate_fails_cleanly(served):
    nobody = f"http://127.0.0.1:{free_port()}/mcp"
    via, _ = await served(auth_mode="local", estimation_via_mcp=True, mcp_url=nobody)
    r = await via.post("/estimate/start", json={"description": KITCHEN})
    assert r.status_code == 503, r.text
    assert "could not be reached" in r.json()["error"]["message"]
    assert (await via.get("/feedback/summary")).json()["total_estimates"] == 0  # nothing half-stored
