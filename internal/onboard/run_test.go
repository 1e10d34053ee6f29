package onboard

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// fakeFalcon is an in-memory Falcon for domain tests; the adapter is tested
// against the simulator.
type fakeFalcon struct {
	mu         sync.Mutex
	accounts   []Account
	registries []Registry
	createErr  func(Registry) error
	delay      time.Duration
	calls      atomic.Int64
	inFlight   atomic.Int64
	maxFlight  atomic.Int64
	deletes    atomic.Int64

	// beforeCreate, when set, is called with each create's number (1, 2, …)
	// before it is made: tests hold writes there instead of racing the clock.
	beforeCreate func(n int64)
	creates      atomic.Int64
}

func (f *fakeFalcon) Accounts(context.Context) ([]Account, error) {
	f.calls.Add(1)
	return f.accounts, nil
}

func (f *fakeFalcon) Registries(context.Context) ([]Registry, error) {
	f.calls.Add(1)
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]Registry(nil), f.registries...), nil
}

func (f *fakeFalcon) CreateRegistry(ctx context.Context, r Registry) (string, error) {
	f.calls.Add(1)
	n := f.inFlight.Add(1)
	defer f.inFlight.Add(-1)
	for m := f.maxFlight.Load(); n > m && !f.maxFlight.CompareAndSwap(m, n); m = f.maxFlight.Load() {
	}
	if f.beforeCreate != nil {
		f.beforeCreate(f.creates.Add(1))
	}
	time.Sleep(f.delay)
	if f.createErr != nil {
		if err := f.createErr(r); err != nil {
			return "", err
		}
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	r.ID = fmt.Sprintf("id-%d", len(f.registries))
	f.registries = append(f.registries, r)
	return r.ID, nil
}

func (f *fakeFalcon) UpdateRegistry(context.Context, Registry) error { f.calls.Add(1); return nil }
func (f *fakeFalcon) DeleteRegistry(context.Context, Registry) error {
	f.calls.Add(1)
	f.deletes.Add(1)
	return nil
}
func (f *fakeFalcon) APICalls() int64 { return f.calls.Load() }

func TestMain(m *testing.M) {
	slog.SetDefault(slog.New(slog.DiscardHandler))
	os.Exit(m.Run())
}

func manyAccounts(n int, regions ...string) []Account {
	var out []Account
	for i := range n {
		out = append(out, acct(fmt.Sprintf("%012d", 100000000000+i), regions...))
	}
	return out
}

func TestApplyBoundsConcurrency(t *testing.T) {
	f := &fakeFalcon{accounts: manyAccounts(40, "us-east-1"), delay: 5 * time.Millisecond}
	// The first writes wait until three are in flight at once, so the bound
	// is reached however the goroutines are scheduled (or, if the applier
	// allowed fewer, the wait ends and maxFlight says so).
	three := make(chan struct{})
	var once sync.Once
	f.beforeCreate = func(int64) {
		if f.inFlight.Load() >= 3 {
			once.Do(func() { close(three) })
		}
		select {
		case <-three:
		case <-time.After(10 * time.Second):
		}
	}
	rn := &Runner{Falcon: f, AliasPrefix: "p", MaxConcurrency: 3}
	report, err := rn.Run(context.Background(), Request{Trigger: TriggerManual})
	require.NoError(t, err)
	assert.Len(t, report.Registries.Created, 40)
	assert.EqualValues(t, 3, f.maxFlight.Load())
	assert.EqualValues(t, 42, report.APICalls)
}

func TestNearDeadlineStopsStartingWrites(t *testing.T) {
	f := &fakeFalcon{accounts: manyAccounts(50, "us-east-1")}
	rn := &Runner{Falcon: f, AliasPrefix: "p", MaxConcurrency: 1, WriteMargin: 5 * time.Second}
	deadline := time.Now().Add(2*time.Second + rn.WriteMargin)
	cutoff := deadline.Add(-rn.WriteMargin)
	// The 5th create is held until the write cut-off has passed: the run
	// makes exactly 5 creates, whatever the machine's speed (the first 4 and
	// the listing have 2 s, a hang guard).
	f.beforeCreate = func(n int64) {
		if n == 5 {
			time.Sleep(time.Until(cutoff) + time.Millisecond)
		}
	}
	ctx, cancel := context.WithDeadline(context.Background(), deadline)
	defer cancel()

	report, err := rn.Run(ctx, Request{})

	require.NoError(t, err)
	assert.False(t, report.Complete)
	created := len(report.Registries.Created)
	assert.Equal(t, 5, created)
	assert.Equal(t, 50-created, report.Registries.NotAttempted)
	assert.Empty(t, report.Registries.Failed, "no write was cut off mid-way")
	assert.Equal(t, 3, report.ExitCode())

	// The next run continues where this one stopped.
	report, err = rn.Run(context.Background(), Request{})
	require.NoError(t, err)
	assert.True(t, report.Complete)
	assert.Len(t, report.Registries.Created, 50-created)
	assert.Equal(t, created, report.Registries.Unchanged)
}

func TestAccessDeniedStopsTheRun(t *testing.T) {
	var creates atomic.Int64
	f := &fakeFalcon{accounts: manyAccounts(30, "us-east-1"), createErr: func(Registry) error {
		creates.Add(1)
		return fmt.Errorf("%w (HTTP 403)", ErrAccessDenied)
	}}
	rn := &Runner{Falcon: f, AliasPrefix: "p", MaxConcurrency: 2}
	report, err := rn.Run(context.Background(), Request{})
	require.ErrorIs(t, err, ErrAccessDenied)
	assert.Contains(t, err.Error(), ScopesHint)
	assert.False(t, report.Complete)
	assert.LessOrEqual(t, creates.Load(), int64(3), "no new write after the first 403")
}

func TestFailuresNeverCarryTheExternalID(t *testing.T) {
	a := acct("100000000001", "us-east-1")
	f := &fakeFalcon{accounts: []Account{a}, createErr: func(r Registry) error {
		return errors.New("cannot assume with external id " + r.Credential.ExternalID)
	}}
	rn := &Runner{Falcon: f, AliasPrefix: "p"}
	report, err := rn.Run(context.Background(), Request{})
	require.NoError(t, err)
	b, _ := json.Marshal(report)
	assert.NotContains(t, string(b), a.ExternalID)
	assert.Contains(t, string(b), "[external-id]")
}

func TestAPanickingWriteIsAFailureNotACrash(t *testing.T) {
	f := &fakeFalcon{accounts: manyAccounts(3, "us-east-1"), createErr: func(r Registry) error {
		if r.AccountID == "100000000001" {
			panic("boom")
		}
		return nil
	}}
	report, err := (&Runner{Falcon: f, AliasPrefix: "p", MaxConcurrency: 2}).Run(context.Background(), Request{})
	require.NoError(t, err)
	assert.Len(t, report.Registries.Created, 2)
	require.Len(t, report.Registries.Failed, 1)
	assert.Contains(t, report.Registries.Failed[0].Error, "internal error: boom")
}
