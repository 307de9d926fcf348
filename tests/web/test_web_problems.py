"""Every rindle error maps to one problem type and status; no problem shows a secret.

A client's mistake (4xx) says what was wrong in rindle's own (secret-free)
words; a server-side failure says only what kind of failure it was; an
exception that is not a rindle error is a 500 without detail, logged by its
type and frames, never its message.
"""

from __future__ import annotations

import logging
import re

import pytest

import rindle_core
from fakes import MemoryStorage
from rindle_core import _errors as errors
from rindle_core.testing import assert_no_secrets
from rindle_core.web import ERROR_PROBLEMS
from rindle_core.web._problems import problem_for
from web_support import Mounted

#: A message an SDK might produce, quoting a signed URL.
SECRET = "X-Amz-Signature=0123456789abcdef0123456789abcdef"
LEAKY = f"PUT https://bucket.example/key?{SECRET} failed"


def _all_rindle_errors() -> list[type[RindleError]]:
    found: list[type[RindleError]] = []
    pending: list[type[RindleError]] = [rindle_core.RindleError]
    while pending:
        cls = pending.pop()
        if cls.__module__.startswith("rindle_core"):
            found.append(cls)
        pending.extend(cls.__subclasses__())
    return found


RindleError = rindle_core.RindleError

#: One instance of each error type, as the broker raises them.
EXAMPLES: list[RindleError] = [
    errors.RindleError("something"),
    errors.ConfigurationError(LEAKY),
    errors.InvalidProfile(LEAKY),
    errors.UnknownProfile("nope"),
    errors.UnknownStorage("nope"),
    errors.InvalidArgument("size must be an integer"),
    errors.InvalidParts("the part list lacks parts 2-3", missing=(2, 3)),
    errors.PolicyViolation("max_bytes_exceeded", "5 > 4"),
    errors.SessionNotFound("0" * 32),
    errors.AssetNotFound("0" * 32),
    errors.AssetNotAvailable("0" * 32, "staged"),
    errors.InvalidTransition("completed", "signed"),
    errors.SessionExpired("0" * 32),
    errors.UploadUnsupported(rindle_core.Capability.PRESIGNED_POST, storage="azure"),
    errors.StorageObjectMissing("images/abc/def.png"),
    errors.StorageError(LEAKY),
    errors.StorageNotFound(LEAKY),
    errors.StorageUnavailable(LEAKY),
    errors.StorageConflict(LEAKY),
    errors.DatabaseError(LEAKY),
    errors.TransferFailed(LEAKY, status=500),
    rindle_core.PermanentJobError(LEAKY),
]


def test_every_error_type_has_its_own_problem() -> None:
    public = {getattr(rindle_core, n) for n in rindle_core.__all__}
    for cls in _all_rindle_errors():
        if cls in public:
            assert cls in ERROR_PROBLEMS, f"{cls.__name__} has no problem type"
    assert {type(e) for e in EXAMPLES} == set(ERROR_PROBLEMS)


@pytest.mark.parametrize("error", EXAMPLES, ids=lambda e: type(e).__name__)
def test_each_error_is_one_status_with_a_safe_detail(error: RindleError) -> None:
    problem = ERROR_PROBLEMS[type(error)]
    response = problem_for(error)
    body = response.json()
    assert isinstance(body, dict)
    assert response.status == body["status"] == problem.status
    assert response.header("content-type") == "application/problem+json"
    assert body["type"] == problem.uri and body["title"] == problem.title
    if problem.status < 500 and problem.fixed_detail is None:
        assert body["detail"] == str(error)
    else:
        assert body["detail"] == problem.fixed_detail
    assert "bucket.example" not in response.body.decode()
    assert_no_secrets(response.body.decode(), [SECRET], what=type(error).__name__)
    if problem.status == 503:
        assert response.header("retry-after") == "5"


def test_client_errors_carry_what_a_client_can_act_on() -> None:
    assert problem_for(EXAMPLES[6]).json()["missing_part_numbers"] == [2, 3]
    assert problem_for(EXAMPLES[7]).json()["reason"] == "max_bytes_exceeded"


@pytest.mark.parametrize(
    ("fault", "status", "slug"),
    [
        (errors.StorageUnavailable(LEAKY), 503, "storage-unavailable"),
        (errors.StorageError(LEAKY), 502, "storage-error"),
        (RuntimeError(LEAKY), 500, "internal-error"),
    ],
)
def test_a_failing_backend_shows_no_secret_in_the_answer_or_the_log(
    client: Mounted,
    memory: MemoryStorage,
    caplog: pytest.LogCaptureFixture,
    fault: Exception,
    status: int,
    slug: str,
) -> None:
    memory.faults["presign_put"] = fault
    with caplog.at_level(logging.DEBUG, logger="rindle_core.web"):
        answer = client.post(
            "/uploads", {"profile": "any", "filename": "a.txt", "content_type": "text/plain"}
        )
    assert answer.status == status
    assert answer.json()["type"].endswith("#" + slug)
    assert_no_secrets(answer.text, [SECRET], what="the problem")
    assert_no_secrets(caplog.text, [SECRET], what="the log")
    assert "bucket.example" not in answer.text + caplog.text
    assert type(fault).__name__ in caplog.text
    if status == 500:
        assert answer.json()["detail"] == "the request could not be handled"
        assert 'File "' in caplog.text  # the frames are logged, for the developer


def test_every_problem_type_is_documented_where_its_type_points() -> None:
    from pathlib import Path

    from rindle_core.web import _problems

    docs = Path(__file__).resolve().parents[2] / "docs" / "web.md"
    headings = set(re.findall(r"^### ([a-z-]+)$", docs.read_text(encoding="utf-8"), re.M))
    kinds = {v for v in vars(_problems).values() if isinstance(v, _problems.ProblemType)}
    kinds |= set(ERROR_PROBLEMS.values())
    for kind in kinds:
        assert kind.uri == f"{_problems.PROBLEM_BASE}{kind.slug}"
        assert kind.slug in headings, f"docs/web.md has no heading for {kind.slug}"
