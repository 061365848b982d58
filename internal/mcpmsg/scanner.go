package mcpmsg

import (
	"encoding/json"
	"errors"
	"fmt"
)

// maxScannedRaw is the longest raw id or method, in bytes, that a Scanner
// keeps; a message with a longer one fails, so that memory stays bounded.
const maxScannedRaw = 4 << 10

// errRawTooLong is returned by Scanner.Message for an id or method longer
// than maxScannedRaw.
var errRawTooLong = fmt.Errorf("longer than %d bytes", maxScannedRaw)

// maxNesting is how deeply arrays and objects may nest: encoding/json's limit,
// which Parse inherits through json.Valid.
const maxNesting = 10000

// Scanner classifies one JSON-RPC message fed to it in pieces, in constant
// memory, so that a response carrying a large result can be classified as it
// streams past. Feed it with Write, in chunks split anywhere, then call
// Message. It validates the whole message as Parse does and agrees with Parse
// on ID, Method, HasResult and HasError, and on success or failure, but it
// fails where the raw id or method is longer than 4 KiB, which Parse accepts.
// It does not report Params, Tool, ProgressToken or RequestID, which it would
// have to keep. The zero value is ready to use.
type Scanner struct {
	state  scanState
	err    error
	offset int64 // bytes written so far, for error messages

	depth  int // arrays and objects open
	arrays [maxNesting/8 + 1]byte
	isKey  bool   // the string being read is a member name
	lit    string // the rest of the literal being read
	hex    int    // hex digits of a \u escape still to come
	code   rune   // the value of the \u escape being read

	// The member name being read when it is one that matters: a name at
	// the top level, or in an object that is the params member.
	wantKey bool
	key     [8]byte
	keyLen  int
	role    role
	capture role // roleID or roleMethod while the value is being kept

	id                    []byte
	idSet, idValid, idBig bool
	method                []byte
	methodSet, methodBig  bool

	inParams      bool // the object open at depth 2 is the params member
	paramsSet     bool
	paramsObject  bool
	paramsToolsOK bool // params.name and params._meta suit a tools/call

	hasResult, hasError bool
}

// scanState is where a Scanner is in the JSON grammar.
type scanState uint8

const (
	scanStart        scanState = iota // before the top-level value
	scanValue                         // a value is expected
	scanValueOrClose                  // just after '['
	scanKey                           // a member name is expected, after ','
	scanKeyOrClose                    // just after '{'
	scanColon                         // after a member name
	scanAfterValue                    // after a value: ',' or a closing bracket
	scanString                        // in a string
	scanEscape                        // after a backslash in a string
	scanHex                           // in the hex digits of a \u escape
	scanLiteral                       // in true, false or null
	scanNeg                           // after the minus sign of a number
	scanZero                          // after a leading zero
	scanInt                           // in the integer digits
	scanDot                           // after the decimal point
	scanFrac                          // in the fraction digits
	scanExp                           // after 'e' or 'E'
	scanExpSign                       // after the sign of the exponent
	scanExpDigits                     // in the exponent digits
	scanEnd                           // after the top-level object
)

// role is what a member's value means to the Scanner.
type role uint8

const (
	roleNone role = iota
	roleID
	roleMethod
	roleParams
	roleResult
	roleError
	roleName // params.name
	roleMeta // params._meta
)

// Write scans p as the next piece of the message. It always returns len(p)
// and no error, so that a Scanner can sit in an io.MultiWriter: an error in
// the message is recorded, the rest ignored, and Message reports it.
func (s *Scanner) Write(p []byte) (int, error) {
	if s.err == nil {
		s.scan(p)
	}
	s.offset += int64(len(p))
	return len(p), nil
}

