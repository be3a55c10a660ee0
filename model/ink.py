"""Online handwriting: IAM-OnDB, the preprocessing shared by training and the server, the
mixture density head (Graves 2013), and synthetic cursive with exact character labels.

A line of ink is a list of strokes, each a list of (x, y) points, screen-style (y down).
The model reads one vector per point: (dx, dy, end-of-stroke), the offset from the point
before (0, 0 for the first) and whether the pen lifts after this point.

Normalisation (`preprocess`, DESIGN.md section 10, "graves2013"): offsets standardised with
the training set's mean and std, nothing per line; ink from the browser is first scaled so
that its RMS step matches the training lines' median RMS step (so pixels and whiteboard units
read alike); clipped at +-`clip`, never dropped: every point posted gets a position. The
log-likelihood is reported in the standardised space; its Jacobian to whiteboard units is
stated beside it, not added.
"""
from __future__ import annotations

import functools
import math
import random
import tarfile
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

DEFAULT_IAM_DIR = Path(__file__).resolve().parent.parent.parent / "shared" / "data" / "iam-ondb"
CLIP = 8.0


MAX_COORDINATE = 1e7      # the largest |x| or |y| of a point anyone draws or sends (pixels, a tablet's units)


class InkError(ValueError):
    """Ink that cannot be used; the message says why."""


# --- reading IAM-OnDB ---------------------------------------------------------------

def parse_line_strokes(xml: bytes | str) -> list[list[tuple[float, float]]]:
    """One lineStrokes XML file: its strokes, each a list of (x, y)."""
    root = ET.fromstring(xml)
    strokes = []
    for stroke in root.iter("Stroke"):
        pts = [(float(p.get("x")), float(p.get("y"))) for p in stroke.iter("Point")]
        if pts:
            strokes.append(pts)
    return strokes


class IamOnDB:
    """The lines of a split, from the tar.gz or from an extracted folder."""

    def __init__(self, data_dir: str | Path | None = None):
        self.dir = Path(data_dir) if data_dir is not None else DEFAULT_IAM_DIR
        lists = {s: self.dir / f"{s}_set.txt" for s in ("training", "validation")}
        missing = [str(p) for p in lists.values() if not p.is_file()]
        if missing:
            raise InkError(f"IAM-OnDB line lists not found: {', '.join(missing)}")
        self.names = {s: p.read_text().split() for s, p in lists.items()}
        self.archive = self.dir / "iamondb_lineStrokes_ascii.tar.gz"
        if not self.archive.is_file() and not (self.dir / "lineStrokes").is_dir():
            raise InkError(f"{self.dir} holds neither iamondb_lineStrokes_ascii.tar.gz nor lineStrokes/")

    def lines(self, split: str, limit: int = 0) -> list[tuple[str, list]]:
        """[(name, strokes)] for "training" or "validation", in the list's order."""
        wanted = self.names[split][:limit] if limit else self.names[split]
        if (self.dir / "lineStrokes").is_dir():
            return [(n, parse_line_strokes((self.dir / n).read_bytes())) for n in wanted]
        index = {n: i for i, n in enumerate(wanted)}
        found: dict[str, list] = {}
        try:
            with tarfile.open(self.archive) as tar:             # one pass over the archive
                for member in tar:
                    if member.name in index:
                        found[member.name] = parse_line_strokes(tar.extractfile(member).read())
                        if len(found) == len(index):
                            break
        except (tarfile.TarError, EOFError, OSError, ET.ParseError) as e:
            raise InkError(f"{self.archive} cannot be read whole ({type(e).__name__}: {e})") from None
        return [(n, found[n]) for n in wanted if n in found]


# --- preprocessing -------------------------------------------------------------------

def to_offsets(strokes) -> np.ndarray:
    """(T, 3): dx, dy from the previous point (0, 0 first) and end-of-stroke after the point."""
    pts, eos = [], []
    for stroke in strokes:
        for k, p in enumerate(stroke):
            pts.append(p)
            eos.append(1.0 if k == len(stroke) - 1 else 0.0)
    if not pts:
        raise InkError("the ink has no points")
    xy = np.asarray(pts, dtype=np.float64)
    d = np.diff(xy, axis=0, prepend=xy[:1])
    return np.column_stack([d, eos]).astype(np.float64)


def rms_step(offsets: np.ndarray) -> float:
    steps = offsets[1:, :2]
    if len(steps) == 0:
        return 1.0
    r = math.sqrt(float((steps ** 2).sum(1).mean()))
    return r if r > 1e-9 else 1.0


