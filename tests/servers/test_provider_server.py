"""Tests of the provider imitation server itself, with httpx2 and raw sockets as clients."""

from __future__ import annotations

import asyncio
import http.client
import json
import socket
import time
from collections.abc import Iterator

import httpx2
import pytest

from . import (
    Drop,
    Hang,
    ProviderServer,
    RecordedRequest,
    Reply,
    Sleep,
    Write,
    error_reply,
    every_byte,
    in_stream_error,
    json_reply,
    openai_chunks,
    split_bytes,
    sse_comment,
    stream_reply,
)

USAGE = {"prompt_tokens": 9, "completion_tokens": 3, "total_tokens": 12}

# WIRE-FORMATS.md section 2, byte for byte.
SPEC_OPENAI_STREAM = (
    'data: {"id":"c1","object":"chat.completion.chunk","created":1760000000,"model":"gpt-4o-mini",'
    '"choices":[{"index":0,"delta":{"role":"assistant","content":"Ol"},"finish_reason":null}],'
    '"usage":null}\n\n'
    'data: {"id":"c1","object":"chat.completion.chunk","created":1760000000,"model":"gpt-4o-mini",'
    '"choices":[{"index":0,"delta":{"content":"á!"},"finish_reason":null}],"usage":null}\n\n'
    'data: {"id":"c1","object":"chat.completion.chunk","created":1760000000,"model":"gpt-4o-mini",'
    '"choices":[{"index":0,"delta":{},"finish_reason":"stop"}],"usage":null}\n\n'
    'data: {"id":"c1","object":"chat.completion.chunk","created":1760000000,"model":"gpt-4o-mini",'
    '"choices":[],"usage":{"prompt_tokens":9,"completion_tokens":3,"total_tokens":12}}\n\n'
    "data: [DONE]\n\n"
).encode()


@pytest.fixture
def srv() -> Iterator[ProviderServer]:
    with ProviderServer() as server:
        yield server
        assert server.errors == []


def raw_exchange(srv: ProviderServer, request: bytes) -> bytes:
    """Send raw bytes, read until the server closes."""
    with socket.create_connection(("127.0.0.1", srv.port), timeout=2) as sock:
        sock.sendall(request)
        received = bytearray()
        while data := sock.recv(65536):
            received += data
        return bytes(received)


# --- openai_wire ----------------------------------------------------------------------------------


def test_openai_chunks_match_the_spec_example() -> None:
    events = openai_chunks(["Ol", "á!"], id="c1", usage=USAGE)
    assert b"".join(events) == SPEC_OPENAI_STREAM
    assert len(events) == 5


def test_provider_styles() -> None:
    deepseek = openai_chunks(
        ["9.11"],
        reasoning=["Compare", "9.8"],
        style="deepseek",
        id="6f1c",
        model="deepseek-reasoner",
    )
    assert deepseek[1] == (
        b'data: {"id":"6f1c","object":"chat.completion.chunk","created":1760000000,'
        b'"model":"deepseek-reasoner","choices":[{"index":0,"delta":{"content":null,'
        b'"reasoning_content":"9.8"},"finish_reason":null}]}\n\n'
    )
    assert (
        b'"delta":{"role":"assistant","content":null,"reasoning_content":"Compare"}' in deepseek[0]
    )

    xai = openai_chunks(["a"], style="xai")
    assert b"finish_reason" not in xai[0]
    assert b'"delta":{},"finish_reason":"stop"' in xai[1]

    groq_usage = {"prompt_tokens": 20, "completion_tokens": 3, "total_tokens": 23}
    groq = [json.loads(e[6:]) for e in openai_chunks(["a"], style="groq", usage=groq_usage)[:-1]]
    assert groq[1]["x_groq"]["usage"] == groq_usage == groq[1]["usage"]
    assert groq[2]["choices"] == [] and groq[2]["usage"] == groq_usage

    assert openai_chunks(["a"], include_done=False)[-1] != b"data: [DONE]\n\n"
    assert sse_comment() == b": keep-alive\n\n"
    assert (
        in_stream_error("boom") == b'data: {"error":{"message":"boom","type":"server_error"}}\n\n'
    )
    assert split_bytes(b"abcde", 2) == [b"ab", b"cd", b"e"]
    assert every_byte("á".encode()) == [b"\xc3", b"\xa1"]


# --- streaming ------------------------------------------------------------------------------------


