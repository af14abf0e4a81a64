"""The deployment files agree with each other, with ``.env.example`` and with the code.

No Docker engine and no Render account are needed. The Dockerfile, ``docker-compose.yml``,
``render.yaml`` and ``.dockerignore`` are parsed; the commands they name are resolved
against the real CLI and Celery app; and the image's entrypoint script is lifted out of
the Dockerfile and run here, as root when the suite runs as root. What only a real build
or a real Render deploy can show (that the wheels install, that Render accepts the
Blueprint) is left to those.

Needs PyYAML (the ``test`` extra).
"""

from __future__ import annotations

import importlib
import json
import os
import pwd
import re
import shlex
import shutil
import subprocess
import tempfile
import tomllib
from functools import cache
from pathlib import Path, PurePosixPath

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]

APP_SERVICES = ("web", "worker", "beat")  # every process that runs StoryReel with its settings
RENDER_NAMES = {"web": "storyreel-web", "worker": "storyreel-worker", "beat": "storyreel-beat"}
RENDER_KEYVALUE = "storyreel-redis"
#: never written into a committed file: prompted (sync: false), generated, or referenced
SECRETS = {"TELEGRAM_BOT_TOKEN", "TELEGRAM_WEBHOOK_SECRET", "OPENAI_API_KEY", "RUNWAY_API_KEY"}
#: what Render's generateValue makes (the example value in Render's Blueprint reference)
RENDER_GENERATED_SAMPLE = "B0jrphAPOY7pg92AN0c9MN4yecczLMdwnx4OkA1KFUk="


# ---- reading the files -------------------------------------------------------------------
@cache
def env_example_keys() -> tuple[str, ...]:
    keys = re.findall(r"^([A-Z][A-Z0-9_]*)=", (ROOT / ".env.example").read_text(), flags=re.MULTILINE)
    assert len(keys) > 20, "could not read the variables of .env.example"
    return tuple(keys)


@cache
def dockerfile() -> tuple[tuple[str, str], ...]:
    """(INSTRUCTION, arguments) pairs, with continuation lines joined and comments dropped
    (as Docker does, a comment line inside a continuation is dropped too)."""
    steps, pending = [], ""
    for line in (ROOT / "Dockerfile").read_text().splitlines():
        if line.lstrip().startswith("#") or not line.strip():
            continue
        if line.rstrip().endswith("\\"):
            pending += line.rstrip()[:-1] + " "
            continue
        text = (pending + line).strip()
        pending = ""
        word, _, rest = text.partition(" ")
        steps.append((word.upper(), rest.strip()))
    return tuple(steps)


def instructions(name: str) -> list[str]:
    return [args for word, args in dockerfile() if word == name]


def image_env() -> dict[str, str]:
    env: dict[str, str] = {}
    for args in instructions("ENV"):
        for pair in shlex.split(args):
            key, _, value = pair.partition("=")
            env[key] = value
    return env


def exec_form(args: str) -> list[str]:
    """A CMD/ENTRYPOINT as argv (shell form becomes ``/bin/sh -c …``)."""
    return json.loads(args) if args.startswith("[") else ["/bin/sh", "-c", args]


def program_argv(argv: list[str]) -> list[str]:
    """What really runs: ``sh -c "exec gunicorn …"`` → ``["gunicorn", …]``."""
    if len(argv) >= 3 and Path(argv[0]).name in {"sh", "bash"} and argv[1] == "-c":
        argv = shlex.split(argv[2])
    if argv and argv[0] == "storyreel-entrypoint":
        argv = argv[1:]
    return argv[1:] if argv and argv[0] == "exec" else argv


def option(argv: list[str], *names: str) -> str | None:
    """The value of a command-line option in any of its spellings (``-w 2``, ``-w2``, ``--workers=2``)."""
    for i, arg in enumerate(argv):
        for name in names:
            if arg == name and i + 1 < len(argv):
                return argv[i + 1]
            if name.startswith("--") and arg.startswith(name + "="):
                return arg.split("=", 1)[1]
            if not name.startswith("--") and arg.startswith(name) and len(arg) > len(name):
                return arg[len(name):]
    return None


@cache
def compose() -> dict:
    return yaml.safe_load((ROOT / "docker-compose.yml").read_text())


@cache
def render() -> dict:
    return yaml.safe_load((ROOT / "render.yaml").read_text())


