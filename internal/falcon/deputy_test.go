package falcon_test

// Confused-deputy refusals through the simulator. Every refused
// account is in report.accounts.skipped with a reason, and Falcon receives no
// write for it; the healthy accounts beside it are onboarded.

import (
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/crowdstrike-ecr/ecr-onboard/internal/falconsim"
	"github.com/crowdstrike-ecr/ecr-onboard/internal/onboard"
)

func deputyAccount(id, roleARN, externalID, accountType string, regions ...string) falconsim.Account {
	if len(regions) == 0 {
		regions = []string{"us-east-1"}
	}
	return falconsim.Account{
		ID: id, Name: "acct-" + id, Type: accountType, RoleARN: roleARN, ExternalID: externalID,
		Regions: regions, TrustsRegistryAssessment: true,
	}
}

func role(id string) string { return fmt.Sprintf("arn:aws:iam::%s:role/CrowdStrikeCSPMReader", id) }

func TestConfusedDeputyRefusedWithoutWrites(t *testing.T) {
	victim := deputyAccount("200000000001", role("200000000001"), "victim-external-id", "commercial")
	type refusal struct {
		account falconsim.Account
		reason  string // substring of the skip reason
	}
	refused := []refusal{
		// Someone else's role: its external ID may be valid for that role
		// (the simulator would accept the credential), so only the check stops it.
		{deputyAccount("300000000001", victim.RoleARN, "victim-external-id-2", "commercial"), "belongs to account 200000000001"},
		{deputyAccount("300000000002", role("200000000001"), "other-ext", "commercial", "eu-west-1"), "possible confused deputy"},
		// Empty and whitespace external IDs.
		{deputyAccount("300000000005", role("300000000005"), "", "commercial"), "no external ID"},
		{deputyAccount("300000000006", role("300000000006"), "   ", "commercial"), "no external ID"},
		{deputyAccount("300000000007", role("300000000007"), " padded-ext", "commercial"), "whitespace"},
		{deputyAccount("300000000008", role("300000000008"), "padded-ext\n", "commercial"), "whitespace"},
		{deputyAccount("300000000009", role("300000000009"), "\tpadded-ext-2 ", "commercial"), "whitespace"},
		// Malformed role ARNs.
		{deputyAccount("300000000010", "", "e10", "commercial"), "no IAM role ARN"},
		{deputyAccount("300000000011", "not-an-arn", "e11", "commercial"), "malformed"},
		{deputyAccount("300000000012", "arn:aws:iam::30000000012:role/x", "e12", "commercial"), "malformed"},            // 11 digits
		{deputyAccount("300000000013", "arn:aws:iam::300000000013:user/x", "e13", "commercial"), "malformed"},           // a user
		{deputyAccount("300000000014", "arn:aws:sts::300000000014:assumed-role/x/s", "e14", "commercial"), "malformed"}, // a session
		{deputyAccount("300000000015", "arn:aws:iam:us-east-1:300000000015:role/x", "e15", "commercial"), "malformed"},  // a region
		{deputyAccount("300000000016", "arn:aws:iam::300000000016:role/", "e16", "commercial"), "malformed"},            // no name
		{deputyAccount("300000000017", "arn:aws-xx:iam::300000000017:role/x", "e17", "commercial"), "malformed"},        // no such partition
		{deputyAccount("300000000018", "ARN:AWS:IAM::300000000018:ROLE/x", "e18", "commercial"), "malformed"},
		{deputyAccount("300000000019", "arn:aws:iam::300000000019:role/x\narn:aws:iam::200000000001:role/y", "e19", "commercial"), "malformed"},
		{deputyAccount("300000000020", " arn:aws:iam::300000000020:role/x", "e20", "commercial"), "malformed"},
		{deputyAccount("300000000021", "arn:aws:iam::300000000021:role/x y", "e21", "commercial"), "malformed"},
		// Partition mismatches.
		{deputyAccount("300000000022", "arn:aws-us-gov:iam::300000000022:role/x", "e22", "commercial", "us-gov-west-1"), `partition "aws-us-gov" does not match account_type "commercial"`},
		{deputyAccount("300000000023", "arn:aws:iam::300000000023:role/x", "e23", "govcloud", "us-east-1"), `partition "aws" does not match account_type "govcloud"`},
		// Bad account ID / region from CSPM.
		{deputyAccount("30000000024", "arn:aws:iam::30000000024:role/x", "e24", "commercial"), "not a 12-digit"},
		{deputyAccount("300000000025", role("300000000025"), "e25", "commercial", "us-east-1", "../../evil"), "not a valid AWS region"},
	}
	// Two members of one organization share its external ID (as CSPM
	// registers an organization): each is onboarded with its own role.
	members := []falconsim.Account{
		deputyAccount("300000000003", role("300000000003"), "org-external-id", "commercial"),
		deputyAccount("300000000004", role("300000000004"), "org-external-id", "commercial"),
	}
	accepted := append([]falconsim.Account{victim}, members...)
	accounts := slices.Clone(accepted)
	for _, r := range refused {
		accounts = append(accounts, r.account)
	}
	rg := newRig(t, rigConfig{accounts: accounts})

	report := rg.run(t)

	// The healthy accounts are onboarded, each with its own credential.
	require.Len(t, report.Registries.Created, len(accepted))
	assert.Equal(t, len(accepted), report.Accounts.Eligible)
	assert.Equal(t, len(accounts), report.Accounts.Discovered)
	regs := rg.sim.Registries()
	require.Len(t, regs, len(accepted))
	byURL := map[string]falconsim.Registry{}
	for _, r := range regs {
		byURL[r.URL] = r
	}
	for _, a := range accepted {
		r := byURL[falconsim.ECRURL(a.ID, "us-east-1")]
		assert.Equal(t, a.RoleARN, r.RoleARN, a.ID)
		assert.Equal(t, a.ExternalID, r.ExternalID, a.ID)
	}
	assert.Equal(t, len(accepted), rg.sim.Stats().Writes(), "one create each; no write for any refused account")

	reasons := map[string]string{}
	for _, s := range report.Accounts.Skipped {
		require.NotContains(t, reasons, s.AccountID, "skipped twice")
		reasons[s.AccountID] = s.Reason
	}
	for _, r := range refused {
		reason, ok := reasons[r.account.ID]
		if assert.True(t, ok, "account %s (role %q, external ID %q) was not skipped", r.account.ID, r.account.RoleARN, r.account.ExternalID) {
			assert.Contains(t, reason, r.reason, r.account.ID)
		}
		if strings.TrimSpace(r.account.ExternalID) != "" {
			assert.NotContains(t, reason, r.account.ExternalID, "a reason never quotes an external ID")
		}
	}
	assert.Len(t, report.Accounts.Skipped, len(refused))
	for _, c := range report.Registries.Created {
		assert.False(t, slices.ContainsFunc(refused, func(r refusal) bool { return r.account.ID == c.AccountID }))
	}
}

