package falcon_test

// Reconcile runs end to end: onboard.Runner -> this adapter -> gofalcon ->
// HTTPS -> the Falcon simulator.

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/crowdstrike-ecr/ecr-onboard/internal/demo"
	"github.com/crowdstrike-ecr/ecr-onboard/internal/falconsim"
	"github.com/crowdstrike-ecr/ecr-onboard/internal/onboard"
)

const (
	registriesPath = "/container-security/entities/registries/v1"
	registriesQ    = "/container-security/queries/registries/v1"
	accountsQ      = "/cloud-security-registration-aws/queries/account/v1"
)

func TestFirstRunOnboardsEverythingAcrossManyPages(t *testing.T) {
	accounts := falconsim.GenerateAccounts(1234, []string{"us-east-1", "eu-west-1"})
	h := newRig(t, rigConfig{accounts: accounts})
	// 600 registrations already there (more than one registry page).
	for _, a := range accounts[:300] {
		for _, region := range a.Regions {
			h.sim.AddRegistry(falconsim.Registry{URL: falconsim.ECRURL(a.ID, region), Alias: "manual", RoleARN: a.RoleARN, ExternalID: a.ExternalID})
		}
	}

	report := h.runWith(t, onboard.Request{Trigger: onboard.TriggerCLI})

	assert.True(t, report.Complete)
	assert.Equal(t, 1234, report.Accounts.Discovered)
	assert.Equal(t, 1234, report.Accounts.Eligible)
	assert.Equal(t, 2468, report.Registries.Desired)
	assert.Equal(t, 600, report.Registries.Existing)
	assert.Equal(t, 600, report.Registries.Unchanged)
	assert.Len(t, report.Registries.Created, 1868)
	assert.Empty(t, report.Registries.Failed)
	urls := h.urls()
	assert.Len(t, urls, 2468)
	for u, n := range urls {
		require.Equal(t, 1, n, "duplicate registration of %s", u)
	}
	st := h.sim.Stats()
	assert.Equal(t, 3, st.ByOperation["GET "+accountsQ], "1234 accounts = 3 pages of 500")
	assert.Equal(t, 13, st.ByOperation["GET /cloud-security-registration-aws/entities/account/v1"], "batches of 100")
	assert.Equal(t, 2, st.ByOperation["GET "+registriesQ])
	assert.Equal(t, 6, st.ByOperation["GET "+registriesPath])
}

func TestSecondRunWritesNothing(t *testing.T) {
	h := newRig(t, rigConfig{accounts: falconsim.GenerateAccounts(40, []string{"us-east-1", "us-west-2", "eu-west-1"})})
	first := h.runWith(t, onboard.Request{})
	require.Len(t, first.Registries.Created, 120)
	writes := h.sim.Stats().Writes()

	second := h.runWith(t, onboard.Request{})

	assert.Equal(t, writes, h.sim.Stats().Writes(), "a second run must not write")
	assert.Empty(t, second.Registries.Created)
	assert.Empty(t, second.Registries.Updated)
	assert.Equal(t, 120, second.Registries.Unchanged)
	assert.Equal(t, 0, second.ExitCode())
	// token + 1 accounts page + 1 account batch + 1 registry page + 2 registry batches
	assert.EqualValues(t, 5, second.APICalls)
}

func TestDryRunWritesNothing(t *testing.T) {
	h := newRig(t, rigConfig{env: map[string]string{"DRY_RUN": "true"}, accounts: falconsim.GenerateAccounts(3, []string{"us-east-1"})})
	report := h.runWith(t, onboard.Request{})
	assert.True(t, report.DryRun)
	assert.Len(t, report.Registries.Created, 3, "lists what would be created")
	assert.Zero(t, h.sim.Stats().Writes())
	assert.Empty(t, h.sim.Registries())

	// A request can turn dry run on, never off.
	h2 := newRig(t, rigConfig{accounts: falconsim.GenerateAccounts(3, []string{"us-east-1"})})
	report = h2.runWith(t, onboard.Request{DryRun: true})
	assert.True(t, report.DryRun)
	assert.Zero(t, h2.sim.Stats().Writes())
}

