package deploytest

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// The checks must be able to fail: each broken template below trips exactly the check it
// targets, while the good one passes them all.

const goodTemplate = `
Transform: AWS::Serverless-2016-10-31
Parameters:
  Level: {Type: String, Default: info}
  SecretArn: {Type: String, Default: ""}
Conditions:
  HasSecret: !Not [!Equals [!Ref SecretArn, ""]]
Resources:
  Role:
    Type: AWS::IAM::Role
    Properties:
      AssumeRolePolicyDocument:
        Statement:
          - {Effect: Allow, Principal: {Service: lambda.amazonaws.com}, Action: sts:AssumeRole}
      Policies:
        - PolicyName: p
          PolicyDocument:
            Statement:
              - !If
                - HasSecret
                - {Effect: Allow, Action: secretsmanager:GetSecretValue, Resource: !Ref SecretArn}
                - !Ref AWS::NoValue
              - {Effect: Allow, Action: sts:GetCallerIdentity, Resource: "*"}
  Fn:
    Type: AWS::Serverless::Function
    Properties:
      CodeUri: .
      Handler: bootstrap
      Runtime: provided.al2023
      Role: !GetAtt Role.Arn
      Description: !Sub
        - "${AWS::StackName} ${Level} ${X} ${!NotAVariable} ${Role.Arn}"
        - X: !Ref Level
      Environment:
        Variables:
%s
Outputs:
  Arn:
    Value: !GetAtt [Fn, Arn]
`

func contractVars() string {
	var b strings.Builder
	for _, n := range contractEnv {
		b.WriteString("          " + n + ": x\n")
	}
	return b.String()
}

func parseString(t *testing.T, tpl string) *doc {
	t.Helper()
	d, err := parseTemplate([]byte(tpl))
	require.NoError(t, err)
	return d
}

func TestChecksPassGoodTemplate(t *testing.T) {
	d := parseString(t, strings.Replace(goodTemplate, "%s", contractVars(), 1))
	assert.Empty(t, unresolvedReferences(d))
	assert.Empty(t, externalIDKnobs(d))
	assert.Empty(t, wildcardActions(d))
	assert.Empty(t, envMismatch(d, "Fn"))
	require.Len(t, iamStatements(d), 3)
}

func TestChecksCatchBadTemplates(t *testing.T) {
	good := strings.Replace(goodTemplate, "%s", contractVars(), 1)
	cases := []struct {
		name    string
		old     string
		new     string
		check   func(*doc) []string
		message string
	}{
		{"Ref to nothing", "Resource: !Ref SecretArn", "Resource: !Ref SecretArnn",
			unresolvedReferences, "Ref to unknown SecretArnn"},
		{"GetAtt of nothing", "Role: !GetAtt Role.Arn", "Role: !GetAtt Rolle.Arn",
			unresolvedReferences, "GetAtt of unknown Rolle.Arn"},
		{"GetAtt list form", "!GetAtt [Fn, Arn]", "!GetAtt [Fun, Arn]",
			unresolvedReferences, "GetAtt of unknown"},
		{"Sub variable", "${Level} ${X}", "${Levle} ${X}",
			unresolvedReferences, "${Levle} resolves to nothing"},
		{"Sub attribute", "${Role.Arn}", "${Rolle.Arn}",
			unresolvedReferences, "${Rolle.Arn}: unknown resource attribute"},
		{"If condition", "- HasSecret\n", "- HasSecrets\n",
			unresolvedReferences, "Fn::If on unknown condition HasSecrets"},
		{"external ID parameter", "  Level: {Type: String, Default: info}",
			"  Level: {Type: String, Default: info}\n  CspmExternal_Id: {Type: String, Default: \"\"}",
			externalIDKnobs, "parameter CspmExternal_Id"},
		{"external ID variable", "          LOG_LEVEL: x\n", "          LOG_LEVEL: x\n          EXTERNALID: x\n",
			externalIDKnobs, "environment variable EXTERNALID"},
		{"action wildcard", "Action: secretsmanager:GetSecretValue", "Action: [secretsmanager:Get*]",
			wildcardActions, "action secretsmanager:Get*"},
		{"action star", "Action: sts:GetCallerIdentity", "Action: \"*\"",
			wildcardActions, "action *"},
		{"NotAction", "Action: sts:GetCallerIdentity", "NotAction: iam:CreateUser",
			wildcardActions, "NotAction"},
		{"resource star", "Resource: !Ref SecretArn", "Resource: \"*\"",
			wildcardActions, "Resource * for [secretsmanager:GetSecretValue]"},
		{"resource star beside a resource-less action", "Action: sts:GetCallerIdentity", "Action: [sts:GetCallerIdentity, iam:ListRoles]",
			wildcardActions, "Resource * for [sts:GetCallerIdentity iam:ListRoles]"},
		{"missing variable", "          PRUNE: x\n", "",
			func(d *doc) []string { return envMismatch(d, "Fn") }, "missing variable PRUNE"},
		{"extra variable", "          PRUNE: x\n", "          PRUNE: x\n          FALCON_CLIENT_SECRET: x\n",
			func(d *doc) []string { return envMismatch(d, "Fn") }, "unexpected variable FALCON_CLIENT_SECRET"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			require.Contains(t, good, c.old, "test case must edit the good template")
			d := parseString(t, strings.Replace(good, c.old, c.new, 1))
			problems := c.check(d)
			require.NotEmpty(t, problems)
			assert.Contains(t, strings.Join(problems, "\n"), c.message)
		})
	}
}
