// A small client of the Pusher Channels protocol (version 7), enough for the
// chat page: one connection to this server's /app/<key>, private channels
// signed by broadcasting/auth, ping/pong, and reconnection that resumes each
// channel after the last event id it saw (an extension of pusher:subscribe
// that Pusher itself ignores).

export class PusherSocket {
  constructor(key, { activityTimeout = 120 } = {}) {
    this.key = key;
    this.activityTimeout = activityTimeout;
    this.socketId = null;
    this.channels = new Map(); // name -> { onEvent, lastEventId, onSubscribed }
    this.closed = false;
    this.retries = 0;
    this.ready = new Promise((resolve) => (this.markReady = resolve));
    this.connect();
  }

  connect() {
    const scheme = location.protocol === "https:" ? "wss" : "ws";
    const base = new URL(".", location.href).pathname;
    const url = `${scheme}://${location.host}${base}app/${encodeURIComponent(this.key)}` +
      "?protocol=7&client=laraflowai-page&version=1";
    this.socket = new WebSocket(url);
    this.socket.onmessage = (message) => this.receive(JSON.parse(message.data));
    this.socket.onclose = () => this.lost();
    this.socket.onerror = () => {};
  }

  receive(message) {
    this.lastActivity = Date.now();
    const data = typeof message.data === "string" && message.data.startsWith("{")
      ? JSON.parse(message.data) : message.data;
    switch (message.event) {
      case "pusher:connection_established":
        this.socketId = data.socket_id;
        this.retries = 0;
        this.activityTimeout = data.activity_timeout || this.activityTimeout;
        this.keepAlive();
        this.markReady();
        for (const name of this.channels.keys()) this.join(name);
        return;
      case "pusher:ping":
        this.send("pusher:pong", {});
        return;
      case "pusher:pong":
        return;
      case "pusher:error":
        for (const channel of this.channels.values()) channel.onError?.(data);
        return;
      case "pusher_internal:subscription_succeeded":
        this.channels.get(message.channel)?.onSubscribed?.();
        return;
      default: {
        const channel = this.channels.get(message.channel);
        if (!channel) return;
        if (data && data.id) channel.lastEventId = data.id;
        channel.onEvent(message.event, data);
      }
    }
  }

  send(event, data) {
    if (this.socket.readyState === WebSocket.OPEN) {
      this.socket.send(JSON.stringify({ event, data }));
    }
  }

  // Resolves once the server confirms the subscription.
  subscribe(name, onEvent, onError) {
    return new Promise((resolve) => {
      this.channels.set(name, { onEvent, onError, lastEventId: null, onSubscribed: resolve });
      if (this.socketId) this.join(name);
    });
  }

  unsubscribe(name) {
    if (this.channels.delete(name)) this.send("pusher:unsubscribe", { channel: name });
  }

  async join(name) {
    const channel = this.channels.get(name);
    const response = await fetch("broadcasting/auth", {
      method: "POST",
      headers: { "Content-Type": "application/x-www-form-urlencoded" },
      body: new URLSearchParams({ socket_id: this.socketId, channel_name: name }),
    });
    if (!response.ok) {
      channel?.onError?.({ message: "The server refused to sign this channel." });
      return;
    }
    const { auth } = await response.json();
    const data = { channel: name, auth };
    if (channel?.lastEventId) data.last_event_id = channel.lastEventId;
    this.send("pusher:subscribe", data);
  }

  keepAlive() {
    clearInterval(this.timer);
    this.lastActivity = Date.now();
    this.timer = setInterval(() => {
      if (Date.now() - this.lastActivity > this.activityTimeout * 1000) {
        this.send("pusher:ping", {});
        this.lastActivity = Date.now();
      }
    }, 5000);
  }

  lost() {
    clearInterval(this.timer);
    this.socketId = null;
    if (this.closed) return;
    const delay = Math.min(1000 * 2 ** this.retries, 10000);
    this.retries += 1;
    for (const channel of this.channels.values()) channel.onReconnecting?.();
    setTimeout(() => this.connect(), delay);
  }

  close() {
    this.closed = true;
    clearInterval(this.timer);
    this.socket.close();
  }
}
