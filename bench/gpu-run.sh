#!/usr/bin/env bash
# bench/gpu-run.sh: the one benchmark script for the GPU machine. In one call it validates, then times our
# NIG engine (bench/nig.ts) and the PyTorch peer (peer_nig_torch.py) on the same GPU, then our WGSL matmul
# (bench/matmul.ts, what `npm run bench:matmul` runs) beside cuBLAS (peer_matmul_torch.py), and prints one
# table: ms/pair ours, ms/pair peer, ratio.
#
#   On the GPU machine, after ../shared/device/prepare.sh packed .gpu/ here:
#     bash .gpu/gpu-run.sh bash bench/gpu-run.sh            (about 5 minutes on an H100/H200)
#   Here, on lavapipe (no GPU, no torch): the same flow on the tiny shape (validation at 128 tokens, timing at
#   64) and a 256³ matmul, peers skipped; a check of the script, not a benchmark (~3 minutes):
#     bash bench/gpu-run.sh --dry-run
#
# Rows (m = 50, 51 points, as the peer's defaults): BERT-base 256 and 512 tokens, BERT-large 256 tokens, all
# with --max-memory $MAX_MEMORY_MIB (default 40000 MiB) so that all 51 points run as one batch like the peer's
# chunk = all; one more row, BERT-base 256 at the engine's default 2 GiB budget, shows what chunking costs.
# Order: 1. validation (tiny BERT against the float64 reference; stops here if it fails), 2. ours (each
# bench/nig.ts run validates its own shape before timing), 3. the peers, 4. matmul 4096³ ours and cuBLAS.
# Logs: every step's output under $OUT (the device tool brings it back) or $LOG_DIR (default /tmp/gpu-run).
# Environment: MAX_MEMORY_MIB, PAIRS (timed pairs per row; default 5, the peer's --reps), PEER_DIR (default
# .gpu, else ../shared/device), STEP_TIMEOUT_S (per step; default 300), VARIANTS=1 (matmul family + tuner),
# IR_NEURONS_TUNE (passed through: 1 lets the engine autotune its matmuls on first use, inside the warm-up).
set -uo pipefail
cd "$(dirname "$0")/.."

DRY=0
case "${1:-}" in
  --dry-run) DRY=1 ;;
  '') ;;
  *) echo "gpu-run.sh: unknown argument '$1'; use no argument (GPU machine) or --dry-run (no GPU)" >&2; exit 2 ;;
esac
LOG=${OUT:-${LOG_DIR:-/tmp/gpu-run}}
mkdir -p "$LOG"
PEER_DIR=${PEER_DIR:-.gpu}
[ -f "$PEER_DIR/peer_nig_torch.py" ] || PEER_DIR=../shared/device
MEM=${MAX_MEMORY_MIB:-40000}
PAIRS=${PAIRS:-5}
LIMIT=${STEP_TIMEOUT_S:-300}
NODE=(node --import tsx)   # as bin/ir-neurons.js and `npm run bench:*` do: tsx runs the TypeScript as it is
export PYTHONUNBUFFERED=1
failed=()

# step NAME CMD...: runs CMD under a timeout, output to the terminal and $LOG/NAME.log; returns CMD's status.
step() {
  local name=$1; shift
  echo; echo "=== $name: $*"
  local t0=$SECONDS
  timeout "$LIMIT" "$@" 2>&1 | tee "$LOG/$name.log"
  local rc=${PIPESTATUS[0]}
  echo "=== $name: exit $rc after $((SECONDS - t0)) s"
  [ "$rc" = 124 ] && echo "=== $name: stopped by the ${LIMIT} s step limit (STEP_TIMEOUT_S)"
  [ "$rc" = 0 ] || failed+=("$name")
  return "$rc"
}

echo "=== gpu-run.sh $(date -u +%FT%TZ) ($([ $DRY = 1 ] && echo 'dry run: tiny shape, no peers' || echo 'full run'))"
echo "commit: $(git rev-parse --short HEAD 2>/dev/null || echo "${REV:-unknown (no .git here; set REV)}")$(git status --porcelain 2>/dev/null | grep -q . && echo ' + uncommitted changes')"
echo "IR_NEURONS_TUNE=${IR_NEURONS_TUNE:-unset} (unset: the engine's default matmul variant)"
echo "cpu: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ //'), $(nproc) cores; node $(node --version)"
nvidia-smi --query-gpu=name,driver_version,memory.total,memory.used --format=csv,noheader 2>/dev/null || echo "gpu: no nvidia-smi"
TORCH=0
if [ $DRY = 0 ] && python3 -c 'import torch, transformers, sys; sys.exit(0 if torch.cuda.is_available() else 1)' 2>/dev/null; then TORCH=1; fi
[ $TORCH = 1 ] || echo "peers: skipped ($([ $DRY = 1 ] && echo 'dry run' || echo 'python3 with torch + transformers + CUDA not found'))"

# 1. validation: the engine against the float64 reference on the tiny shape; nothing is timed if it fails
if ! step validate "${NODE[@]}" bench/nig.ts --shape tiny --tokens 128 --steps 50 --pairs 1 --warmup 0; then
  echo "gpu-run.sh: validation failed (see $LOG/validate.log); no timings taken" >&2
  exit 1
