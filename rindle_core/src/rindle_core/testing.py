"""Test kits for rindle users and storage-plugin authors (needs pytest).

:class:`StorageAdapterContract` checks the behaviour the broker relies on,
against a real server the plugin's own tests start. Subclass it as
``Test…`` and override two fixtures::

    import pytest
    from rindle_core.testing import StorageAdapterContract

    class TestMyStorageContract(StorageAdapterContract):
        checks_signatures = True        # the server verifies signatures

        @pytest.fixture
        def adapter(self, my_server):
            return MyStorage(endpoint_url=my_server.url, bucket="contract")

        @pytest.fixture
        def missing_bucket_adapter(self, my_server):
            return MyStorage(endpoint_url=my_server.url, bucket="no-such-bucket")

**Structure.** The adapter satisfies
:class:`~rindle_core.storage.StorageAdapter`; it implements each optional
protocol (multipart, resumable, committed parts) wholly or not at all; its
``capabilities`` declare nothing it does not implement; and a capability it
implements but withholds as configured (``withheld``, e.g. no signing
credentials) refuses its calls with :class:`~rindle_core.UploadUnsupported`,
never :class:`NotImplementedError`. Building on
:class:`rindle_core.adapters.BaseStorage` gives all of this.

**Shared behaviour.** Keys with control characters and ``expires_in``
outside ``1..max_expires_in`` are :class:`~rindle_core.InvalidArgument`; a
zero-length read of a missing key is ``StorageNotFound``; reads at or past
the end are ``b""`` (and still check a bound version); deleting a missing
key succeeds; completing a multipart upload with an empty or duplicated part
list is :class:`~rindle_core.InvalidParts` and changes nothing.

**Backend guarantees.** A signed upload is create-only (a second PUT with
the same URL, a fresh URL for an existing key and a multipart complete onto
an existing object are refused and change nothing), an expired URL is
refused, ``head`` reports a version that changes when the object is replaced
and ``read_range(..., version=)`` refuses a stale one, ``presign_get``
serves the type and disposition it was given, and a missing bucket is never
a missing object. Where an emulator cannot enforce a rule, set its flag
False (``enforces_create_only``, ``enforces_expiry``,
``sets_response_headers``, ``binds_content_headers``) and prove the rule by
signature identity with the cloud SDK in the plugin's own tests. rindle's
own plugins: moto (S3) and Azurite enforce everything but Azure's header
binding (a SAS cannot bind headers); neither GCS emulator enforces
``x-goog-if-generation-match`` on a signed PUT or serves
``response-content-type``.

:class:`BrokerContract`, beside it, runs a :class:`~rindle_core.Broker`
over the same adapter and drives every upload flow end to end; subclass it
the same way (its ``adapter`` fixture).

An emulator that accepts any signature (moto, the GCS emulators) can be put
behind a :class:`CheckingFront`, which refuses the signed requests the real
service would refuse (you supply the check) and forwards the rest;
:class:`PostPolicyFront` does the same for form POSTs, judging each policy
as S3 and GCS document it. :class:`PostPolicyContract` runs only the POST
checks (for such a front), and :func:`post_form` sends a form.

Tests of a capability the adapter does not offer are skipped with a reason
(``pytest -ra`` lists them). Every key is unique (:func:`unique_key`), so
the suite is safe under ``pytest-xdist``. :func:`payload`,
:func:`secret_query_values` and :func:`assert_no_secrets` help a plugin's
own tests. A failed check says what is wrong in its own message, without a
traceback into the kit.
"""

from __future__ import annotations

from rindle_core._broker_contract import BrokerContract
from rindle_core._checking_front import CheckingFront
from rindle_core._contract_helpers import (
    assert_no_secrets,
    payload,
    secret_query_values,
    unique_key,
)
from rindle_core._post_policy_front import PostPolicyFront
from rindle_core._storage_contract import StorageAdapterContract
from rindle_core._storage_post_checks import PostPolicyContract, post_form

__all__ = [
    "BrokerContract",
    "CheckingFront",
    "PostPolicyContract",
    "PostPolicyFront",
    "StorageAdapterContract",
    "assert_no_secrets",
    "payload",
    "post_form",
    "secret_query_values",
    "unique_key",
]