// A commercial role cannot serve GovCloud registries (and vice versa), so
// those regions are left out. When that leaves an account with nothing, it
// must be skipped with a reason, not silently dropped.
func TestConfusedDeputyRegionOfAnotherPartitionIsReported(t *testing.T) {
	acct := deputyAccount("300000000030", role("300000000030"), "e30", "commercial", "us-gov-west-1")
	rg := newRig(t, rigConfig{accounts: []falconsim.Account{acct}})

	report := rg.run(t)

	assert.Zero(t, rg.sim.Stats().Writes())
	require.Len(t, report.Accounts.Skipped, 1, "accounts: %+v", report.Accounts)
	assert.Equal(t, acct.ID, report.Accounts.Skipped[0].AccountID)
	assert.Contains(t, report.Accounts.Skipped[0].Reason, "partition")
}

// With a mix, only the role's own partition is registered; no write ever
// pairs a commercial role with a GovCloud registry URL.
func TestConfusedDeputyMixedPartitionRegionsOnlyOwnPartition(t *testing.T) {
	acct := deputyAccount("300000000031", role("300000000031"), "e31", "commercial", "us-east-1", "us-gov-west-1")
	gov := deputyAccount("300000000032", "arn:aws-us-gov:iam::300000000032:role/x", "e32", "govcloud", "us-gov-west-1", "us-east-1")
	rg := newRig(t, rigConfig{accounts: []falconsim.Account{acct, gov}})

	report := rg.run(t)

	assert.Empty(t, report.Registries.Failed)
	got := map[string]string{}
	for _, r := range rg.sim.Registries() {
		got[r.URL] = r.RoleARN
	}
	assert.Equal(t, map[string]string{
		falconsim.ECRURL(acct.ID, "us-east-1"):    acct.RoleARN,
		falconsim.ECRURL(gov.ID, "us-gov-west-1"): gov.RoleARN,
	}, got)
	for u, arn := range got {
		_, region, ok := onboard.ParseECRURL(u)
		require.True(t, ok)
		p, _, err := onboard.ParseRoleARN(arn)
		require.NoError(t, err)
		assert.Equal(t, onboard.Partition(region), p, u)
	}
}
