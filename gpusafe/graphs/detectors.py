"""transformers object detectors saved with ``save_pretrained``: which families gpusafe converts,
loading one from a local directory (no network), its preprocessing, and the wrapper that makes
forward(pixels in [0, 1]) return (logits, boxes).

The family comes from config.json's ``model_type``; the model is built by transformers' Auto
classes, so nothing here is keyed on a model class. The preprocessing (rescale, mean/std) comes
from the directory's preprocessor_config.json, else from the defaults of the image processor
transformers maps the family to, and is folded into the graph: every converted detector takes the
same input, RGB in [0, 1], and the manifest says what was folded.
"""

from __future__ import annotations

import json
from pathlib import Path

import torch

from gpusafe.errors import GpusafeError

# model_type -> the family's name; the ten DETR families checked end to end (docs/zoo.md).
FAMILIES = {
    "detr": "DETR", "conditional_detr": "Conditional DETR", "dab-detr": "DAB-DETR",
    "deformable_detr": "Deformable DETR", "rt_detr": "RT-DETR", "rt_detr_v2": "RT-DETR v2", "d_fine": "D-FINE",
    "deimv2": "DEIMv2", "lw_detr": "LW-DETR", "rf_detr": "RF-DETR",
}


def read_model_type(weights: str | Path) -> str:
    """config.json's ``model_type`` of a ``save_pretrained`` directory; one-line errors otherwise."""
    path = Path(weights)
    if not path.exists():
        raise GpusafeError(f"{path}: no such directory")
    if not (path / "config.json").is_file():
        raise GpusafeError(f"{path}: not a transformers model directory (no config.json)")
    try:
        model_type = json.loads((path / "config.json").read_text()).get("model_type")
    except (OSError, ValueError, AttributeError) as e:
        raise GpusafeError(f"{path}/config.json: not a readable transformers config ({e})") from None
    if not isinstance(model_type, str):
        raise GpusafeError(f"{path}/config.json: no model_type")
    return model_type


def load_detector(weights: str | Path) -> torch.nn.Module:
    """The detector saved in ``weights``, in eval mode, if its family is one of :data:`FAMILIES`."""
    from transformers import AutoModelForObjectDetection

    model_type = read_model_type(weights)
    if model_type not in FAMILIES:
        raise GpusafeError(f"{weights} holds a {model_type!r} model; gpusafe converts these transformers detectors: "
                           f"{', '.join(sorted(FAMILIES))} (other modules: 'convert module --model MODULE:FACTORY')")
    try:
        return AutoModelForObjectDetection.from_pretrained(str(weights), local_files_only=True).eval()
    except (OSError, ValueError, KeyError, RuntimeError) as e:
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise GpusafeError(f"{weights}: cannot load the {FAMILIES[model_type]} weights ({first})") from None


def preprocessing(weights: str | Path, model_type: str) -> dict:
    """How the family's image processor maps RGB in [0, 1] to the model's input: ``mean`` and
    ``std`` (None: no normalisation) and where that came from."""
    path = Path(weights) / "preprocessor_config.json"
    if path.is_file():
        try:
            config, source = json.loads(path.read_text()), str(path)
        except ValueError as e:
            raise GpusafeError(f"{path}: not readable JSON ({e})") from None
    else:
        config, source = _default_processor(model_type)
    if config is None:
        return {"mean": None, "std": None, "source": source}
    normalize = config.get("do_normalize", False)
    return {"mean": [float(v) for v in config["image_mean"]] if normalize else None,
            "std": [float(v) for v in config["image_std"]] if normalize else None, "source": source}


def _default_processor(model_type: str) -> tuple[dict | None, str]:
    """The defaults of the image processor transformers maps ``model_type`` to, if it maps one."""
    import transformers
    from transformers.models.auto.image_processing_auto import IMAGE_PROCESSOR_MAPPING_NAMES

    for name in (IMAGE_PROCESSOR_MAPPING_NAMES.get(model_type) or {}).values():
        try:
            processor = getattr(transformers, name)()
        except Exception:  # noqa: BLE001 - an optional backend (torchvision) missing: try the next class
            continue
        return {"do_normalize": processor.do_normalize, "image_mean": processor.image_mean,
                "image_std": processor.image_std}, f"{name} defaults (no preprocessor_config.json)"
    return None, "assumed (no preprocessor_config.json and no image processor for this family): no normalisation"


class DetectorOutputs(torch.nn.Module):
    """forward(pixels [1, 3, H, W], RGB in [0, 1]) -> (logits, boxes) of a transformers detector,
    with the image processor's mean/std normalisation (if any) folded in front."""

    def __init__(self, model: torch.nn.Module, mean=None, std=None):
        super().__init__()
        self.model = model
        self.normalise = mean is not None
        if self.normalise:
            self.register_buffer("mean", torch.tensor(mean, dtype=torch.float32).reshape(1, -1, 1, 1))
            self.register_buffer("inv_std", 1 / torch.tensor(std, dtype=torch.float32).reshape(1, -1, 1, 1))

    def forward(self, pixel_values: torch.Tensor):
        if self.normalise:
            pixel_values = (pixel_values - self.mean) * self.inv_std
        outputs = self.model(pixel_values=pixel_values)
        return outputs.logits, outputs.pred_boxes


def score_function(num_labels: int, logits_width: int) -> str:
    """``softmax`` where the logits carry one class more than the labels (DETR's last, no-object
    class; its detections are the softmax's best real class), else ``sigmoid`` per class."""
    return "softmax" if logits_width == num_labels + 1 else "sigmoid"


def he_normal_init(model: torch.nn.Module, seed: int) -> int:
    """Re-initialise every layer, seeded: PyTorch's defaults (unit norms, zero or uniform biases),
    then He-normal weights (std sqrt(2 / fan_in)) for every convolution and linear layer, so that
    features keep their scale through the network as a trained model's do (see
    ``gpusafe.graphs.dfine.reinitialise``). Returns the number of layers re-initialised."""
    torch.manual_seed(seed)
    count = 0
    for module in model.modules():
        if hasattr(module, "reset_parameters") and module is not model:
            module.reset_parameters()
            if isinstance(module, torch.nn.Conv2d | torch.nn.Linear):
                torch.nn.init.kaiming_normal_(module.weight, nonlinearity="relu")
            count += 1
    return count


def saved_detector(weights: str | Path, size: int) -> tuple[DetectorOutputs, dict, dict, dict]:
    """(the detector in ``weights`` wrapped to take RGB in [0, 1], its description for the manifest
    and report, its labels, its manifest ``head``: ``scores`` and ``normalisation``)."""
    model_type = read_model_type(weights)
    detector = load_detector(weights)
    norm = preprocessing(weights, model_type)
    model = DetectorOutputs(detector, norm["mean"], norm["std"]).eval()
    with torch.no_grad():
        logits, _ = model(torch.zeros(1, 3, size, size))
    labels = detector.config.id2label
    description = {"family": "transformers", "model_type": model_type, "weights": str(weights)}
    return model, description, labels, {"scores": score_function(len(labels), logits.shape[-1]),
                                        "normalisation": norm}
