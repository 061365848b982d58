// tasks-client.mjs: the TypeScript SDK's experimental tasks client
// (protocol 2025-11-25, client.experimental.tasks) driven by the Go
// integration tests of the tasks mcp_keepalive offers. It takes one JSON
// object in argv[2]:
//
//   { "url": "...", "sessionId": "...",   // join this session instead of initializing
//     "steps": [ { "op": "stream", "tool": "...", "args": {...}, "ttl": n },
//                                          // callToolStream with task {ttl}: every message
//                { "op": "stream", "tool": "...", "args": {...}, "auto": true },
//                                          // callToolStream deciding by the server's tools/list
//                { "op": "tools" },        // listTools, which the SDK caches
//                { "op": "create", "tool": "...", "args": {...} },  // the task handle only
//                { "op": "plain", "tool": "...", "args": {...} },   // an ordinary callTool
//                { "op": "get" | "result" | "cancel", "taskId": "..." },
//                { "op": "list", "cursor": "..." } ] }
//
// Each step runs on a new connection of the same session when "fresh" is
// set on it. It prints exactly one JSON line: { sessionId, results: [ { ok,
// value, error, messages } ] }, and exits 0 whatever happened. Diagnostics go
// to stderr only.

import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { CallToolResultSchema, CreateTaskResultSchema } from '@modelcontextprotocol/sdk/types.js';

const cfg = JSON.parse(process.argv[2]);
const out = { sessionId: cfg.sessionId ?? null, serverCapabilities: null, results: [] };

function describe(err) {
  return err instanceof Error ? `${err.name}: ${err.message}` : String(err);
}

async function connect(sessionId) {
  const transport = new StreamableHTTPClientTransport(new URL(cfg.url), sessionId ? { sessionId } : undefined);
  const client = new Client({ name: 'caddy-stata-tasks-test', version: '0.0.0' }, { defaultTaskPollInterval: 200 });
  // With a session id, connect joins the session without initializing.
  await client.connect(transport);
  if (sessionId) transport.setProtocolVersion('2025-11-25');
  return { client, transport };
}

async function run() {
  let { client, transport } = await connect(cfg.sessionId);
  out.sessionId = transport.sessionId ?? out.sessionId;
  out.serverCapabilities = client.getServerCapabilities() ?? null;
  for (const s of cfg.steps) {
    if (s.fresh) {
      await transport.close().catch(() => {});
      ({ client, transport } = await connect(out.sessionId));
    }
    const r = { ok: false, value: null, error: null, messages: [] };
    const t0 = Date.now();
    try {
      switch (s.op) {
        case 'stream': {
          const stream = client.experimental.tasks.callToolStream(
            { name: s.tool, arguments: s.args }, CallToolResultSchema,
            s.auto ? { timeout: 120000 } : { task: { ttl: s.ttl ?? 60000 }, timeout: 120000 });
          for await (const m of stream) {
            r.messages.push({ type: m.type, atMs: Date.now() - t0, task: m.task ?? null, result: m.result ?? null, error: m.error ? describe(m.error) : null });
          }
          r.ok = r.messages.at(-1)?.type === 'result';
          break;
        }
        case 'create':
          r.value = await client.request({ method: 'tools/call', params: { name: s.tool, arguments: s.args } },
            CreateTaskResultSchema, { task: { ttl: s.ttl ?? 60000 } });
          r.ok = true;
          break;
        case 'tools':
          r.value = await client.listTools();
          r.ok = true;
          break;
        case 'plain':
          r.value = await client.callTool({ name: s.tool, arguments: s.args }, undefined, { timeout: 120000 });
          r.ok = true;
          break;
        case 'get':
          r.value = await client.experimental.tasks.getTask(s.taskId);
          r.ok = true;
          break;
        case 'result':
          r.value = await client.experimental.tasks.getTaskResult(s.taskId, CallToolResultSchema, { timeout: 120000 });
          r.ok = true;
          break;
        case 'cancel':
          r.value = await client.experimental.tasks.cancelTask(s.taskId);
          r.ok = true;
          break;
        case 'list':
          r.value = await client.experimental.tasks.listTasks(s.cursor);
          r.ok = true;
          break;
        default:
          throw new Error(`unknown op ${s.op}`);
      }
    } catch (e) {
      r.error = describe(e);
    }
    r.elapsedMs = Date.now() - t0;
    out.results.push(r);
  }
  await transport.close().catch(() => {});
}

run()
  .catch((e) => { out.fatal = describe(e); })
  .finally(() => {
    process.stdout.write(JSON.stringify(out) + '\n', () => process.exit(0));
    setTimeout(() => process.exit(0), 1000).unref();
  });
