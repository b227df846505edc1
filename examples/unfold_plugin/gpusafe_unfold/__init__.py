"""An example gpusafe plugin: one rewrite (``unfold-to-slices``) and a small model that needs it."""
