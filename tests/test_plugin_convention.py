"""One plugin convention (ADR 0095): one factory shape, one options reader, one message format.

Every backend (core's ``local`` and the three cloud plugins) registers a
module-level ``create_storage(options, /, *, base_dir)``; unknown options
and wrong types read the same for all of them; path options start at the
configuration file's directory. Also: ``hookimpl`` lives in a leaf module,
and no rindle_core module takes part in an import cycle.
"""

from __future__ import annotations

import ast
import importlib
import json
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest

import rindle_core
from rindle_core import ConfigurationError
from rindle_core._hookimpl import hookimpl as leaf_hookimpl
from rindle_core._options import Options
from rindle_core.config import load_config
from rindle_core.local import LocalStorage
from rindle_core.plugins import (
    build_storage,
    follows_convention,
    hookimpl,
    make_plugin_manager,
    storage_factories,
)

#: backend, the module whose create_storage is registered, options that pass
#: the reader, a misspelt option and its fix, an option given a string where a
#: number or boolean goes, and what the message says it must be.
BACKENDS = [
    pytest.param(
        "local",
        "rindle_core.local._plugin",
        {"root": "objects"},
        ("roots", "root"),
        ("fsync", "true or false"),
        id="local",
    ),
    pytest.param(
        "s3",
        "rindle_s3",
        {"bucket": "media", "aws_access_key_id": "AKIDX", "aws_secret_access_key": "s"},
        ("bukcet", "bucket"),
        ("max_attempts", "an integer from 1 to 20"),
        id="s3",
    ),
    pytest.param(
        "gcs",
        "rindle_gcs",
        {"bucket": "media", "endpoint_url": "http://127.0.0.1:9"},
        ("bukcet", "bucket"),
        ("connect_timeout", "a number of seconds above 0 to 3600"),
        id="gcs",
    ),
    pytest.param(
        "azure",
        "rindle_azure",
        {"container": "media", "account_url": "http://127.0.0.1:9/a", "account_key": "c2VjcmV0"},
        ("containr", "container"),
        ("retries", "an integer from 0 to 10"),
        id="azure",
    ),
]


def _module(name: str) -> Any:
    if name != "rindle_core.local._plugin":
        pytest.importorskip(name)
    return importlib.import_module(name)


@pytest.mark.parametrize(("backend", "module", "valid", "typo", "typed"), BACKENDS)
def test_each_backend_registers_its_module_level_create_storage(
    backend: str, module: str, valid: dict[str, object], typo: Any, typed: Any
) -> None:
    factory = storage_factories(make_plugin_manager())[backend]
    assert factory is _module(module).create_storage
    assert follows_convention(factory)


@pytest.mark.parametrize(("backend", "module", "valid", "typo", "typed"), BACKENDS)
def test_an_unknown_option_reads_the_same_with_a_did_you_mean(
    backend: str,
    module: str,
    valid: dict[str, object],
    typo: tuple[str, str],
    typed: Any,
    tmp_path: Path,
) -> None:
    _module(module)
    wrong, right = typo
    with pytest.raises(ConfigurationError) as info:
        build_storage(
            backend,
            {**valid, wrong: "x"},
            pm=make_plugin_manager(),
            name="media",
            base_dir=tmp_path,
        )
    assert str(info.value) == (
        f"storage 'media' ({backend}): unknown option {wrong!r} (did you mean {right!r}?)"
    )
    assert info.value.__cause__ is None


@pytest.mark.parametrize(("backend", "module", "valid", "typo", "typed"), BACKENDS)
def test_a_wrong_type_reads_the_same(
    backend: str,
    module: str,
    valid: dict[str, object],
    typo: Any,
    typed: tuple[str, str],
    tmp_path: Path,
) -> None:
    _module(module)
    option, expected = typed
    with pytest.raises(ConfigurationError) as info:
        build_storage(
            backend,
            {**valid, option: "secret-looking value"},
            pm=make_plugin_manager(),
            name="media",
            base_dir=tmp_path,
        )
    assert str(info.value) == (
        f"storage 'media' ({backend}): option {option!r} must be {expected}, got a string"
    )


