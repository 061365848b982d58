package mcpmsg

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
	"time"
)

// raw returns s as a RawMessage, keeping the difference between absent (nil)
// and present.
func raw(s string) json.RawMessage { return json.RawMessage(s) }

// sameRaw reports whether a and b are both absent, or both present with the
// same bytes.
func sameRaw(a, b json.RawMessage) bool {
	return (a == nil) == (b == nil) && bytes.Equal(a, b)
}

// checkMessage compares every field of got with want.
func checkMessage(t *testing.T, got, want Message) {
	t.Helper()
	if !sameRaw(got.ID, want.ID) {
		t.Errorf("ID = %q (nil %t), want %q (nil %t)", got.ID, got.ID == nil, want.ID, want.ID == nil)
	}
	if got.Method != want.Method {
		t.Errorf("Method = %q, want %q", got.Method, want.Method)
	}
	if !sameRaw(got.Params, want.Params) {
		t.Errorf("Params = %q, want %q", got.Params, want.Params)
	}
	if got.HasResult != want.HasResult || got.HasError != want.HasError {
		t.Errorf("HasResult, HasError = %t, %t, want %t, %t", got.HasResult, got.HasError, want.HasResult, want.HasError)
	}
	if got.Tool != want.Tool {
		t.Errorf("Tool = %q, want %q", got.Tool, want.Tool)
	}
	if !sameRaw(got.ProgressToken, want.ProgressToken) {
		t.Errorf("ProgressToken = %q (nil %t), want %q (nil %t)", got.ProgressToken, got.ProgressToken == nil, want.ProgressToken, want.ProgressToken == nil)
	}
}

// kind is what the classification methods should say of a message.
type kind int

const (
	notification kind = iota // a method and no id (or neither)
	request                  // a method and an id, not a named tools/call
	toolCall                 // a tools/call request naming a tool
	response                 // an id and a result or an error, no method
	idOnly                   // an id, no method, no result or error
)

func checkKind(t *testing.T, m *Message, want kind) {
	t.Helper()
	gotReq, gotResp, gotTool := m.IsRequest(), m.IsResponse(), m.IsToolCall()
	wantReq := want == request || want == toolCall
	wantResp := want == response
	wantTool := want == toolCall
	if gotReq != wantReq || gotResp != wantResp || gotTool != wantTool {
		t.Errorf("IsRequest, IsResponse, IsToolCall = %t, %t, %t, want %t, %t, %t",
			gotReq, gotResp, gotTool, wantReq, wantResp, wantTool)
	}
}

