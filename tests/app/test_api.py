"""The HTTP contract of DESIGN.md section 6, and bad input answered with a 4xx and a message."""
import re
from pathlib import Path

import numpy as np
import pytest
import torch

from model.checkpoint import load_checkpoint
from model.data import Vocabulary
from model.traces import operations, run_traces
from tests.helpers import ROOT


def test_health_and_models(client, checkpoint_dir):
    assert client.get("/healthz").json() == {"status": "ok", "models": 3}
    info = client.get("/api/models").json()
    assert info["default"] == "toy-a"
    names = {m["name"]: m for m in info["models"]}
    assert set(names) == {"toy-a", "toy-b", "toy-ink"}
    assert names["toy-ink"]["task"] == "ink"
    a = names["toy-a"]
    assert a["task"] == "text" and a["layers"] == 3 and a["detectors"] == [True, True, False]
    model, config = load_checkpoint(checkpoint_dir / "toy-a")
    assert a["metrics"] == config["metrics"] and a["parameters"] == sum(p.numel() for p in model.parameters())


def test_head_answers_every_get_route_as_get_without_the_body(client):
    """As a monitor or a link checker asks; each route declared once, so the OpenAPI ids are unique."""
    for path in ("/healthz", "/", "/ink", "/embed", "/api/models", "/api/ink/example?text=hi", "/docs",
                 "/vendor/plotly.min.js", "/static/css/lens.css"):
        got, head = client.get(path), client.head(path)
        assert (head.status_code, head.content) == (200, b""), path
        assert head.headers["content-type"] == got.headers["content-type"], path
        assert head.headers.get("content-length") == got.headers.get("content-length"), path
    assert client.head("/api/text").status_code == 405          # a POST route has no GET to stand for
    assert client.head("/nowhere").status_code == 404
    ids = [op["operationId"] for ops in client.get("/openapi.json").json()["paths"].values() for op in ops.values()]
    assert len(ids) == len(set(ids))


def test_text_traces_have_the_contract_shape(client):
    r = client.post("/api/text", json={"text": "The cat, 42 dogs!"})
    assert r.status_code == 200
    body = r.json()
    n = len(body["chars"])
    assert body["model"] == "toy-a" and body["task"] == "text"
    assert "".join(body["chars"]).startswith("the cat")        # lower case, as the corpus
    assert len(body["source_spans"]) == len(body["surprisal"]) == len(body["unknown"]) == n
    assert body["surprisal"][0] is None and all(s >= 0 for s in body["surprisal"][1:])
    assert [l["layer"] for l in body["layers"]] == [1, 2, 3]
    for layer in body["layers"][:2]:
        assert len(layer["z"]) == len(layer["z_soft"]) == n and set(layer["z"]) <= {0, 1}
        assert all((s > 0.5) == (z == 1) for s, z in zip(layer["z_soft"], layer["z"]))
    top = body["layers"][2]
    assert top["z"] is None and top["z_soft"] is None and "F" not in top["op"]
    for layer in body["layers"]:
        assert set(layer["op"]) <= {"U", "C", "F"} and len(layer["h_norm"]) == len(layer["gate"]) == n
    assert body["layers"][0]["op"][0] == "U"             # z^0 = 1 and no earlier boundary


def test_the_server_returns_what_the_model_computes(client, checkpoint_dir):
    text = "the dog ran to the big red house"
    body = client.post("/api/text", json={"text": text, "model": "toy-b"}).json()
    model, config = load_checkpoint(checkpoint_dir / "toy-b")
    ids = Vocabulary(config["vocabulary"]).encode(text)
    trace = run_traces(model, ids)
    assert body["model"] == "toy-b"
    for l in range(2):
        assert body["layers"][l]["z"] == trace.z[:, l].astype(int).tolist()
    np.testing.assert_allclose(body["surprisal"][1:], trace.loss[1:], atol=1e-4)
    # every strip's values, from the model's forward pass on the whole text (not the server's stepping)
    with torch.no_grad():
        out = model(ids.unsqueeze(1))
    cfg = model.cfg
    h = out["h"][:, 0].split(cfg.hidden_sizes, -1)
    ops = operations(np.zeros(cfg.num_layers), out["z"][:, 0].numpy(), [cfg.has_detector(l) for l in range(cfg.num_layers)])
    for l, layer in enumerate(body["layers"]):
        assert layer["op"] == ops[:, l].tolist()
        np.testing.assert_allclose(layer["h_norm"], h[l].norm(dim=-1).numpy(), atol=1e-4)
        np.testing.assert_allclose(layer["gate"], out["gate"][:, 0, l].numpy(), atol=1e-4)
        if layer["z_soft"] is not None:
            np.testing.assert_allclose(layer["z_soft"], out["z_soft"][:, 0, l].numpy(), atol=1e-4)
    assert {"U", "C", "F"} <= {o for layer in body["layers"] for o in layer["op"]}      # every operation shown


