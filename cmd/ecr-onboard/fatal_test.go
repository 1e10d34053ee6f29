package main

// A fatal run prints its error, never a summary (its zeros would read like
// a result); with --json the report still comes, marked incomplete with the
// error. An error that is a failure to reach Falcon names the host and what
// failed there, not the client ID/secret.

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/crowdstrike-ecr/ecr-onboard/internal/demo"
	"github.com/crowdstrike-ecr/ecr-onboard/internal/falconsim"
	"github.com/crowdstrike-ecr/ecr-onboard/internal/nettest"
	"github.com/crowdstrike-ecr/ecr-onboard/internal/onboard"
)

// withFalconClient makes hc the CLI's HTTP client for t.
func withFalconClient(t *testing.T, hc *http.Client) {
	old := falconHTTPClient
	falconHTTPClient = hc
	t.Cleanup(func() { falconHTTPClient = old })
}

// fatalRun runs the CLI with env, with and without --json, and checks what
// a fatal run shows: exit 1, "error: ..." on stderr, no summary; the JSON
// report incomplete, carrying the error. It returns the error line.
func fatalRun(t *testing.T, env map[string]string) string {
	t.Helper()
	code, stdout, stderr := runCLI(nil, env)
	require.Equal(t, exitFatal, code, stderr)
	assert.Empty(t, stdout, "no summary for a run that did not happen")
	require.True(t, strings.HasPrefix(stderr, "error: "), stderr)
	errLine := strings.TrimSuffix(strings.TrimPrefix(stderr, "error: "), "\n")

	code, stdout, stderr = runCLI([]string{"--json"}, env)
	require.Equal(t, exitFatal, code, stderr)
	var report onboard.Report
	require.NoError(t, json.Unmarshal([]byte(stdout), &report), "stdout is the JSON report: %s", stdout)
	var raw map[string]any
	require.NoError(t, json.Unmarshal([]byte(stdout), &raw))
	assert.Equal(t, false, raw["complete"])
	assert.Equal(t, errLine, raw["error"], "the report carries the error stderr shows")
	assert.NotEmpty(t, report.RunID)
	assert.Equal(t, onboard.TriggerCLI, report.Trigger)
	assert.Nil(t, report.Coverage, "a run that did not plan judges no coverage")
	assert.Equal(t, "error: "+errLine+"\n", stderr)
	return errLine
}

func TestUnreachableFalconNamesTheHostAndTheCause(t *testing.T) {
	creds := func(env map[string]string) map[string]string {
		env["FALCON_CLIENT_ID"], env["FALCON_CLIENT_SECRET"] = demo.ClientID, demo.ClientSecret
		return env
	}
	t.Run("connection refused", func(t *testing.T) {
		closed := nettest.ClosedPort(t)
		msg := fatalRun(t, creds(map[string]string{"FALCON_BASE_URL": "https://" + closed}))
		assert.Contains(t, msg, "cannot connect to the Falcon API at "+closed+": connection refused; check FALCON_CLOUD, or FALCON_BASE_URL's host and port")
		assert.Contains(t, msg, "HTTPS_PROXY")
		assert.NotContains(t, msg, "client ID/secret")
	})
	t.Run("unknown host", func(t *testing.T) {
		withFalconClient(t, nettest.Client()) // its DNS answers in process: falcon.invalid does not exist
		msg := fatalRun(t, creds(map[string]string{"FALCON_BASE_URL": "https://falcon.invalid"}))
		assert.Contains(t, msg, "cannot connect to the Falcon API at falcon.invalid: the name falcon.invalid does not resolve (DNS: no such host); check FALCON_CLOUD")
		assert.NotContains(t, msg, "client ID/secret")
	})
	t.Run("untrusted certificate", func(t *testing.T) {
		srv := nettest.UntrustedTLS(t)
		// A trust store of its own: the process's (SSL_CERT_FILE) is read
		// once, and the other tests here set it to trust the simulator.
		tr := http.DefaultTransport.(*http.Transport).Clone()
		tr.TLSClientConfig = &tls.Config{RootCAs: x509.NewCertPool()}
		withFalconClient(t, &http.Client{Transport: tr})
		host := strings.TrimPrefix(srv.URL, "https://")
		msg := fatalRun(t, creds(map[string]string{"FALCON_BASE_URL": srv.URL}))
		assert.Contains(t, msg, "cannot connect to the Falcon API at "+host+": its TLS certificate is signed by an authority this machine does not trust")
		assert.Contains(t, msg, "point SSL_CERT_FILE at its CA certificate")
		assert.NotContains(t, msg, "client ID/secret")
	})
	// FALCON_CLOUD=autodiscover asks api.crowdstrike.com before any run:
	// the same message, from the client's setup.
	t.Run("autodiscovery host unknown", func(t *testing.T) {
		withFalconClient(t, nettest.Client())
		msg := fatalRun(t, creds(map[string]string{}))
		assert.Contains(t, msg, "autodiscovering the Falcon cloud (FALCON_CLOUD=autodiscover asks api.crowdstrike.com): "+
			"cannot connect to the Falcon API at api.crowdstrike.com: the name api.crowdstrike.com does not resolve")
		assert.NotContains(t, msg, "client ID/secret")
	})
}

