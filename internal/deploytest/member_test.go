package deploytest

import (
	"os"
	"regexp"
	"sort"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/crowdstrike-ecr/ecr-onboard/internal/config"
	"github.com/crowdstrike-ecr/ecr-onboard/internal/iamrole"
)

// The member-account template (deploy/member/template.yaml): the StackSet that prepares every
// CSPM role and, optionally, creates the trust reader VerifyTrust assumes.

const (
	memberPath     = "../../deploy/member/template.yaml"
	setupID        = "CspmRolePreparation"
	readerID       = "TrustReaderRole"
	ecrReadOnlyARN = "arn:${AWS::Partition}:iam::aws:policy/AmazonEC2ContainerRegistryReadOnly"
)

func loadMember(t *testing.T) *doc { return load(t, memberPath) }

func TestMemberTemplateShape(t *testing.T) {
	d := loadMember(t)
	assert.Nil(t, d.raw["Transform"], "a plain template: StackSets take it as it is")
	want := map[string]string{
		"MemberSetupRole":             "AWS::IAM::Role",
		"MemberSetupFunction":         "AWS::Lambda::Function",
		"MemberSetupLogGroup":         "AWS::Logs::LogGroup",
		"MemberSetupPolicy":           "AWS::IAM::RolePolicy",
		setupID:                       "Custom::EcrOnboardCspmRole",
		readerID:                      "AWS::IAM::Role",
		"RepairSchedule":              "AWS::Events::Rule",
		"RepairSchedulePermission":    "AWS::Lambda::Permission",
		"RepairOnIamChange":           "AWS::Events::Rule",
		"RepairOnIamChangePermission": "AWS::Lambda::Permission",
	}
	got := map[string]string{}
	for id, r := range d.section("Resources") {
		got[id], _ = r.(map[string]any)["Type"].(string)
	}
	assert.Equal(t, want, got)
	assert.Empty(t, unresolvedReferences(d))
	assert.Empty(t, externalIDKnobs(d))
	assert.Empty(t, wildcardActions(d))

	fn := d.properties("MemberSetupFunction")
	assert.Equal(t, "provided.al2023", fn["Runtime"])
	assert.Equal(t, []any{"arm64"}, fn["Architectures"])
	assert.Equal(t, "bootstrap", fn["Handler"])
	assert.Equal(t, map[string]any{"S3Bucket": map[string]any{"Ref": "CodeS3Bucket"}, "S3Key": map[string]any{"Ref": "CodeS3Key"}}, fn["Code"])
	assert.Equal(t, map[string]any{"Fn::Sub": "/aws/lambda/${MemberSetupFunction}"}, d.properties("MemberSetupLogGroup")["LogGroupName"])
	// cmd/member-setup reads these two, and nothing else.
	assert.Equal(t, map[string]any{"Variables": map[string]any{
		"STACK_ID":       map[string]any{"Ref": "AWS::StackId"},
		"CSPM_ROLE_NAME": map[string]any{"Ref": "CspmRoleName"},
	}}, fn["Environment"])
}

// TestMemberSetupResource: the custom resource's properties are exactly those internal/membersetup
// accepts (it refuses any other), and runs after its permissions and log group exist, so that
// stack deletion deletes it (undoing the setup) before them.
func TestMemberSetupResource(t *testing.T) {
	d := loadMember(t)
	props := d.properties(setupID)
	var names []string
	for k := range props {
		names = append(names, k)
	}
	sort.Strings(names)
	assert.Equal(t, []string{"CspmRoleName", "RepairIntervalMinutes", "Revision", "ServiceToken"}, names)
	assert.Equal(t, map[string]any{"Fn::GetAtt": "MemberSetupFunction.Arn"}, props["ServiceToken"])
	assert.ElementsMatch(t, []any{"MemberSetupPolicy", "MemberSetupLogGroup"}, d.resource(setupID)["DependsOn"])

	// Outputs and the reader use only the attributes the function answers with
	// (internal/membersetup TestCreateUpdateDelete pins its Data).
	answered := []string{"Status", "RoleArn", "RoleName", "RegistryPrincipal", "TrustPolicyUpdated", "EcrReadOnlyAttached"}
	for _, m := range regexp.MustCompile(setupID+`\.(\w+)`).FindAllStringSubmatch(mustRead(t, memberPath), -1) {
		assert.Contains(t, answered, m[1])
	}
}

