// ws-client.mjs: a WebSocket client of mcp_rest's /ws/tools/{name}, using
// undici's WebSocket. It takes one JSON object in argv[2]:
//
//   {"url": "ws://.../ws/tools/slow?api_key=...",
//    "calls": [{"id": "a", "arguments": {...}}, ...],
//    "cancel": "c",            // optional: cancel this call...
//    "cancelOn": "progress"}   // ...on its first event of this name (default "started")
//
// It sends every call at once on the one socket, sends {"id","cancel":true}
// for the call named by cancel once it got a cancelOn event, and prints
// every message it receives as one JSON line {"t": ms, "msg": {...}} on
// stdout. It closes the socket and exits 0 when every call has ended (a
// result or an error event), or exits 1 when the socket fails first.

import { WebSocket } from 'undici';

const cfg = JSON.parse(process.argv[2]);
const t0 = Date.now();
const cancelOn = cfg.cancelOn ?? 'started';
let cancelSent = false;
const open = new Set(cfg.calls.map((c) => c.id));
const ws = new WebSocket(cfg.url);

ws.addEventListener('open', () => {
  for (const c of cfg.calls) ws.send(JSON.stringify(c));
});
ws.addEventListener('message', (ev) => {
  const msg = JSON.parse(ev.data);
  console.log(JSON.stringify({ t: Date.now() - t0, msg }));
  if (msg.event === cancelOn && msg.id === cfg.cancel && !cancelSent) {
    cancelSent = true;
    ws.send(JSON.stringify({ id: msg.id, cancel: true }));
  }
  if (msg.event === 'result' || msg.event === 'error') {
    open.delete(msg.id);
    if (open.size === 0) ws.close(1000, 'done');
  }
});
ws.addEventListener('error', (ev) => {
  process.stderr.write(`ws-client: error: ${ev.message ?? ev.error ?? ev}\n`);
});
ws.addEventListener('close', (ev) => {
  process.stderr.write(`ws-client: closed ${ev.code} ${ev.reason}\n`);
  process.exit(open.size === 0 ? 0 : 1);
});
