package falcon_test

// A Falcon API secret that rotates under a running process. The
// client reads its credential again when Falcon refuses it — once per run,
// however many requests are refused at the same moment — and at the start
// of a run when it is stale.

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"io"
	"log"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/crowdstrike-ecr/ecr-onboard/internal/falcon"
	"github.com/crowdstrike-ecr/ecr-onboard/internal/falconsim"
)

const secretARN = "arn:aws:secretsmanager:us-east-1:123456789012:secret:falcon-AbCdEf"

// storedCreds stands in for credentials.Source: it holds a credential and
// re-reads the one "stored" (what Secrets Manager would answer).
type storedCreds struct {
	mu             sync.Mutex
	id, held       string
	stored         string
	stale          bool
	refreshes      int
	beforeRefresh  func() // called inside Refresh, before reading
	refreshFailure error
}

func newStoredCreds(secret string) *storedCreds {
	return &storedCreds{id: falconsim.DefaultClientID, held: secret, stored: secret}
}

func (c *storedCreds) Current() (string, string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.id, c.held
}

func (c *storedCreds) Refresh(context.Context) (bool, error) {
	c.mu.Lock()
	before := c.beforeRefresh
	c.mu.Unlock()
	if before != nil {
		before()
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.refreshes++
	if c.refreshFailure != nil {
		return false, c.refreshFailure
	}
	changed := c.stored != c.held
	c.held, c.stale = c.stored, false
	return changed, nil
}

func (c *storedCreds) Stale() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.stale
}

func (c *storedCreds) Where() string { return secretARN }

func (c *storedCreds) store(secret string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.stored = secret
}

func (c *storedCreds) count() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.refreshes
}

// keyringRig is a client with storedCreds against the simulator over TLS;
// wrap, when set, sits in front of the simulator.
type keyringRig struct {
	sim   *falconsim.Sim
	creds *storedCreds
	fc    *falcon.Client
	logs  *bytes.Buffer
	log   *slog.Logger
}

func newKeyringRig(t *testing.T, wrap func(http.Handler) http.Handler) *keyringRig {
	t.Helper()
	sim := falconsim.New(falconsim.Options{ClientSecret: "first-secret"})
	sim.AddAccounts(falconsim.GenerateAccounts(3, []string{"us-east-1"})...)
	var h http.Handler = sim
	if wrap != nil {
		h = wrap(sim)
	}
	srv := httptest.NewUnstartedServer(h)
	srv.Config.ErrorLog = log.New(io.Discard, "", 0)
	srv.StartTLS()
	t.Cleanup(srv.Close)
	creds := newStoredCreds("first-secret")
	fc, err := falcon.New(context.Background(), falcon.Config{
		Credentials: creds, BaseURL: srv.URL, HTTPClient: srv.Client(), Concurrency: 4,
	})
	require.NoError(t, err)
	var logs bytes.Buffer
	return &keyringRig{sim: sim, creds: creds, fc: fc, logs: &logs, log: slog.New(slog.NewJSONHandler(&logs, nil))}
}

func (r *keyringRig) run(t *testing.T) error {
	t.Helper()
	ctx := context.Background()
	r.fc.StartRun(ctx, r.log)
	_, err := r.fc.Accounts(ctx)
	return err
}

func TestRotatedSecretIsReadAgainOnce(t *testing.T) {
	r := newKeyringRig(t, nil)
	require.NoError(t, r.run(t))
	require.Zero(t, r.creds.count())

	r.sim.SetClientSecret("second-secret") // reset in Falcon: the cached token dies too
	r.creds.store("second-secret")         // put-secret-value
	require.NoError(t, r.run(t))
	assert.Equal(t, 1, r.creds.count(), "one re-read")
	require.NoError(t, r.run(t))
	assert.Equal(t, 1, r.creds.count(), "nothing more once it works")
	assert.Contains(t, r.logs.String(), `"msg":"Falcon API secret re-read"`)
	assert.Contains(t, r.logs.String(), `"reason":"refused"`)
	assert.NotContains(t, r.logs.String(), "second-secret")
	assert.NotContains(t, r.logs.String(), "first-secret")
}

