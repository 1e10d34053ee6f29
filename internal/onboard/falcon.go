package onboard

import (
	"context"
	"errors"
	"time"
)

// Falcon is what a run needs from the CrowdStrike API. The adapter in
// internal/falcon implements it with gofalcon; tests may use the simulator.
type Falcon interface {
	// Accounts returns every AWS account CSPM knows (all pages).
	Accounts(ctx context.Context) ([]Account, error)
	// Registries returns every registry in Container Security (all pages).
	// ECR registries have AccountID and Region set from their URL.
	Registries(ctx context.Context) ([]Registry, error)
	// CreateRegistry registers r and returns the registration as Falcon's
	// answer shows it: its ID always; State "" when the answer says
	// nothing of its state.
	CreateRegistry(ctx context.Context, r Registry) (Registry, error)
	// UpdateRegistry replaces the credential (and alias) of registration
	// r.ID with r's and returns the registration as Falcon's answer shows
	// it (State "" when the answer says nothing of it).
	UpdateRegistry(ctx context.Context, r Registry) (Registry, error)
	// DeleteRegistry removes registry r.ID.
	DeleteRegistry(ctx context.Context, r Registry) error
	// ReadRegistries returns the registrations of ids as Falcon shows them
	// now; an ID Falcon does not return is left out.
	ReadRegistries(ctx context.Context, ids []string) ([]Registry, error)
}

// AccountReader reads CSPM's records of exactly the accounts asked for (the
// entity endpoint); an account CSPM has no record of is not returned. A run
// asks it before PRUNE deletes for accounts its listing left out: a listing
// whose pages shift while it is read (one account deregistered, another
// registered between two pages) adds up, yet may leave a live account out.
// A Falcon that is not an AccountReader never confirms an absence, so
// nothing is pruned for an account gone from the listing.
type AccountReader interface {
	AccountRecords(ctx context.Context, ids []string) ([]Account, error)
}

// Errors a Falcon implementation wraps so a run can tell outcomes apart.
var (
	// ErrExists: a create was refused because the registry exists (409).
	ErrExists = errors.New("registry already exists")
	// ErrUncertain: a write failed in a way that does not say whether it
	// took effect (5xx, timeout, connection lost). Never blindly repeated.
	ErrUncertain = errors.New("outcome unknown")
	// ErrCredentialRejected: Falcon could not assume the role with the
	// external ID (the role does not trust the registry-assessment principal).
	ErrCredentialRejected = errors.New("Falcon rejected the credential")
	// ErrAccessDenied: 401/403; fatal for the run.
	ErrAccessDenied = errors.New("access denied by the Falcon API")
	// ErrNotSent: the write was not processed and not retried: Falcon
	// answered 429 and its retry time is past the write deadline (see
	// WithWriteDeadline). The action is not attempted, not failed.
	ErrNotSent = errors.New("not sent: rate limited past the write deadline")
)

type writeDeadlineKey struct{}

// WithWriteDeadline marks ctx as carrying a write that must not be sent (or
// re-sent after a 429) after t; the run needs the time after t to finish
// writes in flight and report.
func WithWriteDeadline(ctx context.Context, t time.Time) context.Context {
	return context.WithValue(ctx, writeDeadlineKey{}, t)
}

// WriteDeadline is the time after which the write ctx carries must not be
// sent, if ctx carries one.
func WriteDeadline(ctx context.Context) (time.Time, bool) {
	t, ok := ctx.Value(writeDeadlineKey{}).(time.Time)
	return t, ok
}

// ScopesHint names the API scopes the Falcon API client needs.
const ScopesHint = "the Falcon API client needs the scopes CSPM registration: Read, Falcon Container Image: Read and Write"
