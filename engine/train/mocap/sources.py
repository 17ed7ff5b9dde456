"""The takes the training set is built from, and where they are found.

- CMU BVH files in `shared/data/cmu/` (list in `trials.csv`): one copy per trial, the daz copy preferred
  (120 fps, full root motion), reallusion for trials that exist only there and for 07_12 (the daz copy is
  broken); daz/09_10 is dropped (broken root height, no other copy) and so are the reallusion variant-A
  files (no vertical root motion; daz copies exist). Leading frames per `trim_start_frames`.
- DeepMimic humanoid clips in `shared/data/deepmimic/` (MIT).
- Optional, asked for explicitly (`--cmu-fbx DIR` or `$MOTIONBRIDGE_CMU_FBX`): the whole CMU library as
  ASCII FBX (`shared/data/cmu-fbx/`: three public repositories; DIR holds their checkouts, the files are
  found by name anywhere below it), indexed by the CSVs beside that README. Trials the BVH set already has
  keep their BVH copy (hand-written captions); calibration and range-of-motion takes are dropped; whole
  subjects are held out for evaluation (`HELD_OUT_SUBJECTS`).
- Optional, asked for explicitly (`--assimp`): CMU trials in Debian's `assimp-testmodels`
  (`/usr/share/assimp/models/BVH/NN_NN.bvh`, B. Hahne's MotionBuilder-friendly rig, CMU terms) that the
  shared folder does not already have. `Boxing_Toes.bvh` is not used (origin undocumented). The build
  never reads it just because the package happens to be installed.
- DeepMimic clips inside the `pybullet==3.2.7` wheel (`pybullet_data/data/motions/`, zlib): the
  `walker/` clips and any clip not already in the shared folder. The wheel is fetched with
  `pip download --no-deps` into a cache folder and read as a zip, never installed; if pip cannot get it
  the source is skipped with a message.

Every take has a stable id (`cmu-02_01`, `dm-walk`, `pb-walker_turn_left0`) that keys the caption manifest.
FBX and BVH copies of one CMU trial share the id: they are the same motion (tests/data/test_fbx.py).
"""

from __future__ import annotations

import csv
import os
import re
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from engine.train.mocap.bvh_import import import_bvh
from engine.train.mocap.clip import MocapClip
from engine.train.mocap.deepmimic import import_deepmimic, import_deepmimic_text, wheel_motion_files
from engine.train.mocap.fbx import import_fbx

PYBULLET_VERSION = "3.2.7"
DEFAULT_DATA_ROOT = Path(__file__).resolve().parents[3].parent / "shared" / "data"
"""`../shared/data` beside the repository, where the development data set lives."""
ASSIMP_BVH = Path("/usr/share/assimp/models/BVH")
REALLUSION_TPOSE = "reallusion/07_03.bvh"
"""A reallusion file whose frame 0 is a synthetic T-pose: the rig's reference pose."""
LOOPED_SECONDS = 8.0
"""Looping locomotion clips (walk, run, crawl, ...) are chained to at least this long."""
_LOOPED = ("walk", "jog", "run", "crawl", "walker_")
_DROP = {"daz/09_10.bvh", "daz/07_12.bvh"}
FBX_FPS = 24.0
"""The FBX library's sampling rate (its README; checked against the 120 fps BVH copies)."""
HELD_OUT_SUBJECTS = ("41", "56", "61", "77", "86", "143")
"""CMU subjects never trained on: 34.6 of 529 minutes (6.5 %), chosen before training from the index alone
to span categories: navigation with sitting and waving (41), pick-up/carry vignettes (56), salsa (61),
careful actions and creeping (77), sports, fighting and sitting (86), a general capture with stairs and
everyday actions (143). Their siblings (40, 55, 60, 79, 85, 141) stay in training, so the held-out set tests
new people doing known kinds of actions."""
_CALIBRATION = re.compile(r"calibrat|range of motion|\brom\b|t-pose|tpose|movie and trial", re.IGNORECASE)