// TestMemberSetupLeastPrivilege: the setup function may change trust policies of this account's
// roles only (the CSPM role alone when named), attach and detach only the ECR read-only policy,
// list roles only when it has to find the CSPM role, read the account's IAM quotas, keep its
// record in its stack's one parameter and its lease in another. Nothing outside the member
// account.
func TestMemberSetupLeastPrivilege(t *testing.T) {
	d := loadMember(t)
	roleScope := map[string]any{"Fn::If": []any{"HasCspmRoleName",
		[]any{
			map[string]any{"Fn::Sub": "arn:${AWS::Partition}:iam::${AWS::AccountId}:role/${CspmRoleName}"},
			map[string]any{"Fn::Sub": "arn:${AWS::Partition}:iam::${AWS::AccountId}:role/*/${CspmRoleName}"},
		},
		map[string]any{"Fn::Sub": "arn:${AWS::Partition}:iam::${AWS::AccountId}:role/*"},
	}}
	byAction := map[string]statement{}
	bySid := map[string]statement{}
	for _, st := range iamStatements(d) {
		if strings.HasPrefix(st.path, "Resources.MemberSetupPolicy.") {
			sid, _ := st.body["Sid"].(string)
			bySid[sid] = st
			for _, a := range stringList(st.body["Action"]) {
				if _, twice := byAction[a]; twice && sid != "TakeTurns" {
					t.Errorf("%s is granted twice", a)
				}
				if sid != "TakeTurns" {
					byAction[a] = st
				}
			}
		}
	}
	var actions []string
	for a := range byAction {
		actions = append(actions, a)
	}
	sort.Strings(actions)
	assert.Equal(t, []string{"iam:AttachRolePolicy", "iam:DetachRolePolicy", "iam:GetAccountSummary", "iam:GetRole", "iam:ListAttachedRolePolicies",
		"iam:ListRoles", "iam:UpdateAssumeRolePolicy", "logs:CreateLogStream", "logs:PutLogEvents",
		"ssm:DeleteParameter", "ssm:GetParameter", "ssm:PutParameter"}, actions)
	// internal/membersetup leaseName: the record's name with ".lease"; its lease reads the history.
	assert.Equal(t, []string{"ssm:GetParameterHistory", "ssm:PutParameter", "ssm:DeleteParameter"}, stringList(bySid["TakeTurns"].body["Action"]))
	assert.Equal(t, map[string]any{"Fn::Sub": "arn:${AWS::Partition}:ssm:${AWS::Region}:${AWS::AccountId}:parameter/ecr-onboard/member/${AWS::StackName}.lease"},
		bySid["TakeTurns"].body["Resource"])
	assert.Equal(t, "*", byAction["iam:GetAccountSummary"].body["Resource"], "iam:GetAccountSummary has no resource type")
	for _, a := range []string{"ssm:GetParameter", "ssm:PutParameter", "ssm:DeleteParameter"} {
		// internal/membersetup recordName
		assert.Equal(t, map[string]any{"Fn::Sub": "arn:${AWS::Partition}:ssm:${AWS::Region}:${AWS::AccountId}:parameter/ecr-onboard/member/${AWS::StackName}"},
			byAction[a].body["Resource"], a)
	}
	for _, a := range []string{"iam:GetRole", "iam:UpdateAssumeRolePolicy", "iam:ListAttachedRolePolicies", "iam:AttachRolePolicy", "iam:DetachRolePolicy"} {
		assert.Equal(t, roleScope, byAction[a].body["Resource"], a)
	}
	for _, a := range []string{"iam:AttachRolePolicy", "iam:DetachRolePolicy"} {
		assert.Equal(t, map[string]any{"ArnEquals": map[string]any{"iam:PolicyARN": map[string]any{"Fn::Sub": ecrReadOnlyARN}}},
			byAction[a].body["Condition"], a)
	}
	assert.Equal(t, []string{"!HasCspmRoleName"}, byAction["iam:ListRoles"].guards)
	assert.Equal(t, map[string]any{"Fn::GetAtt": "MemberSetupLogGroup.Arn"}, byAction["logs:PutLogEvents"].body["Resource"])
}