@pytest.mark.parametrize(("backend", "module", "valid", "typo", "typed"), BACKENDS)
def test_a_missing_required_option_reads_the_same(
    backend: str, module: str, valid: dict[str, object], typo: Any, typed: Any
) -> None:
    _module(module)
    required = next(iter(valid))
    rest = {k: v for k, v in valid.items() if k != required}
    with pytest.raises(ConfigurationError) as info:
        build_storage(backend, rest, pm=make_plugin_manager())
    assert str(info.value) == f"storage ({backend}): option {required!r} is required"


def _write_config(directory: Path, storage: str) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / "rindle.toml"
    path.write_text(
        'database_url = "sqlite:///rindle.db"\n'
        + textwrap.dedent(storage)
        + '[profiles.p]\nstorage = "media"\n'
    )
    return path


def test_a_relative_local_root_starts_at_the_config_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = _write_config(
        tmp_path / "etc", '[storage.media]\ntype = "local"\nroot = "data/objects"\n'
    )
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    storage = load_config(path, environ={}).storages["media"].build()
    assert getattr(storage, "root", None) == (tmp_path / "etc" / "data" / "objects").resolve()
    assert not (elsewhere / "data").exists()


def test_a_relative_gcs_credentials_file_starts_at_the_config_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    pytest.importorskip("rindle_gcs")
    config_dir = tmp_path / "etc"
    (config_dir / "keys").mkdir(parents=True)
    key = config_dir / "keys" / "sa.json"
    key.write_text(json.dumps({"type": "service_account"}))  # found, but not a usable key
    path = _write_config(
        config_dir,
        '[storage.media]\ntype = "gcs"\nbucket = "media"\n'
        'endpoint_url = "http://127.0.0.1:9"\ncredentials_file = "keys/sa.json"\n',
    )
    monkeypatch.chdir(tmp_path)  # where "keys/sa.json" does not exist
    with pytest.raises(ConfigurationError) as info:
        load_config(path, environ={}).build_storages()
    assert str(info.value).startswith(
        f"{path}: storage 'media' (gcs): option 'credentials_file' must name a service-account "
        f"key: {str(key)!r} is not one"
    )

    from rindle_gcs import GCSSettings

    settings = GCSSettings.from_options(
        {"bucket": "media", "credentials_file": "keys/sa.json"}, base_dir=config_dir, environ={}
    )
    assert settings.credentials_file == key


def test_build_storage_from_python_starts_paths_at_the_working_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    storage = build_storage("local", {"root": "objs"}, pm=make_plugin_manager())
    assert getattr(storage, "root", None) == (tmp_path / "objs").resolve()


def test_a_factory_of_the_former_kind_still_works_with_a_deprecation_warning(
    tmp_path: Path,
) -> None:
    class Former:
        @hookimpl
        def rindle_register_storage(self, register: Any) -> None:
            register("former", LocalStorage)

    pm = make_plugin_manager(load_entrypoints=False)
    pm.register(Former())
    assert not follows_convention(LocalStorage)
    with pytest.warns(DeprecationWarning, match="create_storage"):
        storage = build_storage("former", {"root": str(tmp_path)}, pm=pm, name="old")
    assert isinstance(storage, LocalStorage)
    with (
        pytest.warns(DeprecationWarning, match="create_storage"),
        pytest.raises(ConfigurationError, match=r"^storage 'old' \(former\): .*'colour'"),
    ):
        build_storage("former", {"root": str(tmp_path), "colour": 1}, pm=pm, name="old")


def test_options_show_no_string_values_and_name_the_option() -> None:
    read = Options({"token": "hunter2", "n": 10**40}, known=("token", "n", "flag"))
    assert "hunter2" not in repr(read)
    with pytest.raises(ConfigurationError) as info:
        read.integer("token", 1)
    assert str(info.value) == "option 'token' must be an integer of at least 1, got a string"
    with pytest.raises(ConfigurationError, match=r"^option 'n' .*got a 41-digit number$"):
        read.integer("n", 1, maximum=5)
    assert read.boolean("flag", True) is True
    with pytest.raises(
        ConfigurationError, match=r"^unknown option 'tokn' \(did you mean 'token'\?\)$"
    ):
        Options({"tokn": 1}, known=("token",))
    with pytest.raises(ConfigurationError, match=r"^unknown option 'zzz'$"):
        Options({"zzz": 1}, known=("token",))


