// Command lambda is the ecr-onboard AWS Lambda function (built as
// "bootstrap" for provided.al2023; see `make lambda`). It only wires things:
// the configuration and the Falcon API credentials are loaded once per cold
// start, before lambda.Start (the secret is read again when Falcon refuses
// it or it is over an hour old: internal/falcon's keyring); internal/trigger
// handles the invocations.
//
// A cold start that fails (invalid configuration, unreadable secret) does
// not crash the sandbox: the error is kept and every invocation fails with
// it, CloudFormation requests included (they are answered, never left to
// time out). Credential failures are retried on the next invocation.
package main

import (
	"context"
	"log/slog"
	"os"
	"time"

	"github.com/aws/aws-lambda-go/lambda"
	"github.com/aws/aws-lambda-go/lambdacontext"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/sqs"

	"github.com/crowdstrike-ecr/ecr-onboard/internal/app"
	"github.com/crowdstrike-ecr/ecr-onboard/internal/awsapi"
	"github.com/crowdstrike-ecr/ecr-onboard/internal/awsapi/lambdaenv"
	"github.com/crowdstrike-ecr/ecr-onboard/internal/config"
	"github.com/crowdstrike-ecr/ecr-onboard/internal/onboard"
	"github.com/crowdstrike-ecr/ecr-onboard/internal/trigger"
)

// initTimeout bounds the cold start's Secrets Manager and Falcon cloud
// look-ups (Lambda's init phase allows 10 s).
const initTimeout = 8 * time.Second

func main() {
	lambda.Start(newHandler()) // trigger.Handler.Invoke: raw payloads, classified errors
}

func newHandler() *trigger.Handler {
	logger := app.NewLogger(os.Stdout, slog.LevelInfo)
	h := &trigger.Handler{Logger: logger, Metrics: os.Stdout, FunctionName: lambdacontext.FunctionName}
	cfg, err := config.Load(os.Getenv)
	// Known even when another variable is invalid, so that the stack's own
	// requests are still answered (a Delete must be able to succeed).
	h.Resource = trigger.CustomResource{StackID: cfg.StackID, LogicalID: cfg.CustomResource}
	if err != nil {
		logger.Error("cold start failed: invalid configuration; every invocation will fail with this error", "error", err)
		h.InitErr = err
		return h
	}
	h.Logger = app.NewLogger(os.Stdout, cfg.LogLevel)
	h.DisconnectOnDelete = cfg.DisconnectOnDelete
	h.NoRunOnDeploy = !cfg.RunOnDeploy
	awsCfg := lambdaenv.Config()
	deps := app.Deps{Logger: h.Logger, LookupIdentity: true, AWS: &awsCfg}
	if cfg.ContinuationQueueURL != "" {
		db := dynamodb.NewFromConfig(awsCfg)
		h.Queue = awsapi.Queue{SQS: sqs.NewFromConfig(awsCfg), URL: cfg.ContinuationQueueURL}
		h.QueueARN, _ = awsapi.QueueARN(cfg.ContinuationQueueURL) // validated by config.Load
		h.Links = awsapi.Links{DynamoDB: db, Table: cfg.ContinuationTable}
		deps.Resends = awsapi.Resends{DynamoDB: db, Table: cfg.ContinuationTable}
	}
	h.Connect = func(ctx context.Context) (*onboard.Runner, error) {
		return app.NewRunner(ctx, cfg, deps)
	}
	ctx, cancel := context.WithTimeout(context.Background(), initTimeout)
	defer cancel()
	h.Runner, h.InitErr = h.Connect(ctx)
	if h.InitErr != nil {
		h.Logger.Error("cold start failed: Falcon API client not ready; invocations retry it", "error", h.InitErr)
	}
	return h
}
