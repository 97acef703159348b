"""Score a finished job from Python and plot its per-domain AUC.

    make demo                     # or any finished adapter job
    pip install ./python          # docs/python.md
    python3 examples/python_score.py runs/demo/job.pbtxt [auc.png]

Prints each domain's test AUC scored with the frozen base and with the
domain's adapter (the same numbers `iak predict` gives), and, when matplotlib
is installed, draws them as bars into the PNG.
"""
import sys

import numpy as np

import iakps


def main(spec, png=None):
    job = iakps.Job(spec)
    batch = job.data("test")                   # every domain's test split, as numpy views
    print(f"{job.name}: {len(batch)} test samples, domains {batch.domain_names}")

    predictor = job.predictor()                # base + every adapter, loaded once
    adapted = predictor.score(batch)["p_ctr"]
    base = predictor.score(batch, adapters=False)["p_ctr"]  # the frozen base alone

    auc_base = iakps.per_domain_auc(batch, base)
    auc_iak = iakps.per_domain_auc(batch, adapted)
    print(f"{'domain':<12} {'samples':>8} {'base AUC':>9} {'IAK AUC':>9}")
    for d, name in enumerate(batch.domain_names):
        n = int(np.sum(batch.domain == d))
        fmt = lambda v: "n/a" if v is None else f"{v:.4f}"
        print(f"{name:<12} {n:>8} {fmt(auc_base.get(name)):>9} {fmt(auc_iak.get(name)):>9}")

    if png:
        try:
            import matplotlib
            matplotlib.use("Agg")
            import matplotlib.pyplot as plt
        except ImportError:
            print("matplotlib is not installed (pip install matplotlib): no plot")
            return
        names = [n for n in batch.domain_names if auc_iak.get(n) is not None]
        x = np.arange(len(names))
        fig, ax = plt.subplots(figsize=(7, 3.5))
        ax.bar(x - 0.2, [auc_base[n] for n in names], 0.4, label="frozen base")
        ax.bar(x + 0.2, [auc_iak[n] for n in names], 0.4, label="base + IAK")
        ax.set_xticks(x, names)
        ax.set_ylabel("test AUC")
        ax.set_ylim(0.5, 1.0)
        ax.legend()
        fig.tight_layout()
        fig.savefig(png)
        print(f"wrote {png}")


if __name__ == "__main__":
    if len(sys.argv) < 2:
        sys.exit(__doc__)
    main(*sys.argv[1:3])
