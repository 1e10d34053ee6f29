package app_test

// The Lambda's cold start, built as cmd/lambda builds it, when the Falcon
// API cannot be reached: autodiscovery (FALCON_CLOUD=autodiscover asks
// api.crowdstrike.com) fails, and every invocation fails with
// ColdStartFailed, whose message names the host and the cause.

import (
	"context"
	"errors"
	"io"
	"os"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/crowdstrike-ecr/ecr-onboard/internal/app"
	"github.com/crowdstrike-ecr/ecr-onboard/internal/config"
	"github.com/crowdstrike-ecr/ecr-onboard/internal/nettest"
	"github.com/crowdstrike-ecr/ecr-onboard/internal/onboard"
	"github.com/crowdstrike-ecr/ecr-onboard/internal/trigger"
)

func TestColdStartThatCannotReachFalconNamesTheHost(t *testing.T) {
	env := map[string]string{"FALCON_CLIENT_ID": "client", "FALCON_CLIENT_SECRET": "s3cr3t-value"} // FALCON_CLOUD: autodiscover
	cfg, err := config.Load(func(k string) string { return env[k] })
	require.NoError(t, err)
	h := &trigger.Handler{Logger: app.NewLogger(io.Discard, cfg.LogLevel), Metrics: io.Discard, FunctionName: "ecr-onboard"}
	connects := 0
	h.Connect = func(ctx context.Context) (*onboard.Runner, error) {
		connects++
		// This machine's DNS knows no name (nettest): api.crowdstrike.com does not resolve.
		return app.NewRunner(ctx, cfg, app.Deps{Logger: h.Logger, HTTPClient: nettest.Client()})
	}
	h.Runner, h.InitErr = h.Connect(context.Background())
	require.Error(t, h.InitErr)

	ev, err := os.ReadFile("../../deploy/events/scheduled.json")
	require.NoError(t, err)
	_, err = h.Handle(context.Background(), ev)

	var cold *trigger.ColdStartFailed
	require.True(t, errors.As(err, &cold), "%T: %v", err, err)
	assert.Equal(t, 2, connects, "the invocation tried the cold start again")
	assert.Contains(t, err.Error(), "cold start failed: autodiscovering the Falcon cloud (FALCON_CLOUD=autodiscover asks api.crowdstrike.com): "+
		"cannot connect to the Falcon API at api.crowdstrike.com: the name api.crowdstrike.com does not resolve (DNS: no such host); check FALCON_CLOUD")
	assert.NotContains(t, err.Error(), "client ID/secret")
	assert.NotContains(t, err.Error(), "s3cr3t-value")
}
