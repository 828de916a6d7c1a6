"""The ``/_simulator`` admin API and the in-process control methods."""

from __future__ import annotations

import asyncio

import httpx
import pytest

from monitor.simulator import Behaviour, Simulator, serve
from monitor.simulator.admin import admin_response, is_loopback
from monitor.simulator.http11 import Request

from .helpers import chat_body, make_config, newest_truth, openai_headers


async def test_health_lists_every_endpoint_with_its_url(
    sim: Simulator, client: httpx.AsyncClient
) -> None:
    response = await client.get(sim.base_url + "/_simulator/health")
    body = response.json()

    assert response.status_code == 200
    assert body["status"] == "ok"
    assert [(e["id"], e["url"], e["mode"]) for e in body["endpoints"]] == [
        ("openai", f"{sim.base_url}/openai/v1", "normal"),
        ("azure", f"{sim.base_url}/azure", "normal"),
    ]


async def test_request_truth_is_served_by_request_id(
    sim: Simulator, client: httpx.AsyncClient
) -> None:
    answer = await client.post(
        sim.endpoint_url("openai") + "/chat/completions",
        headers=openai_headers(),
        json=chat_body(),
    )
    request_id = answer.headers["x-request-id"]
    truth = sim.truth(request_id)

    served = await client.get(f"{sim.base_url}/_simulator/requests/{request_id}")

    assert truth is not None
    assert served.status_code == 200
    assert served.json() == truth.to_json()
    assert served.json()["ttft_seconds"] == truth.ttft_seconds


async def test_unknown_request_id_is_404(sim: Simulator, client: httpx.AsyncClient) -> None:
    response = await client.get(sim.base_url + "/_simulator/requests/req_nope")

    assert response.status_code == 404


async def test_recent_requests_are_newest_first_and_filterable(
    sim: Simulator, client: httpx.AsyncClient
) -> None:
    ids = []
    for _ in range(3):
        answer = await client.post(
            sim.endpoint_url("openai") + "/chat/completions",
            headers=openai_headers(),
            json=chat_body(stream=False),
        )
        ids.append(answer.headers["x-request-id"])

    recent = await client.get(sim.base_url + "/_simulator/requests?limit=2&endpoint=openai")
    other = await client.get(sim.base_url + "/_simulator/requests?endpoint=azure")

    assert [r["request_id"] for r in recent.json()["requests"]] == ids[::-1][:2]
    assert other.json()["requests"] == []


async def test_mode_can_take_an_endpoint_down_and_bring_it_back(
    sim: Simulator, client: httpx.AsyncClient
) -> None:
    url = sim.endpoint_url("openai") + "/chat/completions"
    mode_url = sim.base_url + "/_simulator/endpoints/openai/mode"

    down = await client.post(mode_url, json={"mode": "server_error"})
    failing = await client.post(url, headers=openai_headers(), json=chat_body())
    back = await client.post(mode_url, json={"mode": None})
    working = await client.post(url, headers=openai_headers(), json=chat_body())

    assert down.json() == {
        "endpoint": "openai",
        "mode": "server_error",
        "mode_for_user_agent": None,
    }
    assert failing.status_code == 500
    assert back.json() == {"endpoint": "openai", "mode": "normal", "mode_for_user_agent": None}
    assert working.status_code == 200
    assert sim.mode("openai") is Behaviour.NORMAL


async def test_a_mode_can_apply_to_the_requests_of_one_user_agent_only(
    sim: Simulator, client: httpx.AsyncClient
) -> None:
    url = sim.endpoint_url("openai") + "/chat/completions"
    mode_url = sim.base_url + "/_simulator/endpoints/openai/mode"
    agent_b = "llm-monitor/0.1.0 (agent pb; location b)"
    agent_a = "llm-monitor/0.1.0 (agent pa; location a)"

    set_for_b = await client.post(
        mode_url, json={"mode": "server_error", "user_agent": "location b)"}
    )
    from_b = await client.post(
        url, headers={**openai_headers(), "user-agent": agent_b}, json=chat_body()
    )
    from_a = await client.post(
        url, headers={**openai_headers(), "user-agent": agent_a}, json=chat_body()
    )
    listed = (await client.get(sim.base_url + "/_simulator/endpoints")).json()["endpoints"]
    await client.post(mode_url, json={"mode": None})
    after = await client.post(
        url, headers={**openai_headers(), "user-agent": agent_b}, json=chat_body()
    )

    assert set_for_b.json()["mode_for_user_agent"] == "location b)"
    assert (from_b.status_code, from_a.status_code, after.status_code) == (500, 200, 200)
    assert [e["mode_for_user_agent"] for e in listed if e["id"] == "openai"] == ["location b)"]
    assert sim.forced_for("openai") is None


