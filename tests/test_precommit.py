"""The pre-commit hook, for real: ``pre-commit try-repo`` installs leaflint from a committed copy
of this working tree into pre-commit's own environment and runs the ``leaflint`` hook on a
temporary git repository: it fails on a bad file; the README's snippets, run as written, fail on
a bad file and pass on good ones.

Slow (each install builds leaflint and installs libcst and click; the module shares one pip
cache, so the wheels are fetched once) and needs the package index; skipped with the reason when pre-commit or git is missing or the install fails
for lack of network.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from hang_guard import HANG_GUARD

REPO = Path(__file__).resolve().parent.parent
HOOKS = REPO / ".pre-commit-hooks.yaml"
NETWORK_ERRORS = ("Could not find a version", "No matching distribution", "Failed to establish a new connection",
                  "Temporary failure in name resolution", "Network is unreachable", "ConnectionError",
                  "Connection refused", "Read timed out", "ProxyError", "SSLError", "Name or service not known")

BAD = "import torch\n\nw = torch.zeros(3, requires_grad=True)\nw.add_(1)\n"
GOOD = "import torch\n\nw = torch.zeros(3, requires_grad=True)\nwith torch.no_grad():\n    w.add_(1)\n"


def _have_pre_commit() -> bool:
    try:
        import pre_commit  # noqa: F401
    except ImportError:
        return False
    return True


pytestmark = [
    pytest.mark.skipif(shutil.which("git") is None, reason="git is not installed"),
    pytest.mark.skipif(not _have_pre_commit(), reason="pre-commit is not installed (pip install pre-commit)"),
]


@pytest.fixture(scope="module")
def pip_cache(tmp_path_factory) -> Path:
    """One pip cache for the module's installs: the wheels pip downloads or builds for one
    (setuptools for the build, libcst, click) are not fetched again for the next."""
    return tmp_path_factory.mktemp("pip-cache")


def _git_env(home: Path, pip_cache: Path | None = None) -> dict:
    env = dict(os.environ)
    env.update(GIT_AUTHOR_NAME="leaflint tests", GIT_AUTHOR_EMAIL="tests@example.invalid",
               GIT_COMMITTER_NAME="leaflint tests", GIT_COMMITTER_EMAIL="tests@example.invalid",
               GIT_CONFIG_NOSYSTEM="1", HOME=str(home), PRE_COMMIT_HOME=str(home / "pre-commit"),
               PIP_DISABLE_PIP_VERSION_CHECK="1")
    if pip_cache is not None:
        env["PIP_CACHE_DIR"] = str(pip_cache)
    env.pop("GIT_DIR", None)
    env.pop("GIT_WORK_TREE", None)
    env.pop("LEAFLINT_OUTPUT_FORMAT", None)
    return env


def _git(cwd: Path, env: dict, *args: str) -> None:
    subprocess.run(["git", "-c", "commit.gpgsign=false", "-c", "init.defaultBranch=main", *args], cwd=cwd, env=env,
                   check=True, capture_output=True, text=True, timeout=HANG_GUARD)


def _commit_all(cwd: Path, env: dict, message: str) -> None:
    _git(cwd, env, "add", "-A")
    _git(cwd, env, "commit", "-q", "--allow-empty", "-m", message)


def _hook_repo_copy(target: Path, env: dict) -> Path:
    """The working tree as pre-commit sees a released repo: what pip needs to install leaflint,
    plus the hooks file, committed in a fresh git repository."""
    target.mkdir()
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc", "*.egg-info", ".leaflint_cache")
    shutil.copytree(REPO / "leaflint", target / "leaflint", ignore=ignore)
    for name in ("pyproject.toml", "README.md", ".pre-commit-hooks.yaml", "LICENSE", "setup.cfg", "setup.py"):
        if (REPO / name).is_file():
            shutil.copy2(REPO / name, target / name)
    _git(target, env, "init", "-q")
    _commit_all(target, env, "leaflint under test")
    return target


def _try_repo(project: Path, hook_repo: Path, env: dict) -> subprocess.CompletedProcess:
    proc = subprocess.run([sys.executable, "-m", "pre_commit", "try-repo", str(hook_repo), "leaflint",
                           "--all-files", "--color", "never"], cwd=project, env=env,
                          capture_output=True, text=True, timeout=900)
    output = proc.stdout + proc.stderr
    log = Path(env["PRE_COMMIT_HOME"]) / "pre-commit.log"
    if log.is_file():
        output += log.read_text(encoding="utf-8", errors="replace")
    if "An unexpected error has occurred" in output or "error: subprocess-exited-with-error" in output:
        if any(needle in output for needle in NETWORK_ERRORS):
            pytest.skip("pre-commit could not install leaflint's dependencies (no network access to the "
                        "package index?):\n" + output[-2000:])
    return proc


def test_hooks_file_declares_the_hook():
    text = HOOKS.read_text(encoding="utf-8")
    for line in ("- id: leaflint", "entry: leaflint check --force-exclude", "language: python",
                 "types_or: [python, pyi, jupyter]"):
        assert line in text


def test_pre_commit_try_repo_fails_on_bad(tmp_path, pip_cache):
    """try-repo builds the hook's environment from scratch in a store of its own, every call: it
    runs once, on a bad file. The same hook passing on good files (an excluded build/ directory,
    a notebook) is checked by the README snippet's `pre-commit run` below, which installs once."""
    env = _git_env(tmp_path, pip_cache)
    hook_repo = _hook_repo_copy(tmp_path / "leaflint-repo", env)

    project = tmp_path / "project"
    project.mkdir()
    _git(project, env, "init", "-q")
    (project / "train.py").write_text(BAD)
    _commit_all(project, env, "a bad file")

    failing = _try_repo(project, hook_repo, env)
    output = failing.stdout + failing.stderr
    assert failing.returncode == 1, output
    assert "leaflint" in output and "Failed" in output, output
    assert "train.py:4:1: LL101" in output, output


