// ext-tasks-v2-client.mjs: @modelcontextprotocol/ext-tasks as a 2026-07-28
// tasks requester (the io.modelcontextprotocol/tasks extension), on the
// SDK's v2 client negotiating protocol 2026-07-28, for the Go integration
// tests of the tasks mcp_keepalive offers. ext-tasks sends a V2 task
// request (tools/call, tasks/*) through the host's rawDispatch, which here
// POSTs the framed request with the 2026-07-28 headers (SEP-2243) and reads
// the JSON or event-stream answer. It takes one JSON object in argv[2]:
// { "url": "...", "tool": "...", "args": {...}, "plainArgs": {...},
// "cancelAfterMs": n }, makes the call plainly (client.callTool, with
// plainArgs when given) and through a task session (cancelling it after
// cancelAfterMs when given), and prints
// exactly one JSON line: { era, extension, plain, kind, handle, events,
// outcome, result, error }. It exits 0 whatever happened.

import { Client, StreamableHTTPClientTransport } from '@modelcontextprotocol/client';
import { createTaskSessionFromClient, resultFromTaskOutcome } from '@modelcontextprotocol/ext-tasks/client';

const PROTOCOL = '2026-07-28';
const cfg = JSON.parse(process.argv[2]);
const out = { era: null, extension: null, plain: null, kind: null, handle: null, events: [], outcome: null, result: null, error: null };
const clientInfo = { name: 'caddy-stata-ext-tasks-v2-test', version: '0.0.0' };

let nextId = 1;
// rawDispatch POSTs one framed request and returns its response.
async function rawDispatch(request, options) {
  const body = { jsonrpc: '2.0', id: `raw-${nextId++}`, ...request };
  const headers = {
    'Content-Type': 'application/json',
    Accept: 'application/json, text/event-stream',
    'MCP-Protocol-Version': PROTOCOL,
    'Mcp-Method': body.method,
  };
  const name = body.params?.name ?? body.params?.taskId;
  if (name !== undefined) headers['Mcp-Name'] = name;
  const res = await fetch(cfg.url, { method: 'POST', headers, body: JSON.stringify(body), signal: options?.signal });
  const text = await res.text();
  let msg;
  if ((res.headers.get('content-type') ?? '').includes('text/event-stream')) {
    for (const line of text.split('\n')) {
      if (!line.startsWith('data:')) continue;
      const m = JSON.parse(line.slice(5));
      if (m.id === body.id) msg = m;
    }
  } else {
    msg = JSON.parse(text);
  }
  if (msg === undefined) throw new Error(`no response to ${body.method}: ${res.status} ${text.slice(0, 200)}`);
  return msg.error !== undefined ? { kind: 'error', error: msg.error } : { kind: 'result', result: msg.result };
}

async function run() {
  const transport = new StreamableHTTPClientTransport(new URL(cfg.url));
  const client = new Client(clientInfo, { versionNegotiation: { mode: 'auto' } });
  await client.connect(transport);
  out.era = client.getProtocolEra();
  out.extension = client.getServerCapabilities()?.extensions?.['io.modelcontextprotocol/tasks'] ?? null;
  out.plain = await client.callTool({ name: cfg.tool, arguments: cfg.plainArgs ?? cfg.args }, { timeout: 120000 });
  const session = createTaskSessionFromClient(client, {
    endpointId: 'caddy-stata',
    rawDispatch,
    v2RequestFraming: { protocolVersion: PROTOCOL, clientInfo, clientCapabilities: {} },
  });
  try {
    const t0 = Date.now();
    const execution = await session.callTool(cfg.tool, cfg.args);
    out.kind = execution.kind;
    out.handle = execution.handle ?? null;
    out.createdAtMs = Date.now() - t0;
    if (cfg.cancelAfterMs !== undefined) {
      setTimeout(() => execution.cancel().catch((e) => { out.cancelError = String(e); }), cfg.cancelAfterMs);
    }
    const { outcome } = await execution.settle({
      onEvent: (ev) => {
        out.events.push({ type: ev.type, status: ev.task?.status ?? ev.outcome?.status ?? null, statusMessage: ev.task?.statusMessage ?? null, atMs: Date.now() - t0 });
      },
    });
    out.outcome = outcome.status;
    if (outcome.status === 'completed') out.result = resultFromTaskOutcome(outcome);
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
