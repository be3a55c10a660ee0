"""Training: it learns, it resumes exactly, it survives SIGKILL, it runs under torchrun."""
import json
import os
import re
import signal
import subprocess
import sys
import time

import pytest
import torch
from safetensors.torch import load_file

from model import train
from model.checkpoint import load_checkpoint
from model.hmlstm import HMLSTMConfig, HMLSTMModel
from model.tasks import InkTask
from tests.helpers import ROOT, toy_corpus

SMALL = ["--hidden", "16", "--embed", "8", "--layers", "2", "--batch", "4", "--bptt", "20",
         "--log-every", "5", "--no-progress", "--warmup", "5"]


def run_train(tmp_path, *extra, name="ck"):
    train.main(["--text-file", str(toy_corpus(tmp_path)), "--out", str(tmp_path / name),
                "--run-dir", str(tmp_path / f"run-{name}"), *SMALL, *extra])


def test_training_learns_and_writes_a_checkpoint(tmp_path, capsys):
    run_train(tmp_path, "--epochs", "2")
    said = capsys.readouterr().err.strip().splitlines()
    assert said[-1].startswith("finished: ") and "best valid BPC " in said[-1] and "more --epochs" in said[-1]
    model, config = load_checkpoint(tmp_path / "ck")
    m = config["metrics"]
    assert m["valid_bpc"] < 2.5          # uniform over this alphabet is log2(19) = 4.2 bits
    assert m["epochs"] == 2 and len(config["vocabulary"]) == model.cfg.vocab_size
    assert config["training"]["rate_band"] == {"band": [[0.02, 0.98]], "weight": 1.0}
    log = [json.loads(line) for line in (tmp_path / "run-ck.jsonl").read_text().splitlines()]
    train_rows = [r for r in log if r["event"] == "train"]
    assert train_rows[-1]["bpc"] < train_rows[0]["bpc"]
    assert all(len(r["boundary_rate"]) == 2 for r in train_rows)


def test_a_time_budget_spans_the_lr_schedule_and_ends_with_a_validation(tmp_path):
    train.main(["--text-file", str(toy_corpus(tmp_path, lines=60)), "--out", str(tmp_path / "ck"),
                "--run-dir", str(tmp_path / "run-ck"), *SMALL, "--lr-minutes", "0.05", "--epochs", "1",
                "--lr", "1e-2"])
    log = [json.loads(line) for line in (tmp_path / "run-ck.jsonl").read_text().splitlines()]
    trained = [r for r in log if r["event"] == "train"]
    valid = [r for r in log if r["event"] == "valid"]
    # not bounded by --epochs; it ends at the budget (mid-epoch, or by chance at an epoch's end on a fast
    # machine) with its last weights validated
    assert valid[-1]["epoch"] > 1
    assert valid[-1]["step"] == json.loads((tmp_path / "run-ck" / "trainer.json").read_text())["step"]
    # the cosine spans the budget: full lr after warm-up, near --min-lr-ratio at the end
    lrs = [r["lr"] for r in trained if r["step"] > 5]
    assert lrs[0] > 0.6e-2 and lrs[-1] < 0.2e-2 and lrs == sorted(lrs, reverse=True)


def weights(folder):
    return load_file(str(folder / "state.safetensors"))


def test_resume_continues_exactly(tmp_path):
    run_train(tmp_path, "--epochs", "3", "--max-updates", "24", name="whole")
    run_train(tmp_path, "--epochs", "3", "--max-updates", "12", name="split")
    assert json.loads((tmp_path / "run-split" / "trainer.json").read_text())["step"] == 12
    run_train(tmp_path, "--epochs", "3", "--max-updates", "24", "--resume", name="split")
    a, b = weights(tmp_path / "run-whole"), weights(tmp_path / "run-split")
    saved = json.loads((tmp_path / "run-split" / "trainer.json").read_text())
    assert saved["step"] == 24
    # the log says where each part of the run began and why it stopped
    log = [json.loads(line) for line in (tmp_path / "run-split.jsonl").read_text().splitlines()]
    marks = [(r["event"], r.get("reason"), r["step"]) for r in log if r["event"] in ("start", "resume", "stop")]
    assert marks == [("start", None, 0), ("stop", "limit", 12), ("resume", None, 12), ("stop", "limit", 24)]
    # what made the run, then how it went on: the checkpoint cites the first command, not the last
    first, resumed = saved["commands"]
    assert "--max-updates 12" in first and "--resume" not in first and "--resume" in resumed
    for k in a:
        if k.startswith(("model.", "adam.", "carried.")):
            assert torch.equal(a[k], b[k]), k


def test_a_resumed_run_keeps_the_options_it_started_with_unless_given_again(tmp_path):
    run_train(tmp_path, "--epochs", "3", "--max-updates", "4", "--slope-rate", "1.0", "--lr", "5e-3", name="opts")
    out = ["--out", str(tmp_path / "opts"), "--run-dir", str(tmp_path / "run-opts"), "--resume"]
    args = train.parse_args([*out, "--lr", "1e-3"])
    assert args.slope_rate == 1.0 and args.epochs == 3 and args.hidden == 16     # the run's, not the defaults
    assert args.lr == 1e-3 and args.max_updates == 0                          # given again; per invocation
    assert train.parse_args(out[:2] + ["--slope-rate", "0.5"]).slope_rate == 0.5   # no --resume: the line


def test_the_collapse_warning_counts_the_windows_before_a_resume(tmp_path, capsys):
    flat = ("--epochs", "3", "--z-band", "off", "--z-bias", "20", "--log-every", "1")   # layer 1 fires everywhere
    run_train(tmp_path, *flat, "--max-updates", "6", name="flat")
    run_train(tmp_path, *flat, "--max-updates", "14", "--resume", name="flat")
    log = [json.loads(line) for line in (tmp_path / "run-flat.jsonl").read_text().splitlines()]
    assert [(r["layer"], r["step"]) for r in log if r["event"] == "collapse"] == [(1, 10)]     # once, at the 10th
    assert "layer 1's boundary rate is 1.000" in capsys.readouterr().err