func TestCreateAnswered5xxAfterItHappenedIsNotDuplicated(t *testing.T) {
	h := newRig(t, rigConfig{accounts: falconsim.GenerateAccounts(4, []string{"us-east-1"})})
	h.sim.InjectFault(falconsim.Fault{Method: http.MethodPost, Path: registriesPath, Status: 502, AfterWrite: true, Times: 2})

	report := h.runWith(t, onboard.Request{})

	assert.Len(t, report.Registries.Created, 4)
	for _, c := range report.Registries.Created {
		assert.NotEmpty(t, c.RegistryID, c.URL)
	}
	assert.Empty(t, report.Registries.Failed)
	assert.Len(t, h.urls(), 4)
	assert.Equal(t, 4, h.sim.Stats().CreatesSucceeded, "no create was repeated")
	assert.Equal(t, 4, h.sim.Stats().ByOperation["POST "+registriesPath], "the two 502s were re-checked, not re-sent")
}

func TestCreateFailing5xxBeforeItHappenedIsCreatedOnce(t *testing.T) {
	h := newRig(t, rigConfig{accounts: falconsim.GenerateAccounts(2, []string{"us-east-1"})})
	h.sim.InjectFault(falconsim.Fault{Method: http.MethodPost, Path: registriesPath, Status: 500})

	report := h.runWith(t, onboard.Request{})

	assert.Len(t, report.Registries.Created, 2)
	assert.Empty(t, report.Registries.Failed)
	assert.Len(t, h.urls(), 2)
	assert.Equal(t, 2, h.sim.Stats().CreatesSucceeded)
}

func TestConflictMeansItExists(t *testing.T) {
	h := newRig(t, rigConfig{accounts: falconsim.GenerateAccounts(2, []string{"us-east-1"})})
	// Another invocation creates the registry between our listing and our create.
	h.sim.InjectFault(falconsim.Fault{Method: http.MethodPost, Path: registriesPath, Status: http.StatusConflict, AfterWrite: true})

	report := h.runWith(t, onboard.Request{})

	assert.Len(t, report.Registries.Created, 1)
	assert.Equal(t, 1, report.Registries.Unchanged, "the 409 one exists: confirmed by re-listing")
	assert.Empty(t, report.Registries.Failed)
	assert.Len(t, h.urls(), 2)
	for _, n := range h.urls() {
		assert.Equal(t, 1, n)
	}
}

func TestConflictForAnUnlistedRegistryIsAFailureNotARetry(t *testing.T) {
	h := newRig(t, rigConfig{accounts: falconsim.GenerateAccounts(1, []string{"us-east-1"})})
	h.sim.InjectFault(falconsim.Fault{Method: http.MethodPost, Path: registriesPath, Status: http.StatusConflict})

	report := h.runWith(t, onboard.Request{})

	require.Len(t, report.Registries.Failed, 1)
	assert.Contains(t, report.Registries.Failed[0].Error, "already exists, yet it is not listed")
	assert.Equal(t, 1, h.sim.Stats().ByOperation["POST "+registriesPath])
	assert.Equal(t, 3, report.ExitCode())
}

