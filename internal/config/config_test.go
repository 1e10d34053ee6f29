package config

import (
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/crowdstrike-ecr/ecr-onboard/internal/onboard"
)

func load(env map[string]string) (Config, error) {
	return Load(func(k string) string { return env[k] })
}

func TestDefaults(t *testing.T) {
	c, err := load(nil)
	require.NoError(t, err)
	assert.Equal(t, "autodiscover", c.Cloud)
	assert.Equal(t, "ecr-onboard", c.AliasPrefix)
	assert.Equal(t, 8, c.MaxConcurrency)
	assert.Equal(t, slog.LevelInfo, c.LogLevel)
	assert.Equal(t, "EcrOnboardTrustReader", c.TrustReaderRole)
	assert.Equal(t, 75*time.Second, c.TrustPropagationWait)
	assert.False(t, c.DryRun || c.DisconnectOnDelete || c.VerifyTrust || c.Prune)
	assert.True(t, c.RunOnDeploy)
	assert.Empty(t, c.AdoptAliasPrefix)
	assert.Equal(t, onboard.RegionsActive, c.RegionSource)
	assert.Equal(t, onboard.Scope{}, c.Scope())
	assert.Error(t, c.RequireCredentials(), "no credentials configured")
}

func TestFullConfiguration(t *testing.T) {
	c, err := load(map[string]string{
		"FALCON_SECRET_ARN":      "arn:aws:secretsmanager:us-east-1:123456789012:secret:falcon-AbCdEf",
		"FALCON_CLOUD":           "EU-1",
		"FALCON_BASE_URL":        "https://127.0.0.1:8443/",
		"FALCON_MEMBER_CID":      "0123456789abcdef0123456789ABCDEF-1a",
		"REGIONS":                " us-east-1, EU-WEST-1 ",
		"ACCOUNT_IDS":            "111111111111,222222222222",
		"EXCLUDE_ACCOUNT_IDS":    "222222222222",
		"DRY_RUN":                "true",
		"ALIAS_PREFIX":           "sec_ecr",
		"MAX_CONCURRENCY":        "16",
		"DISCONNECT_ON_DELETE":   "1",
		"VERIFY_TRUST":           "TRUE",
		"TRUST_READER_ROLE":      " Org.Reader+1 ",
		"PRUNE":                  "false",
		"REGION_SOURCE":          " ECR-Inventory ",
		"SNS_TOPIC_ARN":          "arn:aws:sns:us-east-1:123456789012:ecr-onboard",
		"LOG_LEVEL":              "debug",
		"STACK_ID":               "arn:aws:cloudformation:us-east-1:123456789012:stack/ecr-onboard/5b8c2a10-6f1e-11f0-9c2e-0a1b2c3d4e5f",
		"STACK_CUSTOM_RESOURCE":  "InitialReconcile",
		"TRUST_PROPAGATION_WAIT": "2m",
	})
	require.NoError(t, err)
	assert.Equal(t, "arn:aws:cloudformation:us-east-1:123456789012:stack/ecr-onboard/5b8c2a10-6f1e-11f0-9c2e-0a1b2c3d4e5f", c.StackID)
	assert.Equal(t, "InitialReconcile", c.CustomResource)
	assert.Equal(t, "eu-1", c.Cloud)
	assert.Equal(t, "https://127.0.0.1:8443", c.BaseURL)
	assert.Equal(t, []string{"111111111111", "222222222222"}, c.AccountIDs)
	assert.Equal(t, []string{"222222222222"}, c.ExcludeAccountIDs)
	assert.Equal(t, []string{"us-east-1", "eu-west-1"}, c.Regions)
	scope := c.Scope()
	assert.True(t, scope.HasAccount("111111111111") && scope.HasRegion("eu-west-1"))
	assert.False(t, scope.HasAccount("222222222222") || scope.HasAccount("333333333333") || scope.HasRegion("us-west-2"))
	assert.True(t, c.DryRun && c.DisconnectOnDelete && c.VerifyTrust)
	assert.Equal(t, "Org.Reader+1", c.TrustReaderRole)
	assert.False(t, c.Prune)
	assert.Equal(t, onboard.RegionsECRInventory, c.RegionSource)
	assert.Equal(t, 16, c.MaxConcurrency)
	assert.Equal(t, 2*time.Minute, c.TrustPropagationWait)
	assert.Equal(t, slog.LevelDebug, c.LogLevel)
	assert.NoError(t, c.RequireCredentials())
}

