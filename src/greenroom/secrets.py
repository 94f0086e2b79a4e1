"""Keeping secret values out of everything greenroom prints.

A secret can reach output raw, or escaped by whatever quoted it on the way: Python's repr
(error messages), JSON, shell quoting, YAML single quotes, URL encoding. `Masker` knows every
such form of every secret and replaces each occurrence, overlapping ones merged, with MASK.
Secrets shorter than MIN_LENGTH are refused when the config is read: masking them would
garble every line and, by what it garbles, reveal them.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from typing import Any
from urllib.parse import quote, quote_plus

MASK = "******"
MIN_LENGTH = 4  # characters; shorter secrets are refused by the config schema


def _python_escaped(value: str, char_repr: Any) -> tuple[str, str]:
    """The inside of repr()/ascii() of a string holding `value`: quotes left as they are, and
    with single quotes escaped (repr does that when the string holds both kinds of quote)."""
    plain = "".join(c if c in "'\"" else char_repr(c)[1:-1] for c in value)
    return plain, plain.replace("'", "\\'")


def shown_forms(secret: str) -> frozenset[str]:
    """Every way `secret` can appear in text that greenroom prints."""
    forms = {secret}
    forms.update(_python_escaped(secret, repr))
    forms.update(_python_escaped(secret, ascii))
    forms.add(json.dumps(secret)[1:-1])
    forms.add(json.dumps(secret, ensure_ascii=False)[1:-1])
    forms.add(secret.replace("'", "'\"'\"'"))  # shlex.quote, inside its quotes
    forms.add(secret.replace("'", "''"))  # YAML single-quoted
    forms.add(secret.replace("[", "\\["))  # Rich markup escaped
    forms.update((quote(secret), quote(secret, safe=""), quote_plus(secret)))
    return frozenset(forms)


class Masker:
    """Masks every shown form of a set of secrets in text and in JSON-like data.

    Values shorter than MIN_LENGTH are ignored (the config refuses them, and an error about
    a file that failed to load must stay readable).
    """

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        self.secrets = frozenset(s for s in secrets if len(s) >= MIN_LENGTH)
        forms = {f for s in self.secrets for f in shown_forms(s)}
        self._forms = tuple(sorted(forms, key=len, reverse=True))
        self._longest = len(self._forms[0]) if self._forms else 0

    def __bool__(self) -> bool:
        return bool(self._forms)

    def adding(self, secrets: Iterable[str]) -> Masker:
        return Masker(self.secrets | set(secrets))

    def spans(self, text: str) -> list[tuple[int, int]]:
        """Where secrets are in `text`: sorted, overlapping and touching occurrences merged."""
        found: list[tuple[int, int]] = []
        for form in self._forms:
            i = text.find(form)
            while i >= 0:
                found.append((i, i + len(form)))
                i = text.find(form, i + 1)
        found.sort()
        merged: list[tuple[int, int]] = []
        for start, end in found:
            if merged and start <= merged[-1][1]:
                merged[-1] = (merged[-1][0], max(end, merged[-1][1]))
            else:
                merged.append((start, end))
        return merged

    def text(self, text: str) -> str:
        if not self._forms:
            return text
        return _replace(text, self.spans(text))

    def data(self, value: Any) -> Any:
        """A copy of JSON-like data (dicts, lists, tuples, strings) with every string masked."""
        if isinstance(value, str):
            return self.text(value)
        if isinstance(value, dict):
            return {self.data(k): self.data(v) for k, v in value.items()}
        if isinstance(value, list | tuple):
            return [self.data(v) for v in value]
        return value

    def held_back(self, text: str) -> int:
        """The earliest index from which the end of `text` could be the start of a secret
        that the next chunk completes (len(text) when none)."""
        for p in range(max(0, len(text) - self._longest + 1), len(text)):
            tail = text[p:]
            if any(len(f) > len(tail) and f.startswith(tail) for f in self._forms):
                return p
        return len(text)

    def lines(self, chunks: Iterable[str], *, limit: int = 8192) -> Iterator[str]:
        """Mask a stream (followed logs) whose writes may split a secret: whole lines are let
        through, a partial line waits for its end (or, past `limit` characters, for as long as
        it could still be completing a secret)."""
        if not self._forms:
            yield from chunks
            return
        buf = ""
        for chunk in chunks:
            buf += chunk
            cut = buf.rfind("\n") + 1
            if len(buf) - cut > limit:
                cut = len(buf)
            if cut == 0:
                continue
            spans = self.spans(buf)
            cut = min(cut, self.held_back(buf))
            for start, end in spans:  # never cut through (or right after) a secret
                if start < cut <= end:
                    cut = start
            if cut:
                yield _replace(buf[:cut], [s for s in spans if s[1] <= cut])
                buf = buf[cut:]
        if buf:
            yield self.text(buf)


def _replace(text: str, spans: list[tuple[int, int]]) -> str:
    if not spans:
        return text
    out: list[str] = []
    pos = 0
    for start, end in spans:
        out += [text[pos:start], MASK]
        pos = end
    out.append(text[pos:])
    return "".join(out)


def mask_text(text: str, secrets: Iterable[str]) -> str:
    """Replace every shown form of every secret (MIN_LENGTH or longer) in `text` with MASK."""
    return Masker(secrets).text(text)