func TestFailClosedWhenListingFails(t *testing.T) {
	for name, fault := range map[string]falconsim.Fault{
		"registry page 5xx":          {Method: http.MethodGet, Path: registriesQ, Status: 500, Times: 10},
		"registry entities 5xx":      {Method: http.MethodGet, Path: registriesPath, Status: 503, Times: 10},
		"registry entities bad JSON": {Method: http.MethodGet, Path: registriesPath, Status: 200, Body: `{"meta":{"query_time":1,"trace_id":"x"},"resources":[{"id":`},
		"registry without url":       {Method: http.MethodGet, Path: registriesPath, Status: 200, Body: `{"meta":{"query_time":1,"trace_id":"x"},"resources":[{"id":"abc","type":"ecr"}]}`},
		"accounts page 403":          {Method: http.MethodGet, Path: accountsQ, Status: 403},
	} {
		t.Run(name, func(t *testing.T) {
			h := newRig(t, rigConfig{accounts: falconsim.GenerateAccounts(3, []string{"us-east-1"})})
			h.sim.AddRegistry(falconsim.Registry{URL: falconsim.ECRURL("100000000000", "us-east-1"), Alias: "x", RoleARN: "arn:aws:iam::100000000000:role/CrowdStrikeCSPMReader", ExternalID: "e"})
			h.sim.InjectFault(fault)

			_, err := h.runner.Run(context.Background(), onboard.Request{})

			require.Error(t, err)
			assert.Zero(t, h.sim.Stats().Writes(), "nothing may be written when listing fails")
		})
	}
}

func TestAccessDeniedNamesTheScopes(t *testing.T) {
	h := newRig(t, rigConfig{accounts: falconsim.GenerateAccounts(1, []string{"us-east-1"})})
	h.sim.InjectFault(falconsim.Fault{Method: http.MethodGet, Path: accountsQ, Status: 403})
	_, err := h.runner.Run(context.Background(), onboard.Request{})
	require.ErrorIs(t, err, onboard.ErrAccessDenied)
	assert.Contains(t, err.Error(), "CSPM registration: Read")
}

func TestWrongClientSecretIsAClearError(t *testing.T) {
	sim := falconsim.New(falconsim.Options{ClientID: demo.ClientID, ClientSecret: "other"})
	srv := falconsim.StartTLS(sim)
	defer srv.Close()
	runner, err := demo.NewRunner(context.Background(), srv.URL, srv.Client(), nil)
	require.NoError(t, err)
	_, err = runner.Run(context.Background(), onboard.Request{})
	require.Error(t, err)
	assert.Contains(t, err.Error(), "check the client ID/secret")
	assert.NotContains(t, err.Error(), demo.ClientSecret)
}

func TestExpiredTokenIsRefreshed(t *testing.T) {
	h := newRig(t, rigConfig{accounts: falconsim.GenerateAccounts(2, []string{"us-east-1"})})
	h.runWith(t, onboard.Request{})
	h.sim.ExpireTokens() // the cached token is now refused with 401
	report := h.runWith(t, onboard.Request{})
	assert.Equal(t, 2, report.Registries.Unchanged)
	assert.Equal(t, 2, h.sim.Stats().ByOperation["POST /oauth2/token"])
}

func TestDriftedCredentialIsUpdated(t *testing.T) {
	accounts := falconsim.GenerateAccounts(1, []string{"us-east-1"})
	a := accounts[0]
	h := newRig(t, rigConfig{accounts: accounts})
	h.sim.AddRegistry(falconsim.Registry{URL: falconsim.ECRURL(a.ID, "us-east-1"), Alias: "ecr-onboard-" + a.ID + "-us-east-1", RoleARN: a.RoleARN, ExternalID: "stale-id"})

	report := h.runWith(t, onboard.Request{})

	require.Len(t, report.Registries.Updated, 1)
	regs := h.sim.Registries()
	require.Len(t, regs, 1)
	assert.Equal(t, a.ExternalID, regs[0].ExternalID)
}

func TestBrokenTrustIsAFailureWithAHint(t *testing.T) {
	accounts := falconsim.GenerateAccounts(1, []string{"us-east-1"})
	accounts[0].TrustsRegistryAssessment = false
	h := newRig(t, rigConfig{accounts: accounts})

	report := h.runWith(t, onboard.Request{})

	require.Len(t, report.Registries.Failed, 1)
	f := report.Registries.Failed[0]
	assert.ErrorContains(t, errString(f.Error), "rejected the credential")
	assert.Contains(t, f.Hint, "arn:aws:iam::292230061137:role/CrowdStrikeCustomerRegistryAssessmentRole")
	assert.Contains(t, f.Hint, accounts[0].RoleARN)
	assert.Empty(t, h.sim.Registries())
}

