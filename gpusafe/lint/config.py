"""Derive a profile from a small TOML config file.

    profile = "mldrift"            # the base profile (the CLI's --profile wins)
    disable = ["fanout-3d"]        # drop rules
    ban = ["GELU"]                 # add ops the delegate takes but you do not want
    allow = ["TOPK_V2"]            # take an op off the ban list
    max_rank = 4
    [severity]                     # override a rule's severity: error, warning, info
    "fanout-3d" = "error"
    [max_version]                  # add or override an op's maximum version
    CONV_2D = 5
"""

from __future__ import annotations

import tomllib
from dataclasses import replace
from pathlib import Path
from types import MappingProxyType

from gpusafe.errors import ConfigError
from gpusafe.lint.profiles import Profile, get_profile
from gpusafe.lint.rules import RULES, SEVERITIES

KEYS = {"profile", "disable", "ban", "allow", "max_rank", "severity", "max_version"}


def _names(config: dict, key: str) -> frozenset[str]:
    value = config.get(key, [])
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ConfigError(f"config: {key!r} must be a list of strings")
    return frozenset(value)


def _check_rules(ids, where: str) -> None:
    unknown = sorted(set(ids) - set(RULES))
    if unknown:
        raise ConfigError(f"config: unknown rule(s) in {where}: {', '.join(unknown)}")


def apply_config(profile: Profile, config: dict) -> Profile:
    unknown = sorted(set(config) - KEYS)
    if unknown:
        raise ConfigError(f"config: unknown key(s) {', '.join(unknown)} (known: {', '.join(sorted(KEYS))})")
    disable, ban, allow = _names(config, "disable"), _names(config, "ban"), _names(config, "allow")
    _check_rules(disable, "disable")
    severity = config.get("severity", {})
    _check_rules(severity, "[severity]")
    bad = {k: v for k, v in severity.items() if v not in SEVERITIES}
    if bad:
        raise ConfigError(f"config: severities must be one of {', '.join(SEVERITIES)}: {bad}")
    versions = config.get("max_version", {})
    if not all(isinstance(v, int) and v > 0 for v in versions.values()):
        raise ConfigError("config: [max_version] values must be positive integers")
    max_rank = config.get("max_rank", profile.max_rank)
    if not isinstance(max_rank, int) or max_rank < 1:
        raise ConfigError("config: max_rank must be a positive integer")
    return replace(
        profile,
        name=f"{profile.name}+config",
        ops=MappingProxyType({**profile.ops, **versions}),
        banned=(profile.banned | ban) - allow,
        disabled=profile.disabled | disable,
        severity=MappingProxyType({**profile.severity, **severity}),
        max_rank=max_rank,
    )


def load_profile(name: str | None, config_path: str | Path | None) -> Profile:
    """The profile named on the command line (or in the config), with the config applied."""
    config: dict = {}
    if config_path is not None:
        path = Path(config_path)
        try:
            config = tomllib.loads(path.read_text())
        except FileNotFoundError:
            raise ConfigError(f"{path}: no such config file") from None
        except (OSError, UnicodeDecodeError) as e:
            raise ConfigError(f"{path}: cannot read config ({e})") from None
        except tomllib.TOMLDecodeError as e:
            raise ConfigError(f"{path}: invalid TOML ({e})") from None
    base = get_profile(name or config.get("profile", "mldrift"))
    return apply_config(base, config) if config else base
