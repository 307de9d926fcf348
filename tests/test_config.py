"""Configuration loading: the TOML shape, the search order, the embedded default, errors."""

from __future__ import annotations

import textwrap
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import pluggy
import pytest

from rindle_core import Broker, ConfigurationError, Database
from rindle_core.config import (
    Config,
    StorageConfig,
    embedded_config,
    load_broker,
    load_config,
    parse_config,
    parse_duration,
    parse_size,
)
from rindle_core.local import LocalStorage
from rindle_core.plugins import hookimpl, make_plugin_manager

ISSUE_SHAPE = """
database_url = "sqlite:///rindle.db"
[storage.files]
type = "local"
root = "./objects"
[profiles.avatars]
storage = "files"
allow_mime = ["image/png", "image/jpeg"]
max_bytes = 10_000_000
"""


@pytest.fixture
def write(tmp_path: Path) -> Callable[[str], Path]:
    def write(text: str, name: str = "rindle.toml") -> Path:
        path = tmp_path / name
        path.write_text(textwrap.dedent(text))
        return path

    return write


def test_the_issue_shape_loads(write: Callable[[str], Path], tmp_path: Path) -> None:
    config = load_config(write(ISSUE_SHAPE), environ={})
    assert not config.embedded
    assert config.database_url == f"sqlite:///{tmp_path / 'rindle.db'}"
    assert config.storages["files"].type == "local"
    assert config.storages["files"].options == {"root": "./objects"}
    assert config.storages["files"].base_dir == tmp_path  # the factory resolves "./objects"
    (profile,) = config.profiles
    assert profile.name == "avatars"
    assert profile.storage == "files"
    assert profile.allow_mime == {"image/png", "image/jpeg"}
    assert profile.max_bytes == 10_000_000
    assert config.job_mode == "inline"


def test_every_profile_key_and_human_units(write: Callable[[str], Path]) -> None:
    config = load_config(
        write(
            """
            database_url = "sqlite:///r.db"
            job_mode = "worker"
            job_max_attempts = 3
            worker_interval = 0.5
            expire_batch_size = 20
            [storage.files]
            type = "local"
            root = "/tmp/objects"
            [profiles.docs]
            allow_mime = ["application/pdf"]
            allow_extensions = ["pdf", ".PDF"]
            max_bytes = "10 MiB"
            min_bytes = "1k"
            session_ttl = "2h"
            url_ttl = 600
            part_size = "16MiB"
            key_prefix = "documents/v1"
            require_type_match = false
            """
        ),
        environ={},
    )
    assert (config.job_mode, config.job_max_attempts) == ("worker", 3)
    assert (config.worker_interval, config.expire_batch_size) == (0.5, 20)
    profile = config.profile("docs")
    assert profile.storage == "files"  # the only storage is the default
    assert profile.allow_extensions == {"pdf"}
    assert profile.max_bytes == 10 * 1024 * 1024
    assert profile.min_bytes == 1000
    assert (profile.session_ttl, profile.url_ttl) == (7200, 600)
    assert profile.part_size == 16 * 1024 * 1024
    assert profile.key_prefix == "documents/v1"
    assert profile.require_type_match is False


def test_relative_paths_are_relative_to_the_file(tmp_path: Path) -> None:
    nested = tmp_path / "etc" / "rindle"
    nested.mkdir(parents=True)
    (nested / "conf.toml").write_text(ISSUE_SHAPE)
    config = load_config("etc/rindle/conf.toml", cwd=tmp_path, environ={})
    assert config.source == nested / "conf.toml"
    assert config.database_url == f"sqlite:///{nested / 'rindle.db'}"
    storage = config.storages["files"].build(plugin_manager=make_plugin_manager())
    assert isinstance(storage, LocalStorage)
    assert storage.root == (nested / "objects").resolve()