def test_one_more_character_reuses_the_prefix(client, settings, monkeypatch):
    import app.analysis as analysis
    ran = []                                    # the positions each request ran the model on
    real = analysis.run_traces
    monkeypatch.setattr(analysis, "run_traces", lambda model, ids, *a, **kw: ran.append(len(ids)) or real(model, ids, *a, **kw))
    text = "the cat sat on the mat and the dog"
    first = client.post("/api/text", json={"text": text}).json()
    assert first["reused_prefix"] == 0
    more = client.post("/api/text", json={"text": text + " r"}).json()
    again = client.post("/api/text", json={"text": text + " r"}).json()
    assert ran == [len(text), 2] and again == more      # one step per new character; the same text, none
    told = client.post("/api/text", json={"text": text + " r!", "since": first["digest"]}).json()
    assert told["reused_prefix"] == len(first["chars"])      # as far as the answer held (the cache holds more)
    from fastapi.testclient import TestClient
    from app.main import create_app
    with TestClient(create_app(settings)) as fresh:                # no cache: a full run
        full = fresh.post("/api/text", json={"text": text + " r"}).json()
    assert full["reused_prefix"] == 0
    for a, b in zip(more["layers"], full["layers"]):
        assert a["z"] == b["z"] and a["op"] == b["op"]
        np.testing.assert_allclose(a["h_norm"], b["h_norm"], atol=1e-4)
    np.testing.assert_allclose(more["surprisal"][1:], full["surprisal"][1:], atol=1e-4)


def test_the_cache_does_not_tell_what_another_client_typed(client):
    """The prefix cache is every client's: how much of it served a text is told only as far as the text
    agrees with the answer the client says it holds, else a client could read another's, a letter at a time."""
    secret = "my name is olga and i live"
    for n in range(1, len(secret) + 1):                      # typed, as the page posts it: every prefix cached
        client.post("/api/text", json={"text": secret[:n]})
    assert client.post("/api/text", json={"text": secret + "!"}).json()["reused_prefix"] == 0
    mine = client.post("/api/text", json={"text": "my name is bob"}).json()
    guess = client.post("/api/text", json={"text": secret[:16], "since": mine["digest"]}).json()
    assert guess["reused_prefix"] == len("my name is ")


def test_the_prefix_cache_is_bounded(client, settings):
    """Bounded by dropping the analysis used least lately: the newest stays (else, once full, nothing new
    would ever be reused)."""
    texts = [" ".join("cat" if bit == "1" else "dog" for bit in format(i, "08b"))            # distinct ids
             for i in range(settings.cache_entries + 10)]
    for text in texts:
        client.post("/api/text", json={"text": text})
    loaded = client.app.state.models["toy-a"]
    assert len(loaded.cache) == settings.cache_entries
    key = lambda text: np.asarray(loaded.vocab.read(text).ids, dtype=np.int32).tobytes()   # noqa: E731
    me = "testclient"                                                                  # the test client's address
    assert loaded.cache.longest_prefix(me, key(texts[-1]))[0] == len(texts[-1])     # the newest is kept
    assert loaded.cache.longest_prefix(me, key(texts[0]))[0] < len(texts[0])       # the oldest went


