"""`motionbridge bench directing` runs end to end and reports every bar (few steps: the command, not the figures)."""

from __future__ import annotations

import json

from bridge.cli import main

NEEDS = ("pose keys ≤ 2°", "effector keys ≤ 3 cm", "waypoints ≤ 5 cm", "every segment passes its check",
         "foot skating ≤ 1.5× data", "time ≤ 1.5× unconstrained")


def test_bench_directing_command_measures_every_bar_and_writes_its_report(tmp_path, capsys):
    out = tmp_path / "directing.json"
    # An empty data folder: the data's percentiles then come from the shared BVH set.
    main(["bench", "directing", "--seeds", "1", "--steps", "4", "--data", str(tmp_path), "--out", str(out)])
    report = json.loads(out.read_text())
    assert set(NEEDS) <= set(report["bars"])
    assert report["bars"]["pose keys ≤ 2°"] and report["bars"]["waypoints ≤ 5 cm"]
    assert report["data"]["velocity_jump_p99_mps"] > 0
    assert "bars:" in capsys.readouterr().out
