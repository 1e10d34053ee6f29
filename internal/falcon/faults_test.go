package falcon_test

// Fault scenarios through the real adapter and the simulator.

import (
	"context"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/crowdstrike-ecr/ecr-onboard/internal/falcon"
	"github.com/crowdstrike-ecr/ecr-onboard/internal/falconsim"
	"github.com/crowdstrike-ecr/ecr-onboard/internal/onboard"
)

const okMeta = `"meta":{"query_time":0.001,"trace_id":"t"}`

func TestFault429StormHonoursRetryAfter(t *testing.T) {
	const n = 10
	var rec recorder
	// The tenant answers 429, with an X-RateLimit-RetryAfter a second or two
	// ahead, to the first requests of a listing and of the creates: the run
	// meets several 429s whatever the machine's speed (the pacer, which
	// keeps a run clear of the limit it can see, is not what this tests).
	r := newRig(t, rigConfig{
		accounts: falconsim.GenerateAccounts(n, []string{"us-east-1"}),
		observe:  rec.observe,
	})
	r.sim.InjectFault(falconsim.Fault{Method: http.MethodGet, Path: accountsQ, Status: http.StatusTooManyRequests, Times: 2, RetryAfter: time.Second})
	r.sim.InjectFault(falconsim.Fault{Method: http.MethodPost, Path: registriesPath, Status: http.StatusTooManyRequests, Times: 3, RetryAfter: time.Second})

	report := r.run(t)
	end := time.Now()

	st := r.sim.Stats()
	rateLimited := 0
	for _, a := range rec.all() {
		if a.status == http.StatusTooManyRequests {
			rateLimited++
		}
	}
	require.Equal(t, 5, rateLimited, "the test provokes 429s")
	requireAllCreatedOnce(t, r.sim, report, n)
	assert.True(t, report.Complete)
	assert.EqualValues(t, rateLimited, r.runner.Falcon.(*falcon.Client).RateLimited(), "every 429 was seen (and waited out) by the adapter")
	assert.EqualValues(t, rateLimited, report.RateLimited, "and reported")
	assert.EqualValues(t, st.Requests, report.APICalls, "api_calls counts the retried requests too")

	// Each request answered 429 was sent again no earlier than the second
	// the answer advertised in X-RateLimit-RetryAfter.
	type key struct{ method, path, query, body string }
	pending := map[key]time.Time{}
	var first time.Time
	retried := 0
	for _, a := range rec.all() {
		k := key{a.method, a.path, a.query, a.body}
		if at, ok := pending[k]; ok {
			assert.False(t, a.at.Before(at), "%s %s re-sent at %s, before the advertised %s", a.method, a.path, a.at.Format(time.StampMilli), at.Format(time.StampMilli))
			delete(pending, k)
			retried++
		}
		if a.status == http.StatusTooManyRequests {
			epoch, err := strconv.ParseInt(a.header.Get("X-RateLimit-RetryAfter"), 10, 64)
			require.NoError(t, err, "a 429 carries X-RateLimit-RetryAfter")
			pending[k] = time.Unix(epoch, 0)
			if first.IsZero() {
				first = time.Unix(epoch, 0)
			}
		}
	}
	assert.Empty(t, pending, "every 429 was retried")
	assert.Equal(t, rateLimited, retried)
	assert.False(t, end.Before(first), "the run lasted at least until the first advertised second")
	t.Logf("%d requests, %d answered 429, run took %d ms", st.Requests, rateLimited, report.DurationMS)
}

