#!/usr/bin/env bash
# lstmq bench's anchors: PyTorch and ONNX Runtime on the tutorial's evaluate() (bptt 25), for any of the
# word_language_model example's models (LSTM, GRU, RNN_TANH, RNN_RELU; a state_dict .pth or main.py's
# torch.save(model) .pt).
#
# usage: bench/anchors/anchors.sh [options] MODEL DATA_DIR ROWS
#   ROWS                 the first ROWS rows of batchify(test, BATCH) (0: all); at batch 1, the first ROWS tokens
#   --threads N          intra-op threads of every run (torch.set_num_threads, ORT intraOpNumThreads); default 1
#   --batch-size B       evaluate batchify(test, B); default 1
#   --nonlinearity NL    tanh or relu, for a state_dict RNN (the file does not record it); default tanh
#   --rounds R           rounds of all runs, the order of PyTorch and ORT swapped on even rounds; default 1
#   --only pytorch|ort   one runtime only
#
# Rows: pytorch fp32, pytorch int8 (quantize_dynamic({LSTM, GRU, Linear}, qint8), onednn; nn.RNN stays float),
# ort fp32 (torch.onnx.export), and for an LSTM ort int8 (DynamicQuantizeLSTM; ONNX Runtime has no int8 GRU or RNN).
# stdout: one JSON line per run, {"impl", "which", "kind", "round", "loss", "seconds", "tokens", "threads",
# "batch_size"}; stderr: progress.
#
# What is missing is installed first: Debian's python3-torch, python3-onnx, libopenblas0-openmp, nodejs, npm
# (apt-get; sudo when not root), then, unless `npm ci` was run in this folder, onnxruntime-node by `npm ci` of
# this folder's package.json and package-lock.json into the cache folder, $LSTMQ_ANCHORS_CACHE (default
# ~/.cache/lstmq-anchors), which also holds the ONNX exports, one folder per checkpoint. $PYTHON is the
# interpreter (default /usr/bin/python3, Debian's).
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
PY=${PYTHON:-/usr/bin/python3}
export PYTHONDONTWRITEBYTECODE=1 # no __pycache__ in the checkout
log() { printf 'anchors: %s\n' "$*" >&2; }
fail() {
	log "$*"
	exit 2
}

threads=1 batch=1 nonlinearity= rounds=1 only=
args=()
while [ $# -gt 0 ]; do
	case $1 in
	--threads) threads=${2:?--threads needs a value}; shift 2 ;;
	--batch-size) batch=${2:?--batch-size needs a value}; shift 2 ;;
	--nonlinearity) nonlinearity=${2?--nonlinearity needs a value}; shift 2 ;;
	--rounds) rounds=${2:?--rounds needs a value}; shift 2 ;;
	--only) only=${2:?--only needs a value}; shift 2 ;;
	--) shift; args+=("$@"); break ;;
	-?*) fail "unknown option $1 (see the comment at the top of $0)" ;;
	*) args+=("$1"); shift ;;
	esac
done
set -- "${args[@]}"
[ $# -eq 3 ] || fail "usage: anchors.sh [--threads N] [--batch-size B] [--nonlinearity tanh|relu] [--rounds R] [--only pytorch|ort] MODEL DATA_DIR ROWS"
model=$1 data=$2 rows=$3
for v in threads batch rounds; do
	[[ ${!v} =~ ^[1-9][0-9]*$ ]] || fail "--${v/batch/batch-size} must be a positive integer, got '${!v}'"
done
[[ $rows =~ ^[0-9]+$ ]] || fail "ROWS must be an integer >= 0, got '$rows'"
case $nonlinearity in '' | tanh | relu) ;; *) fail "--nonlinearity must be tanh or relu, got '$nonlinearity'" ;; esac
case $only in '' | pytorch | ort) ;; *) fail "--only must be pytorch or ort, got '$only'" ;; esac
[ -f "$model" ] || fail "$model: no such file"
for f in train valid test; do [ -f "$data/$f.txt" ] || fail "$data/$f.txt: no such file (DATA_DIR needs train.txt, valid.txt, test.txt)"; done

# Install what is missing.
need=()
"$PY" -c 'import torch, onnx' 2>/dev/null || need+=(python3-torch python3-onnx)
if command -v dpkg-query >/dev/null; then
	dpkg-query -W -f='${Status}\n' libopenblas0-openmp 2>/dev/null | grep -q 'install ok installed' || need+=(libopenblas0-openmp)
