#!/usr/bin/env python3
"""Time the OFFICIAL v1 CIFAR-10 9-layer B-cos net (full width, B=2, MaxOut 2) on the CPU.

The PyTorch side of `tools/bench_compare.py` for the CIFAR-10 workload of `bcos bench` (same net, random weights,
one random 32x32 image, batch 64, same number of threads, the same repetition counts):

- explain one image, two ways, reported separately: with the weights frozen (`requires_grad_(False)`; only the
  input requires grad), the fair anchor for bcos, which never computes weight gradients; and "as users call it",
  with the weights still requiring grad, so `.backward()` also computes every weight gradient. Both in the official
  explanation mode (`explanation_mode(True)`: the dynamic scale detached) and a backward of the top logit.
- forward throughput at --batch under `torch.inference_mode()`.
- training throughput at --batch: zero_grad, forward, BCE with logits on one-hot targets, backward, Adam step.
- peak resident memory after the frozen explanation, after the as-called one and at the end (after training).

    ~/bcos-venv/bin/python tools/bench_torch.py --v1 /tmp/bcos-v1 [--threads 2] [--repeats 10] [--json]
"""
import argparse
import json
import resource
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
    return nn.Sequential(*layers).eval()


def set_explanation_mode(model: nn.Module, on: bool) -> None:
    """The official v1 switch: detach the dynamic scale (and the patch norm) from the graph."""
    for m in model.modules():
        if hasattr(m, "explanation_mode"):
            m.explanation_mode(on)


def timed(fn, repeats: int, warmup: int) -> tuple:
    """Median and fastest of `repeats` timed calls after `warmup` untimed ones, in seconds (as bcos's
    `Benchmark.timed`: the median of an even count is the upper middle run)."""
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(max(1, repeats)):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    times.sort()
    return times[len(times) // 2], times[0]


def peak_rss_mib() -> float:
    """Peak resident memory of this process so far (Linux reports ru_maxrss in KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def encode(rgb: torch.Tensor) -> torch.Tensor:
    """The B-cos input encoding [r, g, b, 1-r, 1-g, 1-b]."""
    return torch.cat([rgb, 1 - rgb], 1)


def time_explanations(model: nn.Module, one: torch.Tensor, explain, repeats: int, warmup: int) -> dict:
    """Explain latency and peak RSS with the weights frozen, then with them requiring grad (as users call it)."""
    out = {}
    for name, weights_grad in [("frozen", False), ("as_called", True)]:
        for p in model.parameters():
            p.requires_grad_(weights_grad)

        def run():
            x = one.clone().requires_grad_(True)
            explain(x)
            return x.grad

        median, best = timed(run, repeats, warmup)
        out[f"explain_{name}_ms"], out[f"explain_{name}_best_ms"] = median * 1e3, best * 1e3
        out[f"explain_{name}_peak_rss_mib"] = peak_rss_mib()
    for p in model.parameters():
        p.requires_grad_(False)
    return out


def report(result: dict, as_json: bool) -> None:
    if as_json:
        print(json.dumps(result, sort_keys=True))
        return
    print(f"torch {result['torch']}: {result['model']}, {result['threads']} threads")
    print("medians (fastest run in brackets)")
    print(f"explain, weights frozen:          {result['explain_frozen_ms']:8.2f} ms [{result['explain_frozen_best_ms']:.2f}]"
          f"  (peak RSS {result['explain_frozen_peak_rss_mib']:.0f} MiB)")
    print(f"explain, as called (weight grads): {result['explain_as_called_ms']:7.2f} ms [{result['explain_as_called_best_ms']:.2f}]"
          f"  (peak RSS {result['explain_as_called_peak_rss_mib']:.0f} MiB)")
    print(f"forward (batch {result['batch']:3d}, inference_mode): {result['forward_img_s']:8.1f} img/s"
          f" [{result['forward_best_img_s']:.1f}]")
    if "train_img_s" in result:
        print(f"train (batch {result['batch']:3d}):               {result['train_img_s']:8.1f} img/s"
              f" [{result['train_best_img_s']:.1f}]"
              f"  (peak RSS {result['train_peak_rss_mib']:.0f} MiB)")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--v1", required=True, help="checkout of moboehle/B-cos")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--repeats", type=int, default=10,
                    help="as `bcos bench --repeats`: explain max(N, 20), forward N, train max(3, N/2) timed runs")
    ap.add_argument("--no-train", action="store_true", help="skip the training steps")
    ap.add_argument("--json", action="store_true", help="one JSON object instead of text")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    model = build(args.v1)
    set_explanation_mode(model, True)
    one = encode(torch.rand(1, 3, 32, 32))

    def explain(x):
        out = model(x)
        out[0, out[0].argmax()].backward()

    result = {"torch": torch.__version__, "model": "v1 9-layer CIFAR-10 net, full width, B=2, M=2, random weights",
              "threads": args.threads, "batch": args.batch}
    result.update(time_explanations(model, one, explain, max(args.repeats, 20), 2))

    many = encode(torch.rand(args.batch, 3, 32, 32))
    set_explanation_mode(model, False)

    def forward():
        with torch.inference_mode():
            model(many)

    median, best = timed(forward, args.repeats, 1)
    result["forward_img_s"], result["forward_best_img_s"] = args.batch / median, args.batch / best

    if not args.no_train:
        torch.manual_seed(1)
        train_model = build(args.v1).train()
        opt = torch.optim.Adam(train_model.parameters(), lr=1e-4)
        onehot = torch.nn.functional.one_hot(torch.arange(args.batch) % 10, 10).float()

        def train_step():
            opt.zero_grad()
            loss = torch.nn.functional.binary_cross_entropy_with_logits(train_model(many), onehot)
            loss.backward()
            opt.step()

        median, best = timed(train_step, max(3, args.repeats // 2), 1)
        result["train_img_s"], result["train_best_img_s"] = args.batch / median, args.batch / best
        result["train_peak_rss_mib"] = peak_rss_mib()
    report(result, args.json)


if __name__ == "__main__":
    main()
