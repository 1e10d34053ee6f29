package falconsim

import "maps"

// Stats counts traffic seen by the simulator since creation or ResetStats.
type Stats struct {
	// Requests is the total number of requests received.
	Requests int
	// ByOperation counts requests by "METHOD /path", e.g.
	// "POST /oauth2/token" or "GET /container-security/queries/registries/v1".
	ByOperation map[string]int
	// RateLimited is the number of 429 responses sent.
	RateLimited int
	// BackgroundRequests and BackgroundRateLimited count the requests of
	// the tenant's other integration (Background), and its 429s.
	BackgroundRequests, BackgroundRateLimited int
	// CreatesSucceeded is the number of registries actually created via
	// the API (including creates answered with an AfterWrite fault).
	CreatesSucceeded int

	writes int
}

// Writes is the number of POST/PATCH/DELETE requests on registry entities
// that reached the handler (i.e. passed rate limiting, auth and
// before-write faults).
func (st Stats) Writes() int { return st.writes }

// Stats returns a snapshot.
func (s *Sim) Stats() Stats {
	s.mu.Lock()
	defer s.mu.Unlock()
	st := s.stats
	st.ByOperation = maps.Clone(s.stats.ByOperation)
	return st
}

// ResetStats zeroes all counters.
func (s *Sim) ResetStats() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.stats = Stats{ByOperation: map[string]int{}}
}

func (s *Sim) countRequest(op string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.stats.Requests++
	s.stats.ByOperation[op]++
}
