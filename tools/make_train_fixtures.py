#!/usr/bin/env python3
"""Generate the training-step fixtures (Tests/BcosEngineTests/TrainFixtures/) with the OFFICIAL v1 code.

Every number comes from the official v1 B-cos code (GitHub moboehle/B-cos, a checkout given
by ``--v1``) and from PyTorch itself; nothing of B-cos is reimplemented here:

* the net: ``modules.bcosconv2d.BcosConv2d`` x 9, ``modules.utils.MyAdaptiveAvgPool2d`` and
  ``modules.utils.FinalLayer``, assembled as ``experiments/CIFAR10/bcos/model.py`` does
  (a narrow version of the CIFAR-10 "9L" net: widths 4,4,8,...,8 + a 1x1 classifier);
* the loss: ``modules.losses.CombinedLosses(LogitsBCE())``, the v1 CIFAR-10 default
  (``experiment_parameters.default_config["loss"]``) = ``nn.BCEWithLogitsLoss()`` on one-hot
  targets, mean over batch x classes; checked bit-for-bit against
  ``F.binary_cross_entropy_with_logits``;
* the optimiser: ``torch.optim.Adam(model.parameters(), lr=1e-3)`` (betas 0.9/0.999,
  eps 1e-8, no weight decay), as v1's ``get_optimizer`` builds it (``opti_opts = {}``).

The model is in training mode with explanation mode OFF (``detach`` False on every conv: the
dynamic scale |cos|^(B-1), resp. |lin|/norm, is differentiated through).  Weights are drawn
with PyTorch's default init (fixed seed) in float32 and saved as such; everything after
that runs in float64 (``model.double()``) and is stored rounded to float32.

Per case: B in {1, 1.5, 2, 2.5} with MaxOut 2, and B = 2 with MaxOut 1; scale
10^(-2+1.5(2.5-B)) and logit bias log(0.1/0.9) as in v1.  The FinalLayer temperature T is
the v1 table's for B = 1 but larger for the others (see ``all_cases``): with the table's T
this narrow net gives |logits| up to 1e3..5e5 at init.  T is in the config, so the engine
reads it.

For each case two files are written:

``<case>.model.safetensors``
    the initial float32 weights ``{i}.linear.weight``, config JSON in metadata ``bcos.config``
    (same schema as tools/make_engine_fixtures.py).
``<case>.train.safetensors``
    ``input`` [8,6,12,12] (AddInverse of 8 seeded uniform RGB images), ``labels`` [8]
    (class indices as float32), ``logits`` [8,10] (initial forward), ``loss`` [1],
    ``grad.<key>`` (dloss/dweight), ``step1.<key>`` (weights after Adam step 1),
    ``loss2`` [1], ``grad2.<key>``, ``step2.<key>`` (a second step on the same batch: zero_grad,
    forward, loss, backward, step -- Adam's t = 2 with the carried m/v state); string metadata
    ``lr``, ``beta1``, ``beta2``, ``eps``, ``weight_decay``, ``command``, ``case``, the seeds and
    ``maxout_min_margin`` (smallest MaxOut winning margin, in cosine units, over both forward
    passes: how far every MaxOut decision is from a tie).

Checks (printed; the script exits non-zero if one fails):

* finite differences of the loss in float64 (central, step 1e-6) at 10 random weight and
  10 random input coordinates against the official autograd gradients, relative error
  < 1e-6.  Coordinates are drawn among those with |grad| >= 0.1 * max|grad| (weights:
  over all layers; input: over the batch), where the float64 rounding error of the
  difference quotient (~1e-16 * loss / 1e-6) is far below the tolerance.  A coordinate
  whose +-1e-6 perturbation switches a MaxOut selection anywhere in the net is skipped (and
  counted): the loss has a kink there and the difference quotient mixes two gradients;
* Adam: the step-1 and step-2 weights equal the textbook update
  ``m = b1 m + (1-b1) g; v = b2 v + (1-b2) g^2; w -= lr/(1-b1^t) * m / (sqrt(v)/sqrt(1-b2^t) + eps)``
  (this is torch's single-tensor formula, including where eps sits) to float64 rounding.

Usage (from the repository root; see tools/README.md for the venv and the v1 checkout)::

    python tools/make_train_fixtures.py --v1 /tmp/bcos-v1
"""

from __future__ import annotations

