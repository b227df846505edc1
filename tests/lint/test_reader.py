import numpy as np
import pytest
from ai_edge_litert import schema_py_generated as schema
from ai_edge_litert.tools import flatbuffer_utils

from gpusafe.lint import read_model
from gpusafe.testing.tflite_builder import GraphBuilder, options
from tests.corpora.lint_corpus import CASES


def save(tmp_path, name):
    return CASES[name]().save(tmp_path / f"{name}.tflite")


def test_tensors_ops_and_graph_edges(tmp_path):
    view = read_model(save(tmp_path, "mixed_partitions"))
    sg = view.subgraphs[0]
    assert [op.name for op in sg.operators] == ["LOGISTIC", "RELU_0_TO_1", "TANH", "ADD"]
    assert view.op_count == 4 and view.op_histogram()["ADD"] == 1
    logistic_out = sg.operators[0].outputs[0]
    assert sg.consumers[logistic_out] == (1, 3)  # RELU_0_TO_1 and ADD read it
    assert sg.producers[sg.operators[3].outputs[0]] == 3
    x = sg.tensors[sg.inputs[0]]
    assert (x.shape, x.dtype, x.is_constant, x.rank) == ((1, 8, 8, 4), "float32", False, 4)


def test_constants_keep_small_values(tmp_path):
    sg = read_model(save(tmp_path, "transpose_const_perm")).subgraphs[0]
    perm = sg.tensors[sg.operators[0].inputs[1]]
    assert perm.is_constant and perm.dtype == "int32"
    assert perm.value.tolist() == [0, 3, 1, 2]


def test_options_are_read(tmp_path):
    softmax = read_model(save(tmp_path, "softmax_beta2")).subgraphs[0].operators[0]
    assert softmax.options["beta"] == pytest.approx(2.0)
    sliced = read_model(save(tmp_path, "strided_slice_shrink")).subgraphs[0].operators[0]
    assert sliced.options["shrink_axis_mask"] == 8
    squeeze = read_model(save(tmp_path, "squeeze")).subgraphs[0].operators[0]
    assert squeeze.options["squeeze_dims"] == [0]


def test_versions_custom_codes_and_signatures(tmp_path):
    assert read_model(save(tmp_path, "sub_4d_v3")).subgraphs[0].operators[0].version == 3
    custom = read_model(save(tmp_path, "custom_resampler")).subgraphs[0].operators[0]
    assert (custom.name, custom.custom_code, custom.is_custom) == ("CUSTOM", "Resampler", True)
    x = read_model(save(tmp_path, "add_dynamic_signature")).subgraphs[0].tensors[0]
    assert x.shape_signature == (-1, 8, 8, 4) and x.is_dynamic


def _model_with_opcode(path, builtin, deprecated):
    g = GraphBuilder()
    x = g.input([1, 8, 8, 4])
    g.output(g.op("GELU", [x], [1, 8, 8, 4], opts=options("GeluOptions")))
    model = flatbuffer_utils.convert_bytearray_to_object(bytearray(g.build()))
    model.operatorCodes[0].builtinCode = builtin
    model.operatorCodes[0].deprecatedBuiltinCode = deprecated
    flatbuffer_utils.write_model(model, str(path))
    return path


def test_builtin_code_is_the_max_of_both_fields(tmp_path):
    # Codes above 127 live only in builtin_code; old files fill only deprecated_builtin_code;
    # ai-edge-quantizer fills only builtin_code, below 127 (DEQUANTIZE 6, deprecated 0).
    new = _model_with_opcode(tmp_path / "new.tflite", schema.BuiltinOperator.GELU, 127)
    old = _model_with_opcode(tmp_path / "old.tflite", 0, schema.BuiltinOperator.LOGISTIC)
    quantizer = _model_with_opcode(tmp_path / "quantizer.tflite", schema.BuiltinOperator.LOGISTIC, 0)
    assert read_model(new).subgraphs[0].operators[0].name == "GELU"
    assert read_model(old).subgraphs[0].operators[0].name == "LOGISTIC"
    assert read_model(quantizer).subgraphs[0].operators[0].name == "LOGISTIC"


def test_large_constants_are_constant_without_values(tmp_path):
    g = GraphBuilder()
    x = g.input([1, 64, 64, 4])
    g.output(g.op("ADD", [x, g.const(np.ones([1, 64, 64, 4], np.float32))], [1, 64, 64, 4]))
    t = read_model(g.save(tmp_path / "big.tflite")).subgraphs[0].tensors[1]
    assert t.is_constant and t.value is None


def test_the_newest_schema_codes_have_their_names():
    """The `tflite` package predates some codes of LiteRT's schema; the reader names them anyway."""
    from ai_edge_litert import schema_py_generated as schema

    from gpusafe.lint.reader import BUILTIN_NAMES, TYPE_NAMES

    builtins = {v: k for k, v in vars(schema.BuiltinOperator).items() if not k.startswith("_")}
    types = {v: k.lower() for k, v in vars(schema.TensorType).items() if not k.startswith("_")}
    assert {code: BUILTIN_NAMES.get(code) for code in builtins} == builtins
    assert {code: TYPE_NAMES.get(code) for code in types} == types
