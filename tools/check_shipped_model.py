#!/usr/bin/env python3
"""Load a bcos model file (safetensors + `bcos.config`) into the OFFICIAL v1 code and compare logits.

For the model cards' acceptance check: "a shipped model loaded into the official Python code gives the same
logits". Builds the v1 9-layer net from the config exactly as experiments/CIFAR10/bcos/model.py does, loads the
weights with load_state_dict(strict=True), runs N test images -- the first N of an IDX dataset (gzip or not), or
N/classes from each class folder of an image-folder test split (CIFAR-10 JPEGs, decoded once with Pillow) -- and
prints the largest difference to the logits that `bcos explain --json` gives for the same pixels (written as PNGs)
and how often the two predictions agree.

    ~/bcos-venv/bin/python tools/check_shipped_model.py --v1 /tmp/bcos-v1 \
        --model assets/models/fashion-mnist-b2.safetensors --idx /usr/share/datasets/fashion-mnist --count 20 \
        --bcos .build/release/bcos
    ~/bcos-venv/bin/python tools/check_shipped_model.py --v1 /tmp/bcos-v1 \
        --model assets/models/cifar10-b2.safetensors --folder data/cifar10/test --count 50 \
        --bcos .build/release/bcos
"""
import argparse
import gzip
import json
import os
import struct
import subprocess
import sys
import tempfile
import zlib

import numpy as np
import torch
from safetensors.torch import load_file
from safetensors import safe_open


def read_idx(path: str) -> np.ndarray:
    raw = open(path, "rb").read()
    if raw[:2] == b"\x1f\x8b":
        raw = gzip.decompress(raw)
    magic, = struct.unpack(">I", raw[:4])
    dims = [struct.unpack(">I", raw[4 + 4 * i:8 + 4 * i])[0] for i in range(magic & 0xFF)]
    return np.frombuffer(raw[4 + 4 * len(dims):], dtype=np.uint8).reshape(dims)


def write_png(path: str, img: np.ndarray) -> None:
    """8-bit grey (H, W) or RGB (H, W, 3)."""
    h, w = img.shape[:2]
    colour = 2 if img.ndim == 3 else 0
    raw = b"".join(b"\x00" + img[y].tobytes() for y in range(h))

    def chunk(t, d):
        return struct.pack(">I", len(d)) + t + d + struct.pack(">I", zlib.crc32(t + d))

    with open(path, "wb") as f:
        f.write(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, colour, 0, 0, 0))
                + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b""))


def build(v1: str, cfg: dict) -> torch.nn.Sequential:
    sys.path.insert(0, v1)
    from modules.bcosconv2d import BcosConv2d  # noqa: E402
    from modules.utils import FinalLayer, MyAdaptiveAvgPool2d  # noqa: E402
    layers, c_in = [], cfg["image_channels"] * (2 if cfg.get("add_inverse", True) else 1)
    for i, c_out in enumerate(cfg["widths"] + [cfg["num_classes"]]):
        layers.append(BcosConv2d(c_in, c_out, kernel_size=cfg["kernel_sizes"][i], stride=cfg["strides"][i],
                                 padding=cfg["paddings"][i], max_out=cfg["max_out"], b=cfg["b"],
                                 scale=cfg.get("scale", 1.0)))
        c_in = c_out
    layers += [MyAdaptiveAvgPool2d((1, 1)), FinalLayer(bias=cfg["logit_bias"], norm=cfg["logit_temperature"])]
    return torch.nn.Sequential(*layers)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--v1", required=True)
    ap.add_argument("--model", required=True)
    src = ap.add_mutually_exclusive_group(required=True)
    src.add_argument("--idx", help="folder with t10k-images-idx3-ubyte[.gz]")
    src.add_argument("--folder", help="test split of an image folder: one subfolder of images per class")
    ap.add_argument("--count", type=int, default=20)
    ap.add_argument("--bcos", required=True, help="path of the bcos binary")
    args = ap.parse_args()
    with safe_open(args.model, "pt") as f:
        cfg = json.loads(f.metadata()["bcos.config"])
    model = build(args.v1, cfg).double().eval()
    model.load_state_dict({k: v.double() for k, v in load_file(args.model).items()}, strict=True)
    if args.idx:
        name = next(n for n in os.listdir(args.idx) if n.startswith("t10k-images"))
        images = list(read_idx(os.path.join(args.idx, name))[:args.count])
    else:
        from PIL import Image
        classes = sorted(d for d in os.listdir(args.folder) if os.path.isdir(os.path.join(args.folder, d)))
        per = max(1, args.count // len(classes))
        images = []
        for c in classes:
            files = sorted(os.listdir(os.path.join(args.folder, c)))[:per]
            images += [np.asarray(Image.open(os.path.join(args.folder, c, f)).convert("RGB")) for f in files]
    worst, agree = 0.0, 0
    with tempfile.TemporaryDirectory() as tmp:
        for i, img in enumerate(images):
            png = os.path.join(tmp, f"{i}.png")
            write_png(png, img)
            x = torch.from_numpy(img.astype(np.float64) / 255)
            x = x.permute(2, 0, 1)[None] if img.ndim == 3 else x[None, None]
            ref = model(torch.cat([x, 1 - x], 1))[0].detach().numpy()
            out = json.loads(subprocess.run([args.bcos, "explain", "--model", args.model, "--image", png, "--json"],
                                            check=True, capture_output=True, text=True).stdout)
            ours = np.array(out["logits"])
            worst = max(worst, float(np.abs(ours - ref).max() / max(1e-12, np.abs(ref).max())))
            agree += int(out["predicted"] == int(ref.argmax()))
    print(f"{len(images)} images: max |bcos - official| / max |official| = {worst:.2e}; "
          f"same prediction on {agree}/{len(images)}")


if __name__ == "__main__":
    main()
