"""`motionbridge bench directing`: every bar of issue 19, measured side by side in one run.

    motionbridge bench directing [--model tiny] [--seeds 3] [--data /tmp/mb_data3] [--mode guide] [--out F]

On one CPU thread, for each seed:
- pose keys: a walk keyed with three full-body poses (at 1.5, 3 and 4.5 s) taken from a wave, and an end
  pose → mean joint-angle error at the keyed frames (bar ≤ 2°);
- effector keys: the right wrist and the left foot moved off where the free walk puts them → cm (bar ≤ 3);
- path: three waypoints on a curve, the last with a facing → root distance at each waypoint's time (≤ 5 cm);
- start: a walk and a run continuing the last frames of an earlier walk → frame-0 error, and the velocity
  and acceleration jumps at the join (bar: ≤ the motion-capture data's 99th percentile of per-frame jumps;
  beside it, the same percentile of the free clip's own frames, how smooth the model is with no join);
- timelines of two 5 s segments → the jumps at every window join (same bar) and each segment's physical
  check from `engine.train.evaluation` (walk travels, crawl stays low, a jump rises, ...);
- foot skating of every directed clip over the data's (bar ≤ 1.5×), with the free clips' ratio beside it;
- time of each directed request over the same request without constraints (bar ≤ 1.5×), medians of
  interleaved runs.
Prints a table; `--out` writes the JSON report.
"""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch

from engine.core.constraints import (
    Constraints,
    EffectorKey,
    EndPose,
    Pose,
    PoseKey,
    Segment,
    StartMotion,
    Waypoint,
)
from engine.core.motion import Motion
from engine.core.skeleton import FPS
from engine.model.directing import sampling
from engine.model.directing.joins import JOIN_BLEND
from engine.train.directing_metrics import (
    data_reference,
    effector_error_cm,
    frame_jumps,
    join_jumps,
    pose_error_degrees,
    positions,
    waypoint_error_cm,
)
from engine.train.evaluation import HELD_OUT, Check, canonical_motion, foot_skating, json_safe, mean_figure

BARS = {"pose_deg": 2.0, "effector_cm": 3.0, "waypoint_cm": 5.0, "skating_ratio": 1.5, "time_ratio": 1.5}
WALK = "a person walks forward"
START_JOIN_AFTER = 2
"""Frames past the given last frame a start join is measured over: the same frames as before the frames
entirely inside the given motion were dropped (2026-12-07). One frame more (to two past the first generated
frame) takes in the run continuation's own acceleration into a sprint: 8.39 m/s, 179 m/s² (docs/directing.md)."""
CONTINUATIONS = {"walk → walk": "someone is walking forwards along a path",
                 "walk → run": "a person is running as fast as possible"}
"""What the start benchmark continues an earlier walk with."""
_CHECKS = {c.concept: c for c in HELD_OUT}
TIMELINES: tuple[tuple[tuple[str, Check], ...], ...] = (
    (("a man strolls ahead", _CHECKS["walk"]), ("someone creeps on all fours", _CHECKS["crawl"])),
    (("a person leaps up into the air", _CHECKS["jump"]), ("a person steps backwards", _CHECKS["backwards"])),
    (("someone creeps on all fours", _CHECKS["crawl"]), ("a man strolls ahead", _CHECKS["walk"])),
)
"""Two 5 s segments each, with the held-out check of each segment's concept (prompts the embedded model
passes on their own)."""


def _own_p99(motion: Motion) -> float:
    """The 99th percentile of a clip's own per-frame velocity jumps (how smooth the model is without joins)."""
    return float(np.percentile(frame_jumps(motion.world_positions())[0], 99))


def _timed(fn: Callable[..., list[Motion]], *args, **kwargs) -> tuple[Motion, float]:
    start = time.perf_counter()
    out = fn(*args, **kwargs)[0]
    return out, time.perf_counter() - start


