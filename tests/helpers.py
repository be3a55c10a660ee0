"""What several test modules share: a seeded toy corpus and a tiny IAM-OnDB, made by the tests
themselves (no shared data needed)."""
import io
import random
import tarfile
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


IAM_XML = b"""<?xml version="1.0" encoding="ISO-8859-1"?><WhiteboardCaptureSession><StrokeSet>
<Stroke><Point x="10" y="20" time="1"/><Point x="13" y="24" time="2"/></Stroke>
<Stroke><Point x="30" y="20" time="3"/></Stroke></StrokeSet></WhiteboardCaptureSession>"""


def make_iam(folder, names):
    (folder / "training_set.txt").write_text("\n".join(names[:2]) + "\n")
    (folder / "validation_set.txt").write_text(names[2] + "\n")
    with tarfile.open(folder / "iamondb_lineStrokes_ascii.tar.gz", "w:gz") as tar:
        for n in names:
            info = tarfile.TarInfo(n)
            info.size = len(IAM_XML)
            tar.addfile(info, io.BytesIO(IAM_XML))


def add_unigram(ck: Path) -> None:
    """Beside a spaceless toy checkpoint, what model.evaluate --record keeps: a SentencePiece unigram model,
    trained here on the toy lines without their spaces."""
    import shutil

    import sentencepiece

    from model.checkpoint import UNIGRAM
    lines = ck.parent / f"{ck.name}-lines.txt"
    lines.write_text(toy_text(300).replace(" ", ""))
    prefix = ck.parent / f"{ck.name}-unigram"
    sentencepiece.SentencePieceTrainer.train(input=str(lines), model_prefix=str(prefix), vocab_size=40, model_type="unigram",
                                             add_dummy_prefix=False, hard_vocab_limit=False, split_by_whitespace=False,
                                             minloglevel=2, num_threads=1)
    shutil.copy(prefix.with_suffix(".model"), ck / UNIGRAM)
