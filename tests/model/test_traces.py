"""model/traces.py: the operations each layer did, by the paper's rule (section 3)."""
import numpy as np

from model.traces import operations


def test_operations_follow_the_papers_rule():
    """FLUSH after a layer fired, else UPDATE where the layer below fired (layer 1: always), else COPY;
    a layer without a detector never FLUSHes, whatever its z column holds."""
    z = np.array([[1, 0, 0],
                  [0, 0, 1],          # (the top layer has no detector: its 1 here must not make a FLUSH)
                  [1, 1, 0],
                  [0, 0, 0]], dtype=float)
    op = operations(np.zeros(3), z, [True, True, False])
    assert ["".join(op[:, l]) for l in range(3)] == ["UFUF", "UCUF", "CCUC"]
    # a run continued from a state whose last step fired starts with a FLUSH
    assert "".join(operations(np.array([1.0, 0, 0]), z, [True, True, False])[:, 0]) == "FFUF"


# --- python -m model.traces: a file's traces without a server ---------------------------------------

import csv  # noqa: E402
import json  # noqa: E402

import pytest  # noqa: E402

from model import traces  # noqa: E402

TEXT = "The cat sat on the mat.\nThe dog, 42 of them, ran off!"


def _run(capsys, *args) -> str:
    traces.main([str(a) for a in args])
    return capsys.readouterr().out


def _api(settings, path, body):
    from fastapi.testclient import TestClient

    from app.main import create_app
    with TestClient(create_app(settings)) as client:
        return client.post(path, json=body).json()


@pytest.mark.parametrize("folder,name", [("checkpoint_dir", "toy-a"), ("spaceless_dir", "toy-nospace")])
def test_a_text_file_gets_the_servers_traces(capsys, request, settings, tmp_path, folder, name):
    """The same reading and values as POST /api/text gives, with or without spaces; the CSV the same rows."""
    root = request.getfixturevalue(folder)
    f = tmp_path / "t.txt"
    f.write_text(TEXT, encoding="utf-8")
    got = json.loads(_run(capsys, "--checkpoint", root / name, "--text-file", f, "--format", "json"))
    api = _api(settings.model_copy(update={"checkpoint_dir": root, "default_model": name}), "/api/text",
               {"text": TEXT, "model": name})
    assert got["char"] == api["chars"] and [list(s) for s in zip(got["typed_from"], got["typed_to"])] == api["source_spans"]
    assert got["gold_word_end"] == api["gold_word_ends"] and got["surprisal_bits"] == api["surprisal"]
    assert got["layers"] == api["layers"]
    rows = list(csv.DictReader(_run(capsys, "--checkpoint", root / name, "--text-file", f).splitlines(keepends=True)))
    assert [r["char"] for r in rows] == api["chars"]                  # a newline survives the CSV quoting
    assert [r["op2"] for r in rows] == api["layers"][1]["op"] and "z3" not in rows[0]     # the top layer has no z
    assert [float(r["z_soft1"]) for r in rows] == api["layers"][0]["z_soft"]
    assert rows[0]["surprisal_bits"] == "" and float(rows[1]["surprisal_bits"]) == api["surprisal"][1]


def test_ink_as_a_request_or_as_an_answer_gets_the_servers_traces(capsys, checkpoint_dir, settings, tmp_path):
    body = {"strokes": [[[10, 10], [14, 12], [19, 11]], [[30, 5], [31, 9]]]}
    api = _api(settings, "/api/ink", {**body, "model": "toy-ink"})
    for given in (body, {"points": api["points"]}):
        f = tmp_path / "ink.json"
        f.write_text(json.dumps(given))
        got = json.loads(_run(capsys, "--checkpoint", checkpoint_dir / "toy-ink", "--ink-file", f, "--format", "json"))
        assert got["layers"] == api["layers"] and got["nll_nats"] == api["nll"] and got["pen_up"] == api["pen_up"]
        assert got["stroke"] == [0, 0, 0, 1, 1]