func TestFault5xxOnReadsIsRetried(t *testing.T) {
	for name, c := range map[string]struct {
		path   string
		status int
	}{
		"accounts query 502":      {accountsQ, http.StatusBadGateway},
		"accounts entities 500":   {accountEntities, http.StatusInternalServerError},
		"registries query 500":    {registriesQ, http.StatusInternalServerError},
		"registries entities 503": {registriesPath, http.StatusServiceUnavailable},
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			accounts := falconsim.GenerateAccounts(3, []string{"us-east-1"})
			r := newRig(t, rigConfig{accounts: accounts})
			a := accounts[0]
			r.sim.AddRegistry(falconsim.Registry{URL: falconsim.ECRURL(a.ID, "us-east-1"), Alias: "manual", RoleARN: a.RoleARN, ExternalID: a.ExternalID})
			r.sim.InjectFault(falconsim.Fault{Method: http.MethodGet, Path: c.path, Status: c.status, Times: 2})

			report := r.run(t)

			assert.Equal(t, 3, r.sim.Stats().ByOperation["GET "+c.path], "1 try + 2 retries")
			assert.Equal(t, 1, report.Registries.Unchanged)
			assert.Len(t, report.Registries.Created, 2)
			assert.Empty(t, report.Registries.Failed)
			requireNoDuplicates(t, r.sim)
			assert.Len(t, r.urls(), 3)
		})
	}

	t.Run("connection lost on a read", func(t *testing.T) {
		t.Parallel()
		var dropped atomic.Bool
		r := newRig(t, rigConfig{
			accounts: falconsim.GenerateAccounts(2, []string{"us-east-1"}),
			wrap: func(_ *falconsim.Sim, next http.Handler) http.Handler {
				return http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
					if req.URL.Path == registriesQ && dropped.CompareAndSwap(false, true) {
						panic(http.ErrAbortHandler)
					}
					next.ServeHTTP(w, req)
				})
			},
		})
		report := r.run(t)
		assert.True(t, dropped.Load())
		assert.Len(t, report.Registries.Created, 2)
		requireNoDuplicates(t, r.sim)
	})
}

// Creates that happened although the answer said otherwise (or said
// nothing): re-checked by listing, reported as created with the registry's
// ID, never created twice.
func TestFault5xxOnCreatesAfterWriteIsNotDuplicated(t *testing.T) {
	const n = 4
	for name, f := range map[string]falconsim.Fault{
		"every create 500":                {Status: 500},
		"every create 504 with HTML body": {Status: 504, Body: "<html><body><h1>504 Gateway Time-out</h1></body></html>"},
		"every create 502 truncated JSON": {Status: 502, Body: `{"errors":[{"code":502,"message":"bad gat`},
		"every create 503 empty JSON":     {Status: 503, Body: `{}`},
		"201 with non-JSON body":          {Status: 201, Body: `{`},
		"201 without resources":           {Status: 201, Body: `{` + okMeta + `,"resources":null}`},
		"201 with resource lacking id":    {Status: 201, Body: `{` + okMeta + `,"resources":{"url":"https://x"}}`},
		"201 with wrong-typed resources":  {Status: 201, Body: `{` + okMeta + `,"resources":["x"]}`},
		"200 without resources":           {Status: 200, Body: `{` + okMeta + `,"resources":null}`},
		"202 with resource lacking id":    {Status: 202, Body: `{` + okMeta + `,"resources":{"url":"https://x"}}`},
		"204 with no body":                {Status: 204, Body: ` `},
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			r := newRig(t, rigConfig{accounts: falconsim.GenerateAccounts(n, []string{"us-east-1"})})
			f.Method, f.Path, f.AfterWrite, f.Times = http.MethodPost, registriesPath, true, n
			r.sim.InjectFault(f)

			report := r.run(t)

			requireAllCreatedOnce(t, r.sim, report, n)
			assert.Equal(t, n, r.sim.Stats().ByOperation["POST "+registriesPath], "re-checked by listing, not re-sent")
			assert.Equal(t, 2, r.sim.Stats().ByOperation["GET "+registriesQ], "one listing + one re-check")
			assert.Equal(t, 0, report.ExitCode())
		})
	}
}