func TestInvalidValuesNameTheVariable(t *testing.T) {
	for _, tc := range []struct{ name, value string }{
		{"FALCON_SECRET_ARN", "my-secret"},
		{"FALCON_CLOUD", "us-9"},
		{"FALCON_BASE_URL", "http://127.0.0.1:8443"},
		{"FALCON_BASE_URL", "https://"},
		{"FALCON_BASE_URL", "https://host/path"},
		{"FALCON_MEMBER_CID", "not-a-cid"},
		{"REGIONS", "us-east-1,narnia"},
		{"ACCOUNT_IDS", "12345"},
		{"EXCLUDE_ACCOUNT_IDS", "1111111111111"},
		{"DRY_RUN", "yes please"},
		{"ALIAS_PREFIX", "bad prefix!"},
		{"MAX_CONCURRENCY", "0"},
		{"MAX_CONCURRENCY", "-3"},
		{"MAX_CONCURRENCY", "lots"},
		{"MAX_CONCURRENCY", "65"},
		{"DISCONNECT_ON_DELETE", "maybe"},
		{"VERIFY_TRUST", "2"},
		{"TRUST_READER_ROLE", "path/EcrOnboardTrustReader"},
		{"TRUST_READER_ROLE", "arn:aws:iam::111111111111:role/EcrOnboardTrustReader"},
		{"TRUST_READER_ROLE", "a role"},
		{"TRUST_READER_ROLE", strings.Repeat("r", 65)},
		{"PRUNE", "y"},
		{"REGION_SOURCE", "inventory"},
		{"REGION_SOURCE", "ecr_inventory"},
		{"SNS_TOPIC_ARN", "topic"},
		{"LOG_LEVEL", "verbose"},
		{"LOG_LEVEL", "info+2"},
		{"ALIAS_PREFIX", strings.Repeat("p", onboard.MaxAliasPrefixLength+1)},
		{"ALIAS_PREFIX", strings.Repeat("p", 128)},
		{"TRUST_PROPAGATION_WAIT", "75"},
		{"TRUST_PROPAGATION_WAIT", "-1s"},
		{"TRUST_PROPAGATION_WAIT", "11m"},
		{"STACK_ID", "ecr-onboard"},
		{"STACK_ID", "arn:aws:lambda:us-east-1:123456789012:function:ecr-onboard"},
		{"STACK_CUSTOM_RESOURCE", "Initial-Reconcile"},
		{"CONTINUATION_TABLE", "a table"},
	} {
		t.Run(fmt.Sprintf("%s=%s", tc.name, tc.value), func(t *testing.T) {
			_, err := load(map[string]string{tc.name: tc.value})
			var cerr *Error
			require.True(t, errors.As(err, &cerr), "got %v", err)
			assert.Equal(t, tc.name, cerr.Var)
			assert.Contains(t, err.Error(), tc.name)
		})
	}
}

// The longest ALIAS_PREFIX accepted makes an alias of at most
// onboard.MaxAliasLength characters in any region.
func TestAliasPrefixBoundKeepsTheAliasWithinItsLimit(t *testing.T) {
	longest := strings.Repeat("p", onboard.MaxAliasPrefixLength)
	c, err := load(map[string]string{"ALIAS_PREFIX": longest})
	require.NoError(t, err)
	alias := onboard.Owner(c.AliasPrefix).Alias("111122223333", "ap-southeast-5", onboard.Credential{RoleARN: "r", ExternalID: "x"})
	assert.LessOrEqual(t, len(alias)+(onboard.MaxRegionNameLength-len("ap-southeast-5")), onboard.MaxAliasLength)
	_, err = load(map[string]string{"ALIAS_PREFIX": longest + "p"})
	assert.ErrorContains(t, err, "ALIAS_PREFIX")
	assert.ErrorContains(t, err, fmt.Sprint(onboard.MaxAliasLength))
}

