"""The package's shape (issue 12): every module imports, the import graph has no cycle, the pure parts stay pure,
and every command's default for a shared setting is the config dataclass's.

The graph is read from the source (ast): module-level AND function-level imports, so a lazy import inside a
function cannot hide a cycle. TYPE_CHECKING blocks are skipped (they never run). Dynamic links are edges too: a
string that names a distilbo module, alone or as `package.module:function` (`python -m distilbo.search._child`, the
trial function "distilbo.distill.trial:run_trial" a search hands to a child process or a Ray task), docstrings
aside. The lazy re-export maps of the package `__init__` files (every module is below its package) are not edges.
"""

from __future__ import annotations

import ast
import importlib
import inspect
import re
from pathlib import Path

import pytest

from conftest import REPO

PKG = REPO / "distilbo"
PURE = ("distilbo.search._rungs", "distilbo.qa.postprocess", "distilbo.qa.squad_v2", "distilbo.qa.calibrate",
        "distilbo.distill.losses", "distilbo.report.frontier", "distilbo.report.confirmed", "distilbo.pareto",
        "distilbo.names")
FILE_IO = {"os", "pathlib", "shutil", "tempfile", "io", "glob", "fcntl", "sqlite3"}
MODULE_STRING = re.compile(r"(distilbo(?:\.[A-Za-z_]\w*)+)(?::[A-Za-z_]\w*)?")
"""A string that names a module (`distilbo.search._child`) or a function in one (`distilbo.distill.trial:run_trial`)."""
MAX_SEARCH_LINES = 400


def _modules() -> dict[str, Path]:
    out = {}
    for p in sorted(PKG.rglob("*.py")):
        parts = p.relative_to(REPO).with_suffix("").parts
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        out[name] = p
    return out


MODULES = _modules()


def _imports(path: Path) -> tuple[set[str], set[str]]:
    """(distilbo modules, top-level outside packages) that `path` imports anywhere but under TYPE_CHECKING, or
    names in a module string (dynamic links; not in a package `__init__`)."""
    return _links(path.read_text(), package=path.name == "__init__.py")


def _links(source: str, *, package: bool = False) -> tuple[set[str], set[str]]:
    inner, outer = set(), set()
    tree = ast.parse(source)
    docstrings = {id(n.body[0].value) for n in ast.walk(tree)
                  if isinstance(n, (ast.Module, ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)) and n.body
                  and isinstance(n.body[0], ast.Expr) and isinstance(n.body[0].value, ast.Constant)}

    def visit(node: ast.AST) -> None:
        for ch in ast.iter_child_nodes(node):
            if isinstance(ch, ast.If) and "TYPE_CHECKING" in ast.unparse(ch.test):
                continue
            names = []
            if isinstance(ch, ast.Import):
                names = [a.name for a in ch.names]
            elif isinstance(ch, ast.ImportFrom) and ch.module and ch.level == 0:
                names = [ch.module] + [f"{ch.module}.{a.name}" for a in ch.names]
            elif (isinstance(ch, ast.Constant) and isinstance(ch.value, str) and id(ch) not in docstrings
                  and not package and (m := MODULE_STRING.fullmatch(ch.value)) and m.group(1) in MODULES):
                inner.add(m.group(1))  # a dynamic link: subprocess `-m`, a "module:function" run elsewhere
            for n in names:
                if n.split(".")[0] == "distilbo":
                    if n in MODULES:
                        inner.add(n)
                else:
                    outer.add(n.split(".")[0])
            visit(ch)

    visit(tree)
    return inner, outer


GRAPH = {m: _imports(p) for m, p in MODULES.items()}


@pytest.mark.parametrize("name", sorted(MODULES))
def test_every_module_imports(name):
    importlib.import_module(name)


