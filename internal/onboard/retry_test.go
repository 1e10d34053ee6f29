package onboard

import (
	"context"
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

	t.Run("no time left before the write deadline", func(t *testing.T) {
		f := &fakeFalcon{accounts: []Account{acct("100000000002", "us-west-2")}, createErr: rejectWest}
		ctx, cancel := context.WithTimeout(context.Background(), time.Hour)
		defer cancel()
		rn := &Runner{Falcon: f, Owner: "p", WriteMargin: 30 * time.Minute, CredentialRetry: Retry{Attempts: 5, Wait: time.Hour}}
		report, err := rn.Run(ctx, Request{})
		require.NoError(t, err)
		require.Len(t, report.Registries.Failed, 1)
		assert.Contains(t, report.Registries.Failed[0].Hint, "no time was left to send it again before the run's write deadline")
		assert.Contains(t, report.Registries.Failed[0].Hint, "IAM may still be propagating")
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
// other write goes first, and the rejected creates are sent again in rounds
// after them, one per credential a round (its other registries once Falcon
// accepts it).
func TestRejectedCreatesAreRetriedAfterEveryOtherWrite(t *testing.T) {
	slow, healthy := acct("100000000001", "us-east-1", "us-west-2"), acct("100000000002", "us-east-1")
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
	assert.Equal(t, []string{
		"100000000001/us-east-1", "100000000001/us-west-2", // both rejected
		"100000000002/us-east-1", // the other account's write is not held up
		"100000000001/us-east-1", // round 1: one create for the credential, accepted
		"100000000001/us-west-2", // then its other registry
	}, sent)
}
