"""Under load: a bounded queue of model runs (then 503 + Retry-After), a per-client rate limit (429)."""
import threading
import time

import pytest
from fastapi import HTTPException
from fastapi.testclient import TestClient

from app.limits import RateLimiter, RunLimiter, Saturated


def test_run_limiter_bounds_running_and_waiting():
    lim = RunLimiter(running=1, waiting=1, wait_s=5)
    started, release, results = threading.Event(), threading.Event(), []

    def hold():
        with lim.run():
            started.set()
            release.wait(5)

    def queued():
        try:
            with lim.run():
                results.append("ran")
        except Saturated:
            results.append("503")

    a = threading.Thread(target=hold)
    a.start()
    started.wait(5)
    b = threading.Thread(target=queued)            # waits in the queue
    b.start()
    time.sleep(0.2)
    with pytest.raises(Saturated) as e:             # the queue is full: refused at once
        with lim.run():
            pass
    assert e.value.status_code == 503 and e.value.headers["Retry-After"] == "1"
    release.set()
    a.join()
    b.join()
    assert results == ["ran"]
    with lim.run():                                  # all slots free again
        pass


def test_run_limiter_says_how_many_runs_hold_a_slot():
    lim = RunLimiter(running=2, waiting=0, wait_s=1)
    with lim.run() as first:
        with lim.run() as second:
            assert (first, second) == (1, 2)
        with lim.run() as again:
            assert again == 2
    with lim.run() as alone:
        assert alone == 1


def test_a_slot_is_taken_without_waiting_only_where_one_is_free():
    lim = RunLimiter(running=1, waiting=1, wait_s=1)
    assert lim.enter(wait=False) == 1
    assert lim.enter(wait=False) is None and lim.inside == 1       # nothing taken, nothing counted
    lim.leave()
    assert (lim.inside, lim.running) == (0, 0) and lim.enter(wait=False) == 1
    lim.leave()


def test_a_request_that_must_wait_for_a_slot_gets_one_when_it_is_given_back(settings):
    """The slot is taken on the event loop when free; a request that finds none waits off the loop."""
    import threading

    import app.main as main
    with TestClient(main.create_app(settings.model_copy(update={"max_running": 1}))) as c:
        c.app.state.runs.enter()                                # another run holds the only slot
        threading.Timer(0.3, c.app.state.runs.leave).start()
        t0 = time.monotonic()
        assert c.post("/api/text", json={"text": "the cat"}).status_code == 200
        assert time.monotonic() - t0 >= 0.25
        assert (c.app.state.runs.inside, c.app.state.runs.running) == (0, 0)


def test_a_run_alone_gets_the_solo_threads_and_one_beside_another_gets_one(settings, monkeypatch):
    """A 1,000-character analysis is faster on both cores; under load each run keeps to one."""
    import app.main as main
    import app.routes.api as api
    real, seen = api.analyse_text, []

    def recorded(loaded, text, threads, since=None, client=""):
        seen.append(threads)
        return real(loaded, text, threads, since, client)
    monkeypatch.setattr(api, "analyse_text", recorded)
    with TestClient(main.create_app(settings.model_copy(update={"solo_run_threads": 3}))) as c:
        assert c.post("/api/text", json={"text": "the cat"}).status_code == 200
        with c.app.state.runs.run():                     # another run holds a slot
            assert c.post("/api/text", json={"text": "the cat"}).status_code == 200
        assert c.post("/api/text", json={"text": "the cat sat"}).status_code == 200
    assert seen == [3, 1, 3]


def test_run_limiter_times_out_in_the_queue():
    lim = RunLimiter(running=1, waiting=5, wait_s=0.2)
    with lim.run():
        t0 = time.monotonic()
        with pytest.raises(Saturated, match="waited too long"):
            with lim.run():
                pass
        assert 0.15 < time.monotonic() - t0 < 2


def test_rate_limiter_allows_bursts_then_refuses_and_refills():
    lim = RateLimiter(rate=10, burst=3)
    for _ in range(3):
        lim.check("a")
    with pytest.raises(HTTPException) as e:
        lim.check("a")
    assert e.value.status_code == 429 and int(e.value.headers["Retry-After"]) >= 1
    lim.check("b")                                    # another client is not affected
    time.sleep(0.15)
    lim.check("a")                                    # a tenth of a second refills one token


def test_rate_limiter_forgets_idle_clients():
    lim = RateLimiter(rate=1, burst=1, clients=10)
    for i in range(50):
        lim.check(f"c{i}")
    assert list(lim.buckets) == [f"c{i}" for i in range(40, 50)]        # the newest kept, the idlest dropped


def test_behind_a_proxy_a_client_cannot_name_itself_out_of_the_rate_limit(settings):
    import app.main as main
    proxied = settings.model_copy(update={"rate_per_s": 0.01, "rate_burst": 2, "behind_proxy": True})
    with TestClient(main.create_app(proxied)) as c:
        # each request claims another first hop; the proxy appended the address it saw, the same each time
        codes = [c.post("/api/text", json={"text": "the cat"},
                        headers={"X-Forwarded-For": f"10.0.0.{i}, 203.0.113.9"}).status_code for i in range(4)]
        assert codes == [200, 200, 429, 429]
        r = c.post("/api/text", json={"text": "the cat"}, headers={"X-Forwarded-For": "10.0.0.1, 203.0.113.10"})
        assert r.status_code == 200                       # another address seen by the proxy: its own bucket
        r = c.post("/api/text", json={"text": "the cat"}, headers={"X-Forwarded-For": "<b>, 203.0.113.9"})
        assert r.status_code == 429 and "<b>" not in r.json()["detail"] and "203.0.113" not in r.json()["detail"]


