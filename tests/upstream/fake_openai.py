"""A fake OpenAI-compatible chat-completions server on loopback, scripted per prompt.

A real HTTP/1.1 server (stdlib sockets, one thread per connection, `Connection: close`)
that streams `data: {chunk}` frames and `data: [DONE]` like the OpenAI API. Each test
scripts the replies for its own prompt (the content of the request's last message), so
a late request of one test can never eat another test's script. It records every
request body and when the client closed the connection while the reply was going on.
"""

import json
import select
import socket
import socketserver
import threading
import time
from dataclasses import dataclass, field

# A stalled reply waits at most this long (or until the client leaves) so a test that
# forgets its server still ends.
STALL_BOUND_SECONDS = 30.0
# The message of an error reply (`status` other than 200).
ERROR_MESSAGE = "Scripted failure {status}"
# The message of the error event sent inside a stream (`error_after_tokens`).
STREAM_ERROR_MESSAGE = "The fake model fell over mid-answer"
# How often a waiting reply checks for the client's close and for shutdown.
POLL_SECONDS = 0.02


@dataclass
class Reply:
    """One scripted answer to one request."""

    status: int = 200
    tokens: list[str] = field(default_factory=list)
    first_token_delay_seconds: float = 0.0
    token_interval_seconds: float = 0.0
    cut_after_tokens: int | None = None  # close the socket mid-body after n tokens
    stall_after_tokens: int | None = None  # go silent (connection open) after n tokens
    usage: tuple[int, int] | None = None  # (prompt, completion); None: (7, len(tokens))
    retry_after_seconds: float | None = None
    error_after_tokens: int | None = None  # an error event in the stream after n tokens
    finish_reason: str = "stop"


@dataclass
class Call:
    """One request the fake received and what became of its connection."""

    body: dict
    started_at: float
    tokens_sent: int = 0
    client_closed_at: float | None = None  # time.monotonic() when the client left early
    client_closed: threading.Event = field(default_factory=threading.Event)

    @property
    def messages(self) -> list[dict]:
        return self.body["messages"]


def answer(text_tokens: list[str], **kwargs) -> Reply:
    return Reply(tokens=text_tokens, **kwargs)


def failure(status: int, **kwargs) -> Reply:
    return Reply(status=status, **kwargs)