func TestRefusedSecretIsFatalWithOneReadPerRun(t *testing.T) {
	r := newKeyringRig(t, nil)
	r.sim.SetClientSecret("nobody-knows") // reset in Falcon, never stored
	for run := 1; run <= 3; run++ {
		err := r.run(t)
		require.Error(t, err)
		assert.Contains(t, err.Error(), secretARN)
		assert.Contains(t, err.Error(), "was re-read")
		assert.Contains(t, err.Error(), "Rotating the Falcon API secret")
		assert.NotContains(t, err.Error(), "first-secret")
		// More requests in the same run do not read it again.
		_, err = r.fc.Registries(context.Background())
		require.Error(t, err)
		assert.Contains(t, err.Error(), "was re-read")
		assert.Equal(t, run, r.creds.count(), "run %d: one re-read per run, no loop", run)
	}
}

func TestUnreadableSecretIsFatalOnce(t *testing.T) {
	r := newKeyringRig(t, nil)
	r.sim.SetClientSecret("second-secret")
	r.creds.mu.Lock()
	r.creds.refreshFailure = errString("reading FALCON_SECRET_ARN " + secretARN + ": AccessDeniedException")
	r.creds.mu.Unlock()
	err := r.run(t)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "again after the refusal failed")
	assert.Contains(t, err.Error(), "AccessDeniedException")
	_, err = r.fc.Registries(context.Background())
	require.Error(t, err)
	assert.Equal(t, 1, r.creds.count())
	assert.Contains(t, r.logs.String(), "could not be re-read")
}

// Requests refused at the same moment wait for one re-read and share it.
func TestConcurrentRefusalsReadOnce(t *testing.T) {
	const n = 8
	var refusedTokens atomic.Int32
	r := newKeyringRig(t, func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
			rec := httptest.NewRecorder()
			next.ServeHTTP(rec, req)
			if req.URL.Path == tokenPath && rec.Code == http.StatusUnauthorized {
				refusedTokens.Add(1)
			}
			for k, v := range rec.Header() {
				w.Header()[k] = v
			}
			w.WriteHeader(rec.Code)
			_, _ = w.Write(rec.Body.Bytes())
		})
	})
	require.NoError(t, r.run(t))
	r.sim.SetClientSecret("second-secret")
	r.creds.store("second-secret")
	// The first refused request reads only once all n were refused: without
	// the keyring's one read, each would read on its own.
	r.creds.mu.Lock()
	r.creds.beforeRefresh = func() {
		for deadline := time.Now().Add(10 * time.Second); refusedTokens.Load() < n && time.Now().Before(deadline); {
			time.Sleep(time.Millisecond)
		}
	}
	r.creds.mu.Unlock()

	ctx := context.Background()
	r.fc.StartRun(ctx, r.log)
	var wg sync.WaitGroup
	errs := make([]error, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, errs[i] = r.fc.Accounts(ctx)
		}()
	}
	wg.Wait()
	for _, err := range errs {
		require.NoError(t, err)
	}
	assert.EqualValues(t, n, refusedTokens.Load(), "all were refused at the same moment")
	assert.Equal(t, 1, r.creds.count(), "one re-read for all of them")
}

