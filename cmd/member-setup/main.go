// Command member-setup is the member-account function of
// deploy/member/template.yaml (built as "bootstrap" for provided.al2023). It
// only wires: internal/membersetup prepares the account's CSPM role, on its
// stack's custom resource requests and on its repair schedule and IAM
// events. Its environment (set by the template): STACK_ID, the member
// stack's ARN; CSPM_ROLE_NAME, the stack's CspmRoleName.
package main

import (
	"log/slog"
	"os"

	"github.com/aws/aws-lambda-go/lambda"

	"github.com/crowdstrike-ecr/ecr-onboard/internal/awsapi/lambdaenv"
	"github.com/crowdstrike-ecr/ecr-onboard/internal/awsapi/ssmparam"
	"github.com/crowdstrike-ecr/ecr-onboard/internal/iamrole"
	"github.com/crowdstrike-ecr/ecr-onboard/internal/jsonlog"
	"github.com/crowdstrike-ecr/ecr-onboard/internal/membersetup"
)

func main() {
	cfg := lambdaenv.Config()
	parameters := ssmparam.NewClient(cfg)
	s := &membersetup.Setup{
		IAM:      func(partition string) membersetup.Roles { return iamrole.NewFromConfig(cfg, partition) },
		Record:   func(name string) membersetup.Record { return ssmparam.Parameter{SSM: parameters, Name: name} },
		Lease:    func(name string) membersetup.Lease { return ssmparam.Lease{SSM: parameters, Name: name} },
		Log:      jsonlog.New(os.Stdout, slog.LevelInfo),
		StackID:  os.Getenv("STACK_ID"),
		RoleName: os.Getenv("CSPM_ROLE_NAME"),
	}
	lambda.Start(s.Invoke)
}
