"""``[tool.leaflint]`` in pyproject.toml: keys, nearest file wins, CLI precedence, errors,
``--config``, ``--isolated``, ``--show-settings``."""

from __future__ import annotations

import json
import textwrap

import pytest

from leaflint.config import ConfigError, Overrides, Resolver, apply_layer, parse_table
from leaflint.rules import DEFAULT_CODES
from cli_inprocess import run

BAD = textwrap.dedent("""\
    import torch

    w = torch.zeros(3, requires_grad=True)
    w.add_(1)
    w -= 1
""")


def found(proc) -> list[tuple[str, int, str]]:
    assert proc.returncode in (0, 1), proc.stderr
    return [(d["filename"], d["location"]["row"], d["code"]) for d in json.loads(proc.stdout)]


def write(path, text):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text))


@pytest.fixture()
def tree(tmp_path):
    """root/pyproject.toml ignores LL102; pkg/ has a pyproject without [tool.leaflint] (skipped);
    other/ has its own [tool.leaflint] that selects only LL102."""
    write(tmp_path / "pyproject.toml", """\
        [project]
        name = "demo"

        [tool.leaflint]
        ignore = ["LL102"]
    """)
    write(tmp_path / "top.py", BAD)
    write(tmp_path / "pkg" / "pyproject.toml", "[tool.black]\nline-length = 100\n")
    write(tmp_path / "pkg" / "mod.py", BAD)
    write(tmp_path / "other" / "pyproject.toml", "[tool.leaflint]\nselect = [\"LL102\"]\n")
    write(tmp_path / "other" / "mod.py", BAD)
    return tmp_path


def test_nearest_config_wins_and_tables_without_leaflint_are_skipped(tree):
    assert found(run("check", "--output-format", "json", ".", cwd=tree)) == [
        ("other/mod.py", 5, "LL102"),  # other/pyproject.toml: select LL102 only
        ("pkg/mod.py", 4, "LL101"),  # pkg/pyproject.toml has no table: the root's applies
        ("top.py", 4, "LL101"),
    ]


def test_nearest_config_applies_when_run_from_a_subdirectory(tree):
    assert found(run("check", "--output-format", "json", "mod.py", cwd=tree / "other")) == [("mod.py", 5, "LL102")]
    assert found(run("check", "--output-format", "json", "mod.py", cwd=tree / "pkg")) == [("mod.py", 4, "LL101")]


def test_cli_overrides_config(tree):
    # --extend-select on the command line re-enables what the configuration ignores
    assert found(run("check", "--output-format", "json", "--extend-select", "LL102", "top.py", cwd=tree)) == [
        ("top.py", 4, "LL101"), ("top.py", 5, "LL102")]
    # --select replaces the configured selection (other/ selects LL102 only)
    assert found(run("check", "--output-format", "json", "--select", "LL101", "other", cwd=tree)) == [
        ("other/mod.py", 4, "LL101")]
    # --ignore applies on top
    assert found(run("check", "--output-format", "json", "--ignore", "LL101", "top.py", "pkg", cwd=tree)) == []


def test_isolated_ignores_every_config(tree):
    assert found(run("check", "--output-format", "json", "--isolated", "top.py", "other", cwd=tree)) == [
        ("other/mod.py", 4, "LL101"), ("other/mod.py", 5, "LL102"), ("top.py", 4, "LL101"), ("top.py", 5, "LL102")]


def test_config_option_uses_one_file_for_everything(tree):
    write(tree / "ci.toml", "[tool.leaflint]\nselect = [\"LL102\"]\n")
    assert found(run("check", "--output-format", "json", "--config", "ci.toml", ".", cwd=tree)) == [
        ("other/mod.py", 5, "LL102"), ("pkg/mod.py", 5, "LL102"), ("top.py", 5, "LL102")]
    # a standalone file may hold the keys at its top level
    write(tree / "leaflint.toml", "ignore = [\"LL1\"]\n")
    assert found(run("check", "--output-format", "json", "--config", "leaflint.toml", ".", cwd=tree)) == []
    missing = run("check", "--config", "nope.toml", ".", cwd=tree)
    assert missing.returncode == 2 and "nope.toml" in missing.stderr
    write(tree / "empty" / "pyproject.toml", "[project]\nname = 'x'\n")
    no_table = run("check", "--config", "empty/pyproject.toml", ".", cwd=tree)
    assert no_table.returncode == 2 and "no [tool.leaflint] table" in no_table.stderr


