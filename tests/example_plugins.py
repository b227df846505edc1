"""What the example-plugin tests share: the CLI with a plugin's directory on the path, and the
plugin's rewrites imported from it, as a user with the package checked out would have them."""

from __future__ import annotations

import importlib
import os
import subprocess
import sys
from pathlib import Path

import pytest

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"


def cli(plugin_dir: Path):
    """``gpusafe(*args)``: the CLI in a child process that can import the plugin."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(plugin_dir), os.environ.get("PYTHONPATH", "")])}

    def gpusafe(*args):
        return subprocess.run([sys.executable, "-m", "gpusafe", *args], capture_output=True, text=True, env=env,
                              timeout=600)

    return gpusafe


def plugin_fixture(plugin_dir: Path, module: str):
    """A module-scoped fixture: the plugin's module, imported with its directory on sys.path."""
    @pytest.fixture(scope="module")
    def plugin():
        sys.path.insert(0, str(plugin_dir))
        try:
            yield importlib.import_module(module)
        finally:
            sys.path.remove(str(plugin_dir))

    return plugin