import argparse
import collections
import collections.abc
import dataclasses
import json
import os
import shlex
import sys
from dataclasses import dataclass
from typing import Dict, List, Optional, Tuple

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from make_engine_fixtures import (V1_LOGIT_BIAS, V1_TEMPERATURE, save_safetensors,  # noqa: E402
                                  v1_scale)

# ---------------------------------------------------------------------------
# Fixed setup
# ---------------------------------------------------------------------------

NUM_CLASSES = 10
WIDTHS = [4, 4, 8, 8, 8, 8, 8, 8]                # out channels of convs 0..7
KERNEL_SIZES = [3] * 8 + [1]
STRIDES = [1, 1, 2, 1, 1, 2, 1, 1, 1]
PADDINGS = [1] * 8 + [0]
OUT_CHANNELS = WIDTHS + [NUM_CLASSES]            # conv 8 is the classifier
IMAGE_CHANNELS = 3
HEIGHT = WIDTH = 12
BATCH = 8
LABELS = [3, 7, 0, 3, 9, 1, 7, 3]                # fixed, with repeats
INPUT_SEED = 4001                                # same batch for every case

LR, BETA1, BETA2, ADAM_EPS = 1e-3, 0.9, 0.999, 1e-8

FD_STEP = 1e-6
FD_POINTS = 10
FD_TOL = 1e-6
FD_MIN_REL_GRAD = 0.1
FD_SEED = 77
MIN_MAXOUT_MARGIN = 1e-5


@dataclass(frozen=True)
class Case:
    name: str
    b: float
    max_out: int
    seed: int
    temperature: float          # v1 FinalLayer "norm": logits = pooled / T + bias

    @property
    def scale(self) -> float:
        return v1_scale(self.b)


def all_cases() -> List[Case]:
    # T: the v1 table (experiments/CIFAR10/bcos/experiment_parameters.py) was tuned for the
    # full-width net; in this narrow net the cosines at init are much larger (72 instead of
    # 576..2304 weights per unit), so the activations grow ~1/scale per layer and the table's
    # T gives |logits| of 1e3 (B 1.5, 2) to 5e5 (B 2.5).  Where that happens T is raised by
    # powers of ten until |logits| < 50 (run with --v1-temperatures to see the table's values).
    #
    # Seeds: chosen (from the first 20 after 5000 + 10 k) so that every MaxOut decision, in
    # both forward passes, is won by at least MIN_MAXOUT_MARGIN in cosine units: a near-tie
    # is a kink of the loss that a float32 engine may fall on the other side of.
    return [
        Case("train_b1_m2", 1.0, 2, 5000, V1_TEMPERATURE[1.0]),     # table value, logits -4.4..0.8
        Case("train_b1p5_m2", 1.5, 2, 5012, 1e0),                   # table 1e-2
        Case("train_b2_m2", 2.0, 2, 5025, 1e4),                     # table 1e2
        Case("train_b2p5_m2", 2.5, 2, 5030, 1e7),                   # table 1e3
        Case("train_b2_m1", 2.0, 1, 5040, 1e4),                     # table 1e2
    ]


def config_json(case: Case) -> Dict:
    """Same schema as make_engine_fixtures.config_json."""
    return {
        "arch": "v1_9layer",
        "num_classes": NUM_CLASSES,
        "image_channels": IMAGE_CHANNELS,
        "add_inverse": True,
        "image_size": [HEIGHT, WIDTH],
        "widths": WIDTHS,
        "kernel_sizes": KERNEL_SIZES,
        "strides": STRIDES,
        "paddings": PADDINGS,
        "b": float(case.b),
        "max_out": int(case.max_out),
        "scale": float(case.scale),
        "logit_temperature": float(case.temperature),
        "logit_bias": float(V1_LOGIT_BIAS),
        "classes": [f"c{k}" for k in range(NUM_CLASSES)],
    }


# ---------------------------------------------------------------------------
# The official code
# ---------------------------------------------------------------------------

@dataclass
class Official:
    conv: type
    pool: type
    final: type
    combined_losses: type
    logits_bce: type


