"""A TCP proxy that cuts every connection after a number of bytes toward the client.

It stands between a client and a real daphne: requests pass through untouched, and each
reply is cut (both sockets closed) once `cut_after_bytes` bytes of it have reached the
client, which is how a flaky network looks from the client's side.
"""

import itertools
import logging
import socket
import threading
from collections.abc import Sequence

logger = logging.getLogger(__name__)

BUFFER_BYTES = 4096
ACCEPT_POLL_SECONDS = 0.2  # how often the accept loop checks that it should stop


class CuttingProxy:
    """Forward 127.0.0.1:<port> to the upstream port, cutting replies every N bytes."""

    def __init__(self, upstream_port: int, cut_after_bytes: Sequence[int]) -> None:
        self.upstream_port = upstream_port
        self._sizes = itertools.cycle(cut_after_bytes)  # varied, so cuts land mid-frame
        self._listener = socket.create_server(("127.0.0.1", 0))
        self._listener.settimeout(ACCEPT_POLL_SECONDS)
        self.port = self._listener.getsockname()[1]
        self.connections = 0
        self.cuts = 0
        self._lock = threading.Lock()
        self._sockets: set[socket.socket] = set()
        self._threads: list[threading.Thread] = []
        self._stopping = threading.Event()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def __enter__(self) -> "CuttingProxy":
        self._spawn(self._accept_loop)
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._stopping.set()
        with self._lock:
            for sock in self._sockets:
                _close(sock)
        for thread in self._threads:
            thread.join(timeout=5)
        self._listener.close()

    def _spawn(self, target, *args) -> None:
        thread = threading.Thread(target=target, args=args, daemon=True)
        self._threads.append(thread)
        thread.start()

    def _accept_loop(self) -> None:
        while not self._stopping.is_set():
            try:
                downstream, _ = self._listener.accept()
            except TimeoutError:
                continue
            upstream = socket.create_connection(("127.0.0.1", self.upstream_port))
            with self._lock:
                self.connections += 1
                self._sockets.update({downstream, upstream})
                limit = next(self._sizes)
            self._spawn(self._pump, downstream, upstream, None)
            self._spawn(self._pump, upstream, downstream, limit)

    def _pump(self, source: socket.socket, target: socket.socket, limit: int | None) -> None:
        """Copy bytes from source to target; past `limit` bytes, cut both sockets."""
        sent = 0
        try:
            while chunk := source.recv(BUFFER_BYTES):
                if limit is not None and sent + len(chunk) >= limit:
                    target.sendall(chunk[:limit - sent])
                    with self._lock:
                        self.cuts += 1
                    break
                target.sendall(chunk)
                sent += len(chunk)
        except OSError:
            pass  # the other direction closed the pair first
        finally:
            _close(source)
            _close(target)


def _close(sock: socket.socket) -> None:
    try:
        sock.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass  # already closed or never connected
    sock.close()
