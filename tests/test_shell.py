"""Shell conventions: completion scripts, the man page, and progress lines (NO_COLOR, no terminal).

The completion scripts are run by the real shells: bash completes a command
line through the script's own entry point (COMP_WORDS set as bash sets them),
zsh loads the script under compinit and runs its container-name completer.
Progress is read from a real pseudo-terminal.
"""

from __future__ import annotations

import os
import pty
import select
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import EXAMPLES, netc

BIN = Path(sys.executable).parent
ENV = {**os.environ, "PATH": f"{BIN}:{os.environ.get('PATH', '')}"}


def need(tool: str) -> str:
    path = shutil.which(tool)
    if path is None:
        if os.environ.get("CI"):
            pytest.fail(f"CI must run this test: {tool} is missing (make system installs it)")
        pytest.skip(f"{tool} is not installed (make system installs it)")
    return path


# ------------------------------------------------------------------ bash

@pytest.fixture(scope="module")
def bash_script(tmp_path_factory) -> Path:
    r = netc("completion", "bash")
    assert r.returncode == 0, r.stderr
    path = tmp_path_factory.mktemp("completion") / "netc.bash"
    path.write_text(r.stdout)
    return path


def bash_complete(script: Path, *words: str) -> list[str]:
    """What bash offers for the last word of `netc WORDS...` (COMP_WORDS split as bash splits them)."""
    need("bash")
    line = "netc " + " ".join(words)
    program = (f'source {script}\n'
               'COMP_WORDS=("$@"); COMP_CWORD=$(( ${#COMP_WORDS[@]} - 1 )); COMP_LINE="$LINE"\n'
               '_shtab_netc\n'
               'printf "%s\\n" "${COMPREPLY[@]}"\n')
    r = subprocess.run(["bash", "-c", program, "bash", "netc", *words], capture_output=True, text=True,
                       cwd=EXAMPLES, env={**ENV, "LINE": line})
    assert r.returncode == 0, r.stderr
    return sorted(set(w for w in r.stdout.splitlines() if w))


FULL = ["db", "host", "legacy", "outside", "sealed", "sidecar", "tool", "web"]


@pytest.mark.parametrize("words,expected", [
    (["explain", "full.netc", "--from", ""], FULL),
    (["explain", "full.netc", "--from", "s"], ["sealed", "sidecar"]),
    (["explain", "--from", "web", "full.netc", "--to", ""], FULL),
    (["explain", "--from", "=", "web", "full.netc", "--to", "d"], ["db"]),           # --from=web
    (["explain", "--to", "db", ":", "5432", "full.netc", "--from", "w"], ["web"]),   # --to db:5432
    (["explain", "--backend", "nftables", "full.netc", "--from", "le"], ["legacy"]),
    (["explain", "--from", ""], []),                                                # no spec yet
    (["explain", "nonexistent.netc", "--from", ""], []),
    (["compile", "full.netc", "--backend", ""], ["iptables", "nftables"]),
    (["check", "full.netc", "--format", ""], ["github", "json", "text"]),
    (["graph", "full.netc", "--format", ""], ["dot", "png", "svg"]),
    (["completion", ""], ["bash", "zsh"]),
    (["check", "fu"], ["full.netc"]),
])
def test_bash_completes(bash_script, words, expected):
    assert bash_complete(bash_script, *words) == expected


def test_bash_completes_commands_but_not_hidden_ones(bash_script):
    offered = bash_complete(bash_script, "")
    assert {"check", "compile", "explain", "verify", "graph", "completion", "apply", "teardown"} <= set(offered)
    assert "_names" not in offered


# ------------------------------------------------------------------ zsh

def test_zsh_script_loads_under_compinit_and_completes_names(tmp_path):
    need("zsh")
    r = netc("completion", "zsh")
    assert r.returncode == 0 and r.stdout.startswith("#compdef netc")
    (tmp_path / "_netc").write_text(r.stdout)
    assert subprocess.run(["zsh", "-n", str(tmp_path / "_netc")]).returncode == 0
    # As a user installs it: a file _netc in $fpath, which compinit registers for netc.
    program = f"""
fpath=({tmp_path} $fpath)
autoload -U compinit && compinit -u -D -d {tmp_path}/zcompdump
[[ $_comps[netc] == _netc ]] || {{ print "not in fpath: $_comps[netc]"; exit 1 }}
unset '_comps[netc]'
eval "$(<{tmp_path}/_netc)"   # or, the other way: eval "$(netc completion zsh)" after compinit
[[ $_comps[netc] == _shtab_netc ]] || {{ print "not registered: $_comps[netc]"; exit 1 }}
_describe() {{ print -l -- "${{(@P)${{@[-1]}}}}" }}   # what the completer offers, one a line
words=(explain full.netc --from ''); CURRENT=4; _shtab_netc_names
print SEPARATOR
words=(explain --to db:5432 --backend nftables full.netc --from w); CURRENT=7; _shtab_netc_names
"""
    r = subprocess.run(["zsh", "-f", "-c", program], capture_output=True, text=True, cwd=EXAMPLES, env=ENV)
    assert r.returncode == 0, r.stdout + r.stderr
    first, _, second = r.stdout.partition("SEPARATOR\n")
    assert sorted(first.split()) == FULL
    assert sorted(second.split()) == FULL  # zsh filters by the typed prefix itself


# ------------------------------------------------------------------ _names

