package ssmparam

import (
	"context"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/ssm"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/crowdstrike-ecr/ecr-onboard/internal/mototest"
)

const leaseName = "/ecr-onboard/member/StackSet-x-1.lease"

// gate is a Wait that says when a try found the lease taken, and returns
// when the test lets it.
type gate struct {
	waiting chan struct{}
	proceed chan struct{}
}

func newGate() *gate { return &gate{waiting: make(chan struct{}, 8), proceed: make(chan struct{}, 8)} }

func (g *gate) wait(ctx context.Context) error {
	g.waiting <- struct{}{}
	select {
	case <-g.proceed:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// waited fails the test if the waiter got the lease (or failed) instead of waiting.
func (g *gate) waited(t *testing.T, got <-chan error) {
	t.Helper()
	select {
	case <-g.waiting:
	case err := <-got:
		t.Fatalf("took the lease another holds (or failed): %v", err)
	}
}

func hour() time.Time { return time.Now().Add(time.Hour) }

// TestLeaseOneHolderAtATime: while A holds the lease, B waits (it tries
// again only when its Wait returns); once A releases, B takes it.
func TestLeaseOneHolderAtATime(t *testing.T) {
	t.Parallel()
	api := NewClient(mototest.Start(t).Config())
	ctx := context.Background()
	releaseA, err := Lease{SSM: api, Name: leaseName}.Acquire(ctx, "A", hour())
	require.NoError(t, err)

	g := newGate()
	got := make(chan error, 1)
	var releaseB func(context.Context) error
	go func() {
		var err error
		releaseB, err = Lease{SSM: api, Name: leaseName, Wait: g.wait}.Acquire(ctx, "B", hour())
		got <- err
	}()
	g.waited(t, got) // B found it taken
	g.proceed <- struct{}{}
	g.waited(t, got) // and again: A still holds it
	require.NoError(t, releaseA(ctx))
	g.proceed <- struct{}{}
	require.NoError(t, <-got)
	require.NoError(t, releaseB(ctx))
	_, found, err := Parameter{SSM: api, Name: leaseName}.Get(ctx)
	require.NoError(t, err)
	assert.False(t, found, "released: the log is gone")
}

// TestLeaseOfAHolderThatDied: a claim whose Until has passed frees the
// lease; the holder's late release leaves the new holder's lease alone.
func TestLeaseOfAHolderThatDied(t *testing.T) {
	t.Parallel()
	api := NewClient(mototest.Start(t).Config())
	ctx := context.Background()
	releaseDead, err := Lease{SSM: api, Name: leaseName}.Acquire(ctx, "dead", time.Now().Add(-time.Minute))
	require.NoError(t, err)
	releaseB, err := Lease{SSM: api, Name: leaseName, Wait: func(context.Context) error { t.Fatal("B waited"); return nil }}.Acquire(ctx, "B", hour())
	require.NoError(t, err)
	require.NoError(t, releaseDead(ctx))

	g := newGate()
	got := make(chan error, 1)
	go func() {
		_, err := Lease{SSM: api, Name: leaseName, Wait: g.wait}.Acquire(ctx, "C", hour())
		got <- err
	}()
	g.waited(t, got) // B's lease stands
	require.NoError(t, releaseB(ctx))
	g.proceed <- struct{}{}
	require.NoError(t, <-got)
}

// racing writes A's whole Acquire between B's reading the lease free and
// B's claim reaching SSM.
type racing struct {
	SSM
	once   sync.Once
	before func()
}

func (r *racing) PutParameter(ctx context.Context, in *ssm.PutParameterInput, opts ...func(*ssm.Options)) (*ssm.PutParameterOutput, error) {
	r.once.Do(r.before)
	return r.SSM.PutParameter(ctx, in, opts...)
}

// TestLeaseClaimsThatRace: A and B both find the lease free and both
// claim it; the claim SSM saved first holds it, the other waits.
func TestLeaseClaimsThatRace(t *testing.T) {
	t.Parallel()
	api := NewClient(mototest.Start(t).Config())
	ctx := context.Background()
	var releaseA func(context.Context) error
	b := &racing{SSM: api, before: func() {
		var err error
		releaseA, err = Lease{SSM: api, Name: leaseName}.Acquire(ctx, "A", hour())
		require.NoError(t, err)
	}}
	g := newGate()
	got := make(chan error, 1)
	go func() {
		_, err := Lease{SSM: b, Name: leaseName, Wait: g.wait}.Acquire(ctx, "B", hour())
		got <- err
	}()
	g.waited(t, got) // B's claim came second: void
	require.NotNil(t, releaseA)
	require.NoError(t, releaseA(ctx))
	g.proceed <- struct{}{}
	require.NoError(t, <-got)
}

// TestLeaseWaitEndsWithTheContext: a waiter whose context ends says who
// holds the lease.
func TestLeaseWaitEndsWithTheContext(t *testing.T) {
	t.Parallel()
	api := NewClient(mototest.Start(t).Config())
	_, err := Lease{SSM: api, Name: leaseName}.Acquire(context.Background(), "A", hour())
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	_, err = Lease{SSM: api, Name: leaseName, Wait: func(context.Context) error { cancel(); return ctx.Err() }}.Acquire(ctx, "B", hour())
	assert.ErrorContains(t, err, "waiting for the lease "+leaseName+" (held by A, until ")
	assert.ErrorIs(t, err, context.Canceled)

	require.NoError(t, Parameter{SSM: api, Name: leaseName}.Put(context.Background(), "not a claim"))
	_, err = Lease{SSM: api, Name: leaseName}.Acquire(context.Background(), "C", hour())
	assert.ErrorContains(t, err, "which is no claim of a lease")
}

// TestTooManyUpdatesIsRetried: SSM answers a write racing another with
// TooManyUpdates; the client retries it and the write succeeds.
func TestTooManyUpdatesIsRetried(t *testing.T) {
	t.Parallel()
	front := mototest.Start(t).Front(t)
	p := Parameter{SSM: NewClient(front.Config()), Name: "/ecr-onboard/member/StackSet-x-1"}
	front.FailNext("PutParameter", "TooManyUpdates", http.StatusBadRequest)
	require.NoError(t, p.Put(context.Background(), `{"a":1}`))
	assert.Equal(t, 2, front.Calls("PutParameter"))
	v, _, err := p.Get(context.Background())
	require.NoError(t, err)
	assert.Equal(t, `{"a":1}`, v)
}
