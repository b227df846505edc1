"""Example gpusafe plugin: torch.cumsum as log-step prefix adds (docs/authoring.md, second example)."""
