// Server-Sent Events read with fetch: frames parsed off a ReadableStream by hand, so the
// API key can travel in a header (EventSource cannot send one).

/** Parse one frame (the text between blank lines) into {id, data, retry, comment}. */
export function parseFrame(block) {
  const frame = { id: null, data: null, retry: null, comment: null };
  for (const line of block.split("\n")) {
    if (line.startsWith(":")) { frame.comment = line.slice(1).trim(); continue; }
    const colon = line.indexOf(":");
    const name = colon < 0 ? line : line.slice(0, colon);
    let value = colon < 0 ? "" : line.slice(colon + 1);
    if (value.startsWith(" ")) value = value.slice(1);
    if (name === "id" && /^\d+$/.test(value)) frame.id = Number(value);
    else if (name === "data") frame.data = frame.data === null ? value : `${frame.data}\n${value}`;
    else if (name === "retry" && /^\d+$/.test(value)) frame.retry = Number(value);
  }
  return frame;
}

/**
 * Yield the complete frames of a response body, one array per network chunk, so a
 * replayed backlog (many frames in one chunk) is handled, and rendered, in one go.
 * A frame cut in half by a dropped connection is never yielded.
 */
export async function* readFrames(body) {
  const reader = body.getReader();
  const decoder = new TextDecoder();
  let buffer = "";
  try {
    for (;;) {
      const { value, done } = await reader.read();
      if (done) return;
      buffer = (buffer + decoder.decode(value, { stream: true })).replace(/\r\n/g, "\n");
      const frames = [];
      let end;
      while ((end = buffer.indexOf("\n\n")) >= 0) {
        frames.push(parseFrame(buffer.slice(0, end)));
        buffer = buffer.slice(end + 2);
      }
      yield frames;
    }
  } finally {
    reader.cancel().catch(() => {}); // already aborted or closed: nothing left to release
  }
}
