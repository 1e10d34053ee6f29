package app_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsconfig "github.com/aws/aws-sdk-go-v2/config"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/crowdstrike-ecr/ecr-onboard/internal/app"
	"github.com/crowdstrike-ecr/ecr-onboard/internal/config"
	"github.com/crowdstrike-ecr/ecr-onboard/internal/demo"
	"github.com/crowdstrike-ecr/ecr-onboard/internal/falconsim"
	"github.com/crowdstrike-ecr/ecr-onboard/internal/onboard"
)

// fakeAWS answers the STS and SNS Query-protocol calls the tool makes.
type fakeAWS struct {
	mu          sync.Mutex
	openRoles   map[string]bool // roles assumable without an external ID
	calls       []string
	published   []string
	externalIDs []string // ExternalId parameters seen (must stay empty)
}

func (f *fakeAWS) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	_ = r.ParseForm()
	f.mu.Lock()
	defer f.mu.Unlock()
	action := r.Form.Get("Action")
	f.calls = append(f.calls, action)
	if id := r.Form.Get("ExternalId"); id != "" {
		f.externalIDs = append(f.externalIDs, id)
	}
	w.Header().Set("Content-Type", "text/xml")
	switch action {
	case "GetCallerIdentity":
		fmt.Fprint(w, `<GetCallerIdentityResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/"><GetCallerIdentityResult>
<Arn>arn:aws-us-gov:sts::123456789012:assumed-role/ecr-onboard/fn</Arn><UserId>AROAEXAMPLE:fn</UserId><Account>123456789012</Account>
</GetCallerIdentityResult><ResponseMetadata><RequestId>1</RequestId></ResponseMetadata></GetCallerIdentityResponse>`)
	case "AssumeRole":
		role := r.Form.Get("RoleArn")
		if !f.openRoles[role] {
			w.WriteHeader(http.StatusForbidden)
			fmt.Fprintf(w, `<ErrorResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/"><Error><Type>Sender</Type><Code>AccessDenied</Code>
<Message>User is not authorized to perform: sts:AssumeRole on resource: %s</Message></Error><RequestId>2</RequestId></ErrorResponse>`, role)
			return
		}
		fmt.Fprintf(w, `<AssumeRoleResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/"><AssumeRoleResult><Credentials>
<AccessKeyId>ASIAEXAMPLE</AccessKeyId><SecretAccessKey>secret</SecretAccessKey><SessionToken>token</SessionToken><Expiration>2030-01-01T00:00:00Z</Expiration>
</Credentials><AssumedRoleUser><Arn>%s/ecr-onboard-trust-check</Arn><AssumedRoleId>AROA:x</AssumedRoleId></AssumedRoleUser></AssumeRoleResult>
<ResponseMetadata><RequestId>3</RequestId></ResponseMetadata></AssumeRoleResponse>`, role)
	case "Publish":
		f.published = append(f.published, r.Form.Get("Subject")+"\n"+r.Form.Get("Message"))
		fmt.Fprint(w, `<PublishResponse xmlns="http://sns.amazonaws.com/doc/2010-03-31/"><PublishResult><MessageId>m1</MessageId></PublishResult><ResponseMetadata><RequestId>4</RequestId></ResponseMetadata></PublishResponse>`)
	default:
		w.WriteHeader(http.StatusBadRequest)
	}
}

// awsEnv points the AWS SDK's default configuration at fake, and only at it.
func awsEnv(t *testing.T, fake http.Handler) {
	srv := httptest.NewServer(fake)
	t.Cleanup(srv.Close)
	empty := filepath.Join(t.TempDir(), "empty")
	require.NoError(t, os.WriteFile(empty, nil, 0o600))
	for k, v := range map[string]string{
		"AWS_ENDPOINT_URL": srv.URL, "AWS_REGION": "us-gov-west-1",
		"AWS_ACCESS_KEY_ID": "AKIAEXAMPLE", "AWS_SECRET_ACCESS_KEY": "example",
		"AWS_CONFIG_FILE": empty, "AWS_SHARED_CREDENTIALS_FILE": empty, "AWS_EC2_METADATA_DISABLED": "true",
	} {
		t.Setenv(k, v)
	}
}

func TestVerifyTrustHomePartitionAndSNSThroughTheAWSSDK(t *testing.T) {
	accounts := falconsim.GenerateAccounts(3, []string{"us-east-1"})
	fake := &fakeAWS{openRoles: map[string]bool{accounts[1].RoleARN: true}}
	awsEnv(t, fake)

	sim := falconsim.New(falconsim.Options{ClientID: demo.ClientID, ClientSecret: demo.ClientSecret})
	sim.AddAccounts(accounts...)
	srv := falconsim.StartTLS(sim)
	defer srv.Close()
	env := map[string]string{
		"FALCON_BASE_URL": srv.URL, "FALCON_CLIENT_ID": demo.ClientID, "FALCON_CLIENT_SECRET": demo.ClientSecret,
		"VERIFY_TRUST": "true", "SNS_TOPIC_ARN": "arn:aws-us-gov:sns:us-gov-west-1:123456789012:ecr-onboard",
	}
	cfg, err := config.Load(func(k string) string { return env[k] })
	require.NoError(t, err)
	runner, err := app.NewRunner(context.Background(), cfg, app.Deps{HTTPClient: srv.Client(), LoadAWS: func(ctx context.Context) (aws.Config, error) {
		return awsconfig.LoadDefaultConfig(ctx)
	}})
	require.NoError(t, err)

	report, err := runner.Run(context.Background(), onboard.Request{Trigger: onboard.TriggerManual})
	require.NoError(t, err)

	assert.Equal(t, "123456789012", report.HomeAccount)
	assert.Equal(t, "aws-us-gov", report.Partition)
	assert.Len(t, report.Registries.Created, 2)
	require.Len(t, report.Accounts.Skipped, 1)
	assert.Equal(t, accounts[1].ID, report.Accounts.Skipped[0].AccountID)
	assert.Contains(t, report.Accounts.Skipped[0].Reason, "WITHOUT an external ID")
	assert.Empty(t, fake.externalIDs, "the probe never sends an external ID")
	require.Len(t, fake.published, 1)
	assert.Contains(t, fake.published[0], "ecr-onboard: 2 created")
	assert.Contains(t, fake.published[0], "WITHOUT an external ID")
	for _, a := range accounts {
		assert.NotContains(t, fake.published[0], a.ExternalID)
	}
	assert.Equal(t, []string{"GetCallerIdentity", "AssumeRole", "AssumeRole", "AssumeRole", "Publish"}, sortedCalls(fake.calls))
}

// sortedCalls sorts the probes between the first and the last call (they
// run in parallel).
func sortedCalls(c []string) []string {
	out := slices.Clone(c)
	if len(out) > 2 {
		slices.Sort(out[1 : len(out)-1])
	}
	return out
}
