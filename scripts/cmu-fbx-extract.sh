#!/usr/bin/env bash
# Copies the CMU FBX library's clips out of bare git snapshots of its three repositories
# (shared/data/cmu-fbx/README.md) into OUT/<owner>_<repo>/..., the layout `dataset build --cmu-fbx OUT` reads.
# The clips are never committed: OUT belongs outside the repository.
#
#   scripts/cmu-fbx-extract.sh OUT GIT_DIR [GIT_DIR ...]
#   e.g. scripts/cmu-fbx-extract.sh /tmp/cmu-fbx /work/.mirror/{loki1213+Top-Down-shooter,all-in-one-of+keijirosskinnerplay,IxxyXR+SkeletalGeometricEffects}/repo
#
# A snapshot may lack some large objects: those files are reported and left empty, and the build skips them.
set -euo pipefail
out=${1:?usage: cmu-fbx-extract.sh OUT GIT_DIR...}
shift
library="Assets/Huge Mocap Library/mocap animations"
for git_dir in "$@"; do
    name=$(basename "$(dirname "$git_dir")")
    dst="$out/${name/+/_}"
    count=0
    while IFS=$'\t' read -r meta path; do
        object=$(awk '{print $3}' <<<"$meta")
        mkdir -p "$dst/$(dirname "$path")"
        git --git-dir="$git_dir" cat-file blob "$object" > "$dst/$path" 2>/dev/null || echo "missing in the snapshot: $path" >&2
        count=$((count + 1))
    done < <(git --git-dir="$git_dir" ls-tree -r HEAD -- "$library" | grep '\.fbx$')
    echo "$name: $count clips → $dst"
done
