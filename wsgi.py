"""WSGI entry point: `gunicorn wsgi:app`, `flask --app wsgi ...`."""

from homefollow import create_app

app = create_app()
