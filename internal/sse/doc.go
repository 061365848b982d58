// Package sse encodes and incrementally decodes Server-Sent Events as the
// WHATWG HTML standard defines them.
package sse
