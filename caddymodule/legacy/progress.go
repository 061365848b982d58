package legacy

import "github.com/caddy-stata/caddy-stata/caddymodule/mcpmsg"

// progress keeps the progress values a client receives for one pending
// call's token strictly increasing, whether the handler invents them or the
// upstream sends its own. The rules are those of the held Streamable HTTP
// call.
type progress struct {
	last   float64 // the last value sent
	sent   bool    // whether any value was sent
	offset float64 // added to the upstream's values to keep them increasing
	// upstream tells whether the upstream sent progress since the last tick;
	// while it does, the handler invents none.
	upstream bool
}

// invent returns the next invented value: one more than the last.
func (p *progress) invent() float64 {
	p.last++
	p.sent = true
	return p.last
}

// fromUpstream maps the upstream's values onto the client's scale. While the
// upstream's values stay above what was sent they pass unchanged; when one
// would not increase (because invented values went higher, or the upstream
// went back), it and every later value, total included, are shifted up by
// just enough. It reports whether the values changed.
func (p *progress) fromUpstream(pp *mcpmsg.ProgressParams) (changed bool) {
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
	p.last, p.sent, p.upstream = v, true, true
	return changed
}
