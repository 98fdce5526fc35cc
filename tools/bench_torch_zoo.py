#!/usr/bin/env python3
"""Time the OFFICIAL v2 B-cos ImageNet models (bcos.models.pretrained, random weights, no download) on the CPU.

The baseline for `bcos bench --arch NAME`: explanation latency for one 224x224 image (forward + backward of the top
logit in explanation mode, as `model.explain` does minus the picture) and forward throughput at a small batch, with
the same number of threads. Run it next to `bcos bench --arch NAME` on the same machine:

    /work/venv/bin/python tools/bench_torch_zoo.py --arch resnet50 [--threads 2] [--repeats 10]
"""
import argparse
import os
import resource
import sys

import torch
import bcos.models.pretrained as zoo

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from bench_torch import median_seconds  # noqa: E402  (the same timing loop as the CIFAR-10 baseline)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--arch", default="resnet50")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--batch", type=int, default=4)
    ap.add_argument("--repeats", type=int, default=10)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    model = getattr(zoo, args.arch)(pretrained=False)
    # As `bcos bench --arch`: batch-norm statistics from one training-mode pass (momentum 1) on random images, so
    # activations keep a sensible scale (random statistics shrink them towards denormals).
    for m in model.modules():
        if isinstance(m, torch.nn.BatchNorm2d):
            m.momentum = 1.0
    calib = torch.rand(2, 3, 224, 224)
    with torch.no_grad():
        model.train()(torch.cat([calib, 1 - calib], 1))
    model.eval()
    one = torch.rand(1, 3, 224, 224)
    one = torch.cat([one, 1 - one], 1)

    def explain():
        x = one.clone().requires_grad_(True)
        with model.explanation_mode():
            out = model(x)
            out[0, out[0].argmax()].backward()
        return x.grad

    many = torch.rand(args.batch, 3, 224, 224)
    many = torch.cat([many, 1 - many], 1)

    def forward():
        with torch.no_grad():
            model(many)

    e = median_seconds(explain, args.repeats, 2)
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    f = median_seconds(forward, max(3, args.repeats // 2), 1)
    print(f"torch {args.arch}: explain {e * 1e3:.1f} ms (peak RSS {rss:.0f} MiB), forward batch {args.batch} "
          f"{args.batch / f:.2f} img/s, {args.threads} threads")


if __name__ == "__main__":
    main()