def import_official(v1_path: str) -> Official:
    v1_path = os.path.abspath(v1_path)
    if not os.path.isfile(os.path.join(v1_path, "modules", "losses.py")):
        sys.exit(f"--v1 {v1_path}: no modules/losses.py there (see tools/README.md)")
    sys.path.insert(0, v1_path)
    from modules.bcosconv2d import BcosConv2d                      # noqa: E402
    from modules.utils import FinalLayer, MyAdaptiveAvgPool2d       # noqa: E402
    # modules/losses.py does `from collections import Iterable`, which Python >= 3.10 no
    # longer has; lend it the collections.abc class for the import only.
    shim = not hasattr(collections, "Iterable")
    if shim:
        collections.Iterable = collections.abc.Iterable
    try:
        from modules.losses import CombinedLosses, LogitsBCE        # noqa: E402
    finally:
        if shim:
            del collections.Iterable
    sys.path.remove(v1_path)
    return Official(BcosConv2d, MyAdaptiveAvgPool2d, FinalLayer, CombinedLosses, LogitsBCE)


def build_model(off: Official, case: Case) -> nn.Sequential:
    """As experiments/CIFAR10/bcos/model.py get_model: 9 BcosConv2d, pool, FinalLayer."""
    layers: List[nn.Module] = []
    emb = 2 * IMAGE_CHANNELS                              # AddInverse
    for i, c_out in enumerate(OUT_CHANNELS):
        layers.append(off.conv(emb, c_out, kernel_size=KERNEL_SIZES[i], stride=STRIDES[i],
                               padding=PADDINGS[i], max_out=case.max_out, b=case.b,
                               scale=case.scale))
        emb = c_out
    layers += [off.pool((1, 1)), off.final(bias=V1_LOGIT_BIAS, norm=case.temperature)]
    return nn.Sequential(*layers)


# ---------------------------------------------------------------------------
# The training step
# ---------------------------------------------------------------------------

def make_batch() -> Tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    torch.manual_seed(INPUT_SEED)
    image = torch.rand(BATCH, IMAGE_CHANNELS, HEIGHT, WIDTH, dtype=torch.float32)
    x32 = torch.cat([image, 1 - image], dim=1)            # AddInverse, in float32
    labels = torch.tensor(LABELS, dtype=torch.long)
    onehot = torch.zeros(BATCH, NUM_CLASSES, dtype=torch.float64)
    onehot[torch.arange(BATCH), labels] = 1.0             # as v1 data.data_transforms.OneHot
    return x32, labels, onehot


def maxout_probe(model: nn.Sequential, x: torch.Tensor) -> Tuple[List[torch.Tensor], float]:
    """Diagnostics only (no fixture value comes from here): which MaxOut branch every unit
    selects, and the smallest winning margin (top-1 minus top-2 of the raw linear outputs,
    divided by the unit's patch norm, i.e. in cosine units).  The raw outputs come from the
    official ``conv.linear`` (NormedConv2d); the patch norm is recomputed as in fwd_b/fwd_2."""
    selections, margin = [], float("inf")
    h = x.detach()
    with torch.no_grad():
        for conv in (m for m in model if hasattr(m, "explanation_mode")):
            if conv.max_out > 1:
                lin = conv.linear(h)
                bs, _, hh, ww = lin.shape
                lin = lin.view(bs, -1, conv.max_out, hh, ww)
                norm = (F.avg_pool2d((h ** 2).sum(1, keepdim=True), conv.kernel_size,
                                     padding=conv.padding, stride=conv.stride) * conv.kssq + 1e-6).sqrt()
                top2 = lin.topk(2, dim=2).values
                margin = min(margin, float(((top2[:, :, 0] - top2[:, :, 1]) / norm).min()))
                selections.append(lin.argmax(dim=2))
            h = conv(h)
    return selections, margin


