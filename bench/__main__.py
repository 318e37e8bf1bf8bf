"""`python -m bench`: run every workload on Freddy and the peer, print a table and JSON."""

import argparse
import asyncio
import json
import logging
import platform
import tempfile
import time
from pathlib import Path

from bench import report
from bench.freddy_api import api_key_create
from bench.servers import FREDDY_APP, PEER_APP, REDIS_URL, Database, Process, raise_fd_limit
from bench.w_live import freddy_fan_out, freddy_ingest, peer_fan_out
from bench.w_replay import freddy_replay, freddy_table_scale, peer_replay
from bench.w_storm import floor_storm, freddy_idle_memory, freddy_storm, peer_idle_memory

logger = logging.getLogger("bench")

RESULTS = Path(__file__).resolve().parent / "results" / "latest.json"
# Server and worker logs of the last run, kept for a look after a failure.
LOGS = RESULTS.parent / "logs"
WORKLOADS = ("W1", "W2", "W3", "W4", "W5", "MEM")
FREDDY_HEALTH, PEER_HEALTH = "/v1/health", "/produce"  # the peer: any answer will do


class Bench:
    """Starts and stops every process and database the workloads need."""

    def __init__(self, tmp_dir: Path, log_dir: Path) -> None:
        self.tmp_dir, self.log_dir = tmp_dir, log_dir
        self.results: dict[str, dict] = {}

    def serve(self, app, kind: str, **env: str):
        """A context: a fresh database of `kind` and one daphne serving `app` on it."""
        return _Served(self, app, kind, env)

    def record(self, name: str, measure) -> None:
        """Run one measurement; a failure is recorded as not measured, with its reason."""
        started = time.perf_counter()
        logger.info("%s ...", name)
        try:
            self.results[name] = measure()
        except Exception as exc:  # noqa: BLE001 - the other workloads still run
            logger.exception("%s failed", name)
            self.results[name] = {"error": f"{type(exc).__name__}: {exc}"}
        self.results[name]["bench_seconds"] = round(time.perf_counter() - started, 1)
        logger.info("%s: %s", name, self.results[name])


class _Served:
    def __init__(self, bench: Bench, app, kind: str, env: dict) -> None:
        self.bench, self.app, self.kind, self.env = bench, app, kind, env
        self.processes: list[Process] = []

    def __enter__(self) -> "_Served":
        self.database = Database.create(self.kind, self.bench.tmp_dir, self.app[0])
        health = FREDDY_HEALTH if self.app == FREDDY_APP else PEER_HEALTH
        self.server = self.start(Process.daphne(self.app, self.database, self.bench.log_dir,
                                                **self.env), health)
        self.key = api_key_create(self.database) if self.app == FREDDY_APP else ""
        return self

    def start(self, process: Process, health: str | None) -> Process:
        self.processes.append(process)
        return process.start(health_path=health)

    def __exit__(self, *exc_info) -> None:
        for process in self.processes:
            process.stop()
        self.database.drop()


def run_replay(bench: Bench, kind: str) -> None:
    with bench.serve(FREDDY_APP, kind) as ours:
        bench.record(f"W1.freddy.{kind}", lambda: freddy_replay(ours.server, ours.database,
                                                                 ours.key))
        replay = bench.results[f"W1.freddy.{kind}"]
        if "W5" in bench.only and "thread_id" in replay:
            bench.record(f"W5.freddy.{kind}", lambda: freddy_table_scale(
                ours.server, ours.database, ours.key, replay["thread_id"]))
    with bench.serve(PEER_APP, kind) as peer:
        bench.record(f"W1.peer.{kind}", lambda: peer_replay(peer.server, peer.database))


def run_live(bench: Bench) -> None:
    if "W2" in bench.only:
        with bench.serve(FREDDY_APP, "sqlite") as ours:
            bench.record("W2.freddy", lambda: asyncio.run(freddy_fan_out(ours.server,
                                                                         ours.key)))
        with bench.serve(PEER_APP, "sqlite") as peer:
            bench.record("W2.peer", lambda: asyncio.run(peer_fan_out(peer.server)))
    if "W3" in bench.only:
        with bench.serve(FREDDY_APP, "sqlite") as ours:
            bench.record("W3.freddy", lambda: asyncio.run(freddy_storm(ours.server,
                                                                       ours.key)))
        floor = Process.daphne_plain("bench.floor:application", bench.log_dir).start(
            health_path="/")
        try:
            bench.record("W3.floor", lambda: asyncio.run(floor_storm(floor)))
        finally:
            floor.stop()
    if "MEM" in bench.only:
        with bench.serve(FREDDY_APP, "sqlite") as ours:
            bench.record("MEM.freddy", lambda: asyncio.run(freddy_idle_memory(ours.server,
                                                                              ours.key)))
        with bench.serve(PEER_APP, "sqlite") as peer:
            bench.record("MEM.peer", lambda: asyncio.run(peer_idle_memory(peer.server)))


def run_ingest(bench: Bench) -> None:
    worker_env = {"REDIS_URL": REDIS_URL, "FREDDY_RUN_EXECUTOR": "worker"}
    with bench.serve(FREDDY_APP, "postgres", **worker_env) as ours:
        ours.start(Process.worker(ours.database, bench.log_dir, **worker_env), None)
        bench.record("W4.freddy", lambda: asyncio.run(freddy_ingest(ours.server, ours.key)))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--only", default=",".join(WORKLOADS),
                        help="comma-separated workloads: " + ",".join(WORKLOADS))
    parser.add_argument("--output", type=Path, default=RESULTS)
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    logging.getLogger("httpx").setLevel(logging.WARNING)
    fd_limit = raise_fd_limit()
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="freddy-bench-") as tmp:
        LOGS.mkdir(parents=True, exist_ok=True)
        for old in LOGS.glob("*.log"):
            old.unlink()
        bench = Bench(Path(tmp), LOGS)
        bench.only = set(args.only.upper().split(","))
        if bench.only & {"W1", "W5"}:
            for kind in ("sqlite", "postgres"):
                run_replay(bench, kind)
        run_live(bench)
        if "W4" in bench.only:
            run_ingest(bench)
    document = {
        "machine": {"cpus": report.cpu_count(), "python": platform.python_version(),
                    "open_files_limit": fd_limit},
        "started_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "bench_seconds": round(time.perf_counter() - started, 1),
        "figures": [f.as_dict() for f in report.figures(bench.results)],
        "peer_notes": report.PEER_NOTES,
        "raw": bench.results,
    }
    print(report.table(document))
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(document, indent=2, default=str) + "\n")
    print(json.dumps(document["figures"], default=str))
    print(f"JSON written to {args.output}")


if __name__ == "__main__":
    main()