def test_resume_without_a_run_says_so(tmp_path):
    with pytest.raises(SystemExit, match="nothing to resume"):
        run_train(tmp_path, "--resume")


def test_a_run_is_never_replaced_without_resume(tmp_path):
    run_train(tmp_path, "--epochs", "1", "--max-updates", "3")
    with pytest.raises(SystemExit, match="holds a run: add --resume"):
        run_train(tmp_path, "--epochs", "1", "--max-updates", "3")
    assert json.loads((tmp_path / "run-ck" / "trainer.json").read_text())["step"] == 3


def test_resume_refuses_another_model_or_another_start_in_one_line(tmp_path):
    run_train(tmp_path, "--epochs", "3", "--max-updates", "3")
    with pytest.raises(SystemExit) as e:
        run_train(tmp_path, "--resume", "--hidden", "24")
    assert "another model" in str(e.value) and "hidden_sizes" in str(e.value) and "\n" not in str(e.value)
    with pytest.raises(SystemExit):
        run_train(tmp_path, "--resume", "--init-from", str(tmp_path / "elsewhere"))
    run_train(tmp_path, "--resume", "--dropout", "0.1", "--max-updates", "4")     # training options may change


def test_resume_applies_a_new_weight_decay(tmp_path, monkeypatch):
    run_train(tmp_path, "--epochs", "3", "--max-updates", "3", "--optimizer", "adamw", "--weight-decay", "0.0")
    seen = []
    monkeypatch.setattr(train.Trainer, "train_step", lambda self, *a: seen.append(
        {g["weight_decay"] for g in self.opt.param_groups}) or setattr(self.run, "step", self.run.step + 1))
    run_train(tmp_path, "--resume", "--weight-decay", "0.05", "--max-updates", "4")
    assert seen == [{0.05}]


def test_a_resume_never_replaces_the_best_checkpoint_with_a_worse_one(tmp_path):
    """A kill between writing --out and saving the run leaves the run's best score stale."""
    run_train(tmp_path, "--epochs", "1")
    best = load_checkpoint(tmp_path / "ck")[1]["metrics"]["valid_bpc"]
    trainer_json = tmp_path / "run-ck" / "trainer.json"
    saved = json.loads(trainer_json.read_text())
    trainer_json.write_text(json.dumps({**saved, "best_valid": best + 1.0}))
    args = train.parse_args(["--text-file", str(toy_corpus(tmp_path)), "--out", str(tmp_path / "ck"),
                             "--run-dir", str(tmp_path / "run-ck"), *SMALL, "--resume"])
    assert train.Trainer(args, None, train.Processes.start("cpu")).run.best_valid == pytest.approx(best)


def test_a_new_batch_on_resume_keeps_the_share_of_the_epoch_done(tmp_path):
    run_train(tmp_path, "--epochs", "3", "--max-updates", "6")
    before = json.loads((tmp_path / "run-ck" / "trainer.json").read_text())["position"]
    args = train.parse_args(["--text-file", str(toy_corpus(tmp_path)), "--out", str(tmp_path / "ck"),
                             "--run-dir", str(tmp_path / "run-ck"), *SMALL, "--resume", "--batch", "8"])
    trainer = train.Trainer(args, None, train.Processes.start("cpu"))
    assert before > 0 and trainer.run.position == before * 4 // 8 and trainer.run.carried is None


def test_a_save_killed_between_its_two_renames_is_put_back(tmp_path):
    """Where the swap cannot be one step, a kill may leave the run only under its set-aside name."""
    run_train(tmp_path, "--epochs", "3", "--max-updates", "3")
    os.rename(tmp_path / "run-ck", tmp_path / ".run-ck.old.dead")
    run_train(tmp_path, "--resume", "--max-updates", "5")
    assert json.loads((tmp_path / "run-ck" / "trainer.json").read_text())["step"] == 5
    assert not (tmp_path / ".run-ck.old.dead").exists()


@pytest.mark.parametrize("bad", [["--batch", "0"], ["--z-band", "0.9,0.1"], ["--lr", "-1"],
                                 ["--z-band", "0.1,0.2/0.1,0.2/0.1,0.2"], ["--z-band", "0.1"], ["--lr", "nan"],
                                 ["--epochs", "inf"], ["--threads", "-1"], ["--log-every", "0"], ["--clip", "-1"],
                                 ["--warmup", "-5"], ["--min-lr-ratio", "5"], ["--max-minutes", "-1"],
                                 ["--valid-chars", "-5"], ["--mixtures", "0"], ["--synthetic", "5"],
                                 ["--ratio-target", "inf"], ["--task", "ink"],                # ink with --text-file
                                 ["--slope-cap", "0.5"], ["--dropout", "1"]])
def test_bad_arguments_exit_with_a_message(tmp_path, bad, capsys):
    with pytest.raises(SystemExit) as e:
        run_train(tmp_path, *bad)
    assert e.value.code == 2
    err = capsys.readouterr().err
    assert "error" in err and "Traceback" not in err
    assert re.search(r"--[a-z-]+", err).group() == bad[0] or bad[0] == "--task", err     # named first


@pytest.mark.parametrize("data,extra,message", [
    ("text", ["--device", "banana"], "not a device"), ("text", ["--batch", "100000"], "too few"),
    ("ink", ["--synthetic", "1"], "at least 2")])
def test_what_cannot_run_is_said_in_one_line(tmp_path, data, extra, message):
    source = ["--text-file", str(toy_corpus(tmp_path))] if data == "text" else ["--task", "ink"]
    with pytest.raises(SystemExit) as e:
        train.main([*source, "--out", str(tmp_path / "ck"), "--run-dir", str(tmp_path / "run"), *SMALL, *extra])
    assert message in str(e.value) and "\n" not in str(e.value)


