"""Benchmark: webhook ingest under gunicorn, with the real inbox write and Celery publish.

Prints figures, asserts nothing (this machine is shared and noisy):
- updates/second and p50/p99 latency of ``POST /webhook`` (goal: >= 1,000/s with p99 under
  50 ms on 2 cores), for each gunicorn worker class asked for (``sync`` and ``gthread`` by
  default: the others need gevent or tornado, which StoryReel does not install);
- a baseline measured in the same run: the same gunicorn and Flask serving a webhook that
  checks the secret, parses the body and touches no Redis, so the figure is a ratio too;
  and the raw rate of the Redis work alone (``enqueue_update``: the inbox's script, and
  the Celery publish of a drain when the chat has none asked for; threads, no HTTP);
- the count proof: the chats' inboxes hold every distinct update_id sent exactly once,
  each with its body (no update lost or doubled), though a share of the posts repeat an
  update, some of them while the first delivery is still in flight; and the ``updates``
  queue holds one drain request per chat (no worker runs, so each chat's first update
  asks for a drain and all its later ones find that drain asked for and waiting). That
  makes this a best case for the publish: with workers at hand, a chat that is idle
  between its updates (most users) asks for one drain per update, like the one Celery
  message per update of the design before the inbox.

Everything runs on this one machine: the load generator, gunicorn's workers and Redis
share its cores, so the figures are a floor; each line also says how many CPU µs each
party spent per request. ``wrk`` is not installed, and an httpx client costs about 800 µs
of CPU per request here (``--client httpx`` shows it), which the server then does not
get; so the default load generator is a minimal keep-alive HTTP/1.1 client on raw
sockets (about 60 µs), in processes × threads. The app publishes to its own Redis
database (``--db``, refused if anything else uses it: a Celery worker there would eat the
queue), flushed before and after.

    .venv/bin/python bench/webhook_ingest.py [--n 20000] [--connections 16] [--classes gthread sync]
"""

from __future__ import annotations

import argparse
import base64
import json
import multiprocessing as mp
import os
import random
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx
import redis as redis_lib

ROOT = Path(__file__).resolve().parents[1]
SECRET = "bench-secret-0123456789"
HEADERS = {"X-Telegram-Bot-Api-Secret-Token": SECRET, "Content-Type": "application/json"}


def baseline_app():
    """The same gunicorn and Flask, a webhook without Redis: secret check, JSON parse, 200."""
    import hmac

    import flask

    app = flask.Flask("baseline")

    @app.post("/webhook")
    def webhook():
        given = flask.request.headers.get("X-Telegram-Bot-Api-Secret-Token", "")
        if not hmac.compare_digest(given.encode(), SECRET.encode()):
            return flask.jsonify(ok=False), 403
        update = json.loads(flask.request.get_data(cache=False))
        if not isinstance(update.get("update_id"), int):
            return flask.jsonify(ok=False), 400
        return flask.jsonify(ok=True)

    @app.get("/health")
    def health():
        return flask.jsonify(status="ok")

    return app


def _body(update_id: int) -> bytes:
    return json.dumps({"update_id": update_id, "message": {
        "message_id": update_id, "date": 1767225600, "text": f"a story about lighthouse number {update_id}",
        "chat": {"id": 4200 + update_id % 50, "type": "private"},
        "from": {"id": 4200 + update_id % 50, "is_bot": False, "first_name": "Bench", "language_code": "en"},
    }}).encode()


def _workload(n: int, dup_fraction: float, first_id: int, seed: int) -> list[int]:
    """n update_ids: distinct ones plus repeats, shuffled so some repeats race their first delivery."""
    rng = random.Random(seed)
    distinct = round(n / (1 + dup_fraction))
    ids = list(range(first_id, first_id + distinct))
    ids += [rng.choice(ids) for _ in range(n - distinct)]
    rng.shuffle(ids)
    return ids


# -- the load generator: processes × threads, one keep-alive client per thread ----------

def _httpx_thread(url: str, ids: list[int], out: list) -> None:
    with httpx.Client(base_url=url, timeout=30, limits=httpx.Limits(max_connections=1)) as client:
        for update_id in ids:
            body = _body(update_id)
            started = time.perf_counter()
            status = client.post("/webhook", content=body, headers=HEADERS).status_code
            out.append((time.perf_counter() - started, status))


