#!/usr/bin/env bash
# bench/gpu-run.sh: the one benchmark script for the GPU machine (issue 24). In one call:
#   0. environment line (adapter, driver, commit, Node, load)      `ir-neurons doctor`
#   1. the matmul tuner for one NIG chunk of BERT-base 256 tokens  `ir-neurons doctor --tune` (picks cached in $LOG)
#   2. matmul rows: 4096³ and the BERT-base products at M = 256 tokens × 51 points (ours: bench/matmul.ts, default
#      variant and the variants table with the tuner's pick) beside cuBLAS f32, TF32 off (peer_matmul_torch.py)
#   3. NIG at equal points: BERT-base, 256 tokens, m = 50 (51 points in one chunk), ours (bench/nig.ts, which
#      validates before timing) beside the PyTorch peer (peer_nig_torch.py, same m, rule, chunk = all)
#   4. NIG at equal accuracy: ours adaptive (`--tol $TOL`) beside the peer's recipe (right rule, m = 200)
#   5. if time is left: BERT-base 512 tokens, BERT-large 256 tokens, BERT-base 256 at the default 2 GiB budget
#   6. the rows bench/RESULTS.md keeps (Markdown), printed and written to $LOG/results.md ($OUT when set)
# Every step runs under its own timeout, never more than what is left of the whole budget (TOTAL_S, 480 s), and
# prints its elapsed time; a step that fails or times out is reported and the rest still runs.
#
#   On the GPU machine, after ../shared/device/prepare.sh packed .gpu/ here:
#     bash .gpu/gpu-run.sh bash bench/gpu-run.sh          (≤ 8 minutes on an H100/H200)
#   Here (software adapter, GPU-class kernels forced, tiny shapes, the CPU PyTorch peer where /usr/bin/python3 has
#   torch; the CUDA peers skipped): a check of the flow, not a benchmark (≤ 5 minutes):
#     bash bench/gpu-run.sh --dry-run
#
# Environment: TOTAL_S (whole budget, s), PAIRS (timed pairs per NIG row; default 5, the peer's --reps), TOL (equal
# accuracy; default 2e-3, the peer recipe's error at m = 200 on the CPU box), MAX_MEMORY_MIB (default 40000: all 51
# points in one batch, as the peer), PEER_DIR (default .gpu, else ../shared/device), LOG_DIR (default /tmp/gpu-run;
# $OUT wins), IR_NEURONS_TUNE / IR_NEURONS_TUNE_BUDGET (passed through; unset: first-use tuning on a GPU).
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
TOL=${TOL:-2e-3}
TOTAL=${TOTAL_S:-$([ $DRY = 1 ] && echo 300 || echo 480)}
NODE=(node --import tsx)   # as bin/ir-neurons.js and `npm run bench:*` do: tsx runs the TypeScript as it is
CLI=(node bin/ir-neurons.js)
export PYTHONUNBUFFERED=1
# the tuner's picks go with the logs (the device tool brings $OUT back); a fresh file on every run
export IR_NEURONS_TUNE_CACHE=$LOG/matmul-tune.json
rm -f "$IR_NEURONS_TUNE_CACHE"
if [ $DRY = 1 ]; then
  # the GPU machine's flow on this adapter: GPU-class kernels, first-use tuning on (a software adapter has it off)
  export IR_NEURONS_KERNELS=gpu IR_NEURONS_TUNE=${IR_NEURONS_TUNE:-1} IR_NEURONS_TUNE_BUDGET=${IR_NEURONS_TUNE_BUDGET:-10}
  PAIRS=${PAIRS:-1}; WARMUP=0
  SHAPE=tiny; T=64; PTS=51
  MM_SIZES=256x256x256,256x384x128; MM_VARIANTS=(--variant-sizes 256x384x128 --variants v4_32x32x8_4x4,v4_64x64x8_8x8,sg_64x64x8_4x4)
  TUNE_ARGS=(--tune-shape tiny --tokens 64 --points 51 --tune-budget 10)
  TOL_T=32
