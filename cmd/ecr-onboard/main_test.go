package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/crowdstrike-ecr/ecr-onboard/internal/demo"
	"github.com/crowdstrike-ecr/ecr-onboard/internal/falconsim"
	"github.com/crowdstrike-ecr/ecr-onboard/internal/jsonlog"
	"github.com/crowdstrike-ecr/ecr-onboard/internal/onboard"
)

func runCLI(args []string, env map[string]string) (int, string, string) {
	var stdout, stderr bytes.Buffer
	code := run(context.Background(), args, func(k string) string { return env[k] }, &stdout, &stderr)
	return code, stdout.String(), stderr.String()
}

func TestUsageAndConfigurationErrorsExit2(t *testing.T) {
	creds := map[string]string{"FALCON_CLIENT_ID": "id", "FALCON_CLIENT_SECRET": "secret"}
	for name, tc := range map[string]struct {
		args []string
		env  map[string]string
		want string
	}{
		"unknown flag":        {[]string{"--external-id", "x"}, creds, "flag provided but not defined"},
		"bad --account":       {[]string{"--account", "123"}, creds, "--account"},
		"bad --region":        {[]string{"--region", "moon-1"}, creds, "--region"},
		"unknown command":     {[]string{"now"}, creds, `unknown command "now" (commands: demo, simulate, trust-policy, help)`},
		"stray argument":      {[]string{"--dry-run", "now"}, creds, `unexpected argument "now"`},
		"no credentials":      {nil, nil, "FALCON_SECRET_ARN"},
		"bad MAX_CONCURRENCY": {nil, map[string]string{"FALCON_CLIENT_ID": "id", "FALCON_CLIENT_SECRET": "s", "MAX_CONCURRENCY": "0"}, "MAX_CONCURRENCY"},
		"bad FALCON_BASE_URL": {nil, map[string]string{"FALCON_CLIENT_ID": "id", "FALCON_CLIENT_SECRET": "s", "FALCON_BASE_URL": "http://x"}, "FALCON_BASE_URL"},
	} {
		t.Run(name, func(t *testing.T) {
			code, stdout, stderr := runCLI(tc.args, tc.env)
			assert.Equal(t, exitUsage, code)
			assert.Empty(t, stdout)
			assert.Contains(t, stderr, tc.want)
		})
	}
}

func TestDemo(t *testing.T) {
	code, stdout, _ := runCLI([]string{"demo"}, nil)
	require.Equal(t, exitOK, code)
	assert.Contains(t, stdout, "created (12)")
	assert.Contains(t, stdout, "failed (1)")
	assert.Contains(t, stdout, "not sent: waiting for a role Falcon rejected for another registry (1)")
	assert.Contains(t, stdout, "hint:")
	assert.Contains(t, stdout, "skipped accounts (5)")
	assert.Contains(t, stdout, "0 created", "the second run creates nothing")
	assert.Contains(t, stdout, "AWS Organization o-demoorg0001: 3 of its 4 accounts onboarded", "the organization sharing one external ID")
	assert.Contains(t, stdout, `121212121213  [wait] CSPM has not finished onboarding this account (registration_status "provisioned")`)
	assert.Regexp(t, `registrations created +12 +3\n`, stdout, "both region sources side by side")
	assert.Contains(t, stdout, "3 without an ECR repository in the inventory")
}

