#!/usr/bin/env bash
# Create the Blender-as-a-module (bpy) virtual environment used by the FBX exporter and the
# `blender`-marked tests. bpy pins numpy<2 and needs Python 3.11, so it lives in its own venv,
# never in the main interpreter. Idempotent: returns in well under a second when already set up.
#
# Location: ${MOTIONBRIDGE_BPY_VENV:-$HOME/.cache/motionbridge/bpy-venv}
# Usage:    bash scripts/setup_blender.sh
set -euo pipefail

BPY_VERSION="5.0.1"
VENV="${MOTIONBRIDGE_BPY_VENV:-$HOME/.cache/motionbridge/bpy-venv}"
PY="${MOTIONBRIDGE_BPY_PYTHON:-python3.11}"
STAMP="$VENV/.motionbridge-bpy-$BPY_VERSION"

if [[ -f "$STAMP" && -x "$VENV/bin/python" ]]; then
    echo "bpy $BPY_VERSION venv already present at $VENV"
    exit 0
fi

if ! command -v "$PY" >/dev/null 2>&1; then
    echo "error: $PY not found; bpy $BPY_VERSION wheels exist only for Python 3.11" >&2
    exit 1
fi

echo "creating bpy $BPY_VERSION venv at $VENV (downloads about 1 GB the first time)"
mkdir -p "$(dirname "$VENV")"
"$PY" -m venv "$VENV"
"$VENV/bin/python" -m pip install --quiet --upgrade pip || echo "warning: could not upgrade pip in $VENV; going on"
# The venv must not inherit the system constraint file's torch cap or anything else: bpy only.
"$VENV/bin/python" -m pip install --quiet "bpy==$BPY_VERSION"
# Blender's own bundled libraries need a few X/GL shared objects even when headless.
if ! "$VENV/bin/python" -c "import bpy" >/dev/null 2>&1; then
    if command -v apt-get >/dev/null 2>&1; then
        echo "installing shared libraries bpy needs (libxrender1 libxxf86vm1 libxfixes3 libxi6 libxkbcommon0 libsm6 libgl1)"
        (apt-get update -qq || true) >/dev/null
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
            libxrender1 libxxf86vm1 libxfixes3 libxi6 libxkbcommon0 libsm6 libgl1 libegl1 >/dev/null
    fi
fi
"$VENV/bin/python" -c "import bpy; print('bpy', bpy.app.version_string)"
touch "$STAMP"
echo "bpy venv ready: $VENV"