@dataclass(frozen=True)
class Take:
    """One source take: how to load it, and what its source says about it."""

    id: str
    source: str
    description: str
    load: Callable[[], MocapClip] = field(repr=False, compare=False)


def cmu_takes(root: Path) -> list[Take]:
    """One take per CMU trial from `trials.csv` (rules in the module docstring)."""
    index = root / "cmu" / "trials.csv"
    if not index.exists():
        return []
    with index.open(newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    by_trial: dict[str, dict] = {}
    for row in rows:
        if row["file"] in _DROP or row["rig_variant"].startswith("A:"):
            continue
        trial = f"{int(row['subject']):02d}_{int(row['trial']):02d}"
        current = by_trial.get(trial)
        if current is None or (row["rig"] == "daz" and current["rig"] != "daz"):
            by_trial[trial] = row
    tpose = root / "cmu" / REALLUSION_TPOSE
    takes = []
    for trial, row in sorted(by_trial.items()):
        path = root / "cmu" / row["file"]
        kwargs = {"rig": row["rig"], "fps": float(row["playback_fps"]), "trim_start": int(row["trim_start_frames"])}
        if row["rig"] == "reallusion":
            kwargs["tpose"] = tpose
        takes.append(Take(f"cmu-{trial}", f"cmu/{row['file']}", row["cmu_description"],
                          lambda p=path, k=kwargs, t=trial: import_bvh(p, name=f"cmu-{t}", **k)))
    return takes


def fbx_index(root: Path) -> list[dict]:
    """Rows of the FBX library's CSVs (`cmu-fbx/*.csv`), one per clip."""
    rows = []
    for csv_path in sorted((root / "cmu-fbx").glob("*.csv")):
        with csv_path.open(newline="", encoding="utf-8") as f:
            rows += list(csv.DictReader(f))
    return rows


def is_calibration(description: str, category: str = "") -> bool:
    """Calibration, range-of-motion and mismatched takes are not motions to learn from."""
    return bool(_CALIBRATION.search(description)) or category.startswith("calibration")


def subject_of(take_id: str) -> str:
    """CMU subject of a take id `cmu-SS_TT` (no leading-zero change: '01', '143')."""
    return take_id.removeprefix("cmu-").split("_")[0].split("#")[0]


def fbx_takes(fbx_dir: Path, root: Path, skip: set[str], log: Callable[[str], None] = print) -> list[Take]:
    """CMU trials found as `SS_TT.fbx` below `fbx_dir` and listed in the index, except ids in `skip`.

    Each take's description carries CMU's words; `Take.source` names the file relative to `fbx_dir`.
    """
    files = {p.stem: p for p in sorted(Path(fbx_dir).rglob("*.fbx"))}
    if not files:
        log(f"no .fbx files under {fbx_dir}")
        return []
    takes, missing = [], 0
    for row in fbx_index(root):
        trial = row["subject_trial"]
        take_id = f"cmu-{trial}"
        if take_id in skip or is_calibration(row["description"], row.get("primary_category", "")):
            continue
        path = files.get(trial)
        if path is None:
            missing += 1
            continue
        takes.append(Take(take_id, f"cmu-fbx:{path.relative_to(fbx_dir)}", row["description"],
                          lambda p=path, t=take_id: import_fbx(p, fps=FBX_FPS, trim_start=1, name=t)))
    if missing:
        log(f"{missing} indexed FBX takes are not under {fbx_dir} (missing from the snapshots)")
    return sorted(takes, key=lambda t: t.id)


def assimp_takes(folder: Path, skip: set[str], descriptions: dict[str, str]) -> list[Take]:
    """CMU trials (`NN_NN.bvh`) from assimp-testmodels whose take id is not in `skip`."""
    takes = []
    for path in sorted(folder.glob("[0-9][0-9]_[0-9][0-9].bvh")) if folder.is_dir() else []:
        take_id = f"cmu-{path.stem}"
        if take_id in skip:
            continue
        takes.append(Take(take_id, f"assimp-testmodels:{path}", descriptions.get(path.stem, ""),
                          lambda p=path, t=take_id: import_bvh(p, rig="cmu-mb", name=t)))
    return takes


def cmu_descriptions(root: Path) -> dict[str, str]:
    """CMU's trial descriptions from `cmu_index.csv`, keyed `SS_TT`."""
    index = root / "cmu" / "cmu_index.csv"
    if not index.exists():
        return {}
    with index.open(newline="", encoding="utf-8") as f:
        return {f"{int(r['Subject']):02d}_{int(r['Trial #']):02d}": r["Motion Description"] for r in csv.DictReader(f)}


def _loop_seconds(stem: str) -> float:
    return LOOPED_SECONDS if any(k in stem for k in _LOOPED) else 0.0


def deepmimic_takes(root: Path) -> list[Take]:
    folder = root / "deepmimic"
    takes = []
    for path in sorted(folder.glob("humanoid3d_*.txt")):
        stem = path.stem.removeprefix("humanoid3d_")
        takes.append(Take(f"dm-{stem}", f"deepmimic/{path.name}", stem.replace("_", " "),
                          lambda p=path, s=stem: import_deepmimic(p, loop_to=_loop_seconds(s))))
    return takes


def pybullet_wheel(cache: Path, log: Callable[[str], None] = print) -> Path | None:
    """The pybullet wheel in `cache` (downloaded with pip if absent), or None when pip cannot get it."""
    cache.mkdir(parents=True, exist_ok=True)
    found = sorted(cache.glob(f"pybullet-{PYBULLET_VERSION}-*.whl"))
    if not found:
        cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:",
               f"pybullet=={PYBULLET_VERSION}", "-d", str(cache)]
        try:
            subprocess.run(cmd, check=True, capture_output=True, timeout=600)
        except (subprocess.SubprocessError, OSError) as e:
            log(f"pybullet wheel not available ({type(e).__name__}); skipping its DeepMimic clips")
            return None
        found = sorted(cache.glob(f"pybullet-{PYBULLET_VERSION}-*.whl"))
    return found[0] if found else None