def test_training_never_writes_over_what_is_not_its_own(tmp_path):
    """A save replaces its folder whole: a folder of other files, a file, or one target inside the other
    is refused before anything is written, and an existing checkpoint only with --replace-out."""
    corpus = toy_corpus(tmp_path)
    notes = tmp_path / "notes"
    notes.mkdir()
    (notes / "keep.txt").write_text("mine")

    def refused(out, run_dir, message, *extra):
        with pytest.raises(SystemExit) as e:
            train.main(["--text-file", str(corpus), "--out", str(out), "--run-dir", str(run_dir), *SMALL, *extra])
        assert message in str(e.value), str(e.value)
    refused(notes, tmp_path / "run", "holds files that are not a checkpoint")
    refused(tmp_path / "ck", notes, "holds other files")
    refused(tmp_path / "ck", corpus, "is a file")
    refused(tmp_path / "same", tmp_path / "same", "neither inside the other")
    refused(tmp_path / "ck", tmp_path / "ck" / "run", "neither inside the other")
    assert (notes / "keep.txt").read_text() == "mine" and corpus.is_file()
    assert not (tmp_path / "ck").exists() and not (tmp_path / "run").exists()
    run_train(tmp_path, "--epochs", "1")
    assert (tmp_path / "ck" / "config.json").is_file()
    refused(tmp_path / "ck", tmp_path / "run-2", "holds a checkpoint", "--epochs", "1")
    train.main(["--text-file", str(corpus), "--out", str(tmp_path / "ck"), "--run-dir", str(tmp_path / "run-2"),
                *SMALL, "--epochs", "1", "--max-updates", "2", "--replace-out"])


def _truncate(path):
    path.write_bytes(path.read_bytes()[:40])


def _edit_trainer(run_dir, edit):
    saved = json.loads((run_dir / "trainer.json").read_text())
    edit(saved)
    (run_dir / "trainer.json").write_text(json.dumps(saved))


def _wrong_shape(path):
    from safetensors.torch import save_file
    t = load_file(str(path))
    t["model.head.bias"] = torch.zeros(3)
    save_file(t, str(path))


@pytest.mark.parametrize("damage", [
    lambda d: (d / "trainer.json").write_text("{not json"),
    lambda d: (d / "trainer.json").write_text("[]"),
    lambda d: (d / "trainer.json").write_text(json.dumps({k: v for k, v in json.loads((d / "trainer.json").read_text())
                                                          .items() if k != "model"})),
    lambda d: _truncate(d / "state.safetensors"),
    lambda d: (d / "state.safetensors").unlink(),
    lambda d: _wrong_shape(d / "state.safetensors"),
    # edited by hand: each field of the type it was written with
    lambda d: _edit_trainer(d, lambda t: t["args"].update(lr="x")),
    lambda d: _edit_trainer(d, lambda t: t["args"].update(batch=4.5)),          # (given again: checked apart)
    lambda d: _edit_trainer(d, lambda t: t["args"].update(dropout=[0.1])),
    lambda d: _edit_trainer(d, lambda t: t.update(step="abc")),
    lambda d: _edit_trainer(d, lambda t: t.update(position=-7)),
    lambda d: _edit_trainer(d, lambda t: t.update(position=10 ** 9)),
    lambda d: _edit_trainer(d, lambda t: t.update(best_valid="x")),
    lambda d: _edit_trainer(d, lambda t: t.update(commands="x")),
    lambda d: _edit_trainer(d, lambda t: t.update(seconds="x")),
    lambda d: _edit_trainer(d, lambda t: t.update(data="x")),
    lambda d: _edit_trainer(d, lambda t: t.update(outside_band=["x"])),
    lambda d: _edit_trainer(d, lambda t: t.update(history=[1])),
    lambda d: _edit_trainer(d, lambda t: t["param_groups"][0].update(betas="x")),      # (Adam would fail at its step)
    lambda d: _edit_trainer(d, lambda t: t["param_groups"][0].update(eps=None)),
    lambda d: _edit_trainer(d, lambda t: t["param_groups"][0].update(params=[0])),
    lambda d: _edit_trainer(d, lambda t: t["param_groups"][0].update(momentum=0.9)),       # not Adam's
    lambda d: _edit_trainer(d, lambda t: t["param_groups"][0].pop("params")),
    lambda d: _edit_trainer(d, lambda t: t.pop("param_groups")),
])
def test_resuming_a_damaged_run_says_what_is_wrong_in_one_line(tmp_path, damage, capsys):
    run_train(tmp_path, "--epochs", "3", "--max-updates", "2")
    damage(tmp_path / "run-ck")
    with pytest.raises(SystemExit) as e:
        run_train(tmp_path, "--resume")
    said = str(e.value) if e.value.code != 2 else capsys.readouterr().err.strip().splitlines()[-1]
    assert "--resume" in said and ("trainer.json" in said or "state.safetensors" in said), said
    assert "Traceback" not in capsys.readouterr().err


def test_a_run_saved_without_an_optimiser_setting_resumes_with_torchs_default(tmp_path):
    """An older torch saved fewer settings per group (no "decoupled_weight_decay", say): torch fills them in."""
    run_train(tmp_path, "--epochs", "3", "--max-updates", "2")
    _edit_trainer(tmp_path / "run-ck", lambda t: [t["param_groups"][0].pop(k) for k in ("amsgrad", "foreach")])
    run_train(tmp_path, "--resume", "--max-updates", "4")
    assert json.loads((tmp_path / "run-ck" / "trainer.json").read_text())["step"] == 4


