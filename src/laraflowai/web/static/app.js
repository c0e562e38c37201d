// The chat page: the document's Livewire component and EventSource script,
// in plain JavaScript. Each message opens an EventSource on
// /api/stream-chat?task=...; the browser reconnects on its own after a
// dropped connection, sending Last-Event-ID, and the server resumes exactly
// after it. Stop asks the server to cancel the upstream request.
// In WebSocket mode (when the server delivers over the Pusher protocol) each
// message subscribes to a channel of its own, then asks the server to stream
// into it (POST api/stream-chat-websocket); a dropped socket reconnects and
// resumes after the last event id.
// The page keeps one conversation (its id in localStorage): each question is
// sent with its id, so the server answers with the turns before it and keeps
// the new turn; a reload shows the turns again; "New conversation" forgets it.

import { renderMarkdown } from "./markdown.js";
import { PusherSocket } from "./pusher.js";

const $ = (id) => document.getElementById(id);
const messages = $("messages");
const composer = $("composer");
const input = $("message");
const sendButton = $("send");
const stopButton = $("stop");
const statusLine = $("status");
const tokenForm = $("token-form");
const tokenInput = $("token");
const modelLabel = $("model");
const modeSelect = $("mode");
const newButton = $("new-conversation");
const CONVERSATION_KEY = "laraflowai.conversation";

let current = null;
let socketConfig = null;
let socket = null;

function setStatus(text, kind = "") {
  statusLine.textContent = text;
  statusLine.dataset.kind = kind;
}

function addMessage(role, text) {
  const article = document.createElement("article");
  article.className = `message ${role}`;
  const who = document.createElement("div");
  who.className = "who";
  who.textContent = role === "user" ? "You" : "Assistant";
  const body = document.createElement("div");
  body.className = "body";
  body.textContent = text;
  article.append(who, body);
  messages.append(article);
  article.scrollIntoView({ block: "end" });
  return { article, body };
}

function note(article, className, text) {
  const line = document.createElement("div");
  line.className = className;
  line.textContent = text;
  if (className === "error") line.setAttribute("role", "alert");
  article.append(line);
}

function savedConversation() {
  try {
    return localStorage.getItem(CONVERSATION_KEY);
  } catch {
    return null; // storage turned off: one conversation per page load
  }
}

let conversationId = savedConversation();

function keepConversation(id) {
  conversationId = id;
  try {
    if (id) localStorage.setItem(CONVERSATION_KEY, id);
    else localStorage.removeItem(CONVERSATION_KEY);
  } catch {
    // Kept for this page only.
  }
}

async function ensureConversation() {
  if (conversationId) return conversationId;
  const response = await fetch("api/conversations", { method: "POST" });
  if (!response.ok) return null; // answered without history
  keepConversation((await response.json()).conversation_id);
  return conversationId;
}

async function showConversation() {
  if (!conversationId) return;
  const response = await fetch(`api/conversations/${encodeURIComponent(conversationId)}`);
  if (response.status === 404 || response.status === 400) {
    keepConversation(null); // expired or deleted: start anew
    return;
  }
  if (!response.ok) return;
  const conversation = await response.json();
  for (const message of conversation.messages) {
    if (message.role !== "user" && message.role !== "assistant") continue;
    const view = addMessage(message.role, message.role === "user" ? message.content : "");
    if (message.role === "assistant") {
      renderMarkdown(message.content, view.body);
      view.article.dataset.state = "done";
      view.article.dataset.restored = "true";
    }
  }
  messages.dataset.conversation = "shown";
}

class ChatStream {
  constructor(mode) {
    this.content = "";
    this.streamId = null;
    this.done = false;
    this.scheduled = false;
    this.mode = mode;
    this.view = addMessage("assistant", "");
    this.view.article.classList.add("streaming");
    this.view.article.dataset.mode = mode;
  }

  open(task, conversation) {
    if (this.done) return; // stopped before it started
    this.conversation = conversation;
    if (this.mode === "websocket") {
      this.openSocket(task);
    } else {
      this.openEventSource(task);
    }
  }

  openEventSource(task) {
    let url = `api/stream-chat?task=${encodeURIComponent(task)}`;
    if (this.conversation) url += `&conversation_id=${encodeURIComponent(this.conversation)}`;
    this.source = new EventSource(url);
    this.source.onopen = () => {
      if (!this.done) setStatus("");
      this.view.article.classList.remove("reconnecting");
    };
    this.source.onmessage = (event) => this.handle(JSON.parse(event.data));
    this.source.onerror = () => this.lost();
  }

