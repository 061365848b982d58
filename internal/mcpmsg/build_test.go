package mcpmsg

import (
	"bytes"
	"encoding/json"
	"math"
	"strconv"
	"strings"
	"testing"
)

// ids are raw ids and tokens in the forms a peer may send, each of which must
// be echoed byte for byte.
var ids = []string{
	`1`, `0`, `-0`, `-42`, `12345678901234567890123`, `-1.5e-7`, `1E+300`, `1e999999999`,
	`"abc"`, `""`, `"123"`, `"a\"b\u00e9"`, `"\\\/\b\f\n\r\t"`, `"\ud800"`, `"héllo 😀"`, `"</script>"`,
}

// messages are error and progress messages with characters JSON must escape.
var messages = []string{
	"", "plain", `with "quotes"`, "line1\nline2\r\nline3\r", "tab\there", `back\slash`,
	"\x00\x01\x1f\x7f", "<script>&amp;</script>", "\u2028\u2029", "é😀", strings.Repeat("long ", 1000),
}

type errorResponse struct {
	JSONRPC string          `json:"jsonrpc"`
	ID      json.RawMessage `json:"id"`
	Error   struct {
		Code    int    `json:"code"`
		Message string `json:"message"`
	} `json:"error"`
}

func TestErrorResponseExact(t *testing.T) {
	tests := []struct {
		id      json.RawMessage
		code    int
		message string
		want    string
	}{
		{raw(`1`), CodeInvalidRequest, "too big", `{"jsonrpc":"2.0","id":1,"error":{"code":-32600,"message":"too big"}}`},
		{raw(`"x"`), CodeInternalError, "", `{"jsonrpc":"2.0","id":"x","error":{"code":-32603,"message":""}}`},
		{nil, CodeServerBusy, "busy", `{"jsonrpc":"2.0","id":null,"error":{"code":-32000,"message":"busy"}}`},
		{json.RawMessage{}, CodeRequestTimeout, "late", `{"jsonrpc":"2.0","id":null,"error":{"code":-32001,"message":"late"}}`},
		{raw(`12345678901234567890123`), 0, "a\"b\nc", `{"jsonrpc":"2.0","id":12345678901234567890123,"error":{"code":0,"message":"a\"b\nc"}}`},
		{raw(`"a\"b\u00e9"`), 42, "\x00", `{"jsonrpc":"2.0","id":"a\"b\u00e9","error":{"code":42,"message":"\u0000"}}`},
		{raw(`-1.5e-7`), math.MinInt32, "\xff", `{"jsonrpc":"2.0","id":-1.5e-7,"error":{"code":-2147483648,"message":"\ufffd"}}`},
	}
	for _, tt := range tests {
		if got := string(ErrorResponse(tt.id, tt.code, tt.message)); got != tt.want {
			t.Errorf("ErrorResponse(%q, %d, %q)\n got %s\nwant %s", tt.id, tt.code, tt.message, got, tt.want)
		}
	}
}

func TestErrorResponse(t *testing.T) {
	for _, id := range ids {
		for _, msg := range messages {
			for _, code := range []int{CodeInvalidRequest, CodeInternalError, CodeServerBusy, CodeRequestTimeout, 0, math.MaxInt32} {
				out := ErrorResponse(json.RawMessage(id), code, msg)
				if !json.Valid(out) {
					t.Fatalf("ErrorResponse(%s, %d, %q) = %s, not valid JSON", id, code, msg, out)
				}
				if !bytes.Contains(out, []byte(`"id":`+id+`,`)) {
					t.Errorf("ErrorResponse(%s, ...) = %s, does not hold the id bytes", id, out)
				}
				var got errorResponse
				if err := json.Unmarshal(out, &got); err != nil {
					t.Fatalf("decoding %s: %v", out, err)
				}
				if got.JSONRPC != "2.0" || string(got.ID) != id || got.Error.Code != code || got.Error.Message != msg {
					t.Errorf("ErrorResponse(%s, %d, %q) decodes to %+v", id, code, msg, got)
				}
				m, err := Parse(out)
				if err != nil || !m.IsResponse() || !m.HasError || m.HasResult || string(m.ID) != id {
					t.Errorf("Parse(%s) = %+v, %v; want an error response with id %s", out, m, err, id)
				}
			}
		}
	}
}

