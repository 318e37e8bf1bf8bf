from channels.management.commands import runworker

from streaming.consumers import ResilientWorker


class Command(runworker.Command):
    help = "Execute runs sent to the given channels; survives Redis outages."

    worker_class = ResilientWorker