@pytest.mark.parametrize(
    "url",
    ["sqlite:////abs/rindle.db", "sqlite://", "sqlite:///:memory:", "postgresql://u:p@db/rindle"],
)
def test_other_database_urls_are_kept(url: str) -> None:
    config = parse_config(
        {
            "database_url": url,
            "storage": {"s": {"type": "local", "root": "/x"}},
            "profiles": {"p": {}},
        },
        source="/etc/rindle.toml",
        environ={},
    )
    assert config.database_url == url


class TestSearchOrder:
    def test_explicit_path_wins(self, write: Callable[[str], Path], tmp_path: Path) -> None:
        write(ISSUE_SHAPE)
        other = write(ISSUE_SHAPE.replace("avatars", "other"), "other.toml")
        env = {"RINDLE_CONFIG": str(tmp_path / "rindle.toml")}
        assert load_config(other, environ=env, cwd=tmp_path).profiles[0].name == "other"

    def test_environment_variable_next(self, write: Callable[[str], Path], tmp_path: Path) -> None:
        write(ISSUE_SHAPE)
        other = write(ISSUE_SHAPE.replace("avatars", "other"), "other.toml")
        config = load_config(environ={"RINDLE_CONFIG": str(other)}, cwd=tmp_path)
        assert config.profiles[0].name == "other"

    def test_working_directory_file_next(
        self, write: Callable[[str], Path], tmp_path: Path
    ) -> None:
        path = write(ISSUE_SHAPE)
        assert load_config(environ={}, cwd=tmp_path).source == path

    def test_embedded_default_last(self, tmp_path: Path) -> None:
        config = load_config(environ={}, cwd=tmp_path)
        assert config.embedded
        assert config.source is None
        assert config.database_url == f"sqlite:///{tmp_path / '.rindle' / 'rindle.db'}"
        assert config.storages["local"].type == "local"
        assert config.storages["local"].options == {"root": str(tmp_path / ".rindle" / "objects")}
        (profile,) = config.profiles
        assert (profile.name, profile.storage) == ("default", "local")
        assert not profile.allow_mime and not profile.allow_extensions
        assert profile.max_bytes is None
        assert config.job_mode == "inline"

    def test_missing_file_from_the_environment_names_the_variable(self, tmp_path: Path) -> None:
        with pytest.raises(ConfigurationError, match="RINDLE_CONFIG") as info:
            load_config(environ={"RINDLE_CONFIG": "nope.toml"}, cwd=tmp_path)
        assert "nope.toml" in str(info.value)

    def test_missing_explicit_file(self, tmp_path: Path) -> None:
        with pytest.raises(ConfigurationError, match="does not exist"):
            load_config(tmp_path / "absent.toml", environ={})


def test_database_url_from_the_environment_overrides_the_file(
    write: Callable[[str], Path],
) -> None:
    url = "postgresql+psycopg://rindle:pw@db.internal/rindle"
    config = load_config(write(ISSUE_SHAPE), environ={"RINDLE_DATABASE_URL": url})
    assert config.database_url == url
    assert "pw" not in repr(config)
    assert "***" in config.safe_database_url


BASE = 'database_url = "sqlite:///r.db"\n'
STORAGE = '[storage.files]\ntype = "local"\nroot = "objects"\n'
PROFILE = '[profiles.avatars]\nstorage = "files"\n'


