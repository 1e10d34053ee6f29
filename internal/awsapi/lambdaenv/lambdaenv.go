// Package lambdaenv is the AWS configuration of a Lambda function, read from
// the environment the runtime sets. It stands alone so that each function
// links only the AWS clients it calls (the member setup: IAM and SSM).
package lambdaenv

import (
	"os"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
)

// Config is the AWS configuration of a Lambda function: region and
// credentials from the environment the runtime sets, and AWS_ENDPOINT_URL
// when given. It spares the Lambda binary the shared-config machinery
// (profiles, SSO, IMDS) it never uses; the CLI uses the SDK's default chain.
func Config() aws.Config {
	cfg := aws.Config{
		Region: os.Getenv("AWS_REGION"),
		Credentials: aws.NewCredentialsCache(credentials.NewStaticCredentialsProvider(
			os.Getenv("AWS_ACCESS_KEY_ID"), os.Getenv("AWS_SECRET_ACCESS_KEY"), os.Getenv("AWS_SESSION_TOKEN"))),
	}
	if u := os.Getenv("AWS_ENDPOINT_URL"); u != "" {
		cfg.BaseEndpoint = aws.String(u)
	}
	return cfg
}