def finite_difference_check(loss_of, model: nn.Sequential, params: Dict[str, torch.Tensor],
                            grads: Dict[str, torch.Tensor], x: torch.Tensor, x_grad: torch.Tensor,
                            rng: np.random.RandomState) -> Tuple[float, float, int, List[str]]:
    """Central differences of the loss at FD_POINTS weight and FD_POINTS input coordinates.
    ``loss_of()`` evaluates the loss at the current (in-place perturbed) params and x.
    A coordinate whose +-FD_STEP perturbation switches any MaxOut selection straddles a kink
    of the loss (the difference quotient then mixes two gradients); it is reported, skipped
    and replaced by the next random candidate."""
    base_sel, _ = maxout_probe(model, x)

    def same_selection() -> bool:
        sel, _ = maxout_probe(model, x)
        return all(torch.equal(a, b) for a, b in zip(sel, base_sel))

    skipped = 0

    def check(tensors: List[Tuple[str, torch.Tensor, torch.Tensor]]) -> Tuple[float, List[str]]:
        nonlocal skipped
        gmax = max(float(g.abs().max()) for _, _, g in tensors)
        cands = [(name, idx) for name, _, g in tensors
                 for idx in (g.abs() >= FD_MIN_REL_GRAD * gmax).nonzero().tolist()]
        by_name = {name: (t, g) for name, t, g in tensors}
        worst, lines, done = 0.0, [], 0
        for p in rng.permutation(len(cands)):
            if done == FD_POINTS:
                break
            name, idx = cands[p]
            t, g = by_name[name]
            idx = tuple(idx)
            orig = t[idx].item()
            with torch.no_grad():
                t[idx] = orig + FD_STEP
                lp, smooth = loss_of(), same_selection()
                t[idx] = orig - FD_STEP
                lm, smooth = loss_of(), smooth and same_selection()
                t[idx] = orig                               # exact restore
            fd = (lp - lm) / (2 * FD_STEP)
            ad = g[idx].item()
            rel = abs(fd - ad) / abs(ad)
            if not smooth:
                skipped += 1
                lines.append(f"{name}{list(idx)}: SKIPPED, a MaxOut selection switches within "
                             f"+-{FD_STEP:g} (autograd {ad:+.12e} fd {fd:+.12e} rel {rel:.1e})")
                continue
            done += 1
            worst = max(worst, rel)
            lines.append(f"{name}{list(idx)}: autograd {ad:+.12e} fd {fd:+.12e} rel {rel:.1e}")
        assert done == FD_POINTS
        return worst, lines

    w_worst, w_lines = check([(k, params[k], grads[k]) for k in params])
    x_worst, x_lines = check([("input", x, x_grad)])
    return w_worst, x_worst, skipped, w_lines + x_lines


def textbook_adam(w0: Dict[str, torch.Tensor], g1: Dict[str, torch.Tensor], g2: Dict[str, torch.Tensor]
                  ) -> Tuple[Dict[str, torch.Tensor], Dict[str, torch.Tensor]]:
    """Two Adam steps written out (torch's single-tensor formula), for the sanity check only."""
    out1, out2 = {}, {}
    for k in w0:
        m = torch.zeros_like(w0[k])
        v = torch.zeros_like(w0[k])
        w = w0[k].clone()
        for t, g, out in ((1, g1[k], out1), (2, g2[k], out2)):
            m = BETA1 * m + (1 - BETA1) * g
            v = BETA2 * v + (1 - BETA2) * g * g
            denom = v.sqrt() / (1 - BETA2 ** t) ** 0.5 + ADAM_EPS
            w = w - (LR / (1 - BETA1 ** t)) * m / denom
            out[k] = w
    return out1, out2