// TestTrustReaderRole: only the onboarding function's role may assume it, from within the
// organisation, and it may read the CSPM role and nothing else.
func TestTrustReaderRole(t *testing.T) {
	d := loadMember(t)
	assert.Equal(t, "CreateTrustReader", d.resource(readerID)["Condition"])
	props := d.properties(readerID)
	assert.Equal(t, map[string]any{"Ref": "TrustReaderRoleName"}, props["RoleName"])
	assert.Equal(t, map[string]any{"Version": "2012-10-17", "Statement": []any{map[string]any{
		"Effect":    "Allow",
		"Principal": map[string]any{"AWS": map[string]any{"Ref": "OnboardingRoleArn"}},
		"Action":    "sts:AssumeRole",
		"Condition": map[string]any{"StringEquals": map[string]any{"aws:PrincipalOrgID": map[string]any{"Ref": "OrganizationId"}}},
	}}}, props["AssumeRolePolicyDocument"])
	var reader []statement
	for _, st := range iamStatements(d) {
		if strings.HasPrefix(st.path, "Resources."+readerID+".Properties.Policies") {
			reader = append(reader, st)
		}
	}
	require.Len(t, reader, 1)
	assert.Equal(t, "iam:GetRole", reader[0].body["Action"])
	// By name when CspmRoleName is set (valid before the role exists); else the role found.
	assert.Equal(t, map[string]any{"Fn::If": []any{"HasCspmRoleName",
		[]any{
			map[string]any{"Fn::Sub": "arn:${AWS::Partition}:iam::${AWS::AccountId}:role/${CspmRoleName}"},
			map[string]any{"Fn::Sub": "arn:${AWS::Partition}:iam::${AWS::AccountId}:role/*/${CspmRoleName}"},
		},
		map[string]any{"Fn::GetAtt": setupID + ".RoleArn"},
	}}, reader[0].body["Resource"])

	rule, _ := d.section("Rules")["TrustReaderNeedsTheOnboardingRole"].(map[string]any)
	require.NotNil(t, rule, "TrustReader=true without the onboarding role or organisation is refused at deploy time")
	assert.Equal(t, map[string]any{"Fn::Equals": []any{map[string]any{"Ref": "TrustReader"}, "true"}}, rule["RuleCondition"])
}

// TestMemberParameters: described, in the console form once, patterns agreeing with the Go rules
// and with the onboarding template.
func TestMemberParameters(t *testing.T) {
	d := loadMember(t)
	iface, _ := d.typed.Metadata["AWS::CloudFormation::Interface"].(map[string]any)
	require.NotNil(t, iface)
	seen := map[string]int{}
	groups, _ := iface["ParameterGroups"].([]any)
	for _, g := range groups {
		gm, _ := g.(map[string]any)
		for _, p := range stringList(gm["Parameters"]) {
			seen[p]++
		}
	}
	labels, _ := iface["ParameterLabels"].(map[string]any)
	for name, p := range d.typed.Parameters {
		assert.NotEmpty(t, deref(p.Description), name)
		assert.Equal(t, 1, seen[name], "parameter %s in exactly one ParameterGroup", name)
		assert.Contains(t, labels, name)
		if p.AllowedPattern != nil && p.Default != nil {
			assert.Regexp(t, *p.AllowedPattern, stringOf(p.Default), name)
		}
	}

	for _, name := range []string{"EcrOnboardTrustReader", "a+b=c,d.e@f_g-h", strings.Repeat("r", 65), "path/R", "a b", "*"} {
		reader := regexp.MustCompile(*d.typed.Parameters["TrustReaderRoleName"].AllowedPattern)
		cspm := regexp.MustCompile(*d.typed.Parameters["CspmRoleName"].AllowedPattern)
		assert.Equal(t, iamrole.ValidRoleName(name), reader.MatchString(name), name)
		assert.Equal(t, iamrole.ValidRoleName(name), cspm.MatchString(name), name)
	}
	assert.Equal(t, config.DefaultTrustReaderRole, d.typed.Parameters["TrustReaderRoleName"].Default)
	onboarding := loadTemplate(t)
	assert.Equal(t, *onboarding.typed.Parameters["TrustReaderRoleName"].AllowedPattern, *d.typed.Parameters["TrustReaderRoleName"].AllowedPattern)

	for param, cases := range map[string]map[string]bool{
		"OnboardingRoleArn": {"": true, "arn:aws:iam::111122223333:role/ecr-onboard-EcrOnboardFunctionRole-AbC123": true,
			"arn:aws-us-gov:iam::111122223333:role/x": true, "arn:aws:iam::111122223333:user/x": false, "*": false},
		"OrganizationId": {"": true, "o-a1b2c3d4e5": true, "o-": false, "r-abcd": false},
		"CodeS3Bucket":   {"my-artifacts": true, "": false, "My_Bucket": false},
	} {
		re := regexp.MustCompile(*d.typed.Parameters[param].AllowedPattern)
		for v, ok := range cases {
			assert.Equal(t, ok, re.MatchString(v), "%s=%q", param, v)
		}
	}
}

// TestMemberPartitionAware: no resource hard-codes the commercial partition.
func TestMemberPartitionAware(t *testing.T) {
	text := mustRead(t, memberPath)
	resources := text[strings.Index(text, "\nResources:"):strings.Index(text, "\nOutputs:")]
	assert.NotContains(t, resources, "arn:aws:")
}

func mustRead(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	require.NoError(t, err)
	return string(b)
}

