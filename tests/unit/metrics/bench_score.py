"""Timing of the scorer at MS-CXR size (1,162 phrases, 1,000 bootstrap resamples); not a test.

Run from the repository root: ``PYTHONPATH=. python tests/unit/metrics/bench_score.py``.
"""

import time

import numpy as np
import pandas as pd

from agpt.metrics import bootstrap_ci, paired_bootstrap, score


def main() -> None:
    rng = np.random.default_rng(0)
    n = 1162
    xy, wh = rng.integers(0, 1500, (n, 2)), rng.integers(1, 1000, (n, 2))
    cats = rng.choice(list("ABCDEFGH"), n)
    gold = pd.DataFrame(
        [[f"d{i}", cats[i], f"phrase {i}", *xy[i], *wh[i], 2500, 2500] for i in range(n)],
        columns=[
            "dicom_id",
            "category_name",
            "label_text",
            "x",
            "y",
            "w",
            "h",
            "image_width",
            "image_height",
        ],
    )
    pred = pd.DataFrame(
        [[f"d{i}", f"phrase {i}", *(xy[i] + rng.integers(-80, 80, 2)), *wh[i]] for i in range(n)],
        columns=["dicom_id", "label_text", "x", "y", "w", "h"],
    )
    score(gold, pred, bootstrap=10)  # warm-up
    for protocol in ("merged", "any"):
        times = []
        for _ in range(5):
            start = time.perf_counter()
            score(gold, pred, protocol=protocol, bootstrap=1000, seed=0)
            times.append(time.perf_counter() - start)
        print(
            f"score({protocol}, bootstrap=1000, n={n}): "
            f"best {min(times):.3f} s, median {sorted(times)[2]:.3f} s"
        )
    ious = rng.uniform(size=n)
    start = time.perf_counter()
    bootstrap_ci(ious, "miou", 1000, 0)
    print(f"bootstrap_ci: {time.perf_counter() - start:.4f} s")
    start = time.perf_counter()
    paired_bootstrap(ious, ious[::-1], "acc@0.5", 1000, 0)
    print(f"paired_bootstrap: {time.perf_counter() - start:.4f} s")


if __name__ == "__main__":
    main()
