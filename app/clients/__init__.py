"""Client keys at the web edge: admission before a request is served and its settlement
when the response closes, ``/v1/me``, and the ``flask --app wsgi clients`` commands."""