// Message returns what the scanned message says, or why it is not a message
// Parse accepts, or that its id or method is too long to keep. The ID is the
// exact bytes sent, a copy the caller may keep.
func (s *Scanner) Message() (Message, error) {
	if s.err != nil {
		return Message{}, s.err
	}
	switch s.state {
	case scanEnd:
	case scanStart:
		return Message{}, fmt.Errorf("%w: no value", errInvalidJSON)
	default:
		return Message{}, fmt.Errorf("%w: unexpected end after %d bytes", errInvalidJSON, s.offset)
	}
	m := Message{HasResult: s.hasResult, HasError: s.hasError}
	if s.idSet {
		switch {
		case !s.idValid:
			return Message{}, errors.New("id is neither a string nor a number")
		case s.idBig:
			return Message{}, fmt.Errorf("id %w", errRawTooLong)
		}
		m.ID = append(json.RawMessage(nil), s.id...)
	}
	if s.methodSet {
		if s.methodBig {
			return Message{}, fmt.Errorf("method %w", errRawTooLong)
		}
		if err := json.Unmarshal(s.method, &m.Method); err != nil {
			return Message{}, fmt.Errorf("member \"method\": %w", err)
		}
	}
	switch m.Method {
	case MethodToolsCall, MethodProgress, MethodCancelled:
		if s.paramsSet && !s.paramsObject {
			return Message{}, fmt.Errorf("%s params: %w", m.Method, errNotObject)
		}
		if m.Method == MethodToolsCall && s.paramsSet && !s.paramsToolsOK {
			return Message{}, fmt.Errorf("%s params: name is not a string or _meta not an object", m.Method)
		}
	}
	return m, nil
}

// fail records that the message is invalid at byte i of the current piece.
func (s *Scanner) fail(i int, c byte) {
	s.err = fmt.Errorf("%w: unexpected %q at byte %d", errInvalidJSON, c, s.offset+int64(i))
}

// scan runs the grammar over p.
func (s *Scanner) scan(p []byte) {
	for i := 0; i < len(p); i++ {
		c := p[i]
		switch s.state {
		case scanStart:
			switch {
			case isSpace(c):
			case c == '{':
				s.open(c)
			default:
				s.err = fmt.Errorf("%w at byte %d", errNotObject, s.offset+int64(i))
			}
		case scanValue, scanValueOrClose:
			switch {
			case isSpace(c):
			case c == ']' && s.state == scanValueOrClose:
				s.close()
			default:
				if !s.beginValue(c) {
					s.fail(i, c)
				}
			}
		case scanKey, scanKeyOrClose:
			switch {
			case isSpace(c):
			case c == '}' && s.state == scanKeyOrClose:
				s.close()
			case c == '"':
				s.isKey = true
				s.wantKey = s.depth == 1 || (s.depth == 2 && s.inParams)
				s.keyLen = 0
				s.state = scanString
			default:
				s.fail(i, c)
			}
		case scanColon:
			switch {
			case isSpace(c):
			case c == ':':
				s.state = scanValue
			default:
				s.fail(i, c)
			}
		case scanAfterValue:
			switch {
			case isSpace(c):
			case c == ',':
				if s.inArray() {
					s.state = scanValue
				} else {
					s.state = scanKey
				}
			case c == ']' && s.inArray(), c == '}' && !s.inArray():
				s.close()
			default:
				s.fail(i, c)
			}
		case scanString:
			switch {
			case c == '"':
				s.keep(c)
				s.endString()
			case c == '\\':
				s.keep(c)
				s.state = scanEscape
			case c < 0x20:
				s.fail(i, c)
			case s.capture == roleNone && !s.wantKey:
				// Skip the plain run without looking back at the state.
				for i+1 < len(p) && p[i+1] != '"' && p[i+1] != '\\' && p[i+1] >= 0x20 {
					i++
				}
			default:
				s.keep(c)
				s.keyByte(c)
			}
		case scanEscape:
			s.keep(c)
			switch c {
			case '"', '\\', '/':
				s.keyByte(c)
			case 'b':
				s.keyByte('\b')
			case 'f':
				s.keyByte('\f')
			case 'n':
				s.keyByte('\n')
			case 'r':
				s.keyByte('\r')
			case 't':
				s.keyByte('\t')
			case 'u':
				s.hex, s.code = 4, 0
				s.state = scanHex
				continue
			default:
				s.fail(i, c)
				continue
			}
			s.state = scanString
		case scanHex:
			d, ok := hexDigit(c)
			if !ok {
				s.fail(i, c)
				continue
			}
			s.keep(c)
			s.code = s.code<<4 | d
			if s.hex--; s.hex == 0 {
				// Only ASCII can make a name that matters; a surrogate
				// or anything above decodes to something else.
				if s.code < 0x80 {
					s.keyByte(byte(s.code))
				} else {
					s.keyByte(0x80)
				}
				s.state = scanString
			}
		case scanLiteral:
			if c != s.lit[0] {
				s.fail(i, c)
				continue
			}
			if s.lit = s.lit[1:]; s.lit == "" {
				s.endValue()
			}
		case scanNeg:
			switch {
			case c == '0':
				s.keep(c)
				s.state = scanZero
			case '1' <= c && c <= '9':
				s.keep(c)
				s.state = scanInt
			default:
				s.fail(i, c)
			}
		case scanZero, scanInt, scanFrac:
			switch {
			case '0' <= c && c <= '9' && s.state != scanZero:
				s.keep(c)
			case c == '.' && s.state != scanFrac:
				s.keep(c)
				s.state = scanDot
			case c == 'e' || c == 'E':
				s.keep(c)
				s.state = scanExp
			default:
				s.endValue()
				i-- // c follows the number
			}
		case scanDot:
			if c < '0' || c > '9' {
				s.fail(i, c)
				continue
			}
			s.keep(c)
			s.state = scanFrac
		case scanExp:
			switch {
			case c == '+' || c == '-':
				s.keep(c)
				s.state = scanExpSign
			case '0' <= c && c <= '9':
				s.keep(c)
				s.state = scanExpDigits
			default:
				s.fail(i, c)
			}
		case scanExpSign, scanExpDigits:
			switch {
			case '0' <= c && c <= '9':
				s.keep(c)
				s.state = scanExpDigits
			case s.state == scanExpDigits:
				s.endValue()
				i--
			default:
				s.fail(i, c)
			}
		case scanEnd:
			if !isSpace(c) {
				s.fail(i, c)
			}
		}
		if s.err != nil {
			return
		}
	}
}

