#!/bin/bash
# One training run on a GPU machine (see models/lumen-tiny/README.md): the portable scene-studio
# renderer (`SceneStudio` built with --static-swift-stdlib, same bytes as `lumen scenes render`)
# fills shards on the CPUs while the generator and the checker train on the GPU.
#   training/device_run.sh RENDERER SHARDS OUT GEN_MINUTES CHECKER_MINUTES TRAIN_SHARDS EXTRA_SHARDS [INIT]
# train-*: training split, seed 1 (generator and checker); heldout-000: held-out split, seed 1
# (the checker's ceiling); extra-*: held-out split, seed 2 (checker only).
set -u
BIN=$1; SHARDS=$2; DEST=$3; GEN_MIN=$4; CHK_MIN=$5; NTRAIN=$6; NEXTRA=$7; INIT=${8:-}
mkdir -p "$SHARDS" "$DEST"
render() { nice -n 10 "$BIN" "$1" "$2" "$3" 4000 64 2 1 "$SHARDS/$4" && touch "$SHARDS/$4.done"; }
(
  render 1 train 0 train-000
  for i in $(seq 0 $((NEXTRA - 1))); do render 2 heldout $((i * 4000)) "extra-$(printf %03d "$i")"; done
  render 1 heldout 0 heldout-000
  for i in $(seq 1 $((NTRAIN - 1))); do render 1 train $((i * 4000)) "train-$(printf %03d "$i")"; done
  echo "rendering done at $(date +%T)"
) > "$DEST/render.log" 2>&1 &
export PYTHONUNBUFFERED=1
python3 training/train_checker.py --shards "$SHARDS" --out "$DEST/lumen-checker" --minutes "$CHK_MIN" > "$DEST/checker.log" 2>&1 &
CHK=$!
python3 training/train.py --shards "$SHARDS" --out "$DEST/lumen-tiny" --minutes "$GEN_MIN" --size 64 \
  ${INIT:+--init "$INIT" --warmup 50 --lr 2e-4} 2>&1 | tee "$DEST/train.log"
wait $CHK
tail -3 "$DEST/checker.log"