func TestFaultTokenExpiresMidRun(t *testing.T) {
	const n = 6
	for name, when := range map[string]string{
		"revoked after the accounts page":  accountsQ,
		"revoked after the registry page":  registriesQ,
		"revoked after the first creation": registriesPath,
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			var once sync.Once
			var sim *falconsim.Sim
			r := newRig(t, rigConfig{
				accounts: falconsim.GenerateAccounts(n, []string{"us-east-1"}),
				observe: func(req *http.Request, resp *http.Response, err error, _ time.Time) {
					if req.URL.Path == when && resp != nil && resp.StatusCode < 300 {
						once.Do(sim.ExpireTokens)
					}
				},
			})
			sim = r.sim

			report := r.run(t)

			requireAllCreatedOnce(t, r.sim, report, n)
			st := r.sim.Stats()
			assert.GreaterOrEqual(t, st.ByOperation["POST "+tokenPath], 2, "a fresh token was fetched mid-run")
			assert.Equal(t, n, st.CreatesSucceeded)
		})
	}

	t.Run("short token lifetime over a long run", func(t *testing.T) {
		t.Parallel()
		const ttl = time.Second
		r := newRig(t, rigConfig{
			opts:     falconsim.Options{TokenTTL: ttl, Latency: 70 * time.Millisecond},
			env:      map[string]string{"MAX_CONCURRENCY": "2"},
			accounts: falconsim.GenerateAccounts(n, []string{"us-east-1", "eu-west-1"}),
		})
		start := time.Now()
		report := r.run(t)
		require.Greater(t, time.Since(start), ttl, "the run must outlive a token")
		requireAllCreatedOnce(t, r.sim, report, 2*n)
		assert.GreaterOrEqual(t, r.sim.Stats().ByOperation["POST "+tokenPath], 2)
	})
}

func TestFaultTimeouts(t *testing.T) {
	t.Run("deadline shorter than read latency: error, no write", func(t *testing.T) {
		t.Parallel()
		// The accounts query is answered only after the client gave up
		// (30 s: a hang guard), so the deadline always comes first.
		r := newRig(t, rigConfig{
			accounts: falconsim.GenerateAccounts(3, []string{"us-east-1"}),
			wrap: func(_ *falconsim.Sim, next http.Handler) http.Handler {
				return http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
					if req.URL.Path == accountsQ {
						select {
						case <-req.Context().Done():
						case <-time.After(30 * time.Second):
						}
					}
					next.ServeHTTP(w, req)
				})
			},
		})
		ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
		defer cancel()
		_, err := r.runner.Run(ctx, onboard.Request{})
		require.Error(t, err)
		assert.Contains(t, err.Error(), "listing CSPM accounts")
		assert.Contains(t, err.Error(), "deadline exceeded")
		assert.Zero(t, r.sim.Stats().Writes())
		assert.Empty(t, r.sim.Registries())
	})

	t.Run("deadline inside the write margin: no write starts", func(t *testing.T) {
		t.Parallel()
		r := newRig(t, rigConfig{accounts: falconsim.GenerateAccounts(3, []string{"us-east-1"})})
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second) // WriteMargin is 10 s
		defer cancel()
		report, err := r.runner.Run(ctx, onboard.Request{})
		require.NoError(t, err)
		assert.False(t, report.Complete)
		assert.Equal(t, 3, report.Registries.NotAttempted)
		assert.Equal(t, 3, report.ExitCode())
		assert.Zero(t, r.sim.Stats().Writes())
	})

	t.Run("token endpoint hangs: the run still ends by its deadline", func(t *testing.T) {
		t.Parallel()
		// The token endpoint answers only when the test ends (30 s: a hang
		// guard), so a Run that returns with an error returned by its deadline.
		release := make(chan struct{})
		r := newRig(t, rigConfig{
			accounts: falconsim.GenerateAccounts(1, []string{"us-east-1"}),
			wrap: func(_ *falconsim.Sim, next http.Handler) http.Handler {
				return http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
					if req.URL.Path == tokenPath {
						select {
						case <-release:
						case <-req.Context().Done():
						case <-time.After(30 * time.Second):
						}
					}
					next.ServeHTTP(w, req)
				})
			},
		})
		t.Cleanup(func() { close(release) }) // before the server's Close (cleanups run last first)
		ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
		defer cancel()
		_, err := r.runner.Run(ctx, onboard.Request{})
		require.Error(t, err, "Run must end by its deadline while the token endpoint hangs")
		assert.Contains(t, err.Error(), "deadline exceeded")
	})

	// A create whose answer never comes (connection dropped after Falcon
	// created the registry): ErrUncertain -> re-list -> found, not re-sent.
	t.Run("create answer lost after the write", func(t *testing.T) {
		t.Parallel()
		const n = 3
		var lost atomic.Int32
		r := newRig(t, rigConfig{
			accounts: falconsim.GenerateAccounts(n, []string{"us-east-1"}),
			wrap: func(_ *falconsim.Sim, next http.Handler) http.Handler {
				return http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
					if req.Method == http.MethodPost && req.URL.Path == registriesPath && lost.Add(1) <= 2 {
						abortAfter(next, w, req)
					}
					next.ServeHTTP(w, req)
				})
			},
		})
		report := r.run(t)
		requireAllCreatedOnce(t, r.sim, report, n)
		assert.Equal(t, n, r.sim.Stats().ByOperation["POST "+registriesPath], "the lost creates were not re-sent")
		assert.Equal(t, 2, r.sim.Stats().ByOperation["GET "+registriesQ], "one listing + one re-check")
	})

	// The connection drops before Falcon saw the create: the re-check finds
	// nothing, so it is created exactly once more.
	t.Run("create lost before the write", func(t *testing.T) {
		t.Parallel()
		const n = 3
		var lost atomic.Int32
		r := newRig(t, rigConfig{
			accounts: falconsim.GenerateAccounts(n, []string{"us-east-1"}),
			wrap: func(_ *falconsim.Sim, next http.Handler) http.Handler {
				return http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
					if req.Method == http.MethodPost && req.URL.Path == registriesPath && lost.Add(1) <= 2 {
						panic(http.ErrAbortHandler)
					}
					next.ServeHTTP(w, req)
				})
			},
		})
		report := r.run(t)
		requireAllCreatedOnce(t, r.sim, report, n)
		assert.EqualValues(t, n+2, lost.Load(), "two creates sent again after the re-check")
	})
}