def test_stream_arrives_byte_exact_when_cut_mid_character(srv: ProviderServer) -> None:
    data = SPEC_OPENAI_STREAM
    cut = data.index("á".encode()) + 1  # the first piece ends between C3 and A1
    reply = stream_reply(openai_chunks(["Ol", "á!"], id="c1", usage=USAGE), split=cut)
    assert reply.steps[0] == Write(data[:cut]) and data[:cut].endswith(b"\xc3")
    srv.enqueue(reply)

    with httpx2.Client(timeout=2) as client, client.stream("POST", srv.url + "/v1/x") as response:
        assert response.status_code == 200
        assert response.headers["content-type"] == "text/event-stream"
        assert response.headers["transfer-encoding"] == "chunked"
        received = b"".join(response.iter_raw())
    assert received == data


def test_writes_separated_by_a_sleep_arrive_as_separate_reads(srv: ProviderServer) -> None:
    srv.enqueue(stream_reply([b"data: 1\n\n", b"data: 2\n\n"], delay=0.15))
    with httpx2.Client(timeout=2) as client, client.stream("GET", srv.url) as response:
        started = time.monotonic()
        pieces = list(response.iter_raw())
    assert pieces == [b"data: 1\n\n", b"data: 2\n\n"]
    assert time.monotonic() - started >= 0.1


def test_length_and_close_framing_on_the_wire(srv: ProviderServer) -> None:
    srv.enqueue(
        Reply(steps=[Write(b"ab"), Sleep(0.01), Write(b"c")], framing="length"),
        Reply(status=201, headers={"X-A": "1"}, steps=[Write(b"xyz")], framing="close"),
    )
    request = b"GET /a HTTP/1.1\r\nHost: x\r\n\r\n"
    received = raw_exchange(srv, request + request)
    assert received == (
        b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nContent-Length: 3\r\n\r\nabc"
        b"HTTP/1.1 201 Created\r\nX-A: 1\r\nContent-Type: text/event-stream\r\n"
        b"Connection: close\r\n\r\nxyz"
    )
    assert srv.connections_opened == 1 and srv.request_count == 2


# --- recording ------------------------------------------------------------------------------------


def test_requests_are_recorded_on_one_keep_alive_connection(srv: ProviderServer) -> None:
    srv.enqueue(json_reply({"ok": 1}), json_reply({"ok": 2}))
    with httpx2.Client(timeout=2) as client:
        first = client.post(
            srv.url + "/v1/chat/completions?api-version=2&x=",
            json={"model": "m", "messages": [{"role": "user", "content": "héllo"}]},
            headers={"Authorization": "Bearer sk-test"},
        )
        second = client.get(srv.url + "/v1/models")
    assert (first.json(), second.json()) == ({"ok": 1}, {"ok": 2})

    request = srv.requests[0]
    assert isinstance(request, RecordedRequest)
    assert (request.method, request.path) == ("POST", "/v1/chat/completions")
    assert request.query == {"api-version": "2", "x": ""}
    assert request.headers["authorization"] == "Bearer sk-test"
    assert request.headers["content-type"] == "application/json"
    assert request.json()["messages"][0]["content"] == "héllo"
    assert srv.requests[1].path == "/v1/models" and srv.requests[1].body == b""
    assert srv.request_count == 2 and srv.connections_opened == 1
    # Closing the client closed the idle keep-alive connection, after the replies.
    assert srv.wait_for_disconnect(0, 1.0)
    assert srv.exchange(0).completed and not srv.exchange(0).client_closed_during_reply


def test_chunked_request_body_is_decoded(srv: ProviderServer) -> None:
    srv.enqueue(json_reply({}))
    conn = http.client.HTTPConnection("127.0.0.1", srv.port, timeout=2)
    try:
        conn.request("POST", "/up", body=iter([b'{"a":', b"1}"]), encode_chunked=True)
        assert conn.getresponse().read() == b"{}"
    finally:
        conn.close()
    assert srv.requests[0].headers["transfer-encoding"] == "chunked"
    assert srv.requests[0].json() == {"a": 1}


def test_queue_then_handler_then_unscripted_500(srv: ProviderServer) -> None:
    with httpx2.Client(timeout=2) as client:
        response = client.get(srv.url + "/nothing")
        assert response.status_code == 500
        assert "no reply was scripted" in response.json()["error"]["message"]

        srv.set_handler(lambda request: json_reply({"path": request.path}))
        srv.enqueue(json_reply({"queued": True}))
        assert client.get(srv.url + "/a").json() == {"queued": True}
        assert client.get(srv.url + "/b").json() == {"path": "/b"}

        srv.reset()
        assert srv.request_count == 0
        assert client.get(srv.url + "/c").status_code == 500


