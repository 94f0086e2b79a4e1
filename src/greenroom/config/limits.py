"""Bounds on what reading greenroom.yml may cost: bytes, YAML nodes, nesting, digits.

Any file, however hostile, is read, parsed and judged within about a second and a few
tens of MB; past these limits the loader stops with a ConfigError that names the limit.
A real config is far below every one of them.
"""

from __future__ import annotations

import os
import re
import unicodedata
from pathlib import Path
from typing import NamedTuple

MAX_FILE_BYTES = 1024 * 1024  # the config file, and each env file it reads
MAX_ENV_FILE_BYTES = 2 * MAX_FILE_BYTES  # the apps' env files, in all
MAX_TEXT = 8 * MAX_FILE_BYTES  # characters that interpolation produces, in all
MAX_COMMAND_TEXT = 64 * 1024  # a command given as one string (shlex splits it in quadratic time)
MAX_NODES = 20_000  # YAML nodes written in the file (parsing costs ~20 µs each)
MAX_VALUES = 100_000  # values after expanding aliases and merge keys
MAX_DEPTH = 64  # nesting of mappings and lists, aliases and merge keys included
MAX_INT_DIGITS = 30  # longer runs of digits are strings, never integers
MAX_INTERPOLATION_DEPTH = 8  # ${A:-${B:-...}} nesting
MAX_PROBLEMS = 50  # problems listed in one error; the rest are counted


def size_text(size: int) -> str:
    """1048576 -> "1 MiB"."""
    for unit, power in (("GiB", 3), ("MiB", 2), ("KiB", 1)):
        if size >= 1024**power and size % 1024**power == 0:
            return f"{size // 1024**power} {unit}"
    return f"{size} bytes"


def read_text(path: Path, limit: int = MAX_FILE_BYTES) -> str:
    """The UTF-8 text of a file of at most `limit` bytes.

    Reads at most limit + 1 bytes, so /dev/zero or a growing pipe cannot exhaust memory, and
    opens without blocking, so a named pipe nobody writes to reads as empty instead of hanging.
    OSError is the caller's; ValueError says what is wrong with the bytes.
    """
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_CLOEXEC", 0))
    os.set_blocking(fd, True)
    with os.fdopen(fd, "rb") as file:
        data = file.read(limit + 1)
    if len(data) > limit:
        raise ValueError(f"larger than {size_text(limit)}; greenroom reads at most that much")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        raise ValueError(f"not UTF-8 text (byte {exc.start + 1}, line {line})") from None


class ReadBudget:
    """The files one load reads (the apps' env files): `total` bytes in all, and each file's
    outcome kept for its next mention, so naming /dev/zero or a big file thousands of times
    stays cheap."""

    def __init__(self, total: int = MAX_ENV_FILE_BYTES) -> None:
        self.left = total
        self.total = total
        self.outcomes: dict[Path, dict[str, str] | ValueError] = {}  # the caller's, by path

    def read(self, path: Path) -> str:
        if self.left <= 0:
            raise ValueError(f"the env files come to more than {size_text(self.total)} in all")
        try:
            text = read_text(path)
        except ValueError:
            self.left -= MAX_FILE_BYTES
            raise
        self.left -= len(text)
        return text


# What YAML forbids anywhere in a stream (PyYAML's Reader.NON_PRINTABLE).
_NON_PRINTABLE = re.compile("[^\x09\x0a\x0d\x20-\x7e\x85\xa0-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")
_NAMES = {"\x00": "NUL", "\x1b": "ESC", "\x7f": "DEL", "\x08": "BS", "\x0c": "FF"}


class BadCharacter(NamedTuple):
    line: int
    column: int
    char: str

    def describe(self) -> str:
        code = f"U+{ord(self.char):04X}"
        name = _NAMES.get(self.char) or unicodedata.name(self.char, "")
        named = f"{code} ({name})" if name else code
        return f"control character {named} at line {self.line}, column {self.column}"


def blank_bad_characters(text: str) -> str:
    return _NON_PRINTABLE.sub(" ", text)


def bad_character(text: str) -> BadCharacter | None:
    """The first character YAML does not allow in a file, if any."""
    match = _NON_PRINTABLE.search(text)
    if match is None:
        return None
    start = match.start()
    line_start = text.rfind("\n", 0, start) + 1
    return BadCharacter(text.count("\n", 0, start) + 1, start - line_start + 1, match[0])
