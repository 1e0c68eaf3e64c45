"""The package's layers import downward only: no module-level import circle between modules."""

from __future__ import annotations

import ast
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
PACKAGES = ("gen_unlearn", "pipelines")


def module_name(path: Path) -> str:
    parts = list(path.relative_to(REPO).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def module_level_imports(path: Path, modules: set[str]) -> set[str]:
    """The project modules `path` imports at module level (function-level imports are not counted)."""
    name = module_name(path)
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found = set()
    for node in ast.parse(path.read_text()).body:
        if isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parent = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                base = ".".join([*parent, base] if base else parent)
            for alias in node.names:
                target = f"{base}.{alias.name}"
                found.add(target if target in modules else base)
        elif isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
    return {m for m in found if m in modules and m != name}


def test_no_module_imports_in_a_circle() -> None:
    files = [p for package in PACKAGES for p in (REPO / package).rglob("*.py")]
    modules = {module_name(p) for p in files}
    # a package's __init__ only re-exports what is below it: its own imports are not layer edges
    graph = {module_name(p): module_level_imports(p, modules) for p in files if p.name != "__init__.py"}
    graph = {m: {t for t in targets if t in graph} for m, targets in graph.items()}
    state: dict[str, int] = {}

    def visit(node: str, path: list[str]) -> None:
        state[node] = 1
        for target in sorted(graph.get(node, ())):
            if state.get(target) == 1:
                cycle = [*path[path.index(target) :], target]
                raise AssertionError("import circle: " + " -> ".join(cycle))
            if target not in state:
                visit(target, [*path, target])
        state[node] = 2

    for module in sorted(graph):
        if module not in state:
            visit(module, [module])


def run_python(code: str) -> str:
    import subprocess
    import sys

    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO, check=True)
    return done.stdout.strip()


def test_the_command_list_and_import_gen_unlearn_do_not_load_torch() -> None:
    """`gen-unlearn --help` answers from the command list alone: no torch, diffusers or scipy (under 2 s)."""
    heavy = run_python(
        "import contextlib, io, sys\n"
        "import gen_unlearn\n"
        "from gen_unlearn.cli import main\n"
        "with contextlib.redirect_stdout(io.StringIO()), contextlib.suppress(SystemExit):\n"
        "    main(['--help'])\n"
        "print(sorted(m for m in ('torch', 'diffusers', 'scipy', 'torchvision') if m in sys.modules))"
    )
    assert heavy == "[]", f"loaded for --help: {heavy}"


def test_the_command_list_gives_each_command_the_help_of_its_full_parser() -> None:
    from gen_unlearn.cli import COMMANDS, build_parser, command_list_parser

    def helps(parser) -> dict[str, str]:
        action = next(a for a in parser._actions if a.dest == "command")
        return {choice.dest: choice.help for choice in action._choices_actions}

    assert helps(command_list_parser()) == helps(build_parser()) == COMMANDS


def test_erase_is_the_function_whatever_was_imported_first() -> None:
    kinds = run_python(
        "import gen_unlearn, gen_unlearn.evaluation, gen_unlearn.erasure\n"
        "print(callable(gen_unlearn.erase), gen_unlearn.erase is gen_unlearn.erasure.erase)"
    )
    assert kinds == "True True"


# The layers, bottom first (DESIGN §1: pipelines -> denoiser, data, loop -> methods -> erase -> evaluation -> CLI).
LAYERS = [
    {"pipelines", "io", "tables", "settings", "batches", "relabel", "negatives", "weighting"},
    {"images", "classifier", "saliency", "sampling"},
    {"data", "denoiser", "hub", "loop"},
    {"replay"},
    {"methods", "classification"},
    {"erasure"},
    {"evaluation"},
    {"cli", "cli_common", "cli_erase", "cli_evaluation", "classification.cli"},
]


def layer_of(module: str) -> int:
    parts = module.split(".")
    names = ["pipelines"] if parts[0] == "pipelines" else [".".join(parts[1:3]), parts[1]]
    return next(i for name in names for i, layer in enumerate(LAYERS) if name in layer)


def test_no_module_imports_from_a_layer_above_it() -> None:
    files = [p for package in PACKAGES for p in (REPO / package).rglob("*.py") if p.name != "__init__.py"]
    modules = {module_name(p) for package in PACKAGES for p in (REPO / package).rglob("*.py")}
    upward = [
        f"{module_name(p)} (layer {layer_of(module_name(p))}) imports {target} (layer {layer_of(target)})"
        for p in files
        for target in module_level_imports(p, modules)
        if target != "gen_unlearn" and layer_of(target) > layer_of(module_name(p))
    ]
    assert not upward, "\n".join(upward)
