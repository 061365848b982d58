package mcpmsg

import (
	"bytes"
	"errors"
	"hash/fnv"
	"io"
	"math/rand/v2"
	"runtime"
	"strconv"
	"strings"
	"testing"
)

// scanChunks feeds chunks to a new Scanner and returns its verdict.
func scanChunks(t *testing.T, chunks ...[]byte) (Message, error) {
	t.Helper()
	var s Scanner
	for _, c := range chunks {
		if n, err := s.Write(c); n != len(c) || err != nil {
			t.Fatalf("Write of %d bytes = %d, %v", len(c), n, err)
		}
	}
	return s.Message()
}

// splitRandomly cuts data into chunks of 0 to 8 bytes, at positions derived
// from the data itself so that a failure reproduces.
func splitRandomly(data []byte) [][]byte {
	h := fnv.New64a()
	h.Write(data)
	rng := rand.New(rand.NewPCG(h.Sum64(), uint64(len(data))))
	var out [][]byte
	for len(data) > 0 {
		n := min(rng.IntN(9), len(data))
		out = append(out, data[:n])
		data = data[n:]
	}
	return out
}

// checkScanner checks that the Scanner agrees with Parse on data, fed whole,
// byte by byte with empty writes between, and in random chunks. Where the
// Scanner refuses an id or method as too long, Parse is not consulted.
func checkScanner(t *testing.T, data []byte) {
	t.Helper()
	want, wantErr := Parse(data)
	bytewise := make([][]byte, 0, 2*len(data))
	for i := range data {
		bytewise = append(bytewise, data[i:i+1], nil)
	}
	for how, chunks := range map[string][][]byte{
		"whole":          {data},
		"byte by byte":   bytewise,
		"random chunks":  splitRandomly(data),
		"split in halve": {data[:len(data)/2], data[len(data)/2:]},
	} {
		got, err := scanChunks(t, chunks...)
		if errors.Is(err, errRawTooLong) {
			continue
		}
		if (err == nil) != (wantErr == nil) {
			t.Fatalf("%s: scanning %q: error %v, Parse error %v", how, short(data), err, wantErr)
		}
		if err != nil {
			if got.ID != nil || got.Method != "" || got.HasResult || got.HasError {
				t.Fatalf("%s: scanning %q failed (%v) but returned %+v", how, short(data), err, got)
			}
			continue
		}
		if !sameRaw(got.ID, want.ID) || got.Method != want.Method || got.HasResult != want.HasResult || got.HasError != want.HasError {
			t.Fatalf("%s: scanning %q:\n got ID %q (nil %t), method %q, result %t, error %t\nwant ID %q (nil %t), method %q, result %t, error %t",
				how, short(data), got.ID, got.ID == nil, got.Method, got.HasResult, got.HasError,
				want.ID, want.ID == nil, want.Method, want.HasResult, want.HasError)
		}
	}
}

// short cuts b for a failure message.
func short(b []byte) []byte {
	if len(b) > 300 {
		return append(b[:150:150], append([]byte("..."), b[len(b)-150:]...)...)
	}
	return b
}

