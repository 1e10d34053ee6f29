package onboard

import (
	"context"
	"errors"
	"log/slog"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

var errDisconnecting = errors.New("the stack is being deleted")

// The hold is asked before the first write, its "go on" trusted for
// HoldRecheck, asked again after it; once it holds, it holds for the rest
// of the run without asking again; an answer it could not give holds.
func TestHoldRechecksAndStaysHeld(t *testing.T) {
	now := time.Unix(1_700_000_000, 0)
	asks, answer := 0, error(nil)
	h := &hold{ask: func(context.Context) error { asks++; return answer }, now: func() time.Time { return now }, log: slog.New(slog.DiscardHandler)}
	ctx := context.Background()

	require.NoError(t, h.check(ctx))
	answer = errDisconnecting // the mark lands
	now = now.Add(HoldRecheck - time.Nanosecond)
	require.NoError(t, h.check(ctx), "within HoldRecheck the last answer stands")
	assert.Equal(t, 1, asks)

	now = now.Add(time.Nanosecond)
	err := h.check(ctx)
	require.ErrorIs(t, err, ErrHeld)
	assert.ErrorIs(t, err, ErrNotSent, "a held write is not attempted")
	assert.ErrorIs(t, err, errDisconnecting)
	assert.Equal(t, 2, asks)

	answer = nil
	now = now.Add(time.Hour)
	assert.ErrorIs(t, h.check(ctx), ErrHeld, "held for the rest of the run")
	assert.Equal(t, 2, asks, "not asked again")

	unreadable := &hold{ask: func(context.Context) error { return errors.New("dynamodb:GetItem: timeout") }, now: time.Now, log: slog.New(slog.DiscardHandler)}
	assert.ErrorIs(t, unreadable.check(ctx), ErrHeld, "fail closed")
}

// A run whose Hold holds starts no write: every planned write is not
// attempted (the report is incomplete, nothing failed), and Falcon gets
// none of them. A disconnect without a Hold deletes as usual.
func TestHeldRunStartsNoWrite(t *testing.T) {
	owner := Owner("p")
	a := acct("111111111111", "us-east-1", "eu-west-1")
	f := &fakeFalcon{accounts: []Account{a}, registries: []Registry{existing(a, "ap-south-1", owner.Alias(a.ID, "ap-south-1", credOf(a)))}}
	rn := &Runner{Falcon: f, Owner: owner, MaxConcurrency: 2, Prune: true}
	asked := 0
	rep, err := rn.Run(context.Background(), Request{Hold: func(context.Context) error { asked++; return errDisconnecting }})
	require.NoError(t, err)
	assert.Equal(t, 1, asked)
	assert.Zero(t, f.creates.Load())
	assert.Zero(t, f.deletes.Load())
	assert.Empty(t, rep.Registries.Created)
	assert.Empty(t, rep.Registries.Failed)
	assert.Equal(t, 2, rep.Registries.NotAttempted)
	assert.Equal(t, 1, rep.Registries.DeleteNotAttempted)
	assert.False(t, rep.Complete)

	rep, err = rn.Run(context.Background(), Request{Hold: func(context.Context) error { return nil }})
	require.NoError(t, err)
	assert.Len(t, rep.Registries.Created, 2, "a hold that says go on lets every write start")
	assert.EqualValues(t, 1, f.deletes.Load())
}
