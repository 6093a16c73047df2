"""The pre-commit hooks (.pre-commit-hooks.yaml) and the CI job of docs/ci.md, run as written.

No pre-commit and no GitHub runner here: the hooks are run the way pre-commit
runs them (entry, then the hook's args, then the staged files its `files`
pattern matches, unless pass_filenames is false), and the workflow's netc
steps run in bash, each in a temporary git repository laid out as docs/ci.md
says, once passing and once failing.
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from conftest import EXAMPLES, ROOT, netc

BIN = Path(sys.executable).parent
ENV = {**os.environ, "PATH": f"{BIN}:{os.environ.get('PATH', '')}", "NETC_DEBUG": ""}
DOC = (ROOT / "docs" / "ci.md").read_text()


def hooks() -> dict[str, dict]:
    data = yaml.safe_load((ROOT / ".pre-commit-hooks.yaml").read_text())
    assert isinstance(data, list)
    return {h["id"]: h for h in data}


def yaml_blocks() -> list:
    return [yaml.safe_load(b) for b in re.findall(r"```yaml\n(.*?)```", DOC, re.S)]


def git(repo: Path, *args: str) -> str:
    return subprocess.run(["git", "-C", str(repo), *args], check=True, capture_output=True, text=True).stdout


@pytest.fixture
def repo(tmp_path) -> Path:
    """A repository as docs/ci.md lays it out: network/host.netc, its lock, the compiled network/out."""
    if shutil.which("git") is None:
        pytest.skip("git is not installed")
    repo = tmp_path / "repo"
    (repo / "network").mkdir(parents=True)
    shutil.copy(EXAMPLES / "full.netc", repo / "network" / "host.netc")
    git(repo, "init", "-q")
    r = netc("compile", "network/host.netc", "-o", "network/out", cwd=repo)
    assert r.returncode == 0, r.stderr
    git(repo, "add", "-A")
    return repo


def run_hook(repo: Path, hook: dict, args: list[str]) -> subprocess.CompletedProcess:
    """As pre-commit runs a hook: entry, args, then the staged files its pattern matches."""
    command = shlex.split(hook["entry"]) + list(args)
    if hook.get("pass_filenames", True):
        staged = git(repo, "diff", "--cached", "--name-only").split()
        pattern = re.compile(hook.get("files", ""))
        command += [f for f in staged if pattern.search(f)]
    return subprocess.run(command, cwd=repo, capture_output=True, text=True, env=ENV)


def test_hooks_file_is_what_pre_commit_reads():
    found = hooks()
    assert set(found) == {"netc-check", "netc-compile-check"}
    for hook in found.values():
        assert {"id", "name", "entry", "language"} <= set(hook)
        assert hook["language"] == "python", "pre-commit installs netc itself from the repository"
        re.compile(hook.get("files", ""))
        assert shlex.split(hook["entry"])[0] == "netc"
    assert re.search(found["netc-check"]["files"], "network/host.netc")
    assert not re.search(found["netc-check"]["files"], "network/host.lock")
    assert found["netc-compile-check"]["pass_filenames"] is False


def documented_hook_args() -> dict[str, list[str]]:
    config = next(b for b in yaml_blocks() if isinstance(b, dict) and "repos" in b)
    return {h["id"]: h.get("args", []) for h in config["repos"][0]["hooks"]}


def test_netc_check_hook(repo):
    hook = hooks()["netc-check"]
    r = run_hook(repo, hook, documented_hook_args()["netc-check"])
    assert r.returncode == 0, r.stderr
    (repo / "network" / "broken.netc").write_text("container web { link nobody }\n")
    (repo / "network" / "other.netc").write_text("container db { expose 5432 }\n")
    git(repo, "add", "-A")
    r = run_hook(repo, hook, [])
    assert r.returncode == 2
    assert "network/broken.netc:1:" in r.stderr and "nobody" in r.stderr


def test_netc_compile_check_hook(repo):
    hook = hooks()["netc-compile-check"]
    args = documented_hook_args()["netc-compile-check"]
    assert args == ["network/host.netc", "-o", "network/out"]
    r = run_hook(repo, hook, args)
    assert r.returncode == 0, r.stdout + r.stderr
    hosts = repo / "network" / "out" / "containers" / "web" / "hosts"
    hosts.write_text(hosts.read_text() + "10.9.9.9\tsneaked-in\n")
    r = run_hook(repo, hook, args)
    assert r.returncode == 1
    assert "-10.9.9.9\tsneaked-in" in r.stdout and "differs" in r.stderr
    # A spec changed without compiling: the lock would change, and the check shows it in the diff.
    spec = repo / "network" / "host.netc"
    spec.write_text(spec.read_text() + "container extra {}\n")
    hosts.write_text(hosts.read_text().replace("10.9.9.9\tsneaked-in\n", ""))
    r = run_hook(repo, hook, args)
    assert r.returncode == 1 and "+++ network/host.lock" in r.stdout and '+    "extra": ' in r.stdout, r.stdout
    assert "and the lock differ" in r.stderr


def workflow_steps() -> list[dict]:
    workflow = next(b for b in yaml_blocks() if isinstance(b, dict) and "jobs" in b)
    (job,) = workflow["jobs"].values()
    return job["steps"]


def run_netc_steps(repo: Path) -> list[subprocess.CompletedProcess]:
    """The workflow's steps that run netc, in order, each as GitHub runs `run:` (bash -e)."""
    results = []
    for step in workflow_steps():
        script = step.get("run", "")
        if script.lstrip().startswith("netc "):
            results.append(subprocess.run(["bash", "-e", "-c", script], cwd=repo, capture_output=True,
                                          text=True, env=ENV))
    return results


def test_workflow_passes_on_a_good_repository(repo):
    if shutil.which("dot") is None:
        pytest.skip("Graphviz's dot is not installed (make system installs it)")
    results = run_netc_steps(repo)
    assert len(results) == 3
    for r in results:
        assert r.returncode == 0, r.args[-1] + r.stdout + r.stderr
    assert (repo / "topology.svg").read_bytes().startswith(b"<?xml")
    assert (repo / "topology.png").read_bytes().startswith(b"\x89PNG")
    uploads = [s for s in workflow_steps() if "upload-artifact" in s.get("uses", "")]
    assert uploads and uploads[0]["with"]["path"] == "topology.*" and uploads[0]["if"] == "always()"


def test_workflow_annotates_and_fails_on_a_bad_repository(repo):
    (repo / "network" / "typo.netc").write_text("container web {\n    pubish 8080:80\n}\n")
    rules = repo / "network" / "out" / "rules.v4"
    rules.write_text(rules.read_text().replace("ACCEPT", "DROP", 1))
    check, compile_check, _ = run_netc_steps(repo)
    assert check.returncode == 2
    assert ("::error file=network/typo.netc,line=2,col=5,endColumn=11::unknown option 'pubish' in "
            "container 'web'; did you mean 'publish'?") in check.stdout.splitlines()
    assert compile_check.returncode == 1
    assert "::error file=network/out/rules.v4::differs from the compiled output" in compile_check.stdout