@pytest.mark.parametrize(
    ("text", "key", "detail"),
    [
        ("database_url = 3\n" + STORAGE + PROFILE, "database_url", "non-empty string"),
        (STORAGE + PROFILE, "database_url", "missing"),
        ('database_url = "nonsense"\n' + STORAGE + PROFILE, "database_url", "SQLAlchemy URL"),
        (BASE + 'job_mode = "sometimes"\n' + STORAGE + PROFILE, "job_mode", "'inline' or 'worker'"),
        (BASE + "job_max_attempts = 0\n" + STORAGE + PROFILE, "job_max_attempts", "1 to 100"),
        (BASE + "worker_interval = -1\n" + STORAGE + PROFILE, "worker_interval", "positive"),
        (BASE + "expire_batch_size = true\n" + STORAGE + PROFILE, "expire_batch_size", "integer"),
        (
            BASE + "databse_url = 1\n" + STORAGE + PROFILE,
            "databse_url",
            "did you mean 'database_url'",
        ),
        (BASE + PROFILE, "storage", "missing"),
        (BASE + 'storage = "files"\n' + PROFILE, "storage", "expected a table"),
        (BASE + "[storage.files]\nroot = 'x'\n" + PROFILE, "storage.files.type", "missing"),
        (BASE + "[storage.files]\ntype = 7\n" + PROFILE, "storage.files.type", "non-empty string"),
        (BASE + '[storage.Files]\ntype = "local"\n' + PROFILE, "storage.Files", "a-z"),
        (BASE + STORAGE, "profiles", "missing"),
        (
            BASE + STORAGE + "[profiles.avatars]\nstorage = 'disk'\n",
            "profiles.avatars.storage",
            "no storage named 'disk'",
        ),
        (
            BASE + STORAGE + PROFILE + "max_bytes = '10 parsecs'\n",
            "profiles.avatars.max_bytes",
            "expected a size",
        ),
        (BASE + STORAGE + PROFILE + "max_bytes = -5\n", "profiles.avatars.max_bytes", "negative"),
        (
            BASE + STORAGE + PROFILE + "max_byte = 5\n",
            "profiles.avatars.max_byte",
            "did you mean 'max_bytes'",
        ),
        (
            BASE + STORAGE + PROFILE + "allow_mime = 'image/png'\n",
            "profiles.avatars.allow_mime",
            "list of strings",
        ),
        (BASE + STORAGE + PROFILE + "allow_mime = ['png']\n", "profiles.avatars", "allow_mime"),
        (
            BASE + STORAGE + PROFILE + "session_ttl = '3 fortnights'\n",
            "profiles.avatars.session_ttl",
            "duration",
        ),
        (
            BASE + STORAGE + PROFILE + "session_ttl = 0\n",
            "profiles.avatars.session_ttl",
            "at least 1 second",
        ),
        (BASE + STORAGE + PROFILE + "part_size = 0\n", "profiles.avatars.part_size", "at least 1"),
        (
            BASE + STORAGE + PROFILE + "require_type_match = 'yes'\n",
            "profiles.avatars.require_type_match",
            "true or false",
        ),
        (
            BASE + STORAGE + PROFILE + "min_bytes = 10\nmax_bytes = 5\n",
            "profiles.avatars",
            "max_bytes is below min_bytes",
        ),
        (BASE + STORAGE + "[profiles.Avatars]\nstorage = 'files'\n", "profiles.Avatars", "name"),
        (
            BASE + STORAGE + "[storage.more]\ntype = 'local'\n[profiles.p]\n",
            "profiles.p.storage",
            "missing: name one of files, more",
        ),
    ],
)
def test_each_mistake_names_its_key(
    write: Callable[[str], Path], text: str, key: str, detail: str
) -> None:
    path = write(text)
    with pytest.raises(ConfigurationError) as info:
        load_config(path, environ={})
    message = str(info.value)
    assert message.startswith(f"{path}: {key}"), message
    assert detail in message
    assert "\n" not in message


def test_invalid_toml_names_the_file_and_line(write: Callable[[str], Path]) -> None:
    path = write(BASE + "[storage.files\n")
    with pytest.raises(ConfigurationError, match=r"invalid TOML.*line 2") as info:
        load_config(path, environ={})
    assert str(path) in str(info.value)


# -- building ------------------------------------------------------------------------


class RecordingStorage(LocalStorage):
    backend = "recording"


@pytest.fixture
def recording_pm(pm: pluggy.PluginManager) -> tuple[pluggy.PluginManager, list[dict[str, Any]]]:
    """A plugin registering a ``recording`` backend type that records its options."""
    seen: list[dict[str, Any]] = []

    def factory(options: Mapping[str, Any], /, *, base_dir: Path) -> RecordingStorage:
        seen.append(dict(options))
        if options.get("bucket") == "forbidden":
            raise ConfigurationError("bucket 'forbidden' does not exist")
        return RecordingStorage(options["root"])

    class Plugin:
        @hookimpl
        def rindle_register_storage(self, register: Callable[..., None]) -> None:
            register("recording", factory)

    pm.register(Plugin())
    return pm, seen


