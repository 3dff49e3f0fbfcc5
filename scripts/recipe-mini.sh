#!/usr/bin/env bash
# `npm run recipe:mini -- CORPUS OUT [STAGE...]`: the whole BEiT-3 recipe on the mini-corpus, with
# beit3's own commands only, resumable stage by stage.
#
#   1 spm       SentencePiece vocabulary (beit3's Unigram trainer) on the corpus train texts
#   2 teacher   image–text contrastive model (retrieval fine-tune from random init) = VQ-KD teacher
#   3 vqkd      VQ-KD visual tokenizer distilled from that teacher on the corpus images
#   4 pretrain  masked data modeling over the three corpus streams
#   5 ft-*      fine-tuning of every task from the pretrained weights
#   6 scratch-* the same fine-tuning from random init (the ablation)
#   7 results   eval on val + test, baselines, q8 agreement → OUT/results.json (scripts/recipe-results.ts)
#
# A stage is done when OUT/<stage>/DONE exists; a rerun skips it. An interrupted stage resumes
# from its own checkpoint (--resume). FROM=DIR (e.g. shipped/beit3-mini/stages, what ship-mini.ts
# commits) restores a stage found there (fp16 weights back to fp32) instead of running it. Wall
# times go to OUT/times.jsonl. Sizes and budgets are environment variables (defaults: the shipped
# run); see docs/recipe.md.
set -euo pipefail
CORPUS=${1:?usage: recipe-mini.sh CORPUS OUT [stage...]}
OUT=${2:?usage: recipe-mini.sh CORPUS OUT [stage...]}
shift 2
ONLY=("$@")
ROOT=$(cd "$(dirname "$0")/.." && pwd)
BEIT3=${BEIT3:-"node --import tsx $ROOT/src/cli/main.ts"}
MODEL=${MODEL:-beit3_mini_patch8_64}
SIZE=${SIZE:-64}
VOCAB=${VOCAB:-4000}          # SentencePiece pieces; the model's vocab is VOCAB + 2 (BEiT-3 ids)
SEED=${SEED:-0}
THREADS=${THREADS:-}          # ORT threads per run (default: every core)
PT_STEPS=${PT_STEPS:-900}    # pretraining optimizer steps (32 images + 32 texts + 32 pairs each)
VQ_IMAGES=${VQ_IMAGES:-20000} # train-split images the visual tokenizer sees (seeded subset)
VQ_EPOCHS=${VQ_EPOCHS:-2}
TASKS=${TASKS:-"fashion-mnist emoji-group retrieval vqa nlvr2 caption"}
EVAL_ITEMS=${EVAL_ITEMS:-500} # val items scored after each fine-tuning epoch (results.json scores whole splits)

# One fine-tuning budget per task, the same from pretrained weights and from scratch: a seeded
# subset (max_train_samples) x epochs samples at batch 64, cosine schedule, lr 1e-3 with 30 warmup
# steps; retrieval and VQA at lr 3e-4 with 100 warmup steps, and VQA starts its answer biases at
# their train log-odds: at 1e-3 with zero biases both collapsed to an input-independent output
# (VQA answered "yes" to everything, retrieval's loss stayed at ln 64; see docs/recipe.md).
task_flags() {
  case $1 in
    fashion-mnist) echo --max_train_samples 12000 --epochs 2 ;;
    emoji-group) echo --epochs 2 ;;
    retrieval) echo --max_train_samples 16000 --epochs 1 --lr 3e-4 --warmup_steps 100 ;;
    vqa) echo --max_train_samples 16000 --epochs 1 --lr 3e-4 --warmup_steps 100 --head_bias_init prior ;;
    nlvr2) echo --max_train_samples 12000 --epochs 1 ;;
    caption) echo --max_train_samples 12000 --epochs 1 ;;
  esac
}
mkdir -p "$OUT"
OUT=$(cd "$OUT" && pwd)
CORPUS=$(cd "$CORPUS" && pwd)

