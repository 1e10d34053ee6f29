package onboard

import (
	"crypto/sha256"
	"encoding/hex"
	"slices"
	"strings"
	"sync"
	"time"
)

// SummaryRepeat is how long a process stays quiet about a verdict it has
// already published: a coverage gap nobody fixed is told again once a day,
// not at every scheduled run.
const SummaryRepeat = 24 * time.Hour

// summaries decides which real runs publish a summary (README, "Optional:
// trust check, pruning, summaries, home account"): every run that changed
// something, or failed as a whole; and, of the runs whose coverage speaks
// for the tenant (Report.TenantCoverage: not narrowed), one that is not
// clean when its verdict (what needs attention, which accounts are skipped
// and why, which registrations failed) is new to this process or was last
// told SummaryRepeat ago, and the first clean one after one that was not:
// a failure that repeats every run (a role nobody fixes) is told once a
// day, not every run. A narrowed run with a failure is always told. A
// clean one forgets the verdicts told, so that unclean, clean, unclean is
// told each time. A narrowed run neither reads nor changes that memory: its
// coverage is of a part of the scope, clean or not. The memory lives as
// long as the process (a Lambda sandbox): a cold start may tell a verdict
// once more.
type summaries struct {
	mu      sync.Mutex
	told    map[string]time.Time // verdict digest -> when published
	unclean bool                 // the last tenant-wide verdict was not clean
}

// due reports whether r (the run's error runErr) should be published at now.
func (s *summaries) due(r Report, runErr error, now time.Time) bool {
	changed := runErr != nil || r.Changed()
	always := changed || r.Failures() > 0
	c := r.TenantCoverage()
	if c == nil {
		return always
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if c.Clean {
		wasUnclean := s.unclean
		s.unclean, s.told = false, nil
		return always || wasUnclean
	}
	s.unclean = true
	v := verdict(r)
	if last, ok := s.told[v]; ok && now.Sub(last) < SummaryRepeat && !changed {
		return false
	}
	if s.told == nil {
		s.told = map[string]time.Time{}
	}
	s.told[v] = now // a summary published for a change tells the verdict too
	return true
}

// verdict digests what makes r not clean: its attention lines, its
// skipped accounts with their reasons and the registrations that failed
// (by URL: an error's words may change from run to run).
func verdict(r Report) string {
	var lines []string
	if r.Coverage != nil {
		lines = append(lines, r.Coverage.Attention...)
	}
	for _, sk := range r.Accounts.Skipped {
		lines = append(lines, sk.AccountID+"\x00"+sk.Reason)
	}
	for _, f := range append(append([]Failure{}, r.Registries.Failed...), r.Registries.DeleteFailed...) {
		lines = append(lines, "failed\x00"+f.URL)
	}
	slices.Sort(lines)
	sum := sha256.Sum256([]byte(strings.Join(lines, "\n")))
	return hex.EncodeToString(sum[:])
}