def test_the_import_graph_has_no_cycle():
    edges = {m: GRAPH[m][0] - {m} for m in MODULES}
    state: dict[str, int] = {}
    path: list[str] = []

    def walk(u: str) -> None:
        state[u] = 1
        path.append(u)
        for v in sorted(edges[u]):
            assert state.get(v) != 1, "import cycle: " + " -> ".join(path[path.index(v):] + [v])
            if v not in state:
                walk(v)
        path.pop()
        state[u] = 2

    for m in sorted(MODULES):
        if m not in state:
            walk(m)
    # the checker finds a cycle when there is one
    edges["distilbo.names"] = {"distilbo.pareto"}
    edges["distilbo.pareto"] = {"distilbo.names"}
    state.clear()
    with pytest.raises(AssertionError, match="import cycle"):
        walk("distilbo.names")
    # ... also one closed by a dynamic link (a module string), as the trial and the search had before issue 32
    edges["distilbo.pareto"] = _links('import subprocess, sys\n'
                                      'subprocess.run([sys.executable, "-m", "distilbo.names"])\n')[0]
    state.clear()
    with pytest.raises(AssertionError, match="import cycle"):
        walk("distilbo.names")


def test_dynamic_links_are_edges():
    """Module strings count: the search starts its child with `-m distilbo.search._child` and names the trial
    function "distilbo.distill.trial:run_trial"; a docstring naming a module is not a link."""
    assert "distilbo.search._child" in GRAPH["distilbo.search._launch"][0]
    assert "distilbo.distill.trial" in GRAPH["distilbo.search._objective"][0]
    assert "distilbo.distill.trial" in GRAPH["distilbo.search.confirm"][0]
    inner, _ = _links('"""Runs `distilbo.names`."""\nFN = "distilbo.pareto:pareto_front"\nX = "distilbo.nope"\n')
    assert inner == {"distilbo.pareto"}


def test_the_trial_never_imports_the_search():
    """The search starts the trial (a dynamic link, down); the trial reaches nothing in search/, by import or by
    name: rung decisions come to it through `distill.rung_report`."""
    for m in MODULES:
        if m.startswith("distilbo.distill"):
            reached = {r for r in _closure(m) if r.startswith("distilbo.search")}
            assert not reached, f"{m} reaches {sorted(reached)}"


def test_no_search_file_is_over_400_lines():
    """One job per file in search/ (issue 32): none grows past MAX_SEARCH_LINES lines."""
    long = {p.name: n for p in (PKG / "search").glob("*.py") if (n := len(p.read_text().splitlines())) > MAX_SEARCH_LINES}
    assert not long, f"search/ files over {MAX_SEARCH_LINES} lines: {long}"


def _closure(name: str) -> set[str]:
    seen, todo = set(), [name]
    while todo:
        m = todo.pop()
        if m not in seen:
            seen.add(m)
            todo += sorted(GRAPH[m][0])
    return seen


@pytest.mark.parametrize("name", PURE)
def test_pure_modules_import_neither_optuna_nor_file_io(name):
    for m in _closure(name):
        outer = GRAPH[m][1]
        assert "optuna" not in outer, f"{name} reaches optuna through {m}"
        assert not outer & FILE_IO, f"{name} reaches {sorted(outer & FILE_IO)} through {m}"
        calls = [n for n in ast.walk(ast.parse(MODULES[m].read_text()))
                 if isinstance(n, ast.Call) and isinstance(n.func, ast.Name) and n.func.id == "open"]
        assert not calls, f"{m} opens files"


def test_layers_point_down():
    """Only search/ talks to Optuna; the search never reaches into report/export; the leaves import nothing."""
    for m, (_, outer) in GRAPH.items():
        if "optuna" in outer:
            assert m.startswith("distilbo.search"), f"{m} imports optuna"
    for m, (inner, _) in GRAPH.items():
        if m.startswith("distilbo.search"):
            assert not {i for i in inner if i.startswith(("distilbo.report", "distilbo.export"))}, m
    for leaf in ("distilbo.names", "distilbo.pareto", "distilbo._io", "distilbo.errors"):
        assert GRAPH[leaf][0] == set(), leaf
    assert "distilbo.search.space" not in _closure("distilbo.config")


