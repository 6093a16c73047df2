"""The jinja2 templates in templates/: one environment, one way to fill a template.

Logic stays in Python; a template only lays text out. Every file ends with
exactly one newline.
"""

from __future__ import annotations

import hashlib
from functools import lru_cache

import jinja2

from .. import quote


@lru_cache(maxsize=1)
def _env() -> jinja2.Environment:
    # auto_reload off: the templates ship inside the package, and checking
    # each one's mtime on every use was a stat per container file.
    env = jinja2.Environment(
        loader=jinja2.PackageLoader("netc", "templates"),
        undefined=jinja2.StrictUndefined, keep_trailing_newline=True,
        trim_blocks=True, lstrip_blocks=True, autoescape=False, auto_reload=False)
    # A string from outside netc is written through the filter of its context.
    env.filters.update(sh_word=quote.sh_word, sh_comment=quote.sh_comment, conf_word=quote.conf_word)
    return env


@lru_cache(maxsize=None)
def _template(name: str) -> jinja2.Template:
    return _env().get_template(name)


def template(name: str, **context) -> str:
    # The templates use no jinja globals, so the context goes in as it is
    # (shared=True: no copy of the globals for each of the many container files).
    t = _template(name)
    text = "".join(t.root_render_func(t.new_context(context, shared=True)))
    return text if text.endswith("\n") else text + "\n"


def _short_hash(*parts: str) -> str:
    return hashlib.sha256("\n".join(parts).encode()).hexdigest()[:12]


def short_hash(*parts: str) -> str:
    """12 hex digits naming a content (objects' signatures, files' digests)."""
    return hashlib.sha256("\n".join(parts).encode()).hexdigest()[:12]
