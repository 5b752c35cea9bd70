#!/usr/bin/env bash
# NIG over IR datasets as a Slurm array job: N shards (one GPU each), then one merge that starts only when
# every shard has succeeded. See docs/sharding.md for how shards, resume and merge fit together.
#
# Submit from the project root (the script submits itself twice):
#   N=8 MODEL=weights/minilm-l6 DATASETS=dl19,dl20,scifact bash docs/slurm-array.sh
# which runs
#   sbatch --array=0-7 --gres=gpu:1 ... docs/slurm-array.sh           (STEP=shard: task i → runs/shard-i)
#   sbatch --dependency=afterok:<array job> ... docs/slurm-array.sh   (STEP=merge: runs/shard-* → runs/merged)
# Settings (environment; the same values reach every task through --export=ALL):
#   N            shards = array tasks (default 8)             MODEL     model folder (config.json + weights + tokenizer)
#   DATASETS     --dataset names or groups (default dl19,dl20) STEPS     m (default 50)
#   RUN          output root (default runs)                    ARGS      more attribute options, identical for
#                                                                        every shard, e.g. "--per-dataset 500 --seed 0"
#   GPU_GRES     each shard's --gres (default gpu:1; set it empty for none, e.g. CPU-only nodes)
#   CPUS, MEM, TIME   each shard's --cpus-per-task, --mem, --time (defaults 4, 32G, 24:00:00)
#   MERGE_MEM    the merge job's --mem (default 8G)
#   THROTTLE     at most this many tasks at once (--array=0-(N-1)%THROTTLE; default: no limit)
#   CHECKPOINT_EVERY  pairs between checkpoints (default 25; docs/sharding.md says what one costs)
# sbatch's own input variables (SBATCH_PARTITION, SBATCH_ACCOUNT, SBATCH_QOS, ...) apply to both jobs.
# Tested as it is on a one-node Slurm (scripts/slurm-local.sh, npm run test:slurm); see docs/sharding.md.
# Every shard must get the same model and options: the run key (model hash, options, pair list, N) is
# checked by `merge`, which refuses shards of different runs, duplicates and missing shards.
#SBATCH --job-name=ir-neurons-nig
#SBATCH --requeue
#SBATCH --open-mode=append
#SBATCH --output=runs/logs/%x-%A_%a.out
set -euo pipefail

N=${N:-8}
MODEL=${MODEL:-weights/minilm-l6}
DATASETS=${DATASETS:-dl19,dl20}
STEPS=${STEPS:-50}
RUN=${RUN:-runs}
ARGS=${ARGS:-}
# In a batch job Slurm runs a copy of this script from its spool folder: work from where sbatch was called.
cd "${SLURM_SUBMIT_DIR:-$(pwd)}"
CLI=(node bin/ir-neurons.js)

case "${STEP:-submit}" in
  submit)
    [ -n "${SLURM_JOB_ID:-}" ] && { echo "slurm-array.sh: STEP is unset inside job $SLURM_JOB_ID; submit with 'bash docs/slurm-array.sh', not sbatch" >&2; exit 2; }
    mkdir -p "$RUN/logs"
    array="0-$((N - 1))${THROTTLE:+%$THROTTLE}"
    gres=${GPU_GRES-gpu:1}
    jid=$(sbatch --parsable --array="$array" ${gres:+--gres="$gres"} --cpus-per-task="${CPUS:-4}" --mem="${MEM:-32G}" \
      --time="${TIME:-24:00:00}" --output="$RUN/logs/%x-%A_%a.out" --export=ALL,STEP=shard,N="$N",RUN="$RUN" "$0")
    jid=${jid%%;*} # --parsable prints "jobid[;cluster]"
    mid=$(sbatch --parsable --dependency=afterok:"$jid" --kill-on-invalid-dep=yes --job-name=ir-neurons-merge \
      --cpus-per-task=1 --mem="${MERGE_MEM:-8G}" --time=1:00:00 --output="$RUN/logs/%x-%j.out" \
      --export=ALL,STEP=merge,N="$N",RUN="$RUN" "$0")
    echo "submitted shards: array job $jid (tasks $array); merge: job ${mid%%;*} (after all shards succeed) -> $RUN/merged"
    ;;

  shard)
    # --shard auto/N reads SLURM_ARRAY_TASK_ID; the array must be 0..N-1.
    out="$RUN/shard-$SLURM_ARRAY_TASK_ID"
    resume=()
    if [ -f "$out/aggregate.safetensors" ]; then
      echo "shard $SLURM_ARRAY_TASK_ID/$N: already finished ($out/aggregate.safetensors)"; exit 0
    fi
    # A requeued or re-submitted task finds its checkpoint and continues from it; without --resume the CLI
    # refuses to overwrite an existing checkpoint.
    [ -f "$out/checkpoint.safetensors" ] && resume=(--resume)
    echo "shard $SLURM_ARRAY_TASK_ID/$N on $(hostname) ${CUDA_VISIBLE_DEVICES:+GPU $CUDA_VISIBLE_DEVICES }${resume[*]:-(fresh)}"
    # shellcheck disable=SC2086 # ARGS is a list of options, split on purpose
    "${CLI[@]}" attribute --model "$MODEL" --dataset "$DATASETS" --steps "$STEPS" $ARGS \
      --shard "auto/$N" --checkpoint-every "${CHECKPOINT_EVERY:-25}" ${resume[@]+"${resume[@]}"} --out "$out"
    ;;

  merge)
    shards=()
    for ((i = 0; i < N; i++)); do shards+=("$RUN/shard-$i"); done
    "${CLI[@]}" merge --out "$RUN/merged" "${shards[@]}"
    ;;

  *)
    echo "slurm-array.sh: STEP='$STEP' is not submit, shard or merge" >&2; exit 2 ;;
esac
