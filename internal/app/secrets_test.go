package app_test

// No secret leaks. A full reconcile at LOG_LEVEL=debug, with
// failures (a broken trust policy, an API error that echoes the external
// ID, uncertain creates), skipped accounts and a token refresh mid-run: the
// client secret, every access token the simulator issued and every external
// ID never appear in the logs, the JSON report, the summary or the errors.

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"log"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/crowdstrike-ecr/ecr-onboard/internal/app"
	"github.com/crowdstrike-ecr/ecr-onboard/internal/config"
	"github.com/crowdstrike-ecr/ecr-onboard/internal/falconsim"
	"github.com/crowdstrike-ecr/ecr-onboard/internal/onboard"
)

const (
	tokenPath      = "/oauth2/token"
	accountsQuery  = "/cloud-security-registration-aws/queries/account/v1"
	registriesPath = "/container-security/entities/registries/v1"
)

type rtFunc func(*http.Request) (*http.Response, error)

func (f rtFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

// tokenSpy records every access token: from the token endpoint's answers and
// from the Authorization headers actually sent.
type tokenSpy struct {
	mu     sync.Mutex
	tokens map[string]bool
}

func (s *tokenSpy) add(tok string) {
	tok = strings.TrimSpace(tok)
	if tok == "" {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.tokens[tok] = true
}

func (s *tokenSpy) all() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []string
	for t := range s.tokens {
		out = append(out, t)
	}
	return out
}

func (s *tokenSpy) wrap(next http.RoundTripper, after func(*http.Request, *http.Response)) http.RoundTripper {
	return rtFunc(func(r *http.Request) (*http.Response, error) {
		if h := r.Header.Get("Authorization"); len(h) > 7 && strings.EqualFold(h[:7], "bearer ") {
			s.add(h[7:])
		}
		resp, err := next.RoundTrip(r)
		if err != nil {
			return resp, err
		}
		if r.URL.Path == tokenPath {
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			resp.Body = io.NopCloser(bytes.NewReader(b))
			var tr struct {
				AccessToken string `json:"access_token"`
			}
			if json.Unmarshal(b, &tr) == nil {
				s.add(tr.AccessToken)
			}
		}
		after(r, resp)
		return resp, err
	})
}

func randomHex(t *testing.T) string {
	b := make([]byte, 12)
	_, err := rand.Read(b)
	require.NoError(t, err)
	return hex.EncodeToString(b)
}

func TestSecretsNeverLogged(t *testing.T) {
	clientID, secret := "leak-test-client", "client-secret-"+randomHex(t)
	sim := falconsim.New(falconsim.Options{ClientID: clientID, ClientSecret: secret})

	accounts := falconsim.GenerateAccounts(6, []string{"us-east-1", "eu-west-1"})
	for i := range accounts {
		accounts[i].ExternalID = "ext-" + randomHex(t) // distinctive
	}
	accounts[1].TrustsRegistryAssessment = false // credential rejected (400)
	echoed := accounts[2]                        // its create is refused with a message quoting its external ID
	uncertain := accounts[3]                     // its creates answer 503 quoting the external ID
	shared := falconsim.GenerateAccounts(8, []string{"us-east-1"})[6:]
	shared[0].ExternalID = "shared-" + randomHex(t)
	shared[1].ExternalID = shared[0].ExternalID // two members of one organization, one external ID
	padded := falconsim.GenerateAccounts(9, []string{"us-east-1"})[8]
	padded.ExternalID = " padded-" + randomHex(t)
	deputy := falconsim.GenerateAccounts(10, []string{"us-east-1"})[9]
	deputy.RoleARN, deputy.ExternalID = accounts[0].RoleARN, "deputy-"+randomHex(t)
	all := append(append(accounts, shared...), padded, deputy)
	sim.AddAccounts(all...)

	// The API echoes the external ID it was sent in some error messages.
	echo := func(w http.ResponseWriter, status int, body []byte) {
		var p struct {
			Credential struct {
				Details map[string]string `json:"details"`
			} `json:"credential"`
		}
		_ = json.Unmarshal(body, &p)
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		fmt.Fprintf(w, `{"meta":{"query_time":0.001,"trace_id":"t"},"errors":[{"code":%d,"message":"credential validation failed: cannot assume %s with external id %s"}]}`,
			status, p.Credential.Details["aws_iam_role"], p.Credential.Details["aws_external_id"])
	}
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodPost && r.URL.Path == registriesPath {
			body, _ := io.ReadAll(r.Body)
			r.Body = io.NopCloser(bytes.NewReader(body))
			switch {
			case bytes.Contains(body, []byte(echoed.ID)):
				echo(w, http.StatusBadRequest, body)
				return
			case bytes.Contains(body, []byte(uncertain.ID)):
				echo(w, http.StatusServiceUnavailable, body)
				return
			}
		}
		sim.ServeHTTP(w, r)
	}))
	srv.Config.ErrorLog = log.New(io.Discard, "", 0)
	srv.StartTLS()
	defer srv.Close()

	spy := &tokenSpy{tokens: map[string]bool{}}
	var expireOnce sync.Once
	hc := &http.Client{Transport: spy.wrap(srv.Client().Transport, func(r *http.Request, resp *http.Response) {
		if r.URL.Path == accountsQuery && resp.StatusCode == http.StatusOK {
			expireOnce.Do(sim.ExpireTokens) // the next request gets 401: re-authenticate mid-run
		}
	})}

	env := map[string]string{
		"FALCON_BASE_URL": srv.URL, "FALCON_CLIENT_ID": clientID, "FALCON_CLIENT_SECRET": secret,
		"LOG_LEVEL": "debug", "TRUST_PROPAGATION_WAIT": "0", // the rejected credential is not waited for
	}
	cfg, err := config.Load(func(k string) string { return env[k] })
	require.NoError(t, err)
	require.Equal(t, slog.LevelDebug, cfg.LogLevel)
	var logs bytes.Buffer
	runner, err := app.NewRunner(context.Background(), cfg, app.Deps{HTTPClient: hc, Logger: app.NewLogger(&logs, cfg.LogLevel)})
	require.NoError(t, err)

	report, runErr := runner.Run(context.Background(), onboard.Request{Trigger: onboard.TriggerCLI})
	require.NoError(t, runErr)

	// The run did exercise what it should.
	st := sim.Stats()
	require.GreaterOrEqual(t, st.ByOperation["POST "+tokenPath], 2, "a token refresh happened")
	require.GreaterOrEqual(t, len(spy.all()), 2)
	require.Len(t, report.Registries.Failed, 4, "broken trust and echoed 400: 1 region each (the other waits for the rejected credential); echoed 503: 2 regions")
	require.Len(t, report.Registries.Waiting, 2)
	require.Len(t, report.Accounts.Skipped, 2, "padded, deputy (an organization's shared external ID is no refusal)")
	require.NotEmpty(t, report.Registries.Created)
	require.NotEmpty(t, logs.String())
	assert.Contains(t, logs.String(), `"level":"ERROR"`, "failures were logged")

	// A second run that fails fatally (access denied) logs and returns an error too.
	sim.InjectFault(falconsim.Fault{Method: http.MethodGet, Path: accountsQuery, Status: http.StatusForbidden})
	_, fatalErr := runner.Run(context.Background(), onboard.Request{})
	require.Error(t, fatalErr)

	reportJSON, err := json.Marshal(report)
	require.NoError(t, err)
	var summary bytes.Buffer
	report.WriteSummary(&summary)
	var failures []string
	for _, f := range report.Registries.Failed {
		failures = append(failures, f.Error, f.Hint)
	}

	secrets := map[string]string{"client secret": secret}
	for i, tok := range spy.all() {
		secrets[fmt.Sprintf("access token %d", i)] = tok
	}
	for _, a := range all {
		if x := strings.TrimSpace(a.ExternalID); x != "" {
			secrets["external ID of "+a.ID] = x
		}
	}
	for where, text := range map[string]string{
		"logs":        logs.String(),
		"JSON report": string(reportJSON),
		"summary":     summary.String(),
		"failures":    strings.Join(failures, "\n"),
		"fatal error": fatalErr.Error(),
	} {
		for what, s := range secrets {
			assert.NotContains(t, text, s, "%s leaked into the %s", what, where)
		}
	}
	// The echoing failure is still useful: the message is kept, redacted.
	assert.Contains(t, strings.Join(failures, "\n"), "[external-id]")
}
