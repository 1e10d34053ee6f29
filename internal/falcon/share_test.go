package falcon_test

// A good citizen of the tenant's API rate limit.

import (
	"context"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/crowdstrike-ecr/ecr-onboard/internal/falconsim"
)

// With RATE_SHARE=0.5, another integration of the tenant spending less than
// the other half of the limit never meets a 429: the tool paces itself from
// the rate-limit headers and does not dig into the others' reserve.
func TestRateShareLeavesRoomForTheTenantsOtherIntegrations(t *testing.T) {
	r := newRig(t, rigConfig{
		// 50 requests a second, a bucket of 25; the other integration
		// spends 15 a second.
		opts:     falconsim.Options{RateLimitPerMinute: 3000, RateLimitBurst: 25},
		accounts: falconsim.GenerateAccounts(60, []string{"us-east-1"}),
		env:      map[string]string{"RATE_SHARE": "0.5"},
	})
	ctx, stop := context.WithCancel(context.Background())
	r.sim.Background(ctx, 900)

	report := r.run(t)
	stop()

	requireAllCreatedOnce(t, r.sim, report, 60)
	st := r.sim.Stats()
	require.Positive(t, st.BackgroundRequests)
	assert.Zero(t, st.BackgroundRateLimited, "the other integration got no 429 (of %d requests)", st.BackgroundRequests)
	assert.Zero(t, report.RateLimited)
	assert.EqualValues(t, st.RateLimited, report.RateLimited, "rate_limited counts the 429s this run received")
}