def test_plugin_backends_get_every_option_but_type(
    write: Callable[[str], Path],
    tmp_path: Path,
    recording_pm: tuple[pluggy.PluginManager, list[dict[str, Any]]],
) -> None:
    pm, seen = recording_pm
    config = load_config(
        write(
            f"""
            {BASE}
            [storage.cloud]
            type = "recording"
            bucket = "media"
            endpoint_url = "http://127.0.0.1:9000"
            root = "{tmp_path / "cloud"}"
            [profiles.p]
            """
        ),
        environ={},
    )
    storages = config.build_storages(plugin_manager=pm)
    assert isinstance(storages["cloud"], RecordingStorage)
    assert seen == [
        {
            "bucket": "media",
            "endpoint_url": "http://127.0.0.1:9000",
            "root": str(tmp_path / "cloud"),
        }
    ]


def test_factory_errors_name_the_storage(
    write: Callable[[str], Path], recording_pm: tuple[pluggy.PluginManager, list[dict[str, Any]]]
) -> None:
    pm, _ = recording_pm
    path = write(BASE + '[storage.cloud]\ntype = "recording"\nbucket = "forbidden"\n[profiles.p]\n')
    with pytest.raises(ConfigurationError) as info:
        load_config(path, environ={}).build_storages(plugin_manager=pm)
    assert str(info.value) == (
        f"{path}: storage 'cloud' (recording): bucket 'forbidden' does not exist"
    )


def test_unknown_option_names_it(write: Callable[[str], Path], pm: pluggy.PluginManager) -> None:
    path = write(BASE + '[storage.files]\ntype = "local"\nroot = "o"\nbukket = "x"\n[profiles.p]\n')
    with pytest.raises(
        ConfigurationError, match=r"storage 'files' \(local\): unknown option 'bukket'"
    ):
        load_config(path, environ={}).build_storages(plugin_manager=pm)


def test_unknown_backend_type_lists_the_installed_ones(
    write: Callable[[str], Path], pm: pluggy.PluginManager
) -> None:
    path = write(BASE + '[storage.media]\ntype = "azure"\ncontainer = "x"\n[profiles.p]\n')
    with pytest.raises(ConfigurationError) as info:
        load_config(path, environ={}).build_storages(plugin_manager=pm)
    message = str(info.value)
    assert "storage.media.type: unknown storage type 'azure'" in message
    assert "installed: local" in message
    assert "install rindle-azure" in message


def test_storage_option_values_stay_out_of_reprs_and_errors(
    write: Callable[[str], Path], pm: pluggy.PluginManager
) -> None:
    secret = "short-secret"  # too short: the local factory refuses it
    path = write(
        BASE + f'[storage.files]\ntype = "local"\nroot = "o"\nsecret = "{secret}"\n[profiles.p]\n'
    )
    config = load_config(path, environ={})
    assert secret not in repr(config.storages["files"])
    assert "secret" in repr(config.storages["files"])  # the option's name is fine
    assert secret not in repr(config)
    with pytest.raises(ConfigurationError) as info:
        config.build_storages(plugin_manager=pm)
    assert "storage 'files' (local): option 'secret'" in str(info.value)
    assert secret not in str(info.value)


def test_storage_config_repr() -> None:
    storage = StorageConfig(name="s", type="s3", options={"aws_secret_access_key": "hunter2"})
    assert repr(storage) == "StorageConfig(name='s', type='s3', options=['aws_secret_access_key'])"