fi
if [ "$only" != pytorch ]; then
	command -v node >/dev/null || need+=(nodejs)
	command -v npm >/dev/null || need+=(npm)
fi
if [ ${#need[@]} -gt 0 ]; then
	command -v apt-get >/dev/null || fail "missing ${need[*]}, and no apt-get to install them with: install them (or their equivalents) first"
	sudo=
	[ "$(id -u)" -eq 0 ] || sudo=sudo
	log "installing ${need[*]} (apt-get)"
	$sudo apt-get update -qq >&2
	$sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need[@]}" >&2
fi

cache=${LSTMQ_ANCHORS_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/lstmq-anchors}
mkdir -p "$cache"
exec 8>"$cache/.lock"
flock 8 # one installer or exporter at a time per cache

# onnxruntime-node: from `npm ci` in this folder if it was run here, else installed into the cache.
modules=$cache/node_modules
[ -d "$HERE/node_modules/onnxruntime-node" ] && modules=$HERE/node_modules
if [ "$only" != pytorch ] && [ "$modules" != "$HERE/node_modules" ] && ! cmp -s "$HERE/package-lock.json" "$modules/.lstmq-package-lock.json"; then
	log "installing onnxruntime-node into $cache (npm ci)"
	cp "$HERE/package.json" "$HERE/package-lock.json" "$cache/"
	# --ignore-scripts: the package's install script only fetches GPU libraries; the CPU binding is in the tarball.
	(cd "$cache" && npm ci --ignore-scripts --no-audit --no-fund --loglevel=error >&2)
	cp "$HERE/package-lock.json" "$modules/.lstmq-package-lock.json"
fi

# The ONNX graphs of this checkpoint, made again when the checkpoint, the nonlinearity or the exporter changes.
key=$( (sha256sum <"$model" && printf '%s\n' "$nonlinearity" && cat "$HERE/rnnlm.py" "$HERE/anchor.py" "$HERE/ort_int8.py") | sha256sum | cut -c1-32)
graphs=$cache/graphs/$key
if [ "$only" != pytorch ] && [ ! -f "$graphs/meta.json" ]; then
	log "exporting $model to ONNX in $graphs"
	rm -rf "$graphs.tmp" && mkdir -p "$graphs.tmp"
	if ! "$PY" "$HERE/anchor.py" export "$model" "$nonlinearity" "$graphs.tmp" >"$cache/export.log" 2>&1; then
		tail -n 5 "$cache/export.log" >&2
		fail "ONNX export failed (log: $cache/export.log)"
	fi
	rm -rf "$graphs" && mv "$graphs.tmp" "$graphs"
fi
flock -u 8

export OMP_NUM_THREADS=$threads OPENBLAS_NUM_THREADS=$threads MKL_NUM_THREADS=$threads
work=$(mktemp -d "${TMPDIR:-/tmp}/lstmq-anchors.XXXXXX")
trap 'rm -rf "$work"' EXIT
if [ "$only" != pytorch ]; then
	"$PY" "$HERE/anchor.py" tokens "$graphs/meta.json" "$data" "$rows" "$batch" "$work/tokens.bin"
	kind=$("$PY" -c 'import json, sys; print(json.load(open(sys.argv[1]))["kind"])' "$graphs/meta.json")
fi

run() { # impl which round: prints the run's JSON line with its round
	local line
	if [ "$1" = pytorch ]; then
		line=$("$PY" "$HERE/anchor.py" eval "$2" "$model" "$nonlinearity" "$data" "$rows" "$batch" "$threads")
	else
		line=$(NODE_PATH=$modules node "$HERE/ort_eval.js" "$graphs/$2.onnx" "$work/tokens.bin" "$batch" "$threads")
	fi
	line=$(printf '%s\n' "$line" | tail -n 1)
	printf '%s, "round": %d}\n' "${line%\}}" "$3"
}

for r in $(seq 1 "$rounds"); do
	impls="pytorch ort"
	[ $((r % 2)) -eq 0 ] && impls="ort pytorch"
	[ -n "$only" ] && impls=$only
	for which in fp32 int8; do
		for impl in $impls; do
			if [ "$impl/$which" = ort/int8 ] && [ ! -f "$graphs/int8.onnx" ]; then
				[ "$r" -eq 1 ] && log "no ort int8 row: ONNX Runtime has no int8 $kind"
				continue
			fi
			log "round $r/$rounds: $impl $which ($threads thread(s), batch $batch)"
			run "$impl" "$which" "$r"
		done
	done
done
