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
	records    []Account // what AccountRecords finds (nil: accounts)
	registries []Registry
	createErr  func(Registry) error
	deleteErr  func(Registry) error
	listErr    error
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

// AccountRecords implements AccountReader over records.
func (f *fakeFalcon) AccountRecords(_ context.Context, ids []string) ([]Account, error) {
	f.calls.Add(1)
	records := f.records
	if records == nil {
		records = f.accounts
	}
	var out []Account
	for _, a := range records {
		if contains(ids, a.ID) {
			out = append(out, a)
		}
	}
	return out, nil
}

func (f *fakeFalcon) Registries(context.Context) ([]Registry, error) {
	f.calls.Add(1)
	if f.listErr != nil {
		return nil, f.listErr
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]Registry(nil), f.registries...), nil
}

func (f *fakeFalcon) CreateRegistry(ctx context.Context, r Registry) (Registry, error) {
	f.calls.Add(1)
	n := f.inFlight.Add(1)
	defer f.inFlight.Add(-1)
	for m := f.maxFlight.Load(); n > m && !f.maxFlight.CompareAndSwap(m, n); m = f.maxFlight.Load() {
	}
	if n := f.creates.Add(1); f.beforeCreate != nil {
		f.beforeCreate(n)
	}
	time.Sleep(f.delay)
	if f.createErr != nil {
		if err := f.createErr(r); err != nil {
			return Registry{}, err
		}
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	r.ID, r.State = fmt.Sprintf("id-%d", len(f.registries)), "pending"
	f.registries = append(f.registries, r)
	return r, nil
}

// UpdateRegistry answers as the live service may: without the
// registration, so the run reads it back.
func (f *fakeFalcon) UpdateRegistry(context.Context, Registry) (Registry, error) {
	f.calls.Add(1)
	return Registry{}, nil
}

// ReadRegistries returns the registrations of ids it holds.
func (f *fakeFalcon) ReadRegistries(_ context.Context, ids []string) ([]Registry, error) {
	f.calls.Add(1)
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []Registry
	for _, r := range f.registries {
		if contains(ids, r.ID) {
			out = append(out, r)
		}
	}
	return out, nil
}

func (f *fakeFalcon) APICalls() int64    { return f.calls.Load() }
func (f *fakeFalcon) RateLimited() int64 { return 0 }

func (f *fakeFalcon) DeleteRegistry(_ context.Context, r Registry) error {
	f.calls.Add(1)
	f.deletes.Add(1)
	if f.deleteErr != nil {
		return f.deleteErr(r)
	}
	return nil
}

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
	rn := &Runner{Falcon: f, Owner: "p", MaxConcurrency: 3, Meter: f}
	report, err := rn.Run(context.Background(), Request{Trigger: TriggerManual})
	require.NoError(t, err)
	assert.Len(t, report.Registries.Created, 40)
	assert.EqualValues(t, 3, f.maxFlight.Load())
	assert.EqualValues(t, 42, report.APICalls)
}

