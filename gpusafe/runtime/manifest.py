"""OUT/manifest.json: the contract between ``gpusafe convert`` and what runs its output.

One schema, written by :func:`detector_manifest` and checked by :func:`load_manifest` before
``detect``, ``verify`` or a user's app reads it: the input and its preprocessing, the graphs
and how each part's inputs are wired (``order``, ``graphs``, ``host``, ``wiring``, ``outputs``),
the output layout, the labels and the model's description (to rebuild it for ``verify``).
"""

from __future__ import annotations

import json
from pathlib import Path

from gpusafe.errors import GpusafeError

MANIFEST_SCHEMA = "gpusafe.manifest/1"
_FIELDS = {"schema": str, "model": dict, "input": dict, "order": list, "graphs": dict, "wiring": dict,
           "outputs": list, "labels": dict}


SCORES = ("sigmoid", "softmax")


def detector_manifest(size: int, description: dict | None, labels: dict | None, *, scores: str = "sigmoid",
                      normalisation: dict | None = None, **layout) -> dict:
    """The manifest of a detector taking one [1, 3, size, size] image in [0, 1] and returning
    (logits, boxes); ``scores``: how logits become class scores (``softmax``: the last class is
    no-object); ``normalisation``: the mean/std folded into the graph, if any; ``layout``: order,
    graphs, host, host_params, wiring, outputs."""
    folded = (f"; mean {normalisation['mean']} / std {normalisation['std']} normalisation is inside the graph"
              if normalisation and normalisation.get("mean") else "; no mean/std normalisation")
    return {
        "schema": MANIFEST_SCHEMA,
        "model": description or {},
        "input": {"shape": [1, 3, size, size], "dtype": "float32", "range": [0.0, 1.0], "layout": "NCHW",
                  "preprocessing": f"RGB, resized to the input size, scaled to [0, 1]{folded}",
                  "normalisation": normalisation or {"mean": None, "std": None}},
        "scores": scores,
        **{key: value for key, value in layout.items() if key not in ("wiring", "outputs")},
        "wiring": {name: [list(source) for source in sources] for name, sources in layout["wiring"].items()},
        "outputs": [list(source) for source in layout["outputs"]],
        "output_names": ["logits", "boxes"],
        "boxes": "cxcywh, normalised to [0, 1]",
        "labels": {str(k): v for k, v in (labels or {}).items()},
    }


def _problem(manifest) -> str | None:
    """What makes ``manifest`` unusable, or None."""
    if not isinstance(manifest, dict):
        return "not a JSON object"
    for key, kind in _FIELDS.items():
        if not isinstance(manifest.get(key), kind):
            return f"field {key!r} missing or not a {kind.__name__}"
    if manifest["schema"] != MANIFEST_SCHEMA:
        return f"schema {manifest['schema']!r}, this gpusafe reads {MANIFEST_SCHEMA!r}"
    if manifest.get("scores", "sigmoid") not in SCORES:
        return f"scores {manifest['scores']!r} is none of {', '.join(SCORES)}"
    shape = manifest["input"].get("shape")
    if not (isinstance(shape, list) and len(shape) == 4 and all(isinstance(d, int) and d > 0 for d in shape)):
        return f"input shape {shape!r} is not [1, 3, H, W]"
    parts = set(manifest["graphs"]) | ({"host"} if manifest.get("host") else set())
    for name in manifest["order"]:
        if name not in parts:
            return f"order names {name!r}, which is neither a graph nor the host step"
        for source in manifest["wiring"].get(name, []):
            if not (isinstance(source, list) and len(source) == 2 and source[0] in {"input", *parts}):
                return f"wiring of {name!r} reads {source!r}, which names no input or part"
    for source in manifest["outputs"]:
        if not (isinstance(source, list) and len(source) == 2 and source[0] in parts):
            return f"output {source!r} names no part"
    return None


def load_manifest(out_dir: str | Path) -> dict:
    """OUT/manifest.json, checked against the schema: one line naming what is wrong, if anything."""
    path = Path(out_dir) / "manifest.json"
    if not path.is_file():
        raise GpusafeError(f"{out_dir}: no manifest.json (write one with gpusafe convert dfine ... --out {out_dir})")
    try:
        manifest = json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise GpusafeError(f"{path}: not a gpusafe manifest ({e})") from None
    problem = _problem(manifest)
    if problem:
        raise GpusafeError(f"{path}: not a usable gpusafe manifest: {problem}")
    return manifest
