package streams

import (
	"crypto/sha256"
	"crypto/subtle"
	"net/http"
)

// Owner is who may read a stream: the MCP session and the credentials of the
// request that started it. Only a hash of the credentials is kept.
type Owner struct {
	session string
	auth    [sha256.Size]byte
}

// OwnerOf returns the owner a request speaks for: its Mcp-Session-Id and
// Authorization headers.
func OwnerOf(h http.Header) Owner {
	return Owner{session: h.Get("Mcp-Session-Id"), auth: sha256.Sum256([]byte(h.Get("Authorization")))}
}

// Is reports whether o and other are the same owner, in time that does not
// depend on where they differ.
func (o Owner) Is(other Owner) bool {
	s := subtle.ConstantTimeCompare([]byte(o.session), []byte(other.session))
	a := subtle.ConstantTimeCompare(o.auth[:], other.auth[:])
	return s&a == 1
}

// key returns a map key for calls of this owner with the given request key.
func (o Owner) key(request string) string {
	return o.session + "\x00" + string(o.auth[:]) + "\x00" + request
}
