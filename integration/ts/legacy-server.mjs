// legacy-server.mjs: a real MCP server on the legacy HTTP+SSE transport
// (2024-11-05), the official TypeScript SDK's SSEServerTransport, for the Go
// integration tests. GET /sse opens a session (its first event, endpoint,
// names /messages?sessionId=...), POST /messages?sessionId=... carries the
// client's messages, answered 202; every response arrives on the GET stream.
// Like fastapi_mcp, the server sends nothing on a stream while a tool runs.
//
// Usage: node legacy-server.mjs <port>. It prints one line, "ready <port>",
// to stdout once it listens on 127.0.0.1:<port>. Diagnostics go to stderr.

import http from 'node:http';
import { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import { SSEServerTransport } from '@modelcontextprotocol/sdk/server/sse.js';
// zod is a dependency (and a required peer) of the SDK, so it is installed.
import { z } from 'zod';

const port = Number(process.argv[2]);
if (!Number.isInteger(port) || port <= 0) {
  process.stderr.write('usage: node legacy-server.mjs <port>\n');
  process.exit(2);
}

function log(...args) {
  process.stderr.write(`[legacy-server] ${args.join(' ')}\n`);
}

// newServer returns an MCP server with the tools of the tests; each session
// gets its own, as the SDK's examples do.
function newServer() {
  const server = new McpServer({ name: 'integration-legacy-upstream', version: '1.0.0' });
  server.registerTool(
    'sleep',
    { description: 'Sleeps, then answers.', inputSchema: { ms: z.number().int().nonnegative() } },
    async ({ ms }) => {
      await new Promise((r) => setTimeout(r, ms));
      return { content: [{ type: 'text', text: `slept ${ms} ms` }] };
    },
  );
  return server;
}

const transports = new Map();

const httpServer = http.createServer(async (req, res) => {
  const url = new URL(req.url, 'http://localhost');
  try {
    if (req.method === 'GET' && url.pathname === '/sse') {
      const transport = new SSEServerTransport('/messages', res);
      transports.set(transport.sessionId, transport);
      res.on('close', () => transports.delete(transport.sessionId));
      await newServer().connect(transport);
      log('session opened', transport.sessionId);
      return;
    }
    if (req.method === 'POST' && url.pathname === '/messages') {
      const transport = transports.get(url.searchParams.get('sessionId') ?? '');
      if (!transport) {
        res.writeHead(404).end('unknown session');
        return;
      }
      await transport.handlePostMessage(req, res);
      return;
    }
    res.writeHead(404).end('not found');
  } catch (e) {
    log('error:', e?.stack ?? String(e));
    if (!res.headersSent) res.writeHead(500).end(String(e));
  }
});

httpServer.listen(port, '127.0.0.1', () => {
  process.stdout.write(`ready ${port}\n`);
});
