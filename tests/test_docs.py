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
    from gpusafe.catalog import builtin

    text = (DOCS / "passes.md").read_text()
    assert [p for p in builtin().specs if f"`{p}`" not in text] == []


def test_every_rewrite_has_a_doc_page():
    """docs/rewrites/NAME.md, or the family page for variants (deformable-attention-gather ->
    deformable-attention.md); the page names the rewrite."""
    import pytest

    pytest.importorskip("litert_torch")
    from gpusafe.catalog import BUILTIN_REWRITES

    for name in (declared.name for declared in BUILTIN_REWRITES):
        pages = [DOCS / "rewrites" / f"{name}.md", DOCS / "rewrites" / f"{name.rsplit('-', 1)[0]}.md"]
        page = next((p for p in pages if p.is_file()), None)
        assert page is not None and f"`{name}`" in page.read_text(), name
