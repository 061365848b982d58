// polling-server.mjs: an MCP server on the official TypeScript SDK that
// answers a tool call by SSE polling (SEP-1699), for the Go integration tests.
// It listens on 127.0.0.1 (port argv[2], default 0: any free port) and
// prints one JSON line to stdout per thing the tests wait for:
//
//   {"event":"listening","port":N}
//   {"event":"closed","requestId":ID}          the call's stream was closed for polling
//   {"event":"resumed","lastEventId":"..."}   a GET came back with Last-Event-ID
//
// Its one tool, "poll", sends progress 1/2 (when the call has a progress
// token) and a log message, waits closeAfterMs, closes the call's event
// stream with the SDK's closeSSEStream (the priming event told the client to
// come back after retryInterval), then after delayMs sends progress 2/2 and
// its result, both kept in the event store for the client's GET with
// Last-Event-ID.

import http from 'node:http';
import { randomUUID } from 'node:crypto';
import { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import { StreamableHTTPServerTransport } from '@modelcontextprotocol/sdk/server/streamableHttp.js';
import { isInitializeRequest } from '@modelcontextprotocol/sdk/types.js';
import { z } from 'zod';

const RETRY_MS = 200;

function emit(obj) {
  process.stdout.write(JSON.stringify(obj) + '\n');
}

function newServer() {
  const server = new McpServer({ name: 'polling-server', version: '1.0.0' }, { capabilities: { logging: {} } });
  server.registerTool(
    'poll',
    {
      description: 'Closes its event stream for polling after closeAfterMs, then answers after delayMs',
      inputSchema: {
        closeAfterMs: z.number().int().min(0).default(0),
        delayMs: z.number().int().min(0).default(1500),
      },
    },
    async ({ closeAfterMs, delayMs }, extra) => {
      if (typeof extra.closeSSEStream !== 'function') {
        return { isError: true, content: [{ type: 'text', text: 'closeSSEStream is not available' }] };
      }
      const token = extra._meta?.progressToken;
      const progress = async (n, message) => {
        if (token === undefined) return;
        await server.server.notification(
          { method: 'notifications/progress', params: { progressToken: token, progress: n, total: 2, message } },
          { relatedRequestId: extra.requestId },
        );
      };
      await progress(1, 'before polling');
      await extra.sendNotification({
        method: 'notifications/message',
        params: { level: 'info', data: 'closing the stream for polling' },
      });
      await new Promise((r) => setTimeout(r, closeAfterMs));
      extra.closeSSEStream();
      emit({ event: 'closed', requestId: extra.requestId });
      await new Promise((r) => setTimeout(r, delayMs));
      await progress(2, 'after polling');
      return { content: [{ type: 'text', text: `polled result after ${delayMs}ms` }] };
    },
  );
  return server;
}

// eventStore keeps every event of every stream in the order they were
// stored. (The SDK's example InMemoryEventStore sorts its ids, which end in
// a millisecond time and a random suffix, so it replays two events of the
// same millisecond in either order: the response before the progress that
// preceded it, say, or an event the client already has.)
class OrderedEventStore {
  events = new Map(); // eventId -> { streamId, message }, in insertion order
  seq = 0;

  async storeEvent(streamId, message) {
    const eventId = `${streamId}_${++this.seq}`;
    this.events.set(eventId, { streamId, message });
    return eventId;
  }

  async getStreamIdForEventId(eventId) {
    return this.events.get(eventId)?.streamId;
  }

  async replayEventsAfter(lastEventId, { send }) {
    const last = this.events.get(lastEventId);
    if (last === undefined) throw new Error(`unknown event id ${lastEventId}`);
    let after = false;
    for (const [eventId, { streamId, message }] of this.events) {
      if (after && streamId === last.streamId) await send(eventId, message);
      if (eventId === lastEventId) after = true;
    }
    return last.streamId;
  }
}

// One transport (and server) per session.
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
    if (req.method === 'POST') {
      const body = await readJSON(req);
      let transport = sid ? transports.get(sid) : undefined;
      if (transport === undefined) {
        if (sid !== undefined || !isInitializeRequest(body)) {
          jsonError(res, sid ? 404 : 400, sid ? 'Session not found' : 'Bad Request: no session');
          return;
        }
        transport = new StreamableHTTPServerTransport({
          sessionIdGenerator: () => randomUUID(),
          eventStore: new OrderedEventStore(),
          retryInterval: RETRY_MS,
          onsessioninitialized: (id) => transports.set(id, transport),
        });
        transport.onclose = () => transports.delete(transport.sessionId);
        await newServer().connect(transport);
      }
      await transport.handleRequest(req, res, body);
      return;
    }
    const transport = sid ? transports.get(sid) : undefined;
    if (transport === undefined) {
      jsonError(res, sid ? 404 : 400, sid ? 'Session not found' : 'Bad Request: no session');
      return;
    }
    const last = req.headers['last-event-id'];
    if (req.method === 'GET' && last !== undefined) emit({ event: 'resumed', lastEventId: last });
    await transport.handleRequest(req, res);
  } catch (e) {
    process.stderr.write(`polling-server: ${e?.stack ?? e}\n`);
    if (!res.headersSent) jsonError(res, 500, 'Internal server error');
  }
});

httpServer.listen(Number(process.argv[2] ?? 0), '127.0.0.1', () => {
  emit({ event: 'listening', port: httpServer.address().port });
});