def test_positions_count_a_files_own_characters_with_windows_newlines(capsys, checkpoint_dir, tmp_path):
    """typed_from/typed_to index the file as written ("\r\n" two characters, one newline for the model), as
    they index the same bytes given on standard input."""
    f = tmp_path / "crlf.txt"
    f.write_bytes("one\r\ntwo\r\nthree".encode())
    got = json.loads(_run(capsys, "--checkpoint", checkpoint_dir / "toy-a", "--text-file", f, "--format", "json"))
    raw = f.read_bytes().decode()
    assert [raw[a:b] for a, b in zip(got["typed_from"], got["typed_to"])] == list("one") + ["\r\n"] + list("two") \
        + ["\r\n"] + list("three")
    assert got["char"][3] == "\n"


def test_past_the_servers_length_the_whole_file_is_read(capsys, checkpoint_dir, settings, tmp_path):
    f = tmp_path / "long.txt"
    f.write_text("the cat sat on the mat " * 200)                  # 4,600 characters; the server takes 300 here
    out = tmp_path / "long.csv"
    traces.main(["--checkpoint", str(checkpoint_dir / "toy-a"), "--text-file", str(f), "--out", str(out)])
    assert len(out.read_text().splitlines()) == 1 + 4600
    assert f"4600 positions of 3 layers written to {out}" in capsys.readouterr().err


@pytest.mark.parametrize("args,message", [
    (["--checkpoint", "{ck}/toy-a", "--ink-file", "{ink}"], "is a text checkpoint: give it --text-file"),
    (["--checkpoint", "{ck}/toy-ink", "--text-file", "{txt}"], "is an ink checkpoint: give it --ink-file"),
    (["--checkpoint", "{ck}/toy-a", "--text-file", "{tmp}/none.txt"], "text file not found"),
    (["--checkpoint", "{ck}/toy-a", "--text-file", "{empty}"], "is empty"),
    (["--checkpoint", "{sp}/toy-nospace", "--text-file", "{blank}"], "holds nothing for the model to read"),
    (["--checkpoint", "{ck}/toy-ink", "--ink-file", "{txt}"], "Expecting value"),
    (["--checkpoint", "{ck}/toy-ink", "--ink-file", "{badink}"], "stroke 1: a point must be [x, y], numbers within ±1e+07"),
    (["--checkpoint", "{ck}/toy-ink", "--ink-file", "{hugeink}"], "stroke 0: a point must be [x, y], numbers within"),
    (["--checkpoint", "{ck}/toy-ink", "--ink-file", "{deepink}"], "its JSON is nested too deep"),
    (["--checkpoint", "{ck}/toy-a", "--text-file", "{txt}", "--out", "{ck}/toy-a/config.json"],
     "is inside the checkpoint it reads"),
    (["--checkpoint", "{ck}/toy-ink", "--ink-file", "{tmp}/none.json"], "cannot be read"),
    (["--checkpoint", "{tmp}", "--text-file", "{txt}"], "no config.json"),
    (["--checkpoint", "{ck}/toy-a", "--text-file", "{txt}", "--out", "{tmp}/no/such/dir/x.csv"], "cannot write"),
])
def test_errors_are_one_line(checkpoint_dir, spaceless_dir, tmp_path, args, message):
    (tmp_path / "t.txt").write_text("the cat")
    (tmp_path / "b.txt").write_text("  \t  ")                # a spaceless reading of it is empty
    (tmp_path / "e.txt").write_text("")
    (tmp_path / "ink.json").write_text('{"strokes": [[[0, 0], [1, 1]]]}')
    (tmp_path / "bad.json").write_text('{"strokes": [[[0, 0]], [[1, NaN]]]}')
    (tmp_path / "huge.json").write_text('{"strokes": [[[1' + "0" * 400 + ', 0], [1e308, 1]]]}')
    (tmp_path / "deep.json").write_text('{"strokes": ' + "[" * 100_000 + "]" * 100_000 + "}")
    paths = dict(ck=checkpoint_dir, sp=spaceless_dir, blank=tmp_path / "b.txt", tmp=tmp_path, txt=tmp_path / "t.txt", empty=tmp_path / "e.txt",
                 ink=tmp_path / "ink.json", badink=tmp_path / "bad.json",
                 hugeink=tmp_path / "huge.json", deepink=tmp_path / "deep.json")
    with pytest.raises(SystemExit) as e:
        traces.main([a.format(**paths) for a in args])
    said = str(e.value.code)
    assert said.startswith("model.traces: ") and message in said and "\n" not in said, said