  async openSocket(task) {
    socket ??= new PusherSocket(socketConfig.key);
    const id = crypto.randomUUID();
    this.channel = `${socketConfig.channel_prefix}${id}`;
    const channel = this.channel;
    const subscribed = socket.subscribe(
      channel,
      (event, data) => this.handle({ ...data, type: event }),
      (error) => this.fail(error.message || "The WebSocket subscription was refused."),
    );
    socket.channels.get(channel).onReconnecting = () => {
      this.view.article.classList.add("reconnecting");
      setStatus("Connection lost, reconnecting…", "warn");
    };
    const original = socket.channels.get(channel).onSubscribed;
    socket.channels.get(channel).onSubscribed = () => {
      original?.();
      this.view.article.classList.remove("reconnecting");
      if (!this.done) setStatus("");
    };
    await subscribed;
    const response = await fetch("api/stream-chat-websocket", {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ task, channel: id, conversation_id: this.conversation ?? undefined }),
    });
    if (!response.ok) {
      const body = await response.json().catch(() => ({}));
      this.fail(body.error?.message || "The server could not start the answer.");
    }
  }

  handle(data) {
    if (this.done) return;
    if (data.type === "start") {
      this.streamId = data.stream_id;
      this.view.article.dataset.streamId = data.stream_id;
      if (data.provider) modelLabel.textContent = `${data.provider}/${data.model}`;
    } else if (data.type === "chunk") {
      this.content += data.chunk;
      this.schedule();
    } else if (data.type === "complete") {
      this.finish(data.stopped ? "Stopped." : "");
    } else if (data.type === "error") {
      this.fail(data.message || "The answer could not be completed.");
    }
  }

  schedule() {
    if (this.scheduled) return;
    this.scheduled = true;
    requestAnimationFrame(() => {
      this.scheduled = false;
      if (!this.done) this.render();
    });
  }

  render() {
    renderMarkdown(this.content, this.view.body);
    this.view.article.scrollIntoView({ block: "end" });
  }

  lost() {
    if (this.done) return;
    if (this.source.readyState === EventSource.CONNECTING) {
      this.view.article.classList.add("reconnecting");
      setStatus("Connection lost, reconnecting…", "warn");
    } else if (this.streamId === null && this.conversation) {
      this.refused(); // never started: perhaps the conversation is gone
    } else {
      this.fail("The connection was lost and the answer could not be resumed.");
    }
  }

  async refused() {
    this.source.close();
    let gone = false;
    try {
      const response = await fetch(`api/conversations/${encodeURIComponent(this.conversation)}`);
      gone = response.status === 404;
    } catch {
      // The server is unreachable: say so below.
    }
    if (!gone) {
      this.fail("The connection was lost and the answer could not be resumed.");
      return;
    }
    if (conversationId === this.conversation) keepConversation(null);
    this.fail("This conversation has ended on the server; send your message again to start a new one.");
  }

  async stop() {
    if (this.done) return;
    stopButton.disabled = true;
    if (this.streamId === null) {
      this.finish("Stopped.");
      return;
    }
    try {
      await fetch(`api/stream-chat/${encodeURIComponent(this.streamId)}/stop`, { method: "POST" });
    } catch {
      // The server will still cancel it once nobody follows the stream.
    }
    // The final event normally arrives first; don't wait for it forever.
    setTimeout(() => this.finish("Stopped."), 2000);
  }

  end() {
    this.done = true;
    this.source?.close();
    if (this.channel) socket?.unsubscribe(this.channel);
    this.render();
    this.view.article.classList.remove("streaming", "reconnecting");
    this.view.article.dataset.state = "done";
    if (current === this) {
      current = null;
      sendButton.disabled = false;
      stopButton.disabled = true;
      newButton.disabled = false;
    }
  }

  finish(message) {
    if (this.done) return;
    this.end();
    setStatus("");
    if (message) note(this.view.article, "note", message);
  }

  fail(message) {
    if (this.done) return;
    this.end();
    note(this.view.article, "error", message);
    setStatus(message, "error");
  }
}

async function send(task) {
  addMessage("user", task);
  sendButton.disabled = true;
  stopButton.disabled = false;
  newButton.disabled = true;
  setStatus("");
  const mode = socketConfig && modeSelect.value === "websocket" ? "websocket" : "sse";
  const stream = new ChatStream(mode);
  current = stream;
  let conversation = null;
  try {
    conversation = await ensureConversation();
  } catch {
    // Answered without history.
  }
  stream.open(task, conversation);
}

newButton.addEventListener("click", () => {
  if (current) return;
  const old = conversationId;
  keepConversation(null);
  messages.replaceChildren();
  setStatus("");
  // Nobody can read it again without its id: let the server forget it now.
  if (old) fetch(`api/conversations/${encodeURIComponent(old)}`, { method: "DELETE" }).catch(() => {});
});

composer.addEventListener("submit", (event) => {
  event.preventDefault();
  const task = input.value.trim();
  if (!task || current) return;
  input.value = "";
  send(task);
});

input.addEventListener("keydown", (event) => {
  if (event.key === "Enter" && !event.shiftKey && !event.isComposing) {
    event.preventDefault();
    composer.requestSubmit();
  }
});

stopButton.addEventListener("click", () => current?.stop());

async function signIn(token) {
  const response = await fetch("api/session", {
    method: "POST",
    headers: { Authorization: `Bearer ${token}` },
  });
  return response.ok;
}

tokenForm.addEventListener("submit", async (event) => {
  event.preventDefault();
  if (await signIn(tokenInput.value)) {
    tokenInput.value = "";
    tokenForm.hidden = true;
    setStatus("");
    await showConversation();
  } else {
    setStatus("That is not this server's token.", "error");
  }
});

async function checkSession() {
  // A token in the fragment (#token=...) never reaches the server's logs.
  const fragment = new URLSearchParams(location.hash.slice(1));
  const token = fragment.get("token");
  if (token) {
    history.replaceState(null, "", location.pathname + location.search);
    await signIn(token);
  }
  try {
    const session = await (await fetch("api/session")).json();
    if (session.auth_required && !session.authenticated) {
      tokenForm.hidden = false;
      setStatus("Sign in with the server's API token to chat.", "warn");
    }
  } catch {
    setStatus("The server could not be reached.", "error");
  }
}

async function checkWebSocket() {
  try {
    const response = await fetch("api/websocket");
    if (!response.ok) return;
    const config = await response.json();
    if (config.enabled && config.served_here) {
      socketConfig = config;
      modeSelect.hidden = false;
    }
  } catch {
    // SSE only.
  }
}

checkSession().then(checkWebSocket).then(showConversation).catch(() => {});
