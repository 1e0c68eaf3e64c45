"""The one config validator: a method's settings from its defaults and the names a user gave."""

from __future__ import annotations

from dataclasses import fields
from typing import Any


def configured(config_cls: type, owner: str, overrides: dict[str, Any]) -> Any:
    """`config_cls(**overrides)`; a name it does not have is a one-line error listing the ones it has."""
    known = [f.name for f in fields(config_cls)]
    unknown = sorted(set(overrides) - set(known))
    if unknown:
        raise ValueError(f"{owner} has no setting {', '.join(unknown)}: its settings are {', '.join(known)}")
    return config_cls(**overrides)


__all__ = ["configured"]