def test_per_file_ignores(tmp_path):
    write(tmp_path / "pyproject.toml", """\
        [tool.leaflint]
        per-file-ignores = { "tests/**" = ["LL1"], "scripts/*.py" = ["LL102"], "special.py" = ["LL101"] }
    """)
    for name in ("tests/deep/test_a.py", "scripts/run.py", "special.py", "lib/special.py", "plain.py"):
        write(tmp_path / name, BAD)
    assert found(run("check", "--output-format", "json", ".", cwd=tmp_path)) == [
        ("lib/special.py", 5, "LL102"),  # a pattern without "/" matches the file name anywhere
        ("plain.py", 4, "LL101"), ("plain.py", 5, "LL102"),
        ("scripts/run.py", 4, "LL101"),
        ("special.py", 5, "LL102"),
    ]


def test_exclude_extend_exclude_and_respect_gitignore(tmp_path):
    write(tmp_path / "pyproject.toml", """\
        [tool.leaflint]
        extend-exclude = ["generated", "src/legacy/*.py"]
        respect-gitignore = false
    """)
    for name in ("src/a.py", "src/legacy/old.py", "generated/g.py", "build/b.py", "ignored/i.py"):
        write(tmp_path / name, BAD)
    (tmp_path / ".gitignore").write_text("ignored/\n")
    files = {f for f, _, _ in found(run("check", "--output-format", "json", ".", cwd=tmp_path))}
    # build/ is still a default exclude; .gitignore is not respected
    assert files == {"src/a.py", "ignored/i.py"}
    # the command line turns .gitignore back on
    files = {f for f, _, _ in found(run("check", "--output-format", "json", "--respect-gitignore", ".", cwd=tmp_path))}
    assert files == {"src/a.py"}
    # `exclude` replaces the defaults
    write(tmp_path / "pyproject.toml", "[tool.leaflint]\nexclude = [\"src\"]\n")
    files = {f for f, _, _ in found(run("check", "--output-format", "json", ".", cwd=tmp_path))}
    assert files == {"generated/g.py", "build/b.py"}
    # --extend-exclude on the command line adds to it
    files = {f for f, _, _ in found(run("check", "--output-format", "json", "--extend-exclude", "build", ".", cwd=tmp_path))}
    assert files == {"generated/g.py"}


def test_force_exclude_applies_config_excludes_to_explicit_files(tmp_path):
    write(tmp_path / "pyproject.toml", "[tool.leaflint]\nextend-exclude = [\"generated\"]\n")
    write(tmp_path / "generated" / "deep" / "g.py", BAD)
    write(tmp_path / "build" / "b.py", BAD)
    write(tmp_path / "a.py", BAD)
    proc = run("check", "--force-exclude", "--output-format", "json", "generated/deep/g.py", "build/b.py", "a.py",
               cwd=tmp_path)
    assert {f for f, _, _ in found(proc)} == {"a.py"}
    # without --force-exclude an explicit path is checked
    proc = run("check", "--output-format", "json", "generated/deep/g.py", cwd=tmp_path)
    assert {f for f, _, _ in found(proc)} == {"generated/deep/g.py"}


@pytest.mark.parametrize("body,needle", [
    ("selct = [\"LL1\"]", "unknown key 'selct'"),
    ("extend_select = [\"LL1\"]", "unknown key 'extend_select'"),
    ("select = \"LL1\"", "'select' must be a list of strings"),
    ("ignore = [\"LL9\"]", "bad value in 'ignore'"),
    ("respect-gitignore = \"no\"", "'respect-gitignore' must be true or false"),
    ("per-file-ignores = [\"x\"]", "'per-file-ignores' must be a table"),
    ("per-file-ignores = { \"a.py\" = [\"XX1\"] }", "per-file-ignores.\"a.py\""),
    ("cache-dir = 3", "'cache-dir' must be a non-empty string"),
    ("exclude = [1]", "'exclude' must be a list of strings"),
    ("select = [", "invalid TOML"),
])
def test_bad_config_is_exit_2_naming_file_and_key(tmp_path, body, needle):
    write(tmp_path / "pyproject.toml", "[tool.leaflint]\n" + body + "\n")
    write(tmp_path / "a.py", BAD)
    proc = run("check", ".", cwd=tmp_path)
    assert proc.returncode == 2
    assert needle in proc.stderr
    assert str(tmp_path / "pyproject.toml") in proc.stderr
    assert proc.stdout == ""


def test_unknown_key_suggests_the_right_one(tmp_path):
    write(tmp_path / "pyproject.toml", "[tool.leaflint]\nextend_select = [\"LL1\"]\n")
    write(tmp_path / "a.py", BAD)
    assert "did you mean 'extend-select'?" in run("check", ".", cwd=tmp_path).stderr


