"""Training throughput of our HM-LSTM against torch.nn.LSTM of the same depth and width.

A training step is forward, backward and an Adam update over a (length x batch) block of
characters, with the same embedding and softmax on both sides. The two models are
measured alternately in one process (9 short rounds by default), so that the ratio compares
like with like on a machine whose speed drifts.

    python -m bench.throughput --json
    python -m bench.throughput --json --products packed,blocked,mm   # the C++ loops' per-step products too
"""
from __future__ import annotations

import json
import platform
import statistics
import sys
import time

import torch
import torch.nn as nn

from bench.machine import cpu_model
from model import loops
from model.cli import Parser
from model.loops import CUDA_GRAPHS, backend_name, cpp
from model.hmlstm import HMLSTMConfig, HMLSTMModel


class LSTMBaseline(nn.Module):
    def __init__(self, vocab, embed, hidden, layers):
        super().__init__()
        self.embedding = nn.Embedding(vocab, embed)
        self.lstm = nn.LSTM(embed, hidden, layers)
        self.head = nn.Linear(hidden, vocab)

    def forward(self, x, state=None):
        h, state = self.lstm(self.embedding(x), state)
        return self.head(h), tuple(s.detach() for s in state)


def make_step(model, kind, device, dtype, backend="auto"):
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    loss_fn = nn.CrossEntropyLoss()
    state = [None]

    def step(x, y):
        with torch.autocast(device.type, dtype=dtype, enabled=dtype != torch.float32):
            if kind == "hmlstm":
                out = model(x, state[0], backend=backend)
                logits, state[0] = out["out"], out["state"]
            else:
                logits, state[0] = model(x, state[0])
            loss = loss_fn(logits.float().reshape(-1, logits.shape[-1]), y.reshape(-1))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
    return step


def timed(step, x, y, steps, device):
    if device.type == "cuda":
        torch.cuda.synchronize()
    t0 = time.perf_counter()
    for _ in range(steps):
        step(x, y)
    if device.type == "cuda":
        torch.cuda.synchronize()
    return x.numel() * steps / (time.perf_counter() - t0)