// beginValue starts the value whose first byte is c, and reports whether c
// can start one.
func (s *Scanner) beginValue(c byte) bool {
	r := s.role
	s.role = roleNone
	switch c {
	case '{', '[', '"', 't', 'f', 'n', '-', '0', '1', '2', '3', '4', '5', '6', '7', '8', '9':
	default:
		return false
	}
	s.noteValue(r, c)
	switch c {
	case '{', '[':
		s.open(c)
		if s.depth == 2 {
			s.inParams = r == roleParams && c == '{'
		}
	case '"':
		s.keep(c)
		s.isKey, s.wantKey = false, false
		s.state = scanString
	case 't':
		s.lit, s.state = "rue", scanLiteral
	case 'f':
		s.lit, s.state = "alse", scanLiteral
	case 'n':
		s.lit, s.state = "ull", scanLiteral
	case '-':
		s.keep(c)
		s.state = scanNeg
	case '0':
		s.keep(c)
		s.state = scanZero
	default:
		s.keep(c)
		s.state = scanInt
	}
	return true
}

// noteValue records what a member's value starting with c tells, as Parse
// would see it, given the member's role.
func (s *Scanner) noteValue(r role, c byte) {
	switch r {
	case roleID:
		// The last id member wins, as in Parse.
		s.idSet, s.idBig = true, false
		s.id = s.id[:0]
		s.idValid = c == '"' || c == '-' || ('0' <= c && c <= '9')
		if s.idValid {
			s.capture = roleID
		}
	case roleMethod:
		// A null method leaves the last one in place, as json.Unmarshal
		// does in Parse; any other type fails.
		switch c {
		case '"':
			s.methodSet, s.methodBig = true, false
			s.method = s.method[:0]
			s.capture = roleMethod
		case 'n':
		default:
			s.err = fmt.Errorf("member \"method\": a %s is not a string", jsonKind(c))
		}
	case roleParams:
		s.paramsSet = true
		s.paramsObject = c == '{'
		s.paramsToolsOK = true
	case roleResult:
		s.hasResult = true
	case roleError:
		s.hasError = true
	case roleName:
		if c != '"' && c != 'n' {
			s.paramsToolsOK = false
		}
	case roleMeta:
		if c != '{' && c != 'n' {
			s.paramsToolsOK = false
		}
	}
}