@pytest.mark.slow
def test_ctrl_c_stops_after_the_update_under_way_and_saves(tmp_path):
    corpus = toy_corpus(tmp_path, lines=3000)
    cmd = [sys.executable, "-m", "model.train", "--text-file", str(corpus), "--out", str(tmp_path / "ck"),
           "--run-dir", str(tmp_path / "run"), *SMALL, "--epochs", "50", "--save-minutes", "60"]
    proc = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    log, deadline = tmp_path / "run.jsonl", time.time() + 120
    while time.time() < deadline and '"train"' not in (log.read_text() if log.exists() else ""):
        time.sleep(0.2)
    logged = max(json.loads(line)["step"] for line in log.read_text().splitlines() if '"train"' in line)
    proc.send_signal(signal.SIGINT)
    err = proc.communicate(timeout=60)[1]
    assert proc.returncode == 130 and "Traceback" not in err and "stopped by Ctrl-C" in err, err
    saved = json.loads((tmp_path / "run" / "trainer.json").read_text())     # no save was due: this one is Ctrl-C's
    assert saved["step"] >= logged
    weights(tmp_path / "run")


def test_missing_data_is_one_line(tmp_path):
    with pytest.raises(SystemExit, match="text file not found"):
        train.main(["--text-file", str(tmp_path / "none.txt"), "--out", str(tmp_path / "o")])


@pytest.mark.slow
def test_sigkill_mid_run_loses_at_most_the_work_since_the_last_save(tmp_path):
    corpus = toy_corpus(tmp_path, lines=3000)
    cmd = [sys.executable, "-m", "model.train", "--text-file", str(corpus), "--out", str(tmp_path / "ck"),
           "--run-dir", str(tmp_path / "run"), *SMALL, "--epochs", "50", "--save-minutes", "0.002"]
    proc = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 120
    while time.time() < deadline and not (tmp_path / "run" / "trainer.json").exists():
        time.sleep(0.2)
    time.sleep(3)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    saved = json.loads((tmp_path / "run" / "trainer.json").read_text())
    assert saved["step"] > 0
    weights(tmp_path / "run")                                 # loads: never half-written
    leftovers = [p.name for p in tmp_path.iterdir() if p.name.startswith(".")]
    assert all(".old." not in n for n in leftovers)
    target = saved["step"] + 5
    subprocess.run(cmd[:-2] + ["--resume", "--max-updates", str(target)], cwd=ROOT, check=True,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    assert json.loads((tmp_path / "run" / "trainer.json").read_text())["step"] == target


@pytest.mark.slow
def test_torchrun_with_two_gloo_processes_trains_the_same_model(tmp_path):
    """Two processes with half the streams each and averaged gradients = one process."""
    corpus = toy_corpus(tmp_path)
    common = ["--text-file", str(corpus), *SMALL, "--epochs", "1", "--max-updates", "15", "--z-band", "off",
              "--save-minutes", "0.0001"]                  # a gathered save at every update
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    done = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--nproc-per-node", "2",
                           "--master-port", "29533", "-m", "model.train", *common,
                           "--out", str(tmp_path / "ddp"), "--run-dir", str(tmp_path / "run-ddp")],
                          cwd=ROOT, env=env, timeout=600, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-2000:]
    train.main([*common, "--out", str(tmp_path / "one"), "--run-dir", str(tmp_path / "run-one")])
    ddp, one = weights(tmp_path / "run-ddp"), weights(tmp_path / "run-one")
    assert json.loads((tmp_path / "run-ddp" / "trainer.json").read_text())["step"] == 15
    assert ddp["carried.h"].shape[0] == 4                  # every rank's carried state, gathered
    for k in one:
        if k.startswith("model."):
            torch.testing.assert_close(ddp[k], one[k], rtol=1e-4, atol=1e-5, msg=k)


def test_init_from_starts_at_the_checkpoint_and_is_a_new_run(tmp_path):
    run_train(tmp_path, "--epochs", "1", name="first")
    first, _ = load_checkpoint(tmp_path / "first")
    run_train(tmp_path, "--epochs", "1", "--max-updates", "1", "--lr", "1e-9", "--warmup", "1",
              "--init-from", str(tmp_path / "first"), name="second")
    second = weights(tmp_path / "run-second")
    for k, a in first.state_dict().items():
        if k != "rnn.slope":
            assert torch.allclose(a, second[f"model.{k}"], atol=1e-6), k
    trainer = json.loads((tmp_path / "run-second" / "trainer.json").read_text())
    assert trainer["step"] == 1 and trainer["args"]["init_from"] == str(tmp_path / "first")


def test_init_from_another_architecture_says_what_differs(tmp_path):
    run_train(tmp_path, "--epochs", "1", name="first")
    with pytest.raises(SystemExit, match="is not this one"):
        run_train(tmp_path, "--max-updates", "1", "--hidden", "12", "--init-from", str(tmp_path / "first"),
                  name="other")


def test_band_guard_uses_the_hard_rate_and_reaches_every_detector():
    """The band sees the rate of the hard z; its gradient reaches each detector's line."""
    cfg = HMLSTMConfig(vocab_size=5, input_size=4, hidden_sizes=[6, 6, 6], output_size=6)
    z = torch.tensor([[[1.0, 0.0, 0.0]], [[0.0, 0.0, 0.0]], [[0.0, 1.0, 0.0]], [[0.0, 0.0, 0.0]]])  # rates .25/.25
    soft = torch.full_like(z, 0.45) + 0.5 * z                                       # soft rates ~.57
    line = soft.clone().requires_grad_(True)
    rates = train.detector_rates({"z": z, "z_soft": soft, "z_line": line}, cfg)
    assert [r.item() for r in rates] == [0.25, 0.25]
    band = train.band_penalty(rates, [(0.5, 0.6), (0.0, 0.25)], 1.0)
    assert band.item() == pytest.approx(0.25)                       # only layer 1 is outside its band
    band.backward()
    assert (line.grad[..., 0] < 0).all()                            # layer 1 pulled up into its band
    assert (line.grad[..., 1:] == 0).all()