class FakeOpenAI:
    """Start, script, inspect, stop."""

    def __init__(self) -> None:
        self._replies: dict[str, list[Reply]] = {}
        self._calls: dict[str, list[Call]] = {}
        self._lock = threading.Lock()
        self.stopping = threading.Event()
        self._server = _Server(("127.0.0.1", 0), _Handler)
        self._server.fake = self
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        host, port = self._server.server_address
        return f"http://{host}:{port}"

    def start(self) -> "FakeOpenAI":
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving; every reply still going ends within a poll interval."""
        self.stopping.set()
        self._server.shutdown()
        self._server.server_close()  # joins the connection threads
        self._thread.join(timeout=10)

    def script(self, prompt: str, *replies: Reply) -> None:
        """The replies, in order, to the requests whose last message is `prompt`."""
        with self._lock:
            self._replies[prompt] = list(replies)
            self._calls[prompt] = []

    def calls(self, prompt: str) -> list[Call]:
        with self._lock:
            return list(self._calls.get(prompt, []))

    def take(self, body: dict) -> tuple[Call, Reply]:
        prompt = body.get("messages", [{}])[-1].get("content", "")
        call = Call(body=body, started_at=time.monotonic())
        with self._lock:
            self._calls.setdefault(prompt, []).append(call)
            queue = self._replies.get(prompt, [])
            reply = queue.pop(0) if queue else Reply(status=404)
        return call, reply


class _Server(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True
    block_on_close = True
    fake: FakeOpenAI


class _Handler(socketserver.BaseRequestHandler):
    server: _Server

    def handle(self) -> None:
        body = self._read_request()
        if body is None:
            return
        call, reply = self.server.fake.take(body)
        try:
            if reply.status != 200:
                self._send_error(reply)
            else:
                self._send_stream(call, reply, body)
        except OSError:  # the client left while we were writing
            self._client_left(call)

    def _read_request(self) -> dict | None:
        reader = self.request.makefile("rb")
        if not reader.readline():
            return None
        headers = {}
        while (line := reader.readline()) not in (b"\r\n", b"\n", b""):
            name, _, value = line.decode("latin-1").partition(":")
            headers[name.strip().lower()] = value.strip()
        raw = reader.read(int(headers.get("content-length", "0")))
        return json.loads(raw or b"{}")

    def _send_error(self, reply: Reply) -> None:
        body = json.dumps(
            {
                "error": {
                    "message": ERROR_MESSAGE.format(status=reply.status),
                    "type": "fake_error",
                    "code": None,
                }
            }
        ).encode()
        extra = (
            f"Retry-After: {reply.retry_after_seconds:g}\r\n"
            if reply.retry_after_seconds is not None
            else ""
        )
        self.request.sendall(
            f"HTTP/1.1 {reply.status} Scripted\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(body)}\r\n{extra}Connection: close\r\n\r\n".encode()
            + body
        )

    def _send_stream(self, call: Call, reply: Reply, body: dict) -> None:
        self.request.sendall(
            b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n"
            b"Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
        )
        model = body.get("model", "")
        self._event(_chunk(model, {"role": "assistant", "content": ""}))
        if not self._wait(call, reply.first_token_delay_seconds):
            return
        if not self._send_tokens(call, reply, model):
            return
        if reply.error_after_tokens is None:
            self._event(_chunk(model, {}, finish_reason=reply.finish_reason))
        if body.get("stream_options", {}).get("include_usage"):
            prompt, completion = reply.usage or (7, len(reply.tokens))
            self._event(_usage_chunk(model, prompt, completion))
        self._write(b"data: [DONE]\n\n")
        self.request.sendall(b"0\r\n\r\n")

    def _send_tokens(self, call: Call, reply: Reply, model: str) -> bool:
        """Stream the tokens; False when the reply ended abruptly, not finished."""
        for index, token in enumerate(reply.tokens):
            if index == reply.cut_after_tokens:
                self.request.shutdown(socket.SHUT_RDWR)  # mid-body: no final chunk
                return False
            if index == reply.stall_after_tokens:
                self._wait(call, STALL_BOUND_SECONDS)
                return False
            if index == reply.error_after_tokens:
                self._event(
                    {
                        "error": {
                            "message": STREAM_ERROR_MESSAGE,
                            "type": "server_error",
                            "code": None,
                        }
                    }
                )
                return True
            if index and not self._wait(call, reply.token_interval_seconds):
                return False
            self._event(_chunk(model, {"content": token}))
            call.tokens_sent += 1
        return True

    def _event(self, payload: dict) -> None:
        self._write(b"data: " + json.dumps(payload).encode() + b"\n\n")

    def _write(self, data: bytes) -> None:
        self.request.sendall(f"{len(data):x}\r\n".encode() + data + b"\r\n")

    def _wait(self, call: Call, seconds: float) -> bool:
        """Pause; False (and the close recorded) if the client left meanwhile."""
        deadline = time.monotonic() + seconds
        while (remaining := deadline - time.monotonic()) > 0:
            if self.server.fake.stopping.is_set():
                return False
            readable, _, _ = select.select(
                [self.request], [], [], min(remaining, POLL_SECONDS)
            )
            if readable and not self._recv_some():
                self._client_left(call)
                return False
        return True

    def _recv_some(self) -> bytes:
        try:
            return self.request.recv(4096)
        except OSError:
            return b""

    @staticmethod
    def _client_left(call: Call) -> None:
        if call.client_closed_at is None:
            call.client_closed_at = time.monotonic()
            call.client_closed.set()


def _chunk(model: str, delta: dict, finish_reason: str | None = None) -> dict:
    return {
        "id": "chatcmpl-fake",
        "object": "chat.completion.chunk",
        "created": int(time.time()),
        "model": model,
        "choices": [{"index": 0, "delta": delta, "finish_reason": finish_reason}],
    }


def _usage_chunk(model: str, prompt: int, completion: int) -> dict:
    return {
        "id": "chatcmpl-fake",
        "object": "chat.completion.chunk",
        "created": int(time.time()),
        "model": model,
        "choices": [],
        "usage": {
            "prompt_tokens": prompt,
            "completion_tokens": completion,
            "total_tokens": prompt + completion,
        },
    }
