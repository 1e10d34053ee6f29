package crowdstrike

import (
	"errors"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestForEachPartition(t *testing.T) {
	p, err := For("aws")
	require.NoError(t, err)
	assert.Equal(t, Principals{
		Partition:          "aws",
		Account:            "292230061137",
		CSPMConnector:      "arn:aws:iam::292230061137:role/CrowdStrikeCSPMConnector",
		RegistryAssessment: "arn:aws:iam::292230061137:role/CrowdStrikeCustomerRegistryAssessmentRole",
	}, p)

	p, err = For("aws-us-gov")
	require.NoError(t, err)
	assert.Equal(t, "arn:aws-us-gov:iam::358431324613:role/CrowdStrikeCustomerRegistryAssessmentRole", p.RegistryAssessment)
	assert.Equal(t, "arn:aws-us-gov:iam::358431324613:role/CrowdStrikeCSPMConnector", p.CSPMConnector)
}

// TestEveryPrincipalIsInItsPartitionAndAccount: a typo in the table would
// send customers to trust somebody else.
func TestEveryPrincipalIsInItsPartitionAndAccount(t *testing.T) {
	for _, p := range table {
		for _, arn := range []string{p.CSPMConnector, p.RegistryAssessment} {
			assert.True(t, strings.HasPrefix(arn, "arn:"+p.Partition+":iam::"+p.Account+":role/"), arn)
			assert.True(t, IsCrowdStrike(arn), arn)
		}
	}
}

// TestNoFallback: China (and anything unknown) has no principal: an error,
// never the commercial one.
func TestNoFallback(t *testing.T) {
	for _, partition := range []string{"aws-cn", "", "aws-iso", "AWS"} {
		p, err := For(partition)
		var none *NoPrincipalsError
		require.True(t, errors.As(err, &none), partition)
		assert.Equal(t, partition, none.Partition)
		assert.Zero(t, p)
		arn, ok := RegistryAssessmentPrincipal(partition)
		assert.False(t, ok)
		assert.Empty(t, arn)
	}
	_, err := For("aws-cn")
	assert.EqualError(t, err, `partition "aws-cn" has no known CrowdStrike principals (Container Security registry assessment is available in aws and aws-us-gov)`)

	arn, ok := RegistryAssessmentPrincipal("aws")
	assert.True(t, ok)
	assert.Equal(t, "arn:aws:iam::292230061137:role/CrowdStrikeCustomerRegistryAssessmentRole", arn)
}

func TestIsCrowdStrike(t *testing.T) {
	for principal, want := range map[string]bool{
		"arn:aws:iam::292230061137:role/Anything":        true,
		"arn:aws:iam::292230061137:root":                 true,
		"292230061137":                                   true,
		"arn:aws-us-gov:iam::358431324613:role/X":        true,
		"arn:aws:iam::111122223333:role/CrowdStrikeCSPM": false,
		"*": false,
		"":  false,
		"arn:aws:sts::292230061137:assumed-role/X/y": true,
	} {
		assert.Equal(t, want, IsCrowdStrike(principal), principal)
	}
}
