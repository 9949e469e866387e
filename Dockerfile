# cronwork with the Celery, PostgreSQL and web extras, and the example fleet's code
# (examples/celery): one image for the schedulers and the Celery workers of compose.yaml.
# Built from this checkout's pyproject.toml, so the image runs the code under review.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

WORKDIR /src
COPY pyproject.toml README.md ./
COPY src ./src
RUN pip install ".[celery,postgres,web]"

# The fleet's code: the Celery app and its tasks, and the jobs that send them.
WORKDIR /app
COPY examples/celery/ ./
ENV PYTHONPATH=/app

# Neither cronwork nor a Celery worker needs root.
RUN useradd --system --uid 10001 --home-dir /app cronwork
USER cronwork

EXPOSE 8080
CMD ["cronwork", "serve", "/app/jobs.toml", "--host", "0.0.0.0"]
