"""The layout: imports point one way (no module imports one that imports it back), each engine sub-package
imports only the layers below it, the engine never imports the dashboard or Streamlit, and the README's
layout section names the folders and modules that exist."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

from tests.import_graph import cycles, project_imports, project_modules

ROOT = Path(__file__).resolve().parents[1]

# The engine's layers, lowest first: a module may import its own layer and the ones before it.
ENGINE_LAYERS = [
    {"emotion_core.labels", "emotion_core.paths", "emotion_core.atomic", "emotion_core.options",
     "emotion_core.runs", "emotion_core.run_schema"},  # the contracts every part shares
    {"emotion_core.data"},
    {"emotion_core.model"},
    {"emotion_core.serving"},
    {"emotion_core.evaluation"},
    {"emotion_core.training", "emotion_core.media"},
    {"emotion_core.cli", "emotion_core.__main__", "emotion_core"},
]


def layer_of(module: str) -> int:
    for index, layer in enumerate(ENGINE_LAYERS):
        if any(module == name or module.startswith(name + ".") for name in layer if name != "emotion_core"):
            return index
    if module == "emotion_core":
        return len(ENGINE_LAYERS) - 1
    raise AssertionError(f"{module} is in no layer of ENGINE_LAYERS: add its sub-package there")


def test_no_import_circles():
    graph = project_imports(ROOT, ["emotion_core", "dashboard"])
    assert not cycles(graph), "modules that import each other (directly or round a loop): " + "; ".join(
        " -> ".join(loop) for loop in cycles(graph))


def test_engine_imports_only_lower_layers():
    graph = project_imports(ROOT, ["emotion_core"])
    upward = [f"{module} imports {target}" for module, targets in graph.items() for target in targets
              if layer_of(target) > layer_of(module)]
    assert not upward, "imports that point up the engine's layers: " + "; ".join(sorted(upward))


def test_engine_imports_no_dashboard_and_no_streamlit():
    offending = []
    for module, path in project_modules(ROOT, ["emotion_core"]).items():
        for node in ast.walk(ast.parse(path.read_text())):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else \
                [node.module or ""] if isinstance(node, ast.ImportFrom) else []
            offending += [f"{module} imports {n}" for n in names if n.split(".")[0] in ("dashboard", "streamlit",
                                                                                            "streamlit_webrtc")]
    assert not offending, offending


def test_live_server_parts_live_in_dashboard_live():
    live_parts = {"capacity", "machine_sessions", "overlay_peer", "connection", "rtp_patches", "stage_profile"}
    flat = {p.stem for p in (ROOT / "dashboard").glob("*.py")}
    assert not live_parts & flat, f"Live server modules outside dashboard/live/: {sorted(live_parts & flat)}"


def test_benchmarks_and_scripts_edit_no_import_path():
    offending = [str(p.relative_to(ROOT)) for folder in ("benchmarks", "scripts") for p in (ROOT / folder).glob("*.py")
                 if re.search(r"sys\.path\.(insert|append)|sys\.path\s*\+?=", p.read_text())]
    assert not offending, f"path edits (import the installed package instead): {offending}"


def readme_layout() -> dict[str, set[str]]:
    """README's layout block: 'folder/   name, name (what it is), sub/ (...)' lines -> {folder: names}; a line that
    starts with spaces goes on with the folder above."""
    text = (ROOT / "README.md").read_text()
    block = re.search(r"^## Layout\n.*?```text\n(.*?)```", text, re.S | re.M)
    assert block, "README has no '## Layout' section with a ```text block"
    rows: dict[str, str] = {}
    folder = None
    for line in block.group(1).splitlines():
        head = re.match(r"^(\S+)/\s+(.*)$", line)
        if head:
            folder = head.group(1)
            rows[folder] = head.group(2)
        elif folder and line.startswith(" "):
            rows[folder] += " " + line.strip()
    listed = {}
    for folder, row in rows.items():
        while re.search(r"\([^()]*\)", row):  # explanations in brackets name no files
            row = re.sub(r"\([^()]*\)", "", row)
        listed[folder] = {name.strip() for name in row.split(",") if name.strip()}
    return listed


@pytest.mark.parametrize("package", ["emotion_core", "emotion_core/data", "emotion_core/model",
                                     "emotion_core/serving", "emotion_core/evaluation", "emotion_core/training",
                                     "emotion_core/media", "dashboard", "dashboard/live"])
def test_readme_layout_matches_the_tree(package):
    listed = readme_layout()
    assert package in listed, f"README's layout has no line for {package}/"
    folder = ROOT / package
    present = {p.stem for p in folder.glob("*.py") if p.stem != "__init__"} | \
        {p.name + "/" for p in folder.iterdir() if p.is_dir() and (p / "__init__.py").exists()}
    missing = present - listed[package]
    stale = listed[package] - present - {p.name + "/" for p in folder.iterdir() if p.is_dir()}
    assert not missing, f"{package}/ holds {sorted(missing)}, which README's layout does not name"
    assert not stale, f"README's layout names {sorted(stale)} under {package}/, which do not exist"


@pytest.mark.parametrize("module", sorted(f"benchmarks.{p.stem}" for p in (ROOT / "benchmarks").glob("*.py")
                                          if p.stem not in ("__init__", "_common"))
                         + ["tests.planted_bugs", "tests.mutation", "tests.screenshots"])
def test_scripts_import_as_modules_of_the_project(module):
    """`python -m benchmarks.NAME` / `python -m tests.NAME` from the project root: their imports resolve."""
    import importlib

    assert callable(getattr(importlib.import_module(module), "main", None)), f"{module} has no main()"
