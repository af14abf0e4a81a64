# StoryReel: one image for every process kind (web, worker, beat); the command picks it.
FROM python:3.12-slim

ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1 \
    WORK_DIR=/data/work LOG_FORMAT=json PORT=8000

# FFmpeg from Debian (the imageio-ffmpeg wheel carries one too; PATH wins, see media/ffmpeg.py)
RUN apt-get update \
 && apt-get install -y --no-install-recommends ffmpeg curl \
 && rm -rf /var/lib/apt/lists/*

WORKDIR /app
COPY pyproject.toml README.md ./
COPY storyreel ./storyreel
RUN pip install .

# a user of its own: nothing runs as root
RUN useradd --create-home --uid 10001 storyreel && mkdir -p /data/work && chown -R storyreel /data
USER storyreel

EXPOSE 8000
HEALTHCHECK --interval=30s --timeout=5s --start-period=20s --retries=3 \
  CMD curl -fsS "http://127.0.0.1:${PORT}/health" || exit 1

# the web process; workers and beat override the command (see docker-compose.yml)
CMD ["sh", "-c", "exec gunicorn -w 2 -k gthread --threads 8 --timeout 300 --graceful-timeout 30 -b 0.0.0.0:${PORT} 'storyreel.web:create_app()'"]
