import pytest

pytest.importorskip("transformers", reason="capture needs the convert extra")
