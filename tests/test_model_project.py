"""The project index (leaflint/index, leaflint/model/project.py): module names and imports,
the order of analysis, cross-file facts, caching by content, one-file runs."""

from __future__ import annotations

import os
import textwrap
from pathlib import Path

from leaflint.cache import Cache
from leaflint.checking import check_paths, lint_groups_indexed
from leaflint.files import Discovery
from leaflint.index.layout import Layout, scan
from leaflint.index.order import waves
from leaflint.rules import select_codes

MODELS = """\
import torch
import torch.nn as nn


class MF(nn.Module):
    def __init__(self, n, k):
        super().__init__()
        self.U = nn.Parameter(torch.randn(n, k))
        self.register_buffer("mask", torch.ones(n))
"""

UTILS = """\
import torch


def init_table(table, n, d):
    table[:n] = torch.randn(n, d)


def fresh(shape):
    return (torch.randn(shape) * 0.02).requires_grad_()
"""

TRAIN = """\
import torch
from torch import nn

from .models import MF
from .utils import init_table, fresh


class Pos(nn.Module):
    def __init__(self, n, d):
        super().__init__()
        self.pos = nn.Embedding(n, d)
        init_table(self.pos.weight, n, d)


def step():
    model = MF(4, 2)
    model.U[0] = 1.0
    model.mask[0] = 0.0
    w = fresh(3)
    w[0] *= 2
    with torch.no_grad():
        model.U[1] = 2.0
        init_table(nn.Embedding(3, 3).weight, 3, 3)
"""


def write(root: Path, files: dict[str, str]) -> None:
    root.mkdir(parents=True, exist_ok=True)
    (root / "pyproject.toml").write_text("")
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text))


def project(tmp_path: Path) -> Path:
    write(tmp_path, {"pkg/__init__.py": "", "pkg/models.py": MODELS, "pkg/utils.py": UTILS, "pkg/train.py": TRAIN})
    return tmp_path


def findings(paths, **kwargs) -> set[tuple[str, int, str]]:
    result = check_paths([str(p) for p in paths], jobs=1, cache=False, **kwargs)
    assert not result.internal_errors
    return {(os.path.basename(f.filename), f.location.row, f.code) for f in result.findings}


CROSS = {("train.py", 17, "LL103"), ("train.py", 20, "LL102"), ("utils.py", 5, "LL103")}


# ------------------------------------------------------------------------- layout and order
def test_module_names_follow_packages_and_scripts(tmp_path):
    write(tmp_path, {"src/pkg/__init__.py": "", "src/pkg/sub/__init__.py": "", "src/pkg/sub/m.py": "",
                     "scripts/run.py": "", "scripts/models.py": ""})
    layout = Layout(str(tmp_path))
    assert layout.module_of(str(tmp_path / "src/pkg/sub/m.py")) == ("pkg.sub.m", "pkg.sub")
    assert layout.module_of(str(tmp_path / "src/pkg/__init__.py")) == ("pkg", "pkg")
    assert layout.module_of(str(tmp_path / "scripts/run.py")) == ("run", "")
    # a script's sibling, a package from <root>/src, a relative import climbing two levels
    run = str(tmp_path / "scripts/run.py")
    assert layout.resolve(run, 0, "models") == str(tmp_path / "scripts/models.py")
    assert layout.resolve(run, 0, "pkg.sub.m") == str(tmp_path / "src/pkg/sub/m.py")
    assert layout.resolve(str(tmp_path / "src/pkg/sub/m.py"), 2, "") == str(tmp_path / "src/pkg/__init__.py")
    assert layout.resolve(run, 0, "torch.nn") is None


def test_a_package_wins_over_a_module_of_the_same_name(tmp_path):
    """As CPython's path finder: ``import models`` beside ``models/__init__.py`` and ``models.py``
    reads the package (the module is shadowed)."""
    write(tmp_path, {"models/__init__.py": "", "models.py": "", "train.py": ""})
    layout = Layout(str(tmp_path))
    assert layout.resolve(str(tmp_path / "train.py"), 0, "models") == str(tmp_path / "models/__init__.py")


