"""The S3 test server's credentials, importable by name from any S3 test module.

(``from conftest import …`` is ambiguous in a suite with several ``conftest.py``:
whichever was imported first owns the name.)
"""

ACCESS_KEY = "AKIARINDLETESTKEY000"
SECRET_KEY = "rindle/test+SECRET/key/do-not-leak/0000000"
