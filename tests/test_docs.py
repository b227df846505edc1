from pathlib import Path

from gpusafe.lint import PROFILES, RULES

DOCS = Path(__file__).resolve().parents[1] / "docs"


def test_lint_doc_lists_every_rule_and_profile():
    text = (DOCS / "lint.md").read_text()
    assert [r for r in RULES if f"`{r}`" not in text] == []
    assert [p for p in PROFILES if f"`{p}`" not in text] == []
