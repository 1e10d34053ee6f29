// Package credentials finds the Falcon API client credentials: in AWS
// Secrets Manager (the Lambda) or in the environment (the local CLI). They
// are read at startup, read again when Falcon refuses them or when they are
// older than MaxAge (Source), and never logged.
package credentials

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"

	"github.com/crowdstrike-ecr/ecr-onboard/internal/config"
)

// Falcon is a Falcon API client ID and secret.
type Falcon struct {
	ClientID     string
	ClientSecret config.Secret
}

// SecretsManager is the one Secrets Manager call used.
type SecretsManager interface {
	GetSecretValue(ctx context.Context, in *secretsmanager.GetSecretValueInput, opts ...func(*secretsmanager.Options)) (*secretsmanager.GetSecretValueOutput, error)
}

// Load returns the credentials cfg points at: the secret FALCON_SECRET_ARN
// when set (sm is then required), else FALCON_CLIENT_ID/FALCON_CLIENT_SECRET.
func Load(ctx context.Context, cfg config.Config, sm SecretsManager) (Falcon, error) {
	if cfg.SecretARN == "" {
		if cfg.ClientID == "" {
			return Falcon{}, cfg.RequireCredentials()
		}
		return Falcon{ClientID: cfg.ClientID, ClientSecret: cfg.ClientSecret}, nil
	}
	return read(ctx, cfg.SecretARN, sm)
}

// read gets the AWSCURRENT version of the secret arn: during a rotation the
// AWSPENDING version may hold a secret Falcon does not know yet.
func read(ctx context.Context, arn string, sm SecretsManager) (Falcon, error) {
	out, err := sm.GetSecretValue(ctx, &secretsmanager.GetSecretValueInput{
		SecretId:     aws.String(arn),
		VersionStage: aws.String("AWSCURRENT"),
	})
	if err != nil {
		return Falcon{}, fmt.Errorf("reading FALCON_SECRET_ARN %s: %w (the function needs secretsmanager:GetSecretValue on it)", arn, err)
	}
	return parse(arn, aws.ToString(out.SecretString))
}

// parse reads {"client_id","client_secret"} or {"FalconClientId","FalconSecret"}.
// Errors name the secret and keys, never the content.
func parse(arn, s string) (Falcon, error) {
	var v struct {
		ClientID       string `json:"client_id"`
		ClientSecret   string `json:"client_secret"`
		FalconClientID string `json:"FalconClientId"`
		FalconSecret   string `json:"FalconSecret"`
	}
	if err := json.Unmarshal([]byte(s), &v); err != nil {
		return Falcon{}, fmt.Errorf("secret %s is not a JSON object with client_id and client_secret", arn)
	}
	f := Falcon{ClientID: v.ClientID, ClientSecret: config.Secret(v.ClientSecret)}
	if f.ClientID == "" && f.ClientSecret == "" {
		f = Falcon{ClientID: v.FalconClientID, ClientSecret: config.Secret(v.FalconSecret)}
	}
	if f.ClientID == "" || f.ClientSecret == "" {
		return Falcon{}, errors.New("secret " + arn + " lacks client_id and client_secret (or FalconClientId and FalconSecret)")
	}
	return f, nil
}
