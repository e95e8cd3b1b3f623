"""The WSGI entry point: ``gunicorn wsgi:app`` (``gunicorn.conf.py`` names it)."""

from app import create_app

app = create_app()
