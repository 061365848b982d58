// openapi-validate.mjs: checks an OpenAPI document with
// @seriousme/openapi-schema-validator, which validates OpenAPI 3.1 (and 3.0,
// 2.0) against the official JSON schemas. It reads the document from the URL
// in argv[2] (the Go tests pass mcp_rest's /openapi.json), prints one JSON
// line {"valid": bool, "version": "3.1", "errors": [...]} and exits 0.
// Headers to send may follow as "Name: value" arguments.

import { Validator } from '@seriousme/openapi-schema-validator';

const [url, ...headerArgs] = process.argv.slice(2);
const headers = {};
for (const h of headerArgs) {
  const i = h.indexOf(':');
  headers[h.slice(0, i).trim()] = h.slice(i + 1).trim();
}
const res = await fetch(url, { headers });
if (!res.ok) {
  console.log(JSON.stringify({ valid: false, errors: [`GET ${url}: ${res.status}`] }));
  process.exit(0);
}
const doc = await res.json();
const validator = new Validator();
const result = await validator.validate(doc);
console.log(JSON.stringify({ valid: result.valid, version: validator.version, errors: result.errors ?? [] }));
