"""The build step pyproject.toml cannot declare: the man page, made from netc's own parser.

After build_py has copied the package into the build folder, netc.cli is
imported from there and argparse-manpage turns its parser into build/man/netc.1,
which the wheel installs as share/man/man1/netc.1 (data_files): `man netc`
then documents exactly the command line that was built. Importing netc needs
its own dependencies, so pyproject.toml lists them among the build requirements.
"""

import argparse
import os
import sys

from setuptools import setup
from setuptools.command.build_py import build_py

MANPAGE = os.path.join("build", "man", "netc.1")


def _public(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    """The parser without its hidden subcommands (those added without help, such as _names)."""
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            listed = {a.dest for a in action._choices_actions}
            for name in [n for n in action.choices if n not in listed]:
                del action.choices[name]
    return parser


class build_py_with_manpage(build_py):
    def run(self):
        super().run()
        from argparse_manpage.manpage import Manpage
        sys.path.insert(0, os.path.abspath(self.build_lib))
        try:
            from netc import __version__
            from netc.cli import parser
            page = Manpage(_public(parser()), _data={
                "project_name": "netc", "version": __version__,
                "description": "a compiler for container networking", "manual_title": "netc manual",
                "manual_section": 1, "url": "the README.md of the netc repository",
            })
            text = str(page)
        finally:
            sys.path.pop(0)
            for name in [m for m in sys.modules if m == "netc" or m.startswith("netc.")]:
                del sys.modules[name]
        os.makedirs(os.path.dirname(MANPAGE), exist_ok=True)
        with open(MANPAGE, "w", encoding="utf-8") as f:
            f.write(text)


setup(cmdclass={"build_py": build_py_with_manpage},
      data_files=[("share/man/man1", [MANPAGE])])
