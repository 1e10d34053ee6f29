package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/crowdstrike-ecr/ecr-onboard/internal/demo"
	"github.com/crowdstrike-ecr/ecr-onboard/internal/falconsim"
	"github.com/crowdstrike-ecr/ecr-onboard/internal/onboard"
)

// untrustedTenant serves n accounts whose roles all refuse Falcon.
func untrustedTenant(t *testing.T, n int) map[string]string {
	t.Helper()
	sim := falconsim.New(falconsim.Options{ClientID: demo.ClientID, ClientSecret: demo.ClientSecret})
	accounts := falconsim.GenerateAccounts(n, []string{"us-east-1"})
	for i := range accounts {
		accounts[i].TrustsRegistryAssessment = false
	}
	sim.AddAccounts(accounts...)
	srv := falconsim.StartTLS(sim)
	t.Cleanup(srv.Close)
	cert := filepath.Join(t.TempDir(), "sim.pem")
	require.NoError(t, os.WriteFile(cert, pemOf(srv.Certificate().Raw), 0o600))
	t.Setenv("SSL_CERT_FILE", cert)
	return map[string]string{"FALCON_BASE_URL": srv.URL, "FALCON_CLIENT_ID": demo.ClientID, "FALCON_CLIENT_SECRET": demo.ClientSecret,
		"TRUST_PROPAGATION_WAIT": "0"}
}

// The human summary lists the first onboard.ListBound failures and counts
// the rest; --json is the whole report.
func TestSummaryIsBoundedAndJSONIsWhole(t *testing.T) {
	env := untrustedTenant(t, onboard.ListBound+10)

	code, stdout, stderr := runCLI(nil, env)
	assert.Equal(t, exitFailed, code, stderr)
	assert.Contains(t, stdout, "failed (30)\n")
	assert.Equal(t, onboard.ListBound, strings.Count(stdout, "    error: "))
	assert.Contains(t, stdout, "  … (10 more in the whole report)\n")

	code, stdout, stderr = runCLI([]string{"--json"}, env)
	assert.Equal(t, exitFailed, code, stderr)
	var report onboard.Report
	require.NoError(t, json.Unmarshal([]byte(stdout), &report))
	assert.Len(t, report.Registries.Failed, onboard.ListBound+10)
	assert.Nil(t, report.Truncated)
	assert.False(t, report.Narrowed)
}

// --account and --region narrow the run, and its report and summary say so.
func TestNarrowedRunSaysSo(t *testing.T) {
	env := untrustedTenant(t, 3)
	code, stdout, stderr := runCLI([]string{"--json", "--account", "100000000001", "--region", "us-east-1"}, env)
	assert.Equal(t, exitFailed, code, stderr)
	var report onboard.Report
	require.NoError(t, json.Unmarshal([]byte(stdout), &report))
	assert.True(t, report.Narrowed)
	assert.Equal(t, &onboard.Narrowing{AccountIDs: []string{"100000000001"}, Regions: []string{"us-east-1"}}, report.Narrowing)

	_, stdout, _ = runCLI([]string{"--account", "100000000001"}, env)
	assert.Contains(t, stdout, "  narrowed:   to accounts 100000000001; its coverage is of that part of the scope only\n")
}