def test_imports_resolve_from_every_root_and_skip_names_no_root_lists(tmp_path):
    """``resolve_all`` tests an absolute import's first name against the listings of the roots
    it would search (the file's source root, the root, <root>/src) before resolving it: what is
    skipped is what no root lists; everything else resolves as ``resolve`` does, name by name."""
    write(tmp_path, {"src/pkg/__init__.py": "", "src/pkg/sub/__init__.py": "", "src/pkg/sub/m.py": "",
                     "scripts/run.py": "", "scripts/models.py": "", "util.py": "", "top/__init__.py": "",
                     "top/inner.py": "", "src/pkg/a.py": ""})
    layout = Layout(str(tmp_path))
    text = ("import torch, torch.nn as nn\nfrom typing import Optional\nimport models\n"
            "from pkg.sub import m\nimport pkg.sub.m as mm\nfrom util import helper\nfrom top import inner\n"
            "import util.nothing\nfrom os import path\n")
    run = str(tmp_path / "scripts/run.py")
    found = layout.imports(run, text)
    assert found.deps == ["scripts/models.py", "src/pkg/__init__.py", "src/pkg/sub/__init__.py",
                          "src/pkg/sub/m.py", "top/__init__.py", "top/inner.py", "util.py"]
    assert found.exports == {"m": "src/pkg/sub/m.py", "mm": "src/pkg/sub/m.py", "helper": "util.py:helper",
                             "inner": "top/inner.py"}
    # each dotted module as resolve finds it alone (a fresh layout: nothing memoised)
    fresh = Layout(str(tmp_path))
    for dotted, rel in found.modules.items():
        assert fresh.resolve(run, 0, dotted) == str(tmp_path / rel)
    for dotted in ("torch", "torch.nn", "typing", "os", "util.nothing"):
        assert dotted not in found.modules and fresh.resolve(run, 0, dotted) is None
    # a module of the project made later is found by a new layout (listings are per run)
    write(tmp_path, {"torch.py": ""})
    assert Layout(str(tmp_path)).imports(run, "import torch\n").deps == ["torch.py"]


def test_scan_reads_every_import_form():
    text = textwrap.dedent("""\
        import a.b as c, d
        from . import x
        from ..p.q import (r as s,
            t)
        from m import *
        def f():
            from n import o  # inside a function
        """)
    assert scan(text) == [(0, "a.b", [("", "c")]), (0, "d", [("", "")]), (1, "", [("x", "x")]),
                          (2, "p.q", [("r", "s"), ("t", "t")]), (0, "m", [("*", "*")]), (0, "n", [("o", "o")])]


def test_waves_order_imports_first_and_break_cycles_by_path():
    order, reads = waves({"a.py": ["b.py"], "b.py": ["a.py", "c.py"], "c.py": [], "d.py": ["a.py"]})
    assert order == [["a.py", "c.py"], ["b.py", "d.py"]]
    # in the cycle a <-> b, a (sorting first) reads nothing of b; b reads a
    assert reads == {"a.py": [], "b.py": ["a.py", "c.py"], "c.py": [], "d.py": ["a.py"]}


# ------------------------------------------------------------------------- cross-file facts
def test_two_and_three_module_project_relative_imports(tmp_path):
    root = project(tmp_path)
    assert findings([root]) == CROSS


def test_one_file_run_uses_the_index(tmp_path):
    root = project(tmp_path)
    # pre-commit passes only the changed file: the helper's write is still found, in utils.py
    assert findings([root / "pkg/train.py"]) == CROSS


def test_absolute_imports_and_reexports_through_a_package(tmp_path):
    write(tmp_path, {
        "lib/__init__.py": "from .core.models import MF\nfrom .core import utils\n",
        "lib/core/__init__.py": "",
        "lib/core/models.py": MODELS,
        "lib/core/utils.py": UTILS,
        "app.py": """\
            import torch
            import lib.core.models as m
            from lib import MF, utils

            a = m.MF(3, 2)
            a.U[0] = 1.0
            b = MF(3, 2)
            b.U += 1
            utils.init_table(torch.nn.Linear(3, 3).weight, 3, 3)
            """,
    })
    assert findings([tmp_path / "app.py"]) == {("app.py", 6, "LL103"), ("app.py", 8, "LL102"), ("utils.py", 5, "LL103")}


