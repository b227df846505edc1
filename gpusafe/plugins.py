"""Loading users' rewrites: ``--plugin mypkg.rewrites`` or the ``gpusafe.rewrites`` entry point.

A plugin is a module that declares rewrites with :func:`gpusafe.rewrites.rewrite` (or registers
passes with :func:`gpusafe.passes.register_pass`); importing it registers them, and ``gpusafe
convert`` runs every registered rewrite whose profiles include the target profile. Installed
packages can expose plugins without any flag:

    [project.entry-points."gpusafe.rewrites"]
    mypkg = "mypkg.rewrites"
"""

from __future__ import annotations

import importlib
from importlib.metadata import entry_points

from gpusafe.errors import GpusafeError

ENTRY_POINT_GROUP = "gpusafe.rewrites"


def _import(module: str, origin: str):
    try:
        importlib.import_module(module)
    except GpusafeError as e:
        raise GpusafeError(f"plugin {module!r} ({origin}): {e}") from None
    except Exception as e:  # the plugin's own bug or a missing module: one line, named
        raise GpusafeError(f"cannot load plugin {module!r} ({origin}): {type(e).__name__}: {e}") from None


def load_plugins(modules=(), *, installed: bool = True) -> list[str]:
    """Import the named plugin modules and, with ``installed``, every entry-point plugin; returns
    the module names loaded. gpusafe's built-in passes and rewrites are registered first."""
    from gpusafe.passes import load_builtins

    load_builtins()
    loaded = []
    for module in modules:
        _import(module, "--plugin")
        loaded.append(module)
    if installed:
        for point in entry_points(group=ENTRY_POINT_GROUP):
            _import(point.value.split(":")[0], f"entry point {point.name}")
            loaded.append(point.value)
    return loaded
