"""The semantic labels c of the DDPM: healthy skin, lesion, and the null (unconditional) class.

Their own module so that the network (`model`), the pair of networks (`semantic_pair`), training
and extraction share one numbering without importing each other.
"""

from __future__ import annotations

from diffseg.runtime.errors import ConfigError

HEALTHY, LESION, NULL = 0, 1, 2
SEMANTICS = {"healthy": HEALTHY, "lesion": LESION, "null": NULL}


def semantic_id(semantic: int | str) -> int:
    """The class id of a semantic given by name ("lesion") or id (1)."""
    if isinstance(semantic, str):
        if semantic not in SEMANTICS:
            raise ConfigError(f"semantic {semantic!r} is not one of {sorted(SEMANTICS)}")
        return SEMANTICS[semantic]
    if int(semantic) not in SEMANTICS.values():
        raise ConfigError(f"semantic id {semantic} is not one of {sorted(SEMANTICS.values())}")
    return int(semantic)
