// session.mjs: a real MCP client (the official TypeScript SDK) that makes
// several tool calls one after another on ONE client, so in one MCP session,
// for the Go integration tests of stata_runner's sessions. It takes one JSON
// object in argv[2]:
//
//   { "url": "...", "steps": [ { "tool": "...", "args": {...},
//       "abortAfterMs": n,      // abort the call (notifications/cancelled) after n ms
//       "timeoutMs": n,         // the SDK's request timeout (default 60000)
//       "progress": true }      // ask for progress (a progressToken)
//     ... ],
//     "terminate": true }       // end with DELETE (terminateSession)
//
// and prints exactly one JSON line to stdout: { ok, sessionId, connectError,
// results: [ { ok, result, error, progress: [{progress,total,message,atMs}],
// elapsedMs } ], terminateError }. It exits 0 whatever happened.
// Diagnostics go to stderr only.

import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';

const t0 = Date.now();

function log(...args) {
  process.stderr.write(`[session.mjs +${Date.now() - t0}ms] ${args.join(' ')}\n`);
}

function describeError(err) {
  if (err instanceof Error) {
    return err.cause instanceof Error ? `${err.name}: ${err.message}; cause: ${err.cause.message}` : `${err.name}: ${err.message}`;
  }
  return String(err);
}

function print(out) {
  process.stdout.write(JSON.stringify(out) + '\n', () => process.exit(0));
  setTimeout(() => process.exit(0), 1000).unref();
}

let cfg;
try {
  cfg = JSON.parse(process.argv[2] ?? '');
  if (typeof cfg.url !== 'string' || !Array.isArray(cfg.steps)) throw new Error('"url" and "steps" are required');
} catch (e) {
  process.stderr.write(`session.mjs: bad argv: ${describeError(e)}\n`);
  process.exit(2);
}

const out = { ok: false, sessionId: null, connectError: null, results: [], terminateError: null };
const transport = new StreamableHTTPClientTransport(new URL(cfg.url));
const client = new Client({ name: 'caddy-stata-session-test', version: '0.0.0' });
client.onerror = (err) => log('onerror:', describeError(err));

async function step(s, i) {
  const r = { ok: false, result: null, error: null, progress: [], elapsedMs: 0 };
  const start = Date.now();
  const options = { timeout: s.timeoutMs ?? 60000, resetTimeoutOnProgress: true };
  if (s.progress) {
    options.onprogress = (p) => {
      r.progress.push({ progress: p.progress, total: p.total ?? null, message: p.message ?? null, atMs: Date.now() - start });
    };
  }
  let timer;
  if (s.abortAfterMs != null) {
    const ac = new AbortController();
    options.signal = ac.signal;
    timer = setTimeout(() => {
      log(`step ${i}: aborting after ${s.abortAfterMs}ms`);
      ac.abort(`aborted by client after ${s.abortAfterMs}ms`);
    }, s.abortAfterMs);
  }
  try {
    r.result = await client.callTool({ name: s.tool, arguments: s.args ?? {} }, undefined, options);
    r.ok = true;
  } catch (e) {
    r.error = describeError(e);
    log(`step ${i}: error:`, r.error);
  } finally {
    clearTimeout(timer);
    r.elapsedMs = Date.now() - start;
  }
  return r;
}

async function main() {
  try {
    await client.connect(transport, { timeout: 10000 });
    out.sessionId = transport.sessionId ?? null;
  } catch (e) {
    out.connectError = describeError(e);
    return;
  }
  for (const [i, s] of cfg.steps.entries()) {
    // After an aborted call the next one may reach the server before the
    // cancellation does: it then waits for the aborted call to stop.
    out.results.push(await step(s, i));
  }
  out.ok = out.results.every((r) => r.ok);
  if (cfg.terminate) {
    try {
      await transport.terminateSession();
    } catch (e) {
      out.terminateError = describeError(e);
    }
  }
  try {
    await client.close();
  } catch (e) {
    log('close:', describeError(e));
  }
}

main()
  .catch((e) => {
    out.ok = false;
    out.connectError = `session.mjs internal: ${describeError(e)}`;
  })
  .finally(() => print(out));