def test_a_base_class_in_a_third_module(tmp_path):
    write(tmp_path, {
        "base.py": "import torch\nfrom torch import nn\n\n\nclass Base(nn.Module):\n"
                   "    def __init__(self):\n        super().__init__()\n        self.scale = nn.Parameter(torch.ones(1))\n",
        "head.py": "from base import Base\nfrom torch import nn\n\n\nclass Head(Base):\n"
                   "    def __init__(self):\n        super().__init__()\n        self.proj = nn.Linear(2, 2)\n",
        "run.py": "import torch\nfrom head import Head\n\nh = Head()\nh.scale.mul_(2)\nh.proj.weight[0, 0] = 1\n",
    })
    assert findings([tmp_path / "run.py"]) == {("run.py", 5, "LL101"), ("run.py", 6, "LL103")}


def test_helper_chain_across_modules_reports_at_the_write(tmp_path):
    write(tmp_path, {
        "utils.py": UTILS,
        "mid.py": "import torch\nfrom utils import init_table\n\n\ndef setup(t):\n    init_table(t, 2, 2)\n",
        "run.py": "import torch\nfrom mid import setup\n\nsetup(torch.nn.Linear(2, 2).weight)\n",
    })
    assert findings([tmp_path / "run.py"]) == {("utils.py", 5, "LL103")}


def test_import_cycle(tmp_path):
    write(tmp_path, {
        "a.py": "import torch\nfrom torch import nn\nfrom b import helper\n\n\nclass A(nn.Module):\n"
                "    def __init__(self):\n        super().__init__()\n        self.w = nn.Parameter(torch.ones(2))\n",
        "b.py": "import torch\nfrom a import A\n\n\ndef helper():\n    m = A()\n    m.w[0] = 1\n",
    })
    whole = findings([tmp_path])
    assert whole == {("b.py", 7, "LL103")}
    assert findings([tmp_path / "b.py"]) == whole  # the same facts from a one-file run


def test_a_syntax_error_in_one_module_is_one_line_and_the_rest_goes_on(tmp_path):
    root = project(tmp_path)
    (root / "pkg/broken.py").write_text("import torch\ndef f(:\n")
    (root / "pkg/train.py").write_text(TRAIN.replace("from .utils", "from .broken import f\nfrom .utils"))
    result = check_paths([str(root)], jobs=1, cache=False)
    errors = [f for f in result.findings if f.code == "LL001"]
    assert [(os.path.basename(f.filename), f.location.row) for f in errors] == [("broken.py", 2)]
    rest = {(os.path.basename(f.filename), f.location.row - (1 if f.filename.endswith("train.py") else 0), f.code)
            for f in result.findings if f.code != "LL001"}
    assert rest == CROSS


def test_excluded_modules_are_not_in_the_index(tmp_path):
    root = project(tmp_path)
    discovery = Discovery(extend_exclude=("models.py",))
    assert findings([root / "pkg/train.py"], discovery=discovery) == CROSS - {("train.py", 17, "LL103")}


def test_a_call_before_the_function_it_calls_uses_its_summary(tmp_path):
    write(tmp_path, {"late.py": """\
        import torch


        def main():
            w = make()
            w[0] = 1
            lin = build()
            lin.weight.zero_()


        def make():
            return torch.zeros(3, requires_grad=True)


        def build():
            return torch.nn.Linear(3, 3)


        def again(n):
            return again(n - 1) if n else torch.zeros(2, requires_grad=True)


        def use():
            r = again(2)
            r[0] = 1
        """})
    assert findings([tmp_path / "late.py"]) == {("late.py", 6, "LL103"), ("late.py", 8, "LL101")}