def test_api_answers_429_and_503_with_retry_after(settings, monkeypatch):
    import app.main as main
    import app.routes.api as api
    tight = settings.model_copy(update={"rate_per_s": 0.5, "rate_burst": 2})
    with TestClient(main.create_app(tight)) as c:
        codes = [c.post("/api/text", json={"text": "the cat"}).status_code for _ in range(3)]
        assert codes == [200, 200, 429]
        r = c.post("/api/text", json={"text": "the cat"})
        assert r.status_code == 429 and "Retry-After" in r.headers and "too many" in r.json()["detail"]
        # the synthetic example draws with a font on the server's cores: limited as the analyses are
        assert c.get("/api/ink/example", params={"text": "ab"}).status_code == 429

    real = api.analyse_text

    def slow(loaded, text, threads, since=None, client=""):
        time.sleep(0.5)
        return real(loaded, text, threads, since, client)
    monkeypatch.setattr(api, "analyse_text", slow)
    busy = settings.model_copy(update={"max_running": 1, "max_waiting": 0, "queue_wait_s": 0.1})
    with TestClient(main.create_app(busy)) as c:
        codes = []
        threads = [threading.Thread(target=lambda: codes.append(
            c.post("/api/text", json={"text": "the cat"}).status_code)) for _ in range(3)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert 503 in codes and set(codes) <= {200, 503} and 200 in codes


PROBE = """
import ctypes, sys
from app.main import return_large_buffers_to_the_os
if sys.argv[1] == "pinned" and not return_large_buffers_to_the_os():
    sys.exit(3)
libc = ctypes.CDLL("libc.so.6")
libc.malloc.restype, libc.malloc.argtypes = ctypes.c_void_p, [ctypes.c_size_t]
libc.free.argtypes = [ctypes.c_void_p]
class Mallinfo2(ctypes.Structure):
    _fields_ = [(n, ctypes.c_size_t) for n in ("arena", "ordblks", "smblks", "hblks", "hblkhd", "usmblks",
                                               "fsmblks", "uordblks", "fordblks", "keepcost")]
libc.mallinfo2.restype = Mallinfo2
libc.free(libc.malloc(8 << 20))          # unpinned, this raises glibc's threshold to 8 MiB
before = libc.mallinfo2().hblkhd
block = libc.malloc(1 << 20)
print(libc.mallinfo2().hblkhd - before)  # bytes mapped for the 1 MiB block: 0 if it came from the heap
"""


def test_large_buffers_go_back_to_the_os_after_startup():
    """Unpinned, glibc serves a large block from its heap once a larger one was freed (and keeps
    the memory); pinned by the server at startup, large blocks are mapped and unmapped on free."""
    import subprocess
    import sys
    from tests.helpers import ROOT as root

    def mapped(mode):
        r = subprocess.run([sys.executable, "-c", PROBE, mode], cwd=root, capture_output=True, text=True)
        if r.returncode == 3:
            pytest.skip("not glibc")
        assert r.returncode == 0, r.stderr
        return int(r.stdout)
    assert mapped("pinned") >= 1 << 20
    assert mapped("dynamic") == 0


def test_bad_requests_are_refused_without_waiting_for_a_run_slot(settings, monkeypatch):
    """With the only run slot held and no room to wait, a request that fails validation, is over a
    limit or names an unknown model still gets its own 4xx at once, never the queue's 503."""
    import app.main as main
    import app.routes.api as api
    holding, release = threading.Event(), threading.Event()
    real = api.analyse_text

    def held(loaded, text, threads, since=None, client=""):
        holding.set()
        release.wait(10)
        return real(loaded, text, threads, since, client)
    monkeypatch.setattr(api, "analyse_text", held)
    busy = settings.model_copy(update={"max_running": 1, "max_waiting": 0, "queue_wait_s": 5})
    with TestClient(main.create_app(busy)) as c:
        first = threading.Thread(target=lambda: c.post("/api/text", json={"text": "the cat"}))
        first.start()
        assert holding.wait(10)
        try:
            t0 = time.monotonic()
            assert c.post("/api/text", json={"text": 5}).status_code == 422
            assert c.post("/api/text", json={"text": "x" * 301, "model": "nope"}).status_code == 413
            assert c.post("/api/text", json={"text": "a", "model": "nope"}).status_code == 404
            assert c.post("/api/text", json={"text": "a", "model": "toy-ink"}).status_code == 400
            assert c.post("/api/ink", json={"strokes": [[[0, 0]]] * 201}).status_code == 413
            assert c.post("/api/text", json={"text": "a"}).status_code == 503      # a good one is refused
            assert time.monotonic() - t0 < 2
        finally:
            release.set()
            first.join()
