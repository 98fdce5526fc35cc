#!/usr/bin/env python3
"""Run `bcos bench` and the official PyTorch code back to back on the same workloads; print both and the ratios.

Every ratio comes from numbers measured in this run, on this machine, with the same threads and repetition counts:
per round and per workload, the release `bcos bench --json` first, then the PyTorch script (tools/bench_torch.py for
the full-width v1 CIFAR-10 net, tools/bench_torch_zoo.py for each --arch), A B A B over --rounds rounds. The load
average before and after each pair is printed next to it, because the machine may be shared.

    swift build -c release
    ~/bcos-venv/bin/python tools/bench_compare.py --v1 /tmp/bcos-v1 [--arch resnet50 --arch densenet121 ...]

PyTorch's explanation is timed twice: with the weights frozen (`requires_grad_(False)`), the fair anchor, since
bcos never computes weight gradients; and as users call it (weights requiring grad, as `model.explain` leaves
them), reported on its own row. Forward throughput runs under `torch.inference_mode()`. Each time is a median, with
the fastest run on the row below (on a shared machine, the least disturbed one). Standard library only;
the PyTorch scripts run in --python (default: this interpreter).
"""
import argparse
import datetime
import json
import os
import platform
import subprocess
import sys

TOOLS = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(TOOLS)

# (label, bcos key, torch key, unit, higher is better); times are medians, "fastest" rows the least disturbed run.
def explain_forward_rows(size):
    return [
        (f"explain one {size}x{size} image (PyTorch weights frozen)", "explain_ms", "explain_frozen_ms", "ms", False),
        ("  fastest run", "explain_best_ms", "explain_frozen_best_ms", "ms", False),
        (f"explain one {size}x{size} image (PyTorch as called)", "explain_ms", "explain_as_called_ms", "ms", False),
        ("  fastest run", "explain_best_ms", "explain_as_called_best_ms", "ms", False),
        ("forward, batch {batch}", "forward_img_s", "forward_img_s", "img/s", True),
        ("  fastest run", "forward_best_img_s", "forward_best_img_s", "img/s", True),
    ]


EXPLAIN_RSS = ("peak RSS after explaining (frozen)", "explain_peak_rss_mib", "explain_frozen_peak_rss_mib", "MiB", False)
CIFAR_ROWS = explain_forward_rows(32) + [
    ("training step, batch {batch}", "train_img_s", "train_img_s", "img/s", True),
    ("  fastest run", "train_best_img_s", "train_best_img_s", "img/s", True),
    EXPLAIN_RSS,
    ("peak RSS after training", "train_peak_rss_mib", "train_peak_rss_mib", "MiB", False),
]
ZOO_ROWS = explain_forward_rows(224) + [EXPLAIN_RSS]


def run_json(cmd):
    """Runs `cmd`, returns the JSON object on the last line of its stdout; exits with its stderr on failure."""
    p = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True)
    if p.returncode != 0:
        sys.exit(f"bench_compare: `{' '.join(cmd)}` failed (exit {p.returncode}):\n{p.stderr.strip()}")
    lines = [line for line in p.stdout.splitlines() if line.strip()]
    try:
        return json.loads(lines[-1])
    except (IndexError, json.JSONDecodeError):
        sys.exit(f"bench_compare: `{' '.join(cmd)}` printed no JSON object:\n{p.stdout[-2000:]}")


def load():
    return "%.2f %.2f %.2f" % os.getloadavg()


def cpu_name():
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


def verdict(b, t, unit, higher_better):
    if not (b > 0 and t > 0):
        return "-"
    if unit == "MiB":
        return f"bcos uses {t / b:.2f}x less" if b <= t else f"bcos uses {b / t:.2f}x more"
    bcos_faster = b > t if higher_better else b < t
    r = max(b / t, t / b)
    return f"bcos {r:.2f}x faster" if bcos_faster else f"PyTorch {r:.2f}x faster"


