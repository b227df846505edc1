import torch

from gpusafe.bench import sampling
from gpusafe.convert.litert import convert_to_tflite
from tests.corpora.torch_corpus import Lambda


def test_mac_counts_follow_the_shapes():
    points = sum(sampling.HEADS * sampling.QUERIES * p for _, _, p in sampling.LEVELS)
    assert sampling.macs("gather") == 4 * sampling.CHANNELS * points
    # the published port's figure for D-FINE-S: about 2.3 GMAC per decoder layer
    assert 2.3e9 <= sampling.macs("dense") <= 2.4e9
    assert sampling.macs("dense") / sampling.macs("gather") >= 100


def test_largest_intermediate_reads_the_tflite(tmp_path):
    path = convert_to_tflite(Lambda(lambda x: (x.reshape(1, 4, 64, 8) * 2).sum(1)), (torch.randn(1, 2048),),
                             tmp_path / "m.tflite")
    size, description = sampling.largest_intermediate(path)
    assert size == 2048 * 4 and "float32" in description
