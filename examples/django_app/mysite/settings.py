"""Settings of the example: Django's startproject defaults, trimmed, plus rindle.

Everything is kept under ``EXAMPLE_DATA`` (``var/`` here): the SQLite
database (Django's tables and rindle's) and the uploaded files.
``EXAMPLE_URL`` is where the browser reaches the app.
"""

import os
import secrets
from pathlib import Path

import rindle_core.web

BASE_DIR = Path(__file__).resolve().parent.parent
DATA = Path(os.environ.get("EXAMPLE_DATA", BASE_DIR / "var"))
DATA.mkdir(parents=True, exist_ok=True)
PUBLIC_URL = os.environ.get("EXAMPLE_URL", "http://127.0.0.1:8000")

# A fresh key each start signs everyone out: set DJANGO_SECRET_KEY to keep sessions.
SECRET_KEY = os.environ.get("DJANGO_SECRET_KEY") or secrets.token_hex(32)
DEBUG = os.environ.get("DJANGO_DEBUG", "1") == "1"
ALLOWED_HOSTS = ["127.0.0.1", "localhost"]

# --8<-- [start:apps]
INSTALLED_APPS = [
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.staticfiles",
    "rindle_core.web.django",
    "uploads",
]
# --8<-- [end:apps]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "mysite.urls"
WSGI_APPLICATION = "mysite.wsgi.application"
TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
            ]
        },
    }
]

DATABASES = {"default": {"ENGINE": "django.db.backends.sqlite3", "NAME": DATA / "db.sqlite3"}}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
USE_TZ = True

STATIC_URL = "static/"
# --8<-- [start:static]
# The Uppy bundle rindle ships, served as static/rindle/uppy/uppy.min.js.
STATICFILES_DIRS = [("rindle", Path(rindle_core.web.__file__).parent / "static")]
# --8<-- [end:static]

# --8<-- [start:rindle]
RINDLE = {
    # rindle.toml's keys, in upper case (or "CONFIG": BASE_DIR / "rindle.toml").
    "STORAGE": {
        "files": {
            "type": "local",
            "root": DATA / "objects",
            # Where rindle's receiver is mounted (mysite/urls.py): this app's origin.
            "base_url": f"{PUBLIC_URL}/files",
        }
    },
    "PROFILES": {"uploads": {"storage": "files", "max_bytes": "100 MB"}},
    # Who may upload: a function returning the caller's owner id.
    "AUTHORIZE": "uploads.access.authorize",
}
# --8<-- [end:rindle]