def test_invalid_toml_without_a_leaflint_table_is_not_our_business(tmp_path):
    write(tmp_path / "pyproject.toml", "[project\nname = \n")
    write(tmp_path / "a.py", BAD)
    assert run("check", ".", cwd=tmp_path).returncode == 1


def test_show_settings(tree):
    proc = run("check", "--show-settings", "other", cwd=tree)
    assert proc.returncode == 0, proc.stderr
    assert "Resolved settings for: other/mod.py" in proc.stdout
    assert f"Settings path: {tree / 'other' / 'pyproject.toml'}" in proc.stdout
    assert 'rules = ["LL102"]' in proc.stdout
    proc = run("check", "--show-settings", "--ignore", "LL1", "top.py", cwd=tree)
    assert f"Settings path: {tree / 'pyproject.toml'}" in proc.stdout
    rest = ", ".join(f'"{code}"' for code in DEFAULT_CODES if not code.startswith("LL1"))  # the default rules but LL1
    assert f"rules = [{rest}]" in proc.stdout and all(f'"{code}"' in rest for code in ("LL201", "LL203", "LL301"))
    assert 'ignore = ["LL102"]' in proc.stdout
    proc = run("check", "--show-settings", "--isolated", "top.py", cwd=tree)
    assert "Settings path: (none: defaults)" in proc.stdout


def test_cache_dir_is_resolved_relative_to_the_config(tree):
    write(tree / "pyproject.toml", "[tool.leaflint]\ncache-dir = \".cache/leaflint\"\n")
    resolver = Resolver()
    assert resolver.cache_dir([str(tree)]) == str(tree / ".cache" / "leaflint")
    assert resolver.for_path(str(tree / "pkg" / "mod.py")).cache_dir == str(tree / ".cache" / "leaflint")
    assert Resolver(Overrides(cache_dir=str(tree / "x"))).cache_dir([str(tree)]) == str(tree / "x")
    assert Resolver(isolated=True).cache_dir([str(tree)]) is None


def test_parse_table_and_layers(tmp_path):
    settings = parse_table({"select": ["ll1"], "extend-select": ["LL202"]}, str(tmp_path / "pyproject.toml"))
    assert settings.select == ("LL1",) and settings.extend_select == ("LL202",)
    with pytest.raises(ConfigError, match="unknown key 'foo'"):
        parse_table({"foo": 1}, str(tmp_path / "pyproject.toml"))
    default = ("LL101", "LL102", "LL201")
    assert apply_layer(default, None, ["LL1"], ["LL102"]) == ("LL102", "LL201")
    assert apply_layer(default, ["ALL"], ["LL2"], []) == tuple(c for c in apply_layer((), ["ALL"], [], []) if not c.startswith("LL2"))
    assert apply_layer(("LL101",), None, [], ["LL202"]) == ("LL101", "LL202")
    assert apply_layer(("LL101",), None, ["LL101"], ["LL101"]) == ()  # ignore wins a tie


@pytest.mark.parametrize("patterns", [
    (), ("build",), ("*.egg-info", "venv", ".venv"), ("gen_*", "[!a-c]x?", "a+b", "x.(y)", "*[0-9]"),
    ("data/", "./scripts/tmp_*", "nested/dir", "*.py"), ("[a-", "a]b", "**", "?"),
])
def test_excludes_match_as_each_pattern_alone(tmp_path, patterns):
    """``Settings.excludes`` tests the patterns without a ``/`` as one regular expression: the
    verdict is the one of testing each pattern alone (``fnmatchcase`` on the name, the path
    patterns on the path from the root)."""
    import fnmatch
    import os

    from leaflint.config import Settings

    settings = Settings(root=str(tmp_path), exclude=(), extend_exclude=patterns)
    names = ["build", "build.py", "pkg.egg-info", "venv", ".venv", "gen_x", "dx1", "ax1", "a+b", "ab", "x.(y)",
             "x.y", "f9", "f", "data", "tmp_1", "dir", "m.py", "[a-", "a]b", "?", "", "x"]
    for name in names:
        for parent in ("", "scripts", "nested", "data/deeper"):
            path = os.path.join(str(tmp_path), parent, name) if name else os.path.join(str(tmp_path), parent)
            base = os.path.basename(os.path.normpath(path))
            alone = False
            for pattern in patterns:
                bare = pattern.strip("/")
                if "/" not in bare:
                    alone = alone or fnmatch.fnmatchcase(base, bare)
                else:
                    alone = alone or Settings(root=str(tmp_path), exclude=(), extend_exclude=(pattern,)).excludes(path)
            assert settings.excludes(path) == alone, (patterns, path)