// The built binary, as a user runs it, against the simulator served over
// HTTPS and trusted through SSL_CERT_FILE.
func TestBinaryJSONReportAgainstSimulatorServer(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary")
	}
	dir := t.TempDir()
	bin := filepath.Join(dir, "ecr-onboard")
	build := exec.Command("go", "build", "-o", bin, ".")
	build.Stderr = os.Stderr
	require.NoError(t, build.Run())

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	sim := falconsim.New(falconsim.Options{ClientID: demo.ClientID, ClientSecret: demo.ClientSecret})
	falconsim.DemoFixtures(sim)
	cert := filepath.Join(dir, "sim.pem")
	url, err := falconsim.ListenAndServeTLS(ctx, "127.0.0.1:0", sim, cert)
	require.NoError(t, err)

	cli := func(args ...string) (int, onboard.Report, string) {
		cmd := exec.Command(bin, args...)
		cmd.Env = []string{
			"FALCON_BASE_URL=" + url, "SSL_CERT_FILE=" + cert,
			"FALCON_CLIENT_ID=" + demo.ClientID, "FALCON_CLIENT_SECRET=" + demo.ClientSecret,
			"TRUST_PROPAGATION_WAIT=0", // the broken-trust account is not waited for
		}
		var stdout, stderr bytes.Buffer
		cmd.Stdout, cmd.Stderr = &stdout, &stderr
		err := cmd.Run()
		code := 0
		if ee, ok := err.(*exec.ExitError); ok {
			code = ee.ExitCode()
		} else {
			require.NoError(t, err)
		}
		var report onboard.Report
		require.NoError(t, json.Unmarshal(stdout.Bytes(), &report), "stdout must be the JSON report only: %s", stdout.String())
		return code, report, stderr.String()
	}

	code, report, stderr := cli("--json", "--dry-run")
	assert.Equal(t, exitCoverage, code, "a dry run that could plan, on a tenant with accounts a person must fix")
	assert.False(t, report.Coverage.Clean)
	assert.True(t, report.DryRun)
	assert.Len(t, report.Registries.Created, 14)
	assert.Zero(t, sim.Stats().Writes())
	assert.Empty(t, stderr)

	code, report, _ = cli("--json")
	assert.Equal(t, exitFailed, code, "the broken-trust account fails")
	assert.Equal(t, onboard.TriggerCLI, report.Trigger)
	assert.Len(t, report.Registries.Created, 12)
	assert.Len(t, report.Registries.Failed, 1)
	assert.Len(t, report.Registries.Waiting, 1, "the broken-trust account's other registry")

	code, report, _ = cli("--json", "--account", "222222222222", "--region", "us-east-1")
	assert.Equal(t, exitOK, code, "narrowed to a healthy, onboarded account")
	assert.Equal(t, 1, report.Registries.Desired)
	assert.Equal(t, 1, report.Registries.Unchanged)
}

// demoTenant serves the demo tenant over TLS for t (trusted through
// SSL_CERT_FILE) and returns it with the CLI's environment for it.
func demoTenant(t *testing.T) (*falconsim.Sim, map[string]string) {
	sim := falconsim.New(falconsim.Options{ClientID: demo.ClientID, ClientSecret: demo.ClientSecret})
	falconsim.DemoFixtures(sim)
	srv := falconsim.StartTLS(sim)
	t.Cleanup(srv.Close)
	cert := filepath.Join(t.TempDir(), "sim.pem")
	require.NoError(t, os.WriteFile(cert, pemOf(srv.Certificate().Raw), 0o600))
	t.Setenv("SSL_CERT_FILE", cert)
	return sim, map[string]string{"FALCON_BASE_URL": srv.URL, "FALCON_CLIENT_ID": demo.ClientID, "FALCON_CLIENT_SECRET": demo.ClientSecret,
		"TRUST_PROPAGATION_WAIT": "0"} // the broken-trust account is not waited for
}

// --region narrows; it never stands in for the active regions CSPM does not
// list (888888888888 has none, REGIONS is unset).
func TestRegionFlagNeverWidens(t *testing.T) {
	sim, env := demoTenant(t)

	code, stdout, stderr := runCLI([]string{"--json", "--region", "eu-west-1"}, env)

	require.Contains(t, []int{exitFailed, exitCoverage}, code, stderr)
	var report onboard.Report
	require.NoError(t, json.Unmarshal([]byte(stdout), &report))
	assert.Contains(t, report.Accounts.Skipped, onboard.Skip{AccountID: "888888888888",
		Reason: "CSPM lists no active region for this account (set REGIONS to onboard it anyway)", Action: onboard.SkipFix})
	for _, c := range report.Registries.Created {
		assert.Contains(t, c.URL, ".eu-west-1.", "narrowed to eu-west-1")
	}
	for _, r := range sim.Registries() {
		assert.NotContains(t, r.URL, "888888888888")
	}
}

func pemOf(der []byte) []byte {
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
}

