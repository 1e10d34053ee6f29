package credentials

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/crowdstrike-ecr/ecr-onboard/internal/config"
)

const arn = "arn:aws:secretsmanager:us-east-1:123456789012:secret:falcon-AbCdEf"

type fakeSM struct {
	secret string
	err    error
	calls  int
}

func (f *fakeSM) GetSecretValue(_ context.Context, in *secretsmanager.GetSecretValueInput, _ ...func(*secretsmanager.Options)) (*secretsmanager.GetSecretValueOutput, error) {
	f.calls++
	if f.err != nil {
		return nil, f.err
	}
	return &secretsmanager.GetSecretValueOutput{ARN: in.SecretId, SecretString: aws.String(f.secret)}, nil
}

func TestSecretFormats(t *testing.T) {
	for _, s := range []string{
		`{"client_id":"abc","client_secret":"s3cr3t"}`,
		`{"FalconClientId":"abc","FalconSecret":"s3cr3t"}`,
	} {
		got, err := Load(context.Background(), config.Config{SecretARN: arn}, &fakeSM{secret: s})
		require.NoError(t, err, s)
		assert.Equal(t, "abc", got.ClientID)
		assert.Equal(t, "s3cr3t", got.ClientSecret.Reveal())
	}
}

func TestBadSecretsAreClearAndDoNotLeak(t *testing.T) {
	for _, s := range []string{`s3cr3t`, `{"client_id":"abc"}`, `{"client_secret":"s3cr3t"}`, `[]`} {
		_, err := Load(context.Background(), config.Config{SecretARN: arn}, &fakeSM{secret: s})
		require.Error(t, err, s)
		assert.Contains(t, err.Error(), arn)
		assert.NotContains(t, err.Error(), "s3cr3t")
	}
	_, err := Load(context.Background(), config.Config{SecretARN: arn}, &fakeSM{err: errors.New("AccessDeniedException")})
	assert.ErrorContains(t, err, "secretsmanager:GetSecretValue")
}

func TestEnvironmentCredentialsWithoutSecretARN(t *testing.T) {
	sm := &fakeSM{}
	got, err := Load(context.Background(), config.Config{ClientID: "abc", ClientSecret: "s3cr3t"}, sm)
	require.NoError(t, err)
	assert.Equal(t, "abc", got.ClientID)
	assert.Zero(t, sm.calls)
	_, err = Load(context.Background(), config.Config{}, sm)
	assert.ErrorContains(t, err, "FALCON_SECRET_ARN")
}

// The real SDK client against a local Secrets Manager endpoint.
func TestWithTheAWSSDK(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		assert.Equal(t, "secretsmanager.GetSecretValue", r.Header.Get("X-Amz-Target"))
		var in struct{ SecretId string }
		require.NoError(t, json.NewDecoder(r.Body).Decode(&in))
		w.Header().Set("Content-Type", "application/x-amz-json-1.1")
		fmt.Fprintf(w, `{"ARN":%q,"Name":"falcon","SecretString":"{\"client_id\":\"abc\",\"client_secret\":\"s3cr3t\"}"}`, in.SecretId)
	}))
	defer srv.Close()
	sm := secretsmanager.New(secretsmanager.Options{
		Region:       "us-east-1",
		BaseEndpoint: aws.String(srv.URL),
		Credentials:  aws.AnonymousCredentials{},
	})
	got, err := Load(context.Background(), config.Config{SecretARN: arn}, sm)
	require.NoError(t, err)
	assert.Equal(t, "abc", got.ClientID)
}