def test_a_client_finds_only_what_it_analysed_itself(settings, monkeypatch):
    """Another client's text is not found in the cache, by its prefix (an answer that came faster would tell
    that it was typed) or by its digest sent as `since` (a guessed text's digest can be computed)."""
    import app.analysis as analysis
    from fastapi.testclient import TestClient

    from app.main import create_app
    ran = []
    real = analysis.run_traces
    monkeypatch.setattr(analysis, "run_traces", lambda model, ids, *a, **kw: ran.append(len(ids)) or real(model, ids, *a, **kw))
    secret = "my pin is 4711 and my name is olga"
    with TestClient(create_app(settings.model_copy(update={"behind_proxy": True}))) as c:
        post = lambda who, body: c.post("/api/text", json=body, headers={"X-Forwarded-For": who}).json()  # noqa: E731
        held = post("10.0.0.1", {"text": secret})
        assert post("10.0.0.1", {"text": secret + " x"})["reused_prefix"] == 0 and ran == [len(secret), 2]
        other = post("10.0.0.2", {"text": secret + " x", "since": held["digest"]})
        assert ran[2:] == [len(secret) + 2]                                      # run whole: nothing of 10.0.0.1's
        assert other["offset"] == 0 and other["reused_prefix"] == 0 and len(other["chars"]) == len(secret) + 2


def test_unknown_characters_are_shown_not_rejected(client):
    body = client.post("/api/text", json={"text": "hôuse 🙂 ∑ and"}).json()
    i = body["source_spans"].index([6, 7])
    assert body["unknown"][i] and body["chars"][i] == "\ufffd"
    assert body["chars"][:5] == list("house")                 # the accent dropped


@pytest.mark.parametrize("payload,status,message", [
    ({"text": ""}, 422, "at least 1 character"),
    ({"text": "x" * 301}, 413, "limit is 300"),
    ({"text": "a", "model": "nope"}, 404, "unknown model 'nope'; the text checkpoints here: toy-a, toy-b"),
    ({"text": "a", "model": "../../etc/passwd"}, 404, "unknown model"),
    ({"text": "a", "model": "toy-a/../toy-b"}, 404, "unknown model"),
    ({"text": 5}, 422, "valid string"),
    ({"words": "a"}, 422, "text"),
    ({"text": "a", "extra": 1}, 422, "extra"),
    ([1, 2], 422, "valid dictionary"),
])
def test_bad_input_gets_a_4xx_with_a_message(client, payload, status, message):
    r = client.post("/api/text", json=payload)
    assert r.status_code == status
    assert message in r.json()["detail"]


@pytest.mark.parametrize("body,said", [
    ({"strokes": [[]] * 50_000}, "strokes.0: List should have at least 1 item"),
    ({"strokes": [[[1, 2, 3]] * 20_000]}, "strokes.0.0: List should have at most 2 items"),
    ({"text": "a", **{str(i): 0 for i in range(20_000)}}, "unknown fields: '0', '1', '2', '3', '4' and 19995 more"),
    ({"text": "a", "k" * 150_000: 1}, "kkkk…: Extra inputs are not permitted"),
])
def test_a_body_with_many_problems_gets_a_short_answer(client, body, said):
    """One error per problem would be built on the event loop (every client waits) and sent back whole
    (a body of 450 KB once got 11 MB back): lists stop at their first bad item, many unknown keys are
    one error, and a long name is cut."""
    r = client.post("/api/ink" if "strokes" in body else "/api/text", json=body)
    assert r.status_code == 422 and said in r.json()["detail"] and len(r.content) < 400


@pytest.mark.parametrize("headers", [{"content-type": "text/plain"}, {"content-type": "application/x-www-form-urlencoded"}, {}])
def test_a_body_sent_as_anything_but_json_is_told_so(client, headers):
    r = client.post("/api/text", content=b'{"text": "hello"}', headers=headers)
    assert r.status_code == 415 and "Content-Type: application/json" in r.json()["detail"]


def test_a_validation_error_is_said_once(client):
    r = client.post("/api/text", json={"text": ""})
    assert r.status_code == 422 and r.json()["detail"].count("at least 1 character") == 1
    r = client.post("/api/ink", content=b'{"strokes": [[[NaN, 1], [2, 3]]]}', headers={"content-type": "application/json"})
    assert r.status_code == 422 and r.json()["detail"].count("finite number") == 1


