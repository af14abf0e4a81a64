# StoryReel: one image for every process. The command picks which one:
#   web (the default CMD)   gunicorn serving Telegram's webhook and /health
#   worker                  storyreel worker   (Celery: updates and job steps, FFmpeg)
#   beat                    storyreel beat     (Celery beat: hourly cleanup, recovery)
#   flower                  celery -A storyreel.celeryapp flower
# docker-compose.yml runs them on one machine, render.yaml on Render; tests/test_deploy.py
# checks all three files against each other and against .env.example.

# 3.11: the interpreter the test suite runs on. Every dependency installs from a wheel
# on it, so the image needs no compiler. Bookworm pins the Debian release.
FROM python:3.11-slim-bookworm

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_ROOT_USER_ACTION=ignore \
    PORT=8000 \
    WORK_DIR=/data/work \
    LOG_FORMAT=json

WORKDIR /app

# The dependencies get a layer of their own, so a code change does not reinstall them.
# Wheels only: nothing is compiled, so no build tools are installed or left behind.
# font-roboto is the exception: it is published only as a pure-Python sdist.
# The `ops` extra brings Flower.
COPY pyproject.toml ./
RUN python -c "import tomllib; p = tomllib.load(open('pyproject.toml', 'rb'))['project']; print('\n'.join(p['dependencies'] + p['optional-dependencies']['ops']))" > /tmp/requirements.txt \
 && pip install --only-binary=:all: --no-binary=font-roboto -r /tmp/requirements.txt \
 && rm /tmp/requirements.txt

# Then StoryReel itself. The source tree is deleted after the install, so one copy
# remains (in site-packages). pip check confirms that the dependency layer matches it.
COPY README.md ./
COPY storyreel ./storyreel
RUN pip install --no-deps . \
 && pip check \
 && rm -rf storyreel build ./*.egg-info

# FFmpeg: the static build that the imageio-ffmpeg wheel ships (a dependency, so it is
# here anyway), linked onto PATH. It is the binary the test suite runs. Debian's ffmpeg
# would add a second FFmpeg and hundreds of MB of libraries. The build fails here if it
# cannot run.
RUN ln -s "$(python -c 'import imageio_ffmpeg; print(imageio_ffmpeg.get_ffmpeg_exe())')" /usr/local/bin/ffmpeg \
 && ffmpeg -hide_banner -version | head -n 1 \
 && python -c "from storyreel.media.ffmpeg import ffmpeg_binary; print(ffmpeg_binary())"

# An unprivileged user that every process runs as. /data is where volumes and Render
# disks are mounted. Docker seeds a new named volume with this ownership. A Render
# disk, however, is mounted root-owned.
RUN useradd --system --user-group --uid 10001 --create-home --home-dir /home/storyreel storyreel \
 && mkdir -p /data/work \
 && chown -R storyreel:storyreel /data

# The entrypoint is why there is no USER line. It starts as root only to create WORK_DIR
# and give it to storyreel: a fresh Render disk is root-owned, and a non-root process
# could not write to it. Then it becomes storyreel for good (setpriv, no new privileges)
# and execs the command, so the process gets SIGTERM directly and warm shutdown works.
# A container started as non-root already (`docker run --user`, Kubernetes) skips
# straight to the exec.
RUN printf '%s\n' \
      '#!/bin/sh' \
      'set -eu' \
      'if [ "$(id -u)" = 0 ]; then' \
      '  user="${APP_USER:-storyreel}"' \
      '  mkdir -p "${WORK_DIR:-work}"' \
      '  chown "$user:" "${WORK_DIR:-work}"' \
      '  HOME="$(getent passwd "$user" | cut -d: -f6)"' \
      '  export HOME' \
      '  exec setpriv --reuid="$user" --regid="$(id -g "$user")" --init-groups --inh-caps=-all --no-new-privs -- "$@"' \
      'fi' \
      'exec "$@"' \
      > /usr/local/bin/storyreel-entrypoint \
 && chmod 0755 /usr/local/bin/storyreel-entrypoint
ENTRYPOINT ["storyreel-entrypoint"]

EXPOSE 8000

# The web process's check (GET /health: 200 while Redis answers). The worker, beat and
# Flower override or disable it in docker-compose.yml. Python is used instead of curl
# so that curl need not be installed.
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 \
  CMD python -c "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:%s/health' % os.environ.get('PORT', '8000'), timeout=4)" || exit 1

# The web process. It only takes webhooks and enqueues them. gthread keeps Telegram's
# connections open (see storyreel/web.py). The 300 s timeout and 30 s graceful stop
# bound a slow request. The heartbeat files go to /dev/shm because a worker's heartbeat
# on the overlay filesystem can stall.
CMD ["sh", "-c", "exec gunicorn -w 2 -k gthread --threads 8 --timeout 300 --graceful-timeout 30 --worker-tmp-dir /dev/shm -b 0.0.0.0:${PORT} 'storyreel.web:create_app()'"]