// TestReadmeStackSetUpdatesKeepEveryParameter: update-stack-set without a parameter resets it to
// its default, so every update command in the README names each member parameter.
func TestReadmeStackSetUpdatesKeepEveryParameter(t *testing.T) {
	d := loadMember(t)
	readme := mustRead(t, "../../README.md")
	commands := regexp.MustCompile(`(?s)aws cloudformation update-stack-set .*?\n\n`).FindAllString(readme, -1)
	require.NotEmpty(t, commands)
	for _, c := range commands {
		for name := range d.typed.Parameters {
			assert.Contains(t, c, "ParameterKey="+name+",", "README update-stack-set command must keep %s:\n%s", name, c)
		}
	}
	for name := range d.typed.Parameters {
		assert.Contains(t, readme, name, "README names member parameter %s", name)
	}
}

// TestMemberRepairs: the repair schedule and IAM's events invoke the setup function, and nothing
// else may; both go before the custom resource when the stack is deleted (they depend on it); the
// IAM rule exists only where IAM's events arrive (the partition's IAM home region), matches the
// changes that can undo the setup, and leaves out the function's own writes; RepairIntervalMinutes
// 0 removes both.
func TestMemberRepairs(t *testing.T) {
	d := loadMember(t)
	fnArn := map[string]any{"Fn::GetAtt": "MemberSetupFunction.Arn"}
	for rule, condition := range map[string]string{"RepairSchedule": "Repairs", "RepairOnIamChange": "RepairsOnIamEvents"} {
		r := d.resource(rule)
		assert.Equal(t, condition, r["Condition"], rule)
		assert.Equal(t, setupID, r["DependsOn"], rule)
		assert.Equal(t, []any{map[string]any{"Id": "member-setup", "Arn": fnArn}}, d.properties(rule)["Targets"], rule)
		assert.Equal(t, "ENABLED", d.properties(rule)["State"], rule)
		perm := d.resource(rule + "Permission")
		assert.Equal(t, condition, perm["Condition"], rule)
		assert.Equal(t, map[string]any{"FunctionName": map[string]any{"Ref": "MemberSetupFunction"}, "Action": "lambda:InvokeFunction",
			"Principal": "events.amazonaws.com", "SourceArn": map[string]any{"Fn::GetAtt": rule + ".Arn"}}, perm["Properties"], rule)
	}
	assert.Equal(t, map[string]any{"Fn::Sub": "rate(${RepairIntervalMinutes} minutes)"}, d.properties("RepairSchedule")["ScheduleExpression"])

	conditions := d.section("Conditions")
	assert.Equal(t, map[string]any{"Fn::Not": []any{map[string]any{"Fn::Equals": []any{map[string]any{"Ref": "RepairIntervalMinutes"}, "0"}}}}, conditions["Repairs"])
	assert.Equal(t, map[string]any{"Fn::Or": []any{
		map[string]any{"Fn::Equals": []any{map[string]any{"Ref": "AWS::Region"}, "us-east-1"}},
		map[string]any{"Fn::Equals": []any{map[string]any{"Ref": "AWS::Region"}, "us-gov-west-1"}},
	}}, conditions["InIamHomeRegion"])
	assert.Equal(t, map[string]any{"Fn::And": []any{"Repairs", "InIamHomeRegion"}}, conditions["RepairsOnIamEvents"]) // !Condition, as parsed

	pattern, _ := d.properties("RepairOnIamChange")["EventPattern"].(map[string]any)
	require.NotNil(t, pattern)
	assert.Equal(t, []any{"aws.iam"}, pattern["source"])
	assert.Equal(t, []any{"AWS API Call via CloudTrail"}, pattern["detail-type"])
	detail, _ := pattern["detail"].(map[string]any)
	assert.Equal(t, []any{"iam.amazonaws.com"}, detail["eventSource"])
	assert.Equal(t, []any{"CreateRole", "UpdateAssumeRolePolicy", "DetachRolePolicy"}, detail["eventName"])
	assert.Equal(t, map[string]any{"arn": []any{map[string]any{"anything-but": map[string]any{
		"prefix": map[string]any{"Fn::Sub": "arn:${AWS::Partition}:sts::${AWS::AccountId}:assumed-role/${MemberSetupRole}/"}}}}}, detail["userIdentity"],
		"the function's own writes do not trigger it")
	assert.Equal(t, map[string]any{"Fn::If": []any{"HasCspmRoleName", map[string]any{"roleName": []any{map[string]any{"Ref": "CspmRoleName"}}},
		map[string]any{"Ref": "AWS::NoValue"}}}, detail["requestParameters"])

	interval := d.typed.Parameters["RepairIntervalMinutes"]
	assert.Equal(t, "Number", interval.Type)
	assert.Equal(t, "5", stringOf(interval.Default))
	assert.Equal(t, map[string]any{"Ref": "RepairIntervalMinutes"}, d.properties(setupID)["RepairIntervalMinutes"], "the setup says when it repairs")
}
