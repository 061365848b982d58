// call.mjs: a real MCP client (the official TypeScript SDK) for the Go
// integration tests. It takes one JSON object in argv[2], connects, calls one
// tool (optionally several times concurrently on the same client), prints
// exactly one JSON line to stdout and exits 0, whatever happened. See
// README.md for the contract. Diagnostics go to stderr only.

import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { SSEClientTransport } from '@modelcontextprotocol/sdk/client/sse.js';
import { Agent, fetch as undiciFetch } from 'undici';

const CLOSE_GRACE_MS = 2000;

function log(...args) {
  process.stderr.write(`[call.mjs +${Date.now() - t0}ms] ${args.join(' ')}\n`);
}

// describeError renders an error and its cause chain on one line, e.g.
// "TypeError: fetch failed; cause: HeadersTimeoutError: Headers Timeout Error [UND_ERR_HEADERS_TIMEOUT]".
function describeError(err) {
  const parts = [];
  const seen = new Set();
  let e = err;
  while (e !== undefined && e !== null && !seen.has(e) && parts.length < 6) {
    seen.add(e);
    let s;
    if (e instanceof Error) {
      s = `${e.name}: ${e.message}`;
      if (typeof e.code === 'string') s += ` [${e.code}]`;
    } else {
      s = String(e);
    }
    parts.push(s);
    e = e instanceof Error ? e.cause : undefined;
  }
  return parts.join('; cause: ');
}

function errorCode(err) {
  return err && typeof err.code === 'number' ? err.code : null;
}

function print(out) {
  process.stdout.write(JSON.stringify(out) + '\n', () => process.exit(0));
  // In case the write callback never fires.
  setTimeout(() => process.exit(0), 1000).unref();
}

const t0 = Date.now();

let cfg;
try {
  cfg = JSON.parse(process.argv[2] ?? '');
  if (cfg === null || typeof cfg !== 'object' || Array.isArray(cfg)) throw new Error('argv[2] must be a JSON object');
  if (typeof cfg.url !== 'string' || cfg.url === '') throw new Error('"url" is required');
  new URL(cfg.url); // throws on a malformed url
  if (typeof cfg.tool !== 'string' || cfg.tool === '') throw new Error('"tool" is required');
} catch (e) {
  process.stderr.write(`call.mjs: bad argv: ${describeError(e)}\n`);
  process.exit(2);
}

const transportKind = cfg.transport ?? 'streamable';
const calls = Number.isInteger(cfg.calls) && cfg.calls > 0 ? cfg.calls : 1;

const out = { ok: false, results: [], connectError: null, onerror: [] };

// Custom fetch: undici's own fetch through an Agent with the requested
// header/body timeouts. Used for every HTTP request of the transport.
let customFetch;
if (cfg.headersTimeoutMs != null || cfg.bodyTimeoutMs != null) {
  const agentOpts = {};
  if (cfg.headersTimeoutMs != null) agentOpts.headersTimeout = cfg.headersTimeoutMs;
  if (cfg.bodyTimeoutMs != null) agentOpts.bodyTimeout = cfg.bodyTimeoutMs;
  const dispatcher = new Agent(agentOpts);
  customFetch = (url, init) => undiciFetch(url, { ...init, dispatcher });
}

const requestInit = cfg.headers ? { headers: { ...cfg.headers } } : undefined;

let transport;
if (transportKind === 'streamable') {
  transport = new StreamableHTTPClientTransport(new URL(cfg.url), {
    ...(customFetch ? { fetch: customFetch } : {}),
    ...(requestInit ? { requestInit } : {}),
  });
} else if (transportKind === 'sse') {
  transport = new SSEClientTransport(new URL(cfg.url), {
    // `fetch` is used for the POSTs; `eventSourceInit.fetch` (which takes
    // precedence over `fetch`) for the GET that opens the event stream.
    ...(customFetch ? { fetch: customFetch, eventSourceInit: { fetch: customFetch } } : {}),
    ...(requestInit ? { requestInit } : {}),
  });
} else {
  process.stderr.write(`call.mjs: bad argv: unknown transport ${JSON.stringify(transportKind)}\n`);
  process.exit(2);
}

