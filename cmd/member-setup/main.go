// Command member-setup is the member-account custom resource of
// deploy/member/template.yaml (built as "bootstrap" for provided.al2023):
// it prepares the account's CSPM role for Container Security registry
// assessment. The registry-assessment principal of the account's partition
// joins the statement that trusts CrowdStrike's CSPM connector, under the
// sts:ExternalId condition already there (read from the role, never
// configured); the role gets AmazonEC2ContainerRegistryReadOnly. Roles that
// trust "*" or let CrowdStrike in without an external ID are refused. Stack
// deletion undoes exactly what was added. No Falcon API call, no external ID
// in any property, response or log line.
package main

import (
	"log/slog"
	"os"

	"github.com/aws/aws-lambda-go/cfn"
	"github.com/aws/aws-lambda-go/lambda"

	"github.com/crowdstrike-ecr/ecr-onboard/internal/awsapi"
	"github.com/crowdstrike-ecr/ecr-onboard/internal/iamrole"
)

func main() {
	cfg := awsapi.EnvConfig()
	s := &setup{
		IAM: func(partition string) roles { return iamrole.NewFromConfig(cfg, partition) },
		Log: slog.New(slog.NewJSONHandler(os.Stdout, nil)),
	}
	lambda.Start(cfn.LambdaWrap(s.Handle))
}
