// Sends useChat's request with the `ai` package's own transport (the one
// useChat uses) and reads the answer with its own UI message stream reader.
// Usage: node read_ui_stream.mjs <url> <messages-json> [headers-json] [body-json]
// (body-json: extra request body fields, as useChat's `body` option sends them)
// Prints {"message": <last UIMessage>, "chunks": [...], "errors": [...]}.
import { DefaultChatTransport, readUIMessageStream } from "ai";

const [url, messagesJson, headersJson, bodyJson] = process.argv.slice(2);
const transport = new DefaultChatTransport({
  api: url,
  headers: JSON.parse(headersJson || "{}"),
  body: JSON.parse(bodyJson || "{}"),
});
const stream = await transport.sendMessages({
  chatId: "chat-1",
  messages: JSON.parse(messagesJson),
  trigger: "submit-message",
  messageId: undefined,
  abortSignal: undefined,
});
const [forReader, forLog] = stream.tee();
const chunks = [];
const errors = [];
const logging = (async () => {
  const reader = forLog.getReader();
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    chunks.push(value);
  }
})();
let message = null;
for await (const snapshot of readUIMessageStream({
  stream: forReader,
  onError: (error) => errors.push(String(error?.message ?? error)),
})) {
  message = snapshot;
}
await logging;
process.stdout.write(JSON.stringify({ message, chunks, errors }));