func TestParse(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want Message
		kind kind
	}{
		{
			name: "tools/call with a string progress token",
			in:   `{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"run","arguments":{"x":[1,2]},"_meta":{"progressToken":"tok-1"}}}`,
			want: Message{
				ID: raw(`1`), Method: MethodToolsCall,
				Params: raw(`{"name":"run","arguments":{"x":[1,2]},"_meta":{"progressToken":"tok-1"}}`),
				Tool:   "run", ProgressToken: raw(`"tok-1"`),
			},
			kind: toolCall,
		},
		{
			name: "tools/call with an integer progress token",
			in:   `{"jsonrpc":"2.0","id":"req-9","method":"tools/call","params":{"_meta":{"progressToken":42},"name":"do"}}`,
			want: Message{
				ID: raw(`"req-9"`), Method: MethodToolsCall,
				Params: raw(`{"_meta":{"progressToken":42},"name":"do"}`),
				Tool:   "do", ProgressToken: raw(`42`),
			},
			kind: toolCall,
		},
		{
			name: "tools/call with a large negative exponent token kept byte for byte",
			in:   `{"id":7,"method":"tools/call","params":{"name":"t","_meta":{"progressToken":-12345678901234567890123e-5}}}`,
			want: Message{
				ID: raw(`7`), Method: MethodToolsCall,
				Params: raw(`{"name":"t","_meta":{"progressToken":-12345678901234567890123e-5}}`),
				Tool:   "t", ProgressToken: raw(`-12345678901234567890123e-5`),
			},
			kind: toolCall,
		},
		{
			name: "tools/call with other _meta members",
			in:   `{"id":1,"method":"tools/call","params":{"name":"t","_meta":{"other":{"progressToken":"inner"},"progressToken":"outer"}}}`,
			want: Message{
				ID: raw(`1`), Method: MethodToolsCall,
				Params: raw(`{"name":"t","_meta":{"other":{"progressToken":"inner"},"progressToken":"outer"}}`),
				Tool:   "t", ProgressToken: raw(`"outer"`),
			},
			kind: toolCall,
		},
		{
			name: "tools/call without _meta",
			in:   `{"id":1,"method":"tools/call","params":{"name":"t"}}`,
			want: Message{ID: raw(`1`), Method: MethodToolsCall, Params: raw(`{"name":"t"}`), Tool: "t"},
			kind: toolCall,
		},
		{
			name: "tools/call with null _meta",
			in:   `{"id":1,"method":"tools/call","params":{"name":"t","_meta":null}}`,
			want: Message{ID: raw(`1`), Method: MethodToolsCall, Params: raw(`{"name":"t","_meta":null}`), Tool: "t"},
			kind: toolCall,
		},
		{
			name: "tools/call progress token that is neither string nor number is ignored",
			in:   `{"id":1,"method":"tools/call","params":{"name":"t","_meta":{"progressToken":{"a":1}}}}`,
			want: Message{ID: raw(`1`), Method: MethodToolsCall, Params: raw(`{"name":"t","_meta":{"progressToken":{"a":1}}}`), Tool: "t"},
			kind: toolCall,
		},
		{
			name: "tools/call null progress token is ignored",
			in:   `{"id":1,"method":"tools/call","params":{"name":"t","_meta":{"progressToken":null}}}`,
			want: Message{ID: raw(`1`), Method: MethodToolsCall, Params: raw(`{"name":"t","_meta":{"progressToken":null}}`), Tool: "t"},
			kind: toolCall,
		},
		{
			name: "tools/call boolean progress token is ignored",
			in:   `{"id":1,"method":"tools/call","params":{"name":"t","_meta":{"progressToken":true}}}`,
			want: Message{ID: raw(`1`), Method: MethodToolsCall, Params: raw(`{"name":"t","_meta":{"progressToken":true}}`), Tool: "t"},
			kind: toolCall,
		},
		{
			name: "tools/call without a name is a request but not a tool call",
			in:   `{"id":1,"method":"tools/call","params":{"arguments":{}}}`,
			want: Message{ID: raw(`1`), Method: MethodToolsCall, Params: raw(`{"arguments":{}}`)},
			kind: request,
		},
		{
			name: "tools/call with a null name",
			in:   `{"id":1,"method":"tools/call","params":{"name":null}}`,
			want: Message{ID: raw(`1`), Method: MethodToolsCall, Params: raw(`{"name":null}`)},
			kind: request,
		},
		{
			name: "tools/call without params",
			in:   `{"id":1,"method":"tools/call"}`,
			want: Message{ID: raw(`1`), Method: MethodToolsCall},
			kind: request,
		},
		{
			name: "tools/call without an id is a notification",
			in:   `{"method":"tools/call","params":{"name":"t","_meta":{"progressToken":"p"}}}`,
			want: Message{Method: MethodToolsCall, Params: raw(`{"name":"t","_meta":{"progressToken":"p"}}`), Tool: "t", ProgressToken: raw(`"p"`)},
			kind: notification,
		},
		{
			name: "tools/call with an escaped name",
			in:   `{"id":1,"method":"tools\/call","params":{"name":"a\"b\u00e9"}}`,
			want: Message{ID: raw(`1`), Method: MethodToolsCall, Params: raw(`{"name":"a\"b\u00e9"}`), Tool: "a\"bé"},
			kind: toolCall,
		},
		{
			name: "other requests do not read params",
			in:   `{"id":2,"method":"tools/list","params":{"name":"x","_meta":{"progressToken":"p"}}}`,
			want: Message{ID: raw(`2`), Method: "tools/list", Params: raw(`{"name":"x","_meta":{"progressToken":"p"}}`)},
			kind: request,
		},
		{
			name: "other requests accept any params",
			in:   `{"id":2,"method":"ping","params":[1,"x",null]}`,
			want: Message{ID: raw(`2`), Method: "ping", Params: raw(`[1,"x",null]`)},
			kind: request,
		},
		{
			name: "notification",
			in:   `{"jsonrpc":"2.0","method":"notifications/cancelled","params":{"requestId":1,"reason":"x"}}`,
			want: Message{Method: MethodCancelled, Params: raw(`{"requestId":1,"reason":"x"}`)},
			kind: notification,
		},
		{
			name: "progress notification with a string token",
			in:   `{"jsonrpc":"2.0","method":"notifications/progress","params":{"progressToken":"a\"b","progress":1,"total":2}}`,
			want: Message{Method: MethodProgress, Params: raw(`{"progressToken":"a\"b","progress":1,"total":2}`), ProgressToken: raw(`"a\"b"`)},
			kind: notification,
		},
		{
			name: "progress notification with an integer token",
			in:   `{"method":"notifications/progress","params":{"progress":1,"progressToken":12345678901234567890123}}`,
			want: Message{Method: MethodProgress, Params: raw(`{"progress":1,"progressToken":12345678901234567890123}`), ProgressToken: raw(`12345678901234567890123`)},
			kind: notification,
		},
		{
			name: "progress notification token nested in _meta is not its token",
			in:   `{"method":"notifications/progress","params":{"_meta":{"progressToken":1},"progress":1}}`,
			want: Message{Method: MethodProgress, Params: raw(`{"_meta":{"progressToken":1},"progress":1}`)},
			kind: notification,
		},
		{
			name: "progress notification with a null token",
			in:   `{"method":"notifications/progress","params":{"progressToken":null}}`,
			want: Message{Method: MethodProgress, Params: raw(`{"progressToken":null}`)},
			kind: notification,
		},
		{
			name: "progress notification without params",
			in:   `{"method":"notifications/progress"}`,
			want: Message{Method: MethodProgress},
			kind: notification,
		},
		{
			name: "result response",
			in:   `{"jsonrpc":"2.0","id":1,"result":{"content":[{"type":"text","text":"hi"}]}}`,
			want: Message{ID: raw(`1`), HasResult: true},
			kind: response,
		},
		{
			name: "null result is still a result",
			in:   `{"id":"x","result":null}`,
			want: Message{ID: raw(`"x"`), HasResult: true},
			kind: response,
		},
		{
			name: "error response",
			in:   `{"jsonrpc":"2.0","id":"abc","error":{"code":-32601,"message":"no such method"}}`,
			want: Message{ID: raw(`"abc"`), HasError: true},
			kind: response,
		},
		{
			name: "response with both result and error",
			in:   `{"id":1,"result":1,"error":2}`,
			want: Message{ID: raw(`1`), HasResult: true, HasError: true},
			kind: response,
		},
		{
			name: "id alone is neither request nor response",
			in:   `{"id":1}`,
			want: Message{ID: raw(`1`)},
			kind: idOnly,
		},
		{
			name: "a method and a result is a request, not a response",
			in:   `{"id":1,"method":"m","result":{}}`,
			want: Message{ID: raw(`1`), Method: "m", HasResult: true},
			kind: request,
		},
		{
			name: "empty object",
			in:   `{}`,
			kind: notification,
		},
		{
			name: "null method counts as absent",
			in:   `{"id":1,"method":null,"result":1}`,
			want: Message{ID: raw(`1`), HasResult: true},
			kind: response,
		},
		{
			name: "whitespace everywhere",
			in:   " \t\r\n{ \"id\" \n:\t 5 , \"method\" : \"tools/call\" ,\"params\" :\r\n{ \"name\" : \"t\" } } \n\t",
			want: Message{ID: raw(`5`), Method: MethodToolsCall, Params: raw(`{ "name" : "t" }`), Tool: "t"},
			kind: toolCall,
		},
		{
			name: "member names are case-sensitive",
			in:   `{"ID":1,"Method":"tools/call","Params":{"name":"t"},"Result":1,"ERROR":1}`,
			kind: notification,
		},
		{
			name: "upper-case Method with lower-case id is not a tools/call",
			in:   `{"id":1,"Method":"tools/call","params":{"name":"t"}}`,
			want: Message{ID: raw(`1`), Params: raw(`{"name":"t"}`)},
			kind: idOnly,
		},
		{
			name: "method values are case-sensitive",
			in:   `{"id":1,"method":"Tools/Call","params":{"name":"t"}}`,
			want: Message{ID: raw(`1`), Method: "Tools/Call", Params: raw(`{"name":"t"}`)},
			kind: request,
		},
		{
			name: "params key name is case-sensitive",
			in:   `{"id":1,"method":"tools/call","params":{"Name":"t","_Meta":{"progressToken":1}}}`,
			want: Message{ID: raw(`1`), Method: MethodToolsCall, Params: raw(`{"Name":"t","_Meta":{"progressToken":1}}`)},
			kind: request,
		},
		{
			name: "escaped member names match",
			in:   `{"\u0069d":3,"m\u0065thod":"tools/call","params":{"n\u0061me":"t"}}`,
			want: Message{ID: raw(`3`), Method: MethodToolsCall, Params: raw(`{"n\u0061me":"t"}`), Tool: "t"},
			kind: toolCall,
		},
		{
			name: "duplicate id: the last wins",
			in:   `{"id":1,"method":"m","id":"two"}`,
			want: Message{ID: raw(`"two"`), Method: "m"},
			kind: request,
		},
		{
			name: "duplicate method: the last wins",
			in:   `{"id":1,"method":"tools/call","params":{"name":"t"},"method":"ping"}`,
			want: Message{ID: raw(`1`), Method: "ping", Params: raw(`{"name":"t"}`)},
			kind: request,
		},
		{
			name: "duplicate name and progressToken: the last wins",
			in:   `{"id":1,"method":"tools/call","params":{"name":"a","_meta":{"progressToken":1,"progressToken":"b"},"name":"b"}}`,
			want: Message{ID: raw(`1`), Method: MethodToolsCall, Params: raw(`{"name":"a","_meta":{"progressToken":1,"progressToken":"b"},"name":"b"}`), Tool: "b", ProgressToken: raw(`"b"`)},
			kind: toolCall,
		},
		{
			name: "invalid UTF-8 in an id string is kept byte for byte",
			in:   "{\"id\":\"\xff\xfe\",\"method\":\"m\"}",
			want: Message{ID: raw("\"\xff\xfe\""), Method: "m"},
			kind: request,
		},
		{
			name: "deep but legal nesting in params",
			in:   `{"id":1,"method":"m","params":` + strings.Repeat("[", 500) + strings.Repeat("]", 500) + `}`,
			want: Message{ID: raw(`1`), Method: "m", Params: raw(strings.Repeat("[", 500) + strings.Repeat("]", 500))},
			kind: request,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m, err := Parse([]byte(tt.in))
			if err != nil {
				t.Fatalf("Parse(%q): %v", tt.in, err)
			}
			checkMessage(t, m, tt.want)
			checkKind(t, &m, tt.kind)
		})
	}
}

