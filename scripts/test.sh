#!/usr/bin/env bash
# Installs MotionBridge with its test extras into ./.venv, runs ruff and mypy, then every test: Python (engine, daemon,
# MQTT against Mosquitto, browser page in headless Chromium, Unreal plugin), C# (Mono/NUnit) and Blender.
# System packages come first (Debian): see README "Run the tests". Extra arguments go to pytest.
set -euo pipefail
cd "$(dirname "$0")/.."

python3 -m venv .venv
# shellcheck disable=SC1091
. .venv/bin/activate
# The CPU build of torch first: anything that depends on torch would otherwise pull a CUDA build.
pip install -qq torch==2.13.0
pip install -qq -e '.[serve,test,mqtt]'
# Blender (bpy) lives in its own venv (it pins numpy<2); its tests are skipped when it cannot be set up.
bash scripts/setup_blender.sh || echo "warning: Blender venv could not be set up; Blender tests will be skipped" >&2

ruff check .
# The parts that take a type checker (pyproject [tool.mypy]: engine core/post/retarget/io and bridge).
mypy
python -m pytest "$@"
