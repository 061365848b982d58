// ext-tasks-client.mjs: @modelcontextprotocol/ext-tasks, the generation-
// agnostic tasks requester, on the TypeScript SDK's v2 client
// (@modelcontextprotocol/client, which ext-tasks is built on), driven by the Go
// integration tests of the tasks mcp_keepalive offers. It takes one JSON
// object in argv[2]: { "url": "...", "tool": "...", "args": {...} }, makes
// the call plainly (client.callTool) and then through a task session
// (session.callTool, execution.settle), and prints exactly one JSON line:
// { plain, kind, handle, events: [ { type, status, statusMessage, atMs } ],
// outcome, result, error }. It exits 0 whatever happened. Diagnostics go to
// stderr only.

import { Client, StreamableHTTPClientTransport } from '@modelcontextprotocol/client';
import { createTaskSessionFromClient, resultFromTaskOutcome } from '@modelcontextprotocol/ext-tasks/client';

const cfg = JSON.parse(process.argv[2]);
const out = { plain: null, kind: null, handle: null, events: [], outcome: null, result: null, error: null };

async function run() {
  const transport = new StreamableHTTPClientTransport(new URL(cfg.url));
  const client = new Client({ name: 'caddy-stata-ext-tasks-test', version: '0.0.0' });
  await client.connect(transport);
  out.plain = await client.callTool({ name: cfg.tool, arguments: cfg.args }, undefined, { timeout: 120000 });
  const session = createTaskSessionFromClient(client, { endpointId: 'caddy-stata' });
  try {
    const t0 = Date.now();
    // "optional" task support is used when the caller prefers a task.
    const execution = await session.callTool(cfg.tool, cfg.args, { task: { preference: 'prefer' } });
    out.kind = execution.kind;
    out.handle = execution.handle ?? null;
    out.createdAtMs = Date.now() - t0;
    const { outcome } = await execution.settle({
      onEvent: (ev) => {
        out.events.push({ type: ev.type, status: ev.task?.status ?? ev.outcome?.status ?? null, statusMessage: ev.task?.statusMessage ?? null, atMs: Date.now() - t0 });
      },
    });
    out.outcome = outcome.status;
    out.result = resultFromTaskOutcome(outcome);
  } finally {
    await session.close();
    await transport.close().catch(() => {});
  }
}

run()
  .catch((e) => { out.error = e instanceof Error ? `${e.name}: ${e.message}` : String(e); process.stderr.write(`${e?.stack ?? e}\n`); })
  .finally(() => {
    process.stdout.write(JSON.stringify(out) + '\n', () => process.exit(0));
    setTimeout(() => process.exit(0), 1000).unref();
  });
