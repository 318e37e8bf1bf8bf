// The chat page: key, threads, messages, and one answer streamed with RunStream.
import { ApiError, apiError, RunStream } from "./stream.js";

const $ = (id) => document.getElementById(id);
const KEY = "freddy.apiKey";
const THREAD = "freddy.threadId";
const RUN = "freddy.run"; // {threadId, responseId, lastEventId, text}: resume point across reloads
const MESSAGES_SHOWN = 100;

const session = {
  get: (name) => JSON.parse(sessionStorage.getItem(name) ?? "null"),
  set: (name, value) => {
    try { sessionStorage.setItem(name, JSON.stringify(value)); }
    catch (error) { log(`could not save ${name}: ${error.message}`); } // quota: only reloads suffer
  },
  drop: (name) => sessionStorage.removeItem(name),
};

let current = null; // {stream, element, text, preview, counts}

function log(text) {
  const item = document.createElement("li");
  item.textContent = `${new Date().toISOString().slice(11, 23)} ${text}`;
  $("log").prepend(item);
}

function showError(text) {
  $("error").textContent = text || "";
  $("error").hidden = !text;
}

async function api(path, { method = "GET", body } = {}) {
  const headers = { "X-API-Key": session.get(KEY) || "" };
  if (body !== undefined) headers["Content-Type"] = "application/json";
  const response = await fetch(path, { method, headers, body: body && JSON.stringify(body) });
  if (!response.ok) throw await apiError(response);
  return response.json();
}

// --- Rendering ---------------------------------------------------------------------

function renderMessage({ id, role, content, status, response_id: responseId }) {
  const article = document.createElement("article");
  article.className = `msg msg-${role}`;
  if (id) article.dataset.id = id;
  if (responseId) article.dataset.responseId = responseId;
  const header = document.createElement("header");
  const body = document.createElement("div");
  body.className = "content";
  body.textContent = content; // text only: the answer is never parsed as HTML
  article.append(header, body);
  setMessageStatus(article, role, status);
  $("messages").append(article);
  return article;
}

function setMessageStatus(article, role, status) {
  article.querySelector("header").textContent = `${role} · ${status}`;
  article.classList.toggle("streaming", status === "in_progress");
  article.dataset.status = status;
}

function setState(state, detail = "") {
  $("conn-state").dataset.state = state;
  $("conn-state").textContent = detail ? `${state} ${detail}` : state;
}

function renderCounts() {
  const { stream, counts } = current;
  $("last-event-id").textContent = stream.lastEventId || "–";
  $("replayed").textContent = counts.replay;
  $("live").textContent = counts.live;
  $("reconnects").textContent = stream.reconnects;
}

// --- The answer being streamed -----------------------------------------------------

function onEvents(events) {
  for (const event of events) {
    current.counts[event.source === "replay" ? "replay" : "live"] += 1;
    if (event.event === "response.created") current.element.dataset.responseId = event.response_id;
    else if (event.event === "response.content_delta") current.text += event.delta;
    else if (event.event === "response.completed") finishAnswer(event, "completed");
    else if (event.event === "response.error") finishAnswer(event, "failed");
    else if (event.event === "response.cancelled") finishAnswer(event, "cancelled");
  }
  // Once the stream has caught up with a preview (the saved message), it takes over.
  const text = current.text;
  const preview = current.preview;
  const shown = preview && text.length < preview.length && preview.startsWith(text) ? preview : text;
  current.element.querySelector(".content").textContent = shown;
  if (!current.done) {
    session.set(RUN, { threadId: current.stream.threadId, responseId: current.stream.responseId,
                       lastEventId: current.stream.lastEventId, text });
  }
  renderCounts();
}

function finishAnswer(event, status) {
  current.done = true;
  session.drop(RUN);
  setMessageStatus(current.element, "assistant", status);
  const full = (event.response || []).map((part) => part.text || "").join("");
  if (event.event === "response.completed" && event.synthesized) {
    current.text = full; // the buffer expired: the saved message is all there is
  } else if (event.event === "response.completed" && full !== current.text) {
    $("integrity").textContent = `The streamed text differs from the final text (${current.text.length} vs ${full.length} characters).`;
    $("integrity").hidden = false;
  }
  if (event.event === "response.error") showError(`The run failed: ${event.code}: ${event.message}`);
  refreshThreadStatus();
}

function follow({ threadId, element, lastEventId = 0, responseId = null, text = "", preview = "" }) {
  current?.stream.stop();
  const stream = new RunStream({
    threadId, lastEventId, responseId, apiKey: session.get(KEY),
    onEvents, onLog: log,
    onState: (state, detail) => { setState(state, detail); if (current) renderCounts(); },
    resolveLostCreate: () => resolveLostCreate(threadId),
  });
  current = { stream, element, text, preview, done: false, counts: { replay: 0, live: 0 } };
  return stream;
}

// --- Actions -----------------------------------------------------------------------