def _raw_thread(url: str, ids: list[int], out: list) -> None:
    """A keep-alive HTTP/1.1 client in a few lines, like wrk: it costs the shared CPUs a
    tenth of what httpx does, so the server gets them. Reconnects when the server closes."""
    host, port = url.removeprefix("http://").split(":")
    head = "".join(f"{k}: {v}\r\n" for k, v in HEADERS.items())
    sock, buf = None, b""
    for update_id in ids:
        body = _body(update_id)
        request = (f"POST /webhook HTTP/1.1\r\nHost: {host}\r\n{head}"
                   f"Content-Length: {len(body)}\r\n\r\n").encode() + body
        started = time.perf_counter()
        if sock is None:
            sock, buf = socket.create_connection((host, int(port))), b""
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        sock.sendall(request)
        while b"\r\n\r\n" not in buf:
            chunk = sock.recv(65536)
            if not chunk:
                raise ConnectionError("the server closed the connection mid-response")
            buf += chunk
        header, buf = buf.split(b"\r\n\r\n", 1)
        lines = header.decode("latin-1").split("\r\n")
        fields = {k.strip().lower(): v.strip() for k, v in (line.split(":", 1) for line in lines[1:])}
        length = int(fields.get("content-length", 0))
        while len(buf) < length:
            buf += sock.recv(65536)
        buf = buf[length:]
        out.append((time.perf_counter() - started, int(lines[0].split()[1])))
        if fields.get("connection", "").lower() == "close":  # gunicorn's sync worker
            sock.close()
            sock = None
    if sock is not None:
        sock.close()


def _client_process(client: str, url: str, slices: list[list[int]], go, queue) -> None:
    target = _raw_thread if client == "raw" else _httpx_thread
    outs = [[] for _ in slices]
    threads = [threading.Thread(target=target, args=(url, ids, out)) for ids, out in zip(slices, outs)]
    go.wait()
    started, cpu = time.perf_counter(), time.process_time()  # perf_counter: CLOCK_MONOTONIC, shared
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    queue.put((started, time.perf_counter(), [item for out in outs for item in out], time.process_time() - cpu))


def drive(url: str, ids: list[int], connections: int, processes: int, watch: tuple[int, ...] = (),
          client: str = "raw") -> dict:
    """Post every id in ``ids`` over ``connections`` keep-alive connections; return the figures,
    with the CPU time the load generator and the processes ``watch`` (and their children) spent."""
    slices = [ids[i::connections] for i in range(connections)]
    ctx = mp.get_context("fork")
    go, queue = ctx.Event(), ctx.Queue()
    procs = [ctx.Process(target=_client_process, args=(client, url, slices[p::processes], go, queue))
             for p in range(processes)]
    for proc in procs:
        proc.start()
    time.sleep(0.3)  # let every process build its threads before the clock starts
    cpu_before = [_cpu_seconds(pid) for pid in watch]
    go.set()
    results = [queue.get() for _ in procs]
    cpu_after = [_cpu_seconds(pid) for pid in watch]
    for proc in procs:
        proc.join()
    start, end = min(r[0] for r in results), max(r[1] for r in results)
    samples = [item for r in results for item in r[2]]
    latencies = sorted(s for s, _ in samples)
    statuses: dict[int, int] = {}
    for _, status in samples:
        statuses[status] = statuses.get(status, 0) + 1
    return {
        "count": len(samples), "seconds": end - start, "rate": len(samples) / (end - start),
        "p50": statistics.median(latencies) * 1000, "p99": latencies[int(0.99 * (len(latencies) - 1))] * 1000,
        "statuses": statuses,
        "cpu_us": {"load generator": sum(r[3] for r in results) / len(samples) * 1e6,
                   **{pid: (a - b) / len(samples) * 1e6 for pid, b, a in zip(watch, cpu_before, cpu_after)}},
    }


def _cpu_seconds(pid: int) -> float:
    """CPU time of ``pid`` and its live children, from /proc (Linux)."""
    tick = os.sysconf("SC_CLK_TCK")
    total = 0.0
    pids = [pid]
    try:
        with open(f"/proc/{pid}/task/{pid}/children") as fh:
            pids += [int(p) for p in fh.read().split()]
    except OSError:
        pass
    for p in pids:
        try:
            with open(f"/proc/{p}/stat") as fh:
                fields = fh.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += (int(fields[11]) + int(fields[12])) / tick  # utime, stime
    return total


# -- gunicorn ----------------------------------------------------------------------------

