"""Train an HM-LSTM: truncated BPTT with the state carried, Adam, clipping, slope annealing.

    python -m model.train --task text --out checkpoints/ptb-3x256 --max-minutes 60
    python -m model.train --task text --out checkpoints/ptb-3x256 --resume --max-minutes 60
    torchrun --nproc-per-node 2 -m model.train ...        (DistributedDataParallel)

A run keeps its state in --run-dir (default runs/NAME, not committed): weights, Adam's
moments, the carried hidden state, the position in the data and the schedule, in
safetensors and JSON, rewritten atomically every --save-minutes and at the end. A run
killed at any moment resumes from its last save with --resume. The checkpoint in --out
is the model with the best validation BPC so far.
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import math
import os
import sys
import time
from pathlib import Path

import torch
import torch.distributed as dist
from safetensors.torch import load_file, save_file

from model.checkpoint import CheckpointError, load_checkpoint, save_checkpoint, write_atomic
from model.data import DataError, windows
from model.ink import InkError
from model.tasks import make_task
from model.hmlstm import HMLSTMConfig, HMLSTMModel, slope_schedule



def parse_args(argv=None):
    p = argparse.ArgumentParser(prog="python -m model.train", description=__doc__.splitlines()[0])
    p.add_argument("--task", choices=["text", "ink"], default="text")
    p.add_argument("--data-dir", help="Penn Treebank folder (default ../shared/data/ptb), or IAM-OnDB for ink "
                                      "(default ../shared/data/iam-ondb)")
    p.add_argument("--text-file", help="train on any UTF-8 text file instead (split 90/5/5 by lines)")
    k = p.add_argument_group("ink")
    k.add_argument("--synthetic", type=int, default=0, help="ink: train on this many synthetic cursive lines")
    k.add_argument("--max-lines", type=int, default=0, help="ink: read only the first N training lines")
    k.add_argument("--stop-lines", type=int, default=300, help="ink: training lines held out for early stopping")
    k.add_argument("--mixtures", type=int, default=20, help="ink: Gaussians in the mixture density head")
    p.add_argument("--out", required=True, help="checkpoint folder to write, e.g. checkpoints/ptb-3x256")
    p.add_argument("--run-dir", help="where the resumable run state lives (default runs/NAME)")
    p.add_argument("--resume", action="store_true", help="continue the run in --run-dir")
    p.add_argument("--init-from", metavar="CHECKPOINT",
                   help="start from this checkpoint's weights (same model and data; a new run: fresh optimiser, "
                        "schedule and slope)")
    a = p.add_argument_group("model")
    a.add_argument("--layers", type=int, default=3)
    a.add_argument("--hidden", type=int, default=256)
    a.add_argument("--embed", type=int, default=128)
    a.add_argument("--output-size", type=int, default=0, help="width of h^e (default: --hidden)")
    # defaults chosen by the boundary study (reports/boundary-study.html): without layer norm valid
    # BPC was 0.09 worse and layer 2 collapsed to firing nearly always
    a.add_argument("--layer-norm", choices=["none", "gates", "all"], default="gates")
    a.add_argument("--top-detector", action="store_true")
    a.add_argument("--nested", action="store_true", help="z^l may fire only where z^{l-1} fired")
    a.add_argument("--z-bias", type=float, default=0.5)
    # the study: a 0.05-0.5 band cost 0.03 BPC and gained no boundary F1; with no guard at all a
    # 3 x 256 run saw layer 2 fire on every character within 140 updates; so a guard at the extremes
    a.add_argument("--z-band", default="0.02,0.98",
                   help="LO,HI: a guard against collapse, penalising a detector whose rate leaves [LO, HI] "
                        "(zero inside); LO,HI/LO,HI/...: one band per detector, layer 1 first; 'off': none")
    a.add_argument("--z-band-weight", type=float, default=1.0)
    a.add_argument("--z-rate", default="off",
                   help="a rate prior (beyond the paper): TARGET, or TARGET/TARGET/... per detector with 'none' "
                        "for no target; after each update a detector's threshold moves by gain x (rate - target)")
    a.add_argument("--z-rate-gain", type=float, default=0.1)
    o = p.add_argument_group("optimisation")
    o.add_argument("--batch", type=int, default=32)
    o.add_argument("--bptt", type=int, default=100)
    o.add_argument("--lr", type=float, default=2e-3)
    o.add_argument("--min-lr-ratio", type=float, default=0.05, help="cosine schedule's floor")
    o.add_argument("--warmup", type=int, default=100, help="linear warm-up updates")
    o.add_argument("--clip", type=float, default=1.0)
    o.add_argument("--weight-decay", type=float, default=0.0)
    o.add_argument("--epochs", type=float, default=10, help="planned epochs (the lr schedule spans them)")
    o.add_argument("--lr-minutes", type=float, default=0,
                   help="a time budget instead of --epochs: the lr schedule spans this many minutes of "
                        "training; the run ends there and validates its last weights too")
    o.add_argument("--slope-rate", type=float, default=0.04, help="a = min(cap, 1 + rate * epoch)")
    o.add_argument("--slope-cap", type=float, default=5.0)
    o.add_argument("--slope-delay", type=float, default=0.0, help="epochs before the slope grows")
    o.add_argument("--seed", type=int, default=1)
    r = p.add_argument_group("running")
    r.add_argument("--max-minutes", type=float, default=0, help="stop (resumably) after this long")
    r.add_argument("--max-updates", type=int, default=0, help="stop (resumably) after this many updates in all")
    r.add_argument("--save-minutes", type=float, default=5.0)
    r.add_argument("--valid-chars", type=int, default=0, help="score only this many valid characters")
    r.add_argument("--eval-batch", type=int, default=32, help="streams for validation")
    r.add_argument("--log-every", type=int, default=20)
    r.add_argument("--device", default="auto")
    r.add_argument("--threads", type=int, default=0)
    r.add_argument("--no-progress", action="store_true")
    args = p.parse_args(argv)
    for name in ("batch", "bptt", "layers", "hidden", "embed", "eval_batch"):
        if getattr(args, name) < 1:
            p.error(f"--{name.replace('_', '-')} must be at least 1")
    if args.lr <= 0 or args.epochs <= 0:
        p.error("--lr and --epochs must be positive")
    detectors = args.layers - (0 if args.top_detector else 1)

    def per_detector(flag, text, parse):
        """One value for every detector, or one each separated by '/'; None for 'off'."""
        if text == "off":
            return None
        try:
            values = [parse(part) for part in text.split("/")]
        except ValueError:
            p.error(f"{flag}: cannot read {text!r}")
        if len(values) not in (1, detectors):
            p.error(f"{flag} gives {len(values)} values; this model has {detectors} boundary detectors")
        return values * detectors if len(values) == 1 else values

    def band(part):
        lo, hi = (float(v) for v in part.split(","))
        if not 0 <= lo <= hi <= 1:
            raise ValueError
        return lo, hi

    def target(part):
        if part.strip() == "none":
            return None
        t = float(part)
        if not 0 <= t <= 1:
            raise ValueError
        return t

    args.band = per_detector("--z-band (LO,HI with 0 <= LO <= HI <= 1)", args.z_band, band)
    args.rate_targets = per_detector("--z-rate (targets in [0, 1] or 'none')", args.z_rate, target)
    return args


def detector_rates(out: dict, cfg: HMLSTMConfig) -> list[torch.Tensor]:
    """Each detector's firing rate in this batch, for the band guard.

    Its value is the rate of the hard z, the rate that is measured and shown (the rate of z~
    counts z~ just under 0.5 as half a firing).
    Its gradient goes through the unclamped line (a*s + 1)/2, so it still reaches a detector
    saturated at 0 or 1, where the paper's estimator passes nothing and a collapsed layer could
    never come back.
    """
    rates = []
    for l in range(cfg.num_layers):
        if cfg.has_detector(l):
            line = out["z_line"][..., l].mean()
            rates.append(line + (out["z"][..., l].mean() - line).detach())
    return rates


def band_penalty(rates, bands, weight: float) -> torch.Tensor:
    """The guard: weight x each rate's distance from its band [lo, hi], zero inside it."""
    return weight * sum(torch.relu(r - hi) + torch.relu(lo - r)
                        for r, (lo, hi) in zip(rates, bands, strict=True))