// A stack Delete with DISCONNECT_ON_DELETE removes every registration this
// tool owns in scope, whatever CSPM lists now — ownership is the alias:
// accounts CSPM no longer lists (or none at all, when it answers with none)
// are disconnected too. Registrations with any other alias stay.
func TestDisconnectDeletesEveryOwnedRegistration(t *testing.T) {
	for _, cspm := range []string{"lists some accounts", "lists none"} {
		t.Run(cspm, func(t *testing.T) {
			accounts := falconsim.GenerateAccounts(3, []string{"us-east-1", "eu-west-1"})
			h := newRig(t, rigConfig{accounts: accounts})
			first := h.runWith(t, onboard.Request{})
			require.Len(t, first.Registries.Created, 6)
			manual := h.sim.AddRegistry(falconsim.Registry{URL: "https://999999999999.dkr.ecr.us-east-1.amazonaws.com", Alias: "team-registry",
				RoleARN: "arn:aws:iam::999999999999:role/x", ExternalID: "x"})
			// An earlier version's alias (no fingerprint) of an account CSPM never listed: owned.
			h.sim.AddRegistry(falconsim.Registry{URL: "https://999999999999.dkr.ecr.eu-west-1.amazonaws.com", Alias: "ecr-onboard-999999999999-eu-west-1",
				RoleARN: "arn:aws:iam::999999999999:role/x", ExternalID: "x"})
			h.sim.RemoveAccount(accounts[1].ID)
			if cspm == "lists none" {
				h.sim.RemoveAccount(accounts[0].ID)
				h.sim.RemoveAccount(accounts[2].ID)
			}

			report := h.runWith(t, onboard.Request{Disconnect: true})

			assert.Len(t, report.Registries.Deleted, 7, "every owned registration")
			assert.Empty(t, report.Registries.DeleteFailed)
			assert.Zero(t, report.Registries.DeleteNotAttempted)
			regs := h.sim.Registries()
			require.Len(t, regs, 1, "only the registration with another alias stays")
			assert.Equal(t, manual.ID, regs[0].ID)
		})
	}
}

func TestDemoFixturesReport(t *testing.T) {
	sim := falconsim.New(falconsim.Options{ClientID: demo.ClientID, ClientSecret: demo.ClientSecret})
	falconsim.DemoFixtures(sim)
	srv := falconsim.StartTLS(sim)
	defer srv.Close()
	runner, err := demo.NewRunner(context.Background(), srv.URL, srv.Client(), nil)
	require.NoError(t, err)

	report, err := runner.Run(context.Background(), onboard.Request{Trigger: onboard.TriggerCLI})
	require.NoError(t, err)

	assert.Len(t, report.Accounts.Skipped, 5)
	assert.Len(t, report.Registries.Failed, 1, "the untrusting account's first registry")
	assert.Len(t, report.Registries.Waiting, 1, "its other registry waits for the same credential")
	assert.NotEmpty(t, report.Registries.Created)
	b, err := json.Marshal(report)
	require.NoError(t, err)
	// The report never carries an external ID.
	for _, r := range sim.Registries() {
		assert.NotContains(t, string(b), r.ExternalID)
	}
	for _, key := range []string{`"run_id"`, `"trigger":"cli"`, `"dry_run"`, `"started_at"`, `"duration_ms"`, `"discovered"`, `"eligible"`, `"skipped"`, `"desired"`, `"existing"`, `"unchanged"`, `"created"`, `"updated"`, `"deleted"`, `"failed"`, `"api_calls"`, `"hint"`, `"registry_id"`} {
		assert.Contains(t, string(b), key)
	}
	assert.False(t, strings.Contains(string(b), "external_id"))
}

type errString string

func (e errString) Error() string { return string(e) }
