"""`python -m freddy.client tail THREAD_ID`: print a thread's answer as it streams.

The text goes to stdout as it arrives; progress (connections, drops, the end) to stderr.
Exit status: 0 completed or cancelled, 1 the run failed, 3 the stream could not be read.
"""

import argparse
import logging
import os
import sys
from collections.abc import Sequence

from freddy.client.events import ContentDelta, Event, ResponseCompleted, ResponseFailed
from freddy.client.resume import FreddyError, RetryPolicy
from freddy.client.sync import FreddyClient

logger = logging.getLogger("freddy.client.tail")

EXIT_FAILED_RUN = 1
EXIT_NO_STREAM = 3


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m freddy.client",
                                     description="Command-line client of Freddy streams.")
    commands = parser.add_subparsers(dest="command", required=True)
    tail = commands.add_parser("tail", help="Print a thread's response as it streams.")
    tail.add_argument("thread_id")
    tail.add_argument("--last-event-id", type=int, default=None,
                      help="Start after this event (default: the run's first event).")
    tail.add_argument("--base-url", default=os.environ.get("FREDDY_BASE_URL",
                                                           "http://127.0.0.1:8000"))
    tail.add_argument("--api-key", default=os.environ.get("FREDDY_API_KEY"))
    tail.add_argument("--max-retries", type=int, default=RetryPolicy.max_retries,
                      help="Reconnects in a row without a new event before giving up.")
    tail.add_argument("--backoff-seconds", type=float, default=RetryPolicy.backoff_seconds)
    args = parser.parse_args(argv)
    if not args.api_key:
        parser.error("an API key is needed: --api-key or FREDDY_API_KEY")
    return args


def write_event(event: Event, printed: list[str]) -> None:
    """Print the text an event adds; a synthesized end prints what the deltas missed."""
    text = ""
    if isinstance(event, ContentDelta):
        text = event.delta
    elif isinstance(event, ResponseCompleted) and event.synthesized:
        so_far = "".join(printed)
        text = event.text[len(so_far):] if event.text.startswith(so_far) else ""
    if text:
        printed.append(text)
        sys.stdout.write(text)
        sys.stdout.flush()


def tail(args: argparse.Namespace) -> int:
    """Stream the thread to its end; the exit status."""
    retry = RetryPolicy(max_retries=args.max_retries, backoff_seconds=args.backoff_seconds)
    printed: list[str] = []
    last: Event | None = None
    with FreddyClient(args.base_url, args.api_key, retry=retry) as client:
        logger.info("tailing %s at %s", args.thread_id, args.base_url)
        try:
            for last in client.stream(args.thread_id, args.last_event_id):
                write_event(last, printed)
        except FreddyError as exc:
            sys.stdout.write("\n")
            logger.error("stopped: %s", exc)
            return EXIT_NO_STREAM
    sys.stdout.write("\n")
    sys.stdout.flush()
    if last is None:
        logger.info("nothing after event %s: the run had already ended", args.last_event_id)
        return 0
    logger.info("%s (last event %d)", last.event, last.sequence_number)
    if isinstance(last, ResponseFailed):
        logger.error("the run failed: %s %s", last.code, last.message)
        return EXIT_FAILED_RUN
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    logging.basicConfig(stream=sys.stderr, level=logging.INFO, format="[freddy] %(message)s")
    # httpx logs every request at INFO: too chatty next to the stream's own progress.
    logging.getLogger("httpx").setLevel(logging.WARNING)
    return tail(args)


if __name__ == "__main__":
    sys.exit(main())
