#!/usr/bin/env python3
"""Time the OFFICIAL v1 CIFAR-10 9-layer B-cos net (full width, B=2, MaxOut 2) on the CPU.

The baseline that `bcos bench` compares against: explanation latency for one 32x32 image
(forward + backward in explanation mode), forward throughput at batch 64, and training
throughput at batch 64 (forward, BCE loss, backward, Adam step), with the same number of threads. Run it next to `bcos bench` on the same machine:

    ~/bcos-venv/bin/python tools/bench_torch.py --v1 /tmp/bcos-v1 [--threads 2]

It prints one line `torch_explain_ms=... torch_forward_img_s=... torch_train_img_s=...` that can be
passed on as `bcos bench --torch-explain-ms ... --torch-forward ... --torch-train ...`.
"""
import argparse
import statistics
import sys
import time

import torch
from torch import nn


def build(v1_path: str) -> nn.Sequential:
    sys.path.insert(0, v1_path)
    from modules.bcosconv2d import BcosConv2d          # noqa: E402
    from modules.utils import FinalLayer, MyAdaptiveAvgPool2d  # noqa: E402
    widths = [64, 64, 128, 128, 128, 256, 256, 256, 10]
    kernels = [3] * 8 + [1]
    strides = [1, 1, 2, 1, 1, 2, 1, 1, 1]
    paddings = [1] * 8 + [0]
    layers, c_in = [], 6
    for i, c_out in enumerate(widths):
        layers.append(BcosConv2d(c_in, c_out, kernel_size=kernels[i], stride=strides[i], padding=paddings[i],
                                 max_out=2, b=2, scale=10 ** (-2 + 1.5 * 0.5)))
        c_in = c_out
    layers += [MyAdaptiveAvgPool2d((1, 1)), FinalLayer(bias=-2.197225, norm=100)]
    model = nn.Sequential(*layers).eval()
    for m in model:
        if isinstance(m, BcosConv2d):
            m.explanation_mode(True)
    return model


def median_seconds(fn, repeats: int, warmup: int) -> float:
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--v1", required=True, help="checkout of moboehle/B-cos")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--repeats", type=int, default=20)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    model = build(args.v1)
    rgb = torch.rand(1, 3, 32, 32)
    one = torch.cat([rgb, 1 - rgb], 1)

    def explain():
        x = one.clone().requires_grad_(True)
        out = model(x)
        out[0, out[0].argmax()].backward()
        return x.grad

    rgb = torch.rand(args.batch, 3, 32, 32)
    many = torch.cat([rgb, 1 - rgb], 1)

    def forward():
        with torch.no_grad():
            model(many)

    e = median_seconds(explain, args.repeats, 3)
    f = median_seconds(forward, max(3, args.repeats // 4), 1)

    train_model = build(args.v1)
    for m in train_model:
        if hasattr(m, "explanation_mode"):
            m.explanation_mode(False)
    train_model.train()
    opt = torch.optim.Adam(train_model.parameters(), lr=1e-4)
    onehot = torch.nn.functional.one_hot(torch.arange(args.batch) % 10, 10).float()

    def train_step():
        opt.zero_grad()
        loss = torch.nn.functional.binary_cross_entropy_with_logits(train_model(many), onehot)
        loss.backward()
        opt.step()

    t = median_seconds(train_step, max(3, args.repeats // 4), 1)
    print(f"torch {torch.__version__}, {args.threads} threads")
    print(f"torch_explain_ms={e * 1e3:.2f} torch_forward_img_s={args.batch / f:.1f} torch_train_img_s={args.batch / t:.1f}")


if __name__ == "__main__":
    main()