@torch.no_grad()
def steer_rates(out: dict, model: HMLSTMModel, targets, gain: float, world: int = 1) -> None:
    """The rate prior: after each update, move each detector's threshold toward its target rate.

    The threshold is the z row's bias (its shift after layer norm where the z row is
    normalised); it moves by gain x (rate - target), a gradient step on (rate - target)^2 / 2
    taken outside Adam, whose per-parameter normalisation caps a bias at lr per update. The
    language model alone still decides which steps clear the threshold. Two losses were tried
    first: sent through the whole line (a*s + 1)/2, hinge or square, the pull reached every
    weight feeding the z row and the model stopped learning (valid 3.8-4.3 BPC against 1.84 in
    the study's budget); restricted to the bias, Adam moved it too slowly to matter.
    """
    cfg = model.cfg
    detectors = [l for l in range(cfg.num_layers) if cfg.has_detector(l)]
    rates = out["z"][..., detectors].float().mean(dim=tuple(range(out["z"].dim() - 1)))
    if world > 1:
        dist.all_reduce(rates)
        rates /= world
    for l, rate, target in zip(detectors, rates.tolist(), targets, strict=True):
        if target is not None:
            layer = model.rnn.layers[l]
            shift = layer.ln_bias if cfg.layer_norm == "all" else layer.bias
            shift[-1] -= gain * (rate - target)


