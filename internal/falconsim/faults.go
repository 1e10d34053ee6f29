package falconsim

import (
	"net/http"
	"time"
)

// Fault makes matching requests fail. Faults are checked after routing and
// authentication, in the order injected (FIFO); the first matching fault
// with remaining uses fires.
type Fault struct {
	// Method and Path must equal the request's (Path is the exact URL
	// path, no query). An empty Method or Path matches any.
	Method string
	Path   string
	// Status is the HTTP status sent.
	Status int
	// Times is how many matching requests fail; 0 means 1.
	Times int
	// Skip lets this many matching requests through before the fault fires.
	Skip int
	// RetryAfter, on a 429, is sent as X-RateLimit-RetryAfter (now plus
	// RetryAfter, as Unix seconds).
	RetryAfter time.Duration
	// AfterWrite performs the real operation first (e.g. the registry is
	// created) and then answers Status instead of the real response.
	AfterWrite bool
	// Body, when non-empty, is sent verbatim instead of the default JSON
	// error body (e.g. "{not json" or JSON missing required fields).
	Body string
}

// InjectFault queues f.
func (s *Sim) InjectFault(f Fault) {
	if f.Times <= 0 {
		f.Times = 1
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.faults = append(s.faults, &f)
}

// ClearFaults drops all pending faults.
func (s *Sim) ClearFaults() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.faults = nil
}

// takeFault returns a copy of the first matching fault and consumes one use.
func (s *Sim) takeFault(method, path string) *Fault {
	s.mu.Lock()
	defer s.mu.Unlock()
	for i, f := range s.faults {
		if (f.Method != "" && f.Method != method) || (f.Path != "" && f.Path != path) {
			continue
		}
		if f.Skip > 0 {
			f.Skip--
			return nil
		}
		c := *f
		f.Times--
		if f.Times <= 0 {
			s.faults = append(s.faults[:i:i], s.faults[i+1:]...)
		}
		return &c
	}
	return nil
}

func (f *Fault) reply(rc *reqCtx) reply {
	if f.Body != "" {
		return reply{status: f.Status, raw: []byte(f.Body)}
	}
	msg := http.StatusText(f.Status)
	if msg == "" {
		msg = "injected fault"
	}
	rep := errReply(rc, f.Status, "injected fault: "+msg)
	if f.RetryAfter > 0 {
		rep.setHeader(hdrRetryAfter, itoa(time.Now().Add(f.RetryAfter).Unix()))
	}
	return rep
}