// A token endpoint that still issues tokens for a client whose API calls
// answer 401: a 401 to a token just issued reads the secret again too.
func TestUnauthorizedFreshTokenReadsOnce(t *testing.T) {
	var mu sync.Mutex
	revoked := map[string]bool{} // tokens issued for the refused secret
	refuse := "first-secret"
	r := newKeyringRig(t, func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
			if req.URL.Path == tokenPath {
				body, _ := io.ReadAll(req.Body)
				req.Body = io.NopCloser(bytes.NewReader(body))
				rec := httptest.NewRecorder()
				next.ServeHTTP(rec, req)
				var tok struct {
					AccessToken string `json:"access_token"`
				}
				_ = json.Unmarshal(rec.Body.Bytes(), &tok)
				mu.Lock()
				if strings.Contains(string(body), "client_secret="+refuse) {
					revoked[tok.AccessToken] = true
				}
				mu.Unlock()
				for k, v := range rec.Header() {
					w.Header()[k] = v
				}
				w.WriteHeader(rec.Code)
				_, _ = w.Write(rec.Body.Bytes())
				return
			}
			mu.Lock()
			bad := revoked[strings.TrimPrefix(req.Header.Get("Authorization"), "Bearer ")]
			mu.Unlock()
			if bad {
				w.Header().Set("Content-Type", "application/json")
				w.WriteHeader(http.StatusUnauthorized)
				_, _ = w.Write([]byte(`{"meta":{},"errors":[{"code":401,"message":"access denied, invalid bearer token"}]}`))
				return
			}
			next.ServeHTTP(w, req)
		})
	})
	// "first-secret" still gets tokens, but they are refused.
	err := r.run(t)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "401 to a token just issued")
	assert.Contains(t, err.Error(), secretARN)
	assert.Contains(t, err.Error(), "was re-read")
	assert.Equal(t, 1, r.creds.count())

	// The secret is rotated (Falcon knows both until the old one is
	// refused): the next run reads it once and works.
	r.sim.SetClientSecret("second-secret")
	r.creds.store("second-secret")
	require.NoError(t, r.run(t))
	assert.Equal(t, 2, r.creds.count())
}

func TestStaleSecretIsReadAtTheStartOfARun(t *testing.T) {
	r := newKeyringRig(t, nil)
	require.NoError(t, r.run(t))
	r.creds.mu.Lock()
	r.creds.stale = true
	r.creds.mu.Unlock()
	r.creds.store("second-secret")
	r.sim.SetClientSecret("second-secret")
	require.NoError(t, r.run(t))
	assert.Equal(t, 1, r.creds.count(), "the stale read found the new secret; no refusal read")
	assert.Contains(t, r.logs.String(), `"reason":"stale"`)
}

// Autodiscovery asks for its token with the credential held, and the client
// keeps using the host it found after the credential changed.
func TestAutodiscoveryWithRotatingCredentials(t *testing.T) {
	sim := falconsim.New(falconsim.Options{ClientSecret: "first-secret", Region: "us-2"})
	sim.AddAccounts(falconsim.GenerateAccounts(2, []string{"us-east-1"})...)
	srv := falconsim.StartTLS(sim)
	t.Cleanup(srv.Close)
	// Every Falcon host is the simulator (its certificate names example.com).
	tr := srv.Client().Transport.(*http.Transport).Clone()
	tr.TLSClientConfig = tr.TLSClientConfig.Clone()
	tr.TLSClientConfig.ServerName = "example.com"
	tr.DialTLSContext = func(ctx context.Context, network, _ string) (net.Conn, error) {
		var d tls.Dialer
		d.Config = tr.TLSClientConfig
		return d.DialContext(ctx, network, srv.Listener.Addr().String())
	}
	creds := newStoredCreds("first-secret")
	fc, err := falcon.New(context.Background(), falcon.Config{
		Credentials: creds, Cloud: "autodiscover", HTTPClient: &http.Client{Transport: tr},
	})
	require.NoError(t, err)
	assert.Equal(t, "api.us-2.crowdstrike.com", fc.Host())

	sim.SetClientSecret("second-secret")
	creds.store("second-secret")
	fc.StartRun(context.Background(), slog.New(slog.DiscardHandler))
	_, err = fc.Accounts(context.Background())
	require.NoError(t, err)
	assert.Equal(t, 1, creds.count())
	assert.Equal(t, "api.us-2.crowdstrike.com", fc.Host())
}
