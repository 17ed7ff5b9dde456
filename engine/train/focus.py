"""`motionbridge dataset focus`: a training set cut down to what a short run can learn.

The whole CMU library (865 training minutes) is too much for a CPU session: a session draws each window a few
times, and the first whole-library run moved the network off what it knew without teaching it the new
actions (docs/model-tiny.md, "Version 2"). A focused set keeps every clip of the base sources (the shared BVH
and DeepMimic clips the shipped model learned locomotion from) and adds, for each everyday concept, up to a
budget of minutes of library clips whose captions name it, taken one take at a time so a budget is spread
over subjects instead of filled by one long session. Mirrored and reversed copies travel with their clip.

The concepts are the issue's list of everyday actions, matched by words of our own in the training captions;
nothing is read from the evaluation prompts. Held-out subjects stay out (only `split == "train"` is taken).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import time
from collections import defaultdict
from pathlib import Path

from engine.core.skeleton import FPS
from engine.train.dataset import MIRROR_SUFFIX, REVERSE_SUFFIX, load_index

LIBRARY_PREFIX = "cmu-fbx:"
"""`source` prefix of clips read from the FBX library; every other source is a base source, kept whole."""

CONCEPTS: dict[str, str] = {
    "greeting": r"\bwav(e|es|ing)\b|\bsalut",
    "sitting": r"\b(sit|sits|sitting|seated|chair|stool)\b",
    "standing up": r"\b(stands? up|standing up|gets? up|getting up|rises?)\b",
    "picking up": r"\b(pick|picks|picking|lift|lifts|lifting|grab|grabs)\b|\bcarr(y|ies|ying)\b",
    "throwing": r"\b(throw|throws|throwing|toss|tosses|pitch|pitches)\b",
    "jumping jacks": r"jumping jack|star jump",
    "squats": r"\bsquat",
    "dancing": r"\b(danc|salsa|waltz|samba|tango|charleston|lindy)",
    "spinning": r"\b(spin|spins|spinning|pirouette|twirl|ballet)",
    "falling": r"\b(fall|falls|falling|trip|trips|collaps)",
    "lying down": r"\b(lie|lies|lying|lays|lay) (down|on|flat)",
    "climbing": r"\b(stair|staircase|steps? up|climb|ladder)",
    "fighting": r"\b(punch|punches|jab|box|boxing|fight|fights|fighting)",
    "balancing": r"\b(balanc|one leg|one foot|single leg)",
    "bowing": r"\bbow(s|ing)?\b",
    "clapping": r"\b(clap|applau)",
    "drinking": r"\b(drink|sip|sips)",
    "hopping": r"\bhop(s|ping)?\b",
    "stretching": r"\bstretch",
    "pointing": r"\bpoint(s|ing)?\b",
    "kneeling": r"\bkneel",
    "pushing": r"\b(push|pushes|pushing|shove)",
    "golf": r"\bgolf",
    "exercise": r"\b(exercis|sit-?ups?|push-?ups?|lunge|toe touch)",
}
"""Everyday concept → regular expression over a clip's lower-cased captions."""


def _family(clip_id: str) -> str:
    """The segment a clip was made from: its id without the reversed and mirrored suffixes."""
    return clip_id.removesuffix(MIRROR_SUFFIX).removesuffix(REVERSE_SUFFIX)


def select(clips: list[dict], minutes_per_concept: float) -> tuple[list[dict], dict[str, float]]:
    """The focused clips (index order) and the minutes each concept got (mirrors and reversed copies included)."""
    train = [c for c in clips if c.get("split", "train") == "train"]
    families: dict[str, list[dict]] = defaultdict(list)
    for c in train:
        families[_family(c["id"])].append(c)
    chosen = {_family(c["id"]) for c in train if not c["source"].startswith(LIBRARY_PREFIX)}
    got: dict[str, float] = {}
    for concept, pattern in CONCEPTS.items():
        rx = re.compile(pattern)
        by_take: dict[str, list[str]] = defaultdict(list)
        for fam, members in families.items():
            if rx.search(" ".join(members[0]["captions"]).lower()):
                by_take[members[0]["take"]].append(fam)
        matching = {f for fams in by_take.values() for f in fams}
        minutes = sum(sum(m["frames"] for m in families[f]) for f in chosen & matching) / FPS / 60
        queues = [sorted(v) for _, v in sorted(by_take.items())]
        while minutes < minutes_per_concept and any(queues):
            for q in queues:
                if not q or minutes >= minutes_per_concept:
                    continue
                fam = q.pop(0)
                if fam not in chosen:
                    chosen.add(fam)
                    minutes += sum(m["frames"] for m in families[fam]) / FPS / 60
        got[concept] = minutes
    return [c for c in train if _family(c["id"]) in chosen], got


def write(data: Path, out: Path, clips: list[dict], meta: dict) -> None:
    """A data set folder holding `clips` (files hard-linked from `data`, copied across file systems)."""
    (out / "clips").mkdir(parents=True, exist_ok=True)
    for c in clips:
        src, dst = data / c["file"], out / c["file"]
        if not dst.exists():
            try:
                os.link(src, dst)
            except OSError:
                shutil.copyfile(src, dst)
    index = {**meta, "clips": clips}
    tmp = out / "index.json.tmp"
    tmp.write_text(json.dumps(index, indent=1, ensure_ascii=False), encoding="utf-8")
    tmp.replace(out / "index.json")


def configure_parser(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--data", type=Path, required=True, help="a folder built by `motionbridge dataset build`")
    parser.add_argument("--out", type=Path, required=True, help="folder for the focused set")
    parser.add_argument("--minutes-per-concept", type=float, default=4.0,
                        help="library minutes to add per everyday concept (mirrors included)")


def run(args: argparse.Namespace) -> int:
    start = time.time()
    index = load_index(args.data)
    clips, got = select(index["clips"], args.minutes_per_concept)
    meta = {k: v for k, v in index.items() if k != "clips"}
    meta["focus"] = {"from": str(args.data), "minutes_per_concept": args.minutes_per_concept}
    write(args.data, args.out, clips, meta)
    for concept, minutes in got.items():
        print(f"  {concept:14s} {minutes:5.1f} min")
    total = sum(c["frames"] for c in clips) / FPS / 60
    print(f"focused {len(clips)} clips ({total:.1f} min) in {time.time() - start:.1f} s → {args.out}")
    return 0
