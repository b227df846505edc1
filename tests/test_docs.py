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


def test_every_rewrite_has_a_doc_page():
    import pytest

    pytest.importorskip("litert_torch")
    from gpusafe.rewrites import grid_sample_dense, grid_sample_gather, grid_sample_separable

    for module in (grid_sample_dense, grid_sample_gather, grid_sample_separable):
        assert (DOCS / "rewrites" / f"{module.REWRITE.name}.md").is_file()
