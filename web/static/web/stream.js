// One run's stream that resumes by itself: after a drop it reconnects with backoff
// from the last sequence number it saw, and drops anything at or below it.
import { readFrames } from "./sse.js";

const TERMINAL = new Set(["response.completed", "response.error", "response.cancelled"]);
// Statuses worth another try: busy or restarting servers and proxies.
const RETRYABLE = new Set([408, 425, 429, 500, 502, 503, 504]);
// First pause after a drop; it doubles up to the server's `retry:` hint (3000 ms).
const FIRST_BACKOFF_MS = 250;
// The server sends `: keep-alive` at least every 15 s: a connection silent for this
// long is dead without having said so (a cut that sent no FIN), so it is dropped.
const SILENCE_LIMIT_MS = 45000;

export class ApiError extends Error {
  constructor(status, code, message) {
    super(`${status} ${code}: ${message}`);
    Object.assign(this, { status, code });
  }
}

export async function apiError(response) {
  try {
    const { error } = await response.json();
    return new ApiError(response.status, error.code, error.message);
  } catch {
    return new ApiError(response.status, "HTTP_ERROR", response.statusText);
  }
}

export class RunStream {
  /**
   * threadId, apiKey, lastEventId (0: from the first event), responseId (null: unknown
   * yet), and callbacks: onEvents(newEvents), onState(state, detail), onLog(text),
   * resolveLostCreate() -> request function, for a create that failed before answering.
   */
  constructor(options) {
    Object.assign(this, { lastEventId: 0, responseId: null, retryMs: 3000 }, options);
    Object.assign(this, { failures: 0, reconnects: 0, finished: false, stopped: false });
    this.answered = false;
    this.wake = () => {};
  }

  /** Run to the end; `first` is a request function (signal) => fetch, else a reconnect. */
  async run(first = null) {
    let request = first || ((signal) => this.reconnect(signal));
    this.answered = !first;
    while (!this.finished && !this.stopped) {
      const error = await this.attempt(request);
      if (this.finished || this.stopped) break;
      if (error instanceof ApiError && !RETRYABLE.has(error.status)) {
        this.onState("error", error.message);
        return error;
      }
      this.failures += 1;
      this.reconnects += 1;
      const delay = this.backoff();
      this.onState("reconnecting", `in ${(delay / 1000).toFixed(1)} s from event ${this.lastEventId}`);
      this.onLog(`dropped (${error.message || error}); retry in ${delay} ms from event ${this.lastEventId}`);
      await this.sleep(delay);
      if (!this.answered && first && !(error instanceof ApiError)) {
        request = await this.resolveLostCreate(); // the create may or may not have arrived
        this.answered = request !== first;
      } else if (this.answered) {
        request = (signal) => this.reconnect(signal);
      }
    }
    if (this.finished) this.onState("done", `last event ${this.lastEventId}`);
    return null;
  }

  /** One connection: read it to its end; the error that ended it early, if any. */
  async attempt(request) {
    this.controller = new AbortController();
    this.onState(this.reconnects ? "reconnecting" : "connecting", `from event ${this.lastEventId}`);
    let watchdog = null;
    const arm = () => {
      clearTimeout(watchdog);
      watchdog = setTimeout(() => this.controller.abort(new Error("silent connection")), SILENCE_LIMIT_MS);
    };
    try {
      arm();
      const response = await request(this.controller.signal);
      if (!response.ok) return await apiError(response);
      this.answered = true;
      this.onState("open", `from event ${this.lastEventId}`);
      for await (const frames of readFrames(response.body)) {
        arm();
        this.handle(frames);
        if (this.finished || this.stopped) return null;
      }
      return new Error("the stream ended before [DONE]");
    } catch (error) {
      return this.controller.signal.reason || error;
    } finally {
      clearTimeout(watchdog);
    }
  }

  /** Take a chunk of frames: drop duplicates, note the cursor, hand on the new events. */
  handle(frames) {
    const fresh = [];
    for (const frame of frames) {
      if (frame.retry) this.retryMs = frame.retry;
      if (frame.data === null || this.finished) continue;
      if (frame.data === "[DONE]") { this.finished = true; continue; }
      const event = JSON.parse(frame.data);
      if (event.sequence_number <= this.lastEventId) continue; // seen before the drop
      if (this.responseId && event.response_id !== this.responseId) {
        this.onLog(`the thread moved on to ${event.response_id}; stopping`);
        this.finished = true;
        continue;
      }
      this.responseId = event.response_id;
      this.lastEventId = event.sequence_number;
      this.failures = 0; // progress: the backoff starts again
      fresh.push(event);
      if (TERMINAL.has(event.event)) this.finished = true;
    }
    if (fresh.length) this.onEvents(fresh);
  }

  reconnect(signal) {
    const url = `/v1/model/response/${encodeURIComponent(this.threadId)}/stream?last_event_id=${this.lastEventId}`;
    return fetch(url, { headers: { "X-API-Key": this.apiKey, Accept: "text/event-stream" }, signal, cache: "no-store" });
  }

  backoff() {
    const base = Math.min(this.retryMs, FIRST_BACKOFF_MS * 2 ** (this.failures - 1));
    return Math.round(base * (0.8 + Math.random() * 0.4)); // jitter: cut clients spread out
  }

  sleep(ms) {
    return new Promise((resolve) => {
      const timer = setTimeout(resolve, ms);
      this.wake = () => { clearTimeout(timer); resolve(); };
    });
  }

  /** Simulate a network cut: abort the connection; the loop reconnects by itself. */
  drop() {
    this.controller?.abort(new Error("dropped by hand"));
  }

  /** Stop for good (another thread was opened). */
  stop() {
    this.stopped = true;
    this.controller?.abort(new Error("stopped"));
    this.wake();
  }
}