def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Gunicorn:
    """``gunicorn -w WORKERS -k CLASS 'APP'`` on loopback until the ``with`` block ends."""

    def __init__(self, app: str, worker_class: str, workers: int, threads: int, env: dict, chdir: Path) -> None:
        self.port = _free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = tempfile.TemporaryFile()
        args = [sys.executable, "-m", "gunicorn", "-w", str(workers), "-k", worker_class,
                "-b", f"127.0.0.1:{self.port}", "--timeout", "300", "--chdir", str(chdir)]
        if worker_class == "gthread":
            args += ["--threads", str(threads)]
        self.proc = subprocess.Popen([*args, app], env=env, stdout=self.log, stderr=subprocess.STDOUT)

    def __enter__(self) -> "Gunicorn":
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                self.log.seek(0)
                raise RuntimeError("gunicorn exited:\n" + self.log.read().decode(errors="replace")[-3000:])
            try:
                if httpx.get(self.url + "/health", timeout=2).status_code == 200:
                    return self
            except httpx.TransportError:
                pass
            time.sleep(0.1)
        raise RuntimeError("gunicorn did not come up in 30 s")

    def __exit__(self, *exc) -> None:
        self.proc.terminate()
        self.proc.wait(timeout=30)
        self.log.close()


# -- the raw Redis work, no HTTP ---------------------------------------------------------

def raw_redis_rate(redis_url: str, ids: list[int], threads: int) -> float:
    """The real ``enqueue_update`` (into the inbox, then a drain's publish) for each id,
    from ``threads`` threads in this process."""
    os.environ["REDIS_URL"] = redis_url  # read once, when storyreel.worker builds its Celery app
    from storyreel.worker import enqueue_update

    updates = [json.loads(_body(i)) for i in ids]

    def work(part: list[dict]) -> None:
        for update in part:
            enqueue_update(update)

    enqueue_update(updates[0])  # connect the producer pool outside the clock
    pool = [threading.Thread(target=work, args=(updates[1 + i::threads],)) for i in range(threads)]
    started = time.perf_counter()
    for thread in pool:
        thread.start()
    for thread in pool:
        thread.join()
    return (len(updates) - 1) / (time.perf_counter() - started)


# -- the count proof ---------------------------------------------------------------------

def count_proof(client: redis_lib.Redis, sent: set[int]) -> str:
    """The inboxes against the distinct update_ids sent; the drain requests against the
    chats."""
    from storyreel import redis_keys

    waiting: list[int] = []
    bodies = 0
    chats: set[str] = set()
    for key in client.scan_iter(match=redis_keys.inbox("*"), _type="zset"):
        chats.add(key.decode().removeprefix(redis_keys.inbox("")))
        waiting += [int(m) for m in client.zrange(key, 0, -1)]
        bodies += client.hlen(redis_keys.inbox_bodies(key.decode().removeprefix(redis_keys.inbox(""))))
    doubled = len(waiting) - len(set(waiting))
    missing = len(sent - set(waiting))
    extra = len(set(waiting) - sent)
    messages = [json.loads(raw) for raw in client.lrange("updates", 0, -1)]
    drained = [json.loads(base64.b64decode(m["body"]))[0][0] for m in messages
               if m["headers"]["task"] == "storyreel.drain_inbox"]
    ok = (doubled, missing, extra) == (0, 0, 0) and bodies == len(waiting) == len(sent) \
        and len(messages) == len(drained) and sorted(drained) == sorted(chats)
    # kombu puts what it cannot route (no queue bound yet) in "ae.undeliver": say so
    elsewhere = {key.decode(): client.llen(key) for key in client.scan_iter(_type="list") if key != b"updates"}
    return (f"{len(waiting)} updates waiting in the inboxes ({bodies} bodies) vs {len(sent)} distinct "
            f"update_ids sent: {doubled} doubled, {missing} missing, {extra} unexpected; "
            f"{len(messages)} messages in 'updates', one drain request for each of the {len(chats)} chats -> "
            + ("OK" if ok else "FAILED")
            + (f"; other lists: {elsewhere}" if elsewhere else "")
            + (f"; missing e.g. {sorted(sent - set(waiting))[:8]}" if missing else ""))