// TestParseID checks that ids come back as the exact bytes sent, whatever their
// form, so that they can be echoed unchanged.
func TestParseID(t *testing.T) {
	tests := []struct {
		name, id string
	}{
		{"small integer", `1`},
		{"zero", `0`},
		{"negative zero", `-0`},
		{"negative", `-42`},
		{"larger than int64 and float64 precision", `12345678901234567890123`},
		{"larger than uint64, negative", `-98765432109876543210987654321`},
		{"fraction", `1.50`},
		{"exponent", `1e3`},
		{"upper-case exponent with sign", `1E+03`},
		{"negative exponent", `-2.5e-10`},
		{"huge exponent", `1e999999999`},
		{"string", `"abc"`},
		{"empty string", `""`},
		{"string that looks like a number", `"123"`},
		{"string that looks like a float", `"1.0"`},
		{"escaped quote and unicode escape", `"a\"b\u00e9"`},
		{"all the short escapes", `"\"\\\/\b\f\n\r\t"`},
		{"surrogate pair escape", `"\ud83d\ude00"`},
		{"lone surrogate escape", `"\ud800"`},
		{"raw UTF-8", `"héllo 😀"`},
		{"a long string", `"` + strings.Repeat("x", 10000) + `"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for _, in := range []string{
				`{"jsonrpc":"2.0","id":` + tt.id + `,"result":{}}`,
				`{"id" :  ` + tt.id + "\n,\"method\":\"tools/call\",\"params\":{\"name\":\"x\"}}",
				`{"method":"m","id":` + tt.id + `}`,
			} {
				m, err := Parse([]byte(in))
				if err != nil {
					t.Fatalf("Parse(%q): %v", in, err)
				}
				if string(m.ID) != tt.id {
					t.Errorf("Parse(%q).ID = %q, want %q", in, m.ID, tt.id)
				}
			}
		})
	}
}

// TestParseIDType checks the ids that are not strings or numbers.
func TestParseIDType(t *testing.T) {
	for _, id := range []string{`null`, `true`, `false`, `{}`, `{"a":1}`, `[]`, `[1]`} {
		for _, in := range []string{
			`{"id":` + id + `,"result":{}}`,
			`{"id":` + id + `,"method":"tools/call","params":{"name":"t"}}`,
			`{"id":1,"id":` + id + `,"method":"m"}`,
		} {
			if m, err := Parse([]byte(in)); err == nil {
				t.Errorf("Parse(%q) = %+v, want an error for id %s", in, m, id)
			}
		}
	}
	// A valid id after an invalid duplicate replaces it.
	m, err := Parse([]byte(`{"id":null,"id":3,"result":1}`))
	if err != nil || string(m.ID) != "3" {
		t.Errorf("Parse with a null id then 3 = %q, %v; want 3, nil", m.ID, err)
	}
}

func TestParseErrors(t *testing.T) {
	tests := []struct {
		name, in string
	}{
		{"empty body", ``},
		{"whitespace only", " \r\n\t"},
		{"top-level array", `[{"id":1,"method":"m"}]`},
		{"empty array", `[]`},
		{"top-level string", `"x"`},
		{"top-level number", `1`},
		{"top-level null", `null`},
		{"top-level true", `true`},
		{"unterminated object", `{"id":1`},
		{"unterminated after comma", `{"id":1,`},
		{"only an open brace", `{`},
		{"unterminated string", `{"id":"abc}`},
		{"missing value", `{"id":}`},
		{"missing colon", `{"id" 1}`},
		{"trailing comma", `{"id":1,}`},
		{"leading comma", `{,"id":1}`},
		{"missing comma", `{"id":1 "method":"m"}`},
		{"single-quoted", `{'id':1}`},
		{"unquoted key", `{id:1}`},
		{"number key", `{1:1}`},
		{"leading zero", `{"id":01}`},
		{"bare minus", `{"id":-}`},
		{"bad exponent", `{"id":1e}`},
		{"NaN", `{"id":NaN}`},
		{"Infinity", `{"id":Infinity}`},
		{"hex", `{"id":0x10}`},
		{"plus sign", `{"id":+1}`},
		{"bad escape", `{"id":"\x"}`},
		{"short unicode escape", `{"id":"\u12"}`},
		{"raw control character in string", "{\"id\":\"a\x01b\"}"},
		{"raw newline in string", "{\"id\":\"a\nb\"}"},
		{"trailing object", `{"id":1}{"id":2}`},
		{"trailing object after space", `{"id":1} {}`},
		{"trailing garbage", `{"id":1}x`},
		{"trailing number", `{"id":1} 1`},
		{"extra close brace", `{"id":1}}`},
		{"extra close bracket", `{"id":1}]`},
		{"trailing NUL", "{\"id\":1}\x00"},
		{"byte order mark", "\xEF\xBB\xBF{\"id\":1}"},
		{"invalid UTF-8 before the object", "\xff{\"id\":1}"},
		{"invalid UTF-8 after the object", "{\"id\":1}\xff"},
		{"invalid UTF-8 outside strings", "{\"id\":1\xff}"},
		{"comment", `{"id":1 /* c */}`},
		{"method is a number", `{"id":1,"method":1}`},
		{"method is an object", `{"id":1,"method":{"name":"tools/call"}}`},
		{"method is an array", `{"id":1,"method":["tools/call"]}`},
		{"method is a boolean", `{"id":1,"method":true}`},
		{"tools/call name is a number", `{"id":1,"method":"tools/call","params":{"name":5}}`},
		{"tools/call params is an array", `{"id":1,"method":"tools/call","params":["t"]}`},
		{"tools/call params is a string", `{"id":1,"method":"tools/call","params":"t"}`},
		{"tools/call params is null", `{"id":1,"method":"tools/call","params":null}`},
		{"tools/call _meta is a string", `{"id":1,"method":"tools/call","params":{"name":"t","_meta":"x"}}`},
		{"tools/call _meta is an array", `{"id":1,"method":"tools/call","params":{"name":"t","_meta":[]}}`},
		{"progress params is an array", `{"method":"notifications/progress","params":[]}`},
		{"progress params is null", `{"method":"notifications/progress","params":null}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m, err := Parse([]byte(tt.in))
			if err == nil {
				t.Fatalf("Parse(%q) = %+v, want an error", tt.in, m)
			}
			checkMessage(t, m, Message{})
		})
	}
}

// TestParseDeepNesting checks that pathological nesting fails cleanly and
// quickly rather than exhausting the stack.
func TestParseDeepNesting(t *testing.T) {
	const depth = 100000
	tests := []struct {
		name, in string
	}{
		{"arrays at the top", strings.Repeat("[", depth) + strings.Repeat("]", depth)},
		{"objects at the top", strings.Repeat(`{"a":`, depth) + "1" + strings.Repeat("}", depth)},
		{"unclosed arrays at the top", strings.Repeat("[", depth)},
		{"arrays in params", `{"id":1,"method":"m","params":` + strings.Repeat("[", depth) + strings.Repeat("]", depth) + `}`},
		{"objects in params", `{"id":1,"method":"m","params":` + strings.Repeat(`{"a":`, depth) + "1" + strings.Repeat("}", depth) + `}`},
		{"arrays in the id", `{"id":` + strings.Repeat("[", depth) + strings.Repeat("]", depth) + `}`},
		{"objects in _meta", `{"id":1,"method":"tools/call","params":{"name":"t","_meta":` + strings.Repeat(`{"progressToken":`, depth) + "1" + strings.Repeat("}", depth) + `}}`},
		{"unclosed objects in an unknown member", `{"x":` + strings.Repeat(`{"a":`, depth)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			start := time.Now()
			m, err := Parse([]byte(tt.in))
			if elapsed := time.Since(start); elapsed > 5*time.Second {
				t.Errorf("Parse took %v", elapsed)
			}
			if err == nil {
				t.Fatalf("Parse of %d levels = %+v, want an error", depth, m)
			}
		})
	}
}

// TestParseSlicesInput checks that the raw fields are slices of the input, as
// Parse promises, not copies: a caller that keeps them must keep the input.
func TestParseSlicesInput(t *testing.T) {
	in := []byte(`{"id":"abc","method":"tools/call","params":{"name":"t","_meta":{"progressToken":77}}}`)
	m, err := Parse(in)
	if err != nil {
		t.Fatal(err)
	}
	for name, r := range map[string]json.RawMessage{"ID": m.ID, "Params": m.Params, "ProgressToken": m.ProgressToken} {
		i := bytes.Index(in, r)
		if i < 0 {
			t.Fatalf("%s %q is not in the input", name, r)
		}
		if &in[i] != &r[0] {
			t.Errorf("%s is a copy, not a slice of the input", name)
		}
	}
}

// FuzzParse checks that Parse never panics, that what it accepts is one valid
// JSON value whose members it reports as encoding/json reads them, and that the
// raw id and progress token it returns can be echoed into valid JSON.
func FuzzParse(f *testing.F) {
	for _, s := range []string{
		`{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"run","_meta":{"progressToken":"tok"}}}`,
		`{"jsonrpc":"2.0","id":"x","method":"tools/call","params":{"name":"run","_meta":{"progressToken":42}}}`,
		`{"jsonrpc":"2.0","method":"notifications/progress","params":{"progressToken":"t","progress":0.5,"total":1,"message":"half"}}`,
		`{"jsonrpc":"2.0","id":12345678901234567890123,"result":{}}`,
		`{"jsonrpc":"2.0","id":-1.5e-7,"error":{"code":-32600,"message":"x"}}`,
		`{"id":"a\"b\u00e9","result":null}`,
		`{"id":"123","method":"ping"}`,
		`{"Method":"tools/call","ID":1}`,
		`{"id":1,"id":null}`,
		`{"id":null,"id":1,"result":1}`,
		`{"id":{},"result":1}`,
		`{"id":1,"method":1}`,
		`{"\u0069d":1,"method":"tools\/call","params":{"name":"x"}}`,
		`{"id":1} {}`,
		`{"id":1}x`,
		``,
		`[]`,
		`{"id":1,"method":"tools/call","params":{"name":"t","_meta":null}}`,
		"{\"id\":\"\xff\",\"result\":1}",
		"\xEF\xBB\xBF{}",
		`{"x":[[[[[[[[[[[[[[[[[[[[]]]]]]]]]]]]]]]]]]]}`,
		`{"id" : 1e999999999 , "result" : 1 }`,
		`{"id":"\ud800","result":1}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		m, err := Parse(data)
		if err != nil {
			if m.ID != nil || m.Method != "" || m.Params != nil || m.ProgressToken != nil {
				t.Fatalf("Parse failed (%v) but returned %+v", err, m)
			}
			return
		}
		if !json.Valid(data) {
			t.Fatalf("Parse accepted %q, which is not valid JSON", data)
		}
		var members map[string]json.RawMessage
		if err := json.Unmarshal(data, &members); err != nil {
			t.Fatalf("Parse accepted %q, which encoding/json cannot read as an object: %v", data, err)
		}
		if !sameRaw(m.ID, members["id"]) {
			t.Fatalf("ID = %q, encoding/json reads %q", m.ID, members["id"])
		}
		if !sameRaw(m.Params, members["params"]) {
			t.Fatalf("Params = %q, encoding/json reads %q", m.Params, members["params"])
		}
		_, hasResult := members["result"]
		_, hasError := members["error"]
		if m.HasResult != hasResult || m.HasError != hasError {
			t.Fatalf("HasResult, HasError = %t, %t, want %t, %t", m.HasResult, m.HasError, hasResult, hasError)
		}
		if mr, ok := members["method"]; ok {
			var method string
			if err := json.Unmarshal(mr, &method); err != nil || method != m.Method {
				t.Fatalf("Method = %q, encoding/json reads %q (%v)", m.Method, method, err)
			}
		} else if m.Method != "" {
			t.Fatalf("Method = %q without a method member", m.Method)
		}
		if m.IsRequest() && m.IsResponse() {
			t.Fatalf("%+v is both a request and a response", m)
		}
		if m.ID != nil {
			checkEchoable(t, data, m.ID)
			if !SameID(m.ID, m.ID) {
				t.Fatalf("SameID(%q, itself) = false", m.ID)
			}
			out := ErrorResponse(m.ID, CodeInternalError, "fuzz \"message\"\n")
			if !json.Valid(out) {
				t.Fatalf("ErrorResponse(%q) = %q, not valid JSON", m.ID, out)
			}
			back, err := Parse(out)
			if err != nil || !bytes.Equal(back.ID, m.ID) || !back.IsResponse() || !back.HasError {
				t.Fatalf("Parse(ErrorResponse(%q)) = %+v, %v", m.ID, back, err)
			}
		}
		if m.ProgressToken != nil {
			checkEchoable(t, data, m.ProgressToken)
			out := Progress(m.ProgressToken, 1, nil, "")
			if !json.Valid(out) {
				t.Fatalf("Progress(%q) = %q, not valid JSON", m.ProgressToken, out)
			}
			back, err := Parse(out)
			if err != nil || !bytes.Equal(back.ProgressToken, m.ProgressToken) {
				t.Fatalf("Parse(Progress(%q)) = %+v, %v", m.ProgressToken, back, err)
			}
		}
		if m.Method == MethodProgress && m.Params != nil {
			if pp, err := ParseProgress(m.Params); err == nil {
				checkEchoable(t, data, pp.Token)
				out := Progress(pp.Token, pp.Progress, pp.Total, pp.Message)
				if !json.Valid(out) {
					t.Fatalf("Progress(%+v) = %q, not valid JSON", pp, out)
				}
			}
		}
	})
}

// checkEchoable checks that an id or token is a JSON string or number taken
// verbatim from the input.
func checkEchoable(t *testing.T, data []byte, id json.RawMessage) {
	t.Helper()
	if !bytes.Contains(data, id) {
		t.Fatalf("%q is not a substring of the input %q", id, data)
	}
	if !json.Valid(id) {
		t.Fatalf("%q is not valid JSON", id)
	}
	var v any
	dec := json.NewDecoder(bytes.NewReader(id))
	dec.UseNumber()
	if err := dec.Decode(&v); err != nil {
		t.Fatalf("%q does not decode: %v", id, err)
	}
	switch v.(type) {
	case string, json.Number:
	default:
		t.Fatalf("%q is a %T, not a string or a number", id, v)
	}
}

// TestParseCancelled checks params.requestId of a notifications/cancelled:
// kept when a string or a number, member names matched exactly.
func TestParseCancelled(t *testing.T) {
	for params, want := range map[string]string{
		`{"requestId":1,"reason":"x"}`: `1`,
		`{"requestId":"a"}`:            `"a"`,
		`{"requestid":1}`:              ``,
		`{"requestId":null}`:           ``,
		`{"requestId":{"a":1}}`:        ``,
	} {
		m, err := Parse([]byte(`{"jsonrpc":"2.0","method":"notifications/cancelled","params":` + params + `}`))
		if err != nil || string(m.RequestID) != want {
			t.Errorf("params %s: RequestID %s, err %v; want %s", params, m.RequestID, err, want)
		}
	}
	if _, err := Parse([]byte(`{"jsonrpc":"2.0","method":"notifications/cancelled","params":[1]}`)); err == nil {
		t.Error("params that are not an object parsed")
	}
}
