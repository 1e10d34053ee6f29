package trigger_test

import (
	"context"
	"sync"
	"sync/atomic"
	"time"

	"github.com/crowdstrike-ecr/ecr-onboard/internal/onboard"
	"github.com/crowdstrike-ecr/ecr-onboard/internal/trigger"
)

// Deadline tests decide what happens before a deadline by holding API calls
// until the instant that matters has passed, never by racing the clock: on
// a loaded machine they pass or fail exactly as on an idle one.

// accountsAfterDeadline lists accounts only once the run's context has
// ended, so the listing always fails as a real one cut by the deadline does
// (through the real adapter, with an expired context).
type accountsAfterDeadline struct{ onboard.Falcon }

func (f accountsAfterDeadline) Accounts(ctx context.Context) ([]onboard.Account, error) {
	<-ctx.Done()
	return f.Falcon.Accounts(ctx)
}

// writeCutoff makes every invocation of a Handler stop starting writes after
// a chosen number of creates. It wraps the Runner's Falcon: the first Free
// creates of an invocation go through at once; later ones are held until the
// invocation's write cut-off (deadline - Reserve - WriteMargin) has passed.
// The run starts no write after the cut-off, so each invocation creates
// exactly Free + MAX_CONCURRENCY registries (those held, then let through),
// and its held writes still end long before the deadline.
type writeCutoff struct {
	onboard.Falcon
	Free int64

	mu      sync.Mutex
	cutoff  time.Time
	creates atomic.Int64
}

// Listing and the free creates must fit before the cut-off: a hang guard,
// not a race (they take milliseconds).
const (
	cutoffAfter = 2 * time.Second
	testMargin  = 5 * time.Second // WriteMargin: held writes end well before the deadline
	testReserve = time.Second     // Handler.Reserve
)

// install wraps h's Runner and sets its margins; h is then invoked through
// the contexts context returns.
func (w *writeCutoff) install(h *trigger.Handler) {
	w.Falcon = h.Runner.Falcon
	h.Runner.Falcon = w
	h.Runner.WriteMargin = testMargin
	h.Reserve = testReserve
}

// context is the context of the next invocation, and its deadline.
func (w *writeCutoff) context() (context.Context, context.CancelFunc, time.Time) {
	deadline := time.Now().Add(cutoffAfter + testMargin + testReserve)
	w.mu.Lock()
	w.cutoff = deadline.Add(-testReserve - testMargin)
	w.mu.Unlock()
	w.creates.Store(0)
	ctx, cancel := context.WithDeadline(context.Background(), deadline)
	return ctx, cancel, deadline
}

func (w *writeCutoff) CreateRegistry(ctx context.Context, r onboard.Registry) (onboard.Registry, error) {
	if w.creates.Add(1) > w.Free {
		w.mu.Lock()
		cutoff := w.cutoff
		w.mu.Unlock()
		select {
		case <-time.After(time.Until(cutoff) + time.Millisecond):
		case <-ctx.Done():
		}
	}
	return w.Falcon.CreateRegistry(ctx, r)
}
