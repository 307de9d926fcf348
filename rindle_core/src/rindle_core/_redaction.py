"""Keep secrets out of logs, reprs and messages: the one home of redaction.

:func:`redact_url` and :func:`redacted_headers` make a URL or a header map
safe to show (reprs, error messages, CLI output).

HTTP and cloud-SDK loggers print request URLs and headers at DEBUG (httpx at
INFO): a presigned URL's query is its signature, a GCS resumable session URI
is a bearer credential, and botocore prints the ``Authorization`` header. The
filter here rewrites each record's message before any handler sees it.

A logging filter applies only to records logged on the logger it is attached
to, not to its children, so :func:`install_redaction` attaches it to
every logger that exists under the given prefixes. Adapters call it after
importing their SDK (whose modules create their loggers at import time).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping
from typing import Final
from urllib.parse import urlsplit

__all__ = [
    "SecretRedactingFilter",
    "install_redaction",
    "redact_text",
    "redact_url",
    "redacted_headers",
]


def redact_url(url: str) -> str:
    """Return *url* without its query string or credentials (safe to log)."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    if parts.port:
        host = f"{host}:{parts.port}"
    suffix = "?[REDACTED]" if parts.query else ""
    return f"{parts.scheme}://{host}{parts.path}{suffix}"


#: Words that mark a header as a credential, whatever the backend.
_SECRET_HEADER_WORDS: Final = ("authorization", "token", "signature", "credential", "secret", "key")


def redacted_headers(headers: Mapping[str, str]) -> dict[str, str]:
    """*headers* with every credential-looking value replaced by ``[REDACTED]``."""
    return {
        k: ("[REDACTED]" if any(w in k.lower() for w in _SECRET_HEADER_WORDS) else v)
        for k, v in headers.items()
    }


#: The query of any absolute URL (signatures, SAS tokens, upload ids).
_URL_QUERY: Final = re.compile(r"(?P<url>\b[a-z][a-z0-9+.-]*://[^\s?'\"<>]*)\?[^\s'\"<>]*", re.I)
#: The query of a request target printed without scheme and host
#: (urllib3: ``"PUT /bucket/key?X-Amz-Signature=… HTTP/1.1"``).
_TARGET_QUERY: Final = re.compile(r"(?P<path>(?:^|[\s\"'])/[^\s?'\"<>]*)\?[^\s'\"<>]*")
#: Header values that are credentials, in ``name: value``, ``'name': 'value'``
#: and ``(b'name', b'value')`` shapes.
_CREDENTIAL_HEADERS: Final = (
    r"authorization|proxy-authorization|x-amz-security-token|x-amz-content-sha256-signature"
    r"|x-goog-signature|x-goog-credential|x-ms-copy-source-authorization|cookie|set-cookie"
    r"|x-upload-content-location|location"
)
_HEADER_VALUE: Final = re.compile(
    rf"(?P<name>b?['\"]?(?:{_CREDENTIAL_HEADERS})['\"]?\s*[:,=]\s*)"
    r"(?:(?P<b>b?)(?P<q>['\"])(?:[^'\"\\]|\\.)*(?P=q)|[^'\",}})\r\n]+)",
    re.I,
)
#: What botocore's auth logger prints under these headings (one record each).
_SIGNING_DUMP: Final = re.compile(
    r"^(?P<name>(?:CanonicalRequest|StringToSign|Signature):)\s.*", re.I | re.S
)
_REDACTED: Final = "[REDACTED]"


def redact_text(text: str) -> str:
    """*text* with URL queries, credential headers and signatures replaced."""
    text = _URL_QUERY.sub(lambda m: f"{m.group('url')}?{_REDACTED}", text)
    text = _TARGET_QUERY.sub(lambda m: f"{m.group('path')}?{_REDACTED}", text)
    text = _HEADER_VALUE.sub(_redact_header, text)
    return _SIGNING_DUMP.sub(lambda m: f"{m.group('name')} {_REDACTED}", text)


def _redact_header(match: re.Match[str]) -> str:
    quote = match.group("q") or ""
    return f"{match.group('name')}{match.group('b') or ''}{quote}{_REDACTED}{quote}"


class SecretRedactingFilter(logging.Filter):
    """Rewrites a record's message through :func:`redact_text`; never drops one."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # a malformed record: leave it to logging
            return True
        redacted = redact_text(message)
        if redacted != message:
            record.msg, record.args = redacted, None
        return True


_FILTER: Final = SecretRedactingFilter()


def install_redaction(*prefixes: str) -> None:
    """Attach the redacting filter to every logger named by or under *prefixes*.

    Idempotent. Call it again after importing a module that creates new
    loggers under the same prefix.
    """
    manager = logging.Logger.manager
    names = set(prefixes)
    for name in list(manager.loggerDict):
        if any(name == p or name.startswith(p + ".") for p in prefixes):
            names.add(name)
    for name in names:
        logger = logging.getLogger(name)
        if _FILTER not in logger.filters:
            logger.addFilter(_FILTER)