def test_malformed_and_oversized_bodies(client):
    r = client.post("/api/text", content=b'{"text": "a"', headers={"content-type": "application/json"})
    assert r.status_code == 422 and "not valid JSON" in r.json()["detail"]
    for body in (b'{"text": "\xff\xfe"}',                          # not UTF-8
                 b'{"text": "a", "x": ' + b"[" * 5000 + b"]" * 5000 + b"}"):   # too deep to parse
        r = client.post("/api/text", content=body, headers={"content-type": "application/json"})
        assert r.status_code == 422 and r.json()["detail"].startswith("the request body is not valid JSON (it must be UTF-8"), body[:20]
    assert client.get("/api/no-such-route").status_code == 404     # other HTTP errors answer as before
    r = client.post("/api/text", content=b"x" * 300_000, headers={"content-type": "application/json"})
    assert r.status_code == 413 and "over 200000 bytes" in r.json()["detail"]

    def chunks():                                        # streamed: no Content-Length to trust
        yield b'{"text": "'
        for _ in range(30):
            yield b"a" * 10_000
        yield b'"}'
    r = client.post("/api/text", content=chunks(), headers={"content-type": "application/json"})
    assert r.status_code == 413 and "over 200000 bytes" in r.json()["detail"]


def test_no_traceback_reaches_a_client(client, monkeypatch):
    import app.main as main
    import app.routes.api as api

    def boom(*a, **k):
        raise RuntimeError("secret internals")
    monkeypatch.setattr(api, "analyse_text", boom)
    from fastapi.testclient import TestClient
    with TestClient(main.create_app(client.app.state.settings), raise_server_exceptions=False) as c:
        r = c.post("/api/text", json={"text": "abc"})
    assert r.status_code == 500 and r.json() == {"detail": "internal error"}
    assert "secret" not in r.text and "Traceback" not in r.text


def test_a_browser_asking_for_a_page_we_do_not_have_gets_a_way_back(client):
    """A mistyped address in a browser: a page that links to the app's pages, still a 404; what is not a
    browser, and the API, keep the JSON answer."""
    html = {"accept": "text/html,application/xhtml+xml,*/*;q=0.8"}
    got = client.get("/nowhere/<b>x</b>", headers=html)
    assert got.status_code == 404 and got.headers["content-type"].startswith("text/html")
    assert 'href="/"' in got.text and 'href="/ink"' in got.text and "/nowhere/&lt;b&gt;x&lt;/b&gt;" in got.text
    assert client.head("/nowhere", headers=html).status_code == 404
    for path, headers in (("/nowhere", {}), ("/api/no-such-route", html), ("/static/none.css", html)):
        got = client.get(path, headers=headers)
        assert got.status_code == 404 and got.headers["content-type"] == "application/json", path
    # the API's docs lead back to the app too
    assert "[Back to the Boundary Lens](/)" in client.get("/openapi.json").json()["info"]["description"]


def test_pages_and_docs_work_offline(client):
    for path in ("/", "/docs"):
        html = client.get(path).text
        external = re.findall(r'(?:src|href)="(https?:)?//[^"]+"', html)
        assert not external, f"{path} loads {external}"
    assert client.get("/vendor/plotly.min.js").status_code == 200
    assert client.get("/vendor/swagger/swagger-ui-bundle.js").status_code == 200
    assert client.get("/vendor/swagger/../main.py").status_code == 404
    schema = client.get("/openapi.json").json()
    assert "/api/text" in schema["paths"]


def test_large_files_go_gzipped_once_and_a_browser_that_holds_them_gets_a_304(client):
    import plotly
    raw = (Path(plotly.__file__).parent / "package_data" / "plotly.min.js").read_bytes()
    plain = client.get("/vendor/plotly.min.js", headers={"Accept-Encoding": "identity"})
    assert plain.content == raw and "content-encoding" not in plain.headers
    packed = client.get("/vendor/plotly.min.js", headers={"Accept-Encoding": "gzip, br"})
    assert packed.headers["content-encoding"] == "gzip" and int(packed.headers["content-length"]) < len(raw) / 2
    assert packed.content == raw                           # (httpx unzips it)
    again = client.get("/vendor/plotly.min.js", headers={"If-None-Match": packed.headers["etag"]})
    assert again.status_code == 304 and not again.content


