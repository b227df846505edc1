"""Compare detector outputs from two runtimes, as detections: queries may come out in another order.

The query selection is a top-k over encoder scores; where scores tie (or nearly tie) two
runtimes may order the selected queries differently, and the decoder is permutation-equivariant,
so the same detections appear in different rows. Rows are matched greedily by their error
before the errors are measured.
"""

from __future__ import annotations

import numpy as np


def match_queries(reference: list[np.ndarray], candidate: list[np.ndarray]) -> np.ndarray:
    """Permutation p with candidate[:, p[i]] ~ reference[:, i]; arrays are [1, queries, features]."""
    ref = np.concatenate([r[0] for r in reference], axis=-1).astype(np.float64)
    cand = np.concatenate([c[0] for c in candidate], axis=-1).astype(np.float64)
    cost = np.abs(ref[:, None, :] - cand[None, :, :]).max(-1)
    order = np.full(len(ref), -1)
    taken = np.zeros(len(cand), dtype=bool)
    for flat in np.argsort(cost, axis=None):
        i, j = divmod(int(flat), len(cand))
        if order[i] < 0 and not taken[j]:
            order[i], taken[j] = j, True
    return order


def detection_errors(reference: list[np.ndarray], candidate: list[np.ndarray]) -> list[float]:
    """Max absolute error per output after matching queries."""
    order = match_queries(reference, candidate)
    return [float(np.abs(r - c[:, order]).max()) for r, c in zip(reference, candidate, strict=True)]
