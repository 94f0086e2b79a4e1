"""The YAML loader: PyYAML's safe loader with YAML 1.2 core scalars, bounded, and verbatim numbers.

- Only true/false are booleans, only plain decimals (at most MAX_INT_DIGITS digits) are
  integers, and floats need a dot or an exponent; so `restart: no`, `- 80:80`, dates and
  1_000 stay strings.
- Composing stops past MAX_NODES nodes or MAX_DEPTH levels of nesting (TooLarge), before
  any deep recursion or slow parse.
- Numbers remember their text: `1.10` is the float 1.1 where a number is wanted, and the
  string "1.10" where a string is (environment, labels, command words), as in the file.
"""

from __future__ import annotations

import re
from typing import Any

import yaml
from yaml.composer import Composer
from yaml.constructor import ConstructorError, SafeConstructor
from yaml.error import Mark
from yaml.events import Event
from yaml.nodes import Node, ScalarNode
from yaml.parser import Parser
from yaml.reader import Reader
from yaml.resolver import Resolver
from yaml.scanner import Scanner

from greenroom.config.limits import MAX_DEPTH, MAX_INT_DIGITS, MAX_NODES

try:
    from yaml._yaml import CParser

    _CParser: type[CParser] | None = CParser
except ImportError:  # PyYAML built without libyaml
    _CParser = None

TAG = "tag:yaml.org,2002:"
BOOL, INT, FLOAT, NULL, STR, SEQ, MAP, MERGE = (
    TAG + t for t in ("bool", "int", "float", "null", "str", "seq", "map", "merge")
)
TAGS = frozenset((BOOL, INT, FLOAT, NULL, STR, SEQ, MAP, MERGE))  # every other tag is refused

_INT_TEXT = re.compile(rf"[-+]?(?:0|[1-9][0-9]{{0,{MAX_INT_DIGITS - 1}}})")
_FLOAT_TEXT = re.compile(
    r"[-+]?(?:\.[0-9]+|[0-9]+\.[0-9]*)(?:[eE][-+]?[0-9]+)?|[-+]?[0-9]+[eE][-+]?[0-9]+"
    r"|[-+]?\.(?:inf|Inf|INF)|\.(?:nan|NaN|NAN)"
)
_BOOL_TEXT = {"true": True, "True": True, "TRUE": True, "false": False, "False": False, "FALSE": False}


class VerbatimInt(int):
    """An integer that remembers how the file wrote it."""

    text: str

    def __new__(cls, text: str) -> VerbatimInt:
        self = super().__new__(cls, text)
        self.text = text
        return self


class VerbatimFloat(float):
    """A float that remembers how the file wrote it."""

    text: str

    def __new__(cls, text: str) -> VerbatimFloat:
        self = super().__new__(cls, text.lower().replace(".inf", "inf").replace(".nan", "nan"))
        self.text = text
        return self


def source_text(value: int | float) -> str:
    """A number as the file wrote it (`1.10`, `+5`), else as Python writes it."""
    return value.text if isinstance(value, VerbatimInt | VerbatimFloat) else str(value)


class TooLarge(yaml.YAMLError):
    """The document is over a limit; `mark` is where composing stopped."""

    def __init__(self, message: str, node_mark: Mark | None) -> None:
        super().__init__(message)
        self.message = message
        self.mark = node_mark


class _PyParser(Reader, Scanner, Parser):
    """PyYAML's pure-Python parser, for a PyYAML built without libyaml (about 50 times slower)."""

    def __init__(self, stream: str) -> None:
        Reader.__init__(self, stream)
        Scanner.__init__(self)
        Parser.__init__(self)


class Loader(Composer, SafeConstructor, Resolver):
    """Events from libyaml's parser when there is one (a 1 MiB scalar takes milliseconds, not a
    second), composed here in Python, where the limits are kept, into nodes with safe tags."""

    def __init__(self, stream: str) -> None:
        self._events: Any = _CParser(stream) if _CParser else _PyParser(stream)
        Composer.__init__(self)
        SafeConstructor.__init__(self)
        Resolver.__init__(self)
        self._path: list[str] = []  # where composing is, for the messages
        self._composed = 0

    def check_event(self, *choices: type[Event]) -> bool:
        return bool(self._events.check_event(*choices))

    def peek_event(self) -> Any:
        return self._events.peek_event()

    def get_event(self) -> Any:
        return self._events.get_event()

    def dispose(self) -> None:
        self._events.dispose()

    def compose_node(self, parent: Node | None, index: Any) -> Node | None:
        # PyYAML passes a list item's position, a mapping value's key node, or None for a key.
        if parent is None:
            step = ""
        elif isinstance(index, int):
            step = str(index)
        else:
            step = index.value if isinstance(index, ScalarNode) else "(key)"
        self._composed += 1
        if self._composed > MAX_NODES:
            self._too_large(step, f"more than {MAX_NODES} YAML values in the file")
        if len(self._path) >= MAX_DEPTH:
            self._too_large(step, f"nested more than {MAX_DEPTH} levels deep")
        self._path.append(step)
        try:
            return super().compose_node(parent, index)
        finally:
            self._path.pop()

    def _too_large(self, step: str, message: str) -> None:
        path = ".".join(p for p in (*self._path, step) if p) or "(top level)"
        raise TooLarge(f"{path}: {message}", self.peek_event().start_mark)

    def construct_verbatim_int(self, node: ScalarNode) -> int:
        text = self.construct_scalar(node)
        if not _INT_TEXT.fullmatch(text):
            message = f"{text!r} is not a decimal integer of at most {MAX_INT_DIGITS} digits"
            raise ConstructorError(None, None, message, node.start_mark)
        return VerbatimInt(text)

    def construct_verbatim_float(self, node: ScalarNode) -> float:
        text = self.construct_scalar(node)
        if not (_FLOAT_TEXT.fullmatch(text) or _INT_TEXT.fullmatch(text)):
            raise ConstructorError(None, None, f"{text!r} is not a number", node.start_mark)
        return VerbatimFloat(text)

    def construct_strict_bool(self, node: ScalarNode) -> bool:
        text = self.construct_scalar(node)
        if text not in _BOOL_TEXT:
            raise ConstructorError(None, None, f"{text!r} is not true or false", node.start_mark)
        return _BOOL_TEXT[text]

    def construct_any_str(self, node: Node) -> Any:
        return self.construct_yaml_str(node)  # a `<<` that is not a key is just text


_DROPPED = (BOOL, INT, FLOAT, TAG + "timestamp", TAG + "value")
Loader.yaml_implicit_resolvers = {
    first: [(tag, regex) for tag, regex in resolvers if tag not in _DROPPED]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
Loader.add_implicit_resolver(BOOL, re.compile(f"^(?:{'|'.join(_BOOL_TEXT)})$"), list("tTfF"))
Loader.add_implicit_resolver(INT, re.compile(f"^{_INT_TEXT.pattern}$"), list("-+0123456789"))
Loader.add_implicit_resolver(FLOAT, re.compile(f"^(?:{_FLOAT_TEXT.pattern})$"), list("-+0123456789."))
Loader.yaml_constructors = {
    **SafeConstructor.yaml_constructors,
    INT: Loader.construct_verbatim_int,
    FLOAT: Loader.construct_verbatim_float,
    BOOL: Loader.construct_strict_bool,
    MERGE: Loader.construct_any_str,
}