def init_from(model: HMLSTMModel, task, folder) -> None:
    """Copy a checkpoint's weights into `model`; the architecture and data must be the same."""
    try:
        source, config = load_checkpoint(folder)
    except CheckpointError as e:
        sys.exit(f"model.train: --init-from: {e}")
    if dataclasses.replace(source.cfg, z_bias=model.cfg.z_bias) != model.cfg:   # z_bias only shapes an init
        sys.exit(f"model.train: --init-from {folder}: its model {source.cfg.to_dict()} is not this one "
                 f"{model.cfg.to_dict()}; give the same --layers, --hidden, --embed, --layer-norm...")
    mine = task.meta()
    for key in ("vocabulary", "normalisation"):
        if config.get(key) != mine.get(key):
            sys.exit(f"model.train: --init-from {folder}: its {key} differs from this data's")
    model.load_state_dict(source.state_dict())


# --- distributed ---------------------------------------------------------------------

def setup_distributed():
    """(rank, world) under torchrun, (0, 1) otherwise."""
    if "WORLD_SIZE" not in os.environ or int(os.environ["WORLD_SIZE"]) < 2:
        return 0, 1
    backend = "nccl" if torch.cuda.is_available() else "gloo"
    dist.init_process_group(backend)
    return dist.get_rank(), dist.get_world_size()


def agree(flag: bool, world: int) -> bool:
    """True on every process when it is true on any (a no-op without torchrun)."""
    if world == 1:
        return bool(flag)
    t = torch.tensor([int(bool(flag))], device="cuda" if dist.get_backend() == "nccl" else "cpu")
    dist.all_reduce(t, op=dist.ReduceOp.MAX)
    return bool(t.item())


# --- run state ------------------------------------------------------------------------