// Track notifications in flight (notably notifications/cancelled, which the
// SDK sends without awaiting after a timeout or abort) so that closing the
// client does not abort them before they reach the server.
const pendingNotifications = new Set();
const origSend = transport.send.bind(transport);
transport.send = (message, options) => {
  const p = origSend(message, options);
  if (message && message.method && message.id === undefined) {
    log('sending', message.method);
    const tracked = p.catch(() => {}).finally(() => pendingNotifications.delete(tracked));
    pendingNotifications.add(tracked);
  }
  return p;
};

let closing = false;
const client = new Client({ name: 'caddy-stata-integration', version: '0.0.0' });
client.onerror = (err) => {
  const s = describeError(err);
  if (closing) {
    // Errors caused by our own close (aborted streams) are not reported.
    log('onerror (while closing, not reported):', s);
    return;
  }
  log('onerror:', s);
  out.onerror.push(s);
};

async function closeClient() {
  const grace = new Promise((r) => setTimeout(r, CLOSE_GRACE_MS).unref());
  if (pendingNotifications.size > 0) {
    await Promise.race([Promise.all([...pendingNotifications]), grace]);
  }
  closing = true;
  try {
    await Promise.race([client.close(), new Promise((r) => setTimeout(r, CLOSE_GRACE_MS).unref())]);
  } catch (e) {
    log('close:', describeError(e));
  }
}

async function oneCall(i) {
  const r = { ok: false, result: null, error: null, errorCode: null, progress: [], elapsedMs: 0 };
  const start = Date.now();
  const options = {};
  if (cfg.timeoutMs != null) options.timeout = cfg.timeoutMs;
  if (cfg.resetTimeoutOnProgress != null) options.resetTimeoutOnProgress = !!cfg.resetTimeoutOnProgress;
  if (cfg.maxTotalTimeoutMs != null) options.maxTotalTimeout = cfg.maxTotalTimeoutMs;
  if (cfg.progress) {
    options.onprogress = (p) => {
      r.progress.push({
        progress: p.progress,
        total: p.total ?? null,
        message: p.message ?? null,
        atMs: Date.now() - start,
      });
    };
  }
  let abortTimer;
  if (cfg.abortAfterMs != null) {
    const ac = new AbortController();
    options.signal = ac.signal;
    abortTimer = setTimeout(() => {
      log(`call ${i}: aborting after ${cfg.abortAfterMs}ms`);
      ac.abort(`aborted by client after ${cfg.abortAfterMs}ms`);
    }, cfg.abortAfterMs);
  }
  try {
    r.result = await client.callTool({ name: cfg.tool, arguments: cfg.args ?? {} }, undefined, options);
    r.ok = true;
  } catch (e) {
    r.error = describeError(e);
    r.errorCode = errorCode(e);
    log(`call ${i}: error:`, r.error);
  } finally {
    clearTimeout(abortTimer);
    r.elapsedMs = Date.now() - start;
  }
  return r;
}

async function main() {
  try {
    await client.connect(transport, cfg.connectTimeoutMs != null ? { timeout: cfg.connectTimeoutMs } : undefined);
    log('connected', transportKind, cfg.url);
  } catch (e) {
    out.connectError = describeError(e);
    log('connect failed:', out.connectError);
    await closeClient();
    return;
  }
  if (cfg.listTools) {
    try {
      out.tools = (await client.listTools()).tools.map((t) => t.name);
    } catch (e) {
      out.onerror.push(`listTools: ${describeError(e)}`);
    }
  }
  out.results = await Promise.all(Array.from({ length: calls }, (_, i) => oneCall(i)));
  out.ok = out.results.length > 0 && out.results.every((r) => r.ok);
  await closeClient();
}

main()
  .catch((e) => {
    // Should not happen; report it rather than crash.
    out.ok = false;
    out.onerror.push(`call.mjs internal: ${describeError(e)}`);
  })
  .finally(() => print(out));