def _good_project_files(project: Path) -> None:
    """Good files, plus a bad one in build/ (excluded by default: --force-exclude keeps it out
    even though pre-commit passes its files explicitly) and a clean notebook (linted too)."""
    (project / "train.py").write_text(GOOD)
    (project / "build").mkdir()
    (project / "build" / "generated.py").write_text(BAD)
    notebook = {"cells": [{"cell_type": "code", "execution_count": None, "metadata": {}, "outputs": [],
                           "source": ["%matplotlib inline\n", "import torch\n", "x = torch.zeros(2)\n", "x.add_(1)\n"]}],
                "metadata": {}, "nbformat": 4, "nbformat_minor": 5}
    (project / "explore.ipynb").write_text(json.dumps(notebook, indent=1))


# ------------------------------------------------------------------- the README's snippets, as written
README = REPO / "README.md"
URL_PLACEHOLDER = "<leaflint repository URL>"


def _readme_yaml(heading: str) -> str:
    """The first ```yaml block of the README section ``heading``."""
    text = README.read_text(encoding="utf-8")
    section = text.split(f"\n## {heading}\n", 1)[1].split("\n## ", 1)[0]
    return section.split("```yaml\n", 1)[1].split("\n```", 1)[0] + "\n"


def _readme_rev(snippet: str) -> str:
    import yaml

    return str(yaml.safe_load(snippet)["repos"][0]["rev"])


def _head(repo: Path, env: dict) -> str:
    return subprocess.run(["git", "rev-parse", "HEAD"], cwd=repo, env=env, check=True, capture_output=True,
                          text=True).stdout.strip()


def test_readme_pins_a_revision_that_exists():
    """`rev:` names a commit of this repository (there are no tags), never a tag it lacks."""
    rev = _readme_rev(_readme_yaml("pre-commit"))
    workflow = _readme_yaml("GitHub Actions")
    assert f"{URL_PLACEHOLDER}@{rev}\"" in workflow  # the Actions snippet installs the same revision
    exists = subprocess.run(["git", "cat-file", "-e", f"{rev}^{{commit}}"], cwd=REPO, capture_output=True)
    if subprocess.run(["git", "rev-parse", "--git-dir"], cwd=REPO, capture_output=True).returncode != 0:
        pytest.skip("not a git checkout: cannot look the revision up")
    assert exists.returncode == 0, f"README pins rev {rev!r}, which this repository does not have"