wanted() { [ ${#ONLY[@]} -eq 0 ] && return 0; for s in "${ONLY[@]}"; do [[ $1 == $s ]] && return 0; done; return 1; }

# stage NAME CMD...: runs CMD once (logged to OUT/NAME.log), marks it DONE, records its wall time
stage() {
  local name=$1; shift
  wanted "$name" || return 0
  if [ -e "$OUT/$name/DONE" ]; then echo "== $name: done (skipped)"; return 0; fi
  if restore "$name"; then return 0; fi
  # two recipe processes may share OUT (e.g. one for ft-*, one for scratch-*): a stage runs once
  if ! mkdir "$OUT/$name.lock" 2>/dev/null; then echo "== $name: running in another process (remove $OUT/$name.lock if none)"; return 0; fi
  trap "rmdir '$OUT/$name.lock' 2>/dev/null" EXIT
  mkdir -p "$OUT/$name"
  echo "== $name: $(date -u +%H:%M:%S) → $OUT/$name.log"
  local t0=$(date +%s)
  "$@" >>"$OUT/$name.log" 2>&1 || { echo "!! $name failed (see $OUT/$name.log)"; rmdir "$OUT/$name.lock"; exit 1; }
  local t1=$(date +%s)
  echo "{\"stage\":\"$name\",\"wall_s\":$((t1 - t0)),\"finished\":\"$(date -u +%FT%TZ)\"}" >>"$OUT/times.jsonl"
  touch "$OUT/$name/DONE"
  rmdir "$OUT/$name.lock"
}
# restore NAME: copies FROM/NAME (a stage ship-mini.ts committed) into OUT/NAME, weights as float32
restore() {
  local src=${FROM:-}/$1 f
  [ -n "${FROM:-}" ] && [ -e "$src/stage.json" ] || return 1
  mkdir -p "$OUT/$1"
  for f in "$src"/*; do
    case $f in
      *.safetensors) $BEIT3 convert "$f" "$OUT/$1/$(basename "$f")" --dtype float32 >/dev/null || return 1 ;;
      *) cp "$f" "$OUT/$1/" ;;
    esac
  done
  touch "$OUT/$1/DONE"
  echo "== $1: restored from $src"
}
resume_flag() { [ -e "$1/checkpoint-last.safetensors" ] && echo "$2" || true; }

spm() {
  # train-split texts only: the text stream, the captions of train pairs, train questions/statements
  node -e '
    const fs = require("fs"), p = require("path"), c = process.argv[1];
    const out = fs.readFileSync(p.join(c, "pretrain/texts.txt"), "utf8").split("\n");
    for (const l of fs.readFileSync(p.join(c, "pretrain/pairs.jsonl"), "utf8").split("\n")) if (l) out.push(JSON.parse(l).text);
    for (const [f, k] of [["tasks/vqa/train.jsonl", "question"], ["tasks/nlvr2/train.jsonl", "statement"]])
      for (const l of fs.readFileSync(p.join(c, f), "utf8").split("\n")) if (l) out.push(JSON.parse(l)[k]);
    fs.writeFileSync(process.argv[2], out.filter((s) => s && s.trim()).join("\n") + "\n");
  ' "$CORPUS" "$OUT/spm/train.txt" || return 1
  $BEIT3 tokenizer-train --input "$OUT/spm/train.txt" --vocab-size "$VOCAB" --out "$OUT/spm/beit3-mini.spm" --json || return 1
  rm "$OUT/spm/train.txt"
}

# finetune NAME TASK [--init CKPT]: one fine-tuning run of the task's budget (ft-, scratch- and the
# teacher share it)
finetune() {
  local name=$1 task=$2; shift 2
  $BEIT3 finetune --task "$task" --model "$MODEL" --data "$CORPUS" --output "$OUT/$name" \
    --sentencepiece_model "$OUT/spm/beit3-mini.spm" --input_size "$SIZE" --num_max_bpe_tokens 32 \
    --batch_size 64 --lr 1e-3 --min_lr 1e-5 --warmup_epochs 1 --warmup_steps 30 --layer_decay 1 \
    --max_eval_samples "$EVAL_ITEMS" --seed "$SEED" ${THREADS:+--threads $THREADS} \
    $(task_flags "$task") $(resume_flag "$OUT/$name" --resume) "$@" ${FT_FLAGS:-}
}

# the visual tokenizer sees train-split images only: a folder of links to a seeded subset of them
vqkd_images() {
  node -e '
    const fs = require("fs"), p = require("path"), [c, dir, n] = process.argv.slice(1);
    const all = fs.readFileSync(p.join(c, "pretrain/images.jsonl"), "utf8").split("\n").filter(Boolean).map((l) => JSON.parse(l).image);
    let s = 12345; const rnd = () => ((s = (s * 1103515245 + 12345) % 2147483648) / 2147483648);
    for (let i = all.length - 1; i > 0; i--) { const j = Math.floor(rnd() * (i + 1)); [all[i], all[j]] = [all[j], all[i]]; }
    fs.rmSync(dir, { recursive: true, force: true }); fs.mkdirSync(dir, { recursive: true });
    for (const f of all.slice(0, Number(n))) fs.symlinkSync(p.join(c, f), p.join(dir, p.basename(f)));
  ' "$CORPUS" "$OUT/vqkd-images" "$VQ_IMAGES"
}
vqkd() {
  [ -e "$OUT/vqkd/checkpoint-last.safetensors" ] || vqkd_images || return 1
  $BEIT3 visual-tokenizer-train --model vqkd_mini --teacher "beit3:${MODEL}_retrieval:$OUT/teacher/model.safetensors" \
    --data "$OUT/vqkd-images" --output "$OUT/vqkd" --input_size "$SIZE" --epochs "$VQ_EPOCHS" --batch_size 64 --lr 1e-3 \
    --warmup_epochs 1 --seed "$SEED" ${THREADS:+--threads $THREADS} $(resume_flag "$OUT/vqkd" --resume) --json ${VQ_FLAGS:-}
}

stage spm spm
# the teacher is the retrieval model fine-tuned from random init = the scratch-retrieval run
stage teacher finetune teacher retrieval --scratch_init beit
stage vqkd vqkd
stage pretrain $BEIT3 pretrain --corpus "$CORPUS" --model "${MODEL}_pretraining" --vocab-size $((VOCAB + 2)) \
  --text-tokenizer "$OUT/spm/beit3-mini.spm" --visual-tokenizer "$OUT/vqkd/tokenizer.safetensors" --targets online \
  --images-batch 32 --texts-batch 32 --pairs-batch 32 --text-len 32 --steps "$PT_STEPS" --warmup-steps 100 --lr 2e-3 \
  --steps-per-epoch 250 --format safetensors --output "$OUT/pretrain" --seed "$SEED" ${THREADS:+--threads $THREADS} \
  $(resume_flag "$OUT/pretrain" --resume) --json ${PT_FLAGS:-}
for t in $TASKS; do stage "ft-$t" finetune "ft-$t" "$t" --init "$OUT/pretrain/pretrained.safetensors"; done
for t in $TASKS; do
  if [ "$t" = retrieval ] && [ -e "$OUT/teacher/DONE" ] && [ ! -e "$OUT/scratch-retrieval/DONE" ] && wanted scratch-retrieval; then
    # the teacher IS the retrieval model fine-tuned from random init with the same budget
    mkdir -p "$OUT/scratch-retrieval" && cp -r "$OUT/teacher/." "$OUT/scratch-retrieval/"
    continue
  fi
  stage "scratch-$t" finetune "scratch-$t" "$t" --scratch_init beit
done
stage results node --import tsx "$ROOT/scripts/recipe-results.ts" "$CORPUS" "$OUT" --val-items "${VAL_ITEMS:-2000}"
[ -e "$OUT/results/DONE" ] && echo "recipe done: $OUT/results.json" || true