@pytest.mark.parametrize("ln", ["gates", "all"])
def test_rate_prior_moves_only_the_thresholds_of_detectors_with_a_target(ln):
    torch.manual_seed(0)
    model = HMLSTMModel(HMLSTMConfig(vocab_size=7, input_size=4, hidden_sizes=[6, 6, 6], output_size=6,
                                     layer_norm=ln))
    before = {n: p.clone() for n, p in model.named_parameters()}
    out = model(torch.randint(0, 7, (30, 3)))
    rate2 = out["z"][..., 1].mean().item()
    train.steer_rates(out, model, [None, rate2 - 0.25], 0.4)
    changed = {n for n, p in model.named_parameters() if not torch.equal(p, before[n])}
    name = f"rnn.layers.1.{'ln_bias' if ln == 'all' else 'bias'}"
    assert changed == {name}
    delta = dict(model.named_parameters())[name] - before[name]
    assert delta[-1].item() == pytest.approx(-0.4 * 0.25, rel=1e-5) and (delta[:-1] == 0).all()


def test_rate_prior_brings_a_rate_to_its_target(tmp_path):
    run_train(tmp_path, "--epochs", "1", "--max-updates", "60", "--z-band", "off", "--z-rate", "0.1",
              "--z-rate-gain", "0.5", name="steered")
    log = [json.loads(line) for line in (tmp_path / "run-steered.jsonl").read_text().splitlines()]
    rates = [r["boundary_rate"][0] for r in log if r["event"] == "train"]
    assert abs(rates[-1] - 0.1) < 0.08 and abs(rates[0] - 0.1) > 0.15


def test_rate_prior_flag_takes_one_target_per_detector(tmp_path):
    run_train(tmp_path, "--epochs", "1", "--max-updates", "3", "--z-rate", "0.3", name="prior")
    args = json.loads((tmp_path / "run-prior" / "trainer.json").read_text())["args"]
    assert args["rate_targets"] == [0.3] and args["z_rate_gain"] == 0.1
    with pytest.raises(SystemExit):
        run_train(tmp_path, "--z-rate", "0.3/0.2", name="bad")       # two targets, one detector


def test_no_spaces_trains_on_lines_without_whitespace(tmp_path):
    run_train(tmp_path, "--epochs", "1", "--max-updates", "5", "--no-spaces", name="nospace")
    config = json.loads((tmp_path / "run-nospace" / "trainer.json").read_text())
    assert " " not in config["data"]["vocabulary"] and "\n" in config["data"]["vocabulary"]
    assert config["data"]["spaces"] is False


def test_train_chars_trains_on_the_first_characters_only(tmp_path):
    """A small-data study (regularisation on the CPU): the epoch is the first N characters; valid is whole."""
    run_train(tmp_path, "--epochs", "2", name="full")
    run_train(tmp_path, "--epochs", "2", "--train-chars", "400", name="small")
    full, small = (json.loads((tmp_path / f"run-{n}" / "trainer.json").read_text()) for n in ("full", "small"))
    assert small["step"] == 2 * 5 < full["step"]          # 4 streams of 100: 5 windows of 20 per epoch
    _, config = load_checkpoint(tmp_path / "small")
    assert "its first 400 characters" in config["training"]["data"]
    assert config["metrics"]["valid_chars"] == load_checkpoint(tmp_path / "full")[1]["metrics"]["valid_chars"]


def test_the_spaceless_checkpoint_says_so(spaceless_dir):
    model, config = load_checkpoint(spaceless_dir / "toy-nospace")
    assert config["spaces"] is False and " " not in config["vocabulary"]
    assert config["training"]["entropy_guide"] == {"rates": [0.3, None], "weight": 1.0, "lag": 0}
    assert "without spaces" in config["training"]["data"]


def fake_out(cfg, T=40, B=3, seed=0):
    g = torch.Generator().manual_seed(seed)
    line = (torch.rand(T, B, cfg.num_layers, generator=g) * 1.4 - 0.2).requires_grad_(True)
    soft = line.detach().clamp(0, 1)
    return {"z": (soft > 0.5).float(), "z_soft": soft, "z_line": line,
            "out": torch.randn(T, B, cfg.vocab_size, generator=g) * 3}


def test_ratio_loss_is_smallest_at_its_target_and_pulls_the_rate_toward_it():
    cfg = HMLSTMConfig(vocab_size=5, input_size=4, hidden_sizes=[6, 6, 6], output_size=6)
    out = fake_out(cfg)
    rate = out["z"][..., 0].mean().item()
    loss = train.ratio_loss(out, cfg, [1 / (rate / 2), None])           # target: half the rate it has
    loss.backward()
    assert (out["z_line"].grad[..., 0] > 0).all()                       # gradient descent lowers z~
    assert (out["z_line"].grad[..., 1:] == 0).all()
    # H-Net's formula, F the share fired and G the mean z~: N/(N-1) ((N-1) F G + (1-F)(1-G))
    n, f, g = 1 / (rate / 2), rate, out["z_soft"][..., 0].mean().item()
    assert loss.item() == pytest.approx(n / (n - 1) * ((n - 1) * f * g + (1 - f) * (1 - g)), rel=1e-5)
    out = fake_out(cfg)                                                 # a target above the rate: z~ raised
    train.ratio_loss(out, cfg, [1 / min(0.99, 1.5 * rate), None]).backward()
    assert (out["z_line"].grad[..., 0] < 0).all()
    # at F = G = 1/N the loss is 1, its least: a detector firing at 1/4 with z~ at 1/4
    even = {"z": torch.tensor([1., 0, 0, 0]).reshape(4, 1, 1).repeat(1, 1, 3), "z_line": torch.full((4, 1, 3), 0.25)}
    even["z_soft"] = even["z_line"]
    assert train.ratio_loss(even, cfg, [4, None]).item() == pytest.approx(1.0)


def test_the_next_characters_entropy_is_in_bits():
    from model.priors import next_char_entropy
    assert next_char_entropy(torch.zeros(1, 1, 8)).item() == pytest.approx(3.0)       # uniform over 8: 3 bits
    assert next_char_entropy(torch.tensor([[[30.0, 0, 0, 0]]])).item() == pytest.approx(0.0, abs=1e-9)   # certain
    two = torch.tensor([[[0.0, 0, -1e9, -1e9]]])                                     # two equally likely: 1 bit
    assert next_char_entropy(two).item() == pytest.approx(1.0)