fi

# 2. ours, 3. peers: ROWS are "shape tokens"; `ours_args` adds the memory option
if [ $DRY = 1 ]; then
  ROWS=("tiny 64")
  step ours-tiny "${NODE[@]}" bench/nig.ts --shape tiny --tokens 64 --steps 50 --pairs 1 --warmup 0
else
  ROWS=("base 256" "base 512" "large 256")
  step ours-base "${NODE[@]}" bench/nig.ts --shape base --tokens 256,512 --steps 50 --pairs "$PAIRS" --warmup 1 --max-memory "$MEM"
  step ours-large "${NODE[@]}" bench/nig.ts --shape large --tokens 256 --steps 50 --pairs "$PAIRS" --warmup 1 --max-memory "$MEM"
  step ours-base-2g "${NODE[@]}" bench/nig.ts --shape base --tokens 256 --steps 50 --pairs "$PAIRS" --warmup 1
fi
if [ $TORCH = 1 ]; then
  for row in "${ROWS[@]}"; do
    set -- $row
    step "peer-$1-$2" python3 "$PEER_DIR/peer_nig_torch.py" --shape "$1" --tokens "$2" --steps 50 --reps "$PAIRS"
  done
fi

# 4. matmul: ours (validated inside) beside cuBLAS f32 (TF32 off)
MM=$([ $DRY = 1 ] && echo 256x256x256 || echo 4096x4096x4096)
# --no-variants: the default kernel only (the engine's, unless IR_NEURONS_TUNE is set); VARIANTS=1 adds the
# whole matmul family and the autotuner's choice on the same size (about 1.5 minutes more)
VARIANT_ARGS=(--no-variants); [ "${VARIANTS:-0}" = 1 ] && VARIANT_ARGS=(--variant-sizes "$MM")
step matmul "${NODE[@]}" bench/matmul.ts --sizes "$MM" --no-gpujs "${VARIANT_ARGS[@]}"
[ $TORCH = 1 ] && step peer-matmul python3 "$PEER_DIR/peer_matmul_torch.py" "$MM"

# the table, from the logs
chunk_of() { grep -h "^BENCH nig $1 tokens=$2 " "$LOG"/$3.log 2>/dev/null | head -1 | sed -E 's/.*chunk=([0-9]+).*/\1/'; }
peer_ms() { grep -h "^PEER torch-f32 $1 tokens=$2 " "$LOG"/peer-"$1"-"$2".log 2>/dev/null | head -1 | sed -E 's/.*: ([0-9.]+) ms\/pair.*/\1/'; }
ratio() { [ -n "$1" ] && [ -n "$2" ] && awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f×", a / b }' || echo "—"; }
echo
echo "NIG of all FFN units, one pair, m = 50 (51 points), f32; ratio = ours / peer (> 1: ours slower)"
echo "| shape | tokens | ours ms/pair (chunk) | peer ms/pair (torch f32, TF32 off) | ratio |"
echo "|---|---|---|---|---|"
for row in "${ROWS[@]}"; do
  set -- $row
  log=$([ $DRY = 1 ] && echo ours-tiny || echo "ours-$1")
  o=$(grep -h "^BENCH nig $1 tokens=$2 " "$LOG/$log.log" 2>/dev/null | head -1 | sed -E 's/.*: ([0-9.]+) ms\/pair.*/\1/')
  p=$(peer_ms "$1" "$2")
  echo "| $1 | $2 | ${o:-—} ($(chunk_of "$1" "$2" "$log")) | ${p:-—} | $(ratio "$o" "$p") |"
done
if [ $DRY = 0 ]; then
  o=$(grep -h "^BENCH nig base tokens=256 " "$LOG/ours-base-2g.log" 2>/dev/null | head -1 | sed -E 's/.*: ([0-9.]+) ms\/pair.*/\1/')
  p=$(peer_ms base 256)
  echo "| base, default 2 GiB budget | 256 | ${o:-—} ($(chunk_of base 256 ours-base-2g)) | ${p:-—} | $(ratio "$o" "$p") |"
fi
mo=$(grep -m1 '^  WGSL kernel' "$LOG/matmul.log" 2>/dev/null | sed -E 's/^  WGSL kernel +([0-9.]+) ms = ([0-9.]+) GFLOP\/s.*/\1 ms, \2 GFLOP\/s/')
mp=$(grep -m1 "^PEER matmul f32 $MM" "$LOG/peer-matmul.log" 2>/dev/null | sed -E 's/.*: ([0-9.]+) ms ([0-9.]+) TFLOP\/s.*/\1 ms, \2 TFLOP\/s/')
mr=$(ratio "$(echo "$mo" | cut -d' ' -f1)" "$(echo "$mp" | cut -d' ' -f1)")
echo "matmul f32 $MM (2·M·N·K): ours (WGSL kernel, wall clock) ${mo:-—}; cuBLAS ${mp:-—}; ratio $mr"
if [ ${#failed[@]} -gt 0 ]; then echo "gpu-run.sh: failed steps: ${failed[*]} (logs in $LOG)" >&2; exit 1; fi
echo "logs: $LOG"
