#!/usr/bin/env bash
# Score a corpus with `lstmq score` on a SLURM array: task k of K scores the
# k-th of K pieces of the input (`split -n l/k/K`, whole lines), and a merge
# step concatenates the pieces in order and numbers the lines again, so that
# the result equals one `lstmq score` run on the whole input.
#
#   export LSTMQ=/shared/bin/lstmq MODEL=/shared/model.pth DATA=/shared/wikitext-2   # or VOCAB=/shared/vocab.txt
#   jid=$(sbatch --parsable --array=0-15 deploy/slurm/score.sh score corpus.txt out/)
#   sbatch --dependency=afterok:$jid deploy/slurm/score.sh merge corpus.txt out/   # → out/scores.jsonl
#
# score: task $SLURM_ARRAY_TASK_ID of $SLURM_ARRAY_TASK_COUNT (--array=0-(K-1))
#        writes OUT/part-KKKKK.jsonl (through a temporary file: a part exists
#        only complete). SHARDS=K overrides the task count.
# merge: checks that all K parts exist and writes OUT/scores.jsonl.
# Bad lines do not stop a task: they become {"line": n, "error": …} (--skip-bad).
# Extra `lstmq score` flags go in LSTMQ_FLAGS (e.g. "--quantize int8 --batch-size 16").
#
#SBATCH --job-name=lstmq-score
#SBATCH --cpus-per-task=2
#SBATCH --mem=2G
#SBATCH --time=12:00:00
#SBATCH --output=lstmq-score-%A_%a.log
set -euo pipefail

usage() { echo "usage: $0 score|merge INPUT OUTDIR (env LSTMQ, MODEL, DATA or VOCAB; SLURM_ARRAY_TASK_ID, SLURM_ARRAY_TASK_COUNT or SHARDS)" >&2; exit 2; }
[ $# -eq 3 ] || usage
mode=$1 input=$2 out=$3
[ -f "$input" ] || { echo "$0: input $input: no such file" >&2; exit 2; }
shards=${SHARDS:-${SLURM_ARRAY_TASK_COUNT:-}}
[[ "$shards" =~ ^[1-9][0-9]*$ ]] || { echo "$0: the number of pieces is unknown: run as an array job or set SHARDS" >&2; exit 2; }
part() { printf '%s/part-%05d.jsonl' "$out" "$1"; }

case $mode in
score)
  task=${SLURM_ARRAY_TASK_ID:-}
  [[ "$task" =~ ^[0-9]+$ ]] || { echo "$0: SLURM_ARRAY_TASK_ID is not set (run with sbatch --array=0-$((shards - 1)))" >&2; exit 2; }
  [ "$task" -lt "$shards" ] || { echo "$0: task $task of $shards pieces (--array=0-$((shards - 1)))" >&2; exit 2; }
  [ -n "${MODEL:-}" ] || { echo "$0: set MODEL to the model file" >&2; exit 2; }
  LSTMQ=${LSTMQ:-lstmq}
  vocab=()
  if [ -n "${DATA:-}" ]; then vocab=(--data "$DATA"); elif [ -n "${VOCAB:-}" ]; then vocab=(--vocab "$VOCAB"); fi
  mkdir -p "$out"
  dst=$(part "$task")
  # The lines of piece task+1 of $shards; `lstmq score` numbers them from 1.
  # shellcheck disable=SC2086 # LSTMQ_FLAGS is a list of flags
  split -n "l/$((task + 1))/$shards" "$input" |
    "$LSTMQ" score --model "$MODEL" "${vocab[@]}" --threads "${SLURM_CPUS_PER_TASK:-0}" --skip-bad ${LSTMQ_FLAGS:-} >"$dst.tmp"
  mv "$dst.tmp" "$dst"
  ;;
merge)
  for ((k = 0; k < shards; k++)); do
    [ -f "$(part "$k")" ] || { echo "$0: $(part "$k") is missing: task $k failed or has not run" >&2; exit 1; }
  done
  # Pieces in order, each line's "line" replaced by its number in the whole input.
  for ((k = 0; k < shards; k++)); do cat "$(part "$k")"; done |
    awk '{ if (!sub(/^\{"line":[0-9]+/, "{\"line\":" NR)) { print "bad line in the parts: " $0 > "/dev/stderr"; exit 1 }; print }' >"$out/scores.jsonl.tmp"
  want=$(wc -l <"$input") got=$(wc -l <"$out/scores.jsonl.tmp")
  # wc -l misses a last line without "\n".
  if [ -s "$input" ] && [ "$(tail -c 1 "$input" | od -An -c | tr -d ' ')" != '\n' ]; then want=$((want + 1)); fi
  [ "$want" -eq "$got" ] || { echo "$0: $got scored lines for $want input lines" >&2; exit 1; }
  mv "$out/scores.jsonl.tmp" "$out/scores.jsonl"
  ;;
*) usage ;;
esac