# ---------------------------------------------------------------------------------------------- one default each
SHARED = {"max_seq_length", "doc_stride", "max_query_length", "n_best_size", "max_answer_length",
          "null_score_diff_threshold", "version_2_with_negative", "eval_batch_size", "batch_size", "seed",
          "max_eval_samples"}


# a command parameter named differently from its config field; None: the command's own setting, not the config's
# (the teacher is fine-tuned with its own recipe: batch 32, not the student's 8)
ALIASES = {("evaluate", "batch_size"): "eval_batch_size", ("finetune_teacher", "batch_size"): None,
           ("teacher", "batch_size"): None,
           # evaluate's threshold defaults to the one the model ships with (a distilbo export's calibrated one)
           ("evaluate", "null_score_diff_threshold"): None}


def _command_functions():
    from distilbo import evaluate, export, teacher
    from distilbo.data import squad
    from distilbo.qa import postprocess

    return [evaluate.evaluate, teacher.finetune_teacher, export.usage_snippet, squad.build_features,
            postprocess.postprocess]


def test_every_command_default_for_a_shared_setting_is_the_configs():
    from distilbo.config import Config

    cfg = Config()
    checked = 0
    for fn in _command_functions():
        for name, p in inspect.signature(fn).parameters.items():
            if name in SHARED and p.default is not inspect.Parameter.empty:
                field = ALIASES.get((fn.__name__, name), name)
                if field is None:
                    continue
                assert p.default == cfg.get(field), f"{fn.__module__}.{fn.__name__}({name}={p.default!r}) but the " \
                                                    f"config's {field} defaults to {cfg.get(field)!r}"
                checked += 1
    assert checked >= 8  # the check looks at real parameters


def test_cli_defaults_for_shared_settings_are_the_configs():
    from distilbo.cli import build_parser
    from distilbo.config import Config

    cfg = Config()
    parser = build_parser()
    sub = next(a for a in parser._actions if a.__class__.__name__ == "_SubParsersAction")
    checked = 0
    for command, p in sub.choices.items():
        for a in p._actions:
            if a.dest in SHARED and a.default is not None:
                field = ALIASES.get((command, a.dest), a.dest)
                if field is None:
                    continue
                assert a.default == cfg.get(field), f"distilbo {command} --{a.dest} defaults to {a.default!r}, " \
                                                    f"the config's {field} to {cfg.get(field)!r}"
                checked += 1
    assert checked >= 1


def test_every_top_level_name_is_what_it_says_whatever_was_imported_first():
    """`from distilbo import X` gives the function or class, also after every submodule has been imported."""
    import types

    import distilbo

    for name in MODULES:
        importlib.import_module(name)
    for name in distilbo.__all__:
        value = getattr(distilbo, name)
        assert not isinstance(value, types.ModuleType), f"distilbo.{name} is a module"


def test_the_developers_layout_table_matches_the_tree():
    """DEVELOPERS.md's layout table names every file of distilbo/search/ and every top-level module (a sub-PKG
    other than search/ may be described as a folder), and every distilbo/ path it names exists."""
    text = (REPO / "DEVELOPERS.md").read_text(encoding="utf-8")
    rows = "\n".join(line for line in text.splitlines() if line.startswith("| `distilbo/"))
    for f in sorted(PKG.rglob("*.py")):
        rel = f.relative_to(REPO).as_posix()
        if f.name == "__init__.py":
            continue
        if f.parent == PKG:
            assert f"`{rel}`" in rows, f"{rel} is not in DEVELOPERS.md's layout table"
        elif f.parent.name == "search":
            assert f"`{f.name}`" in rows, f"{rel} is not in DEVELOPERS.md's layout table"
        else:
            assert f"`{f.parent.relative_to(REPO).as_posix()}/`" in rows or f"`{rel}`" in rows, rel
    for named in re.findall(r"`(distilbo/[\w/]+(?:\.py|/))`", rows):
        assert (REPO / named).exists(), f"DEVELOPERS.md names {named}, which does not exist"
