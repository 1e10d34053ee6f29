package deploytest

import (
	"encoding/json"
	"os"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestTrustPolicySnippets: the statements customers add to their CSPM role trust the
// registry-assessment principal of the right partition, only with the account's CSPM
// external ID (a placeholder here, filled in per account).
func TestTrustPolicySnippets(t *testing.T) {
	for file, principal := range map[string]string{
		"../../deploy/trust-policy.json":          "arn:aws:iam::292230061137:role/CrowdStrikeCustomerRegistryAssessmentRole",
		"../../deploy/trust-policy-govcloud.json": "arn:aws-us-gov:iam::358431324613:role/CrowdStrikeCustomerRegistryAssessmentRole",
	} {
		data, err := os.ReadFile(file)
		require.NoError(t, err)
		var st map[string]any
		require.NoError(t, json.Unmarshal(data, &st), file)

		assert.Equal(t, map[string]any{
			"Sid":       "CrowdStrikeRegistryAssessment",
			"Effect":    "Allow",
			"Principal": map[string]any{"AWS": principal},
			"Action":    "sts:AssumeRole",
			"Condition": map[string]any{"StringEquals": map[string]any{"sts:ExternalId": "<CSPM_EXTERNAL_ID>"}},
		}, st, file)
	}
}