def test_a_whole_answer_goes_gzipped_and_a_keystrokes_does_not(client):
    text = "the cat sat on the mat and the dog ran to the big red house " * 4
    whole = client.post("/api/text", json={"text": text}, headers={"Accept-Encoding": "gzip"})
    assert whole.headers.get("content-encoding") == "gzip" and whole.json()["length"] == len(text)
    delta = client.post("/api/text", json={"text": text + "a", "since": whole.json()["digest"]},
                        headers={"Accept-Encoding": "gzip"})
    assert "content-encoding" not in delta.headers and len(delta.content) < 4096


def test_the_bundled_checkpoints_load_and_answer():
    from app.registry import discover
    folders = [p for p in (ROOT / "checkpoints").iterdir() if p.is_dir()] if (ROOT / "checkpoints").is_dir() else []
    found = discover(ROOT / "checkpoints", 4)
    assert set(found) == {p.name for p in folders}, "every bundled folder must load"
    for name, loaded in found.items():
        assert loaded.config.get("metrics"), f"{name} has no measured metrics"
        if loaded.task == "text":
            trace = run_traces(loaded.model, loaded.vocab.encode("the market rose"))
            assert trace.z.shape == (15, loaded.model.cfg.num_layers)


@pytest.mark.parametrize("raw", [
    '{"text": "a\\u0000b\\u0007c\\u001b[31m"}',          # control characters, NUL, an escape sequence
    '{"text": "\\ud83d\\ude42 and \\u202e mirrored"}',    # emoji, a bidi override
    '{"text": "' + "\\n" * 50 + '"}',                    # only newlines
])
def test_odd_text_is_read_not_refused(client, raw):
    r = client.post("/api/text", content=raw.encode(), headers={"content-type": "application/json"})
    assert r.status_code == 200, r.text
    body = r.json()
    assert len(body["chars"]) == len(body["layers"][0]["z"]) > 0


@pytest.mark.parametrize("raw,status", [
    (b'"just a string"', 422), (b"null", 422), (b"", 422), (b'{"text": "a", "model": 7}', 422),
    (b'{"text": ["a"]}', 422),
    (b'{"text": "a\\ud800b"}', 422),                        # a lone surrogate is not Unicode text
])
def test_wrong_shapes_are_4xx(client, raw, status):
    r = client.post("/api/text", content=raw, headers={"content-type": "application/json"})
    assert r.status_code == status and r.json()["detail"]


def test_with_spaces_the_whitespace_rule_is_a_row(client):
    body = client.post("/api/text", json={"text": "the cat sat"}).json()
    assert body["spaces"] is True
    rows = {r["name"]: r["z"] for r in body["baseline_rows"]}
    assert rows["whitespace"] == [0, 0, 0, 1, 0, 0, 0, 1, 0, 0, 0]


@pytest.fixture()
def spaceless_client(spaceless_dir, tmp_path):
    """A server on the toy spaceless checkpoint with what model.evaluate --record leaves: thresholds chosen
    on valid and a SentencePiece unigram model trained on the toy lines without their spaces."""
    import shutil

    from fastapi.testclient import TestClient

    from app.main import create_app
    from app.settings import Settings
    from model.checkpoint import read_config, write_config
    from tests.helpers import add_unigram
    ck = tmp_path / "ckpts" / "toy-nospace"
    shutil.copytree(spaceless_dir / "toy-nospace", ck)
    config = read_config(ck)
    config.setdefault("metrics", {})["test"] = {"baselines": {"surprisal": {"threshold_bits": 2.0},
                                                              "entropy": {"threshold_bits": 1.5},
                                                              "sentencepiece": {"vocab_size": 40}}}
    write_config(ck, config)
    add_unigram(ck)
    settings = Settings(checkpoint_dir=tmp_path / "ckpts", default_model="toy-nospace")
    with TestClient(create_app(settings)) as client:
        yield client


def test_a_spaceless_checkpoint_reads_typed_text_without_its_spaces(spaceless_client):
    client = spaceless_client
    assert client.get("/api/models").json()["models"][0]["spaces"] is False
    body = client.post("/api/text", json={"text": "The cat sat\non a mat"}).json()
    assert body["spaces"] is False and "".join(body["chars"]) == "thecatsat\nonamat"
    assert body["gold_word_ends"] == [0, 0, 1, 0, 0, 1, 0, 0, 1, 0, 0, 1, 1, 0, 0, 1]
    assert body["source_spans"][3] == [4, 5]                   # "c" of "cat" in what was typed
    assert body["surprisal_boundaries"] is None
    rows = {r["name"]: r for r in body["baseline_rows"]}
    assert set(rows) == {"surprisal peaks", "entropy peaks", "unigram pieces"}
    assert all(len(r["z"]) == len(body["chars"]) for r in rows.values())
    newline = body["chars"].index("\n")
    assert rows["unigram pieces"]["z"][newline] == 0 and rows["unigram pieces"]["z"][newline - 1] == 0


