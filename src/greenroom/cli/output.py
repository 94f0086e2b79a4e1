"""The one sink of everything the CLI shows, for people and for scripts.

Every Rich print (markup, Text, tables, JSON), plain text, followed logs and error goes
through `output`, which masks the secrets of the configs loaded so far (every shown form,
see greenroom.secrets) before Rich parses markup, highlights or wraps anything. It also holds
--quiet, and builds its consoles when a command starts, so NO_COLOR and FORCE_COLOR are read
from the environment the command runs in.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterable
from typing import Any

from rich.console import Console, NewLine
from rich.control import Control
from rich.json import JSON
from rich.table import Table
from rich.text import Text

from greenroom.errors import GreenroomError
from greenroom.secrets import MASK, Masker


def mask_rich(text: Text, masker: Masker) -> Text:
    """`text` with secrets masked, keeping the styles around them."""
    spans = masker.spans(text.plain)
    if not spans:
        return text
    masked = text.blank_copy()
    pos = 0
    for start, end in spans:
        masked.append_text(text[pos:start])
        masked.append(MASK)
        pos = end
    masked.append_text(text[pos:])
    return masked


class MaskedConsole(Console):
    """A Rich console that masks secrets in whatever it is given to print."""

    def __init__(self, sink: Output, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.sink = sink

    def masked(self, renderable: Any) -> Any:
        """`renderable` with secrets masked: tables and JSON in place, text copied."""
        masker = self.sink.masker
        if not masker or renderable is None or isinstance(renderable, Control | NewLine):
            return renderable
        if isinstance(renderable, str):
            return masker.text(renderable)  # before markup is parsed: a secret may hold [tags]
        if isinstance(renderable, dict | list | tuple):
            return masker.data(renderable)  # before Rich's repr escapes the strings in it
        if isinstance(renderable, Text):
            return mask_rich(renderable, masker)
        if isinstance(renderable, JSON):
            renderable.text = mask_rich(renderable.text, masker)
            return renderable
        if isinstance(renderable, Table):
            for attr in ("title", "caption"):
                setattr(renderable, attr, self.masked(getattr(renderable, attr)))
            for column in renderable.columns:
                column.header = self.masked(column.header)
                column.footer = self.masked(column.footer)
                column._cells[:] = [self.masked(cell) for cell in column._cells]
            return renderable
        # Anything else: render it here, then mask the text it came to.
        with self.capture() as captured:
            super().print(renderable, markup=False, highlight=False, end="")
        return mask_rich(Text.from_ansi(captured.get()), masker)

    def print(self, *objects: Any, **kwargs: Any) -> None:
        super().print(*(self.masked(o) for o in objects), **kwargs)

    def log(self, *objects: Any, **kwargs: Any) -> None:
        super().log(*(self.masked(o) for o in objects), **kwargs)


class Output:
    """Where the CLI writes: `out` (results) and `err` (progress, warnings, errors)."""

    def __init__(self) -> None:
        self.masker = Masker()
        self.quiet = False
        self.out = MaskedConsole(self, soft_wrap=True)
        self.err = MaskedConsole(self, stderr=True, soft_wrap=True)

    def start(self, *, quiet: bool = False) -> None:
        """A command starts: fresh consoles (reading NO_COLOR now), no secrets known yet."""
        self.masker = Masker()
        self.quiet = quiet
        self.out = MaskedConsole(self, soft_wrap=True)
        self.err = MaskedConsole(self, stderr=True, soft_wrap=True)

    def add_secrets(self, values: Iterable[str]) -> None:
        self.masker = self.masker.adding(values)

    def mask(self, text: str) -> str:
        return self.masker.text(text)

    def json(self, value: Any) -> None:
        """JSON data (already JSON-able) on stdout, every string in it masked."""
        self.out.print_json(json.dumps(self.masker.data(value)))

    def echo(self, text: str, *, end: str = "\n") -> None:
        """Plain text on stdout, as it is (no markup, no highlighting), masked."""
        sys.stdout.write(self.mask(text) + end)

    def stream(self, chunks: Iterable[str]) -> None:
        """A followed stream on stdout, masked line by line (a secret may span two writes)."""
        for piece in self.masker.lines(chunks):
            sys.stdout.write(piece)
            sys.stdout.flush()

    def note(self, text: str | Text) -> None:
        """Progress and warnings on stderr; --quiet drops them."""
        if not self.quiet:
            self.err.print(text, highlight=False)

    def error(self, exc: GreenroomError) -> None:
        where = f"{exc.where}: " if exc.where else ""
        self.err.print(Text.assemble(("error:", "bold red"), f" {where}{exc.message}"))
        if exc.hint:
            self.err.print(Text.assemble(("hint:", "dim"), f" {exc.hint}"))


output = Output()