// scannerSeeds are messages, valid and not, from the tests of Parse and more
// that reach into every corner of the Scanner's grammar.
var scannerSeeds = []string{
	`{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"run","_meta":{"progressToken":"tok"}}}`,
	`{"jsonrpc":"2.0","id":"x","method":"tools/call","params":{"name":"run","_meta":{"progressToken":42}}}`,
	`{"jsonrpc":"2.0","method":"notifications/progress","params":{"progressToken":"t","progress":0.5,"total":1,"message":"half"}}`,
	`{"jsonrpc":"2.0","method":"notifications/cancelled","params":{"requestId":1,"reason":"x"}}`,
	`{"jsonrpc":"2.0","method":"notifications/cancelled","params":[1]}`,
	`{"jsonrpc":"2.0","id":12345678901234567890123,"result":{}}`,
	`{"jsonrpc":"2.0","id":-1.5e-7,"error":{"code":-32600,"message":"x"}}`,
	`{"id":"a\"b\u00e9","result":null}`,
	`{"id":"123","method":"ping"}`,
	`{"Method":"tools/call","ID":1}`,
	`{"id":1,"id":null}`,
	`{"id":null,"id":1,"result":1}`,
	`{"id":{},"result":1}`,
	`{"id":[1],"id":"ok","result":1}`,
	`{"id":1,"method":1}`,
	`{"\u0069d":1,"method":"tools\/call","params":{"name":"x"}}`,
	`{"\u0069\u0064":1,"m\u0065thod":"a","\u0072esult":[],"erro\u0072":{}}`,
	`{"i\ud800d":1,"id\u0000":2,"\u00e9":3,"idid":4,"methodx":5}`,
	`{"id":1} {}`,
	`{"id":1}x`,
	``,
	`[]`,
	`{}`,
	" \t\r\n{ \"id\" : 1 , \"result\" : [ ] } \n",
	`{"id":1,"method":"tools/call","params":{"name":"t","_meta":null}}`,
	`{"id":1,"method":"tools/call","params":{"name":null,"_meta":{}}}`,
	`{"id":1,"method":"tools/call","params":{"name":5}}`,
	`{"id":1,"method":"tools/call","params":{"n\u0061me":5}}`,
	`{"id":1,"method":"tools/call","params":{"name":"t","_meta":"x"}}`,
	`{"id":1,"method":"tools/call","params":{"name":"t","x":{"name":5,"_meta":1}}}`,
	`{"id":1,"method":"tools/call","params":{"name":5},"params":{"name":"t"}}`,
	`{"id":1,"method":"tools/call","params":null}`,
	`{"id":1,"method":"tools/call","params":["t"]}`,
	`{"id":1,"params":"t","method":"tools/call"}`,
	`{"id":1,"method":"tools/call","method":null}`,
	`{"id":1,"method":null,"method":"tools/call","params":[]}`,
	`{"method":"notifications/progress","params":null}`,
	`{"method":"notifications/progress"}`,
	`{"method":"x","params":null}`,
	`{"method":"a\ud800b\udc00\ud83d\ude00\u00e9\"","id":"\\"}`,
	"{\"method\":\"\xff\xfe\",\"id\":\"\xff\"}",
	"{\"id\":\"\xff\",\"result\":1}",
	"\xEF\xBB\xBF{}",
	`{"x":[[[[[[[[[[[[[[[[[[[[]]]]]]]]]]]]]]]]]]]}`,
	`{"x":[{"a":[1,{"b":{}}]},[],{}],"id":2}`,
	`{"id" : 1e999999999 , "result" : 1 }`,
	`{"id":"\ud800","result":1}`,
	`{"id":0,"a":-0,"b":0.5,"c":1E+2,"d":1e-2,"e":10,"f":true,"g":false,"h":null}`,
	`{"id":01}`, `{"id":-}`, `{"id":1.}`, `{"id":1e}`, `{"id":1e+}`, `{"id":.5}`, `{"id":1.5.5}`, `{"id":--1}`,
	`{"id":tru}`, `{"id":nul}`, `{"id":truex}`, `{"id":True}`,
	`{"id":"\x"}`, `{"id":"\u12"}`, `{"id":"\u12g4"}`, "{\"id\":\"a\x01b\"}", "{\"id\":\"a\x7fb\"}",
	`{"id":1,}`, `{,"id":1}`, `{"id":1 "method":"m"}`, `{"id" 1}`, `{"id":}`, `{id:1}`, `{1:1}`,
	`{"id":1]`, `{"x":[1}}`, `{"x":[1,]}`, `{"x":[,1]}`, `{"id":1}}`, `{"id":1}]`, "{\"id\":1}\x00",
	`{"id":1`, `{"id":"abc`, `{"id":"abc\`, `{"id":"\u00`, `{"id":1e`, `{`, `{"`, `{"id"`, `{"id":`, `{"x":[`,
}

func TestScanner(t *testing.T) {
	for _, s := range scannerSeeds {
		checkScanner(t, []byte(s))
	}
	for _, id := range []string{`1`, `0`, `-0`, `-42`, `12345678901234567890123`, `1.50`, `1e3`, `1E+03`, `-2.5e-10`,
		`"abc"`, `""`, `"a\"b\u00e9"`, `"\"\\\/\b\f\n\r\t"`, `"\ud83d\ude00"`, `"raw é 😀"`, `"` + strings.Repeat("x", 4000) + `"`,
		`null`, `true`, `false`, `{}`, `{"a":1}`, `[]`, `[1]`} {
		for _, in := range []string{
			`{"jsonrpc":"2.0","id":` + id + `,"result":{}}`,
			`{"id" :  ` + id + "\n,\"method\":\"tools/call\",\"params\":{\"name\":\"x\"}}",
			`{"method":"m","id":` + id + `}`,
			`{"id":1,"id":` + id + `,"method":"m"}`,
			`{"id":` + id + `,"id":2,"error":{}}`,
			`{"id":` + id + `,"method":` + id + `}`,
		} {
			checkScanner(t, []byte(in))
		}
	}
}

// TestScannerNesting checks the nesting limit, which must be encoding/json's
// for the Scanner to agree with Parse, and that pathological nesting fails.
func TestScannerNesting(t *testing.T) {
	for _, depth := range []int{maxNesting - 1, maxNesting, maxNesting + 1, 100000} {
		for _, in := range []string{
			strings.Repeat("[", depth) + strings.Repeat("]", depth),
			`{"x":` + strings.Repeat("[", depth-1) + strings.Repeat("]", depth-1) + `,"id":1}`,
			`{"x":` + strings.Repeat(`{"a":`, depth-1) + "1" + strings.Repeat("}", depth-1) + `,"id":1}`,
			`{"x":` + strings.Repeat(`{"a":[`, depth/2) + strings.Repeat("]}", depth/2) + `}`,
			`{"x":` + strings.Repeat(`{"a":`, depth),
		} {
			m, err := scanChunks(t, []byte(in))
			_, perr := Parse([]byte(in))
			if (err == nil) != (perr == nil) {
				t.Errorf("depth %d, %q...: scanned %+v, %v; Parse error %v", depth, in[:20], m, err, perr)
			}
		}
	}
}

// TestScannerLimit checks that an id or method of up to 4 KiB is kept and a
// longer one refused, and that a long one replaced by a later short one is
// not held against the message.
func TestScannerLimit(t *testing.T) {
	for _, n := range []int{maxScannedRaw - 3, maxScannedRaw - 2, maxScannedRaw - 1, maxScannedRaw} {
		str := `"` + strings.Repeat("é", (n-2)/2) + strings.Repeat("x", (n-2)%2) + `"`
		num := "-" + strings.Repeat("7", n-1)
		for _, raw := range []string{str, num} {
			long := raw[:len(raw)-1] + "0" + raw[len(raw)-1:]
			forms := []string{`{"id":%s,"result":1}`, `{"method":%s}`}
			if raw == num {
				forms = forms[:1] // a method must be a string
			}
			for _, in := range forms {
				ok := strings.Replace(in, "%s", raw, 1)
				checkScanner(t, []byte(ok))
				if len(raw) <= maxScannedRaw {
					if _, err := scanChunks(t, []byte(ok)); err != nil {
						t.Errorf("%d bytes: %v", len(raw), err)
					}
				}
				if _, err := scanChunks(t, []byte(strings.Replace(in, "%s", long, 1))); len(long) > maxScannedRaw && !errors.Is(err, errRawTooLong) {
					t.Errorf("a %d-byte raw value: error %v, want %v", len(long), err, errRawTooLong)
				}
				replaced := `{"id":` + long + `,"method":` + str[:len(str)-1] + `0"` + `,"id":1,"method":"m"}`
				if m, err := scanChunks(t, []byte(replaced)); err != nil || string(m.ID) != "1" || m.Method != "m" {
					t.Errorf("a long id and method replaced: %+v, %v", m, err)
				}
			}
		}
	}
}

// TestScannerWriteNeverFails checks that Write takes everything, even after an
// error, as io.MultiWriter needs, and that Message reports the error.
func TestScannerWriteNeverFails(t *testing.T) {
	var s Scanner
	var copied bytes.Buffer
	w := io.MultiWriter(&copied, &s)
	in := `{"id":1,x` + strings.Repeat(" more", 1000) + `}`
	if n, err := io.Copy(w, strings.NewReader(in)); err != nil || n != int64(len(in)) {
		t.Fatalf("io.Copy = %d, %v", n, err)
	}
	if copied.String() != in {
		t.Error("the other writer did not get everything")
	}
	if _, err := s.Message(); !errors.Is(err, errInvalidJSON) {
		t.Errorf("Message error %v, want %v", err, errInvalidJSON)
	}
}

// bigResponse returns a response whose result has size bytes or more of text
// with escapes, nested objects and numbers, its id at the end.
func bigResponse(size int) []byte {
	var b bytes.Buffer
	b.Grow(size + 1<<20)
	b.WriteString(`{"jsonrpc":"2.0","result":{"content":[{"type":"text","text":"`)
	text := `line with \"quotes\", a back\\slash, \u00e9t\u00E9 and \ud83d\ude00 \/ \b\f\n\r\t; `
	for b.Len() < size/2 {
		b.WriteString(text)
	}
	b.WriteString(`"}],"structuredContent":{"rows":[`)
	row := `{"id":12,"method":"x","result":[1,-2.5e-3,0,true,false,null,"a\"b",{"error":{}}],"n":{"a":[[],{}]}},`
	for b.Len() < size {
		b.WriteString(row)
	}
	b.WriteString(`{}]}},"id":"req-42"}`)
	return b.Bytes()
}

// TestScannerMemory checks that a 50 MB result scanned in 32 KiB chunks costs
// next to no memory, and finds the id after it.
func TestScannerMemory(t *testing.T) {
	const size, chunk = 50 << 20, 32 << 10
	data := bigResponse(size)
	var before, after runtime.MemStats
	var s Scanner
	runtime.GC()
	runtime.ReadMemStats(&before)
	for p := data; len(p) > 0; {
		n := min(chunk, len(p))
		s.Write(p[:n])
		p = p[n:]
	}
	got, err := s.Message()
	runtime.ReadMemStats(&after)
	if err != nil {
		t.Fatal(err)
	}
	if alloc := after.TotalAlloc - before.TotalAlloc; alloc > 64<<10 {
		t.Errorf("scanning %d bytes allocated %d bytes", len(data), alloc)
	} else {
		t.Logf("scanning %d bytes allocated %d bytes", len(data), alloc)
	}
	if string(got.ID) != `"req-42"` || got.Method != "" || !got.HasResult || got.HasError || !got.IsResponse() {
		t.Errorf("scanned %+v, want a response with id \"req-42\"", got)
	}
}

// BenchmarkScanner measures scanning a large response in 32 KiB chunks.
func BenchmarkScanner(b *testing.B) {
	data := bigResponse(4 << 20)
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	for b.Loop() {
		var s Scanner
		for p := data; len(p) > 0; {
			n := min(32<<10, len(p))
			s.Write(p[:n])
			p = p[n:]
		}
		if _, err := s.Message(); err != nil {
			b.Fatal(err)
		}
	}
}

// FuzzScanner checks that the Scanner, fed in random pieces, agrees with Parse
// on every input.
func FuzzScanner(f *testing.F) {
	for _, s := range scannerSeeds {
		f.Add([]byte(s))
	}
	for i, id := range []string{`7`, `"x\"y"`, `-0.5E+7`} {
		f.Add([]byte(`{"jsonrpc":"2.0","id":` + id + `,"result":{"content":[{"type":"text","text":"` + strconv.Itoa(i) + `\n\u0041"}]}}`))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		checkScanner(t, data)
	})
}
