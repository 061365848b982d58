// long-server.mjs: an MCP server on the official TypeScript SDK with one
// long tool and no tasks of its own, for the Go integration tests of the
// tasks mcp_keepalive offers on a server's behalf. It listens on 127.0.0.1
// (port argv[2], default 0) and prints one JSON line to stdout per thing the
// tests wait for:
//
//   {"event":"listening","port":N}
//   {"event":"started","tag":"..."}     a call of "long" began (without params.task)
//   {"event":"cancelled","tag":"..."}   the client's notifications/cancelled reached it
//   {"event":"done","tag":"..."}        it answered
//
// The tool "long" sends progress "step i/n" every stepMs (when the call has
// a progress token) and answers "long done: <tag> after <n> steps".

import http from 'node:http';
import { randomUUID } from 'node:crypto';
import { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import { StreamableHTTPServerTransport } from '@modelcontextprotocol/sdk/server/streamableHttp.js';
import { isInitializeRequest } from '@modelcontextprotocol/sdk/types.js';
import { z } from 'zod';

function emit(obj) {
  process.stdout.write(JSON.stringify(obj) + '\n');
}

function newServer() {
  const server = new McpServer({ name: 'long-server', version: '1.0.0' });
  server.registerTool(
    'long',
    {
      description: 'Runs for steps × stepMs, with progress',
      inputSchema: { steps: z.number().int().min(1), stepMs: z.number().int().min(1), tag: z.string().default('') },
    },
    async ({ steps, stepMs, tag }, extra) => {
      emit({ event: 'started', tag, hasTask: extra._meta?.task !== undefined });
      const token = extra._meta?.progressToken;
      for (let i = 1; i <= steps; i++) {
        const cancelled = await new Promise((resolve) => {
          const t = setTimeout(() => resolve(false), stepMs);
          extra.signal.addEventListener('abort', () => { clearTimeout(t); resolve(true); }, { once: true });
        });
        if (cancelled || extra.signal.aborted) {
          emit({ event: 'cancelled', tag });
          throw new Error('cancelled');
        }
        if (token !== undefined) {
          await extra.sendNotification({
            method: 'notifications/progress',
            params: { progressToken: token, progress: i, total: steps, message: `step ${i}/${steps}: ${tag}` },
          });
        }
      }
      emit({ event: 'done', tag });
      return { content: [{ type: 'text', text: `long done: ${tag} after ${steps} steps` }] };
    },
  );
  return server;
}

const transports = new Map();

async function readJSON(req) {
  const chunks = [];
  for await (const c of req) chunks.push(c);
  const s = Buffer.concat(chunks).toString('utf8');
  return s === '' ? undefined : JSON.parse(s);
}

function jsonError(res, status, message) {
  res.writeHead(status, { 'Content-Type': 'application/json' });
  res.end(JSON.stringify({ jsonrpc: '2.0', id: null, error: { code: -32000, message } }));
}

const httpServer = http.createServer(async (req, res) => {
  try {
    const sid = req.headers['mcp-session-id'];
    const body = req.method === 'POST' ? await readJSON(req) : undefined;
    let transport = sid ? transports.get(sid) : undefined;
    if (transport === undefined) {
      if (sid !== undefined || req.method !== 'POST' || !isInitializeRequest(body)) {
        jsonError(res, sid ? 404 : 400, sid ? 'Session not found' : 'Bad Request: no session');
        return;
      }
      transport = new StreamableHTTPServerTransport({
        sessionIdGenerator: () => randomUUID(),
        onsessioninitialized: (id) => transports.set(id, transport),
      });
      transport.onclose = () => transports.delete(transport.sessionId);
      await newServer().connect(transport);
    }
    await transport.handleRequest(req, res, body);
  } catch (e) {
    process.stderr.write(`long-server: ${e?.stack ?? e}\n`);
    if (!res.headersSent) jsonError(res, 500, 'Internal server error');
  }
});

httpServer.listen(Number(process.argv[2] ?? 0), '127.0.0.1', () => {
  emit({ event: 'listening', port: httpServer.address().port });
});