def save_run(run_dir: Path, model, opt, hidden, trainer: dict):
    """Everything --resume needs, as safetensors + JSON, written atomically."""
    tensors = {f"model.{k}": v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
    opt_state = opt.state_dict()
    for i, st in opt_state["state"].items():
        for k, v in st.items():
            tensors[f"adam.{i}.{k}"] = (v if torch.is_tensor(v) else torch.tensor(v)).detach().cpu().reshape(-1) \
                if k == "step" else v.detach().cpu().contiguous()
    if hidden is not None:
        for name, t in zip(("h", "c", "z"), hidden):
            tensors[f"hidden.{name}"] = t.detach().cpu().contiguous()
    tensors["rng.torch"] = torch.get_rng_state()
    meta = {**trainer, "param_groups": opt_state["param_groups"]}
    write_atomic(run_dir, {
        "state.safetensors": lambda p: save_file(tensors, str(p)),
        "trainer.json": lambda p: p.write_text(json.dumps(meta, indent=2) + "\n"),
    })


def load_run(run_dir: Path, model, opt):
    tensors = load_file(str(run_dir / "state.safetensors"))
    meta = json.loads((run_dir / "trainer.json").read_text())
    model.load_state_dict({k[6:]: v for k, v in tensors.items() if k.startswith("model.")})
    state = {}
    for k, v in tensors.items():
        if k.startswith("adam."):
            _, i, name = k.split(".", 2)
            state.setdefault(int(i), {})[name] = v.reshape(()) if name == "step" else v
    opt.load_state_dict({"state": state, "param_groups": meta.pop("param_groups")})
    hidden = tuple(tensors[f"hidden.{n}"] for n in "hcz") if "hidden.h" in tensors else None
    torch.set_rng_state(tensors["rng.torch"])
    return hidden, meta


# --- the loop -----------------------------------------------------------------------

def learning_rate(args, step: int, fraction: float) -> float:
    """Linear warm-up, then cosine from --lr to --lr * --min-lr-ratio; `fraction` of the schedule done."""
    warm = min(1.0, (step + 1) / max(1, args.warmup))
    cos = 0.5 * (1 + math.cos(math.pi * min(1.0, fraction)))
    return args.lr * warm * (args.min_lr_ratio + (1 - args.min_lr_ratio) * cos)


def main(argv=None):
    args = parse_args(argv)
    rank, world = setup_distributed()
    if args.threads:
        torch.set_num_threads(args.threads)
    device = torch.device("cuda" if args.device == "auto" and torch.cuda.is_available() else
                          ("cpu" if args.device == "auto" else args.device))
    if device.type == "cuda" and world > 1:
        device = torch.device("cuda", int(os.environ.get("LOCAL_RANK", 0)))
        torch.cuda.set_device(device)
    out_dir = Path(args.out)
    run_dir = Path(args.run_dir) if args.run_dir else Path("runs") / out_dir.name
    if args.resume and not (run_dir / "trainer.json").is_file():
        sys.exit(f"model.train: nothing to resume in {run_dir} (no trainer.json)")
    torch.manual_seed(args.seed)
    try:
        task = make_task(args, out_dir, args.resume)
    except (DataError, InkError) as e:
        sys.exit(f"model.train: {e}")
    cfg = HMLSTMConfig(**task.model_config(args), hidden_sizes=[args.hidden] * args.layers,
                       output_size=args.output_size or args.hidden, top_detector=args.top_detector,
                       layer_norm=args.layer_norm, nested=args.nested, z_bias=args.z_bias)
    model = HMLSTMModel(cfg).to(device)
    opt = torch.optim.Adam(model.parameters(), lr=args.lr, weight_decay=args.weight_decay)
    trainer = {"epoch": 0, "position": 0, "step": 0, "positions": 0, "seconds": 0.0,
               "best_valid": None, "history": [], "args": vars(args)}
    hidden = None
    if args.init_from and not args.resume:
        init_from(model, task, args.init_from)
    if args.resume:
        hidden, saved = load_run(run_dir, model, opt)
        for old, new in (("best_valid_bpc", "best_valid"), ("chars", "positions")):   # runs saved before
            if old in saved:
                saved[new] = saved.pop(old)
        trainer.update({k: v for k, v in saved.items() if k != "args"})
        trainer["args"] = vars(args)
        if hidden is not None and hidden[0].shape[0] != args.batch:
            print(f"--batch changed ({hidden[0].shape[0]} -> {args.batch}): the carried state starts afresh",
                  file=sys.stderr)
            hidden = None
        if hidden is not None:
            hidden = tuple(h[rank * (args.batch // world):(rank + 1) * (args.batch // world)].to(device)
                           for h in hidden)
    ddp = model
    if world > 1:
        ddp = torch.nn.parallel.DistributedDataParallel(model)
    if args.batch % world:
        sys.exit(f"model.train: --batch {args.batch} does not split over {world} processes")
    local = args.batch // world
    streams = task.train_streams(args.batch)[:, rank * local:(rank + 1) * local].to(device)  # this rank's
    steps_per_epoch = math.ceil((streams.shape[0] - 1) / args.bptt)
    log_path = run_dir.parent / f"{run_dir.name}.jsonl"
    log_path.parent.mkdir(parents=True, exist_ok=True)
    log = open(log_path, "a") if rank == 0 else None
    meta = {**task.meta(),
            "training": {"data": task.data,
                         "command": "python -m model.train " + " ".join(argv if argv is not None else sys.argv[1:]),
                         "batch": args.batch, "bptt": args.bptt, "lr": args.lr, "clip": args.clip,
                         "slope": {"rate": args.slope_rate, "cap": args.slope_cap, "delay": args.slope_delay},
                         "rate_band": ({"band": [list(b) for b in args.band], "weight": args.z_band_weight}
                                       if args.band else None),
                         "rate_prior": ({"targets": args.rate_targets, "gain": args.z_rate_gain}
                                        if args.rate_targets else None),
                         "seed": args.seed, "device": str(device), "processes": world,
                         "init_from": Path(args.init_from).name if args.init_from else None}}
    amp = device.type == "cuda"
    if amp:     # the recurrence stays float32 under autocast: let its products use TF32
        torch.backends.cuda.matmul.allow_tf32 = True
    start = time.time()
    last_save = start
    seconds0 = trainer["seconds"]
    bar = None
    if rank == 0 and not args.no_progress:
        from tqdm import tqdm
        bar = tqdm(total=steps_per_epoch, initial=trainer["position"] // args.bptt, dynamic_ncols=True,
                   desc=f"epoch {trainer['epoch'] + 1}")
    low_high = [0] * cfg.num_layers          # consecutive logged windows a layer spent outside 1%..99%
    # running sums stay on the device: reading them every step would wait for the GPU every step
    window = {"nll": 0.0, "n": 0, "fired": torch.zeros(cfg.num_layers, device=device), "t": time.time()}

    def checkpoint_run():
        trainer["seconds"] = seconds0 + time.time() - start
        carried = hidden
        if world > 1 and hidden is not None:      # every rank's streams, in global stream order
            carried = []
            for t in hidden:
                parts = [torch.empty_like(t) for _ in range(world)]
                dist.all_gather(parts, t.contiguous())
                carried.append(torch.cat(parts))
        if rank == 0:
            save_run(run_dir, model, opt, carried, trainer)

    def out_of_time():
        return ((args.max_minutes and time.time() - start > args.max_minutes * 60)
                or (args.lr_minutes and seconds0 + time.time() - start > args.lr_minutes * 60)
                or (args.max_updates and trainer["step"] >= args.max_updates))

    stopped = False
    while (args.lr_minutes or trainer["epoch"] < math.ceil(args.epochs)) and not stopped:
        for pos, x, y in windows(streams, args.bptt, trainer["position"]):
            progress = trainer["epoch"] + pos / streams.shape[0]
            model.set_slope(slope_schedule(progress, args.slope_rate, 1.0, args.slope_cap, args.slope_delay))
            fraction = ((seconds0 + time.time() - start) / (60 * args.lr_minutes) if args.lr_minutes
                        else progress / args.epochs)
            lr = learning_rate(args, trainer["step"], fraction)
            for g in opt.param_groups:
                g["lr"] = lr
            with torch.autocast(device.type, dtype=torch.bfloat16, enabled=amp):
                out = ddp(x, hidden)
                loss = task.loss(model, out, y)
                objective = loss
                if args.band:
                    objective = objective + band_penalty(detector_rates(out, cfg), args.band, args.z_band_weight)
            hidden = out["state"]
            opt.zero_grad(set_to_none=True)
            objective.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), args.clip)
            opt.step()
            if args.rate_targets:
                steer_rates(out, model, args.rate_targets, args.z_rate_gain, world)
            trainer["step"] += 1
            n = y.shape[0] * y.shape[1]
            trainer["positions"] += n * world
            trainer["position"] = pos + x.shape[0]
            window["nll"] += loss.detach().float() * n
            window["n"] += n
            window["fired"] += out["z"].detach().float().sum((0, 1))
            if bar is not None:
                bar.update(1)
            if trainer["step"] % args.log_every == 0 and rank == 0:
                _log_window(trainer, window, cfg, model, lr, low_high, bar, log, world, task)
            # decided together: a rank alone in a collective (the save's gather, DDP's next step) hangs
            if agree(time.time() - last_save > args.save_minutes * 60, world):
                checkpoint_run()
                last_save = time.time()
            if agree(out_of_time(), world):
                stopped = True
                break
        if stopped and not (args.lr_minutes and out_of_time()):
            break
        # end of epoch (or of a time budget): validate, keep the best, carry on
        score, metrics = task.validate(model, device)
        done = trainer["epoch"] + (trainer["position"] / streams.shape[0] if stopped else 1)
        if not stopped:
            trainer["epoch"] += 1
            trainer["position"] = 0
            hidden = None
        minutes = (seconds0 + time.time() - start) / 60
        record = {"epoch": round(done, 3), "step": trainer["step"], **metrics, "slope": float(model.rnn.slope),
                  "minutes": minutes}
        trainer["history"].append(record)
        if rank == 0:
            print(f"epoch {record['epoch']}: " + ", ".join(f"{k} {v:.4f}" for k, v in metrics.items()
                                                           if isinstance(v, float)), file=sys.stderr)
            log.write(json.dumps({"event": "valid", **record}) + "\n")
            log.flush()
            if trainer["best_valid"] is None or score < trainer["best_valid"]:
                trainer["best_valid"] = score
                save_checkpoint(out_dir, model, {**meta, "metrics": {
                    **metrics, "epochs": round(done, 3), "updates": trainer["step"],
                    "train_positions": trainer["positions"], "train_minutes": round(minutes, 1)}})
        checkpoint_run()
        last_save = time.time()
        if bar is not None:
            bar.reset(total=steps_per_epoch)
            bar.set_description(f"epoch {trainer['epoch'] + 1}")
    checkpoint_run()
    if bar is not None:
        bar.close()
    if rank == 0:
        state = ("finished its --lr-minutes" if args.lr_minutes and out_of_time() else
                 "stopped at --max-minutes/--max-updates" if stopped else "finished")
        print(f"{state}: {trainer['step']} updates, {trainer['positions'] / 1e6:.1f}M positions, "
              f"best validation score {trainer['best_valid']}; resume with --resume", file=sys.stderr)
        log.close()
    if world > 1:
        dist.barrier()              # no rank closes its connections while another still uses them
        dist.destroy_process_group()
        # Everything is written and flushed. Leave now: about one exit in ten, a thread of torch's
        # gloo teardown is still joinable when the interpreter's static destructors run, which
        # aborts the process ("terminate called without an active exception") after a good run.
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(0)


def _log_window(trainer, window, cfg, model, lr, low_high, bar, log, world, task):
    rates = (window["fired"] / max(window["n"], 1)).tolist()
    shown = task.shown(float(window["nll"]) / max(window["n"], 1))
    cps = window["n"] * world / max(time.time() - window["t"], 1e-9)       # positions per second
    for l in range(cfg.num_layers):
        if cfg.has_detector(l):
            outside = rates[l] < 0.01 or rates[l] > 0.99
            low_high[l] = low_high[l] + 1 if outside else 0
            if low_high[l] == 10:       # ten logged windows in a row: say so, once per episode
                print(f"warning: layer {l + 1}'s boundary rate is {rates[l]:.3f}, outside 1%..99% for "
                      f"the last 10 logged windows: its detector may have collapsed", file=sys.stderr)
                log.write(json.dumps({"event": "collapse", "layer": l + 1, "rate": rates[l],
                                      "step": trainer["step"]}) + "\n")
    zs = [f"{r:.2f}" for l, r in enumerate(rates) if cfg.has_detector(l)]
    if bar is not None:
        bar.set_postfix_str(f"{cps / 1000:.1f}k pos/s {task.unit} {shown:.3f} z {'/'.join(zs)} "
                            f"a {float(model.rnn.slope):.2f}")
    log.write(json.dumps({"event": "train", "step": trainer["step"], "epoch": trainer["epoch"],
                          "position": trainer["position"], task.unit: shown, "boundary_rate": rates,
                          "lr": lr, "slope": float(model.rnn.slope), "positions_per_s": cps}) + "\n")
    log.flush()
    window["fired"].zero_()
    window.update(nll=0.0, n=0, t=time.time())


if __name__ == "__main__":
    main()
