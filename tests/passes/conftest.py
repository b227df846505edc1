import pytest

torch = pytest.importorskip("torch", reason="the passes need the convert extra")
