import pytest

pytest.importorskip("torch", reason="the rewrites need the convert extra")
pytest.importorskip("litert_torch", reason="the gather sampler uses litert-torch's tfl ops")