def run_case(off: Official, case: Case):
    torch.manual_seed(case.seed)
    model = build_model(off, case).float().train()
    weights32 = {k: v.detach().clone().contiguous() for k, v in model.state_dict().items()}
    keys = [f"{i}.linear.weight" for i in range(len(OUT_CHANNELS))]
    assert list(weights32) == keys, list(weights32)

    x32, labels, onehot = make_batch()
    model = model.double()
    for i in range(len(OUT_CHANNELS)):
        assert model[i].detach is False, "explanation mode must be off for training"
    params = dict(model.named_parameters())
    assert list(params) == keys
    criterion = off.combined_losses(off.logits_bce())     # v1 default_config["loss"]

    def loss_fn(inp: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor]:
        logits = model(inp)
        loss = criterion(None, logits, inp, onehot).collect()
        ref = F.binary_cross_entropy_with_logits(logits, onehot)
        assert torch.equal(loss, ref), (float(loss), float(ref))
        return logits, loss

    optimizer = torch.optim.Adam(model.parameters(), lr=LR)
    assert optimizer.defaults["betas"] == (BETA1, BETA2) and optimizer.defaults["eps"] == ADAM_EPS
    assert optimizer.defaults["weight_decay"] == 0 and not optimizer.defaults["amsgrad"]
    w0 = {k: p.detach().clone() for k, p in params.items()}

    # --- step 1 ---
    x = x32.double().requires_grad_(True)                 # leaf, for the input FD check
    optimizer.zero_grad()
    logits, loss = loss_fn(x)
    loss.backward()
    grad1 = {k: p.grad.detach().clone() for k, p in params.items()}
    x_grad = x.grad.detach().clone()

    _, margin1 = maxout_probe(model, x)
    rng = np.random.RandomState(FD_SEED)
    fd_w, fd_x, fd_skipped, fd_lines = finite_difference_check(
        lambda: float(loss_fn(x)[1]), model, params, grad1, x.detach(), x_grad, rng)
    for k in keys:                                        # the FD loop restored them exactly
        assert torch.equal(params[k].detach(), w0[k])

    optimizer.step()
    step1 = {k: p.detach().clone() for k, p in params.items()}

    # --- step 2, same batch ---
    _, margin2 = maxout_probe(model, x)
    optimizer.zero_grad()
    _, loss2 = loss_fn(x.detach())
    loss2.backward()
    grad2 = {k: p.grad.detach().clone() for k, p in params.items()}
    optimizer.step()
    step2 = {k: p.detach().clone() for k, p in params.items()}

    adam1, adam2 = textbook_adam(w0, grad1, grad2)
    adam_err = max(float((adam1[k] - step1[k]).abs().max()) for k in keys)
    adam_err = max(adam_err, max(float((adam2[k] - step2[k]).abs().max()) for k in keys))

    tensors = {
        "input": x32,
        "labels": labels.to(torch.float32),
        "logits": logits,
        "loss": loss.reshape(1),
        "loss2": loss2.reshape(1),
        **{f"grad.{k}": grad1[k] for k in keys},
        **{f"step1.{k}": step1[k] for k in keys},
        **{f"grad2.{k}": grad2[k] for k in keys},
        **{f"step2.{k}": step2[k] for k in keys},
    }
    tensors = {k: v.detach().to(torch.float32).contiguous() for k, v in tensors.items()}

    meta = {
        "case": case.name,
        "reference": "v1 GitHub moboehle/B-cos (modules.bcosconv2d.BcosConv2d, modules.losses.LogitsBCE)"
                     " + torch.optim.Adam",
        "loss": "BCEWithLogits on one-hot targets, mean over batch x classes",
        "optimizer": "torch.optim.Adam",
        "lr": repr(LR),
        "beta1": repr(BETA1),
        "beta2": repr(BETA2),
        "eps": repr(ADAM_EPS),
        "weight_decay": "0",
        "model_seed": str(case.seed),
        "input_seed": str(INPUT_SEED),
        "maxout_min_margin": f"{min(margin1, margin2):.3e}",
    }
    gall = torch.cat([g.flatten() for g in grad1.values()])
    gmax = float(gall.abs().max())
    stats = {
        "logits_min": float(logits.detach().min()), "logits_max": float(logits.detach().max()),
        "loss": float(loss.detach()), "loss2": float(loss2.detach()),
        "gmax": gmax, "g2max": max(float(g.abs().max()) for g in grad2.values()),
        "xgmax": float(x_grad.abs().max()),
        "zero_grads": int((gall == 0).sum()), "n_weights": gall.numel(),
        # entries where Adam's eps matters (|g| within 100x of eps): float32 noise there
        # changes the step noticeably
        "near_eps": int(((gall != 0) & (gall.abs() < 100 * ADAM_EPS)).sum()),
        # entries whose sign a float32 engine might get wrong (|g| < 1e-5 max|g|): Adam's
        # first step is lr * g / (|g| + eps), so such a sign flip moves the weight by up to 2 lr
        "fragile": int(((gall != 0) & (gall.abs() < 1e-5 * gmax)).sum()),
        "margin": min(margin1, margin2), "fd_skipped": fd_skipped,
        "fd_w": fd_w, "fd_x": fd_x, "fd_lines": fd_lines, "adam_err": adam_err,
        "dw1": max(float((step1[k] - w0[k]).abs().max()) for k in keys),
    }
    return config_json(case), weights32, tensors, meta, stats


# ---------------------------------------------------------------------------
# Main
# ---------------------------------------------------------------------------

def canonical_command(args: argparse.Namespace, default_out: str) -> str:
    cmd = ["python", "tools/make_train_fixtures.py", "--v1", args.v1]
    if os.path.abspath(args.out) != os.path.abspath(default_out):
        cmd += ["--out", args.out]
    if args.only:
        cmd += ["--only", *args.only]
    if args.v1_temperatures:
        cmd += ["--v1-temperatures"]
    return shlex.join(cmd)


