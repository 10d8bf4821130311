#!/bin/bash
# One training run on a GPU machine (see models/lumen-tiny/README.md): the portable scene-studio
# renderer (`training/build_renderer.sh`: the same bytes as `lumen scenes render`) fills shards on
# the machine's CPUs while the generator and the checker train on the GPU.
#   training/device_run.sh RENDERER SHARDS OUT GEN_MINUTES CHECKER_MINUTES [GEN_INIT] [CHECKER_INIT]
# Shards (training/shards.py), rendered in rounds until training ends:
#   train-*      training split, seed 1, unconstrained (generator and checker)
#   train-tK-*   training split, seed 20+K, drawn as `lumen eval` draws task K's scenes (one large
#                object, two objects side by side, …): the generator sees more scenes whose objects
#                are big enough to show colour, shape and position — never a held-out pair
#   extra-*      held-out split, seeds 2 and 30+K (checker only: it must know every colour–shape pair)
#   heldout-000  held-out split, seed 1 (the checker's held-out accuracy)
# `lumen eval` prompts use seed 3, which no shard uses.
set -u
BIN=$1; SHARDS=$2; DEST=$3; GEN_MIN=$4; CHK_MIN=$5; INIT=${6:-}; CHK_INIT=${7:-}
mkdir -p "$SHARDS" "$DEST"
N=$(nproc)
# Keep the two trainers' Python threads off the renderer's cores (they launch GPU kernels).
pin() { local cores=$1; shift; if [ "$N" -ge 8 ] && taskset -c 0 true 2>/dev/null; then taskset -c "$cores" "$@"; else "$@"; fi; }
render() { pin 4-$((N - 1)) nice -n 5 "$BIN" "$@"; }
TASKS=(color shape count color_binding position)
(
  render 1 train 0 1000 64 2 1 "$SHARDS/train-000"
  render 2 heldout 0 1000 64 2 1 "$SHARDS/extra-000"
  render 1 heldout 0 1000 64 2 1 "$SHARDS/heldout-000"
  for c in $(seq 1 200); do
    n=$(printf %03d "$c")
    render 1 train $((1000 + (c - 1) * 2000)) 2000 64 2 1 "$SHARDS/train-$n"
    for k in 0 1 2 3 4; do render $((20 + k)) train $(((c - 1) * 300)) 300 64 2 1 "$SHARDS/train-t$k-$n" "${TASKS[$k]}"; done
    render 2 heldout $((1000 + (c - 1) * 500)) 500 64 2 1 "$SHARDS/extra-$n"
    for k in 0 1 2 3 4; do render $((30 + k)) heldout $(((c - 1) * 200)) 200 64 2 1 "$SHARDS/extra-t$k-$n" "${TASKS[$k]}"; done
    echo "round $c rendered at $(date +%T)"
  done
) > "$DEST/render.log" 2>&1 &
RENDER=$!
export PYTHONUNBUFFERED=1
pin 2-3 python3 training/train_checker.py --shards "$SHARDS" --out "$DEST/lumen-checker" --minutes "$CHK_MIN" --threads 2 \
  ${CHK_INIT:+--init "$CHK_INIT" --lr 3e-4} > "$DEST/checker.log" 2>&1 &
CHK=$!
pin 0-1 python3 training/train.py --shards "$SHARDS" --out "$DEST/lumen-tiny" --minutes "$GEN_MIN" --size 64 --batch 512 \
  ${INIT:+--init "$INIT" --warmup 100 --lr 3e-4} 2>&1 | tee "$DEST/train.log"
wait $CHK
kill $RENDER 2>/dev/null; pkill -f "$BIN" 2>/dev/null
tail -3 "$DEST/checker.log"; tail -2 "$DEST/render.log"
ls "$SHARDS" | wc -l