else
  PAIRS=${PAIRS:-5}; WARMUP=1
  SHAPE=base; T=256; PTS=51
  # 4096³, then the BERT-base products at M = 256 tokens × 51 points: qkv, attention out, FFN up, FFN down
  MM_SIZES=4096x4096x4096,13056x2304x768,13056x768x768,13056x3072x768,13056x768x3072; MM_VARIANTS=(--variant-sizes 4096x4096x4096,13056x3072x768)
  TUNE_ARGS=(--tune-shape base --tokens 256 --points 51 --tune-budget 60)
  TOL_T=256
fi
T0=$SECONDS
failed=()

# step NAME LIMIT CMD...: CMD under min(LIMIT, what is left of TOTAL), output to the terminal and $LOG/NAME.log
step() {
  local name=$1 limit=$2; shift 2
  local left=$((TOTAL - (SECONDS - T0)))
  if [ "$left" -lt 15 ]; then echo "=== $name: skipped, ${left} s left of the ${TOTAL} s budget"; failed+=("$name(skipped)"); return 1; fi
  [ "$limit" -gt "$left" ] && limit=$left
  echo; echo "=== $name (limit ${limit} s): $*"
  local t0=$SECONDS
  timeout --kill-after=5 "$limit" "$@" 2>&1 | tee "$LOG/$name.log"
  local rc=${PIPESTATUS[0]}
  echo "=== $name: exit $rc after $((SECONDS - t0)) s (total $((SECONDS - T0)) s)"
  [ "$rc" = 124 ] && echo "=== $name: stopped by its ${limit} s limit"
  [ "$rc" = 0 ] || failed+=("$name")
  return "$rc"
}

# 0. environment
COMMIT=$(git rev-parse --short HEAD 2>/dev/null || echo "${REV:-unknown (no .git here; set REV)}")$(git status --porcelain --untracked-files=no 2>/dev/null | grep -q . && echo ' + uncommitted changes')
DRIVER=$(nvidia-smi --query-gpu=name,driver_version --format=csv,noheader 2>/dev/null | head -1)
echo "=== gpu-run.sh $(date -u +%FT%TZ) ($([ $DRY = 1 ] && echo 'dry run: software adapter, GPU-class kernels forced, tiny shapes' || echo 'full run')); budget ${TOTAL} s"
step environment 60 "${CLI[@]}" doctor
ADAPTER=$(grep -m1 '^adapter: ' "$LOG/environment.log" | sed 's/^adapter: //')
ENVLINE="commit $COMMIT; adapter: ${ADAPTER:-unknown}; driver: ${DRIVER:-no nvidia-smi}; node $(node --version); $(nproc) cores; load average $(cut -d' ' -f1-3 /proc/loadavg)"
echo "environment: $ENVLINE"

