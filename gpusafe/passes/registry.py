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

    @property
    def exact(self) -> bool:
        return self.atol is None

    def to_json(self) -> dict:
        return {"name": self.name, "targets": list(self.targets), "fixes": list(self.fixes), "exact": self.exact,
                "atol": self.atol, "after": list(self.after), "profiles": list(self.profiles),
                "summary": self.summary}

REGISTRY: dict[str, PassSpec] = {}

def register_pass(name: str, *, targets, fixes, atol: float | None = None, after=(), profiles=None,
                  fixpoint: bool = False):
    """Class decorator: ``@register_pass("stack-to-cat", targets=[...], fixes=[...])``."""

    def register(cls):
        if name in REGISTRY:
            raise ValueError(f"pass {name!r} is registered twice")
        doc = (cls.__doc__ or "").strip().splitlines()
        spec = PassSpec(name, cls, tuple(targets), tuple(fixes), atol, tuple(after),
                        doc[0] if doc else "", tuple(profiles or PassSpec.profiles), fixpoint)
        REGISTRY[name] = spec
        cls.spec = spec
        return cls

    return register

def get_pass(name: str) -> PassSpec:
    try:
        return REGISTRY[name]
    except KeyError:
        raise GpusafeError(f"unknown pass {name!r} (registered: {', '.join(REGISTRY)})") from None