def test_entropy_guide_pulls_toward_firing_where_the_models_entropy_is_highest():
    from model.priors import next_char_entropy
    cfg = HMLSTMConfig(vocab_size=5, input_size=4, hidden_sizes=[6, 6, 6], output_size=6)
    out = fake_out(cfg, seed=3)
    entropy = next_char_entropy(out["out"])
    loss = train.entropy_guide_loss(out, cfg, entropy, [None, 0.25])
    loss.backward()
    grad = out["z_line"].grad[..., 1]
    high = entropy > torch.quantile(entropy.reshape(-1), 0.75)
    assert (grad[high] <= 0).all() and (grad[~high] >= 0).all() and grad.abs().sum() > 0
    assert (out["z_line"].grad[..., 0] == 0).all()                      # layer 1 has no target


def test_the_entropy_guide_at_lag_1_pulls_the_next_step():
    from model.priors import next_char_entropy
    cfg = HMLSTMConfig(vocab_size=5, input_size=4, hidden_sizes=[6, 6], output_size=6)
    out = fake_out(cfg, seed=4)
    entropy = next_char_entropy(out["out"])
    train.entropy_guide_loss(out, cfg, entropy, [0.25], lag=1).backward()
    grad = out["z_line"].grad[..., 0]
    high = entropy > torch.quantile(entropy.reshape(-1), 0.75)
    assert (grad[0] == 0).all()                                         # z_0 follows nothing at lag 1
    assert (grad[1:][high[:-1]] <= 0).all() and (grad[1:][~high[:-1]] >= 0).all()


def test_dropout_outside_the_recurrence_keeps_the_fused_loops_equal_to_the_reference():
    """The same masks (drawn in the same order outside the loops) give the same outputs and gradients."""
    cfg = HMLSTMConfig(vocab_size=9, input_size=6, hidden_sizes=[8, 8, 8], output_size=8, dropout=0.3,
                       layer_norm="gates")
    model = HMLSTMModel(cfg).train()
    x = torch.randint(0, 9, (12, 3))
    runs = []
    for backend in ("reference", None):
        torch.manual_seed(7)
        out = model(x, backend=backend)
        grads = torch.autograd.grad(out["out"].logsumexp(-1).sum(), list(model.parameters()), allow_unused=True)
        runs.append((out["out"].detach(), grads))
    torch.testing.assert_close(runs[0][0], runs[1][0], rtol=1e-5, atol=1e-5)
    for a, b in zip(runs[0][1], runs[1][1]):
        if a is not None:
            torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-5)
    torch.manual_seed(8)
    assert not torch.equal(model(x)["out"], runs[1][0])                # training: other masks, other output
    model.eval()
    with torch.no_grad():
        assert torch.equal(model(x)["out"], model(x)["out"])           # evaluation: no dropout


def test_warm_restarts_run_the_cosine_again():
    import argparse
    args = argparse.Namespace(lr=1.0, warmup=1, min_lr_ratio=0.0, restarts=1)
    lr = [train.learning_rate(args, 100, f) for f in (0.0, 0.25, 0.49, 0.5, 0.75, 0.99)]
    assert lr[0] == pytest.approx(1.0) and lr[3] == pytest.approx(1.0)    # the second cycle starts at --lr
    assert lr[1] == pytest.approx(lr[4]) and lr[2] < 0.01 and lr[5] < 0.01
    args.restarts = 0
    assert train.learning_rate(args, 100, 0.5) == pytest.approx(0.5)


def test_decoupled_weight_decay_trains_and_resumes(tmp_path):
    run_train(tmp_path, "--epochs", "2", "--max-updates", "6", "--optimizer", "adamw", "--weight-decay", "0.1",
              "--dropout", "0.1", name="wd")
    run_train(tmp_path, "--epochs", "2", "--max-updates", "12", "--optimizer", "adamw", "--weight-decay", "0.1",
              "--dropout", "0.1", "--resume", name="wd")
    saved = json.loads((tmp_path / "run-wd" / "trainer.json").read_text())
    assert saved["step"] == 12 and saved["param_groups"][0]["weight_decay"] == 0.1
    assert saved["model"]["dropout"] == 0.1


def test_the_entropy_guide_trains_ink_on_the_heads_entropy_bound(tmp_path):
    train.main(["--task", "ink", "--synthetic", "12", "--out", str(tmp_path / "ink"), "--run-dir", str(tmp_path / "run"),
                "--hidden", "12", "--layers", "2", "--batch", "4", "--bptt", "40", "--max-updates", "6",
                "--lr-minutes", "1", "--no-progress", "--mixtures", "3", "--stop-lines", "4", "--entropy-guide", "0.1"])
    model, config = load_checkpoint(tmp_path / "ink")
    assert config["training"]["entropy_guide"] == {"rates": [0.1], "weight": 1.0, "lag": 0}
    x = torch.randn(30, 2, 3)
    x[..., 2] = (torch.rand(30, 2) < 0.2).float()
    x[0, 0, 2] = 1.0
    out = model(x, None)
    bound = model.head.entropy_bound(out["out"])
    guided = InkTask.uncertainty(None, model, out, x)
    near = x[..., 2] > 0.5                                  # the jump after a pen-up, a new stroke's start
    for k in range(1, 4):
        near[k:] |= x[:-k, :, 2] > 0.5
    assert near[1:4, 0].all() and (guided[near] == bound.min()).all()
    assert torch.equal(guided[~near], bound[~near])
    with pytest.raises(SystemExit):
        train.parse_args(["--out", "o", "--task", "ink", "--no-spaces"])