def test_names_of_a_spec_and_of_an_output_tree(tmp_path):
    r = netc("_names", str(EXAMPLES / "full.netc"))
    assert r.returncode == 0 and r.stdout.split() == ["db", "web", "sidecar", "tool", "sealed", "legacy",
                                                     "host", "outside"]
    spec = tmp_path / "full.netc"
    shutil.copy(EXAMPLES / "full.netc", spec)
    assert netc("compile", str(spec), "-o", str(tmp_path / "out")).returncode == 0
    r = netc("_names", str(tmp_path / "out"))
    assert r.returncode == 0 and r.stdout.split() == ["db", "web", "sidecar", "tool", "sealed", "legacy"]
    r = netc("_names", str(tmp_path / "missing.netc"))
    assert r.returncode == 2 and r.stdout == ""
    assert "_names" not in netc("--help").stdout


# ------------------------------------------------------------------ man page

def test_man_page_is_installed_and_renders():
    """The plain install the Makefile does puts share/man/man1/netc.1 under the environment's prefix."""
    page = Path(sys.prefix) / "share" / "man" / "man1" / "netc.1"
    assert page.is_file(), f"{page} is missing: the build step in setup.py did not run"
    text = page.read_text()
    assert text.startswith(".TH NETC")
    for command in ("check", "compile", "explain", "verify", "graph", "completion", "apply", "teardown"):
        assert f"netc {command}" in text.replace("\\-", "-"), command
    assert "_names" not in text
    renderer = shutil.which("man") or shutil.which("groff")
    if renderer is None:
        pytest.skip("neither man nor groff is installed to render the page")
    args = ["man", "-l", str(page)] if renderer.endswith("man") else ["groff", "-man", "-Tutf8", str(page)]
    r = subprocess.run(args, capture_output=True, text=True, env={**ENV, "MANPAGER": "cat", "PAGER": "cat",
                                                                   "MANWIDTH": "100"})
    assert r.returncode == 0, r.stderr
    assert "netc graph" in r.stdout and "--format" in r.stdout


# ------------------------------------------------------------------ progress

def fake_out(tmp_path: Path) -> Path:
    """An output folder whose apply.sh reports progress the way netc's does, then a line of its own."""
    out = tmp_path / "out"
    out.mkdir()
    (out / "apply.sh").write_text('for i in 1 2 3; do echo "netc-progress $i bridge docker0" >&2; done\n'
                                  'echo "netc: applied 3 objects" >&2\n')
    return out


def run_on_terminal(args: list[str], env: dict) -> str:
    """Run with standard error on a pseudo-terminal; everything it wrote there."""
    master, slave = pty.openpty()
    try:
        p = subprocess.Popen(args, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=slave, env=env)
        os.close(slave)
        chunks = []
        while True:
            ready, _, _ = select.select([master], [], [], 30)
            if not ready:
                break
            try:
                data = os.read(master, 4096)
            except OSError:  # the terminal closed: the process ended
                break
            if not data:
                break
            chunks.append(data)
        p.wait(timeout=30)
        return b"".join(chunks).decode()
    finally:
        os.close(master)


def test_progress_on_a_terminal_rewrites_one_line(tmp_path):
    env = {k: v for k, v in ENV.items() if k != "NO_COLOR"}
    text = run_on_terminal([str(BIN / "netc"), "apply", str(fake_out(tmp_path))], env)
    assert "\x1b[K" in text and "netc: apply: step 3: bridge docker0" in text
    assert "netc: applied 3 objects" in text


def test_no_color_means_no_escape_sequences(tmp_path):
    text = run_on_terminal([str(BIN / "netc"), "apply", str(fake_out(tmp_path))], {**ENV, "NO_COLOR": "1"})
    assert "\x1b" not in text
    assert "netc: apply: step 3: bridge docker0" in text and "netc: applied 3 objects" in text


def test_no_progress_off_a_terminal(tmp_path):
    r = subprocess.run([str(BIN / "netc"), "apply", str(fake_out(tmp_path))], capture_output=True, text=True,
                       env={k: v for k, v in ENV.items() if k != "NO_COLOR"})
    assert r.returncode == 0
    assert r.stderr == "netc: applied 3 objects\n"


def test_verify_progress_printer():
    """verify: a progress line on a terminal (plain under NO_COLOR), the final counts in a log."""
    import io
    from netc.prove.verify import progress_printer

    class Terminal(io.StringIO):
        def isatty(self):
            return True

    log = io.StringIO()
    say = progress_printer(log)
    for text in ("applying 2 container(s)", "probed 1/2", "probed 2/2"):
        say(text)
    say.clear()
    assert log.getvalue() == "netc: verify: applying 2 container(s)\nnetc: verify: probed 2/2\n"

    old = os.environ.pop("NO_COLOR", None)
    try:
        term = Terminal()
        say = progress_printer(term)
        say("probed 1/2")
        say.clear()
        assert term.getvalue().startswith("\r\x1b[Knetc: verify: probed 1/2")
        os.environ["NO_COLOR"] = "1"
        term = Terminal()
        say = progress_printer(term)
        say("probed 10/20")
        say("probed 11/20")
        say("x")
        say.clear()
        assert "\x1b" not in term.getvalue() and "netc: verify: probed 11/20" in term.getvalue()
        # a shorter line covers the longer one before it
        assert "\rnetc: verify: x" + " " * len("probed 11/20"[1:]) + "\r" in term.getvalue()
    finally:
        os.environ.pop("NO_COLOR", None)
        if old is not None:
            os.environ["NO_COLOR"] = old
