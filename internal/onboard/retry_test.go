package onboard

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestRetryWithin(t *testing.T) {
	assert.Equal(t, Retry{Attempts: 5, Wait: 15 * time.Second}, RetryWithin(75*time.Second))
	assert.Equal(t, Retry{Attempts: 2, Wait: 15 * time.Second}, RetryWithin(20*time.Second), "rounded up to a step")
	assert.Equal(t, Retry{Attempts: 1, Wait: 10 * time.Second}, RetryWithin(10*time.Second))
	assert.Equal(t, Retry{}, RetryWithin(0))
}

// The hint of a rejected create says what the run knows.
func TestRejectedCreateHintSaysWhatIsKnown(t *testing.T) {
	a := acct("100000000001", "us-east-1", "us-west-2")
	rejectWest := func(r Registry) error {
		if r.Region == "us-west-2" {
			return ErrCredentialRejected
		}
		return nil
	}

	t.Run("the same credential was accepted for another registry", func(t *testing.T) {
		f := &fakeFalcon{accounts: []Account{a}, createErr: rejectWest}
		report, err := (&Runner{Falcon: f, Owner: "p", MaxConcurrency: 1, CredentialRetry: Retry{Attempts: 2}}).Run(context.Background(), Request{})
		require.NoError(t, err)
		require.Len(t, report.Registries.Failed, 1)
		assert.Contains(t, report.Registries.Failed[0].Hint, "accepted the same role and external ID for another registry")
		assert.Contains(t, report.Registries.Failed[0].Hint, "the next run retries it")
	})

	t.Run("a role that refused Falcon before the setup window is sent once", func(t *testing.T) {
		old := acct("100000000002", "us-west-2")
		old.RegisteredAt = time.Now().Add(-48 * time.Hour)
		f := &fakeFalcon{accounts: []Account{old}, createErr: rejectWest}
		// A wait of an hour would hold the test: none may happen.
		rn := &Runner{Falcon: f, Owner: "p", CredentialRetry: Retry{Attempts: 5, Wait: time.Hour}}
		report, err := rn.Run(context.Background(), Request{})
		require.NoError(t, err)
		require.Len(t, report.Registries.Failed, 1)
		assert.Contains(t, report.Registries.Failed[0].Hint, "sent once: the account was registered with CSPM, and Falcon's verdict reached, over 30m0s ago")
		assert.Contains(t, report.Registries.Failed[0].Hint, "IAM may still be propagating")
		assert.EqualValues(t, 1, f.creates.Load())
	})

	t.Run("no time left before the write deadline", func(t *testing.T) {
		fresh := acct("100000000004", "us-east-1", "us-west-2")
		fresh.RegisteredAt = time.Now().Add(-time.Minute)
		f := &fakeFalcon{accounts: []Account{fresh}, createErr: rejectWest}
		ctx, cancel := context.WithTimeout(context.Background(), time.Hour)
		defer cancel()
		rn := &Runner{Falcon: f, Owner: "p", MaxConcurrency: 1, WriteMargin: 30 * time.Minute, CredentialRetry: Retry{Attempts: 5, Wait: time.Hour}}
		report, err := rn.Run(ctx, Request{})
		require.NoError(t, err)
		require.Len(t, report.Registries.Pending, 1)
		assert.EqualValues(t, 2, f.creates.Load(), "us-east-1 accepted, so us-west-2 went too; no retry fits before the deadline")
	})

	t.Run("no retries configured", func(t *testing.T) {
		f := &fakeFalcon{accounts: []Account{acct("100000000003", "us-west-2")}, createErr: rejectWest}
		report, err := (&Runner{Falcon: f, Owner: "p"}).Run(context.Background(), Request{})
		require.NoError(t, err)
		require.Len(t, report.Registries.Failed, 1)
		assert.Contains(t, report.Registries.Failed[0].Hint, "let arn:aws:iam::292230061137:role/CrowdStrikeCustomerRegistryAssessmentRole assume the role")
		assert.EqualValues(t, 1+1+1+1, f.calls.Load(), "accounts, registries, one create, and one look-up of it")
	})
}

