#!/bin/bash
# One training run on a GPU machine (see models/lumen-tiny/README.md). The portable scene-studio
# renderer (`training/build_renderer.sh`: the same bytes as `lumen scenes render`) fills shards on
# all the machine's CPUs first; then the generator trains alone, then (optionally) the checker.
#   training/device_run.sh RENDERER SHARDS OUT RENDER_SECONDS GEN_MINUTES CHECKER_MINUTES [GEN_INIT] [CHECKER_INIT]
# Environment: SIZE (generator's picture size, 64), BATCH (512), LR (train.py's, or 3e-4 with an
# init), PER_ROUND (unconstrained training scenes per render round, 2000), PER_TASK (scenes per
# object task per round, 300), TRAIN_ARGS (more train.py flags; a position fine-tune of a
# `relation_encoder.py` model: GEN_INIT that folder, TRAIN_ARGS="--text-lr-scale 0 --relation-share 0.75").
# With CHECKER_MINUTES 0 only the generator's shards are rendered, at SIZE; the checker reads
# 64×64 shards, so SIZE must be 64 when it trains.
# Why in phases: on an H200 the generator trained at 1,026 pictures/s while the renderer and the
# checker ran beside it, and at 4,451 pictures/s alone (same model, batch 512) — its Python
# thread, which launches the GPU work, was starved — even with the trainers pinned to their own
# cores by taskset (no unpinned run was made to compare).
# Shards (training/shards.py), rendered in rounds of 5,000 scenes (~29 s on 12 cores):
#   train-*      training split, seed 1, unconstrained (generator and checker)
#   train-tK-*   training split, seed 20+K, drawn as `lumen eval` draws task K's scenes (one large
#                object, two objects side by side, …): the generator sees more scenes whose objects
#                are big enough to show colour, shape and position — never a held-out pair
#   extra-*      held-out split, seeds 2 and 30+K (checker only: it must know every colour–shape pair)
#   heldout-000  held-out split, seed 1 (the checker's held-out accuracy)
# `lumen eval` prompts use seed 3, which no shard uses.
set -u
BIN=$1; SHARDS=$2; DEST=$3; RENDER_S=$4; GEN_MIN=$5; CHK_MIN=$6; INIT=${7:-}; CHK_INIT=${8:-}
SIZE=${SIZE:-64}; BATCH=${BATCH:-512}; PER_ROUND=${PER_ROUND:-2000}; PER_TASK=${PER_TASK:-300}
LR=${LR:-${INIT:+3e-4}}
mkdir -p "$SHARDS" "$DEST"
TASKS=(color shape count color_binding position)
end=$((SECONDS + RENDER_S))
{
  "$BIN" 1 train 0 1000 "$SIZE" 2 1 "$SHARDS/train-000"
  if [ "$CHK_MIN" != 0 ]; then
    "$BIN" 2 heldout 0 1000 64 2 1 "$SHARDS/extra-000"
    "$BIN" 1 heldout 0 1000 64 2 1 "$SHARDS/heldout-000"
  fi
  c=1
  while [ $SECONDS -lt $end ]; do
    n=$(printf %03d "$c")
    "$BIN" 1 train $((1000 + (c - 1) * PER_ROUND)) "$PER_ROUND" "$SIZE" 2 1 "$SHARDS/train-$n"
    for k in 0 1 2 3 4; do "$BIN" $((20 + k)) train $(((c - 1) * PER_TASK)) "$PER_TASK" "$SIZE" 2 1 "$SHARDS/train-t$k-$n" "${TASKS[$k]}"; done
    if [ "$CHK_MIN" != 0 ]; then
      "$BIN" 2 heldout $((1000 + (c - 1) * 500)) 500 64 2 1 "$SHARDS/extra-$n"
      for k in 0 1 2 3 4; do "$BIN" $((30 + k)) heldout $(((c - 1) * 200)) 200 64 2 1 "$SHARDS/extra-t$k-$n" "${TASKS[$k]}"; done
    fi
    echo "round $c rendered at $(date +%T)"
    c=$((c + 1))
  done
} > "$DEST/render.log" 2>&1
tail -1 "$DEST/render.log"
export PYTHONUNBUFFERED=1
python3 training/train.py --shards "$SHARDS" --out "$DEST/lumen-tiny" --minutes "$GEN_MIN" --size "$SIZE" --batch "$BATCH" \
  ${INIT:+--init "$INIT" --warmup 100} ${LR:+--lr "$LR"} ${TRAIN_ARGS:-} 2>&1 | grep -v '^loaded ' | tee "$DEST/train.log"
if [ "$CHK_MIN" != 0 ]; then
  python3 training/train_checker.py --shards "$SHARDS" --out "$DEST/lumen-checker" --minutes "$CHK_MIN" \
    ${CHK_INIT:+--init "$CHK_INIT" --lr 3e-4} > "$DEST/checker.log" 2>&1
  tail -2 "$DEST/checker.log"
fi
