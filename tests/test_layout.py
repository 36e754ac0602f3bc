"""The layout the architecture promises, checked on the source: one `aet` namespace, the
config schema at the bottom of the import graph, serving's client side free of training
code, and data kinds that load without TensorFlow."""

from __future__ import annotations

import ast
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("config", "pipelines", "components", "kinds", "domains", "serving", "report")


def _imports(path: Path) -> list[str]:
    """Modules `path` imports at run time (not those under `if TYPE_CHECKING:`)."""
    tree = ast.parse(path.read_text())
    skipped = {
        id(node)
        for block in ast.walk(tree)
        if isinstance(block, ast.If) and "TYPE_CHECKING" in ast.unparse(block.test)
        for statement in block.body
        for node in ast.walk(statement)
    }
    names = []
    for node in ast.walk(tree):
        if id(node) in skipped:
            continue
        if isinstance(node, ast.Import):
            names += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            names.append(node.module)
    return names


def _imports_of(package: str) -> dict[str, list[str]]:
    return {
        str(path.relative_to(ROOT)): _imports(path)
        for path in sorted((ROOT / package).rglob("*.py"))
    }


def _offenders(package: str, forbidden: tuple[str, ...]) -> list[str]:
    return [
        f"{path}: {name}"
        for path, names in _imports_of(package).items()
        for name in names
        if name.startswith(forbidden)
    ]


def test_nothing_imports_the_bare_top_level_names() -> None:
    bare = tuple(f"{package}" for package in PACKAGES)
    offenders = [
        f"{path}: {name}"
        for folder in (*PACKAGES, "tests", "benchmarks")
        for path, names in _imports_of(folder).items()
        for name in names
        if name.split(".")[0] in bare
    ]
    assert offenders == []


def test_the_config_schema_imports_nothing_above_it() -> None:
    offenders = [
        f"{path}: {name}"
        for path, names in _imports_of("config").items()
        for name in names
        if name.startswith("aet.") and not name.startswith("aet.config")
    ]
    assert offenders == []


@pytest.mark.parametrize("package", ["components", "serving", "kinds"])
def test_nothing_below_the_pipelines_imports_them(package: str) -> None:
    assert _offenders(package, ("aet.pipelines",)) == []


def test_serving_imports_nothing_from_training() -> None:
    assert _offenders("serving", ("aet.components", "aet.kinds")) == []


def test_components_know_the_kinds_only_through_their_protocol() -> None:
    """The generic components ask the registry (aet.config.kinds) for a kind; only the
    protocol's types (aet.kinds.base) may be imported."""
    offenders = [
        entry
        for entry in _offenders("components", ("aet.kinds",))
        if not entry.endswith(": aet.kinds.base")
    ]
    assert offenders == []


def _modules_loaded(code: str, wanted: str) -> list[str]:
    """The modules a fresh interpreter holds after running `code` for which the
    expression `wanted` (on the module name `m`) is true."""
    script = f"import sys\n{code}\nprint(sorted(m for m in sys.modules if {wanted}))\n"
    out = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=True, cwd="/"
    )
    return ast.literal_eval(out.stdout)


def test_configs_and_kinds_load_without_tensorflow() -> None:
    """`aet validate-config` and a client's request encoding stay light: validating every
    shipped config imports the kinds but no TensorFlow, TFX or Keras."""
    code = (
        "from aet.pipelines.domains import load_domain, shipped_domains\n"
        "for name in shipped_domains(): load_domain(name)\n"
        "import aet.kinds"
    )
    heavy = "m.split('.')[0] in ('tensorflow', 'tfx', 'keras', 'apache_beam')"
    assert _modules_loaded(code, heavy) == []


def test_a_run_does_not_import_the_tfx_extensions() -> None:
    """`tfx.v1` imports every TFX extension (AI Platform, Kubeflow): 8 s more at each
    start of `aet run`. A run's modules import the components, DSL and protos from their
    own modules; only the Kubeflow compile path needs kfp."""
    code = (
        "import aet.pipelines.cli, aet.pipelines.factory, aet.pipelines.runners\n"
        "import aet.pipelines.summary, aet.components.trainer, aet.components.tuning\n"
        "import aet.kinds.tabular, aet.kinds.image, aet.kinds.interactions"
    )
    assert _modules_loaded(code, "m in ('tfx.v1', 'kfp')") == []


def test_the_wheel_installs_one_top_level_aet_package(tmp_path: Path) -> None:
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--no-deps",
            "--no-build-isolation",
            "--wheel-dir",
            str(tmp_path),
            str(ROOT),
        ],
        capture_output=True,
        check=True,
    )
    (wheel,) = tmp_path.glob("aet-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    top_level = {name.split("/")[0] for name in names}
    assert top_level == {"aet", f"{wheel.name.split('-')[0]}-{wheel.name.split('-')[1]}.dist-info"}
    installed = {name.split("/")[1] for name in names if name.startswith("aet/")}
    assert installed == set(PACKAGES)
    assert "aet/domains/finance_risk/config.yaml" in names
    assert "aet/domains/finance_risk/schema.pbtxt" in names


def test_the_container_image_copies_every_installed_folder() -> None:
    dockerfile = (ROOT / "Dockerfile").read_text()
    missing = [package for package in PACKAGES if f"COPY {package}/ " not in dockerfile]
    assert missing == []