def test_the_lstm_baseline_trains_evaluates_and_has_no_detector(tmp_path, capsys):
    from model.traces import run_traces
    train.main(["--task", "ink", "--synthetic", "20", "--arch", "lstm", "--out", str(tmp_path / "lstm"),
                "--run-dir", str(tmp_path / "run-lstm"), "--hidden", "12", "--layers", "2", "--batch", "4",
                "--bptt", "40", "--epochs", "1", "--no-progress", "--mixtures", "3", "--stop-lines", "4", "--warmup", "5"])
    model, config = load_checkpoint(tmp_path / "lstm")
    assert config["model"]["arch"] == "lstm" and config["training"]["rate_band"] is None
    assert config["normalisation"]["protocol"] == "graves2013"
    x = torch.randn(15, 3)
    x[:, 2] = 0
    trace = run_traces(model, x)
    assert (trace.op == "U").all() and (trace.z == 0).all()
    with pytest.raises(SystemExit):
        train.parse_args(["--out", "o", "--arch", "lstm", "--z-rate", "0.2"])      # no detector to steer


def nan_on(windows):
    """A TextTask.loss that is NaN on the given training windows (counted from 1)."""
    from model.tasks import TextTask
    real, seen = TextTask.loss, {"n": 0}

    def loss(self, model, out, y):
        value = real(self, model, out, y)
        if not model.training:
            return value
        seen["n"] += 1
        return value * float("nan") if windows(seen["n"]) else value
    return loss


def all_finite(folder):
    return all(torch.isfinite(t).all() for k, t in weights(folder).items() if k.startswith(("model.", "adam.")))


def test_a_window_whose_loss_is_not_finite_makes_no_update(tmp_path, monkeypatch, capsys):
    from model.tasks import TextTask
    monkeypatch.setattr(TextTask, "loss", nan_on(lambda n: n in (3, 4)))
    run_train(tmp_path, "--epochs", "3", "--max-updates", "8", name="nan")
    state = json.loads((tmp_path / "run-nan" / "trainer.json").read_text())
    assert state["step"] == 8 and state["skipped_updates"] == 2 and state["nonfinite_in_row"] == 0
    assert all_finite(tmp_path / "run-nan")
    assert "update 3 left out" in capsys.readouterr().err


def test_a_run_whose_loss_stays_not_finite_stops_saved_and_resumes(tmp_path, monkeypatch):
    from model.tasks import TextTask
    monkeypatch.setattr(TextTask, "loss", nan_on(lambda n: n >= 3))
    with pytest.raises(SystemExit, match=f"not finite on {train.NONFINITE_LIMIT} windows in a row"):
        run_train(tmp_path, "--epochs", "3", "--max-updates", "40", name="bad")
    state = json.loads((tmp_path / "run-bad" / "trainer.json").read_text())
    assert state["step"] == 2 and state["skipped_updates"] == train.NONFINITE_LIMIT
    assert all_finite(tmp_path / "run-bad")
    monkeypatch.undo()
    run_train(tmp_path, "--epochs", "3", "--max-updates", "6", "--resume", name="bad")
    assert json.loads((tmp_path / "run-bad" / "trainer.json").read_text())["step"] == 6


def test_an_exploding_but_finite_gradient_is_clipped_not_left_out():
    """Gradients of 1e20 and up overflow their squares in float32: torch's norm of them is inf. They are
    finite (the HM-LSTM's straight-through path explodes so at a steep slope), so they are clipped."""
    w = torch.nn.Parameter(torch.zeros(4))
    w.grad = torch.full((4,), 3e20)
    norm = train.clip_gradients([w], 1.0)
    assert torch.isinf(torch.nn.utils.get_total_norm([torch.full((4,), 3e20)]))      # what torch alone says
    assert float(norm) == pytest.approx(6e20, rel=1e-5)
    assert float(w.grad.norm()) == pytest.approx(1.0, rel=1e-5) and torch.allclose(w.grad, w.grad[0].expand(4))
    w.grad = torch.tensor([1.0, float("nan"), 0.0, 0.0])                             # not finite: left alone
    assert not torch.isfinite(train.clip_gradients([w], 1.0)) and w.grad[0] == 1.0


def test_a_window_with_an_exploding_gradient_still_makes_an_update(tmp_path, monkeypatch):
    from model.tasks import TextTask
    real = TextTask.loss

    def exploding(self, model, out, y):                  # the same loss, its gradient 1e25 times larger
        value = real(self, model, out, y)
        return value * 1e25 - (value * 1e25).detach() + value.detach() if model.training else value
    monkeypatch.setattr(TextTask, "loss", exploding)
    run_train(tmp_path, "--epochs", "3", "--max-updates", "4", name="big")
    state = json.loads((tmp_path / "run-big" / "trainer.json").read_text())
    assert state["step"] == 4 and state["skipped_updates"] == 0 and all_finite(tmp_path / "run-big")


@pytest.mark.parametrize("command,option,default", [("train", "--batch", "32"), ("train", "--lr", "0.002"),
                                                    ("train", "--threads", "0"), ("evaluate", "--threads", "0"),
                                                    ("study", "--seeds", "3"), ("probe", "--fit-lines", "300")])
def test_help_gives_every_options_default(capsys, command, option, default):
    import importlib
    with pytest.raises(SystemExit):
        importlib.import_module(f"model.{command}").main(["--help"])
    text = " ".join(capsys.readouterr().out.split())
    said = text[text.index(f" {option} {option[2:].upper().replace('-', '_')} ") + 1:]
    assert f"default: {default})" in said[:200] or said.split(" ")[2:4] == ["default:", default], said[:200]


def test_a_folder_that_cannot_be_written_is_refused_before_training(tmp_path):
    (tmp_path / "a-file").write_text("")
    for out, run in ((tmp_path / "a-file" / "ck", tmp_path / "run"), (tmp_path / "ck", tmp_path / "a-file" / "run")):
        with pytest.raises(SystemExit) as e:
            train.main(["--text-file", str(toy_corpus(tmp_path)), "--out", str(out), "--run-dir", str(run), *SMALL])
        assert str(e.value).startswith("model.train: cannot write ") and "\n" not in str(e.value), e.value
        assert f"{tmp_path / 'a-file'} is a file, not a folder" in str(e.value)              # the reason, named
    assert not (tmp_path / "run").exists() and not (tmp_path / "run.jsonl").exists()          # nothing trained


