// Package app assembles a run from the environment: configuration ->
// credentials -> Falcon adapter -> onboard.Runner. The Lambda and the CLI
// share it, so both behave the same for the same variables.
package app

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"time"

	awsconfig "github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"

	"github.com/crowdstrike-ecr/ecr-onboard/internal/config"
	"github.com/crowdstrike-ecr/ecr-onboard/internal/credentials"
	"github.com/crowdstrike-ecr/ecr-onboard/internal/falcon"
	"github.com/crowdstrike-ecr/ecr-onboard/internal/onboard"
)

// Deps are the outside parts; zero values mean the real ones.
type Deps struct {
	HTTPClient     *http.Client               // for the Falcon API (TLS roots, proxy)
	SecretsManager credentials.SecretsManager // built from the AWS default config when needed
	Logger         *slog.Logger
}

// NewRunner builds a Runner for cfg. It fetches the Falcon credentials (once:
// call it once per process) and resolves the Falcon cloud.
func NewRunner(ctx context.Context, cfg config.Config, deps Deps) (*onboard.Runner, error) {
	if err := cfg.RequireCredentials(); err != nil {
		return nil, err
	}
	if cfg.SecretARN != "" && deps.SecretsManager == nil {
		awsCfg, err := awsconfig.LoadDefaultConfig(ctx)
		if err != nil {
			return nil, fmt.Errorf("loading AWS configuration: %w", err)
		}
		deps.SecretsManager = secretsmanager.NewFromConfig(awsCfg)
	}
	creds, err := credentials.Load(ctx, cfg, deps.SecretsManager)
	if err != nil {
		return nil, err
	}
	fc, err := falcon.New(ctx, falcon.Config{
		ClientID:     creds.ClientID,
		ClientSecret: creds.ClientSecret.Reveal(),
		MemberCID:    cfg.MemberCID,
		Cloud:        cfg.Cloud,
		BaseURL:      cfg.BaseURL,
		HTTPClient:   deps.HTTPClient,
		Concurrency:  cfg.MaxConcurrency,
	})
	if err != nil {
		return nil, err
	}
	return &onboard.Runner{
		Falcon:         fc,
		Scope:          cfg.Scope,
		AliasPrefix:    cfg.AliasPrefix,
		DryRun:         cfg.DryRun,
		MaxConcurrency: cfg.MaxConcurrency,
		WriteMargin:    10 * time.Second,
		Logger:         deps.Logger,
	}, nil
}

// NewLogger is the JSON logger every part logs through.
func NewLogger(w io.Writer, level slog.Level) *slog.Logger {
	return slog.New(slog.NewJSONHandler(w, &slog.HandlerOptions{Level: level}))
}