def run_bench(model, seeds: int = 3, data: Path | None = None, steps: int | None = None,
              log: Callable[[str], None] = print) -> dict:
    gen = model.generate
    rows: dict[str, list] = {k: [] for k in ("pose_deg", "effector_cm", "waypoint_cm", "start_frame0_deg",
                                              "start_frame0_cm", "start_dv", "start_da", "segment_dv",
                                              "segment_da")}
    skating_directed, skating_free = [], []
    scenario_skating: dict[str, list] = {}
    by_case: dict[str, list] = {}
    free_skating: dict[str, list] = {}
    times: dict[str, list[float]] = {"keys+path+end": [], "start": [], "timeline": []}
    checks = []
    for seed in range(seeds):
        free, t_free = _timed(gen, WALK, seconds=5.0, seed=seed, steps=steps)
        wave = gen("a person waves goodbye with their right hand", seconds=5.0, seed=seed + 50, steps=steps)[0]
        keyed = [30, 75, 120]
        pos_free = free.world_positions()
        wrist = pos_free[60, 21] + np.array([0.15, 0.25, 0.10])
        foot = pos_free[105, 10] + np.array([0.10, 0.0, 0.15])
        path = [(1.5, np.array([0.3, 0.0, 1.6])), (3.0, np.array([1.0, 0.0, 2.9])),
                (4.5, np.array([2.0, 0.0, 3.6]))]
        constraints = Constraints(
            keys=tuple(PoseKey(f / FPS, Pose(wave.rotations[f].astype(np.float64))) for f in keyed)
            + (EffectorKey(60 / FPS, "right_wrist", wrist), EffectorKey(105 / FPS, "left_foot", foot)),
            path=tuple(Waypoint(t, p, facing=0.9 if k == 2 else None) for k, (t, p) in enumerate(path)),
            end=EndPose(Pose(wave.rotations[-1].astype(np.float64))),
        )
        directed, t_dir = _timed(gen, WALK, seconds=5.0, seed=seed, steps=steps, constraints=constraints)
        times["keys+path+end"].append(t_dir / t_free)
        for f in keyed:
            rows["pose_deg"].append(pose_error_degrees(directed, f, wave.rotations[f].astype(np.float64)))
        rows["pose_deg"].append(pose_error_degrees(directed, directed.frames - 1,
                                                   wave.rotations[-1].astype(np.float64)))
        rows["effector_cm"] += [effector_error_cm(directed, 60, "right_wrist", wrist),
                                effector_error_cm(directed, 105, "left_foot", foot)]
        rows["waypoint_cm"] += [waypoint_error_cm(directed, int(round(t * FPS)), p) for t, p in path]
        skating_directed.append(foot_skating(directed.world_positions()))
        scenario_skating.setdefault("keys+path+end", []).append(skating_directed[-1])
        skating_free.append(foot_skating(pos_free))
        free_skating.setdefault("keys+path+end", []).append(skating_free[-1])

        before = gen(WALK, seconds=5.0, seed=seed + 100, steps=steps)[0]
        start = Constraints(start=StartMotion.from_motion(before))
        for name, prompt in CONTINUATIONS.items():
            free_next, t_free = _timed(gen, prompt, seconds=5.0, seed=seed, steps=steps)
            cont, t_dir = _timed(gen, prompt, seconds=5.0, seed=seed, steps=steps, constraints=start)
            times["start"].append(t_dir / t_free)
            rows["start_frame0_deg"].append(pose_error_degrees(cont, 0, before.rotations[-1].astype(np.float64)))
            rows["start_frame0_cm"].append(float(np.linalg.norm(cont.root[0] - before.root[-1]) * 100))
            joined = positions(np.concatenate([before.root[:-1], cont.root]),
                               np.concatenate([before.rotations[:-1], cont.rotations]))
            # Frame `before.frames - 1` is the given last frame (the continuation's frame 0); the jumps at it and
            # later are the first to involve a generated frame. The frames before it are the user's motion, which
            # the continuation must not change: a jump there is theirs, not the join's (one given walk's own
            # 150.1 m/s² two frames before its end was this row's maximum, 2026-12-07).
            dv, da = join_jumps(joined, before.frames - 1, before=0, after=START_JOIN_AFTER)
            rows["start_dv"].append(dv)
            rows["start_da"].append(da)
            blend = join_jumps(joined, before.frames - 1, before=0, after=JOIN_BLEND)[0]
            by_case.setdefault(f"start: {name}", []).append((dv, da, _own_p99(free_next), blend))
            skating_directed.append(foot_skating(cont.world_positions()))
            scenario_skating.setdefault("start", []).append(skating_directed[-1])
            skating_free.append(foot_skating(free_next.world_positions()))
            free_skating.setdefault("start", []).append(skating_free[-1])

        for timeline in TIMELINES:
            segs = tuple(Segment(p, 5.0) for p, _ in timeline)
            _, t_free = _timed(gen, timeline[0][0], seconds=10.0, seed=seed, steps=steps)
            motion, t_dir = _timed(gen, "", seconds=10.0, seed=seed, steps=steps,
                                constraints=Constraints(segments=segs))
            times["timeline"].append(t_dir / t_free)
            spans = motion.meta["segments"]
            pos = motion.world_positions()
            jumps = [join_jumps(pos, j) for j in motion.meta["joins"]]
            dv, da = max(j[0] for j in jumps), max(j[1] for j in jumps)
            blend = max(join_jumps(pos, j, before=1, after=JOIN_BLEND)[0] for j in motion.meta["joins"])
            rows["segment_dv"].append(dv)
            rows["segment_da"].append(da)
            name = " → ".join(check.concept for _, check in timeline)
            by_case.setdefault(f"timeline: {name}", []).append(
                (dv, da, max(_own_p99(gen(p, seconds=5.0, seed=seed, steps=steps)[0]) for p, _ in timeline), blend))
            for span, (prompt, check) in zip(spans, timeline, strict=True):
                part = slice(span["start"], span["start"] + span["count"])
                value = check.measure(canonical_motion(motion.with_(root=motion.root[part],
                                                                    rotations=motion.rotations[part])))
                checks.append({"seed": seed, "prompt": prompt, "concept": check.concept, "value": round(value, 3),
                               "passed": bool(check.passes(value, {"walk_speed": 1.0}))})
            skating_directed.append(foot_skating(motion.world_positions()))
            scenario_skating.setdefault("timeline", []).append(skating_directed[-1])
            for prompt, _check in timeline:  # the free reference: each segment's prompt on its own
                skating_free.append(foot_skating(gen(prompt, seconds=5.0, seed=seed, steps=steps)[0].world_positions()))
                free_skating.setdefault("timeline", []).append(skating_free[-1])
        log(f"seed {seed} done")
    ref = data_reference(data)
    skating_d, skating_f = mean_figure(skating_directed), mean_figure(skating_free)

    def stat(values: list[float]) -> dict:
        return {"mean": float(np.mean(values)), "max": float(np.max(values)), "n": len(values)}

    report = {
        "model": getattr(model, "name", "?"), "seeds": seeds, "steps": steps or model.default_steps,
        "mode": sampling.GUIDE_MODE, "threads": torch.get_num_threads(), "data": ref,
        "pose_deg": stat(rows["pose_deg"]), "effector_cm": stat(rows["effector_cm"]),
        "waypoint_cm": stat(rows["waypoint_cm"]),
        "start_frame0": {"deg_max": max(rows["start_frame0_deg"]), "cm_max": max(rows["start_frame0_cm"])},
        "start_join": {"velocity_jump_mps": stat(rows["start_dv"]), "acceleration_jump_mps2": stat(rows["start_da"])},
        "segment_join": {"velocity_jump_mps": stat(rows["segment_dv"]),
                         "acceleration_jump_mps2": stat(rows["segment_da"])},
        "joins_by_case": {k: {"velocity_jump_max_mps": max(v[0] for v in vals),
                              "acceleration_jump_max_mps2": max(v[1] for v in vals),
                              "free_clip_own_velocity_jump_p99_mps": float(np.mean([v[2] for v in vals])),
                              "velocity_jump_over_blend_max_mps": max(v[3] for v in vals)}
                          for k, vals in by_case.items()},
        "segment_checks": {"passed": sum(c["passed"] for c in checks), "total": len(checks), "checks": checks},
        "skating": {"directed_mps": skating_d, "free_mps": skating_f,
                    "directed_ratio": skating_d / ref["foot_skating_mps"],
                    "free_ratio": skating_f / ref["foot_skating_mps"],
                    "directed_ratio_by_request": {k: mean_figure(v) / ref["foot_skating_mps"]
                                                  for k, v in scenario_skating.items()},
                    "free_ratio_by_request": {k: mean_figure(v) / ref["foot_skating_mps"]
                                              for k, v in free_skating.items()}},
        "time_ratio": {k: float(np.median(v)) for k, v in times.items()},
    }
    report["bars"] = _bars(report)
    return report