def test_a_validation_text_too_short_is_refused_before_training(tmp_path):
    with pytest.raises(SystemExit, match="the validation text cannot be scored"):
        run_train(tmp_path, "--valid-chars", "1")
    assert not (tmp_path / "run-ck.jsonl").exists()


def test_a_checkpoint_that_cannot_be_written_leaves_the_run_to_resume(tmp_path, monkeypatch):
    """The disk fills as the best weights are written: the run is saved first, and resumes once there is room."""
    import errno

    def full(*a, **kw):
        raise OSError(errno.ENOSPC, "No space left on device")
    monkeypatch.setattr(train, "save_checkpoint", full)
    with pytest.raises(SystemExit) as e:
        run_train(tmp_path, "--epochs", "2")
    assert "cannot write the checkpoint to" in str(e.value) and "No space left on device" in str(e.value)
    assert json.loads((tmp_path / "run-ck" / "trainer.json").read_text())["best_valid"] is None
    monkeypatch.undo()
    run_train(tmp_path, "--resume")
    assert load_checkpoint(tmp_path / "ck")[1]["metrics"]["epochs"] == 2


def test_a_resumed_run_reads_its_text_by_its_own_state_not_by_out(tmp_path):
    run_train(tmp_path, "--epochs", "1")
    vocabulary = load_checkpoint(tmp_path / "ck")[1]["vocabulary"]
    (tmp_path / "ck" / "config.json").write_text("{")                    # --out damaged; the run's state is whole
    run_train(tmp_path, "--resume", "--epochs", "2")
    config = load_checkpoint(tmp_path / "ck")[1]
    assert config["vocabulary"] == vocabulary and config["metrics"]["epochs"] == 2


def test_a_second_signal_stops_at_once_with_the_signals_code(monkeypatch, capsys):
    """SIGTERM asks for a stop after the update (the code a shell gives it: 143); a second signal stops at once,
    as a kill would, in one line."""
    monkeypatch.setattr(train.os, "_exit", lambda code: (_ for _ in ()).throw(SystemExit(code)))
    with train.Interrupt() as interrupt:
        os.kill(os.getpid(), signal.SIGTERM)
        time.sleep(0.05)
        assert interrupt.asked and interrupt.code == 143
        with pytest.raises(SystemExit) as e:
            os.kill(os.getpid(), signal.SIGINT)
            time.sleep(1)
    assert e.value.code == 130 and capsys.readouterr().err.strip().splitlines()[-1].startswith("model.train: stopped at once")
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler          # put back


def test_a_run_clears_what_killed_saves_left_beside_its_folders(tmp_path):
    run_train(tmp_path, "--epochs", "2", "--max-updates", "2")
    left = [tmp_path / ".run-ck.k3x_0a9z", tmp_path / f".run-ck.old.{'ab' * 16}", tmp_path / ".ck.q1w2e3r4"]
    for folder in left:
        (folder / "state.safetensors").parent.mkdir()
        (folder / "state.safetensors").write_bytes(b"half written")
    (tmp_path / ".run-ck.notes").mkdir()                                   # not a save's: kept
    run_train(tmp_path, "--resume", "--max-updates", "3")
    assert not any(folder.exists() for folder in left) and (tmp_path / ".run-ck.notes").is_dir()


def test_a_fraction_of_an_epoch_ends_there(tmp_path):
    """--epochs 1.5: the lr schedule spans one and a half epochs, and so does the run (validated at its end)."""
    run_train(tmp_path, "--epochs", "1.5")
    metrics = load_checkpoint(tmp_path / "ck")[1]["metrics"]
    history = json.loads((tmp_path / "run-ck" / "trainer.json").read_text())["history"]
    assert len(history) == 2 and history[0]["epoch"] == 1.0 and 1.5 <= history[-1]["epoch"] < 1.6
    assert metrics["epochs"] in (1.0, history[-1]["epoch"])


def test_two_processes_never_train_one_run_at_once(tmp_path):
    import fcntl
    with open(tmp_path / ".run-ck.lock", "w") as held:                  # as a run under way holds it
        fcntl.flock(held, fcntl.LOCK_EX | fcntl.LOCK_NB)
        with pytest.raises(SystemExit, match="another process is training the run in"):
            run_train(tmp_path, "--epochs", "1")
    run_train(tmp_path, "--epochs", "1", "--max-updates", "1")          # free again


def test_a_resume_continues_on_its_own_data(tmp_path, capsys):
    """Other data (or the other task) with --resume is refused in one line, not read with the run's alphabet or
    taken for a mistake in an option the person did not give."""
    run_train(tmp_path, "--epochs", "2", "--max-updates", "2")
    other = toy_corpus(tmp_path, lines=300)
    for given, said in ((["--text-file", str(other)], "on its own data (--text-file"),
                        (["--task", "ink", "--synthetic", "6"], "on its own data (--task text, not ink)")):
        with pytest.raises(SystemExit) as e:
            train.main(["--out", str(tmp_path / "ck"), "--run-dir", str(tmp_path / "run-ck"), "--resume", *given])
        assert e.value.code == 2 and said in capsys.readouterr().err
    with pytest.raises(SystemExit):
        train.main(["--text-file", str(other), "--data-dir", str(tmp_path), "--out", str(tmp_path / "x")])
    assert "give --data-dir or --text-file, not both" in capsys.readouterr().err


def test_a_resume_refuses_a_data_file_changed_since(tmp_path):
    corpus = toy_corpus(tmp_path)
    run_train(tmp_path, "--epochs", "2", "--max-updates", "2")
    corpus.write_text(corpus.read_text().replace("the", "a"))                    # the same path, other text
    with pytest.raises(SystemExit, match="the run began on other data"):
        run_train(tmp_path, "--resume")
