package mcpmsg

// ProgressSeq keeps the progress values sent to a client for one token
// strictly increasing, as MCP requires, whether they are invented by a
// keep-alive or come from the server. The zero value is ready to use.
type ProgressSeq struct {
	last     float64 // the last value sent
	sent     bool    // whether any value was sent
	offset   float64 // added to the server's values to keep them increasing
	total    float64 // the server's last total, on the client's scale
	hasTotal bool    // whether the server's last progress had a total
	// Upstream tells whether the server sent progress since it was last
	// cleared; while it does, keep-alives invent none.
	Upstream bool
	// Message is the message of the server's last progress, or empty.
	Message string
}

// Invent returns the next invented value and the total to send with it.
// Until the server sends a total, the value is one more than the last and
// there is no total. While the server's last progress had one, the value
// closes a tenth of the gap to it and carries it, so that a client's
// progress bar keeps its scale and moves on without reaching the end before
// the call does; when the gap is too small to split, the total is left out,
// since a value at or above it would claim the work done.
func (p *ProgressSeq) Invent() (progress float64, total *float64) {
	p.sent = true
	if p.hasTotal {
		next := p.last + (p.total-p.last)/10
		if next > p.last && next < p.total {
			p.last = next
			return next, &p.total
		}
		p.hasTotal = false
	}
	p.last++
	return p.last, nil
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
	p.hasTotal = pp.Total != nil
	if p.hasTotal {
		p.total = *pp.Total
	}
	p.Message = pp.Message
	return changed
}