GRAVES = "graves2013"            # DESIGN.md section 10
LINE_RMS = "line-rms"            # the first checkpoints: each line scaled to a unit RMS step


@dataclass
class InkStats:
    """How offsets are normalised. graves2013: standardised with the mean and std of every training
    line's offsets, nothing per line; browser ink is first scaled so that its RMS step matches the
    training lines' median (`median_rms`). line-rms (checkpoints made before): each line divided by
    its own RMS step, then standardised."""
    mean: tuple[float, float]
    std: tuple[float, float]
    clip: float = CLIP
    protocol: str = GRAVES
    median_rms: float = 1.0

    def to_dict(self):
        scale = ("offsets standardised with the training lines' mean and std (one pair for the set), clipped; "
                 "browser ink first scaled to the training lines' median RMS step" if self.protocol == GRAVES
                 else "offsets / the line's RMS step length, then (v - mean) / std, clipped")
        return {"protocol": self.protocol, "mean": list(self.mean), "std": list(self.std), "clip": self.clip,
                "median_rms_step": self.median_rms, "scale": scale}

    @classmethod
    def from_dict(cls, d):
        return cls(tuple(d["mean"]), tuple(d["std"]), d.get("clip", CLIP), d.get("protocol", LINE_RMS),
                   d.get("median_rms_step", 1.0))

    @classmethod
    def fit(cls, lines_offsets: list[np.ndarray], protocol: str = GRAVES) -> "InkStats":
        lines = [o for o in lines_offsets if len(o) > 1]
        if protocol == GRAVES:
            steps = np.concatenate([o[1:, :2] for o in lines])
        else:
            steps = np.concatenate([o[1:, :2] / rms_step(o) for o in lines])
        median = float(np.median([rms_step(o) for o in lines]))
        return cls(tuple(steps.mean(0).tolist()), tuple(np.maximum(steps.std(0), 1e-6).tolist()), CLIP, protocol,
                   median)

    def jacobian_nats(self) -> float:
        """log |d(standardised)/d(offset)| per scored point: add it to a log-likelihood in the standardised
        space to read it in whiteboard units (graves2013)."""
        return float(-math.log(self.std[0] * self.std[1]))


def preprocess(strokes, stats: InkStats, own_units: bool = False) -> np.ndarray:
    """The model's input for one line of ink: (T, 3) float32, one row per point. One function for
    training, evaluation and the browser; `own_units`: ink not in the corpus's units (browser pixels,
    a font's units), first scaled to the training lines' median RMS step (graves2013)."""
    o = to_offsets(strokes)
    xy = o[:, :2]
    if stats.protocol == LINE_RMS:
        xy = xy / rms_step(o)
    elif own_units:
        xy = xy * (stats.median_rms / rms_step(o))
    xy = (xy - np.asarray(stats.mean)) / np.asarray(stats.std)
    xy[0] = 0.0                                          # the first point has no offset
    xy = np.clip(xy, -stats.clip, stats.clip)
    return np.column_stack([xy, o[:, 2]]).astype(np.float32)


# --- the mixture density head ---------------------------------------------------------

class MixtureDensityHead(nn.Module):
    """K bivariate Gaussians for the next offset and a Bernoulli for end-of-stroke (Graves 2013).

    Output layout (6K + 1): pi logits, mu_x, mu_y, log sigma_x, log sigma_y, rho (pre-tanh), eos logit.
    """

    def __init__(self, in_size: int, components: int):
        super().__init__()
        self.K = components
        self.proj = nn.Linear(in_size, 6 * components + 1)

    def forward(self, h):
        return self.proj(h)

    def split(self, out):
        K = self.K
        logit_pi, mu_x, mu_y, ls_x, ls_y, rho = out[..., :6 * K].split(K, -1)
        return (F.log_softmax(logit_pi, -1), mu_x, mu_y, ls_x.clamp(-7, 7), ls_y.clamp(-7, 7),
                torch.tanh(rho) * (1 - 1e-4), out[..., 6 * K])

    def nll(self, out, target):
        """-log p(target | out) in nats, per position: out (..., 6K+1), target (..., 3)."""
        log_pi, mu_x, mu_y, ls_x, ls_y, rho, eos_logit = self.split(out.float())
        x, y, eos = target[..., :1].float(), target[..., 1:2].float(), target[..., 2].float()
        zx, zy = (x - mu_x) * torch.exp(-ls_x), (y - mu_y) * torch.exp(-ls_y)
        one_minus = 1 - rho ** 2
        log_n = (-math.log(2 * math.pi) - ls_x - ls_y - 0.5 * torch.log(one_minus)
                 - (zx ** 2 + zy ** 2 - 2 * rho * zx * zy) / (2 * one_minus))
        log_xy = torch.logsumexp(log_pi + log_n, -1)
        log_eos = -F.binary_cross_entropy_with_logits(eos_logit, eos, reduction="none")
        return -(log_xy + log_eos)

    def entropy_bound(self, out):
        """Nats, per position: H(pi) + sum_k pi_k H(N_k) + H(eos), an upper bound on the entropy of the
        next point (a mixture's own entropy has no closed form); high where the next move is open."""
        log_pi, _, _, ls_x, ls_y, rho, eos_logit = self.split(out.float())
        pi = log_pi.exp()
        gauss = 1 + math.log(2 * math.pi) + ls_x + ls_y + 0.5 * torch.log(1 - rho ** 2)
        p_eos = torch.sigmoid(eos_logit)
        return (-(pi * log_pi).sum(-1) + (pi * gauss).sum(-1)
                + F.binary_cross_entropy_with_logits(eos_logit, p_eos, reduction="none"))