// The stack's identity comes as a pair: a stack without its custom
// resource (or the other way round) identifies nothing.
func TestStackAndCustomResourceGoTogether(t *testing.T) {
	_, err := load(map[string]string{"STACK_ID": "arn:aws:cloudformation:us-east-1:123456789012:stack/s/1"})
	assert.ErrorContains(t, err, "STACK_CUSTOM_RESOURCE: set it with STACK_ID")
	_, err = load(map[string]string{"STACK_CUSTOM_RESOURCE": "InitialReconcile"})
	assert.ErrorContains(t, err, "STACK_ID: set it with STACK_CUSTOM_RESOURCE")
}

// A continuation queue comes with the table its links are claimed in.
func TestContinuationQueueNeedsItsTable(t *testing.T) {
	queue := "https://sqs.us-east-1.amazonaws.com/123456789012/ecr-onboard-ContinuationQueue-AbC"
	_, err := load(map[string]string{"CONTINUATION_QUEUE_URL": queue})
	assert.ErrorContains(t, err, "CONTINUATION_TABLE: set it with CONTINUATION_QUEUE_URL")
	c, err := load(map[string]string{"CONTINUATION_QUEUE_URL": queue, "CONTINUATION_TABLE": "ecr-onboard-ContinuationLinks-1A2B3C"})
	require.NoError(t, err)
	assert.Equal(t, "ecr-onboard-ContinuationLinks-1A2B3C", c.ContinuationTable)
}

func TestClientIDAndSecretGoTogether(t *testing.T) {
	_, err := load(map[string]string{"FALCON_CLIENT_ID": "id"})
	assert.ErrorContains(t, err, "FALCON_CLIENT_SECRET")
	c, err := load(map[string]string{"FALCON_CLIENT_ID": "id", "FALCON_CLIENT_SECRET": "s3cr3t"})
	require.NoError(t, err)
	assert.NoError(t, c.RequireCredentials())
}

func TestSecretNeverPrints(t *testing.T) {
	c, err := load(map[string]string{"FALCON_CLIENT_ID": "id", "FALCON_CLIENT_SECRET": "s3cr3t"})
	require.NoError(t, err)
	assert.NotContains(t, fmt.Sprintf("%v %+v %s", c, c, c.ClientSecret), "s3cr3t")
	assert.Equal(t, "s3cr3t", c.ClientSecret.Reveal())
}

// Each ALIAS_PREFIX refusal says what is wrong with it: its length (with
// the stack parameter to set), a character, or its first character.
func TestAliasPrefixErrorSaysWhatIsWrong(t *testing.T) {
	long := strings.Repeat("p", onboard.MaxAliasPrefixLength+1)
	for prefix, want := range map[string]string{
		long:     fmt.Sprintf("ALIAS_PREFIX: %q is %d characters long, more than %d", long, len(long), onboard.MaxAliasPrefixLength),
		"team a": `ALIAS_PREFIX: "team a" has ' ' (character 5): only letters, digits, '.', '-' and '_' are allowed`,
		"-team":  `ALIAS_PREFIX: "-team" starts with '-': the first character must be a letter or a digit`,
	} {
		_, err := load(map[string]string{"ALIAS_PREFIX": prefix})
		require.Error(t, err, prefix)
		assert.Contains(t, err.Error(), want)
		if prefix == long {
			assert.Contains(t, err.Error(), "set its AliasPrefix parameter")
		} else {
			assert.NotContains(t, err.Error(), "characters long", "a short prefix is not refused for its length")
		}
	}
}
