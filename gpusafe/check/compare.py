"""Compare detector outputs from two runtimes as detections.

The query selection is a top-k over encoder scores. Where scores tie or nearly tie, two runtimes
(whose fp32 results differ in the last bits) may order the selected queries differently (the
decoder is permutation-equivariant, so the same detections land in other rows) or, at the k-th
place, select a different token. Rows are therefore matched greedily by their error first; a
query counts as matched when its logits and boxes are within the tolerances, and the queries left
over are reported as top-k boundary swaps rather than hidden in a maximum.
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


def looks_like_detections(outputs: list[np.ndarray]) -> bool:
    """Two outputs shaped like a detector's: logits [1, Q, K] and boxes [1, Q, 4]."""
    if len(outputs) != 2:
        return False
    logits, boxes = (np.shape(o) for o in outputs)
    return len(logits) == 3 and logits[0] == 1 and tuple(boxes) == (1, logits[1], 4)


def compare_detections(reference, candidate, atol_logits: float = 1e-3, atol_boxes: float = 1e-4) -> dict:
    """Matched-query comparison of (logits, boxes): counts, and max errors over matched queries."""
    order = match_queries(reference, candidate)
    logits = np.abs(reference[0] - candidate[0][:, order]).max(-1)[0]
    boxes = np.abs(reference[1] - candidate[1][:, order]).max(-1)[0]
    matched = (logits <= atol_logits) & (boxes <= atol_boxes)
    return {
        "queries": int(len(matched)),
        "matched": int(matched.sum()),
        "boundary_swaps": int((~matched).sum()),
        "max_abs_error_matched": {"logits": float(logits[matched].max(initial=0.0)),
                                  "boxes": float(boxes[matched].max(initial=0.0))},
        "max_abs_error_all": {"logits": float(logits.max()), "boxes": float(boxes.max())},
        "tolerance": {"logits": atol_logits, "boxes": atol_boxes},
    }
