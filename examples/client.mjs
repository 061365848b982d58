import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';

const client = new Client({ name: 'demo', version: '1.0.0' });
await client.connect(new StreamableHTTPClientTransport(new URL('http://localhost:8080/mcp')));
try {
  const result = await client.callTool(
    { name: 'stata_run_selection', arguments: { code: 'display "hello"\nsleep 15000\ndisplay "done"' } },
    undefined,
    {
      timeout: 5000, // the SDK's timer: 60 s by default, here far shorter than the run
      resetTimeoutOnProgress: true, // each progress notification starts it again
      maxTotalTimeout: 3600000, // but never more than an hour in all
      onprogress: (p) => console.log(p.message), // asks for progress: sends a progressToken
    },
  );
  console.log(result.content[0].text);
} finally {
  await client.close();
}
