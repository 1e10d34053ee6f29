package falconsim

import (
	"net/http"
	"testing"
	"time"

	"github.com/crowdstrike/gofalcon/falcon/client/oauth2"
	"github.com/go-openapi/runtime"
	"github.com/go-openapi/strfmt"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestTokenCreated(t *testing.T) {
	sim := New(Options{Region: "eu-1"})
	srv := StartTLS(sim)
	defer srv.Close()
	c := oauth2.New(rawTransport(srv), strfmt.Default)

	ok, err := c.Oauth2AccessToken(oauth2.NewOauth2AccessTokenParams().
		WithClientID(DefaultClientID).WithClientSecret(DefaultClientSecret))
	require.NoError(t, err)
	assert.Equal(t, "eu-1", ok.XCSRegion)
	assert.NotEmpty(t, ok.Payload.AccessToken)
	assert.Equal(t, "bearer", ok.Payload.TokenType)
	assert.EqualValues(t, 1800, ok.Payload.ExpiresIn)
	assert.EqualValues(t, unlimitedLimit, ok.XRateLimitLimit)

	_, err = c.Oauth2AccessToken(oauth2.NewOauth2AccessTokenParams().
		WithClientID(DefaultClientID).WithClientSecret("wrong"))
	var apiErr *runtime.APIError
	require.ErrorAs(t, err, &apiErr)
	assert.Equal(t, http.StatusUnauthorized, apiErr.Code)

	// The token works on other endpoints; garbage does not.
	assert.Equal(t, http.StatusOK, do(t, srv, http.MethodGet, pathQueryRegistries, ok.Payload.AccessToken).StatusCode)
	assert.Equal(t, http.StatusUnauthorized, do(t, srv, http.MethodGet, pathQueryRegistries, "nope").StatusCode)
	assert.Equal(t, http.StatusUnauthorized, do(t, srv, http.MethodGet, pathQueryRegistries, "").StatusCode)
}

func TestExpiredTokenIs401(t *testing.T) {
	e := newEnv(t, Options{})
	_, _, err := e.aws.CloudRegistrationAwsQueryAccounts(accountQuery())
	require.NoError(t, err)

	e.sim.ExpireTokens()
	_, _, err = e.aws.CloudRegistrationAwsQueryAccounts(accountQuery())
	var apiErr *runtime.APIError
	require.ErrorAs(t, err, &apiErr)
	assert.Equal(t, http.StatusUnauthorized, apiErr.Code)
}

func TestShortTTLRefreshes(t *testing.T) {
	e := newEnv(t, Options{TokenTTL: 2 * time.Second})
	for range 3 {
		_, _, err := e.aws.CloudRegistrationAwsQueryAccounts(accountQuery())
		require.NoError(t, err)
	}
	// x/oauth2 refreshes tokens expiring within 10s, so every call fetches one.
	assert.Equal(t, 3, e.sim.Stats().ByOperation["POST "+pathToken])
}

func TestUnknownPathAndMethod(t *testing.T) {
	sim := New(Options{})
	srv := StartTLS(sim)
	defer srv.Close()
	resp := do(t, srv, http.MethodGet, "/nope/v1", "")
	assert.Equal(t, http.StatusNotFound, resp.StatusCode)
	assert.Equal(t, "application/json", resp.Header.Get("Content-Type"))
	assert.NotEmpty(t, resp.Header.Get("X-Ratelimit-Limit"))
	assert.NotEmpty(t, resp.Header.Get("X-Ratelimit-Remaining"))
	assert.Equal(t, http.StatusMethodNotAllowed, do(t, srv, http.MethodPut, pathRegistryEntities, "").StatusCode)
}

func TestSetClientSecret(t *testing.T) {
	sim := New(Options{})
	srv := StartTLS(sim)
	defer srv.Close()
	c := oauth2.New(rawTransport(srv), strfmt.Default)
	token := func(secret string) (string, error) {
		ok, err := c.Oauth2AccessToken(oauth2.NewOauth2AccessTokenParams().
			WithClientID(DefaultClientID).WithClientSecret(secret))
		if err != nil {
			return "", err
		}
		return ok.Payload.AccessToken, nil
	}
	old, err := token(DefaultClientSecret)
	require.NoError(t, err)
	require.Equal(t, http.StatusOK, do(t, srv, http.MethodGet, pathQueryRegistries, old).StatusCode)

	sim.SetClientSecret("rotated")
	assert.Equal(t, "rotated", sim.Options().ClientSecret)
	// The old secret is refused, and its tokens stop working.
	_, err = token(DefaultClientSecret)
	var apiErr *runtime.APIError
	require.ErrorAs(t, err, &apiErr)
	assert.Equal(t, http.StatusUnauthorized, apiErr.Code)
	assert.Equal(t, http.StatusUnauthorized, do(t, srv, http.MethodGet, pathQueryRegistries, old).StatusCode)

	fresh, err := token("rotated")
	require.NoError(t, err)
	assert.Equal(t, http.StatusOK, do(t, srv, http.MethodGet, pathQueryRegistries, fresh).StatusCode)
}
