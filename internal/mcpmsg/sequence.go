package mcpmsg

// ProgressSeq keeps the progress values sent to a client for one token
// strictly increasing, as MCP requires, whether they are invented by a
// keep-alive or come from the server. The zero value is ready to use.
type ProgressSeq struct {
	last   float64 // the last value sent
	sent   bool    // whether any value was sent
	offset float64 // added to the server's values to keep them increasing
	// Upstream tells whether the server sent progress since it was last
	// cleared; while it does, keep-alives invent none.
	Upstream bool
}

// Invent returns the next invented value: one more than the last.
func (p *ProgressSeq) Invent() float64 {
	p.last++
	p.sent = true
	return p.last
}

// FromUpstream maps the server's values onto the client's scale. While the
// server's values stay above what was sent they pass unchanged; when one
// would not increase (because invented values went higher, or the server
// went back), it and every later value, total included, are shifted up by
// just enough. It reports whether pp was changed, and sets Upstream.
func (p *ProgressSeq) FromUpstream(pp *ProgressParams) (changed bool) {
	v := pp.Progress + p.offset
	if p.sent && v <= p.last {
		d := p.last + 1 - v
		p.offset += d
		v += d
	}
	changed = p.offset != 0
	if changed {
		pp.Progress = v
		if pp.Total != nil {
			t := *pp.Total + p.offset
			pp.Total = &t
		}
	}
	p.last, p.sent, p.Upstream = v, true, true
	return changed
}