def test_readme_pre_commit_snippet_runs_as_written(tmp_path, pip_cache):
    env = _git_env(tmp_path, pip_cache)
    hook_repo = _hook_repo_copy(tmp_path / "leaflint-repo", env)
    snippet = _readme_yaml("pre-commit")
    rev = _readme_rev(snippet)
    config = snippet.replace(URL_PLACEHOLDER, str(hook_repo)).replace(f"rev: {rev}", f"rev: {_head(hook_repo, env)}")
    assert config.count(str(hook_repo)) == 1 and rev not in config

    project = tmp_path / "project"
    project.mkdir()
    _git(project, env, "init", "-q")
    (project / ".pre-commit-config.yaml").write_text(config)
    (project / "train.py").write_text(BAD)
    _commit_all(project, env, "a bad file")
    failing = subprocess.run([sys.executable, "-m", "pre_commit", "run", "--all-files", "--color", "never"],
                             cwd=project, env=env, capture_output=True, text=True, timeout=900)
    output = failing.stdout + failing.stderr
    if failing.returncode not in (0, 1) and any(needle in output for needle in NETWORK_ERRORS):
        pytest.skip("pre-commit could not install leaflint's dependencies:\n" + output[-2000:])
    assert failing.returncode == 1, output
    assert "train.py:4:1: LL101" in output, output

    _good_project_files(project)
    _commit_all(project, env, "fixed")
    passing = subprocess.run([sys.executable, "-m", "pre_commit", "run", "--all-files", "--color", "never"],
                             cwd=project, env=env, capture_output=True, text=True, timeout=900)
    output = passing.stdout + passing.stderr
    assert passing.returncode == 0, output
    assert "Passed" in output, output


def test_readme_actions_snippet_steps_run_as_written(tmp_path, pip_cache):
    """The workflow's `run:` steps: pip installs leaflint from the URL at `rev` (a local clone at
    its HEAD here), then the two `leaflint check` steps run in a project with a finding."""
    import venv

    import yaml

    env = _git_env(tmp_path, pip_cache)
    hook_repo = _hook_repo_copy(tmp_path / "leaflint-repo", env)
    workflow = yaml.safe_load(_readme_yaml("GitHub Actions"))
    runs = [step["run"] for step in workflow["jobs"]["leaflint"]["steps"] if "run" in step]
    install, *checks = runs
    rev = _readme_rev(_readme_yaml("pre-commit"))
    assert install.startswith("pip install ") and [c.split()[:2] for c in checks] == [["leaflint", "check"]] * 2
    install = install.replace(URL_PLACEHOLDER, f"file://{hook_repo}").replace(f"@{rev}", f"@{_head(hook_repo, env)}")

    # a virtualenv that sees this interpreter's packages (libcst, click), as setup-python plus
    # pip would provide them; the install itself builds leaflint from the clone at that commit
    # (pip too: the one this interpreter has, run by the virtualenv's python as its `pip`). This
    # interpreter's site-packages come after the virtualenv's own, so the leaflint the step
    # installs is the one that runs.
    import sysconfig

    venv.EnvBuilder(with_pip=False).create(tmp_path / "venv")
    bin_dir = tmp_path / "venv" / "bin"
    purelib = subprocess.run([str(bin_dir / "python"), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                             capture_output=True, text=True, check=True).stdout.strip()
    Path(purelib, "outer-site-packages.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    (bin_dir / "pip").write_text(f"#!{bin_dir / 'python'}\nimport sys\nfrom pip._internal.cli.main import main\n"
                                 f"sys.exit(main())\n")
    (bin_dir / "pip").chmod(0o755)
    run_env = dict(env, PATH=f"{bin_dir}{os.pathsep}{env.get('PATH', '')}", VIRTUAL_ENV=str(tmp_path / "venv"))
    run_env.pop("PYTHONPATH", None)
    project = tmp_path / "project"
    project.mkdir()
    (project / "train.py").write_text(BAD)
    done = subprocess.run(install, shell=True, cwd=project, env=run_env, capture_output=True, text=True, timeout=900)
    if done.returncode != 0 and any(needle in done.stdout + done.stderr for needle in NETWORK_ERRORS):
        pytest.skip("pip could not reach the package index:\n" + (done.stdout + done.stderr)[-2000:])
    assert done.returncode == 0, done.stdout + done.stderr
    where = subprocess.run(["python", "-c", "import leaflint; print(leaflint.__file__)"], cwd=project,
                           env=run_env, capture_output=True, text=True)
    assert str(tmp_path / "venv") in where.stdout, where.stdout + where.stderr  # not this checkout
    sarif, annotations = (subprocess.run(command, shell=True, cwd=project, env=run_env, capture_output=True,
                                         text=True, timeout=300) for command in checks)
    assert sarif.returncode == 0, sarif.stderr  # --exit-zero
    assert json.loads((project / "leaflint.sarif").read_text())["runs"][0]["results"]
    assert annotations.returncode == 1 and "::error title=leaflint (LL101),file=train.py" in annotations.stdout
