"""`motionbridge fetch-weights [--lite] --dir DIR`: download HY-Motion 1.0 into the layout the loader expects.

```
DIR/HY-Motion-1.0/ (or HY-Motion-1.0-Lite/)   config.yml, latest.ckpt        hub: tencent/HY-Motion-1.0
DIR/Qwen3-8B/                                 text encoder (~16 GB, bf16)    hub: Qwen/Qwen3-8B
DIR/clip-vit-large-patch14/                   text encoder (~1.7 GB)         hub: openai/clip-vit-large-patch14
DIR/stats/Mean.npy, Std.npy                   normalisation statistics        GitHub: Tencent-Hunyuan/HY-Motion-1.0
```
Every download is pinned: hub repositories to the commits in `HUB_REVISIONS`, the statistics to a GitHub commit
and their SHA-256 (`engine.io.checkpoint.PUBLISHED_STATS_SHA256`), so two machines get the same bytes and a
changed upstream file fails loudly instead of silently changing results. Downloads use `huggingface_hub`
(extra `[hymotion]`). Without network access the command fails with the list of files to fetch by hand (with
their revisions) and where to put them. The weights are under Tencent's HY-Motion 1.0 Community License (not
valid in the EU, UK and South Korea); by downloading you accept it.
"""

from __future__ import annotations

import argparse
import sys
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from engine.model.configs import HUB_REVISIONS, HYMOTION_REPO

STATS_COMMIT = "9993ccd8aeba1f2d34c1061cc2282d14d5193055"
"""Commit of github.com/Tencent-Hunyuan/HY-Motion-1.0 the statistics come from (they are git-lfs files there,
so the plain `raw` URL would return a pointer; media.githubusercontent.com serves the content)."""
STATS_URL = f"https://media.githubusercontent.com/media/Tencent-Hunyuan/HY-Motion-1.0/{STATS_COMMIT}/stats/{{name}}"


class WeightsDownloadError(RuntimeError):
    """A download that failed; the message says what to fetch by hand and where to put it."""


@dataclass(frozen=True)
class Component:
    repo: str
    folder: str
    patterns: tuple[str, ...]
    subfolder: str | None = None

    @property
    def revision(self) -> str:
        return HUB_REVISIONS[self.repo]


def components(lite: bool) -> list[Component]:
    model = "HY-Motion-1.0-Lite" if lite else "HY-Motion-1.0"
    return [
        Component(HYMOTION_REPO, model, (f"{model}/*",), subfolder=model),
        Component("Qwen/Qwen3-8B", "Qwen3-8B", ("*.json", "*.safetensors", "*.txt", "*.model", "*.tiktoken")),
        Component(
            "openai/clip-vit-large-patch14",
            "clip-vit-large-patch14",
            ("*.json", "*.txt", "model.safetensors"),
        ),
    ]


def manual_instructions(target: Path, lite: bool) -> str:
    model = "HY-Motion-1.0-Lite" if lite else "HY-Motion-1.0"
    qwen, clip = "Qwen/Qwen3-8B", "openai/clip-vit-large-patch14"
    return "\n".join(
        [
            f"Download these by hand on a machine with internet access and copy them under {target}:",
            f"  huggingface-cli download {HYMOTION_REPO} --revision {HUB_REVISIONS[HYMOTION_REPO]} "
            f"--include '{model}/*' --local-dir {target}",
            f"      → {target / model}/config.yml and latest.ckpt",
            f"  huggingface-cli download {qwen} --revision {HUB_REVISIONS[qwen]} --local-dir {target / 'Qwen3-8B'}",
            f"  huggingface-cli download {clip} --revision {HUB_REVISIONS[clip]} "
            f"--local-dir {target / 'clip-vit-large-patch14'}",
            f"  {STATS_URL.format(name='Mean.npy')} and Std.npy → {target / 'stats'}/",
            f"Then check with: motionbridge fetch-weights --dir {target} --verify{' --lite' if lite else ''}",
        ]
    )


def _snapshot(component: Component, target: Path) -> None:
    try:
        from huggingface_hub import snapshot_download
    except ImportError as exc:
        raise WeightsDownloadError("huggingface_hub is missing: pip install 'motionbridge[hymotion]'") from exc
    local = target if component.subfolder else target / component.folder
    snapshot_download(
        repo_id=component.repo,
        revision=component.revision,
        allow_patterns=list(component.patterns),
        local_dir=str(local),
    )