def render_service(name: str) -> dict:
    found = [s for s in render()["services"] if s.get("name") == name]
    assert len(found) == 1, f"render.yaml must define exactly one service named {name}"
    return found[0]


def render_env(service: dict) -> dict[str, dict]:
    """A Render service's environment, key → entry, with its groups' variables merged in."""
    groups = {g["name"]: g["envVars"] for g in render().get("envVarGroups", [])}
    env: dict[str, dict] = {}
    for entry in service.get("envVars", []):
        if "fromGroup" in entry:
            assert entry["fromGroup"] in groups, f"{service['name']}: no envVarGroup {entry['fromGroup']!r}"
            items = groups[entry["fromGroup"]]
        else:
            items = [entry]
        for item in items:
            assert item["key"] not in env, f"{service['name']}: {item['key']} is set twice"
            env[item["key"]] = item
    return env


def compose_command(service: dict) -> list[str]:
    command = service.get("command")
    if command is None:  # the image's CMD
        return program_argv(exec_form(instructions("CMD")[-1]))
    return program_argv(command if isinstance(command, list) else shlex.split(command))


def render_command(service: dict) -> list[str]:
    command = service.get("dockerCommand")
    if command is None:
        return program_argv(exec_form(instructions("CMD")[-1]))
    return program_argv(shlex.split(command))


def _under(path: str, mount: str) -> bool:
    return PurePosixPath(path).is_relative_to(PurePosixPath(mount))


def _seconds(text) -> float:
    match = re.fullmatch(r"(?:(\d+)m)?(?:(\d+)s)?", str(text))
    assert match and any(match.groups()), f"unreadable duration {text!r}"
    return int(match[1] or 0) * 60 + int(match[2] or 0)


# ---- the Dockerfile ------------------------------------------------------------------------
def test_base_image_is_a_slim_python_3_11_or_newer():
    (base,) = instructions("FROM")
    match = re.fullmatch(r"python:3\.(\d+)-slim(?:-[a-z]+)?", base)
    assert match, f"FROM {base}: expected python:3.1x-slim"
    assert int(match[1]) >= 11


def test_ffmpeg_is_inside_and_on_path():
    runs = instructions("RUN")
    from_debian = any(re.search(r"apt-get install[^&;]*\bffmpeg\b", run) for run in runs)
    linked = any(re.search(r"ln -s .*imageio_ffmpeg.* /usr/local/bin/ffmpeg", run) for run in runs)
    assert from_debian or linked, "the image must carry FFmpeg"
    # the build runs it, so an image without a working FFmpeg is never produced
    assert any(re.search(r"\bffmpeg (-hide_banner )?-version\b", run) for run in runs)
    # and the setting points where the Dockerfile put it
    ffmpeg = render_env(render_service(RENDER_NAMES["worker"]))["FFMPEG_BINARY"]["value"]
    assert (ffmpeg == "/usr/local/bin/ffmpeg") if linked else (ffmpeg in {"ffmpeg", "/usr/bin/ffmpeg"})


def test_image_keeps_no_pip_cache_and_no_build_tools():
    env = image_env()
    runs = instructions("RUN")
    for run in runs:
        if "pip install" in run:
            assert env.get("PIP_NO_CACHE_DIR") == "1" or "--no-cache-dir" in run
        if "apt-get install" in run:
            assert "rm -rf /var/lib/apt/lists" in run and "--no-install-recommends" in run
    assert not re.search(r"\b(build-essential|gcc|g\+\+|cmake)\b", " ".join(runs))
    # wheels only: a dependency that would need compiling fails the build instead
    assert any("--only-binary=:all:" in run for run in runs if "pip install" in run)


def test_image_installs_the_ops_extra_and_it_brings_flower():
    runs = " ".join(instructions("RUN"))
    assert "['ops']" in runs or ".[ops]" in runs
    extras = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"].get("optional-dependencies", {})
    assert any(req.startswith("flower") for req in extras.get("ops", [])), \
        'pyproject.toml needs ops = ["flower>=2"] under [project.optional-dependencies]'


def test_default_command_is_gunicorn_with_two_workers_and_a_300_second_timeout():
    argv = program_argv(exec_form(instructions("CMD")[-1]))
    assert Path(argv[0]).name == "gunicorn"
    assert option(argv, "-w", "--workers") == "2"
    assert option(argv, "-t", "--timeout") == "300"
    assert option(argv, "-b", "--bind") == "0.0.0.0:${PORT}"
    module, _, call = argv[-1].partition(":")
    assert call == "create_app()"
    assert callable(importlib.import_module(module).create_app)