def pybullet_takes(cache: Path, skip: set[str], log: Callable[[str], None] = print) -> list[Take]:
    """Clips from the pybullet wheel whose names are not in `skip` (the shared DeepMimic stems)."""
    wheel = pybullet_wheel(cache, log)
    if wheel is None:
        return []
    takes = []
    for key, text in sorted(wheel_motion_files(wheel).items()):
        stem = key.removeprefix("humanoid3d_")
        if stem in skip:
            continue
        takes.append(Take(f"pb-{stem}", f"pybullet-{PYBULLET_VERSION}:pybullet_data/data/motions/{key}",
                          stem.replace("_", " "),
                          lambda t=text, s=stem: import_deepmimic_text(t, f"pb-{s}", loop_to=_loop_seconds(s))))
    return takes


def all_takes(data_root: Path | None = None, cache: Path | None = None, use_wheel: bool = True,
              log: Callable[[str], None] = print, fbx_dir: Path | None = None,
              use_assimp: bool = False) -> list[Take]:
    """Every take asked for: CMU BVH and shared DeepMimic, the pybullet wheel's extra clips, and, only when
    given, the CMU FBX library (`fbx_dir`) and Debian's assimp-testmodels (`use_assimp`)."""
    root = Path(data_root or os.environ.get("MOTIONBRIDGE_DATA", DEFAULT_DATA_ROOT))
    takes = cmu_takes(root)
    if fbx_dir is not None:
        takes += fbx_takes(Path(fbx_dir), root, {t.id for t in takes}, log)
    if use_assimp:
        takes += assimp_takes(ASSIMP_BVH, {t.id for t in takes}, cmu_descriptions(root))
    takes += deepmimic_takes(root)
    if not takes:
        log(f"no motion data under {root} (expected cmu/trials.csv and deepmimic/)")
    if use_wheel:
        cache = cache or Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "motionbridge" / "wheels"
        shared = {t.id.removeprefix("dm-") for t in takes if t.id.startswith("dm-")}
        takes += pybullet_takes(cache, shared, log)
    return takes