// Malformed answers on the read path: a clear error naming the endpoint and
// what is wrong, and nothing written.
func TestFaultMalformedResponsesFailWithoutWriting(t *testing.T) {
	type tc struct {
		path, body string
		want       []string
	}
	cases := map[string]tc{
		"accounts query not JSON":             {accountsQ, `{"resources":["1000`, []string{"listing CSPM accounts"}},
		"accounts query without resources":    {accountsQ, `{` + okMeta + `}`, []string{"listing CSPM accounts", "malformed", accountsQ, "no resources"}},
		"accounts query wrong type":           {accountsQ, `{` + okMeta + `,"resources":"100000000000"}`, []string{"listing CSPM accounts", "resources"}},
		"accounts query HTML":                 {accountsQ, `<html>maintenance</html>`, []string{"listing CSPM accounts"}},
		"account entities not JSON":           {accountEntities, `{"resources":[{"account_id":`, []string{"listing CSPM accounts"}},
		"account entities null resource":      {accountEntities, `{` + okMeta + `,"resources":[null]}`, []string{"listing CSPM accounts", "malformed", accountEntities, "resources[0] is null"}},
		"account entities wrong type":         {accountEntities, `{` + okMeta + `,"resources":{"account_id":"1"}}`, []string{"listing CSPM accounts", "resources"}},
		"registry query not JSON":             {registriesQ, `{"resources":[`, []string{"listing Container Security registries"}},
		"registry query wrong type":           {registriesQ, `{` + okMeta + `,"resources":[1,2]}`, []string{"listing Container Security registries", "resources"}},
		"registry query without resources":    {registriesQ, `{` + okMeta + `}`, []string{"listing Container Security registries", "malformed", registriesQ}},
		"registry entities not JSON":          {registriesPath, `{"resources":[{"id":`, []string{"listing Container Security registries"}},
		"registry entities without id":        {registriesPath, `{` + okMeta + `,"resources":[{"url":"https://100000000000.dkr.ecr.us-east-1.amazonaws.com","type":"ecr"}]}`, []string{"listing Container Security registries", "malformed", registriesPath, "resources[0]: missing id"}},
		"registry entities without url":       {registriesPath, `{` + okMeta + `,"resources":[{"id":"abc","type":"ecr"}]}`, []string{"listing Container Security registries", "malformed", registriesPath, "missing url"}},
		"registry entities null resource":     {registriesPath, `{` + okMeta + `,"resources":[null]}`, []string{"listing Container Security registries", "malformed", "null registry"}},
		"registry entities without resources": {registriesPath, `{` + okMeta + `}`, []string{"listing Container Security registries", "malformed", registriesPath}},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			accounts := falconsim.GenerateAccounts(2, []string{"us-east-1"})
			r := newRig(t, rigConfig{accounts: accounts})
			a := accounts[0]
			r.sim.AddRegistry(falconsim.Registry{URL: falconsim.ECRURL(a.ID, "us-east-1"), Alias: "manual", RoleARN: a.RoleARN, ExternalID: a.ExternalID})
			r.sim.InjectFault(falconsim.Fault{Method: http.MethodGet, Path: c.path, Status: http.StatusOK, Body: c.body})

			_, err := r.runner.Run(context.Background(), onboard.Request{})

			require.Error(t, err)
			t.Logf("error: %s", errorText(err))
			for _, w := range c.want {
				assert.Contains(t, err.Error(), w)
			}
			assert.NotContains(t, err.Error(), a.ExternalID)
			assert.Zero(t, r.sim.Stats().Writes(), "nothing may be written after a malformed listing")
			assert.Len(t, r.sim.Registries(), 1)
		})
	}
}

