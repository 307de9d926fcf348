"""The OpenAPI 3.1 document: generated from the route table, valid, and complete."""

from __future__ import annotations

import re

import pytest
from openapi_spec_validator import validate

from rindle_core.web import Request, Response, UploadAPI
from web_support import PREFIX, ContractCheck, Mounted


@pytest.fixture
def spec(client: Mounted) -> dict:
    answer = client.get("/openapi.json", user=None)  # no authorization needed to read it
    assert answer.status == 200, answer.text
    assert answer.headers["content-type"] == "application/json"
    return answer.json()


def test_the_document_is_valid_openapi_3_1(spec: dict) -> None:
    validate(spec)
    assert spec["openapi"] == "3.1.0"
    assert spec["servers"] == [{"url": PREFIX}]


def test_every_route_and_status_of_the_table_is_documented(spec: dict, api: UploadAPI) -> None:
    for route in api.routes:
        operation = spec["paths"][route.pattern][route.method.lower()]
        assert operation["operationId"] == route.operation_id
        documented = {int(status) for status in operation["responses"]}
        assert documented == {route.success, *route.problems}, route.operation_id
        for name in re.findall(r"\{(\w+)\}", route.pattern):
            assert {"name": name, "in": "path"}.items() <= next(
                p for p in operation["parameters"] if p["name"] == name
            ).items()
        if route.action is not None:
            assert operation["x-rindle-action"] == route.action.value
    operations = sum(len(item) for item in spec["paths"].values())
    assert operations == len(api.routes)


def test_uppy_routes_are_where_uppy_calls_them(spec: dict) -> None:
    expected = {
        ("get", "/s3/params"),
        ("post", "/s3/multipart"),
        ("get", "/s3/multipart/{upload_id}/{part_number}"),
        ("get", "/s3/multipart/{upload_id}"),
        ("post", "/s3/multipart/{upload_id}/complete"),
        ("delete", "/s3/multipart/{upload_id}"),
    }
    present = {(method, path) for path, item in spec["paths"].items() for method in item}
    assert expected <= present


def test_every_schema_reference_resolves(spec: dict) -> None:
    text = str(spec)
    for name in re.findall(r"#/components/schemas/(\w+)", text):
        assert name in spec["components"]["schemas"], name


def test_the_contract_check_catches_an_undocumented_answer(
    contract: ContractCheck, neutral: Mounted
) -> None:
    """Every test's answers pass the contract check: prove that the check can fail."""
    contract.check(neutral.api, Request("GET", "/openapi.json"), Response(418, (), b"{}"))
    contract.check(neutral.api, Request("GET", f"/uploads/{'0' * 32}"), Response(200, (), b"{}"))
    assert any("status not documented for getOpenAPI" in f for f in contract.failures)
    assert any("not application/problem+json" in f for f in contract.failures)
    assert any("body is not a Status" in f for f in contract.failures)
    contract.failures.clear()
