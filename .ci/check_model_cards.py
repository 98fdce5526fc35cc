#!/usr/bin/env python3
"""Re-measure every shipped model's test accuracy with `bcos eval` and compare it with its model card.

    python3 .ci/check_model_cards.py [--bcos .build/release/bcos] [--cifar10 DIR]

Each `assets/models/NAME.safetensors` needs a `## NAME.safetensors` section in assets/models/README.md with a line
`Test accuracy (bcos eval): X%`. Fashion-MNIST models are evaluated on /usr/share/datasets/fashion-mnist; CIFAR-10
models on --cifar10 DIR, or on ../shared/datasets/cifar10-jpeg.tar.gz extracted to a temporary folder; when neither
is there they are reported as skipped (the tarball is not part of the repository). Exits 1 on any mismatch beyond
one image in 10,000 (another CPU's BLAS kernels may round one borderline image differently).
"""
import argparse
import glob
import json
import os
import re
import shutil
import subprocess
import sys
import tarfile
import tempfile


def card_accuracies(readme: str) -> dict:
    cards, current = {}, None
    for line in open(readme, encoding="utf-8"):
        m = re.match(r"^## (\S+\.safetensors)\s*$", line)
        if m:
            current = m.group(1)
        m = re.search(r"Test accuracy \(bcos eval\): ([0-9.]+)%", line)
        if m and current and current not in cards:
            cards[current] = float(m.group(1))
    return cards


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--bcos", default=".build/release/bcos")
    ap.add_argument("--cifar10", help="extracted CIFAR-10 (train/ and test/ class folders)")
    args = ap.parse_args()
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    cards = card_accuracies(os.path.join(root, "assets/models/README.md"))
    tmp = None
    failed = 0
    for path in sorted(glob.glob(os.path.join(root, "assets/models/*.safetensors"))):
        name = os.path.basename(path)
        if name not in cards:
            print(f"{name}: no model card with 'Test accuracy (bcos eval): X%' in assets/models/README.md")
            failed += 1
            continue
        if name.startswith("fashion-mnist"):
            data = "/usr/share/datasets/fashion-mnist"
        elif name.startswith("cifar10"):
            data = args.cifar10
            tarball = os.path.join(root, "..", "shared", "datasets", "cifar10-jpeg.tar.gz")
            if data is None and os.path.exists(tarball):
                if tmp is None:
                    tmp = tempfile.mkdtemp(prefix="bcos-ci-cifar10-")
                    with tarfile.open(tarball) as t:
                        t.extractall(tmp, filter="data") if hasattr(tarfile, "data_filter") else t.extractall(tmp)
                data = tmp
            if data is None:
                print(f"{name}: skipped (no CIFAR-10 here: pass --cifar10 DIR or provide {tarball})")
                continue
        else:
            print(f"{name}: no known dataset for this model name")
            failed += 1
            continue
        out = subprocess.run([args.bcos, "eval", "--model", path, "--data", data, "--json"],
                             check=True, capture_output=True, text=True).stdout
        acc = round(100 * json.loads(out)["accuracy"], 2)
        ok = abs(acc - cards[name]) <= 0.011
        print(f"{name}: test accuracy {acc:.2f}% (card {cards[name]:.2f}%) {'ok' if ok else 'MISMATCH'}")
        failed += 0 if ok else 1
    if tmp is not None:
        shutil.rmtree(tmp, ignore_errors=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