TORCH=0
if [ $DRY = 0 ] && python3 -c 'import torch, sys; sys.exit(0 if torch.cuda.is_available() else 1)' 2>/dev/null; then TORCH=1; fi
CPU_PEER=()
if [ $TORCH = 0 ]; then
  echo "peer skipped: no torch/CUDA (peer_nig_torch.py, peer_matmul_torch.py)"
  # the dry run still exercises a peer: the CPU one (bench/nig.ts --peer cpu: /usr/bin/python3 with torch), where it runs
  [ $DRY = 1 ] && /usr/bin/python3 -c 'import torch' 2>/dev/null && CPU_PEER=(--peer cpu --threads 1)
  [ $DRY = 1 ] && [ ${#CPU_PEER[@]} = 0 ] && echo "peer skipped: no torch for the CPU peer either (/usr/bin/python3)"
fi

# 1. the tuner, explicitly (on any adapter), for the products the NIG rows run
step tune 100 "${CLI[@]}" doctor --tune "${TUNE_ARGS[@]}"

# 2. matmul rows, ours then cuBLAS
step matmul 120 "${NODE[@]}" bench/matmul.ts --sizes "$MM_SIZES" --no-gpujs --no-sgemm "${MM_VARIANTS[@]}"
[ $TORCH = 1 ] && step peer-matmul 60 python3 "$PEER_DIR/peer_matmul_torch.py" ${MM_SIZES//,/ }

# 3. NIG at equal points
step nig "$([ $DRY = 1 ] && echo 150 || echo 120)" "${NODE[@]}" bench/nig.ts --shape $SHAPE --tokens $T --steps 50 --pairs "$PAIRS" --warmup $WARMUP --max-memory "$MEM" "${CPU_PEER[@]}"
[ $TORCH = 1 ] && step peer-nig 60 python3 "$PEER_DIR/peer_nig_torch.py" --shape $SHAPE --tokens $T --steps 50 --reps "$PAIRS"

# 4. NIG at equal accuracy: ours adaptive, the peer's recipe at m = 200
step nig-tol 120 "${NODE[@]}" bench/nig.ts --shape $SHAPE --tokens $TOL_T --tol "$TOL" --peer-steps 200 --pairs "$PAIRS" --warmup $WARMUP --max-memory "$MEM" "${CPU_PEER[@]}"
[ $TORCH = 1 ] && step peer-nig-200 60 python3 "$PEER_DIR/peer_nig_torch.py" --shape $SHAPE --tokens $TOL_T --steps 200 --reps "$PAIRS"

# 5. more rows, while time is left (the GPU machine only)
if [ $DRY = 0 ]; then
  step nig-512 60 "${NODE[@]}" bench/nig.ts --shape base --tokens 512 --steps 50 --pairs "$PAIRS" --warmup 1 --max-memory "$MEM"
  [ $TORCH = 1 ] && step peer-nig-512 45 python3 "$PEER_DIR/peer_nig_torch.py" --shape base --tokens 512 --steps 50 --reps "$PAIRS"
  step nig-large 60 "${NODE[@]}" bench/nig.ts --shape large --tokens 256 --steps 50 --pairs "$PAIRS" --warmup 1 --max-memory "$MEM"
  [ $TORCH = 1 ] && step peer-nig-large 45 python3 "$PEER_DIR/peer_nig_torch.py" --shape large --tokens 256 --steps 50 --reps "$PAIRS"
  step nig-2g 60 "${NODE[@]}" bench/nig.ts --shape base --tokens 256 --steps 50 --pairs "$PAIRS" --warmup 1
fi

# 6. the rows, from the logs
num() { sed -nE "$1" "$2" 2>/dev/null | head -1; }
ratio() { [ -n "$1" ] && [ -n "$2" ] && awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f×", a / b }' || echo "—"; }
ours_ms() { num "s/^BENCH nig $1 tokens=$2 steps=50 chunk=([0-9]+): ([0-9.]+) ms\/pair.*/\2 (chunk \1)/p" "$LOG/$3.log"; }
peer_ms() { num "s/^PEER torch-f32 $1 tokens=$2 steps=$3 .*: ([0-9.]+) ms\/pair.*/\1/p" "$LOG/$4.log"; }
{
  echo "gpu-run.sh $(date -u +%F), $([ $DRY = 1 ] && echo 'DRY RUN (software adapter, GPU-class kernels, tiny shapes: not a benchmark)' || echo 'GPU machine'); $ENVLINE"
  echo
  echo "tuner (doctor --tune): $(grep -m1 '^tuned in ' "$LOG/tune.log" 2>/dev/null || echo 'did not finish')"
  grep -E '^  M<=' "$LOG/tune.log" 2>/dev/null | sed 's/^  /- /'
  echo
  echo "| matmul f32, out = inp·Wᵀ + bias | ours default v4_64x64x8_4x4 (WGSL kernel, wall) | cuBLAS f32, TF32 off | ours / cuBLAS (time) |"
  echo "|---|---|---|---|"
  for s in ${MM_SIZES//,/ }; do
    o=$(awk -v s="$s" '$0 ~ "^"s"( |:)" { on = 1; next } on && /^  WGSL kernel/ { print $3 " ms, " $6 " GFLOP/s"; exit }' "$LOG/matmul.log" 2>/dev/null)
    p=$(num "s/^PEER matmul f32 $s: ([0-9.]+) ms ([0-9.]+) TFLOP\/s.*/\1 ms, \2 TFLOP\/s/p" "$LOG/peer-matmul.log")
    echo "| $s | ${o:-—} | ${p:-—} | $(ratio "${o%% *}" "${p%% *}") |"
  done
  pick=$(grep -m1 "^| tuned choice" "$LOG/matmul.log" 2>/dev/null | cut -d'|' -f4- | sed 's/^ *//; s/ *|$//')
  echo
  echo "matmul variants table (bench/matmul.ts), tuner's pick per size: ${pick:-—}"
  echo
  echo "| NIG of all FFN units, one pair, f32 | ours ms/pair | peer ms/pair | ours / peer |"
  echo "|---|---|---|---|"
  o=$(ours_ms $SHAPE $T nig); p=$(peer_ms $SHAPE $T 50 peer-nig)
  [ -z "$p" ] && p=$(num "s/^BENCH nig-peer-cpu $SHAPE tokens=$T steps=50: ([0-9.]+) ms\/pair.*/\1/p" "$LOG/nig.log") && [ -n "$p" ] && p="$p (CPU peer)"
  echo "| $SHAPE $T tokens, equal points (m = 50) | ${o:-—} | ${p:-—} | $(ratio "${o%% *}" "${p%% *}") |"
  tl=$(grep -m1 "^BENCH nig-tol $SHAPE tokens=$TOL_T " "$LOG/nig-tol.log" 2>/dev/null)
  o=$(echo "$tl" | sed -nE 's/.*: ([0-9.]+) ms\/pair.*error ≤ ([0-9.e+-]+) against the peer recipe.s ([0-9.e+-]+).*/\1 (error \2; peer recipe \3)/p')
  p=$(peer_ms $SHAPE $TOL_T 200 peer-nig-200)
  [ -z "$p" ] && p=$(echo "$tl" | sed -nE 's/.*peer right rule m = 200 ([0-9.]+) ms\/pair.*/\1 (CPU peer)/p')
  echo "| $SHAPE $TOL_T tokens, equal accuracy (ours --tol $TOL; peer right rule m = 200) | ${o:-—} | ${p:-—} | $(ratio "${o%% *}" "${p%% *}") |"
  if [ $DRY = 0 ]; then
    for r in "base 512 nig-512 peer-nig-512" "large 256 nig-large peer-nig-large" "base 256 nig-2g -"; do
      set -- $r
      o=$(ours_ms "$1" "$2" "$3"); p=$([ "$4" != - ] && peer_ms "$1" "$2" 50 "$4")
      echo "| $1 $2 tokens, m = 50$([ "$3" = nig-2g ] && echo ', default 2 GiB budget') | ${o:-—} | ${p:-—} | $(ratio "${o%% *}" "${p%% *}") |"
    done
  fi
  echo
  echo "peer: $([ $TORCH = 1 ] && echo "PyTorch on this GPU (peer_*_torch.py, f32, TF32 off)" || echo "peer skipped: no torch/CUDA$([ ${#CPU_PEER[@]} -gt 0 ] && echo '; the CPU peer (peer_nig_cpu.py, 1 thread) stands in for the NIG rows')")"
  echo "elapsed: $((SECONDS - T0)) s of ${TOTAL} s; failed or skipped steps: ${failed[*]:-none}"
} > "$LOG/results.md"
echo
echo "=== results (also in $LOG/results.md)"
cat "$LOG/results.md"
if [ ${#failed[@]} -gt 0 ]; then echo "gpu-run.sh: failed steps: ${failed[*]} (logs in $LOG)" >&2; exit 1; fi
echo "logs: $LOG"