def test_blocks_carry_the_state_so_a_long_file_reads_as_one_run(capsys, checkpoint_dir, tmp_path, monkeypatch):
    """The CSV is run and written a block at a time (memory bounded whatever the length): the rows are those of
    one run over the whole text, the surprisal at each block's first position included."""
    f = tmp_path / "t.txt"
    f.write_text(TEXT * 3)
    rows = lambda: list(csv.DictReader(_run(capsys, "--checkpoint", checkpoint_dir / "toy-a", "--text-file", f)  # noqa: E731
                                       .splitlines(keepends=True)))
    whole = rows()
    monkeypatch.setattr(traces, "BLOCK", 7)
    blocked = rows()
    assert len(blocked) == len(whole) == len(TEXT * 3)
    for a, b in zip(whole, blocked):
        assert {k: v for k, v in a.items() if k.startswith(("z", "op", "char", "typed", "position"))
                and not k.startswith("z_soft")} == {k: v for k, v in b.items() if k in a and k.startswith(
                    ("z", "op", "char", "typed", "position")) and not k.startswith("z_soft")}
        for k in ("surprisal_bits", "entropy_bits", "z_soft1", "h_norm2", "gate3"):
            assert (a[k] == "" and b[k] == "") or abs(float(a[k]) - float(b[k])) < 1e-3, (a["position"], k)


def test_ink_answers_points_are_grouped_by_their_stroke_numbers(capsys, checkpoint_dir, tmp_path):
    """A stroke number far past the points (40 bytes that once filled the memory) is only a number."""
    f = tmp_path / "ink.json"
    f.write_text('{"points": [[0, 0, 0], [5, 5, 0], [1, 1, 1000000000]]}')
    got = json.loads(_run(capsys, "--checkpoint", checkpoint_dir / "toy-ink", "--ink-file", f, "--format", "json"))
    assert got["stroke"] == [0, 0, 1] and got["pen_up"] == [0, 1, 1]


def test_standard_input_that_is_not_utf8_is_one_line(checkpoint_dir, monkeypatch):
    import io
    monkeypatch.setattr("sys.stdin", io.TextIOWrapper(io.BytesIO(b"\xff\xfe abc")))
    with pytest.raises(SystemExit) as e:
        traces.main(["--checkpoint", str(checkpoint_dir / "toy-a"), "--text-file", "-"])
    assert str(e.value).startswith("model.traces: standard input is not UTF-8 text")


def test_an_output_file_is_replaced_only_once_written_whole(capsys, checkpoint_dir, tmp_path, monkeypatch):
    f, out = tmp_path / "t.txt", tmp_path / "t.csv"
    f.write_text(TEXT)
    out.write_text("yesterday's results")
    monkeypatch.setattr(traces, "_write_rows", lambda *a, **k: (_ for _ in ()).throw(KeyboardInterrupt))
    with pytest.raises(SystemExit) as e:
        traces.main(["--checkpoint", str(checkpoint_dir / "toy-a"), "--text-file", str(f), "--out", str(out)])
    assert e.value.code == 130 and out.read_text() == "yesterday's results"
    assert {p.name for p in tmp_path.iterdir()} == {"t.txt", "t.csv"}             # no half-written file left