# ------------------------------------------------------------------------- the cache
def run_cached(root: Path, paths, cache_dir: Path) -> tuple[set, Cache]:
    store = Cache(str(cache_dir))
    codes = select_codes(None, (), ())
    results = lint_groups_indexed([(codes, [str(p) for p in paths])], jobs=1, cache=store, index_root=str(root))
    found = {(os.path.basename(f.filename), f.location.row, f.code) for r in results for f in r.findings}
    return found, store


def test_cache_invalidation_follows_what_a_module_says(tmp_path):
    root = project(tmp_path / "p")
    cache_dir = tmp_path / "cache"
    train = root / "pkg/train.py"
    found, store = run_cached(root, [train], cache_dir)
    assert found == CROSS and store.hits == 0
    found, store = run_cached(root, [train], cache_dir)  # warm: no parse at all
    assert found == CROSS and store.misses == 0

    # an edit that changes nothing models.py says (a comment): train.py's entry still holds
    models = root / "pkg/models.py"
    models.write_text("# the matrix factorisation\n" + MODELS)
    found, store = run_cached(root, [train], cache_dir)
    assert found == CROSS and store.misses == 1  # models.py alone

    # an edit that changes what it says: U no longer requires grad; train.py is analysed again
    models.write_text(MODELS.replace("torch.randn(n, k))", "torch.randn(n, k), requires_grad=False)"))
    found, store = run_cached(root, [train], cache_dir)
    assert found == CROSS - {("train.py", 17, "LL103")}
    assert store.misses == 2


def test_cached_findings_in_another_module_keep_their_file(tmp_path):
    root = project(tmp_path / "p")
    cache_dir = tmp_path / "cache"
    files = list(Discovery().discover([str(root)]))
    cold = run_cached(root, files, cache_dir)[0]
    warm, store = run_cached(root, files, cache_dir)
    assert cold == warm == CROSS and store.misses == 0


def test_a_suppression_at_the_write_holds_for_calls_from_other_modules(tmp_path):
    root = project(tmp_path)
    utils = root / "pkg/utils.py"
    utils.write_text(UTILS.replace("table[:n] = torch.randn(n, d)", "table[:n] = torch.randn(n, d)  # noqa: LL103"))
    assert findings([root / "pkg/train.py"]) == CROSS - {("utils.py", 5, "LL103")}


def test_argument_paths_cross_modules(tmp_path):
    """A training helper in one module writes a row of ``model.U`` and each element of a list it is
    given; the callers in another module pass an instance of a class of a third module and a list
    of leaves. Both writes are reported in the helper's module, from the summary in the index."""
    write(tmp_path, {
        "pkg/__init__.py": "",
        "pkg/models.py": MODELS,
        "pkg/fit.py": """\
            import torch


            def refit(model, rows):
                model.U[0] = rows[0]
                model.mask[0] = 0.0


            def step_all(*tensors):
                for t in tensors:
                    t.sub_(0.1)
            """,
        "pkg/run.py": """\
            import torch

            from .models import MF
            from .fit import refit, step_all


            def main():
                refit(MF(3, 2), torch.randn(3, 2))
                step_all(torch.zeros(2), torch.ones(2, requires_grad=True))
            """,
    })
    assert findings([tmp_path]) == {("fit.py", 5, "LL103"), ("fit.py", 11, "LL101")}
    assert findings([tmp_path / "pkg/run.py"]) == {("fit.py", 5, "LL103"), ("fit.py", 11, "LL101")}


HOOKS = """\
def lift(module, inputs, output):
    output.requires_grad_(True)


def enable_input_grads(model):
    model.tok.register_forward_hook(lift)
"""

HOOKED = """\
import torch
from torch import nn

from .hooks import enable_input_grads, lift


class Tower(nn.Module):
    def __init__(self):
        super().__init__()
        self.tok = nn.Embedding(8, 4)


def encode(model, ids):
    x = model.tok(ids)
    x[:, 0] = 0.0
    return x


def run():
    a = Tower()
    a.tok.requires_grad_(False)
    enable_input_grads(a)
    encode(a, torch.tensor([1]))
    table = nn.Embedding(3, 2)
    table.weight.requires_grad_(False)
    table.register_forward_hook(lift)
    out = table(torch.tensor([0]))
    out += 1
"""


