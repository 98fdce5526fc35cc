#!/usr/bin/env bash
# Trains the two shipped CIFAR-10 models (B = 2 and the piecewise-linear B = 1 baseline, same architecture) with
# bcos itself, resumably: run it again after an interruption and it continues where the checkpoints stopped.
#
#   tools/train_cifar_models.sh [RUNS_DIR]      (default runs; needs ../shared/datasets/cifar10-jpeg.tar.gz)
#
# Architecture: the v1 9-layer CIFAR-10 net at half width (32,32,64,64,64,128,128,128), MaxOut 2, the v1 scale and
# temperature for each B; Adam lr 1e-3 with a cosine schedule, batch 64, random crop (padding 4) and flip, seed 1.
# B = 2 for 24 epochs, B = 1 for 16 (the CPU budget: about 8 minutes per epoch on the idle 2-core build machine,
# 10-14 while other work shares it).
set -euo pipefail
runs=${1:-runs}
data=data/cifar10
bcos=.build/release/bcos
mkdir -p "$runs"
if [ ! -d "$data/train" ]; then
    mkdir -p "$data"
    tar -xzf ../shared/datasets/cifar10-jpeg.tar.gz -C "$data"
fi
[ -x "$bcos" ] || swift build -c release
for b in 2 1; do
    out="$runs/cifar10-b$b.safetensors"
    epochs=$([ "$b" = 2 ] && echo 24 || echo 16)
    if [ -f "${out%.safetensors}.train.safetensors" ]; then
        "$bcos" train --out "$out" --resume
    else
        "$bcos" train --data "$data" --widths 32,32,64,64,64,128,128,128 --b "$b" --epochs "$epochs" --seed 1 --out "$out"
    fi
    "$bcos" eval --model "$out" --data "$data"
done
