#!/usr/bin/env python3
"""Time the OFFICIAL v2 B-cos ImageNet models (bcos.models.pretrained, random weights, no download) on the CPU.

The PyTorch side of `tools/bench_compare.py --arch NAME` for `bcos bench --arch NAME` (same architecture, random
weights, batch-norm statistics calibrated the same way, one random 224x224 image, same threads and repetitions):

- explain one image (`model.explanation_mode()`, backward of the top logit), two ways reported separately: with the
  weights frozen (`requires_grad_(False)`, only the input requires grad) and as users call it (`model.explain` does
  this), weights requiring grad, so the backward also computes every weight gradient.
- forward throughput at --batch under `torch.inference_mode()`.
- peak resident memory after each explanation.

    ~/bcos-venv/bin/python tools/bench_torch_zoo.py --arch resnet50 [--threads 2] [--repeats 10] [--json]
"""
import argparse
import os
import sys

import torch
import bcos.models.pretrained as zoo

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from bench_torch import encode, report, time_explanations, timed  # noqa: E402  (shared with the CIFAR-10 side)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--arch", default="resnet50")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--batch", type=int, default=4)
    ap.add_argument("--repeats", type=int, default=10,
                    help="as `bcos bench --repeats`: explain max(N, 10), forward N timed runs")
    ap.add_argument("--json", action="store_true", help="one JSON object instead of text")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    model = getattr(zoo, args.arch)(pretrained=False)
    # As `bcos bench --arch`: batch-norm statistics from one training-mode pass (momentum 1) on two random images, so
    # activations keep a sensible scale (random statistics shrink them towards denormals).
    for m in model.modules():
        if isinstance(m, torch.nn.modules.batchnorm._BatchNorm):
            m.momentum = 1.0
    with torch.no_grad():
        model.train()(encode(torch.rand(2, 3, 224, 224)))
    model.eval()
    one = encode(torch.rand(1, 3, 224, 224))

    def explain(x):
        with model.explanation_mode():
            out = model(x)
            out[0, out[0].argmax()].backward()

    result = {"torch": torch.__version__, "model": f"v2 {args.arch} (random weights, calibrated batch norms)",
              "threads": args.threads, "batch": args.batch}
    result.update(time_explanations(model, one, explain, max(args.repeats, 10), 1))

    many = encode(torch.rand(args.batch, 3, 224, 224))

    def forward():
        with torch.inference_mode():
            model(many)

    median, best = timed(forward, args.repeats, 1)
    result["forward_img_s"], result["forward_best_img_s"] = args.batch / median, args.batch / best
    report(result, args.json)


if __name__ == "__main__":
    main()
