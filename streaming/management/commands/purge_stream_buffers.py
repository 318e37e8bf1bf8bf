from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from streaming.services import buffer_purge_expired, runs_fail_stale


class Command(BaseCommand):
    help = "End stale runs, then delete the stored events of runs whose buffer expired."

    def add_arguments(self, parser):
        parser.add_argument("--dry-run", action="store_true",
                            help="Count what would be deleted; delete nothing.")
        parser.add_argument("--older-than", type=float, default=None, metavar="SECONDS",
                            help="Buffer age to purge (default FREDDY_STREAM_BUFFER_TTL_SECONDS).")
        parser.add_argument("--batch-size", type=int, default=None,
                            help="Rows per DELETE (default FREDDY_PURGE_BATCH_EVENTS).")

    def handle(self, *args, dry_run, older_than, batch_size, **options):
        if older_than is not None and older_than < 0:
            raise CommandError("--older-than must be 0 or more seconds.")
        if batch_size is not None and batch_size < 1:
            raise CommandError("--batch-size must be at least 1.")
        if not dry_run and (stale := runs_fail_stale()):
            self.stdout.write(f"Ended {stale} stale runs.")
        runs, events = buffer_purge_expired(
            older_than_seconds=(settings.FREDDY_STREAM_BUFFER_TTL_SECONDS
                                if older_than is None else older_than),
            batch_size=batch_size or settings.FREDDY_PURGE_BATCH_EVENTS,
            dry_run=dry_run,
        )
        verb = "Would remove" if dry_run else "Removed"
        self.stdout.write(f"{verb} {events} events of {runs} runs.")