def _fetch_stats(target: Path) -> None:
    from engine.io.checkpoint import PUBLISHED_STATS_SHA256, sha256_of

    stats = target / "stats"
    stats.mkdir(parents=True, exist_ok=True)
    for name, expected in PUBLISHED_STATS_SHA256.items():
        if (stats / name).is_file() and sha256_of(stats / name) == expected:
            continue
        with urllib.request.urlopen(STATS_URL.format(name=name), timeout=60) as response:  # noqa: S310
            body = response.read()
        partial = stats / f".{name}.part"
        partial.write_bytes(body)
        if sha256_of(partial) != expected:
            partial.unlink()
            raise WeightsDownloadError(f"{STATS_URL.format(name=name)} did not match its pinned SHA-256 {expected}")
        partial.replace(stats / name)


def verify(target: Path, lite: bool, stats_sha256: dict[str, str] | None = None) -> list[str]:
    """Problems with the layout under `target` (empty when complete). The statistics must hash to
    `stats_sha256` (default: the published files)."""
    import numpy as np

    from engine.io.checkpoint import PUBLISHED_STATS_SHA256, sha256_of
    from engine.model.representation import FEATURE_DIM

    expected = PUBLISHED_STATS_SHA256 if stats_sha256 is None else stats_sha256

    model = target / ("HY-Motion-1.0-Lite" if lite else "HY-Motion-1.0")
    problems = []
    if not (model / "config.yml").is_file():
        problems.append(f"missing {model / 'config.yml'}")
    if not ((model / "latest.ckpt").is_file() or (model / "latest.safetensors").is_file()):
        problems.append(f"missing {model / 'latest.ckpt'}")
    for name in ("Mean.npy", "Std.npy"):
        path = target / "stats" / name
        if not path.is_file():
            problems.append(f"missing {path}")
            continue
        try:
            values = np.load(path, allow_pickle=False)
        except ValueError:
            problems.append(f"{path} is not a numpy array (a git-lfs pointer?)")
            continue
        if values.size != FEATURE_DIM:
            problems.append(f"{path} holds {values.size} values, expected {FEATURE_DIM}")
        elif sha256_of(path) != expected[name]:
            problems.append(f"{path} has SHA-256 {sha256_of(path)}, the published file has {expected[name]}")
    for folder in ("Qwen3-8B", "clip-vit-large-patch14"):
        if not (target / folder / "config.json").is_file():
            problems.append(f"missing {target / folder / 'config.json'}")
    return problems


def fetch(target: Path, lite: bool, text_encoders: bool = True) -> None:
    target.mkdir(parents=True, exist_ok=True)
    try:
        for component in components(lite):
            if not text_encoders and component.repo != HYMOTION_REPO:
                continue
            print(f"downloading {component.repo} → {target / component.folder}", flush=True)
            _snapshot(component, target)
        _fetch_stats(target)
    except Exception as exc:  # network errors come from several libraries; a missing hub client too
        reason = str(exc) if isinstance(exc, WeightsDownloadError) else f"{type(exc).__name__}: {exc}"
        raise WeightsDownloadError(f"download failed ({reason})\n" + manual_instructions(target, lite)) from exc


def configure_parser(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--dir", required=True, help="folder to download into (models go in subfolders)")
    parser.add_argument("--lite", action="store_true", help="HY-Motion-1.0-Lite instead of the full model")
    parser.add_argument("--verify", action="store_true", help="only check an existing download")
    parser.add_argument("--no-text-encoders", action="store_true", help="skip Qwen3-8B and CLIP")


def run(args: argparse.Namespace) -> int:
    target = Path(args.dir).expanduser()
    if not args.verify:
        try:
            fetch(target, args.lite, text_encoders=not args.no_text_encoders)
        except WeightsDownloadError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 2
    problems = verify(target, args.lite)
    if args.no_text_encoders:
        problems = [p for p in problems if "Qwen3-8B" not in p and "clip-vit" not in p]
    if problems:
        print(
            "incomplete:\n  " + "\n  ".join(problems) + "\n" + manual_instructions(target, args.lite), file=sys.stderr
        )
        return 1
    model = target / ("HY-Motion-1.0-Lite" if args.lite else "HY-Motion-1.0")
    print(f"ok: serve it with `motionbridge serve --model {model}` (faster loading: `motionbridge convert {model}`)")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="motionbridge fetch-weights", description=__doc__.splitlines()[0])
    configure_parser(parser)
    return run(parser.parse_args(argv))


if __name__ == "__main__":
    raise SystemExit(main())