def test_healthcheck_and_port():
    (check,) = instructions("HEALTHCHECK")
    assert "/health" in check and "PORT" in check
    assert instructions("EXPOSE") == [image_env()["PORT"]]
    published = [str(p).rsplit(":", 1)[-1] for p in compose()["services"]["web"]["ports"]]
    assert published == [image_env()["PORT"]]


def test_copied_sources_exist_and_are_not_ignored():
    for args in instructions("COPY"):
        *sources, _dest = [a for a in shlex.split(args) if not a.startswith("--")]
        for source in sources:
            assert (ROOT / source).exists(), f"COPY {source}: no such file"
            assert not dockerignored(source), f"COPY {source}: excluded by .dockerignore"


# ---- the entrypoint: root only long enough to hand WORK_DIR over -----------------------
def entrypoint_script() -> str:
    """The script the Dockerfile writes with ``printf '%s\\n' 'line' … > …storyreel-entrypoint``."""
    for run in instructions("RUN"):
        if "storyreel-entrypoint" in run and "printf" in run:
            words = shlex.split(run)
            start = words.index("%s\\n") + 1
            return "\n".join(words[start:words.index(">")]) + "\n"
    raise AssertionError("the Dockerfile writes no storyreel-entrypoint")


def test_the_image_runs_its_processes_as_an_unprivileged_user():
    users = instructions("USER")
    if users:  # a plain USER line: it must not be root
        assert users[-1].split(":")[0] not in {"root", "0"}
        return
    # else the entrypoint is the way in, and it drops root for a user the image creates
    assert exec_form(instructions("ENTRYPOINT")[-1]) == ["storyreel-entrypoint"]
    useradd = next(r for r in instructions("RUN") if "useradd" in r).split("&&")[0]
    assert shlex.split(useradd)[-1] == "storyreel"
    assert "setpriv --reuid=" in entrypoint_script() and '"${APP_USER:-storyreel}"' in entrypoint_script()


@pytest.fixture
def public_dir():
    """A temporary folder that an unprivileged user can enter (pytest's tmp_path is 0700)."""
    base = Path(tempfile.mkdtemp())
    base.chmod(0o755)
    yield base
    shutil.rmtree(base, ignore_errors=True)


@pytest.fixture
def entrypoint(public_dir: Path) -> Path:
    path = public_dir / "storyreel-entrypoint"
    path.write_text(entrypoint_script())
    path.chmod(0o755)
    subprocess.run(["sh", "-n", str(path)], check=True)
    return path


