"""A seeded toy corpus, made by the tests themselves (no shared data needed)."""
import random
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
WORDS = ["the", "cat", "sat", "on", "a", "mat", "dog", "ran", "to", "big", "red", "house", "and", "saw"]


def toy_text(lines: int = 800, seed: int = 0) -> str:
    rng = random.Random(seed)
    return "".join(" ".join(rng.choice(WORDS) for _ in range(rng.randint(3, 9))) + "\n" for _ in range(lines))


def toy_corpus(folder: Path, lines: int = 800) -> Path:
    path = Path(folder) / f"toy-{lines}.txt"
    if not path.exists():
        path.write_text(toy_text(lines))
    return path
