#!/usr/bin/env python3
"""Markdown tables from `bcos localize --json` output (standard library only).

    python3 tools/localisation_table.py RUN.json [--paired bcos]

Prints, per method, the cells played and the median (Q1-Q3) at every smoothing the run scored, the way
docs/LOCALISATION.md shows them. With --paired NAME it also compares NAME cell by cell with every other method on
the cells both played (the first grids, where the slow methods played too): both medians and how many cells NAME
scores higher. Quartiles use the same rule as `bcos localize` (linear interpolation between order statistics).
"""
import argparse
import json
import sys

NAMES = {
    "bcos": "B-cos (x · W(x))", "grad": "Grad", "ixg": "Input×Gradient", "intgrad": "Integrated Gradients",
    "deeplift": "DeepLIFT", "gradcam": "GradCAM", "occlusion": "Occlusion", "rise": "RISE (500 masks)", "lime": "LIME",
}


def quantile(sorted_values, q):
    if not sorted_values:
        return float("nan")
    pos = q * (len(sorted_values) - 1)
    lo = int(pos)
    hi = min(lo + 1, len(sorted_values) - 1)
    return sorted_values[lo] + (sorted_values[hi] - sorted_values[lo]) * (pos - lo)


def summary(scores):
    s = sorted(scores)
    return quantile(s, 0.5), quantile(s, 0.25), quantile(s, 0.75)


def label(smooth):
    return "no smoothing" if smooth == 1 else f"{smooth}x{smooth} smoothing"


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run", help="JSON written by bcos localize --json")
    parser.add_argument("--paired", metavar="NAME", help="compare this method cell by cell with the others")
    args = parser.parse_args()
    try:
        with open(args.run) as f:
            run = json.load(f)
        methods = run["methods"]
    except (OSError, ValueError, KeyError) as e:
        sys.exit(f"localisation_table: cannot read {args.run} as bcos localize --json output ({e}); rerun with --json")

    smooths = run.get("smooths") or [run.get("smooth", 1)]
    by_name = {}
    for m in methods:
        by_name.setdefault(m["name"], {})[m["smooth"]] = m["scores"]

    print(f"{run['grids']} grids of {run['grid']}x{run['grid']} from {run['model']}; chance {1 / run['grid'] ** 2:.3f}\n")
    header = "| method | cells | " + " | ".join(f"{label(s)}: median (Q1–Q3)" for s in smooths) + " |"
    print(header)
    print("|---|---|" + "---|" * len(smooths))
    for name, per_smooth in by_name.items():
        cells = len(next(iter(per_smooth.values())))
        parts = []
        for s in smooths:
            med, q1, q3 = summary(per_smooth.get(s, []))
            parts.append(f"{med:.3f} ({q1:.3f}–{q3:.3f})")
        print(f"| {NAMES.get(name, name)} | {cells:,} | " + " | ".join(parts) + " |")

    if args.paired:
        if args.paired not in by_name:
            sys.exit(f"localisation_table: --paired {args.paired}: no such method in {args.run}")
        print(f"\n{args.paired} against each method on the cells both played:\n")
        print("| smoothing | method | cells | " + f"{args.paired} median | method median | {args.paired} higher in |")
        print("|---|---|---|---|---|---|")
        for s in smooths:
            mine = by_name[args.paired].get(s, [])
            for name, per_smooth in by_name.items():
                if name == args.paired:
                    continue
                theirs = per_smooth.get(s, [])
                n = min(len(mine), len(theirs))
                a, b = mine[:n], theirs[:n]
                higher = sum(x > y for x, y in zip(a, b))
                print(f"| {label(s)} | {NAMES.get(name, name)} | {n} | {summary(a)[0]:.3f} | {summary(b)[0]:.3f} "
                      f"| {higher} of {n} |")


if __name__ == "__main__":
    main()
