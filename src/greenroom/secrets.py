"""Keeping secret values out of everything greenroom prints."""

from __future__ import annotations

import re
from collections.abc import Iterable

MASK = "******"


def mask_text(text: str, secrets: Iterable[str]) -> str:
    """Replace every occurrence of every non-empty secret in `text` with MASK.

    One pass with the longest secrets first, so that a secret containing another is masked
    whole and a mask is never masked again.
    """
    values = sorted({s for s in secrets if s}, key=len, reverse=True)
    if not values:
        return text
    return re.sub("|".join(re.escape(v) for v in values), MASK, text)
