"""The example's own tests: ``python manage.py test`` (Django's test runner).

The runner's test database gets rindle's tables from ``migrate``, like
Django's own. rindle commits through its own connection, so these are
``TransactionTestCase``s: a ``TestCase``'s open transaction would hold
SQLite's write lock while rindle waits for it (on PostgreSQL either works).
"""

from urllib.parse import urlsplit

from django.contrib.auth import get_user_model
from django.test import TransactionTestCase

from rindle_core.web.django import get_broker

UPLOAD = {"profile": "uploads", "filename": "notes.txt", "content_type": "text/plain", "size": 6}


# --8<-- [start:test]
class UploadTests(TransactionTestCase):
    def test_a_signed_in_user_uploads_a_file(self) -> None:
        self.client.force_login(get_user_model().objects.create_user("alice"))
        opened = self.client.post("/api/uploads/uploads", UPLOAD, content_type="application/json")
        assert opened.status_code == 201, opened.content
        upload = opened.json()["upload"]

        # The browser PUTs the bytes to the signed URL: here, the receiver in this app.
        url = urlsplit(upload["url"])
        sent = self.client.put(
            f"{url.path}?{url.query}", b"hello\n", content_type=upload["headers"]["Content-Type"]
        )
        assert sent.status_code == 200, b"".join(sent.streaming_content)

        session_id = opened.json()["session"]["id"]
        done = self.client.post(
            f"/api/uploads/uploads/{session_id}/complete", content_type="application/json"
        )
        assert done.status_code == 200, done.content
        assert done.json()["asset"]["state"] == "available"
        assert get_broker().get_session(session_id).state == "completed"

    # --8<-- [end:test]

    def test_anonymous_callers_are_told_to_sign_in(self) -> None:
        refused = self.client.post("/api/uploads/uploads", UPLOAD, content_type="application/json")
        assert refused.status_code == 401
        assert refused["Content-Type"] == "application/problem+json"

    def test_the_page_points_uppy_at_the_api(self) -> None:
        self.client.force_login(get_user_model().objects.create_user("bob"))
        page = self.client.get("/")
        self.assertContains(page, 'const endpoint = "/api/uploads"')
        self.assertContains(page, "rindle/uppy/uppy.min.js")

    def test_a_download_is_served_by_the_receiver(self) -> None:
        self.client.force_login(get_user_model().objects.create_user("carol"))
        opened = self.client.post("/api/uploads/uploads", UPLOAD, content_type="application/json")
        upload = opened.json()["upload"]
        url = urlsplit(upload["url"])
        self.client.put(f"{url.path}?{url.query}", b"hello\n", content_type="text/plain")
        session_id = opened.json()["session"]["id"]
        self.client.post(
            f"/api/uploads/uploads/{session_id}/complete", content_type="application/json"
        )
        link = urlsplit(
            self.client.get(f"/api/uploads/uploads/{session_id}/download").json()["url"]
        )
        served = self.client.get(f"{link.path}?{link.query}")
        assert served.status_code == 200
        assert b"".join(served.streaming_content) == b"hello\n"