def _bars(r: dict) -> dict:
    data = r["data"]
    dv_bar, da_bar = data["velocity_jump_p99_mps"], data["acceleration_jump_p99_mps2"]
    return {
        "pose keys ≤ 2°": r["pose_deg"]["max"] <= BARS["pose_deg"],
        "effector keys ≤ 3 cm": r["effector_cm"]["max"] <= BARS["effector_cm"],
        "waypoints ≤ 5 cm": r["waypoint_cm"]["max"] <= BARS["waypoint_cm"],
        "start join velocity ≤ data p99": r["start_join"]["velocity_jump_mps"]["max"] <= dv_bar,
        "start join acceleration ≤ data p99": r["start_join"]["acceleration_jump_mps2"]["max"] <= da_bar,
        "segment join velocity ≤ data p99": r["segment_join"]["velocity_jump_mps"]["max"] <= dv_bar,
        "segment join acceleration ≤ data p99": r["segment_join"]["acceleration_jump_mps2"]["max"] <= da_bar,
        "every segment passes its check": r["segment_checks"]["passed"] == r["segment_checks"]["total"],
        "foot skating ≤ 1.5× data": r["skating"]["directed_ratio"] <= BARS["skating_ratio"],
        "time ≤ 1.5× unconstrained": max(r["time_ratio"].values()) <= BARS["time_ratio"],
    }