// Falcon's answers that stop a run: the credential refused (the client
// ID/secret named), a listing refused (the scopes named).
func TestFatalRunPrintsTheErrorNotASummary(t *testing.T) {
	t.Run("credential refused", func(t *testing.T) {
		_, env := demoTenant(t)
		env["FALCON_CLIENT_SECRET"] = "not-the-secret"
		msg := fatalRun(t, env)
		assert.Contains(t, msg, "getting a Falcon API token failed")
		assert.Contains(t, msg, "check the client ID/secret")
		assert.NotContains(t, msg, "not-the-secret")
	})
	t.Run("listing refused", func(t *testing.T) {
		sim, env := demoTenant(t)
		for range 2 { // one for each run of fatalRun
			sim.InjectFault(falconsim.Fault{Method: http.MethodGet, Path: "/cloud-security-registration-aws/queries/account/v1", Status: http.StatusForbidden})
		}
		msg := fatalRun(t, env)
		assert.Contains(t, msg, "listing CSPM accounts")
		assert.Contains(t, msg, "CSPM registration: Read")
		assert.Zero(t, sim.Stats().Writes())
	})
}

// Writes made before a fatal error are not lost from view: stderr counts
// them after the error, and --json lists them in the stopped report.
func TestFatalRunAfterWritesCountsThem(t *testing.T) {
	sim := falconsim.New(falconsim.Options{ClientID: demo.ClientID, ClientSecret: demo.ClientSecret})
	sim.AddAccounts(falconsim.GenerateAccounts(5, []string{"us-east-1"})...)
	srv := falconsim.StartTLS(sim)
	t.Cleanup(srv.Close)
	withFalconClient(t, srv.Client())
	env := map[string]string{"FALCON_BASE_URL": srv.URL, "FALCON_CLIENT_ID": demo.ClientID, "FALCON_CLIENT_SECRET": demo.ClientSecret,
		"MAX_CONCURRENCY": "1"}
	// The fourth create is refused with 403: the run stops writing.
	sim.InjectFault(falconsim.Fault{Method: http.MethodPost, Path: "/container-security/entities/registries/v1", Status: http.StatusForbidden, Skip: 3, Times: 10})

	code, stdout, stderr := runCLI(nil, env)
	require.Equal(t, exitFatal, code, stderr)
	assert.Empty(t, stdout)
	assert.Regexp(t, `(?m)^error: stopped writing: .*\nbefore it stopped, the run created 3, updated 0 and deleted 0 registrations \(--json lists them\)\n\z`, stderr)
	assert.Len(t, sim.Registries(), 3)

	sim.ClearFaults()
	sim.InjectFault(falconsim.Fault{Method: http.MethodPost, Path: "/container-security/entities/registries/v1", Status: http.StatusForbidden, Times: 10})
	code, stdout, _ = runCLI([]string{"--json"}, env)
	require.Equal(t, exitFatal, code)
	var report onboard.Report
	require.NoError(t, json.Unmarshal([]byte(stdout), &report))
	assert.False(t, report.Complete)
	assert.Contains(t, report.Error, "stopped writing")
	assert.Empty(t, report.Registries.Created, "the three are unchanged now; the other two refused")
}
