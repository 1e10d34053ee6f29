package falcon_test

// The one test harness of this package: the real Runner, wired through the
// environment as in production (demo.NewRunner), against the simulator over
// TLS, with two hooks for scenarios the simulator's own options and Fault
// type cannot express:
//   - wrap: a server-side middleware in front of the simulator (fail one
//     page by offset, drop an answer after the write happened, …);
//   - observe: a client-side hook below the adapter's own transport, which
//     sees every attempt (retries included), its Authorization header and
//     its answer.

import (
	"context"
	"encoding/json"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/crowdstrike-ecr/ecr-onboard/internal/demo"
	"github.com/crowdstrike-ecr/ecr-onboard/internal/falconsim"
	"github.com/crowdstrike-ecr/ecr-onboard/internal/onboard"
)

const (
	tokenPath       = "/oauth2/token"
	accountEntities = "/cloud-security-registration-aws/entities/account/v1"
)

type rtFunc func(*http.Request) (*http.Response, error)

func (f rtFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

type rigConfig struct {
	opts     falconsim.Options
	env      map[string]string
	accounts []falconsim.Account
	// wrap puts middleware in front of the simulator (server side).
	wrap func(sim *falconsim.Sim, next http.Handler) http.Handler
	// observe sees each attempt after its answer (or error) came back;
	// sent is when it was sent.
	observe func(req *http.Request, resp *http.Response, err error, sent time.Time)
}

type rig struct {
	sim    *falconsim.Sim
	srv    *httptest.Server
	runner *onboard.Runner
	client *http.Client // the base client given to the adapter (observed)
}

func newRig(t *testing.T, c rigConfig) *rig {
	t.Helper()
	c.opts.ClientID, c.opts.ClientSecret = demo.ClientID, demo.ClientSecret
	sim := falconsim.New(c.opts)
	sim.AddAccounts(c.accounts...)
	var h http.Handler = sim
	if c.wrap != nil {
		h = c.wrap(sim, sim)
	}
	srv := httptest.NewUnstartedServer(h)
	srv.Config.ErrorLog = log.New(io.Discard, "", 0)
	srv.StartTLS()
	t.Cleanup(srv.Close)

	base := srv.Client()
	hc := &http.Client{Transport: base.Transport}
	if c.observe != nil {
		next := base.Transport
		hc.Transport = rtFunc(func(r *http.Request) (*http.Response, error) {
			sent := time.Now()
			resp, err := next.RoundTrip(r)
			c.observe(r, resp, err, sent)
			return resp, err
		})
	}
	runner, err := demo.NewRunner(context.Background(), srv.URL, hc, c.env)
	require.NoError(t, err)
	return &rig{sim: sim, srv: srv, runner: runner, client: hc}
}

func (r *rig) run(t *testing.T) onboard.Report {
	t.Helper()
	return r.runWith(t, onboard.Request{})
}

func (r *rig) runWith(t *testing.T, req onboard.Request) onboard.Report {
	t.Helper()
	report, err := r.runner.Run(context.Background(), req)
	require.NoError(t, err)
	return report
}

// urls counts registrations per normalized URL in the simulator.
func (r *rig) urls() map[string]int {
	m := map[string]int{}
	for _, reg := range r.sim.Registries() {
		m[onboard.NormalizeURL(reg.URL)]++
	}
	return m
}

// requireNoDuplicates fails when a URL is registered more than once.
func requireNoDuplicates(t *testing.T, sim *falconsim.Sim) {
	t.Helper()
	seen := map[string]string{}
	for _, reg := range sim.Registries() {
		u := onboard.NormalizeURL(reg.URL)
		if prev, ok := seen[u]; ok {
			t.Fatalf("duplicate registration of %s: %s and %s", u, prev, reg.ID)
		}
		seen[u] = reg.ID
	}
}

// requireAllCreatedOnce checks the report lists every desired registry as
// created with the simulator's ID, and the simulator holds each exactly once.
func requireAllCreatedOnce(t *testing.T, sim *falconsim.Sim, report onboard.Report, want int) {
	t.Helper()
	requireNoDuplicates(t, sim)
	require.Empty(t, report.Registries.Failed)
	require.Len(t, report.Registries.Created, want)
	ids := map[string]string{}
	for _, reg := range sim.Registries() {
		ids[onboard.NormalizeURL(reg.URL)] = reg.ID
	}
	require.Len(t, ids, want)
	for _, c := range report.Registries.Created {
		require.NotEmpty(t, c.RegistryID, c.URL)
		require.Equal(t, ids[c.URL], c.RegistryID, "reported registry_id of %s", c.URL)
	}
	require.Equal(t, want, sim.Stats().CreatesSucceeded, "no registry was created twice")
}

// recorder keeps a log of attempts for later assertions.
type recorder struct {
	mu       sync.Mutex
	attempts []attempt
}

type attempt struct {
	at     time.Time // sent
	body   string
	method string
	path   string
	query  string
	status int // 0: no answer
	header http.Header
}

func (rc *recorder) observe(req *http.Request, resp *http.Response, err error, sent time.Time) {
	a := attempt{at: sent, body: bodyOf(req), method: req.Method, path: req.URL.Path, query: req.URL.RawQuery}
	if resp != nil {
		a.status, a.header = resp.StatusCode, resp.Header.Clone()
	}
	rc.mu.Lock()
	defer rc.mu.Unlock()
	rc.attempts = append(rc.attempts, a)
}

func (rc *recorder) all() []attempt {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return append([]attempt(nil), rc.attempts...)
}

// bodyOf is the request body without consuming it (the adapter makes every
// body rewindable).
func bodyOf(req *http.Request) string {
	if req.GetBody == nil {
		return ""
	}
	rc, err := req.GetBody()
	if err != nil {
		return ""
	}
	defer rc.Close()
	b, _ := io.ReadAll(rc)
	return string(b)
}

// answerRewrite serves method on path through next and lets edit change a
// successful JSON answer before it is sent; other requests and answers pass.
func answerRewrite(method, path string, edit func(req *http.Request, body map[string]any)) func(*falconsim.Sim, http.Handler) http.Handler {
	return func(_ *falconsim.Sim, next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
			if req.Method != method || req.URL.Path != path {
				next.ServeHTTP(w, req)
				return
			}
			rec := httptest.NewRecorder()
			next.ServeHTTP(rec, req)
			var body map[string]any
			if rec.Code != http.StatusOK || json.Unmarshal(rec.Body.Bytes(), &body) != nil {
				w.WriteHeader(rec.Code)
				_, _ = w.Write(rec.Body.Bytes())
				return
			}
			edit(req, body)
			b, _ := json.Marshal(body)
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusOK)
			_, _ = w.Write(b)
		})
	}
}

// abortAfter serves the request with next into a buffer (so the simulator
// does the work) and then drops the connection without an answer.
func abortAfter(next http.Handler, w http.ResponseWriter, r *http.Request) {
	next.ServeHTTP(httptest.NewRecorder(), r)
	panic(http.ErrAbortHandler)
}