def fmt(v, unit):
    return f"{v:.1f} {unit}" if unit != "MiB" else f"{v:.0f} {unit}"


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--v1", help="checkout of moboehle/B-cos (modules/), for the CIFAR-10 workload")
    ap.add_argument("--arch", action="append", default=[], help="a zoo architecture (repeatable), e.g. resnet50")
    ap.add_argument("--no-cifar", action="store_true", help="skip the CIFAR-10 workload")
    ap.add_argument("--rounds", type=int, default=2, help="times each workload is measured (A B A B)")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--repeats", type=int, default=10, help="passed to both sides")
    ap.add_argument("--batch", type=int, default=64, help="CIFAR-10 forward and training batch")
    ap.add_argument("--zoo-batch", type=int, default=4, help="forward batch of the zoo models")
    ap.add_argument("--bcos", default=os.path.join(ROOT, ".build/release/bcos"), help="the release binary")
    ap.add_argument("--python", default=sys.executable, help="the interpreter with torch and bcos (v2)")
    ap.add_argument("--json-out", help="also write every raw measurement to this file")
    args = ap.parse_args()
    if not args.no_cifar and not args.v1:
        ap.error("--v1 is needed for the CIFAR-10 workload (or pass --no-cifar)")
    if args.no_cifar and not args.arch:
        ap.error("nothing to measure: give --arch or drop --no-cifar")
    if not os.access(args.bcos, os.X_OK):
        sys.exit(f"bench_compare: no executable at {args.bcos}; run `swift build -c release` first or pass --bcos")

    common = ["--threads", str(args.threads), "--repeats", str(args.repeats)]
    workloads = []
    if not args.no_cifar:
        workloads.append(("v1 CIFAR-10 9-layer net, full width", CIFAR_ROWS, args.batch,
                          [args.bcos, "bench", "--train", "--no-layers", "--json", "--batch", str(args.batch)] + common,
                          [args.python, os.path.join(TOOLS, "bench_torch.py"), "--v1", args.v1, "--json",
                           "--batch", str(args.batch)] + common))
    for arch in args.arch:
        workloads.append((f"v2 {arch}, 224x224", ZOO_ROWS, args.zoo_batch,
                          [args.bcos, "bench", "--arch", arch, "--no-layers", "--json",
                           "--batch", str(args.zoo_batch)] + common,
                          [args.python, os.path.join(TOOLS, "bench_torch_zoo.py"), "--arch", arch, "--json",
                           "--batch", str(args.zoo_batch)] + common))

    started = datetime.datetime.now().strftime("%Y-%m-%d %H:%M")
    print(f"bench_compare: {started}, {cpu_name()}, {os.cpu_count()} CPUs, {args.threads} threads on both sides, "
          f"--repeats {args.repeats}")
    raw = []
    torch_version = None
    for rnd in range(1, args.rounds + 1):
        for name, rows, batch, bcos_cmd, torch_cmd in workloads:
            before = load()
            b = run_json(bcos_cmd)
            t = run_json(torch_cmd)
            after = load()
            torch_version = t.get("torch", torch_version)
            raw.append({"round": rnd, "workload": name, "bcos": b, "torch": t, "load_before": before,
                        "load_after": after, "bcos_cmd": bcos_cmd, "torch_cmd": torch_cmd})
            print(f"\nround {rnd}: {name} (torch {torch_version}; load average before {before}, after {after})")
            print("| measure | bcos | PyTorch | bcos/PyTorch | |")
            print("|---|---|---|---|---|")
            for label, bk, tk, unit, higher in rows:
                if bk not in b or tk not in t:
                    continue
                bv, tv = float(b[bk]), float(t[tk])
                print(f"| {label.format(batch=batch)} | {fmt(bv, unit)} | {fmt(tv, unit)} | {bv / tv:.2f} | "
                      f"{verdict(bv, tv, unit, higher)} |")
            sys.stdout.flush()
    if args.json_out:
        with open(args.json_out, "w") as f:
            json.dump({"started": started, "cpu": cpu_name(), "threads": args.threads, "repeats": args.repeats,
                       "runs": raw}, f, indent=1, sort_keys=True)


if __name__ == "__main__":
    main()