// Waiting for a trust policy to propagate never holds a write slot: every
// other write goes first, and a credential Falcon rejects while a trust
// change is plausible (the account registered within SetupWindow) is sent
// again in rounds after them, one write a round, its other registries once
// Falcon accepts it.
func TestRejectedCreatesAreRetriedAfterEveryOtherWrite(t *testing.T) {
	slow, healthy := acct("100000000001", "us-east-1", "us-west-2"), acct("100000000002", "us-east-1")
	slow.RegisteredAt = time.Now().Add(-time.Minute)
	var mu sync.Mutex
	var sent []string
	rejections := 2 // slow's role lets Falcon in after two rejections
	f := &fakeFalcon{accounts: []Account{slow, healthy}, createErr: func(r Registry) error {
		mu.Lock()
		defer mu.Unlock()
		sent = append(sent, r.AccountID+"/"+r.Region)
		if r.AccountID == slow.ID && rejections > 0 {
			rejections--
			return ErrCredentialRejected
		}
		return nil
	}}
	report, err := (&Runner{Falcon: f, Owner: "p", MaxConcurrency: 1, CredentialRetry: Retry{Attempts: 5, Wait: time.Millisecond}}).Run(context.Background(), Request{})
	require.NoError(t, err)

	assert.Len(t, report.Registries.Created, 3)
	assert.True(t, report.Coverage.Clean)
	assert.Equal(t, []string{
		"100000000001/us-east-1", // rejected: us-west-2 waits for it
		"100000000002/us-east-1", // the other account's write is not held up
		"100000000001/us-east-1", // round 1: rejected again
		"100000000001/us-east-1", // round 2: accepted
		"100000000001/us-west-2", // then its other registry
	}, sent)
}

// One write per credential while Falcon refuses it: an organisation whose
// roles have not trusted the registry-assessment principal for days costs
// one create per account and run, and no wait; the writes of an account
// whose role Falcon accepts all go.
func TestOneWritePerRefusedCredential(t *testing.T) {
	var accounts []Account
	for i := range 5 {
		a := acct(fmt.Sprintf("%012d", 100000000001+i), "us-east-1", "us-west-2", "eu-west-1", "eu-central-1")
		a.RegisteredAt = time.Now().Add(-72 * time.Hour)
		accounts = append(accounts, a)
	}
	trusting := accounts[4].ID
	f := &fakeFalcon{accounts: accounts, createErr: func(r Registry) error {
		if r.AccountID != trusting {
			return fmt.Errorf("%w: failed to validate registry credential", ErrCredentialRejected)
		}
		return nil
	}}
	rn := &Runner{Falcon: f, Owner: "p", MaxConcurrency: 8, CredentialRetry: Retry{Attempts: 5, Wait: time.Hour}}
	for run, created := range []int{4, 0} { // the second run finds the trusting role's registries
		f.creates.Store(0)
		r := runOn(t, rn, Request{})
		assert.EqualValues(t, 4+created, f.creates.Load(), "run %d: one create for each refused role", run+1)
		assert.Len(t, r.Registries.Created, created, "run %d", run+1)
		assert.Len(t, r.Registries.Failed, 4, "run %d", run+1)
		assert.Len(t, r.Registries.Waiting, 12, "run %d", run+1)
		for _, w := range r.Registries.Waiting {
			assert.Contains(t, w.Reason, "Falcon rejected role arn:aws:iam::"+w.AccountID+":role/CSPM")
		}
		assert.Equal(t, Missing{Failed: 4, Waiting: 12}, r.Coverage.Missing)
		assert.Equal(t, 3, r.ExitCode())
	}

	// A role is fixed: the next run registers all of its registries.
	fixed := accounts[0].ID
	f.createErr = func(r Registry) error {
		if r.AccountID != trusting && r.AccountID != fixed {
			return fmt.Errorf("%w: failed to validate registry credential", ErrCredentialRejected)
		}
		return nil
	}
	f.creates.Store(0)
	r := runOn(t, rn, Request{})
	assert.EqualValues(t, 3+4, f.creates.Load(), "the fixed role's four creates; one for each role still refused")
	assert.Len(t, r.Registries.Created, 4)
	for _, c := range r.Registries.Created {
		assert.Equal(t, fixed, c.AccountID)
	}
}