@pytest.mark.parametrize(
    ("path", "body", "status"),
    [
        ("/_simulator/endpoints/openai/mode", {"mode": "empty", "user_agent": ""}, 400),
        ("/_simulator/endpoints/openai/mode", {"mode": "empty", "user_agent": 3}, 400),
        ("/_simulator/endpoints/openai/mode", {"mode": "sleep"}, 400),
        ("/_simulator/endpoints/openai/mode", {"nomode": 1}, 400),
        ("/_simulator/endpoints/ghost/mode", {"mode": "empty"}, 404),
        ("/_simulator/everything", {}, 404),
    ],
)
async def test_bad_admin_requests_are_refused(
    sim: Simulator, client: httpx.AsyncClient, path: str, body: object, status: int
) -> None:
    response = await client.post(sim.base_url + path, json=body)

    assert response.status_code == status
    assert "message" in response.json()["error"]


def test_admin_answers_loopback_clients_only() -> None:
    request = Request(
        method="GET",
        target="/_simulator/health",
        path="/_simulator/health",
        query={},
        headers={},
        body=b"",
        keep_alive=True,
    )
    sim = Simulator(make_config())

    assert admin_response(sim, request, "10.1.2.3")[0] == 403
    assert is_loopback("127.0.0.1")
    assert is_loopback("::1")
    assert is_loopback("::ffff:127.0.0.1")
    assert not is_loopback("192.168.1.1")
    assert not is_loopback("")


async def test_set_mode_accepts_names_and_none(sim: Simulator) -> None:
    sim.set_mode("azure", "empty")
    assert sim.mode("azure") is Behaviour.EMPTY
    sim.set_mode("azure", None)
    assert sim.mode("azure") is Behaviour.NORMAL
    with pytest.raises(KeyError):
        sim.set_mode("ghost", "empty")
    with pytest.raises(ValueError, match="sleepy"):
        sim.set_mode("azure", "sleepy")


async def test_stop_drops_hanging_connections(client: httpx.AsyncClient) -> None:
    sim = Simulator(make_config(openai={"mode": "hang_before_headers"}))
    await sim.start()
    pending = asyncio.create_task(
        client.post(
            sim.endpoint_url("openai") + "/chat/completions",
            headers=openai_headers(),
            json=chat_body(),
        )
    )
    await newest_truth(sim)  # the request is in, and hangs

    await asyncio.wait_for(sim.stop(), timeout=2)

    with pytest.raises(httpx.RemoteProtocolError):
        await pending
    truth = sim.recent(1)[0]
    assert truth.ending == "hang"
    assert truth.closed_ns is not None


async def test_serve_runs_until_cancelled() -> None:
    config = make_config(port=0)
    task = asyncio.create_task(serve(config))
    await asyncio.sleep(0.05)

    task.cancel()

    with pytest.raises(asyncio.CancelledError):
        await task


async def test_api_key_env_is_read_at_start(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SIM_TEST_KEY", "sk-from-env")
    config = make_config(openai={"api_key": None, "api_key_env": "SIM_TEST_KEY"})
    async with Simulator(config) as sim, httpx.AsyncClient() as http:
        good = await http.post(
            sim.endpoint_url("openai") + "/chat/completions",
            headers={"Authorization": "Bearer sk-from-env"},
            json=chat_body(stream=False),
        )

    assert good.status_code == 200
    monkeypatch.delenv("SIM_TEST_KEY")
    with pytest.raises(ValueError, match="SIM_TEST_KEY"):
        Simulator(config)


async def test_without_a_configured_key_any_key_is_accepted(client: httpx.AsyncClient) -> None:
    async with Simulator(make_config(openai={"api_key": None})) as sim:
        response = await client.post(
            sim.endpoint_url("openai") + "/chat/completions",
            headers={"Authorization": "Bearer anything"},
            json=chat_body(stream=False),
        )

    assert response.status_code == 200
