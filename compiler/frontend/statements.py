"""The top-level statements of the language, in one table.

The scanner (scan.py), the lark parser's transformer and its error messages
(lark_parser.py) read this table; grammar/netc.lark spells the same
statements as terminals, and tests/test_architecture.py checks that the two
agree. What each block may contain is build.py's option tables.
"""

from __future__ import annotations

# block statement -> how many names follow its keyword (`p2p a b { ... }`)
BLOCKS = {"host": 0, "daemon": 0, "bridge": 1, "container": 1, "p2p": 2}
INCLUDE = "include"
STATEMENTS = (*BLOCKS, INCLUDE)
# the grammar's terminal for each statement keyword (INCLUDE, HOST, ...)
TERMINALS = {s.upper(): s for s in STATEMENTS}