def test_entrypoint_hands_work_dir_over_and_drops_root(entrypoint: Path, public_dir: Path):
    work = public_dir / "disk" / "work"
    env = {**os.environ, "WORK_DIR": str(work), "APP_USER": "nobody"}
    probe = 'echo "$$"; id -u; touch "$WORK_DIR/probe"; grep NoNewPrivs /proc/self/status'
    proc = subprocess.Popen([str(entrypoint), "sh", "-c", probe], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    out, err = proc.communicate(timeout=20)
    if os.getuid() != 0:
        pytest.skip("the privilege drop needs root to run (the unprivileged path is tested below)")
    if shutil.which("setpriv") is None:
        pytest.skip("setpriv (util-linux) is not installed here")
    assert proc.returncode == 0, err
    pid, uid, nnp = out.splitlines()[:3]
    nobody = pwd.getpwnam("nobody")
    # exec all the way down: the command is the process Docker signals (warm shutdown)
    assert int(pid) == proc.pid
    assert int(uid) == nobody.pw_uid
    assert nnp.split() == ["NoNewPrivs:", "1"]
    assert work.stat().st_uid == nobody.pw_uid
    assert (work / "probe").stat().st_uid == nobody.pw_uid


def test_entrypoint_started_unprivileged_just_runs_the_command(entrypoint: Path):
    nobody = pwd.getpwnam("nobody")
    if os.getuid() == 0:
        def demote():
            os.setgid(nobody.pw_gid)
            os.setuid(nobody.pw_uid)
        expected = nobody.pw_uid
    else:
        demote, expected = None, os.getuid()
    work = entrypoint.parent / "work"
    out = subprocess.run([str(entrypoint), "id", "-u"], check=False, capture_output=True, text=True, timeout=20,
                         preexec_fn=demote, cwd="/", env={**os.environ, "WORK_DIR": str(work)})
    assert out.returncode == 0, out.stderr
    assert int(out.stdout) == expected
    assert not work.exists()  # nothing to prepare without root


# ---- .dockerignore -----------------------------------------------------------------------
@cache
def dockerignore_rules() -> tuple[tuple[bool, re.Pattern], ...]:
    rules = []
    for line in (ROOT / ".dockerignore").read_text().splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        keep = line.startswith("!")
        pattern = line.lstrip("!").strip("/")
        regex = ""
        for part in re.split(r"(\*\*/?|\*|\?)", pattern):
            if part.startswith("**"):
                regex += "(?:.*/)?" if part.endswith("/") else ".*"
            elif part == "*":
                regex += "[^/]*"
            elif part == "?":
                regex += "[^/]"
            else:
                regex += re.escape(part)
        rules.append((keep, re.compile(regex)))
    return tuple(rules)


def dockerignored(path: str) -> bool:
    """Docker's rule: the last matching pattern wins, and a folder's pattern covers its contents."""
    parts = PurePosixPath(path).parts
    excluded = False
    for keep, regex in dockerignore_rules():
        if any(regex.fullmatch("/".join(parts[:n])) for n in range(1, len(parts) + 1)):
            excluded = not keep
    return excluded


@pytest.mark.parametrize("path", [".venv/bin/python", "work/job/a.png", "out/video.mp4", ".git/HEAD", ".env",
                                  "storyreel/__pycache__/cli.cpython-311.pyc"])
def test_dockerignore_keeps_local_state_and_secrets_out(path):
    assert dockerignored(path)


def test_dockerignore_keeps_what_the_build_needs():
    for path in ("pyproject.toml", "README.md", "storyreel/cli/__init__.py", "storyreel/media/ffmpeg.py", ".env.example"):
        assert not dockerignored(path), path


# ---- docker-compose.yml ------------------------------------------------------------------
def test_compose_has_every_service_with_its_command():
    services = compose()["services"]
    assert set(services) >= {"redis", "web", "worker", "beat", "flower"}
    assert compose_command(services["worker"]) == ["storyreel", "worker"]
    assert compose_command(services["beat"]) == ["storyreel", "beat"]
    flower = compose_command(services["flower"])
    assert flower[:3] == ["celery", "-A", "storyreel.celeryapp"] and "flower" in flower
    web = compose_command(services["web"])
    assert Path(web[0]).name == "gunicorn" and option(web, "-w", "--workers") == "2"
    assert option(web, "-t", "--timeout") == "300"
    assert services["redis"]["image"].startswith("redis:")


def test_compose_app_services_share_one_image_and_the_env_file():
    services = compose()["services"]
    app = {name: services[name] for name in (*APP_SERVICES, "flower")}
    builds = {json.dumps(s.get("build"), sort_keys=True) for s in app.values()}
    images = {s.get("image") for s in app.values()}
    assert len(builds) == 1 and len(images) == 1
    assert json.loads(builds.pop()) in (".", {"context": "."})
    for name, service in app.items():
        env_file = service["env_file"]
        assert ".env" in ([env_file] if isinstance(env_file, str) else env_file), name
        assert service["environment"]["REDIS_URL"].startswith("redis://redis:"), name
        assert service["depends_on"]["redis"]["condition"] == "service_healthy", name


def test_compose_commands_exist():
    from celery import Celery

    import storyreel.celeryapp
    from storyreel.cli import main

    for name, service in compose()["services"].items():
        if name == "redis":
            continue
        argv = compose_command(service)
        if argv[0] == "storyreel":
            assert argv[1] in main.commands, f"{name}: no `storyreel {argv[1]}` command"
        elif argv[0] == "celery":
            module = option(argv, "-A", "--app")
            assert module == "storyreel.celeryapp"
            assert isinstance(storyreel.celeryapp.app, Celery)


def test_compose_healthchecks():
    services = compose()["services"]
    assert "redis-cli" in services["redis"]["healthcheck"]["test"]
    # the web process keeps the image's HTTP check; nothing else serves /health, so every
    # other app service must replace it or switch it off, or Docker reports it unhealthy
    assert "healthcheck" not in services["web"]
    for name in ("worker", "beat", "flower"):
        check = services[name]["healthcheck"]
        assert check.get("disable") is True or check.get("test"), name
    worker_test = services["worker"]["healthcheck"]["test"]
    assert "inspect" in " ".join(worker_test) and "ping" in " ".join(worker_test)
    for name, service in services.items():
        test = service.get("healthcheck", {}).get("test")
        if isinstance(test, list) and any("$" in part for part in test):
            # only a shell expands $HOSTNAME; in the CMD form it stays literal
            assert test[0] == "CMD-SHELL", name


def test_compose_work_dir_is_on_a_volume_and_shutdowns_are_graceful():
    services = compose()["services"]
    worker = services["worker"]
    mounts = [v.split(":")[1] for v in worker["volumes"] if v.split(":")[0] in compose()["volumes"]]
    assert any(_under(worker["environment"]["WORK_DIR"], m) for m in mounts)
    assert _seconds(worker["stop_grace_period"]) >= 60
    assert worker.get("stop_signal", "SIGTERM") == "SIGTERM"
    assert _seconds(services["web"]["stop_grace_period"]) > 30  # gunicorn's graceful timeout
    # Flower has no login: published on this machine only
    assert all(str(p).startswith("127.0.0.1:") for p in services["flower"]["ports"])


# ---- render.yaml -------------------------------------------------------------------------
def test_render_defines_web_worker_beat_and_key_value():
    web = render_service(RENDER_NAMES["web"])
    assert web["type"] == "web" and web["healthCheckPath"] == "/health"
    argv = render_command(web)
    assert Path(argv[0]).name == "gunicorn"
    assert option(argv, "-w", "--workers") == "2" and option(argv, "-t", "--timeout") == "300"
    worker = render_service(RENDER_NAMES["worker"])
    assert worker["type"] == "worker" and render_command(worker) == ["storyreel", "worker"]
    beat = render_service(RENDER_NAMES["beat"])
    assert beat["type"] == "worker" and render_command(beat) == ["storyreel", "beat"]
    assert beat["numInstances"] == 1  # Celery beat runs exactly once
    kv = render_service(RENDER_KEYVALUE)
    assert kv["type"] in {"keyvalue", "redis"}
    assert kv["maxmemoryPolicy"] == "noeviction"  # a broker must never evict a queued task
    assert "ipAllowList" in kv  # required for Key Value
    from storyreel.cli import main

    for service in (worker, beat):
        assert shlex.split(service["dockerCommand"])[0] == "storyreel-entrypoint"
        assert render_command(service)[1] in main.commands


def test_render_builds_the_dockerfile_and_deploys_main_automatically():
    regions = set()
    for name in RENDER_NAMES.values():
        service = render_service(name)
        assert service["runtime"] == "docker"
        assert service.get("dockerfilePath", "./Dockerfile") in {"./Dockerfile", "Dockerfile"}
        assert service["branch"] == "main"
        trigger = service.get("autoDeployTrigger")
        assert trigger == "commit" or (trigger is None and service.get("autoDeploy") is True)
        assert service.get("autoDeploy", True) is True  # never contradicts the trigger
        assert 1 <= service.get("maxShutdownDelaySeconds", 30) <= 300
        regions.add(service.get("region", "oregon"))
    regions.add(render_service(RENDER_KEYVALUE).get("region", "oregon"))
    assert len(regions) == 1, "one region: the services reach Redis over the private network"
    assert render_service(RENDER_NAMES["worker"])["maxShutdownDelaySeconds"] >= 60  # warm shutdown


@pytest.mark.parametrize("role, size", [("web", 10), ("worker", 20)])
def test_render_disks_hold_work_dir(role, size):
    service = render_service(RENDER_NAMES[role])
    disk = service["disk"]
    assert disk["sizeGB"] == size and disk["name"]
    work_dir = render_env(service)["WORK_DIR"]["value"]
    assert _under(work_dir, disk["mountPath"]), f"WORK_DIR {work_dir} is not on the disk at {disk['mountPath']}"
    assert service.get("numInstances", 1) == 1  # a service with a disk cannot scale
    # a fresh Render disk is root-owned: the entrypoint must run to hand WORK_DIR over
    assert not instructions("USER") or "storyreel-entrypoint" in service.get("dockerCommand", "")


@pytest.mark.parametrize("role", APP_SERVICES)
def test_render_sets_every_variable_of_env_example(role):
    env = render_env(render_service(RENDER_NAMES[role]))
    missing = [key for key in env_example_keys() if key not in env]
    assert not missing, f"{RENDER_NAMES[role]} lacks {missing}"


#: the settings that decide how fast a dead worker's job moves again
RECOVERY = ("JOB_LOCK_SECONDS", "RECOVER_SECONDS", "BROKER_VISIBILITY_SECONDS")


def env_example_values() -> dict[str, str]:
    return dict(re.findall(r"^([A-Z][A-Z0-9_]*)=(.*)$", (ROOT / ".env.example").read_text(), flags=re.MULTILINE))


def test_recovery_settings_agree_everywhere_and_recover_within_20_seconds():
    from storyreel.settings import Settings

    defaults = {name: Settings.model_fields[name.lower()].default for name in RECOVERY}
    example = env_example_values()
    for role in APP_SERVICES:
        env = render_env(render_service(RENDER_NAMES[role]))
        for name in RECOVERY:
            assert float(env[name]["value"]) == defaults[name], f"render.yaml {name} differs from the default"
    for name in RECOVERY:
        assert float(example[name]) == defaults[name], f".env.example {name} differs from the default"
        for service in compose()["services"].values():  # compose takes them from .env, or the defaults
            assert name not in (service.get("environment") or {}), f"compose pins {name}"
    # with beat, a dead worker's lock lapses within JOB_LOCK_SECONDS and the next sweep restarts it
    assert defaults["JOB_LOCK_SECONDS"] + defaults["RECOVER_SECONDS"] <= 20
    # without beat, the broker hands its step out again: by then the lock must have lapsed
    assert defaults["JOB_LOCK_SECONDS"] < defaults["BROKER_VISIBILITY_SECONDS"]


@pytest.mark.parametrize("role", APP_SERVICES)
def test_render_variables_are_well_formed(role):
    service = render_service(RENDER_NAMES[role])
    for key, entry in render_env(service).items():
        sources = [s for s in ("value", "sync", "generateValue", "fromService", "fromDatabase") if s in entry]
        assert len(sources) == 1, f"{key}: exactly one source, got {sources}"
        if "value" in entry:
            # YAML would turn {} into a mapping and false into a boolean; Render stores text
            assert isinstance(entry["value"], str) and entry["value"], f"{key}: value must be non-empty text"
            assert key not in SECRETS, f"{key} is a secret: never commit its value"
        if "sync" in entry:
            assert entry["sync"] is False
        if "fromService" in entry:
            ref = entry["fromService"]
            target = render_service(ref["name"])
            assert ref["type"] == target["type"]
            if "envVarKey" in ref:
                source = render_env(target)[ref["envVarKey"]]
                assert "fromService" not in source, f"{key}: a reference to a reference"
            else:
                assert ref["property"] in {"connectionString", "host", "port", "hostport"}
    redis = render_env(service)["REDIS_URL"]["fromService"]
    assert redis == {"type": "keyvalue", "name": RENDER_KEYVALUE, "property": "connectionString"}


def _app_accepts_webhook_secret(secret: str) -> bool:
    from storyreel.errors import ConfigError
    from storyreel.settings import Settings
    from storyreel.web import create_app

    import redis as redis_lib

    settings = Settings(_env_file=None, telegram_webhook_secret=secret, log_format="console", log_level="WARNING")
    try:  # a client that is never used: nothing connects
        create_app(settings, redis=redis_lib.Redis(host="127.0.0.1", port=1), enqueue=lambda update: None)
    except ConfigError:
        return False
    return True


def test_render_webhook_secret_is_one_the_app_accepts():
    entry = render_env(render_service(RENDER_NAMES["web"]))["TELEGRAM_WEBHOOK_SECRET"]
    assert "value" not in entry
    assert _app_accepts_webhook_secret("a-valid_secret-0123456789")
    accepted = _app_accepts_webhook_secret(RENDER_GENERATED_SAMPLE)
    if entry.get("generateValue"):
        assert accepted, "Render generates base64 (+ / =), which Telegram and storyreel.web refuse"
    else:
        # prompted, because a generated value would be refused. Once the app accepts
        # Render's format (by mapping it onto Telegram's alphabet), switch to generateValue.
        assert entry.get("sync") is False
        assert not accepted, "storyreel.web accepts Render's generated secrets now: use generateValue: true"
