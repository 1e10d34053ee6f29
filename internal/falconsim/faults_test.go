package falconsim

import (
	"context"
	"net/http"
	"testing"
	"time"

	"github.com/crowdstrike/gofalcon/falcon/client/cloud_aws_registration"
	fci "github.com/crowdstrike/gofalcon/falcon/client/falcon_container_image"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestFaultAfterWriteCreate(t *testing.T) {
	e := newEnv(t, Options{})
	acct := GenerateAccounts(1, testRegions)[0]
	e.sim.AddAccounts(acct)
	e.sim.InjectFault(Fault{Method: http.MethodPost, Path: pathRegistryEntities, Status: http.StatusInternalServerError, AfterWrite: true})

	_, err := e.img.CreateRegistryEntities(createParams(acct, "us-east-1"))
	var ise *fci.CreateRegistryEntitiesInternalServerError
	require.ErrorAs(t, err, &ise)
	require.Len(t, e.sim.Registries(), 1, "the create happened")
	assert.Equal(t, 1, e.sim.Stats().CreatesSucceeded)

	// Retrying now conflicts.
	_, err = e.img.CreateRegistryEntities(createParams(acct, "us-east-1"))
	var conflict *fci.CreateRegistryEntitiesConflict
	require.ErrorAs(t, err, &conflict)
}

func TestFaultBeforeWriteTimesAndBody(t *testing.T) {
	e := newEnv(t, specOptions)
	acct := GenerateAccounts(1, testRegions)[0]
	e.sim.AddAccounts(acct)
	e.sim.InjectFault(Fault{Method: http.MethodPost, Path: pathRegistryEntities, Status: http.StatusInternalServerError, Times: 2})
	e.sim.InjectFault(Fault{Method: http.MethodPost, Path: pathRegistryEntities, Status: http.StatusCreated, Body: "{not json"})

	for range 2 {
		_, err := e.img.CreateRegistryEntities(createParams(acct, "us-east-1"))
		var ise *fci.CreateRegistryEntitiesInternalServerError
		require.ErrorAs(t, err, &ise)
	}
	_, err := e.img.CreateRegistryEntities(createParams(acct, "us-east-1"))
	require.Error(t, err, "garbage body must not decode")
	assert.Empty(t, e.sim.Registries())
	assert.Equal(t, 0, e.sim.Stats().Writes())

	_, err = e.img.CreateRegistryEntities(createParams(acct, "us-east-1"))
	require.NoError(t, err, "faults exhausted")
	assert.Equal(t, 1, e.sim.Stats().Writes())

	// Other operations are unaffected by a path-specific fault.
	e.sim.InjectFault(Fault{Method: http.MethodGet, Path: pathQueryAccounts, Status: http.StatusForbidden})
	_, err = e.img.ReadRegistryEntities(fci.NewReadRegistryEntitiesParams())
	require.NoError(t, err)
	_, _, err = e.aws.CloudRegistrationAwsQueryAccounts(accountQuery())
	var forbidden *cloud_aws_registration.CloudRegistrationAwsQueryAccountsForbidden
	require.ErrorAs(t, err, &forbidden)
}

func TestLatencyAndStats(t *testing.T) {
	e := newEnv(t, Options{Latency: 30 * time.Millisecond})
	start := time.Now()
	_, err := e.img.ReadRegistryEntities(fci.NewReadRegistryEntitiesParams())
	require.NoError(t, err)
	assert.GreaterOrEqual(t, time.Since(start), 60*time.Millisecond, "token + query both delayed")

	// A client that gives up during the latency gets no answer (an hour:
	// the client's deadline always comes first; the simulator honours the
	// request's context, so the server is not held up either).
	slow := newEnv(t, Options{Latency: time.Hour})
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Millisecond)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, slow.srv.URL+pathQueryRegistries, nil)
	require.NoError(t, err)
	_, err = slow.srv.Client().Do(req)
	require.ErrorIs(t, err, context.DeadlineExceeded)

	st := e.sim.Stats()
	assert.Equal(t, 1, st.ByOperation["POST "+pathToken])
	assert.GreaterOrEqual(t, st.ByOperation["GET "+pathQueryRegistries], 1)
	e.sim.ResetStats()
	assert.Zero(t, e.sim.Stats().Requests)
}
