// Command member-setup is the member-account custom resource of
// deploy/member/template.yaml (built as "bootstrap" for provided.al2023). It
// only wires: internal/membersetup prepares the account's CSPM role.
package main

import (
	"log/slog"
	"os"

	"github.com/aws/aws-lambda-go/cfn"
	"github.com/aws/aws-lambda-go/lambda"

	"github.com/crowdstrike-ecr/ecr-onboard/internal/awsapi"
	"github.com/crowdstrike-ecr/ecr-onboard/internal/iamrole"
	"github.com/crowdstrike-ecr/ecr-onboard/internal/jsonlog"
	"github.com/crowdstrike-ecr/ecr-onboard/internal/membersetup"
)

func main() {
	cfg := awsapi.EnvConfig()
	s := &membersetup.Setup{
		IAM: func(partition string) membersetup.Roles { return iamrole.NewFromConfig(cfg, partition) },
		Log: jsonlog.New(os.Stdout, slog.LevelInfo),
	}
	lambda.Start(cfn.LambdaWrap(s.Handle))
}
