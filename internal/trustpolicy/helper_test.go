package trustpolicy

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/crowdstrike-ecr/ecr-onboard/internal/onboard"
)

const helperRole = "arn:aws:iam::111122223333:role/cspm/CrowdStrikeCSPMReader-abc"

var helperAccounts = []onboard.Account{
	{ID: "111122223333", Type: "commercial", RoleARN: helperRole, ExternalID: extID, CSPMPrincipal: cspm, Regions: []string{"us-east-1"}},
	{ID: "666666666666", Type: "commercial", RoleARN: helperRole, ExternalID: "deputy-id", Regions: []string{"us-east-1"}},
	{ID: "888888888888", Type: "china", RoleARN: "arn:aws-cn:iam::888888888888:role/CSPM", ExternalID: "cn-id", Regions: []string{"cn-north-1"}},
}

func TestFind(t *testing.T) {
	s, refusal := Find(helperAccounts, "111122223333", "")
	require.Nil(t, refusal)
	assert.Equal(t, "CrowdStrikeCSPMReader-abc", s.RoleName, "the name, without the path")
	assert.Equal(t, Want{Partition: "aws", ExternalID: extID, CSPMPrincipal: cspm}, s.Want)
	assert.Empty(t, s.Note)

	s, refusal = Find(helperAccounts, "111122223333", "Other")
	require.Nil(t, refusal)
	assert.Equal(t, "Other", s.RoleName)
	assert.Contains(t, s.Note, "registrations use that role, not Other")

	for id, want := range map[string]string{
		"999999999999": "not registered with CrowdStrike CSPM",
		"666666666666": "belongs to account 111122223333, not 666666666666", // the onboarding's own rule (onboard.Judge)
		"888888888888": `no registry-assessment principal in partition "aws-cn"`,
	} {
		_, refusal := Find(helperAccounts, id, "")
		require.NotNil(t, refusal, id)
		assert.Contains(t, refusal.Reason, want, id)
	}
}

func TestDecide(t *testing.T) {
	s, refusal := Find(helperAccounts, "111122223333", "")
	require.Nil(t, refusal)
	both := `{"Statement":[{"Effect":"Allow","Principal":{"AWS":["` + cspm + `","` + reg + `"]},"Action":"sts:AssumeRole","Condition":{"StringEquals":{"sts:ExternalId":"` + extID + `"}}}]}`

	d := s.Decide(helperRole, both)
	assert.Equal(t, Ready, d.Verdict)

	d = s.Decide(helperRole, cspmOnly)
	assert.Equal(t, Change, d.Verdict)
	require.NotNil(t, d.Analysis.Updated)

	d = s.Decide(helperRole, `{"Statement":[{"Effect":"Allow","Principal":{"AWS":"`+cspm+`"},"Action":"sts:AssumeRole"}]}`)
	assert.Equal(t, Refused, d.Verdict)
	assert.Contains(t, d.Analysis.Refusals[0], "has no sts:ExternalId condition")

	d = s.Decide("arn:aws:iam::999999999999:role/CrowdStrikeCSPMReader-abc", both)
	assert.Equal(t, Refused, d.Verdict)
	assert.Nil(t, d.Analysis)
	assert.Equal(t, "role arn:aws:iam::999999999999:role/CrowdStrikeCSPMReader-abc is not in account 111122223333: use AWS credentials for account 111122223333", d.Reason)

	d = s.Decide(helperRole, "{")
	assert.Equal(t, Refused, d.Verdict)
	assert.Contains(t, d.Reason, "not valid JSON")
}
