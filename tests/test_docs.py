from pathlib import Path

from gpusafe.lint import PROFILES, RULES

DOCS = Path(__file__).resolve().parents[1] / "docs"


def test_lint_doc_lists_every_rule_and_profile():
    text = (DOCS / "lint.md").read_text()
    assert [r for r in RULES if f"`{r}`" not in text] == []
    assert [p for p in PROFILES if f"`{p}`" not in text] == []


def test_passes_doc_lists_every_pass():
    import pytest

    pytest.importorskip("torch")
    from gpusafe.passes import REGISTRY

    text = (DOCS / "passes.md").read_text()
    assert [p for p in REGISTRY if f"`{p}`" not in text] == []
