"""The syntax tree: what the parser hands to the builder.

A spec is a sequence of blocks; a block is a kind, its names and its options;
an option is a word and its values. Nothing here knows what an option means
(that is build.py). Spans are carried but excluded from equality.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from ..diagnostics import Span


@dataclass(frozen=True, slots=True)
class Word:
    text: str
    span: Span = field(compare=False, repr=False)
    quoted: bool = False


@dataclass(frozen=True, slots=True)
class Option:
    name: Word
    args: tuple[Word, ...]
    span: Span = field(compare=False, repr=False)


@dataclass(frozen=True, slots=True)
class Block:
    kind: str  # host | daemon | bridge | container | p2p
    names: tuple[Word, ...]
    options: tuple[Option, ...]
    span: Span = field(compare=False, repr=False)  # the keyword