async function openThread(threadId) {
  current?.stream.stop();
  current = null;
  session.set(THREAD, threadId);
  $("thread-select").value = threadId;
  $("messages").replaceChildren();
  showError("");
  const thread = await api(`/v1/threads/${threadId}`);
  $("thread-status").textContent = `${thread.status} · ${thread.message_count} messages`;
  const page = await api(`/v1/threads/${threadId}/messages?order=desc&limit=${MESSAGES_SHOWN}`);
  const elements = page.data.reverse().map(renderMessage);
  const saved = session.get(RUN);
  // A run this tab was showing that ended during the reload: finish it from the stream.
  const active = page.active_run || (saved?.threadId === threadId
    && elements.some((e) => e.dataset.responseId === saved.responseId)
    && { response_id: saved.responseId, last_event_id: "its end" });
  if (!active) { setState("idle"); return; }
  const element = elements.find((e) => e.dataset.responseId === active.response_id)
    || renderMessage({ role: "assistant", content: "", status: "in_progress", response_id: active.response_id });
  if (saved && saved.threadId === threadId && saved.responseId === active.response_id) {
    log(`resuming ${active.response_id} from event ${saved.lastEventId} (server at ${active.last_event_id})`);
    element.querySelector(".content").textContent = saved.text;
    follow({ threadId, element, lastEventId: saved.lastEventId, responseId: active.response_id, text: saved.text }).run();
  } else {
    // The saved message may already hold text past last_event_id: replay it all, exactly.
    log(`resuming ${active.response_id}: replaying from the first event (server at ${active.last_event_id})`);
    const preview = element.querySelector(".content").textContent;
    follow({ threadId, element, responseId: active.response_id, preview }).run();
  }
}

async function resolveLostCreate(threadId) {
  // The create saves the user's message before answering: more messages means it ran.
  const thread = await api(`/v1/threads/${threadId}`).catch(() => null);
  if (thread && thread.message_count > current.messageCountBefore) return (signal) => current.stream.reconnect(signal);
  log("the create never arrived; sending it again");
  return current.createRequest;
}

async function send(event) {
  event.preventDefault();
  showError("");
  const threadId = session.get(THREAD) || (await newThread());
  const before = await api(`/v1/threads/${threadId}`);
  const text = $("prompt").value;
  const body = { model: $("model").value || "echo", thread_id: threadId, stream: true,
                 inputs: [{ role: "user", content: text }],
                 model_options: { token_delay_ms: Number($("token-delay").value || 0) } };
  renderMessage({ role: "user", content: text, status: "completed" });
  const element = renderMessage({ role: "assistant", content: "", status: "in_progress" });
  $("prompt").value = "";
  const stream = follow({ threadId, element });
  current.messageCountBefore = before.message_count;
  current.createRequest = (signal) => fetch("/v1/model/response", {
    method: "POST", signal, body: JSON.stringify(body),
    headers: { "X-API-Key": session.get(KEY), "Content-Type": "application/json" } });
  const error = await stream.run(current.createRequest);
  if (error instanceof ApiError && error.code === "CONFLICT") {
    showError("A run is already streaming on this thread: following it instead.");
    await openThread(threadId);
  } else if (error) {
    showError(error.message);
  }
}

async function newThread() {
  const thread = await api("/v1/threads", { method: "POST", body: { title: `Chat ${new Date().toLocaleString()}` } });
  await loadThreads();
  await openThread(thread.id);
  return thread.id;
}

async function loadThreads() {
  const page = await api("/v1/threads?limit=100");
  const select = $("thread-select");
  select.replaceChildren(new Option("(pick a thread)", ""));
  for (const thread of page.data) {
    select.append(new Option(`${thread.title || thread.id} · ${thread.status}`, thread.id));
  }
  select.value = session.get(THREAD) || "";
}

async function refreshThreadStatus() {
  const thread = await api(`/v1/threads/${session.get(THREAD)}`).catch(() => null);
  if (!thread) return;
  $("thread-status").textContent = `${thread.status} · ${thread.message_count} messages`;
  const option = $("thread-select").selectedOptions[0];
  if (option?.value === thread.id) option.text = `${thread.title || thread.id} · ${thread.status}`;
}

async function cancelRun() {
  const threadId = session.get(THREAD);
  if (threadId) log(`cancel: ${(await api(`/v1/model/response/${threadId}/cancel`, { method: "POST", body: {} })).status}`);
}

function guard(action) {
  return (...args) => action(...args).catch((error) => { showError(error.message); log(error.message); });
}

function start() {
  $("api-key").value = session.get(KEY) || "";
  $("key-form").addEventListener("submit", guard(async (event) => {
    event.preventDefault();
    session.set(KEY, $("api-key").value.trim());
    showError("");
    await loadThreads();
  }));
  $("refresh-threads").addEventListener("click", guard(loadThreads));
  $("new-thread").addEventListener("click", guard(newThread));
  $("thread-select").addEventListener("change", guard(async () => {
    if ($("thread-select").value) await openThread($("thread-select").value);
  }));
  $("prompt-form").addEventListener("submit", guard(send));
  $("drop").addEventListener("click", () => { log("drop connection pressed"); current?.stream.drop(); });
  $("cancel").addEventListener("click", guard(cancelRun));
  // Back online: retry now rather than at the end of the backoff.
  window.addEventListener("online", () => current?.stream.wake());
  if (session.get(KEY)) {
    guard(async () => {
      await loadThreads();
      if (session.get(THREAD)) await openThread(session.get(THREAD));
    })();
  }
}

start();
