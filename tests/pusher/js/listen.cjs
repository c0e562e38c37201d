// Subscribes to one channel with the real pusher-js client and prints every
// event it receives as a JSON line, until `complete` or `error` arrives.
// Usage: node listen.cjs <key> <host> <port> <channel> <authEndpoint> [bad-signature]
const Pusher = require("pusher-js");

const [key, host, port, channel, authEndpoint, mode] = process.argv.slice(2);
const out = (item) => process.stdout.write(JSON.stringify(item) + "\n");

const options = {
  cluster: "mt1",
  wsHost: host,
  wsPort: Number(port),
  forceTLS: false,
  enabledTransports: ["ws"],
  disableStats: true,
  channelAuthorization: { endpoint: authEndpoint, transport: "ajax" },
};
if (mode === "bad-signature") {
  options.channelAuthorization = {
    customHandler: (params, callback) => callback(null, { auth: `${key}:${"0".repeat(64)}` }),
  };
}
const pusher = new Pusher(key, options);
pusher.connection.bind("error", (error) => out({ type: "connection_error", error: error.data || null }));
pusher.connection.bind("connected", () => out({ type: "connected", socket_id: pusher.connection.socket_id }));
const subscription = pusher.subscribe(channel);
subscription.bind("pusher:subscription_succeeded", () => out({ type: "subscribed" }));
subscription.bind("pusher:subscription_error", (error) => out({ type: "subscription_error", status: error.status }));
subscription.bind_global((name, data) => {
  if (name.startsWith("pusher:")) return;
  out({ type: "event", name, data });
  if (name === "complete" || name === "error") {
    pusher.disconnect();
    setTimeout(() => process.exit(0), 50);
  }
});
setTimeout(() => { out({ type: "timeout" }); process.exit(2); }, Number(process.env.LISTEN_SECONDS || 20) * 1000);