def format_table(r: dict) -> str:
    d = r["data"]
    lines = [
        f"directing bench: model {r['model']}, {r['seeds']} seeds, {r['steps']} steps, mode {r['mode']}, "
        f"{r['threads']} thread(s); data: {d['source']}",
        f"{'measure':44s} {'mean':>9s} {'max':>9s} {'bar':>9s}",
        f"{'pose keys: joint-angle error (deg)':44s} {r['pose_deg']['mean']:9.3f} {r['pose_deg']['max']:9.3f} "
        f"{BARS['pose_deg']:9.1f}",
        f"{'effector keys: position error (cm)':44s} {r['effector_cm']['mean']:9.3f} {r['effector_cm']['max']:9.3f} "
        f"{BARS['effector_cm']:9.1f}",
        f"{'path: root error at waypoints (cm)':44s} {r['waypoint_cm']['mean']:9.3f} {r['waypoint_cm']['max']:9.3f} "
        f"{BARS['waypoint_cm']:9.1f}",
        f"{'start: frame-0 error (deg / cm, max)':44s} {r['start_frame0']['deg_max']:9.4f} "
        f"{r['start_frame0']['cm_max']:9.4f}",
    ]
    for name, key in (("start join", "start_join"), ("segment join", "segment_join")):
        v, a = r[key]["velocity_jump_mps"], r[key]["acceleration_jump_mps2"]
        lines.append(f"{name + ': velocity jump (m/s)':44s} {v['mean']:9.2f} {v['max']:9.2f} "
                     f"{d['velocity_jump_p99_mps']:9.2f}")
        lines.append(f"{name + ': acceleration jump (m/s²)':44s} {a['mean']:9.1f} {a['max']:9.1f} "
                     f"{d['acceleration_jump_p99_mps2']:9.1f}")
    lines.append(f"{'  max over seeds: m/s, m/s², free p99 m/s, m/s over the blend':44s}")
    for k, v in r["joins_by_case"].items():
        lines.append(f"{'    ' + k:44s} {v['velocity_jump_max_mps']:9.2f} {v['acceleration_jump_max_mps2']:9.1f} "
                     f"{v['free_clip_own_velocity_jump_p99_mps']:9.2f} {v['velocity_jump_over_blend_max_mps']:9.2f}")
    sc = r["segment_checks"]
    lines.append(f"{'segments passing their physical check':44s} {sc['passed']:>9d} {sc['total']:>9d}")
    s = r["skating"]
    lines.append(f"{'foot skating / data (directed; free)':44s} {s['directed_ratio']:9.2f} {s['free_ratio']:9.2f} "
                 f"{BARS['skating_ratio']:9.1f}")
    for k, v in s["directed_ratio_by_request"].items():
        lines.append(f"{'  foot skating / data: ' + k:44s} {v:9.2f} {s['free_ratio_by_request'][k]:9.2f}")
    for k, v in r["time_ratio"].items():
        lines.append(f"{'time / unconstrained: ' + k:44s} {v:9.2f} {'':9s} {BARS['time_ratio']:9.1f}")
    lines.append("bars: " + ", ".join(f"{k}: {'PASS' if ok else 'FAIL'}" for k, ok in r["bars"].items()))
    return "\n".join(lines)


def configure_parser(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--model", default="tiny")
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--steps", type=int, default=None)
    parser.add_argument("--data", type=Path, default=Path("/tmp/mb_data3"),
                        help="a built data set (its clips/); the shared CMU BVH files are used when it has none")
    parser.add_argument("--mode", choices=("known", "guide", "replace", "none"), default=sampling.GUIDE_MODE,
                        help="what guides sampling (engine.model.directing.sampling.GUIDE_MODE)")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--out", type=Path, default=None, help="write the JSON report here")


def run(args: argparse.Namespace) -> int:
    torch.set_num_threads(args.threads)
    from engine.io.loading import load_model

    sampling.GUIDE_MODE = args.mode
    model = load_model(args.model, device="cpu")
    report = run_bench(model, args.seeds, args.data, args.steps)
    print(format_table(report))
    if args.out is not None:
        args.out.write_text(json.dumps(json_safe(report), indent=1))
    return 0 if all(report["bars"].values()) else 1


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="motionbridge bench directing", description=__doc__.splitlines()[0])
    configure_parser(parser)
    return run(parser.parse_args(argv))


if __name__ == "__main__":
    raise SystemExit(main())