// TestErrorResponseEscapes checks that no raw control character, and no raw
// line break in particular, reaches the output, which is sent as SSE data.
func TestErrorResponseEscapes(t *testing.T) {
	var all strings.Builder
	for r := rune(0); r < 0x20; r++ {
		all.WriteRune(r)
	}
	all.WriteString("\"\\\u2028\u2029")
	out := ErrorResponse(raw(`1`), 1, all.String())
	for _, c := range out {
		if c < 0x20 {
			t.Fatalf("ErrorResponse output %q holds raw control character %#x", out, c)
		}
	}
	var got errorResponse
	if err := json.Unmarshal(out, &got); err != nil || got.Error.Message != all.String() {
		t.Errorf("message %q came back as %q (%v)", all.String(), got.Error.Message, err)
	}
}

// fmtTotal formats an optional total.
func fmtTotal(total *float64) string {
	if total == nil {
		return "nil"
	}
	return strconv.FormatFloat(*total, 'g', -1, 64)
}

type progressNotification struct {
	JSONRPC string `json:"jsonrpc"`
	Method  string `json:"method"`
	Params  struct {
		ProgressToken json.RawMessage `json:"progressToken"`
		Progress      float64         `json:"progress"`
		Total         *float64        `json:"total"`
		Message       *string         `json:"message"`
	} `json:"params"`
}

func TestProgressExact(t *testing.T) {
	tests := []struct {
		token    json.RawMessage
		progress float64
		total    *float64
		message  string
		want     string
	}{
		{raw(`"t"`), 1, nil, "", `{"jsonrpc":"2.0","method":"notifications/progress","params":{"progressToken":"t","progress":1}}`},
		{raw(`7`), 0.5, f64(2), "", `{"jsonrpc":"2.0","method":"notifications/progress","params":{"progressToken":7,"progress":0.5,"total":2}}`},
		{raw(`7`), 3, nil, "run: 3s", `{"jsonrpc":"2.0","method":"notifications/progress","params":{"progressToken":7,"progress":3,"message":"run: 3s"}}`},
		{raw(`"a\"b\u00e9"`), 1e21, f64(1e-7), "q\"\n", `{"jsonrpc":"2.0","method":"notifications/progress","params":{"progressToken":"a\"b\u00e9","progress":1000000000000000000000,"total":0.0000001,"message":"q\"\n"}}`},
		{raw(`12345678901234567890123`), 0, f64(0), "", `{"jsonrpc":"2.0","method":"notifications/progress","params":{"progressToken":12345678901234567890123,"progress":0,"total":0}}`},
	}
	for _, tt := range tests {
		if got := string(Progress(tt.token, tt.progress, tt.total, tt.message)); got != tt.want {
			t.Errorf("Progress(%s, %v, %s, %q)\n got %s\nwant %s", tt.token, tt.progress, fmtTotal(tt.total), tt.message, got, tt.want)
		}
	}
}