def main(argv=None):
    p = Parser(prog="python -m bench.throughput", description=__doc__.splitlines()[0])
    p.add_argument("--layers", type=int, default=3)
    p.add_argument("--hidden", type=int, default=256)
    p.add_argument("--batch", type=int, default=32)
    p.add_argument("--length", type=int, default=100)
    p.add_argument("--vocab", type=int, default=51)
    p.add_argument("--rounds", type=int, default=9, help="alternations; the ratio is the median over rounds")
    p.add_argument("--steps", type=int, default=3,
                   help="training steps per model per round (short rounds, since the machine's speed drifts)")
    p.add_argument("--layer-norm", default="none", choices=["none", "gates", "all"])
    p.add_argument("--device", default="cpu")
    p.add_argument("--bf16", action="store_true", help="bf16 autocast (GPU)")
    p.add_argument("--threads", type=int, default=0, help="torch threads (0: leave as is)")
    p.add_argument("--backend", default="auto", choices=["auto", "cpp", "triton", "python"],
                   help="the HM-LSTM's loops (auto: C++ on the CPU, Triton with CUDA graphs on a GPU)")
    p.add_argument("--products", default="",
                   help="C++ loops: the per-step product paths to measure side by side, e.g. packed,blocked,mm "
                        "(each alternates with nn.LSTM in the same rounds; default: the one chosen)")
    p.add_argument("--json", action="store_true")
    args = p.parse_args(argv)
    p.at_least(args, 1, "layers", "hidden", "batch", "length", "vocab", "rounds", "steps")
    p.at_least(args, 0, "threads")
    products = [v for v in args.products.split(",") if v]
    if any(v not in cpp.STEP_PRODUCTS for v in products):
        p.error(f"--products takes some of {','.join(cpp.STEP_PRODUCTS)}, not {args.products!r}")
    if args.threads:
        torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    try:
        device = torch.device(args.device)
    except RuntimeError:
        p.error(f"--device {args.device!r} is not a device (cpu, cuda, cuda:1, ...)")
    if device.type == "cuda" and not torch.cuda.is_available():
        p.error("--device cuda: no GPU here")
    dtype = torch.bfloat16 if args.bf16 else torch.float32
    try:
        loops.select(device, dtype, args.backend)
    except RuntimeError as e:
        p.error(f"--backend {args.backend}: {e}")
    cfg = HMLSTMConfig(vocab_size=args.vocab, input_size=args.hidden,
                       hidden_sizes=[args.hidden] * args.layers, output_size=args.hidden,
                       layer_norm=args.layer_norm)
    models = {
        "hmlstm": HMLSTMModel(cfg).to(device),
        "lstm": LSTMBaseline(args.vocab, args.hidden, args.hidden, args.layers).to(device),
    }
    if device.type == "cuda":       # as model.train does: the float32 recurrence's products in TF32
        torch.backends.cuda.matmul.allow_tf32 = True
    steps = {k: make_step(m, k, device, dtype, args.backend) for k, m in models.items()}
    backend = backend_name(device) if args.backend == "auto" else args.backend
    if products and backend != "cpp":
        p.error("--products measures the C++ loops (--backend cpp, on the CPU)")
    # each product path is the same HM-LSTM step with the extension switched before it is timed;
    # the top-level HM-LSTM figures are those of the chosen path (HMLSTM_STEP_PRODUCT) where it is measured
    paths = {f"hmlstm:{v}": v for v in products}
    if paths:
        hmlstm = steps.pop("hmlstm")
        steps.update({name: hmlstm for name in paths})
    reported = cpp.STEP_PRODUCT if not products or cpp.STEP_PRODUCT in products else products[0]

    def run(name, n):
        if name in paths:
            cpp.extension().set_step_product(paths[name])
        return timed(steps[name], x, y, n, device)

    x = torch.randint(0, args.vocab, (args.length, args.batch), device=device)
    y = torch.randint(0, args.vocab, (args.length, args.batch), device=device)
    for k in steps:                      # warm-up: allocator, kernels, Adam state
        run(k, 2)
    rates = {k: [] for k in steps}
    for _ in range(args.rounds):
        for k in steps:
            rates[k].append(run(k, args.steps))
    if paths:
        for name in paths:
            by_path = [a / b for a, b in zip(rates[name], rates["lstm"])]
            print(f"{name}: {statistics.median(rates[name]):.0f} chars/s, ratio to nn.LSTM {statistics.median(by_path):.3f}"
                  f" ({min(by_path):.3f}..{max(by_path):.3f})", file=sys.stderr)
        rates["hmlstm"] = rates[f"hmlstm:{reported}"]
        cpp.extension().set_step_product(reported)          # step_product below names it
    ratios = [a / b for a, b in zip(rates["hmlstm"], rates["lstm"])]
    result = {
        "hmlstm_chars_per_s": statistics.median(rates["hmlstm"]),
        "lstm_chars_per_s": statistics.median(rates["lstm"]),
        "ratio": statistics.median(ratios),
        "ratio_min": min(ratios), "ratio_max": max(ratios),
        "hmlstm_rounds": rates["hmlstm"], "lstm_rounds": rates["lstm"],
        "device": (torch.cuda.get_device_name(device) if device.type == "cuda"
                   else f"cpu ({platform.processor() or platform.machine()}, {torch.get_num_threads()} threads)"),
        "config": {"layers": args.layers, "hidden": args.hidden, "batch": args.batch,
                   "length": args.length, "layer_norm": args.layer_norm,
                   "dtype": str(dtype).replace("torch.", ""), "rounds": args.rounds,
                   "steps_per_round": args.steps},
        "backend": backend,
        "cpu": cpu_model(),
        "step_product": (cpp.extension().step_product_path(args.batch, args.length)
                         if backend == "cpp" else None),
        "cuda_graphs": backend == "triton" and device.type == "cuda" and CUDA_GRAPHS,
        "products": {paths[name]: {"chars_per_s": statistics.median(rates[name]),
                                   "ratio": statistics.median([a / b for a, b in zip(rates[name], rates["lstm"])]),
                                   "rounds": rates[name]} for name in paths},
        "torch": torch.__version__,
    }
    if paths:
        cpp.extension().set_step_product(cpp.STEP_PRODUCT)   # as the process had it
    if args.json:
        print(json.dumps(result))
    else:
        print(f"HM-LSTM {result['hmlstm_chars_per_s']:.0f} chars/s, nn.LSTM {result['lstm_chars_per_s']:.0f} "
              f"chars/s, ratio {result['ratio']:.3f} ({result['ratio_min']:.3f}..{result['ratio_max']:.3f}) "
              f"on {result['device']}, {result['backend']} loops")


if __name__ == "__main__":
    main()
