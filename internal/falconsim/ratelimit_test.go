package falconsim

import (
	"testing"
	"time"

	fci "github.com/crowdstrike/gofalcon/falcon/client/falcon_container_image"
	"github.com/go-openapi/strfmt"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestRateLimit429AndRetryAfter(t *testing.T) {
	e := newEnv(t, Options{RateLimitPerMinute: 60})
	var tooMany *fci.ReadRegistryEntitiesTooManyRequests
	var lastRemaining int64 = -1
	for i := 0; i < 200; i++ {
		ok, err := e.img.ReadRegistryEntities(fci.NewReadRegistryEntitiesParams())
		if err != nil {
			require.ErrorAs(t, err, &tooMany)
			break
		}
		assert.EqualValues(t, 60, ok.XRateLimitLimit)
		lastRemaining = ok.XRateLimitRemaining
	}
	require.NotNil(t, tooMany, "expected a 429")
	assert.Less(t, lastRemaining, int64(2))
	require.NoError(t, tooMany.Payload.Validate(strfmt.Default))
	retryAt := time.Unix(tooMany.XRateLimitRetryAfter, 0)
	assert.WithinDuration(t, time.Now(), retryAt, 3*time.Second)
	assert.Positive(t, e.sim.Stats().RateLimited)

	// A request exactly at the advertised second succeeds.
	time.Sleep(time.Until(retryAt))
	_, _, err := e.aws.CloudRegistrationAwsQueryAccounts(accountQuery())
	require.NoError(t, err)
}

// TestBucketRetryAfterIsHonoured checks, with synthetic clocks, that a
// request at the advertised retry second is always admitted.
func TestBucketRetryAfterIsHonoured(t *testing.T) {
	for _, perMin := range []int{1, 7, 60, 100, 6000} {
		for frac := time.Duration(0); frac < time.Second; frac += 37 * time.Millisecond {
			start := time.Unix(1_700_000_000, 0).Add(frac)
			b := newBucket(perMin, 0, start)
			now := start
			var res rateResult
			for res = b.take(now); res.allowed; res = b.take(now) {
				now = now.Add(time.Millisecond)
			}
			at := time.Unix(res.retryAfter, 0)
			require.True(t, at.After(now), "retry must be in the future")
			assert.True(t, b.take(at).allowed, "perMin=%d frac=%v", perMin, frac)
		}
	}
	assert.True(t, (*bucket)(nil).take(time.Now()).allowed)
}