// An undecodable body is reported as a malformed answer from that endpoint,
// not as a bare decoder message ("unexpected EOF" reads like a network
// problem and names no endpoint).
func TestFaultUndecodableResponseNamesTheEndpoint(t *testing.T) {
	for _, path := range []string{accountsQ, accountEntities, registriesQ, registriesPath} {
		t.Run(path, func(t *testing.T) {
			t.Parallel()
			accounts := falconsim.GenerateAccounts(1, []string{"us-east-1"})
			r := newRig(t, rigConfig{accounts: accounts})
			a := accounts[0]
			r.sim.AddRegistry(falconsim.Registry{URL: falconsim.ECRURL(a.ID, "us-east-1"), Alias: "manual", RoleARN: a.RoleARN, ExternalID: a.ExternalID})
			r.sim.InjectFault(falconsim.Fault{Method: http.MethodGet, Path: path, Status: http.StatusOK, Body: `{"resources":[`})

			_, err := r.runner.Run(context.Background(), onboard.Request{})

			require.Error(t, err)
			assert.Contains(t, err.Error(), "malformed Falcon API response from GET "+path)
			assert.Zero(t, r.sim.Stats().Writes())
		})
	}
}

// A registry whose url is blank after trimming ("  ", "/", "https://") has
// no URL: it is malformed like a missing url, not a registry at "https://".
// Found by FuzzRegistriesResponse.
func TestFaultRegistryWithBlankURLIsMalformed(t *testing.T) {
	for _, u := range []string{" ", "\t/", "https://", "HTTP:// /"} {
		t.Run(u, func(t *testing.T) {
			t.Parallel()
			accounts := falconsim.GenerateAccounts(1, []string{"us-east-1"})
			r := newRig(t, rigConfig{accounts: accounts})
			r.sim.AddRegistry(falconsim.Registry{URL: u, Alias: "manual", RoleARN: accounts[0].RoleARN, ExternalID: accounts[0].ExternalID})

			_, err := r.runner.Run(context.Background(), onboard.Request{})

			require.Error(t, err)
			assert.Contains(t, err.Error(), "missing url")
			assert.Zero(t, r.sim.Stats().Writes())
		})
	}
}

// errorText is a helper for messages in failing assertions.
func errorText(err error) string {
	if err == nil {
		return "<nil>"
	}
	return strings.TrimSpace(err.Error())
}