def main(argv: Optional[List[str]] = None) -> int:
    here = os.path.dirname(os.path.abspath(__file__))
    default_out = os.path.join(os.path.dirname(here), "Tests", "BcosEngineTests", "TrainFixtures")
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--v1", required=True,
                        help="path of a checkout of GitHub moboehle/B-cos (needs modules/)")
    parser.add_argument("--out", default=default_out, help="output folder (default: %(default)s)")
    parser.add_argument("--only", nargs="*", help="generate only these case names")
    parser.add_argument("--verbose", action="store_true", help="print every FD coordinate")
    parser.add_argument("--v1-temperatures", action="store_true",
                        help="diagnostic: use the v1 table's T for every case (do not commit the output)")
    args = parser.parse_args(argv)

    torch.set_num_threads(1)                      # bit-reproducible CPU kernels
    torch.use_deterministic_algorithms(True)
    off = import_official(args.v1)
    command = canonical_command(args, default_out)

    os.makedirs(args.out, exist_ok=True)
    cases = [c for c in all_cases() if not args.only or c.name in args.only]
    if args.v1_temperatures:
        cases = [dataclasses.replace(c, temperature=V1_TEMPERATURE[c.b]) for c in cases]
    print(f"{'case':<14} {'T':>6} {'logits min..max':>16} {'loss':>9} {'loss2':>9} {'max|grad|':>9} "
          f"{'max|grad2|':>10} {'max|dx|':>8} {'0/eps/frag':>11} {'margin':>8} "
          f"{'FD w':>7} {'FD x':>7} {'skip':>4} {'Adam':>6}")
    ok = True
    for case in cases:
        cfg, weights, tensors, meta, s = run_case(off, case)
        meta["command"] = command
        save_safetensors(weights, os.path.join(args.out, f"{case.name}.model.safetensors"),
                         metadata={"bcos.config": json.dumps(cfg)})
        save_safetensors(tensors, os.path.join(args.out, f"{case.name}.train.safetensors"),
                         metadata=meta)
        counts = f"{s['zero_grads']}/{s['near_eps']}/{s['fragile']}"
        print(f"{case.name:<14} {case.temperature:>6.0e} {s['logits_min']:>7.2f}..{s['logits_max']:<7.2f} "
              f"{s['loss']:>9.6f} {s['loss2']:>9.6f} {s['gmax']:>9.2e} {s['g2max']:>10.2e} "
              f"{s['xgmax']:>8.1e} {counts:>11} {s['margin']:>8.1e} "
              f"{s['fd_w']:>7.1e} {s['fd_x']:>7.1e} {s['fd_skipped']:>4} {s['adam_err']:>6.0e}")
        if args.verbose:
            for line in s["fd_lines"]:
                print("    " + line)
        if max(s["fd_w"], s["fd_x"]) >= FD_TOL:
            print(f"  ERROR {case.name}: finite-difference check failed")
            ok = False
        if s["adam_err"] > 1e-15:
            print(f"  ERROR {case.name}: Adam steps differ from the textbook update")
            ok = False
        if max(abs(s["logits_min"]), abs(s["logits_max"])) > 50:
            print(f"  WARNING {case.name}: |logit| > 50")
        if s["gmax"] < 1e-6:
            print(f"  WARNING {case.name}: gradients ~ 0 (max {s['gmax']:.1e})")
        if s["margin"] < MIN_MAXOUT_MARGIN:
            print(f"  WARNING {case.name}: a MaxOut decision is won by only {s['margin']:.1e} "
                  f"(< {MIN_MAXOUT_MARGIN:g}); pick another seed")
    print("0/eps/frag: weight-gradient entries that are exactly 0 (never-selected MaxOut rows) / "
          "nonzero but < 100 * Adam eps / nonzero but < 1e-5 * max|grad|")
    print(f"margin: smallest MaxOut winning margin (cosine units) over both forward passes; "
          f"FD: worst relative error of {FD_POINTS} weight and {FD_POINTS} input coordinates, "
          f"skip: coordinates skipped because +-{FD_STEP:g} switches a MaxOut branch; "
          "Adam: max |torch step - textbook step|")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