# --- failures and cancellation --------------------------------------------------------------------


def test_drop_breaks_the_body_for_the_client(srv: ProviderServer) -> None:
    events = openai_chunks(["a", "b", "c"])
    srv.enqueue(stream_reply(events[:2], delay=0.02, then=[Drop()]))
    received = bytearray()
    with (
        httpx2.Client(timeout=2) as client,
        pytest.raises(httpx2.TransportError),
        client.stream("GET", srv.url) as response,
    ):
        for piece in response.iter_raw():
            received += piece
    assert bytes(received) == b"".join(events[:2])
    assert srv.exchange(0).dropped

    srv.enqueue(json_reply({"still": "serving"}))
    assert httpx2.get(srv.url, timeout=2).json() == {"still": "serving"}


def test_hang_then_client_close_is_observed(srv: ProviderServer) -> None:
    srv.enqueue(stream_reply([b"data: 1\n\n"], then=[Hang()]))
    with httpx2.Client(timeout=2) as client, client.stream("GET", srv.url) as response:
        pieces = response.iter_raw()  # kept: a collected iterator would close the response
        assert next(pieces) == b"data: 1\n\n"
        assert not srv.wait_for_disconnect(0, 0.1)
    # Leaving the block closed the unfinished response, hence its connection.
    assert srv.wait_for_disconnect(0, 1.0)
    exchange = srv.exchange(0)
    assert exchange.client_closed_during_reply and not exchange.completed
    assert exchange.body_bytes_sent == len(b"data: 1\n\n")
    assert srv.wait_until_idle(1.0)


def test_sleep_ends_early_when_the_client_closes(srv: ProviderServer) -> None:
    srv.enqueue(Reply(steps=[Write(b"data: 1\n\n"), Sleep(30), Write(b"data: 2\n\n")]))
    with socket.create_connection(("127.0.0.1", srv.port), timeout=2) as sock:
        sock.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        assert b"data: 1" in sock.recv(65536)
    started = time.monotonic()
    assert srv.wait_for_disconnect(0, 1.0)
    assert srv.wait_until_idle(1.0)
    assert time.monotonic() - started < 1.0
    assert srv.exchange(0).reply_ended_at is not None


def test_two_concurrent_requests(srv: ProviderServer) -> None:
    srv.set_handler(lambda request: stream_reply([b"data: x\n\n"] * 2, delay=0.2))

    async def both() -> list[int]:
        async with httpx2.AsyncClient(timeout=2) as client:
            responses = await asyncio.gather(client.get(srv.url), client.get(srv.url))
        return [r.status_code for r in responses]

    assert asyncio.run(both()) == [200, 200]
    assert srv.max_concurrent_requests == 2
    assert srv.connections_opened == 2


def test_stop_closes_hanging_connections_promptly() -> None:
    server = ProviderServer().start()
    server.enqueue(Reply(steps=[Hang()]))
    sock = socket.create_connection(("127.0.0.1", server.port), timeout=2)
    try:
        sock.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        assert server.wait_for_requests(1, 1.0)
        started = time.monotonic()
        server.stop()
        assert time.monotonic() - started < 1.0
        assert sock.recv(100) == b""  # closed without a response
    finally:
        sock.close()


# --- error replies --------------------------------------------------------------------------------


def test_error_reply(srv: ProviderServer) -> None:
    srv.enqueue(
        error_reply(429, message="Rate limit reached", code="rate_limit_exceeded", retry_after=2),
        error_reply(400, message="bad", style="groq", headers={"X-Request-Id": "req_mine"}),
    )
    with httpx2.Client(timeout=2) as client:
        limited = client.post(srv.url + "/v1/chat/completions", json={})
        groq = client.post(srv.url + "/v1/chat/completions", json={})
    assert limited.status_code == 429
    assert limited.headers["content-type"] == "application/json"
    assert limited.headers["retry-after"] == "2"
    assert limited.headers["x-request-id"].startswith("req_")
    assert int(limited.headers["content-length"]) == len(limited.content)
    assert limited.json() == {
        "error": {
            "message": "Rate limit reached",
            "type": "rate_limit_error",
            "param": None,
            "code": "rate_limit_exceeded",
        }
    }
    assert groq.status_code == 400 and groq.headers["x-request-id"] == "req_mine"
    assert groq.json() == {"error": {"message": "bad", "type": "invalid_request_error"}}