// A tenant where every account is skipped (or CSPM lists none): nothing
// failed, yet nothing is covered; the CLI says so with exit code 4, in the
// JSON report and in the human summary.
func TestZeroCoverageExitsNonZero(t *testing.T) {
	for name, n := range map[string]int{"every account skipped": 5, "CSPM lists no account": 0} {
		t.Run(name, func(t *testing.T) {
			sim := falconsim.New(falconsim.Options{ClientID: demo.ClientID, ClientSecret: demo.ClientSecret})
			accounts := falconsim.GenerateAccounts(n, []string{"us-east-1"})
			for i := range accounts {
				accounts[i].ExternalID = ""
			}
			sim.AddAccounts(accounts...)
			srv := falconsim.StartTLS(sim)
			defer srv.Close()
			cert := filepath.Join(t.TempDir(), "sim.pem")
			require.NoError(t, os.WriteFile(cert, pemOf(srv.Certificate().Raw), 0o600))
			t.Setenv("SSL_CERT_FILE", cert)
			env := map[string]string{"FALCON_BASE_URL": srv.URL, "FALCON_CLIENT_ID": demo.ClientID, "FALCON_CLIENT_SECRET": demo.ClientSecret}

			code, stdout, stderr := runCLI([]string{"--json"}, env)
			assert.Equal(t, exitCoverage, code, stderr)
			var report onboard.Report
			require.NoError(t, json.Unmarshal([]byte(stdout), &report))
			assert.False(t, report.Coverage.Clean)
			assert.Zero(t, report.Coverage.Percent)
			assert.Len(t, report.Accounts.Skipped, n)

			code, stdout, _ = runCLI(nil, env)
			assert.Equal(t, exitCoverage, code)
			assert.Contains(t, stdout, "NOT CLEAN")
		})
	}
}

// `simulate --org-members N --accounts M` serves an AWS Organization of N
// accounts sharing one external ID and one role name, beside M standalone
// accounts.
func TestSimulateServesAGeneratedOrganization(t *testing.T) {
	dir, err := filepath.EvalSymlinks(t.TempDir())
	require.NoError(t, err)
	t.Chdir(dir)
	cert := filepath.Join(dir, "sim.pem")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	out, w := io.Pipe()
	done := make(chan int, 1)
	go func() {
		done <- run(ctx, []string{"simulate", "--addr", "127.0.0.1:0", "--cert", "sim.pem", "--org-members", "5", "--accounts", "2", "--regions", "us-east-1,eu-west-1"},
			func(string) string { return "" }, w, io.Discard)
		w.Close()
	}()
	banner := bufio.NewReader(out)
	first, err := banner.ReadString('\n')
	require.NoError(t, err)
	m := regexp.MustCompile(`listening on (https://\S+)\. `).FindStringSubmatch(first)
	require.NotNil(t, m, first)
	var lines []string
	for len(lines) < 4 {
		line, err := banner.ReadString('\n')
		require.NoError(t, err)
		lines = append(lines, line)
	}
	go func() { _, _ = io.Copy(io.Discard, out) }()
	// The banner's commands run as they are, from any directory: this
	// binary as it was started, the certificate by its absolute path.
	assert.Contains(t, lines, "  "+os.Args[0]+" --json\n")
	assert.Contains(t, strings.Join(lines, ""), " SSL_CERT_FILE="+cert+"\n")

	pool := x509.NewCertPool()
	pemBytes, err := os.ReadFile(cert)
	require.NoError(t, err)
	require.True(t, pool.AppendCertsFromPEM(pemBytes))
	hc := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	rn, err := demo.NewRunner(ctx, m[1], hc, nil)
	require.NoError(t, err)
	accounts, err := rn.Falcon.Accounts(ctx)
	require.NoError(t, err)

	require.Len(t, accounts, 7)
	byOrg := map[string][]onboard.Account{}
	for _, a := range accounts {
		assert.Equal(t, []string{"us-east-1", "eu-west-1"}, a.Regions)
		byOrg[a.OrganizationID] = append(byOrg[a.OrganizationID], a)
	}
	org := byOrg[falconsim.GeneratedOrganizationID]
	require.Len(t, org, 5)
	for _, a := range org {
		assert.Equal(t, org[0].ExternalID, a.ExternalID, "one external ID for the organization")
	}
	require.Len(t, byOrg[""], 2, "standalone accounts")
	assert.NotEqual(t, byOrg[""][0].ExternalID, byOrg[""][1].ExternalID)

	cancel()
	assert.Equal(t, exitOK, <-done)
}

// TestLogLinesHoldEachKeyOnce: every line the CLI logs (LOG_LEVEL=debug,
// a real run against the simulator, failures included) is JSON with each
// key once.
func TestLogLinesHoldEachKeyOnce(t *testing.T) {
	_, env := demoTenant(t)
	env["LOG_LEVEL"] = "debug"

	code, _, stderr := runCLI([]string{"--json"}, env)

	assert.Equal(t, exitFailed, code, "the demo tenant's broken-trust account fails")
	assert.NotEmpty(t, stderr, "debug logs")
	assert.Empty(t, jsonlog.CheckLines(stderr))
}