def _line(name: str, f: dict, names: dict) -> str:
    codes = ", ".join(f"{k}×{v}" for k, v in sorted(f["statuses"].items()))
    cpu = ", ".join(f"{names.get(k, k)} {v:.0f}" for k, v in f["cpu_us"].items())
    return (f"  {name:<32} {f['rate']:>6,.0f} req/s  p50 {f['p50']:5.2f} ms  p99 {f['p99']:6.2f} ms"
            f"  ({f['count']:,} in {f['seconds']:.2f} s; {codes})\n"
            f"  {'':<32} CPU µs per request: {cpu}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--n", type=int, default=20_000, help="webhook POSTs per run")
    parser.add_argument("--dup-fraction", type=float, default=0.1, help="share of repeats per distinct update")
    parser.add_argument("--connections", type=int, default=16, help="concurrent keep-alive connections")
    parser.add_argument("--load-processes", type=int, default=2, help="load generator processes")
    parser.add_argument("--client", choices=["raw", "httpx"], default="raw", help="the load generator's HTTP client")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--threads", type=int, default=8, help="threads per gthread worker")
    parser.add_argument("--classes", nargs="+", default=["gthread", "sync"], help="gunicorn worker classes")
    parser.add_argument("--db", type=int, default=14, help="an empty Redis database this benchmark may flush")
    args = parser.parse_args()

    redis_url = f"redis://127.0.0.1:6379/{args.db}"
    client = redis_lib.Redis.from_url(redis_url)
    # another process on this database (a Celery worker on "updates") would eat the queue
    # and spoil the count proof; and its data is not ours to flush
    others = [c for c in client.client_list() if int(c.get("db", -1)) == args.db and c["id"] != str(client.client_id())]
    if client.dbsize() or others:
        sys.exit(f"Redis db {args.db} is in use ({client.dbsize()} keys, {len(others)} other clients); "
                 f"pick another with --db")
    redis_pid = int(client.info("server")["process_id"])
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TELEGRAM_", "REDIS_"))}
    env.update({"REDIS_URL": redis_url, "TELEGRAM_WEBHOOK_SECRET": SECRET, "PYTHONPATH": str(ROOT),
                "LOG_FORMAT": "json", "LOG_LEVEL": "INFO"})

    def load(server: Gunicorn, ids: list[int]) -> tuple[dict, dict]:
        figures = drive(server.url, ids, args.connections, args.load_processes,
                        watch=(server.proc.pid, redis_pid), client=args.client)
        return figures, {server.proc.pid: "gunicorn", redis_pid: "redis"}

    print(f"{os.cpu_count()} CPUs; {args.n:,} POSTs per run over {args.connections} keep-alive connections "
          f"({args.client} client, {args.load_processes} processes); gunicorn -w {args.workers}; "
          f"Redis db {args.db}")
    next_id = 1
    try:
        with tempfile.TemporaryDirectory(prefix="webhook-bench-") as workdir:  # no .env in the way
            for worker_class in args.classes:
                label = f"-k {worker_class}" + (f" --threads {args.threads}" if worker_class == "gthread" else "")
                print(f"\ngunicorn -w {args.workers} {label}")
                with Gunicorn("webhook_ingest:baseline_app()", worker_class, args.workers, args.threads, env,
                              chdir=ROOT / "bench") as server:
                    load(server, list(range(1, 501)))  # warm up
                    base, names = load(server, _workload(args.n, args.dup_fraction, 1, 7))
                print(_line("baseline (Flask, no Redis)", base, names))

                client.flushdb()
                with Gunicorn("storyreel.web:create_app()", worker_class, args.workers, args.threads, env,
                              chdir=Path(workdir)) as server:
                    warm = _workload(500, 0, next_id, 1)
                    load(server, warm)  # connects Redis and Celery's producer pool
                    ids = _workload(args.n, args.dup_fraction, next_id + len(warm), 11)
                    next_id += len(warm) + len(set(ids))
                    hook, names = load(server, ids)
                print(_line("webhook (inbox + Celery)", hook, names))
                print(f"  ratio to the baseline: {hook['rate'] / base['rate']:.2f}; "
                      f"{len(ids) - len(set(ids)):,} of the posts were repeats")
                print("  count proof: " + count_proof(client, set(warm) | set(ids)))
                client.flushdb()

        rate = raw_redis_rate(redis_url, _workload(args.n, 0, 10_000_000, 3), args.connections)
        print(f"\nraw enqueue_update (inbox script; a Celery publish per chat), {args.connections} threads in "
              f"one process, no HTTP: {rate:,.0f} updates/s")
    finally:
        client.flushdb()


if __name__ == "__main__":
    main()