# -----------------------------------------------------------------------------
# hookimpl in a leaf module; no import cycles in rindle_core
# -----------------------------------------------------------------------------

SOURCE = Path(rindle_core.__file__).parent


def test_hookimpl_is_one_marker_from_a_leaf_module() -> None:
    assert rindle_core.hookimpl is hookimpl is leaf_hookimpl
    tree = ast.parse((SOURCE / "_hookimpl.py").read_text())
    imported = [
        node
        for node in ast.walk(tree)
        if isinstance(node, ast.ImportFrom) and (node.level or "rindle" in (node.module or ""))
    ]
    assert imported == []


def _modules() -> dict[str, tuple[Path, bool]]:
    modules = {}
    for path in SOURCE.rglob("*.py"):
        parts = list(path.relative_to(SOURCE.parent).with_suffix("").parts)
        is_package = parts[-1] == "__init__"
        if is_package:
            parts = parts[:-1]
        modules[".".join(parts)] = (path, is_package)
    return modules


def _import_graph() -> dict[str, set[str]]:
    """Every import between rindle_core modules, those inside functions included
    (``if TYPE_CHECKING:`` blocks and a module's own parent packages excepted)."""
    modules = _modules()
    graph: dict[str, set[str]] = {}
    for name, (path, is_package) in modules.items():
        package = (name if is_package else name.rpartition(".")[0]).split(".")
        edges = _imports(ast.parse(path.read_text()), package)
        graph[name] = {
            edge
            for edge in edges
            if edge in modules and edge != name and not name.startswith(edge + ".")
        }
    return graph


def _imports(node: ast.AST, package: list[str]) -> set[str]:
    edges: set[str] = set()
    for child in ast.iter_child_nodes(node):
        if isinstance(child, ast.If) and "TYPE_CHECKING" in ast.unparse(child.test):
            continue
        if isinstance(child, ast.Import):
            edges.update(alias.name for alias in child.names)
        elif isinstance(child, ast.ImportFrom):
            if child.level:
                base = package[: len(package) - child.level + 1]
                target = ".".join(base + ([child.module] if child.module else []))
            else:
                target = child.module or ""
            edges.add(target)
            edges.update(f"{target}.{alias.name}" for alias in child.names)
        edges |= _imports(child, package)
    return edges


def test_no_rindle_core_module_is_in_an_import_cycle() -> None:
    graph = _import_graph()
    assert graph["rindle_core.plugins"] >= {"rindle_core.local._plugin"}
    done: set[str] = set()

    def walk(module: str, path: list[str]) -> None:
        for target in sorted(graph[module]):
            if target in path:
                cycle = [*path[path.index(target) :], target]
                pytest.fail("import cycle: " + " -> ".join(cycle))
            if target not in done:
                walk(target, [*path, target])
        done.add(module)

    for module in sorted(graph):
        walk(module, [module])


def test_every_module_imports_first_in_a_fresh_interpreter() -> None:
    """Each rindle_core module, imported before any other, imports cleanly."""
    names = sorted(  # migration scripts run inside Alembic only
        name
        for name in _modules()
        if not name.startswith(
            (
                "rindle_core.migrations.versions.",
                "rindle_core.migrations.env",
                # Django imports URLconfs, views and migrations after django.setup(),
                # as it requires; tests/web_django imports them that way.
                "rindle_core.web.django.",
            )
        )
    )
    code = textwrap.dedent(
        f"""
        import importlib, sys
        failed = []
        for name in {names!r}:
            for loaded in [m for m in sys.modules if m.split(".")[0] == "rindle_core"]:
                del sys.modules[loaded]
            try:
                importlib.import_module(name)
            except Exception as exc:
                failed.append(f"{{name}}: {{type(exc).__name__}}: {{exc}}")
        print("\\n".join(failed))
        """
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=300, check=False
    )
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.strip() == ""
