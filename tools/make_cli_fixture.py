#!/usr/bin/env python3
"""Write the CLI acceptance fixture (Tests/BcosCLITests/Fixtures/) with the OFFICIAL v1 B-cos code.

A small v1 CIFAR-10 9-layer net (moboehle/B-cos ``modules/bcosconv2d.py``, assembled as in
``experiments/CIFAR10/bcos/model.py``), initialised at random with a fixed seed, is saved as

``v1_cifar_small.model.safetensors``
    the conv weights under their state-dict keys ``{i}.linear.weight`` (float32) and the
    architecture as JSON under the metadata key ``bcos.config``, using only the keys that the
    README section "Model format" documents;
``image.png``
    a 32x32 8-bit RGB PNG of seeded random pixels, encoded here with zlib/struct;
``expected.json``
    what the official pipeline gives for that PNG, in float64: the image read back with PIL and
    torchvision's ``to_tensor`` (uint8 / 255), AddInverse ``[x, 1 - x]``, the logits, the
    predicted class, and the contribution map ``sum_c x * W(x)`` of the predicted logit with
    every BcosConv2d in explanation mode (``explanation_mode(True)``).

Usage (from the repository root; see tools/README.md for the venv and the v1 checkout)::

    python tools/make_cli_fixture.py --v1 /tmp/bcos-v1
"""
import argparse
import json
import math
import os
import struct
import sys
import zlib

import numpy as np
import torch
from PIL import Image
from safetensors.torch import save_file
from torch import nn
from torchvision.transforms.functional import to_tensor

WIDTHS = [8, 8, 16, 16, 16, 16, 16, 16]
KERNELS = [3] * 8 + [1]
STRIDES = [1, 1, 2, 1, 1, 2, 1, 1, 1]
PADDINGS = [1] * 8 + [0]
CLASSES = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"]
B, MAX_OUT, TEMPERATURE = 2.0, 2, 100.0
SCALE = 10 ** (-2 + 1.5 * 0.5)
BIAS = math.log(0.1 / 0.9)
SEED = 2024


def png_rgb(pixels: np.ndarray) -> bytes:
    """An 8-bit RGB, non-interlaced PNG of ``pixels`` [H, W, 3] uint8 (filter 0 on every row)."""
    h, w, _ = pixels.shape

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    raw = b"".join(b"\x00" + pixels[y].tobytes() for y in range(h))
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(raw, 9)) + chunk(b"IEND", b""))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--v1", required=True, help="checkout of moboehle/B-cos (only modules/ is used)")
    ap.add_argument("--out", default="Tests/BcosCLITests/Fixtures")
    args = ap.parse_args()
    sys.path.insert(0, os.path.abspath(args.v1))
    from modules.bcosconv2d import BcosConv2d                  # noqa: E402
    from modules.utils import FinalLayer, MyAdaptiveAvgPool2d  # noqa: E402

    torch.manual_seed(SEED)
    layers, c_in = [], 6
    for i, c_out in enumerate(WIDTHS + [len(CLASSES)]):
        layers.append(BcosConv2d(c_in, c_out, kernel_size=KERNELS[i], stride=STRIDES[i], padding=PADDINGS[i],
                                 max_out=MAX_OUT, b=B, scale=SCALE))
        c_in = c_out
    layers += [MyAdaptiveAvgPool2d((1, 1)), FinalLayer(bias=BIAS, norm=TEMPERATURE)]
    model = nn.Sequential(*layers).float().eval()

    cfg = {"arch": "v1_9layer", "num_classes": len(CLASSES), "image_channels": 3, "add_inverse": True,
           "image_size": [32, 32], "widths": WIDTHS, "kernel_sizes": KERNELS, "strides": STRIDES,
           "paddings": PADDINGS, "b": B, "max_out": MAX_OUT, "scale": SCALE,
           "logit_temperature": TEMPERATURE, "logit_bias": BIAS, "classes": CLASSES}
    weights = {k: v.detach().contiguous() for k, v in model.state_dict().items() if k.endswith(".linear.weight")}
    assert list(weights) == [f"{i}.linear.weight" for i in range(9)], list(weights)
    os.makedirs(args.out, exist_ok=True)
    model_path = os.path.join(args.out, "v1_cifar_small.model.safetensors")
    save_file(weights, model_path, metadata={"bcos.config": json.dumps(cfg)})

    pixels = np.random.default_rng(SEED).integers(0, 256, size=(32, 32, 3), dtype=np.uint8)
    image_path = os.path.join(args.out, "image.png")
    with open(image_path, "wb") as f:
        f.write(png_rgb(pixels))

    # The official input pipeline: PIL -> ToTensor (uint8 / 255) -> AddInverse; then float64 throughout.
    rgb = to_tensor(Image.open(image_path).convert("RGB"))
    assert torch.equal((rgb * 255).round().to(torch.uint8).permute(1, 2, 0), torch.from_numpy(pixels))
    x = torch.cat([rgb, 1 - rgb], 0)[None].double().requires_grad_(True)
    model = model.double()
    for m in model:
        if isinstance(m, BcosConv2d):
            m.explanation_mode(True)
    logits = model(x)[0]
    predicted = int(logits.argmax())
    (grad,) = torch.autograd.grad(logits[predicted], x)
    contributions = (x * grad)[0].sum(0).detach()
    logits = logits.detach()
    explained = float(logits[predicted]) - BIAS
    rel = abs(float(contributions.sum()) - explained) / abs(explained)
    assert rel < 1e-10, f"completeness fails: relative error {rel}"

    expected = {
        "command": "python tools/make_cli_fixture.py --v1 /tmp/bcos-v1",
        "logits": logits.tolist(), "predicted": predicted, "predicted_class": CLASSES[predicted],
        "explained_value": explained, "contributions": contributions.tolist(),
    }
    with open(os.path.join(args.out, "expected.json"), "w") as f:
        json.dump(expected, f, indent=1)
        f.write("\n")
    spread = float(logits.max() - logits.min())
    print(f"predicted {predicted} ({CLASSES[predicted]}), logit spread {spread:.3g}, explained value {explained:.6g}, "
          f"max |contribution| {float(contributions.abs().max()):.3g}, completeness rel. error {rel:.2g}")


if __name__ == "__main__":
    main()
