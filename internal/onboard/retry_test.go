package onboard

import (
	"context"
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