# --- synthetic cursive ---------------------------------------------------------------

@dataclass
class SyntheticLine:
    text: str
    strokes: list[list[tuple[float, float]]]
    chars: list[list[int]]          # per stroke, per point: the index in `text` of its character

    def char_ends(self) -> np.ndarray:
        """Per point (in order): 1 where the point is the last one of its character."""
        flat = [c for s in self.chars for c in s]
        return np.array([1 if i + 1 == len(flat) or flat[i + 1] != c else 0 for i, c in enumerate(flat)])


@functools.lru_cache(maxsize=8)
def _font(face: str, height: float):
    """A Hershey font at a height, loaded once (it is a compressed archive read afresh each time: 35-60 ms)."""
    from HersheyFonts import HersheyFonts
    font = HersheyFonts()
    font.load_default_font(face)
    font.normalize_rendering(height)
    return font


def synthetic_cursive(text: str, seed: int = 0, face: str = "scripts", height: float = 40.0,
                      slant: float | None = None, spacing: float | None = None, jitter: float = 0.6,
                      connected: bool = False) -> SyntheticLine:
    """Pen trajectories rendered from a Hershey stroke font, every point labelled with its
    character; jitter, slant and pen speed (point spacing) vary with the seed. `connected`: each
    letter of a word is joined to the one before it, the pen kept down from where that one ended to
    where this one begins (joined-up handwriting; the joining points belong to the new letter), so
    that most character ends fall inside strokes. The font's own glyphs are mostly separate strokes."""
    rng = random.Random(seed)
    font = _font(face, height)
    slant = rng.uniform(-0.15, 0.35) if slant is None else slant
    spacing = rng.uniform(1.5, 3.5) if spacing is None else spacing
    pieces: list[tuple[int, list]] = []                       # (char index, polyline)
    done = 0
    for i in range(len(text)):
        strokes = [list(s) for s in font.strokes_for_text(text[:i + 1])]
        pieces += [(i, s) for s in strokes[done:]]
        done = len(strokes)

    def pen(line) -> list[tuple[float, float]]:
        """The points of a polyline drawn at this line's speed, with jitter, slanted, y down."""
        pts = []
        for (x0, y0), (x1, y1) in zip(line[:-1], line[1:]):
            n = max(1, int(math.hypot(x1 - x0, y1 - y0) / (spacing * rng.uniform(0.7, 1.3))))
            for k in range(n):
                a = k / n
                x, y = x0 + a * (x1 - x0), y0 + a * (y1 - y0)
                pts.append((x + slant * y + rng.gauss(0, jitter), -y + rng.gauss(0, jitter)))
        x, y = line[-1]
        return pts + [(x + slant * y, -y)]

    strokes, labels = [], []
    last_end, last_char = None, None
    for i, line in pieces:
        pts = pen(line)
        joined = last_end is not None and strokes and math.dist(line[0], last_end) < 1e-6
        if connected and not joined and last_char == i - 1:          # the next letter of the same word
            pts = pen([last_end, line[0]])[1:-1] + pts
            joined = True
        # a glyph that starts where the last one ended continues the same pen-down stroke
        if joined:
            strokes[-1] += pts
            labels[-1] += [i] * len(pts)
        else:
            strokes.append(pts)
            labels.append([i] * len(pts))
        last_end, last_char = line[-1], i
    return SyntheticLine(text, strokes, labels)
