// The official `openai` npm client against the gateway's OpenAI-compatible API
// (tests/integration/test_http_api.py runs it). Prints one JSON object on stdout:
//   {models: [ids], complete: {id, text, usage, finishReason}, stream: {text, deltas, chunks, finishReason, usage}}
// or {error: {status, message, code, type}} when the client raised.
//
// usage: node openai_client.mjs <baseURL> <apiKey> <model> <prompt for the completion> <prompt for the stream>
import OpenAI from 'openai';

const [baseURL, apiKey, model, completePrompt, streamPrompt] = process.argv.slice(2);
if (!streamPrompt) {
  console.error('usage: node openai_client.mjs <baseURL> <apiKey> <model> <prompt> <stream prompt>');
  process.exit(2);
}

const client = new OpenAI({ baseURL, apiKey, maxRetries: 0, timeout: 30000 });

async function main() {
  const out = {};
  const models = await client.models.list();
  out.models = models.data.map((m) => m.id);

  const completion = await client.chat.completions.create({
    model,
    messages: [{ role: 'user', content: completePrompt }],
  });
  out.complete = {
    id: completion.id,
    object: completion.object,
    text: completion.choices[0].message.content,
    role: completion.choices[0].message.role,
    finishReason: completion.choices[0].finish_reason,
    usage: completion.usage,
  };

  const stream = await client.chat.completions.create({
    model,
    messages: [{ role: 'user', content: streamPrompt }],
    stream: true,
    stream_options: { include_usage: true },
  });
  const result = { text: '', deltas: 0, chunks: 0, finishReason: null, usage: null, ids: new Set() };
  for await (const chunk of stream) {
    result.chunks += 1;
    result.ids.add(chunk.id);
    if (chunk.usage) result.usage = chunk.usage;
    const choice = chunk.choices[0];
    if (!choice) continue;
    if (choice.delta?.content) {
      result.deltas += 1;
      result.text += choice.delta.content;
    }
    if (choice.finish_reason) result.finishReason = choice.finish_reason;
  }
  result.ids = [...result.ids];
  out.stream = result;
  return out;
}

main().then(
  (out) => {
    process.stdout.write(JSON.stringify(out) + '\n');
  },
  (err) => {
    const error = { status: err.status ?? null, message: String(err.message), code: err.code ?? null, type: err.type ?? null };
    process.stdout.write(JSON.stringify({ error }) + '\n');
    process.exitCode = 1;
  },
);
