"""The pass registry: every pass declares what it targets, what it fixes and how exact it is."""

from __future__ import annotations

from dataclasses import dataclass

from gpusafe.errors import GpusafeError


@dataclass(frozen=True)
class PassSpec:
    name: str
    cls: type
    targets: tuple[str, ...]  # the aten ops (or patterns) the pass rewrites
    fixes: tuple[str, ...]  # the lint findings it removes: "rule" or "rule:OP"
    atol: float | None = None  # None: exact (bit-identical outputs on the sample inputs)
    after: tuple[str, ...] = ()  # passes that must run before this one
    summary: str = ""
    profiles: tuple[str, ...] = ("mldrift", "classic", "strict")
    fixpoint: bool = False  # re-run until it changes nothing
    rewrite: object = None  # the Rewrite declaration, for passes generated from one

    @property
    def exact(self) -> bool:
        return self.atol is None

    def to_json(self) -> dict:
        return {"name": self.name, "targets": list(self.targets), "fixes": list(self.fixes), "exact": self.exact,
                "atol": self.atol, "after": list(self.after), "profiles": list(self.profiles),
                "summary": self.summary,
                "kind": "rewrite" if self.rewrite is not None else "pass",
                "module": self.rewrite.module if self.rewrite is not None else self.cls.__module__}

REGISTRY: dict[str, PassSpec] = {}

def register_pass(name: str, *, targets, fixes, atol: float | None = None, after=(), profiles=None,
                  fixpoint: bool = False, rewrite=None):
    """Class decorator: ``@register_pass("stack-to-cat", targets=[...], fixes=[...])``."""

    def register(cls):
        if name in REGISTRY:
            raise ValueError(f"pass {name!r} is registered twice")
        doc = (cls.__doc__ or "").strip().splitlines()
        spec = PassSpec(name, cls, tuple(targets), tuple(fixes), atol, tuple(after),
                        doc[0] if doc else "", PassSpec.profiles if profiles is None else tuple(profiles), fixpoint,
                        rewrite)
        REGISTRY[name] = spec
        cls.spec = spec
        return cls

    return register

def load_builtins() -> None:
    """Register gpusafe's own passes and rewrites (importing them registers them)."""
    import gpusafe.passes  # noqa: F401
    import gpusafe.rewrites.builtin  # noqa: F401


def default_passes(profile: str, choose=()) -> list[str]:
    """Every registered pass that runs by default in ``profile``, in registration order, with the
    rewrites named in ``choose`` taking the place of the default rewrites of the same op."""
    load_builtins()
    chosen = [get_pass(name) for name in choose]
    replaced = {op for spec in chosen if spec.rewrite is not None for op in spec.rewrite.replaces}
    names = []
    for spec in REGISTRY.values():
        ops = set(spec.rewrite.replaces) if spec.rewrite is not None else set()
        if profile in spec.profiles and not ops & replaced:
            names.append(spec.name)
    return names + [spec.name for spec in chosen if spec.name not in names]


def get_pass(name: str) -> PassSpec:
    load_builtins()
    try:
        return REGISTRY[name]
    except KeyError:
        raise GpusafeError(f"unknown pass {name!r} (registered: {', '.join(REGISTRY)})") from None