func TestProgress(t *testing.T) {
	values := []float64{0, 1, 0.5, 3.25, 1e21, 1e-7, 123456789.125, math.MaxFloat64, math.SmallestNonzeroFloat64, math.Copysign(0, -1), -1}
	for _, token := range ids {
		for _, msg := range messages {
			for i, p := range values {
				var total *float64
				if i%2 == 1 {
					total = f64(values[len(values)-1-i])
				}
				out := Progress(json.RawMessage(token), p, total, msg)
				if !json.Valid(out) {
					t.Fatalf("Progress(%s, %v, %s, %q) = %s, not valid JSON", token, p, fmtTotal(total), msg, out)
				}
				if !bytes.Contains(out, []byte(`"progressToken":`+token+`,`)) {
					t.Errorf("Progress(%s, ...) = %s, does not hold the token bytes", token, out)
				}
				var got progressNotification
				if err := json.Unmarshal(out, &got); err != nil {
					t.Fatalf("decoding %s: %v", out, err)
				}
				if got.JSONRPC != "2.0" || got.Method != MethodProgress || string(got.Params.ProgressToken) != token || got.Params.Progress != p {
					t.Errorf("Progress(%s, %v, ...) decodes to %+v", token, p, got)
				}
				if (got.Params.Total == nil) != (total == nil) || (total != nil && *got.Params.Total != *total) {
					t.Errorf("Progress(..., total %s, ...) decodes with total %s", fmtTotal(total), fmtTotal(got.Params.Total))
				}
				if (got.Params.Message == nil) != (msg == "") || (msg != "" && *got.Params.Message != msg) {
					t.Errorf("Progress(..., %q) decodes with message %v", msg, got.Params.Message)
				}
				// The handler reads its own output back as the upstream's would be.
				m, err := Parse(out)
				if err != nil || m.Method != MethodProgress || string(m.ProgressToken) != token {
					t.Fatalf("Parse(%s) = %+v, %v", out, m, err)
				}
				pp, err := ParseProgress(m.Params)
				if err != nil {
					t.Fatalf("ParseProgress(%s): %v", m.Params, err)
				}
				checkProgress(t, pp, ProgressParams{Token: json.RawMessage(token), Progress: p, Total: total, Message: msg})
			}
		}
	}
}

// TestProgressNotFinite checks that values JSON cannot carry still give valid
// JSON, which the handler's progress arithmetic can produce on overflow.
func TestProgressNotFinite(t *testing.T) {
	tests := []struct {
		in, want float64
	}{
		{math.Inf(1), math.MaxFloat64},
		{math.Inf(-1), -math.MaxFloat64},
		{math.NaN(), 0},
	}
	for _, tt := range tests {
		out := Progress(raw(`1`), tt.in, f64(tt.in), "")
		if !json.Valid(out) {
			t.Errorf("Progress(1, %v, %v, \"\") = %s, not valid JSON", tt.in, tt.in, out)
			continue
		}
		var got progressNotification
		if err := json.Unmarshal(out, &got); err != nil {
			t.Fatalf("decoding %s: %v", out, err)
		}
		if got.Params.Progress != tt.want || got.Params.Total == nil || *got.Params.Total != tt.want {
			t.Errorf("Progress(1, %v, %v, \"\") = %s, want progress and total %v", tt.in, tt.in, out, tt.want)
		}
	}
}

// TestProgressNoToken checks that a missing token gives null, as a missing id
// does in ErrorResponse, rather than invalid JSON.
func TestProgressNoToken(t *testing.T) {
	for _, token := range []json.RawMessage{nil, {}} {
		out := Progress(token, 1, nil, "")
		want := `{"jsonrpc":"2.0","method":"notifications/progress","params":{"progressToken":null,"progress":1}}`
		if string(out) != want {
			t.Errorf("Progress(%q, 1, nil, \"\") = %s, want %s", token, out, want)
		}
	}
}

// TestAppendStringAsMarshal checks that appendString writes what
// json.Marshal writes, on its fast path and off it.
func TestAppendStringAsMarshal(t *testing.T) {
	for _, s := range []string{"", "stata_run: running for 1m30s", "a\"b", `back\slash`, "<&>", "tab\there", "é", "\x7f", "\xff", "日本"} {
		want, _ := json.Marshal(s)
		if got := appendString([]byte("x"), s); string(got) != "x"+string(want) {
			t.Errorf("appendString(%q) = %s, want x%s", s, got, want)
		}
	}
}