def test_the_s3_plugin_builds_from_its_table(
    write: Callable[[str], Path], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """``type = "s3"`` works once rindle-s3 is installed, with AWS's own env variables."""
    pytest.importorskip("rindle_s3")
    from rindle_core.plugins import make_plugin_manager

    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIATESTTESTTEST")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "test/secret/key")
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "none"))

    path = write(
        BASE
        + '[storage.media]\ntype = "s3"\nbucket = "media"\n'
        + 'endpoint_url = "http://127.0.0.1:9"\nregion = "us-east-1"\n[profiles.p]\n'
    )
    storages = load_config(path, environ={}).build_storages(plugin_manager=make_plugin_manager())
    assert storages["media"].backend == "s3"


class TestDatabaseReadiness:
    def test_a_configured_database_must_be_migrated_first(
        self, write: Callable[[str], Path], pm: pluggy.PluginManager
    ) -> None:
        config = load_config(write(ISSUE_SHAPE), environ={})
        with pytest.raises(ConfigurationError, match="rindle db upgrade"):
            config.build_broker(plugin_manager=pm)
        database = config.database()
        database.upgrade()
        database.dispose()
        broker = config.build_broker(plugin_manager=pm)
        assert isinstance(broker, Broker)
        assert isinstance(broker.storages["files"], LocalStorage)
        assert broker.job_mode == "inline"
        broker.database.dispose()

    def test_tables_from_the_apps_own_migrations_are_accepted(
        self, write: Callable[[str], Path], pm: pluggy.PluginManager
    ) -> None:
        config = load_config(write(ISSUE_SHAPE), environ={})
        database = config.database()
        database.create_all()  # no rindle revision recorded
        broker = config.build_broker(plugin_manager=pm, database=database)
        assert broker.list_sessions() == []
        database.dispose()

    def test_the_embedded_default_migrates_itself(
        self, tmp_path: Path, pm: pluggy.PluginManager
    ) -> None:
        config = embedded_config(tmp_path / "state")
        broker = config.build_broker(plugin_manager=pm)
        assert broker.database.schema_revision() == broker.database.head_revision()
        assert (tmp_path / "state" / "rindle.db").is_file()
        broker.database.dispose()

    def test_load_broker(
        self,
        write: Callable[[str], Path],
        monkeypatch: pytest.MonkeyPatch,
        pm: pluggy.PluginManager,
    ) -> None:
        path = write(ISSUE_SHAPE)
        database = Database(f"sqlite:///{path.parent / 'rindle.db'}")
        database.upgrade()
        database.dispose()
        monkeypatch.delenv("RINDLE_DATABASE_URL", raising=False)
        broker = load_broker(path, plugin_manager=pm)
        assert sorted(broker.profiles) == ["avatars"]
        broker.database.dispose()


def test_config_is_immutable(tmp_path: Path) -> None:
    config = embedded_config(tmp_path)
    assert isinstance(config, Config)
    with pytest.raises(AttributeError):
        config.job_mode = "worker"  # type: ignore[misc]


@pytest.mark.parametrize(
    ("text", "size"),
    [
        (0, 0),
        (123, 123),
        ("123", 123),
        ("10 MB", 10_000_000),
        ("8MiB", 8 * 1024**2),
        ("1.5k", 1500),
        ("2 GiB", 2 * 1024**3),
        ("7b", 7),
        ("1 tb", 10**12),
    ],
)
def test_parse_size(text: object, size: int) -> None:
    assert parse_size(text) == size


@pytest.mark.parametrize("text", [-1, True, "ten", "1.5 B", "5 XB", 2.5, None])
def test_parse_size_refuses(text: object) -> None:
    with pytest.raises(ValueError):
        parse_size(text)


@pytest.mark.parametrize(
    ("text", "seconds"),
    [(30, 30), ("30", 30), ("90s", 90), ("15m", 900), ("24h", 86400), ("7d", 604800)],
)
def test_parse_duration(text: object, seconds: int) -> None:
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("text", [-1, False, "1w", "soon", 1.5])
def test_parse_duration_refuses(text: object) -> None:
    with pytest.raises(ValueError):
        parse_duration(text)