def test_hooks_registered_and_defined_in_another_module(tmp_path):
    # the helper that registers the hook, and the hook itself, come from the project's summaries
    write(tmp_path, {"pkg/__init__.py": "", "pkg/hooks.py": HOOKS, "pkg/model.py": HOOKED})
    expected = {("model.py", 15, "LL103"), ("model.py", 28, "LL102")}
    assert findings([tmp_path]) == expected
    assert findings([tmp_path / "pkg/model.py"]) == expected


QUANT = """\
import torch
import torch.nn as nn


class Q(nn.Module):
    def __init__(self):
        super().__init__()
        self.s = nn.Parameter(torch.ones(1))

    def fit(self, x):
        self.s = nn.Parameter(x.max().reshape(1))
"""

# (a module none of whose words the prefilter looks for, engine.PREFILTER, is not parsed, so it
# has no summary: this one imports torch, as a calibration module of a torch project does)
CALIB = """\
import torch


class Holder:
    def __init__(self, target):
        self.target = target

    def go(self, x):
        self.target.fit(x)


def warm(layer, x):
    layer.fit(x)
"""

MAIN = """\
import torch

from .calib import Holder, warm
from .quant import Q


def main(x):
    model = Q()
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    Holder(model).go(x)
    warm(model, x)
    opt.step()
"""


def test_methods_reached_through_a_wrapper_of_another_module(tmp_path):
    """LL304 through a class and a function of other modules: their summaries (what ``__init__``
    binds, the methods called on parameters, the state replaced) come from the index, and an edit
    that changes them is seen by the module that calls them."""
    root = tmp_path / "p"
    write(root, {"pkg/__init__.py": "", "pkg/quant.py": QUANT, "pkg/calib.py": CALIB, "pkg/main.py": MAIN})
    main = root / "pkg/main.py"
    expected = {("main.py", 10, "LL304"), ("main.py", 11, "LL304")}
    assert findings([root]) == expected
    assert findings([main]) == expected
    cache_dir = tmp_path / "cache"
    found, _ = run_cached(root, [main], cache_dir)
    assert found == expected
    # the quantizer now calibrates lazily, once: nothing is replaced any more
    (root / "pkg/quant.py").write_text(QUANT.replace("        self.s = nn.Parameter(x.max()",
                                                     "        if self.s is None:\n"
                                                     "            self.s = nn.Parameter(x.max()"))
    found, store = run_cached(root, [main], cache_dir)
    assert found == set() and store.misses >= 2


PATHS = """\
import torch


def set_by_path(root, dotted, value):
    if "." in dotted:
        head, rest = dotted.split(".", 1)
        for child_name, child in root.named_children():
            if child_name == head:
                set_by_path(child, rest, value)
    else:
        setattr(root, dotted, value)
"""

META = """\
import torch
from torch import nn

from .paths import set_by_path


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(2, 2)

    def virtual_step(self, grads):
        for (key, p), g in zip(self.named_parameters(), grads):
            set_by_path(self, key, p - 0.1 * g)

    def reset(self):
        for key, p in self.named_parameters():
            set_by_path(self, key, nn.Parameter(torch.zeros_like(p)))
"""


def test_setattr_summary_of_another_module_reports_at_its_write(tmp_path):
    """A helper of another module that walks a dotted name and sets the last part: its summary
    (object, name and value flow to setattr) is judged at the call, and the finding is at the
    write, in the helper's module, also when only the calling module is checked."""
    root = tmp_path / "p"
    write(root, {"pkg/__init__.py": "", "pkg/paths.py": PATHS, "pkg/meta.py": META})
    assert findings([root]) == {("paths.py", 11, "LL303")}
    assert findings([root / "pkg/meta.py"]) == {("paths.py", 11, "LL303")}
    (root / "pkg/paths.py").write_text(PATHS.replace("setattr(root, dotted, value)",
                                                     "setattr(root, dotted, torch.nn.Parameter(value))"))
    assert findings([root / "pkg/meta.py"]) == set()
