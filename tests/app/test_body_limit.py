"""A body over the byte limit, posted to a real uvicorn server: every common client reads the 413
and its message, whether the body's length is declared (Content-Length) or it is sent chunked.

The TestClient cannot show this: what used to go wrong was the connection being closed under a
client that was still sending, which only a real socket does.
"""
import asyncio
import json
import urllib.error
import urllib.request

import httpx
import pytest
import requests

from app.limits import BodyLimit
from bench.server import running_server

LIMIT = 1_000_000
BODY = b'{"text": "' + b"a" * 5_000_000 + b'"}'          # 5 MB: five times the limit
MESSAGE = f"request body over {LIMIT} bytes"


@pytest.fixture(scope="module")
def url(tmp_path_factory):
    no_checkpoints = tmp_path_factory.mktemp("no-checkpoints")     # the limit comes before any model
    with running_server({"LENS_CHECKPOINT_DIR": str(no_checkpoints), "LENS_MAX_BODY_BYTES": str(LIMIT)}) as (base, _):
        yield base + "/api/text"


def in_chunks(body: bytes, size: int = 64 * 1024):
    """A generator: each client then sends the body chunked, with no Content-Length."""
    for start in range(0, len(body), size):
        yield body[start:start + size]


def post_with_urllib(url: str, chunked: bool) -> tuple[int, dict]:
    request = urllib.request.Request(url, data=in_chunks(BODY) if chunked else BODY, method="POST",
                                     headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as refused:
        return refused.code, json.loads(refused.read())


def post_with_requests(url: str, chunked: bool) -> tuple[int, dict]:
    response = requests.post(url, data=in_chunks(BODY) if chunked else BODY, timeout=30,
                             headers={"Content-Type": "application/json"})
    return response.status_code, response.json()


def post_with_httpx(url: str, chunked: bool) -> tuple[int, dict]:
    response = httpx.post(url, content=in_chunks(BODY) if chunked else BODY, timeout=30,
                          headers={"Content-Type": "application/json"})
    return response.status_code, response.json()


@pytest.mark.slow
@pytest.mark.parametrize("chunked", [False, True], ids=["content-length", "chunked"])
@pytest.mark.parametrize("post", [post_with_urllib, post_with_requests, post_with_httpx],
                         ids=["urllib", "requests", "httpx"])
def test_every_client_reads_the_413_and_its_message(url, post, chunked):
    status, body = post(url, chunked)
    assert status == 413
    assert body == {"detail": MESSAGE}


@pytest.mark.slow
def test_the_connection_stays_usable_after_a_413(url):
    with requests.Session() as session:                               # one keep-alive connection
        refused = session.post(url, data=BODY, headers={"Content-Type": "application/json"}, timeout=30)
        assert refused.status_code == 413
        after = session.post(url, json={"text": "the cat"}, timeout=30)
        assert after.status_code == 404 and "no text checkpoint" in after.json()["detail"]


def refuse_at_the_asgi_level(headers: list[tuple[bytes, bytes]], chunks: int) -> tuple[int, int, bool]:
    """(status sent, body messages read, whether the application ran) when BodyLimit(limit=10,
    drain_limit=100) meets a client that offers `chunks` chunks of 10 bytes."""
    read, sent, ran = 0, [], False

    async def receive():
        nonlocal read
        read += 1
        return {"type": "http.request", "body": b"x" * 10, "more_body": read < chunks}

    async def send(message):
        sent.append(message)

    async def application(scope, receive, send):
        nonlocal ran
        ran = True
        while (await receive()).get("more_body"):
            pass
    scope = {"type": "http", "method": "POST", "path": "/api/text", "headers": headers}
    asyncio.run(BodyLimit(application, limit=10, drain_limit=100)(scope, receive, send))
    return sent[0]["status"], read, ran


def test_the_rest_of_the_body_is_read_up_to_the_drain_limit_only():
    assert refuse_at_the_asgi_level([(b"content-length", b"50")], chunks=5) == (413, 5, False)   # all read
    assert refuse_at_the_asgi_level([(b"content-length", b"500")], chunks=50) == (413, 0, False)  # too much: at once
    assert refuse_at_the_asgi_level([], chunks=5) == (413, 5, True)                # chunked: read to its end
    status, read, _ = refuse_at_the_asgi_level([], chunks=10_000)                 # chunked, endless
    assert status == 413 and read == 11


def test_a_client_waiting_for_100_continue_is_answered_before_it_sends():
    headers = [(b"content-length", b"50"), (b"expect", b"100-continue")]
    assert refuse_at_the_asgi_level(headers, chunks=5) == (413, 0, False)
