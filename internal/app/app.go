// Package app assembles a run from the environment: configuration ->
// credentials -> Falcon adapter -> onboard.Runner, plus the optional AWS
// parts (caller identity, VERIFY_TRUST's trust reader, SNS summaries). The Lambda and
// the CLI share it, so both behave the same for the same variables.
package app

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/aws/aws-sdk-go-v2/service/sns"
	"github.com/aws/aws-sdk-go-v2/service/sts"

	"github.com/crowdstrike-ecr/ecr-onboard/internal/awsapi"
	"github.com/crowdstrike-ecr/ecr-onboard/internal/config"
	"github.com/crowdstrike-ecr/ecr-onboard/internal/credentials"
	"github.com/crowdstrike-ecr/ecr-onboard/internal/falcon"
	"github.com/crowdstrike-ecr/ecr-onboard/internal/jsonlog"
	"github.com/crowdstrike-ecr/ecr-onboard/internal/onboard"
)

// Deps are the outside parts; zero values mean the real ones, built from
// the AWS configuration (AWS, or else LoadAWS) only when something needs AWS.
type Deps struct {
	HTTPClient *http.Client // for the Falcon API (TLS roots, proxy)
	Logger     *slog.Logger
	// LookupIdentity asks STS for the home account and partition (the
	// Lambda does; the CLI only with VERIFY_TRUST, to stay offline-friendly).
	LookupIdentity bool
	AWS            *aws.Config
	// LoadAWS loads the AWS configuration on first need: the SDK's default
	// chain for the CLI, the environment for the Lambda (lambdaenv.Config).
	LoadAWS        func(context.Context) (aws.Config, error)
	SecretsManager credentials.SecretsManager
	STS            awsapi.STS
	SNS            awsapi.SNS
	// Resends is where runs remember the credentials they sent again to
	// registrations Falcon keeps in a verdict (the stack's table); nil: the
	// process remembers them.
	Resends onboard.Resends
	// Clock says how old the Falcon API secret is (nil: time.Now).
	Clock func() time.Time
}

// awsConfig loads the AWS configuration once, on first need.
func (d *Deps) awsConfig(ctx context.Context) (aws.Config, error) {
	if d.AWS == nil {
		if d.LoadAWS == nil {
			return aws.Config{}, fmt.Errorf("AWS access is needed (FALCON_SECRET_ARN, VERIFY_TRUST or SNS_TOPIC_ARN) but no AWS configuration was given")
		}
		cfg, err := d.LoadAWS(ctx)
		if err != nil {
			return aws.Config{}, fmt.Errorf("loading AWS configuration: %w", err)
		}
		d.AWS = &cfg
	}
	return *d.AWS, nil
}

// NewRunner builds a Runner for cfg. It reads the Falcon credentials and
// resolves the Falcon cloud (call it once per process); a secret from
// Secrets Manager is read again when Falcon refuses it, and at the start of
// a run when it is older than credentials.MaxAge.
func NewRunner(ctx context.Context, cfg config.Config, deps Deps) (*onboard.Runner, error) {
	fc, err := newFalcon(ctx, cfg, &deps)
	if err != nil {
		return nil, err
	}
	rn := &onboard.Runner{
		Falcon:          fc,
		Scope:           cfg.Scope(),
		Owner:           onboard.Owner(cfg.AliasPrefix),
		Adopt:           onboard.Owner(cfg.AdoptAliasPrefix),
		Meter:           fc,
		DryRun:          cfg.DryRun,
		MaxConcurrency:  cfg.MaxConcurrency,
		WriteMargin:     10 * time.Second,
		CredentialRetry: onboard.RetryWithin(cfg.TrustPropagationWait),
		Prune:           cfg.Prune,
		RegionSource:    cfg.RegionSource,
		Logger:          deps.Logger,
		StartRun:        fc.StartRun,
		Resends:         deps.Resends,
	}
	if cfg.VerifyTrust || deps.LookupIdentity {
		if deps.STS == nil {
			awsCfg, err := deps.awsConfig(ctx)
			if err != nil {
				return nil, err
			}
			deps.STS = sts.NewFromConfig(awsCfg)
		}
		if id, err := awsapi.CallerIdentity(ctx, deps.STS); err != nil {
			logger(deps).Warn("home account unknown", "error", err.Error())
		} else {
			rn.HomeAccount, rn.Partition = id.Account, id.Partition
		}
		if cfg.VerifyTrust {
			awsCfg, err := deps.awsConfig(ctx)
			if err != nil {
				return nil, err
			}
			rn.Verifier = awsapi.TrustReader{STS: deps.STS, AWS: awsCfg, RoleName: cfg.TrustReaderRole, HomePartition: rn.Partition}
		}
	}
	if cfg.SNSTopicARN != "" {
		if deps.SNS == nil {
			awsCfg, err := deps.awsConfig(ctx)
			if err != nil {
				return nil, err
			}
			deps.SNS = sns.NewFromConfig(awsCfg)
		}
		rn.Notifier = awsapi.Notifier{SNS: deps.SNS, TopicARN: cfg.SNSTopicARN}
	}
	return rn, nil
}

// NewFalcon returns the Falcon API client cfg describes, with credentials
// from Secrets Manager or the environment.
func NewFalcon(ctx context.Context, cfg config.Config, deps Deps) (*falcon.Client, error) {
	return newFalcon(ctx, cfg, &deps)
}

func newFalcon(ctx context.Context, cfg config.Config, deps *Deps) (*falcon.Client, error) {
	if err := cfg.RequireCredentials(); err != nil {
		return nil, err
	}
	if cfg.SecretARN != "" && deps.SecretsManager == nil {
		awsCfg, err := deps.awsConfig(ctx)
		if err != nil {
			return nil, err
		}
		deps.SecretsManager = secretsmanager.NewFromConfig(awsCfg)
	}
	creds, err := credentials.NewSource(ctx, cfg, deps.SecretsManager, deps.Clock)
	if err != nil {
		return nil, err
	}
	return falcon.New(ctx, falcon.Config{
		Credentials: creds,
		MemberCID:   cfg.MemberCID,
		Cloud:       cfg.Cloud,
		BaseURL:     cfg.BaseURL,
		HTTPClient:  deps.HTTPClient,
		Concurrency: cfg.MaxConcurrency,
		RateShare:   cfg.RateShare,
	})
}

func logger(d Deps) *slog.Logger {
	if d.Logger != nil {
		return d.Logger
	}
	return slog.Default()
}

// NewLogger is the JSON logger every part logs through (jsonlog: one value
// per key on every line).
func NewLogger(w io.Writer, level slog.Level) *slog.Logger {
	return jsonlog.New(w, level)
}