func TestNearDeadlineStopsStartingWrites(t *testing.T) {
	f := &fakeFalcon{accounts: manyAccounts(50, "us-east-1")}
	rn := &Runner{Falcon: f, Owner: "p", MaxConcurrency: 1, WriteMargin: 5 * time.Second}
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

// A write the adapter did not send (rate limited past the write deadline)
// is left for the next run: not attempted, not failed.
func TestWritesNotSentAreNotAttemptedNotFailed(t *testing.T) {
	f := &fakeFalcon{accounts: manyAccounts(10, "us-east-1"), createErr: func(r Registry) error {
		if r.AccountID > "100000000004" {
			return fmt.Errorf("%w (HTTP 429)", ErrNotSent)
		}
		return nil
	}}
	rn := &Runner{Falcon: f, Owner: "p", MaxConcurrency: 2}
	report, err := rn.Run(context.Background(), Request{})
	require.NoError(t, err)
	assert.Empty(t, report.Registries.Failed)
	assert.Len(t, report.Registries.Created, 5)
	assert.Equal(t, 5, report.Registries.NotAttempted)
	assert.False(t, report.Complete)
	assert.Equal(t, 3, report.ExitCode())
}

func TestAccessDeniedStopsTheRun(t *testing.T) {
	var creates atomic.Int64
	f := &fakeFalcon{accounts: manyAccounts(30, "us-east-1"), createErr: func(Registry) error {
		creates.Add(1)
		return fmt.Errorf("%w (HTTP 403)", ErrAccessDenied)
	}}
	rn := &Runner{Falcon: f, Owner: "p", MaxConcurrency: 2}
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
	rn := &Runner{Falcon: f, Owner: "p"}
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
	report, err := (&Runner{Falcon: f, Owner: "p", MaxConcurrency: 2}).Run(context.Background(), Request{})
	require.NoError(t, err)
	assert.Len(t, report.Registries.Created, 2)
	require.Len(t, report.Registries.Failed, 1)
	assert.Contains(t, report.Registries.Failed[0].Error, "internal error: boom")
}

// The report's arithmetic holds on every path: every desired registry is
// exactly one of unchanged, created, updated, failed or not attempted, and
// deletions are counted apart.
func TestReportArithmeticHoldsOnEveryPath(t *testing.T) {
	accounts := manyAccounts(6, "us-east-1", "eu-west-1")
	gone := acct("200000000001", "us-east-1")
	tenant := func() *fakeFalcon {
		return &fakeFalcon{accounts: accounts, registries: []Registry{
			ownedBy("p", accounts[0], "us-east-1"),                               // unchanged
			existing(accounts[1], "us-east-1", "p-"+accounts[1].ID+"-us-east-1"), // re-asserted (earlier alias)
			existing(accounts[2], "us-east-1", "team"),                           // not owned
			ownedBy("p", gone, "us-east-1"),                                      // pruned
			ownedBy("p", accounts[3], "ap-south-1"),                              // pruned: region inactive
		}}
	}
	run := func(f *fakeFalcon, rn *Runner, ctx context.Context, req Request) (Report, error) {
		rn.Falcon, rn.Owner = f, "p"
		return rn.Run(ctx, req)
	}
	for name, path := range map[string]func() (Report, error){
		"reconcile": func() (Report, error) { return run(tenant(), &Runner{}, context.Background(), Request{}) },
		"dry run with prune": func() (Report, error) {
			return run(tenant(), &Runner{Prune: true}, context.Background(), Request{DryRun: true})
		},
		"prune, a create and a delete failing": func() (Report, error) {
			f := tenant()
			f.createErr = func(r Registry) error {
				if r.AccountID == accounts[4].ID {
					return errors.New("HTTP 400")
				}
				return nil
			}
			f.deleteErr = func(r Registry) error {
				if r.AccountID == gone.ID {
					return errors.New("HTTP 500")
				}
				return nil
			}
			return run(f, &Runner{Prune: true}, context.Background(), Request{})
		},
		"partial: past the write deadline": func() (Report, error) {
			ctx, cancel := context.WithTimeout(context.Background(), time.Hour)
			defer cancel()
			return run(tenant(), &Runner{Prune: true, WriteMargin: 2 * time.Hour}, ctx, Request{})
		},
		"partial: writes not sent": func() (Report, error) {
			f := tenant()
			f.createErr = func(Registry) error { return ErrNotSent }
			return run(f, &Runner{}, context.Background(), Request{})
		},
		"fatal: access denied while writing": func() (Report, error) {
			f := tenant()
			f.createErr = func(Registry) error { return ErrAccessDenied }
			return run(f, &Runner{Prune: true, MaxConcurrency: 1}, context.Background(), Request{})
		},
		"fatal: listing failed": func() (Report, error) {
			f := tenant()
			f.listErr = errors.New("HTTP 500")
			return run(f, &Runner{}, context.Background(), Request{})
		},
		"disconnect": func() (Report, error) {
			return run(tenant(), &Runner{}, context.Background(), Request{Disconnect: true})
		},
		"nothing in scope": func() (Report, error) {
			return run(tenant(), &Runner{Scope: NewScope(nil, nil, []string{"us-east-1"})}, context.Background(),
				Request{Narrowing: Narrowing{Regions: []string{"eu-west-1"}}})
		},
	} {
		t.Run(name, func(t *testing.T) {
			report, err := path()
			assert.NoError(t, report.Balanced())
			g := report.Registries
			t.Logf("desired %d unchanged %d created %d updated %d failed %d not attempted %d; deleted %d delete failed %d not attempted %d",
				g.Desired, g.Unchanged, len(g.Created), len(g.Updated), len(g.Failed), g.NotAttempted,
				len(g.Deleted), len(g.DeleteFailed), g.DeleteNotAttempted)
			if err != nil {
				assert.False(t, report.Complete, "a fatal run is not complete")
			}
		})
	}
}
