# keyrelay: two stages, a pinned virtual environment, a non-root user.
FROM python:3.11-slim AS build
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_CACHE_DIR=1
RUN python -m venv /venv
COPY requirements.txt /tmp/requirements.txt
RUN /venv/bin/pip install --no-deps --requirement /tmp/requirements.txt

FROM python:3.11-slim
ENV PATH=/venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    BIND=0.0.0.0:8000
RUN useradd --system --create-home --uid 10001 keyrelay
COPY --from=build /venv /venv
WORKDIR /srv/keyrelay
COPY app ./app
COPY providers ./providers
COPY wsgi.py workers.py gunicorn.conf.py ./
# Key state (STATE_URL's default, sqlite:///.keyrelay/state.db): kept across restarts and
# shared by the workers; mount a volume here to keep it across new containers too.
RUN mkdir -m 0700 .keyrelay && chown keyrelay .keyrelay
VOLUME /srv/keyrelay/.keyrelay
USER keyrelay
EXPOSE 8000
HEALTHCHECK --interval=15s --timeout=3s --start-period=10s --retries=3 \
    CMD ["python", "-c", "import os, sys, urllib.request; port = os.environ['BIND'].rsplit(':', 1)[1]; sys.exit(urllib.request.urlopen(f'http://127.0.0.1:{port}/health', timeout=2).status != 200)"]
CMD ["gunicorn", "-c", "gunicorn.conf.py"]
