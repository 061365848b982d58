package rest

import "net/http/httptest"

// newRecorder returns a response recorder.
func newRecorder() *httptest.ResponseRecorder { return httptest.NewRecorder() }