# the lists of an answer that hold one value per position
PER_POSITION = ("chars", "source_spans", "unknown", "surprisal", "gold_word_ends")


def merged(held: dict, answer: dict) -> dict:
    """What the page does (static/js/lib/api.js): its own values before the answer's offset, the answer's after."""
    o = answer["offset"]
    if o == 0:
        return answer
    out = {**answer, **{k: held[k][:o] + answer[k] for k in PER_POSITION}}
    out["layers"] = [{**new, **{k: (old[k][:o] + new[k]) if new[k] is not None else None
                                for k in ("z", "z_soft", "op", "h_norm", "gate")}}
                     for old, new in zip(held["layers"], answer["layers"])]
    out["baseline_rows"] = [{**new, "z": old["z"][:o] + new["z"]} for old, new in zip(held["baseline_rows"], answer["baseline_rows"])]
    if answer["surprisal_boundaries"]:
        out["surprisal_boundaries"] = {**answer["surprisal_boundaries"],
                                       "z": held["surprisal_boundaries"]["z"][:o] + answer["surprisal_boundaries"]["z"]}
    return {**out, "offset": 0}


# typing on, a backspace, a space then a letter, a line, an edit early on, an unknown character, a number
EDITS = ["the", "the ", "the c", "the ca", "the cat", "the ca", "the cat  ", "the cat  s", "the cat  sat\non",
         "the cat  sat\non a", "the dog  sat\non a", "the dog  sat\non a €", "the dog  sat\non a € 1",
         "the dog  sat\non a € 12", "the dog  sat\non a € 12 mat"]


@pytest.mark.parametrize("which", ["with spaces", "without spaces"])
def test_an_answer_since_the_one_held_puts_together_the_whole_answer(client, spaceless_client, which):
    """Each text sent with the digest of the answer before it: the answer starts at its offset, and
    the held values with it make exactly the whole answer a fresh request gets."""
    api = client if which == "with spaces" else spaceless_client
    held, offsets = None, []
    for text in EDITS:
        answer = api.post("/api/text", json={"text": text, **({"since": held["digest"]} if held else {})}).json()
        whole = api.post("/api/text", json={"text": text}).json()
        assert whole["offset"] == 0 and answer["length"] == whole["length"] == len(whole["chars"])
        assert len(answer["chars"]) == answer["length"] - answer["offset"]
        held = merged(held, answer)
        assert {k: v for k, v in held.items() if k != "reused_prefix"} == \
               {k: v for k, v in whole.items() if k != "reused_prefix"}, text
        offsets.append(answer["offset"])
    assert max(offsets) >= 10                    # typing at the end sends the end only (without spaces: its line)
    assert offsets[EDITS.index("the dog  sat\non a")] <= 4       # an edit early on, from there


def test_an_unknown_digest_gets_the_whole_answer(client):
    body = client.post("/api/text", json={"text": "the cat", "since": "0" * 24}).json()
    assert body["offset"] == 0 and len(body["chars"]) == body["length"] == 7
    r = client.post("/api/text", json={"text": "the cat", "since": "../etc"})
    assert r.status_code == 422 and "since" in r.json()["detail"]


def test_a_spaceless_checkpoint_given_only_spaces_reads_nothing_and_says_so(spaceless_client):
    empty = spaceless_client.post("/api/text", json={"text": "   "}).json()
    assert empty["length"] == 0 and empty["chars"] == [] and all(l["op"] == [] for l in empty["layers"])
    after = spaceless_client.post("/api/text", json={"text": "   a", "since": empty["digest"]}).json()
    assert merged(empty, after) == {**spaceless_client.post("/api/text", json={"text": "   a"}).json(),
                                    "reused_prefix": after["reused_prefix"]}