// jsonKind names the kind of JSON value that starts with c.
func jsonKind(c byte) string {
	switch c {
	case '{':
		return "object"
	case '[':
		return "array"
	case 't', 'f':
		return "boolean"
	}
	return "number"
}

// open enters an array or object.
func (s *Scanner) open(c byte) {
	s.depth++
	if s.depth > maxNesting {
		s.err = fmt.Errorf("%w: nested more than %d deep", errInvalidJSON, maxNesting)
		return
	}
	bit := byte(1) << (s.depth % 8)
	if c == '[' {
		s.arrays[s.depth/8] |= bit
		s.state = scanValueOrClose
	} else {
		s.arrays[s.depth/8] &^= bit
		s.state = scanKeyOrClose
	}
}

// close leaves the innermost array or object.
func (s *Scanner) close() {
	s.depth--
	if s.depth == 0 {
		s.state = scanEnd
		return
	}
	s.endValue()
}

// inArray reports whether the innermost open value is an array.
func (s *Scanner) inArray() bool {
	return s.arrays[s.depth/8]&(1<<(s.depth%8)) != 0
}

// endString ends the string being read, a member name or a value.
func (s *Scanner) endString() {
	if !s.isKey {
		s.endValue()
		return
	}
	s.isKey = false
	s.state = scanColon
	s.role = roleNone
	if !s.wantKey {
		return
	}
	s.wantKey = false
	key := string(s.key[:s.keyLen]) // not allocated: only compared
	if s.depth == 1 {
		switch key {
		case "id":
			s.role = roleID
		case "method":
			s.role = roleMethod
		case "params":
			s.role = roleParams
		case "result":
			s.role = roleResult
		case "error":
			s.role = roleError
		}
		return
	}
	switch key {
	case "name":
		s.role = roleName
	case "_meta":
		s.role = roleMeta
	}
}

// endValue ends a value that is not the top-level one.
func (s *Scanner) endValue() {
	s.capture = roleNone
	s.state = scanAfterValue
}

// keep adds c to the raw id or method being kept, if any.
func (s *Scanner) keep(c byte) {
	switch s.capture {
	case roleID:
		if len(s.id) == maxScannedRaw {
			s.idBig = true
			return
		}
		s.id = append(s.id, c)
	case roleMethod:
		if len(s.method) == maxScannedRaw {
			s.methodBig = true
			return
		}
		s.method = append(s.method, c)
	}
}

// keyByte adds the decoded byte c to the member name being read, if it is
// one that may matter. A name longer than any that matters, or with a byte
// that is not ASCII, does not matter: the rest of it is skipped.
func (s *Scanner) keyByte(c byte) {
	if !s.wantKey {
		return
	}
	if c >= 0x80 || s.keyLen == len(s.key) {
		s.wantKey = false
		return
	}
	s.key[s.keyLen] = c
	s.keyLen++
}

// isSpace reports whether c is JSON white space.
func isSpace(c byte) bool {
	return c == ' ' || c == '\t' || c == '\r' || c == '\n'
}

// hexDigit returns the value of the hex digit c.
func hexDigit(c byte) (rune, bool) {
	switch {
	case '0' <= c && c <= '9':
		return rune(c - '0'), true
	case 'a' <= c && c <= 'f':
		return rune(c - 'a' + 10), true
	case 'A' <= c && c <= 'F':
		return rune(c - 'A' + 10), true
	}
	return 0, false
}
