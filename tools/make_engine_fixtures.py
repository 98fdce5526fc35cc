#!/usr/bin/env python3
"""Generate the BcosEngine test fixtures by running the OFFICIAL B-cos code.

Nothing here reimplements B-cos: every number comes from the official modules,
imported at run time:

* v1 (CVPR 2022, GitHub moboehle/B-cos): ``modules.bcosconv2d.BcosConv2d`` and
  ``modules.utils.FinalLayer, MyAdaptiveAvgPool2d`` from a checkout given by ``--v1``;
  the network is assembled as in ``experiments/CIFAR10/bcos/model.py``.
* v2 (TPAMI 2024, PyPI ``bcos`` 0.1.3): ``bcos.modules.BcosConv2d``,
  ``bcos.modules.LogitLayer``, ``bcos.common.explanation_mode`` and
  ``bcos.common.gradient_to_image``.

All cases use a small version of the v1 CIFAR-10 "9L" net (9 B-cos convs, global
mean pool, logit layer).  For each case two files are written:

``<case>.model.safetensors``
    the float32 weights (official state-dict keys ``{i}.linear.weight``) with the
    model config as JSON in the metadata key ``bcos.config``.
``<case>.expect.safetensors``
    reference tensors (float32): input, logits, per-layer activations, explanations
    (dynamic linear weights W(x)) for a logit, a top-2 difference, a single neuron
    and a channel sum, and (6-channel cases) the colour explanation.

Weights are drawn in float32 (PyTorch default init, fixed seed) and saved as such;
all reference outputs are then computed in float64 with the same weights and the
same float32 input, and stored rounded to float32.

Usage (from the repository root)::

    python tools/make_engine_fixtures.py --v1 /tmp/bcos-v1

See tools/README.md for setting up the environment.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import shlex
import sys
from dataclasses import dataclass
from typing import Callable, Dict, List, Optional, Tuple

import numpy as np
import torch
from torch import nn
from safetensors import safe_open
from safetensors.torch import save as safetensors_bytes

# ---------------------------------------------------------------------------
# Fixed architecture (a narrow version of the v1 CIFAR-10 9-layer net)
# ---------------------------------------------------------------------------

NUM_CLASSES = 10
WIDTHS = [8, 8, 16, 16, 16, 24, 24, 24]          # out channels of convs 0..7
KERNEL_SIZES = [3] * 8 + [1]
STRIDES = [1, 1, 2, 1, 1, 2, 1, 1, 1]
PADDINGS = [1] * 8 + [0]
OUT_CHANNELS = WIDTHS + [NUM_CLASSES]            # conv 8 is the classifier
N_IMAGES = 2

LOGIT_CLASS = 3                                   # class explained for logit.weights
NEURON_LAYER = 4
NEURON_CHANNEL = 5

V1_TEMPERATURE = {1.0: 1e-3, 1.5: 1e-2, 2.0: 1e2, 2.5: 1e3}   # experiment_parameters.py
V1_LOGIT_BIAS = float(np.log(0.1 / 0.9))                        # as in the v1 default_config
V2_LOGIT_BIAS = -math.log(NUM_CLASSES - 1)                      # as in the v2 model factories


def v1_scale(b: float) -> float:
    """Per-B scale of the v1 CIFAR-10 ablation (experiment_parameters.py)."""
    return 10 ** (-2 + 1.5 * (2.5 - b))


@dataclass(frozen=True)
class Case:
    name: str
    version: str            # "v1" or "v2"
    b: float
    max_out: int
    seed: int
    image_channels: int = 3
    height: int = 16
    width: int = 16
    neuron_yx: Tuple[int, int] = (3, 2)   # position in the layer-NEURON_LAYER map
    # v2 nets have no layer scale, so at random init their activations shrink ~10x per
    # layer; a small LogitLayer temperature brings the logits back to O(1) so that they
    # carry information (the official LogitLayer takes it as logit_temperature).
    v2_temperature: float = 1.0

    @property
    def scale(self) -> float:
        return v1_scale(self.b) if self.version == "v1" else 1.0

    @property
    def temperature(self) -> float:
        return V1_TEMPERATURE[self.b] if self.version == "v1" else self.v2_temperature

    @property
    def logit_bias(self) -> float:
        return V1_LOGIT_BIAS if self.version == "v1" else V2_LOGIT_BIAS


def _btag(b: float) -> str:
    return f"{b:g}".replace(".", "p")


def all_cases() -> List[Case]:
    cases = []
    seed = 1000
    for b in (1.0, 1.5, 2.0, 2.5):
        for m in (1, 2):
            cases.append(Case(f"v1_b{_btag(b)}_m{m}", "v1", b, m, seed))
            seed += 10
    cases.append(Case("v2_b2_m2", "v2", 2.0, 2, 2000, v2_temperature=1e-16))
    cases.append(Case("v2_b1p5_m1", "v2", 1.5, 1, 2010, v2_temperature=1e-5))
    # Non-square cases: the neuron row lies outside the width range of the layer-4
    # map, so a transposed (y, x) cannot go unnoticed.
    cases.append(Case("v1_gray_b2_m2", "v1", 2.0, 2, 3000, image_channels=1,
                      height=20, width=12, neuron_yx=(7, 4)))     # layer-4 map 10 x 6
    cases.append(Case("v1_b2p5_m2_24x20", "v1", 2.5, 2, 3010,
                      height=24, width=20, neuron_yx=(10, 3)))    # layer-4 map 12 x 10
    return cases


# ---------------------------------------------------------------------------
# Model construction with the official modules
# ---------------------------------------------------------------------------

@dataclass
class Official:
    """Handles on the imported official code."""
    v1_conv: type
    v1_final: type
    v1_pool: type
    v2_conv: type
    v2_logit: type
    v2_explanation_mode: Callable
    gradient_to_image: Callable


def import_official(v1_path: str) -> Official:
    v1_path = os.path.abspath(v1_path)
    if not os.path.isfile(os.path.join(v1_path, "modules", "bcosconv2d.py")):
        sys.exit(f"--v1 {v1_path}: no modules/bcosconv2d.py there (see tools/README.md)")
    sys.path.insert(0, v1_path)
    from modules.bcosconv2d import BcosConv2d as V1Conv          # noqa: E402
    from modules.utils import FinalLayer, MyAdaptiveAvgPool2d     # noqa: E402
    sys.path.remove(v1_path)
    import bcos.common                                            # noqa: E402
    from bcos.modules import BcosConv2d as V2Conv, LogitLayer    # noqa: E402
    return Official(V1Conv, FinalLayer, MyAdaptiveAvgPool2d, V2Conv, LogitLayer,
                    bcos.common.explanation_mode, bcos.common.gradient_to_image)


def build_model(off: Official, case: Case) -> nn.Sequential:
    """The 9-layer net, as experiments/CIFAR10/bcos/model.py builds it (v1) or from
    the v2 modules; the convs are children 0..8 so the state-dict keys are
    ``{i}.linear.weight`` in both cases."""
    layers: List[nn.Module] = []
    c_in = 2 * case.image_channels                      # AddInverse doubles channels
    for i, c_out in enumerate(OUT_CHANNELS):
        if case.version == "v1":
            conv = off.v1_conv(c_in, c_out, kernel_size=KERNEL_SIZES[i], stride=STRIDES[i],
                               padding=PADDINGS[i], max_out=case.max_out, b=case.b,
                               scale=case.scale)
        else:
            conv = off.v2_conv(c_in, c_out, kernel_size=KERNEL_SIZES[i], stride=STRIDES[i],
                               padding=PADDINGS[i], b=case.b, max_out=case.max_out)
        layers.append(conv)
        c_in = c_out
    if case.version == "v1":
        layers += [off.v1_pool((1, 1)),
                   off.v1_final(bias=case.logit_bias, norm=case.temperature)]
    else:
        layers += [nn.AdaptiveAvgPool2d((1, 1)), nn.Flatten(),
                   off.v2_logit(logit_temperature=case.temperature, logit_bias=case.logit_bias)]
    return nn.Sequential(*layers)


def bcos_convs(model: nn.Sequential) -> List[nn.Module]:
    return [model[i] for i in range(len(OUT_CHANNELS))]


def set_explanation_mode(off: Official, case: Case, model: nn.Sequential, on: bool):
    """v1: ``explanation_mode(detach)`` on every BcosConv2d.
    v2: the official context manager ``bcos.common.explanation_mode(model)`` (which calls
    ``DetachableModule.set_explanation_mode`` on every module that has it); entered or
    exited here explicitly so both versions share one code path."""
    if case.version == "v1":
        for conv in bcos_convs(model):
            conv.explanation_mode(on)
    else:
        if on:
            model._bcos_expl_ctx = off.v2_explanation_mode(model)
            model._bcos_expl_ctx.__enter__()
        else:
            model._bcos_expl_ctx.__exit__(None, None, None)
    for conv in bcos_convs(model):
        assert conv.detach is on, "explanation mode switch did not reach every conv"


def config_json(case: Case) -> Dict:
    return {
        "arch": "v1_9layer",
        "num_classes": NUM_CLASSES,
        "image_channels": case.image_channels,
        "add_inverse": True,
        "image_size": [case.height, case.width],
        "widths": WIDTHS,
        "kernel_sizes": KERNEL_SIZES,
        "strides": STRIDES,
        "paddings": PADDINGS,
        "b": float(case.b),
        "max_out": int(case.max_out),
        "scale": float(case.scale),
        "logit_temperature": float(case.temperature),
        "logit_bias": float(case.logit_bias),
        "classes": [f"c{k}" for k in range(NUM_CLASSES)],
    }


# ---------------------------------------------------------------------------
# Reference computations (float64)
# ---------------------------------------------------------------------------

def forward_with_acts(model: nn.Sequential, x: torch.Tensor) -> Tuple[torch.Tensor, List[torch.Tensor]]:
    acts = []
    for i, layer in enumerate(model):
        x = layer(x)
        if i < len(OUT_CHANNELS):
            acts.append(x)
    return x, acts


def input_weights(model: nn.Sequential, x: torch.Tensor,
                  target: Callable[[torch.Tensor, List[torch.Tensor]], torch.Tensor]
                  ) -> Tuple[torch.Tensor, float]:
    """Gradient of ``target(logits, acts)`` w.r.t. a fresh leaf copy of x (so it starts
    from zero).  Returns (W for image 0 [C,H,W], target value)."""
    xin = x.detach().clone().requires_grad_(True)
    model.zero_grad(set_to_none=True)
    out, acts = forward_with_acts(model, xin)
    value = target(out, acts)
    (grad,) = torch.autograd.grad(value, xin)
    return grad[0].detach(), float(value.detach())


def run_case(off: Official, case: Case) -> Tuple[Dict, Dict[str, torch.Tensor], Dict[str, torch.Tensor], Dict[str, str], Dict]:
    # --- weights (float32, default init) and input (float32) ---
    torch.manual_seed(case.seed)
    model = build_model(off, case).float().eval()
    weights32 = {k: v.detach().clone().contiguous() for k, v in model.state_dict().items()}
    expected_keys = [f"{i}.linear.weight" for i in range(len(OUT_CHANNELS))]
    assert list(weights32) == expected_keys, list(weights32)

    torch.manual_seed(case.seed + 1)
    image32 = torch.rand(N_IMAGES, case.image_channels, case.height, case.width, dtype=torch.float32)
    x32 = torch.cat([image32, 1 - image32], dim=1)      # AddInverse, in float32

    # --- everything else in float64 ---
    model = model.double()
    x = x32.double()
    bias = case.logit_bias
    L, c = NEURON_LAYER, NEURON_CHANNEL
    ny, nx = case.neuron_yx

    with torch.no_grad():
        logits, acts = forward_with_acts(model, x)
    assert acts[L].shape[2] > ny and acts[L].shape[3] > nx, "neuron position out of range"
    # Bias-free logits (pooled / T).  The ordering equals that of the logits, but it is
    # used for ranking and for the completeness references because out - bias cancels
    # catastrophically when |out - bias| << |bias| (in v2_b2_m2 all ten float64 logits
    # round to exactly the bias, so ranking the logits themselves would be a pure tie).
    pooled = acts[-1].mean(dim=(2, 3)) / case.temperature
    top2 = torch.topk(pooled[0], 2).indices.tolist()

    # normal-mode gradient of the logit, to prove explanation mode changes something
    w_plain, _ = input_weights(model, x, lambda o, a: o[0, LOGIT_CLASS])

    set_explanation_mode(off, case, model, True)
    w_logit, v_logit = input_weights(model, x, lambda o, a: o[0, LOGIT_CLASS])
    w_delta, v_delta = input_weights(model, x, lambda o, a: o[0, top2[0]] - o[0, top2[1]])
    w_neuron, v_neuron = input_weights(
        model, x, lambda o, a: torch.sign(a[L][0, c, ny, nx].detach()) * a[L][0, c, ny, nx])
    w_nsum, v_nsum = input_weights(
        model, x, lambda o, a: torch.sign(a[L][0, c].sum().detach()) * a[L][0, c].sum())
    set_explanation_mode(off, case, model, False)

    x0 = x[0]
    contrib = (x0 * w_logit).sum(0)

    def rel_err(w, target_value):
        return abs(float((x0 * w).sum()) - target_value) / max(abs(target_value), 1e-300)

    checks = {
        "logit_abs": abs(float(contrib.sum()) - (v_logit - bias)),     # the check as briefed
        "logit_rel": rel_err(w_logit, float(pooled[0, LOGIT_CLASS])),
        "delta_rel": rel_err(w_delta, float(pooled[0, top2[0]] - pooled[0, top2[1]])),
        "neuron_rel": rel_err(w_neuron, v_neuron),
        "nsum_rel": rel_err(w_nsum, v_nsum),
        # relative difference between plain gradient and explanation weights
        # (0 is expected only for B = 1, where the layers are already linear)
        "plain_vs_expl": float((w_plain - w_logit).norm() / w_logit.norm()),
    }

    tensors = {
        "input": x32,
        "logits": logits,
        **{f"act.{i}": a for i, a in enumerate(acts)},
        "logit.weights": w_logit,
        "logit.contributions": contrib,
        "delta.weights": w_delta,
        "neuron.weights": w_neuron,
        "neuron_sum.weights": w_nsum,
    }
    if case.image_channels == 3:
        for smooth in (0, 3):
            rgba = off.gradient_to_image(x0, w_logit, smooth=smooth, alpha_percentile=99.5)
            tensors[f"colour.smooth{smooth}"] = torch.from_numpy(np.asarray(rgba))
    tensors = {k: v.detach().to(torch.float32).contiguous() for k, v in tensors.items()}

    meta = {
        "case": case.name,
        "reference": ("v1 GitHub moboehle/B-cos (modules.bcosconv2d.BcosConv2d)" if case.version == "v1"
                      else "v2 PyPI bcos (bcos.modules.BcosConv2d)"),
        "model_seed": str(case.seed),
        "input_seed": str(case.seed + 1),
        "logit_class": str(LOGIT_CLASS),
        "delta_top1": str(top2[0]),
        "delta_top2": str(top2[1]),
        "neuron_layer": str(L),
        "neuron_channel": str(c),
        "neuron_y": str(ny),
        "neuron_x": str(nx),
    }
    stats = {
        "logits_min": float(logits.min()),
        "logits_max": float(logits.max()),
        "pooled_absmax": float(pooled.abs().max()),
        "act_absmax": [float(a.abs().max()) for a in acts],
        **checks,
    }
    return config_json(case), weights32, tensors, meta, stats


# ---------------------------------------------------------------------------
# Output
# ---------------------------------------------------------------------------

def save_safetensors(tensors: Dict[str, torch.Tensor], path: str, metadata: Dict[str, str]):
    """``safetensors.torch.save_file``, made byte-reproducible: safetensors writes the
    metadata map in (Rust HashMap) random order, so the header is re-serialised with
    sorted metadata keys; tensor entries and data are left exactly as safetensors wrote them."""
    blob = safetensors_bytes(tensors, metadata=metadata)
    n = int.from_bytes(blob[:8], "little")
    header = json.loads(blob[8:8 + n])
    header["__metadata__"] = dict(sorted(header["__metadata__"].items()))
    text = json.dumps(header, separators=(",", ":"), ensure_ascii=False).encode()
    assert len(text) <= n
    text += b" " * (n - len(text))            # same length, same alignment padding
    with open(path, "wb") as f:
        f.write(blob[:8] + text + blob[8 + n:])
    with safe_open(path, framework="pt") as f:  # re-read check
        assert f.metadata() == metadata and set(f.keys()) == set(tensors)
        for k in tensors:
            assert torch.equal(f.get_tensor(k), tensors[k])


def canonical_command(args: argparse.Namespace, default_out: str) -> str:
    """The regenerating command, independent of the working directory and of how the
    script path was spelled, so that reruns produce identical files."""
    cmd = ["python", "tools/make_engine_fixtures.py", "--v1", args.v1]
    if os.path.abspath(args.out) != os.path.abspath(default_out):
        cmd += ["--out", args.out]
    if args.only:
        cmd += ["--only", *args.only]
    return shlex.join(cmd)


# ---------------------------------------------------------------------------
# Main
# ---------------------------------------------------------------------------

def main(argv: Optional[List[str]] = None) -> int:
    here = os.path.dirname(os.path.abspath(__file__))
    default_out = os.path.join(os.path.dirname(here), "Tests", "BcosEngineTests", "Fixtures")
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--v1", required=True,
                        help="path of a checkout of GitHub moboehle/B-cos (needs modules/)")
    parser.add_argument("--out", default=default_out, help="output folder (default: %(default)s)")
    parser.add_argument("--only", nargs="*", help="generate only these case names")
    args = parser.parse_args(argv)

    torch.set_num_threads(1)                      # bit-reproducible CPU kernels
    torch.use_deterministic_algorithms(True)
    off = import_official(args.v1)
    command = canonical_command(args, default_out)

    os.makedirs(args.out, exist_ok=True)
    cases = [c for c in all_cases() if not args.only or c.name in args.only]
    rows = []
    for case in cases:
        cfg, weights, tensors, meta, stats = run_case(off, case)
        meta["command"] = command
        save_safetensors(weights, os.path.join(args.out, f"{case.name}.model.safetensors"),
                         metadata={"bcos.config": json.dumps(cfg)})
        save_safetensors(tensors, os.path.join(args.out, f"{case.name}.expect.safetensors"),
                         metadata=meta)
        rows.append((case, stats))

    print(f"{'case':<18} {'logits min':>12} {'logits max':>12} {'|logit-b|max':>12} {'|act| max l0..l8':>18} "
          f"{'compl abs':>9} {'compl rel':>9} {'delta':>8} {'neuron':>8} {'n_sum':>8} {'grad/expl':>9}")
    worst = 0.0
    for case, s in rows:
        act = f"{min(s['act_absmax']):.1e}..{max(s['act_absmax']):.1e}"
        print(f"{case.name:<18} {s['logits_min']:>12.5g} {s['logits_max']:>12.5g} "
              f"{s['pooled_absmax']:>12.2e} {act:>18} "
              f"{s['logit_abs']:>9.1e} {s['logit_rel']:>9.1e} {s['delta_rel']:>8.1e} "
              f"{s['neuron_rel']:>8.1e} {s['nsum_rel']:>8.1e} {s['plain_vs_expl']:>9.2e}")
        worst = max(worst, s["logit_rel"], s["delta_rel"], s["neuron_rel"], s["nsum_rel"])
        if case.b != 1 and s["plain_vs_expl"] < 1e-6:
            print(f"  WARNING {case.name}: explanation weights equal the plain gradient")
        if not all(1e-30 < a < 1e30 for a in s["act_absmax"]):
            print(f"  WARNING {case.name}: activations vanish or explode: {s['act_absmax']}")
        if s["pooled_absmax"] < 1e-3 * abs(case.logit_bias):
            print(f"  WARNING {case.name}: logits are (nearly) just the bias: "
                  f"max |logit - bias| = {s['pooled_absmax']:.2e}")
    print(f"worst relative completeness error: {worst:.2e}")
    if worst > 1e-9:
        print("ERROR: completeness check failed")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
