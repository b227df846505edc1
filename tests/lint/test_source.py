"""Module paths from litert-torch tensor names (gpusafe.lint.source)."""

import pytest

from gpusafe.lint.source import module_path


@pytest.mark.parametrize(("name", "path"), [
    ("gpusafe.graphs.detectors.DetectorOutputs/transformers.models.d_fine.modeling_d_fine.DFineForObjectDetection_model"
     "/transformers.models.hgnet_v2.modeling_hgnet_v2.HGNetV2ConvLayer_stem1/torch.nn.modules.conv.Conv2d_convolution;1",
     "model.stem1.convolution (Conv2d)"),
    ("a.Root/a.Block_enc_output;3", "enc_output (Block)"),  # an attribute with underscores
    ("a.Root/torch.nn.modules.container.ModuleList_layers/a.Layer_0;", "layers.0 (Layer)"),
    ("torch.export._trace._non_strict_export.<locals>._aot_export_non_strict.<locals>.Wrapper;102", None),
    ("serving_default_output_0_output", None),  # a signature name
    ("model/conv2d/BiasAdd", None),  # TensorFlow's converter
    ("a.Root;4", None),  # the root module alone: no path
])
def test_module_path(name, path):
    assert module_path(name) == path
