"""Model capture and factories (needs the `convert` extra: torch, transformers)."""
