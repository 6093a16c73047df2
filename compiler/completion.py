"""Shell completion: `netc completion bash|zsh` prints a script made by shtab from netc's parser.

Besides what shtab completes from the parser itself (subcommands, options,
the choices of --backend and --format), three kinds of argument get their own
completers, declared on the parser's arguments (`complete` attributes) so that
the parser stays the one description of the command line:

- SPEC: files ending in .netc (and folders, to walk into);
- OUT: folders;
- NAME (explain --from/--to, run-config NAME): the container names of the
  spec given earlier on the same line, plus `host` and `outside`, which the
  script asks of netc itself (`netc _names SPEC`, a hidden command).

shtab is imported only when a script is made: it is slow to import, and the
parser is built on every run.
"""

from __future__ import annotations

SHELLS = ("bash", "zsh")

# shtab's own file and folder completers (shtab.FILE, shtab.DIRECTORY), without importing shtab.
SPEC = {"bash": "_shtab_netc_spec", "zsh": "_files -g '*.netc(-.)'"}
OUT = {"bash": "_shtab_compgen_dirs", "zsh": "_files -/"}
FILE = {"bash": "_shtab_compgen_files", "zsh": "_files"}
NAMES = {"bash": "_shtab_netc_names", "zsh": "_shtab_netc_names"}

# The options whose value is a separate word: a completer looking for SPEC skips those values.
_VALUED = "--from|--to|--backend|--format|--netns-prefix|-o|--out|--output|--rootfs|--sample|--emit|--lock"

_BASH = r"""
# SPEC: *.netc files, and folders to walk into.
_shtab_netc_spec() {
  compgen -d -- "$1"
  compgen -f -X '!*.netc' -- "$1"
}

# NAME: the container names of the spec given earlier on the line (netc _names SPEC).
_shtab_netc_names() {
  local i word spec="" skip=0
  for ((i = 2; i < COMP_CWORD; i++)); do
    word="${COMP_WORDS[i]}"
    if ((skip)); then
      skip=0
      [[ $word == "=" ]] && skip=1   # --from=A is three words for bash: --from = A
      continue
    fi
    case "$word" in
      @VALUED@) skip=1 ;;
      "="|":") skip=1 ;;                # db:5432 is three words as well
      -*) ;;
      *) spec="$word"; break ;;
    esac
  done
  [ -n "$spec" ] || return 0
  spec="${spec/#\~/$HOME}"
  compgen -W "$(command netc _names -- "$spec" 2>/dev/null)" -- "$1"
}
"""

_ZSH = r"""
# NAME: the container names of the spec given earlier on the line (netc _names SPEC).
_shtab_netc_names() {
  local word spec="" skip=0
  local -a names
  for word in "${(@)words[2,CURRENT-1]}"; do
    if (( skip )); then
      skip=0
      continue
    fi
    case $word in
      @VALUED@) skip=1 ;;
      -*|explain|run-config) ;;     # words[1] is the subcommand, or netc where zsh did not shift
      *) spec=$word; break ;;
    esac
  done
  [[ -n $spec ]] || return 1
  names=(${(f)"$(command netc _names -- ${spec/#\~/$HOME} 2>/dev/null)"})
  _describe -t names 'container' names
}
"""


def script(parser, shell: str) -> str:
    """The completion script for `shell` (bash or zsh)."""
    import shtab
    preamble = {"bash": _BASH, "zsh": _ZSH}[shell].replace("@VALUED@", _VALUED)
    return shtab.complete(parser, shell=shell, preamble={shell: preamble}).rstrip("\n") + "\n"


def names(network) -> list[str]:
    """What explain's A and B may name: the containers, then host and outside."""
    return [c.name for c in network.containers] + ["host", "outside"]
