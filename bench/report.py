"""Turn raw workload results into figures with targets and peer ratios, and a table."""

import os

from bench.peer_api import PEER_MAX_PENDING, PEER_REPLAY_PAGE_EVENTS
from bench.stats import Figure, ms

PEER_NOTES = [
    "django-eventstream 5.3.4 with DjangoModelStorage, served by daphne, in-process "
    "listeners (no Redis), on the same database kinds as Freddy.",
    f"Replay: it reads {PEER_REPLAY_PAGE_EVENTS} events per page (3 queries a page: "
    "counter, the Last-Event-ID row, the range), JSON-decodes each stored row and "
    "re-encodes the frame; it does replay the whole backlog, page after page.",
    "Replay needs the Last-Event-ID row itself to exist: after its 24 h trim (done "
    "inside send_event, on the write path) or for an unknown id it sends stream-reset "
    "and nothing of the backlog.",
    f"Live: a listener holds at most {PEER_MAX_PENDING} pending events; past that it "
    "drops them and re-reads the database.",
    "No run semantics: no terminal event, no [DONE]; the bench's producer is a task in "
    "the peer's server process calling send_event (its listeners are per process).",
]


def cpu_count() -> int:
    return len(os.sched_getaffinity(0))


def _get(results: dict, name: str, key: str):
    return results.get(name, {}).get(key)


def _replay(results: dict, kind: str) -> Figure:
    ours = _get(results, f"W1.freddy.{kind}", "events_per_second")
    peer = _get(results, f"W1.peer.{kind}", "events_per_second")
    ratio = ours / peer if ours and peer else None
    checks = _get(results, f"W1.freddy.{kind}", "checks") or {}
    clean = checks.get("lost") == 0 and checks.get("duplicated") == 0 and checks.get("done")
    return Figure(f"W1 replay ({kind})", "events/s, 10k events from id 0 to [DONE]",
                  round(ours) if ours else None, "ev/s", ">= 100000 and >= 5x peer",
                  bool(ours and ratio and ours >= 100_000 and ratio >= 5 and clean),
                  round(peer) if peer else None, round(ratio, 2) if ratio else None,
                  "" if clean or not ours else f"stream check failed: {checks}")


def _fan_out(results: dict) -> list[Figure]:
    ours, peer = results.get("W2.freddy", {}), results.get("W2.peer", {})
    p99, peer_p99 = ms(ours.get("p99")), ms(peer.get("p99"))
    ratio = round(p99 / peer_p99, 2) if p99 and peer_p99 else None
    return [
        Figure("W2 fan-out", "latency p50", ms(ours.get("p50")), "ms", "-", None,
               ms(peer.get("p50"))),
        Figure("W2 fan-out", "latency p99 (100 readers, 100 ev/s, 10 s)", p99, "ms",
               "<= 25 and <= peer", bool(p99 is not None and p99 <= 25 and ratio
                                         and ratio <= 1), peer_p99, ratio,
               "ratio = ours/peer, lower is better"),
        Figure("W2 fan-out", "lost + duplicated frames",
               _sum(ours, "lost", "duplicated"), "frames", "0",
               _sum(ours, "lost", "duplicated") == 0, _sum(peer, "lost", "duplicated")),
    ]


def _sum(result: dict, *keys: str) -> int | None:
    if any(result.get(k) is None for k in keys):
        return None
    return sum(result[k] for k in keys)


def figures(results: dict) -> list[Figure]:
    """Every figure of the run, in workload order."""
    out = [_replay(results, "sqlite"), _replay(results, "postgres"), *_fan_out(results)]
    storm = results.get("W3.freddy", {})
    caught = storm.get("all_caught_up_seconds")
    out += [
        Figure("W3 storm", "all 1,000 caught up to the live edge", caught and round(caught, 2),
               "s", "<= 2", caught is not None and caught <= 2,
               note=f"p50 {storm.get('p50_seconds')} s; errors {storm.get('errors')}"),
        Figure("W3 storm", "gaps + duplicates", _sum(storm, "gaps", "duplicates"), "frames",
               "0", _sum(storm, "gaps", "duplicates") == 0),
    ]
    floor = results.get("W3.floor", {}).get("all_received_seconds")
    out.append(Figure(
        "W3 floor", "same 1,000 connects, trivial ASGI app on daphne (bench/floor.py)",
        floor and round(floor, 2), "s", "-", None,
        note=(f"Freddy's storm takes {caught / floor:.1f}x this floor" if caught and floor
              else "not measured")))
    ingest = results.get("W4.freddy", {})
    p99 = ms(ingest.get("p99"))
    rate = ingest.get("events_per_second")
    note = ingest.get("error", "") or (
        f"while all 200 runs were live ({ingest.get('sustained_seconds', 0):.1f} s); "
        f"whole run incl. the 200 creates at once: p99 {ms(ingest.get('whole_run_p99'))} ms, "
        f"{round(ingest.get('whole_run_events_per_second') or 0)} ev/s, wall "
        f"{ingest.get('wall_seconds', 0):.1f} s for {ingest.get('expected_seconds')} s of "
        f"tokens; incomplete runs {ingest.get('incomplete')}")
    out += [
        Figure("W4 ingest", "latency p99 (200 runs x 50 tok/s, PG+Redis, worker)", p99, "ms",
               "<= 100", p99 is not None and p99 <= 100, note=note),
        Figure("W4 ingest", "delivered events/s, all 200 runs live", rate and round(rate),
               "ev/s", "~10000 sustained", None if rate is None else rate >= 9000),
    ]
    for kind in ("sqlite", "postgres"):
        scale = results.get(f"W5.freddy.{kind}", {})
        ratio = scale.get("ratio")
        out.append(Figure(
            f"W5 scale ({kind})", "TTFB 1M rows / TTFB 10k rows", ratio and round(ratio, 2),
            "x", "<= 1.5", ratio is not None and ratio <= 1.5,
            note=f"{ms(scale.get('ttfb_small_seconds'))} ms -> "
                 f"{ms(scale.get('ttfb_large_seconds'))} ms"))
    memory, peer_memory = results.get("MEM.freddy", {}), results.get("MEM.peer", {})
    per = memory.get("kb_per_connection")
    peer_per = peer_memory.get("kb_per_connection")
    out.append(Figure("Memory", "RSS per idle stream (1,000 open)", per and round(per, 1),
                      "KiB", "<= 30", per is not None and per <= 30,
                      peer_per and round(peer_per, 1),
                      round(per / peer_per, 2) if per and peer_per else None))
    for figure in out:
        if figure.value is None and not figure.note:
            figure.note = "not measured"
    return out


def table(document: dict) -> str:
    """A plain-text table of the figures."""
    rows = [("workload", "figure", "value", "target", "met", "peer", "ratio", "note")]
    for f in document["figures"]:
        met = {True: "yes", False: "NO", None: "-"}[f["met"]]
        rows.append((f["workload"], f["name"], _fmt(f["value"], f["unit"]), f["target"], met,
                     _fmt(f["peer"], f["unit"]), _fmt(f["ratio"], "x"), f["note"]))
    widths = [max(len(str(r[i])) for r in rows) for i in range(7)]
    lines = ["  ".join(str(c).ljust(w) for c, w in zip(r, widths)) + "  " + r[7]
             for r in rows]
    return "\n".join([*lines, "", *("peer: " + n for n in document["peer_notes"])])


def _fmt(value, unit: str) -> str:
    return "-" if value is None else f"{value} {unit}"
