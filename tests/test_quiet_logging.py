"""In a host app rindle prints nothing unless the host configures logging.

Each test runs a fresh interpreter: a host that uploads a file through the
local backend, verifies it, runs maintenance and the promotion job.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

HOST_APP = """
import datetime as dt
import urllib.parse
import urllib.request

from rindle_core import Broker, Database, Profile
from rindle_core.local import LocalStorage, serve_receiver

SECRET = "quiet-logging-secret-5f1c0b9e2a7d4e63"
db = Database("sqlite:///rindle.db")
db.create_all()
with serve_receiver("objects", SECRET) as server:
    broker = Broker(
        db,
        profiles=[Profile(name="docs", storage="media", allow_mime=["text/plain"])],
        storages={"media": LocalStorage("objects", base_url=server.url, secret=SECRET)},
    )
    body = b"hello, rindle"
    session = broker.initiate_session(
        "docs", filename="a.txt", content_type="text/plain", size=len(body)
    )
    signed = broker.sign_url(session.id).presigned
    request = urllib.request.Request(
        signed.url, data=body, method=signed.method, headers=dict(signed.headers)
    )
    with urllib.request.urlopen(request) as response:
        assert response.status < 300, response.status
    assert broker.verify_completion(session.id).session.state.value == "completed"
    assert [o.error for o in broker.run_jobs()] == [None]  # the promotion
    abandoned = broker.initiate_session("docs", filename="b.txt", content_type="text/plain")
    broker.sign_url(abandoned.id)
    later = abandoned.expires_at + dt.timedelta(days=2)
    assert broker.expire_sessions(now=later).expired_session_ids == (abandoned.id,)
    broker.close()
query = urllib.parse.urlsplit(signed.url).query
with open("signed.txt", "w") as f:
    f.write("\\n".join([signed.url, query, *urllib.parse.parse_qs(query).get("sig", [])]))
"""


def _host(tmp_path: Path, prelude: str = "") -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("RINDLE_")}
    env["RINDLE_LOAD_PLUGINS"] = "rindle-s3,rindle-gcs,rindle-azure"
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(prelude) + HOST_APP],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_a_host_that_configures_nothing_sees_nothing(tmp_path: Path) -> None:
    done = _host(tmp_path)
    assert done.returncode == 0, done.stderr
    assert (done.stdout, done.stderr) == ("", "")


def test_warnings_stay_quiet_without_configuration(tmp_path: Path) -> None:
    # Without rindle's NullHandler, the last-resort handler would print this.
    done = _host(
        tmp_path,
        """
        import logging
        import rindle_core
        logging.getLogger("rindle.broker").warning("rindle.test.warning")
        """,
    )
    assert done.returncode == 0, done.stderr
    assert (done.stdout, done.stderr) == ("", "")


def test_a_host_that_configures_logging_sees_rindle_events(tmp_path: Path) -> None:
    done = _host(
        tmp_path,
        """
        import logging
        logging.basicConfig(level=logging.INFO, format="%(name)s %(message)s")
        """,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout == ""
    rindle = [line for line in done.stderr.splitlines() if line.startswith("rindle.")]
    events = {line.split()[1] for line in rindle}
    assert {
        "rindle.upload.start",
        "rindle.session.transition",
        "rindle.asset.transition",
        "rindle.upload.stop",
        "rindle.maintenance.run",
    } <= events
    assert any("to_state=completed" in line for line in rindle)
    secrets = (tmp_path / "signed.txt").read_text().splitlines()
    assert len(secrets) == 3 and all(secrets)  # url, query string, signature
    for secret in secrets:
        assert secret not in done.stderr
