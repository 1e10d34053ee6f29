package deploytest

import (
	"encoding/json"
	"os"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/crowdstrike-ecr/ecr-onboard/internal/config"
	"github.com/crowdstrike-ecr/ecr-onboard/internal/iamrole"
	"github.com/crowdstrike-ecr/ecr-onboard/internal/onboard"
	"github.com/crowdstrike-ecr/ecr-onboard/internal/trigger"
)

const (
	templatePath = "../../template.yaml"
	functionID   = "EcrOnboardFunction"
)

func loadTemplate(t *testing.T) *doc { return load(t, templatePath) }

// load parses a template the way CloudFormation sees it.
func load(t *testing.T, path string) *doc {
	t.Helper()
	data, err := os.ReadFile(path)
	require.NoError(t, err)
	d, err := parseTemplate(data)
	require.NoError(t, err, "%s must parse (goformation, intrinsics kept)", path)
	return d
}

func TestTemplateParses(t *testing.T) {
	d := loadTemplate(t)
	require.NotNil(t, d.typed.Transform)
	require.NotNil(t, d.typed.Transform.String)
	assert.Equal(t, "AWS::Serverless-2016-10-31", *d.typed.Transform.String)

	wantTypes := map[string]string{
		functionID:                                 "AWS::Serverless::Function",
		"EcrOnboardFunctionRole":                   "AWS::IAM::Role",
		"EcrOnboardLogGroup":                       "AWS::Logs::LogGroup",
		"FalconCredentialsSecret":                  "AWS::SecretsManager::Secret",
		"NotificationTopic":                        "AWS::SNS::Topic",
		"NotificationSubscription":                 "AWS::SNS::Subscription",
		"InitialReconcile":                         "Custom::EcrOnboardReconcile",
		"FunctionErrorsAlarm":                      "AWS::CloudWatch::Alarm",
		"RegistrationFailuresAlarm":                "AWS::CloudWatch::Alarm",
		"CoverageAlarm":                            "AWS::CloudWatch::Alarm",
		"ContinuationDeadLetterAlarm":              "AWS::CloudWatch::Alarm",
		"Dashboard":                                "AWS::CloudWatch::Dashboard",
		"EcrOnboardFunctionScheduledRun":           "AWS::Events::Rule",
		"EcrOnboardFunctionScheduledRunPermission": "AWS::Lambda::Permission",
		"EcrOnboardFunctionContinuation":           "AWS::Lambda::EventSourceMapping",
	}
	for id, typ := range wantTypes {
		r, ok := d.typed.Resources[id]
		if assert.True(t, ok, "resource %s", id) {
			assert.Equal(t, typ, r.AWSCloudFormationType(), id)
		}
	}
}

func TestFunctionShape(t *testing.T) {
	d := loadTemplate(t)
	fn, err := d.typed.GetServerlessFunctionWithName(functionID)
	require.NoError(t, err)

	assert.Equal(t, "provided.al2023", deref(fn.Runtime))
	assert.Equal(t, []string{"arm64"}, fn.Architectures)
	assert.Equal(t, "bootstrap", deref(fn.Handler))
	require.NotNil(t, fn.CodeUri)
	assert.Equal(t, ".", deref(fn.CodeUri.String), "CodeUri must stay '.' (deploy-package rewrites exactly this line)")
	assert.Equal(t, "makefile", fn.AWSCloudFormationMetadata["BuildMethod"])

	// MemorySize and Timeout come from parameters with the documented defaults.
	props := d.properties(functionID)
	assert.Equal(t, map[string]any{"Ref": "MemorySize"}, props["MemorySize"])
	assert.Equal(t, map[string]any{"Ref": "Timeout"}, props["Timeout"])
	assert.Equal(t, 256, deref(fn.MemorySize))
	assert.Equal(t, 900, deref(fn.Timeout))

	// Lambda logs to /aws/lambda/<FunctionName>: the explicit log group must be that one.
	assert.Equal(t, map[string]any{"Ref": "AWS::StackName"}, props["FunctionName"])
	lg := d.properties("EcrOnboardLogGroup")
	assert.Equal(t, map[string]any{"Fn::Sub": "/aws/lambda/${AWS::StackName}"}, lg["LogGroupName"])
	assert.Equal(t, map[string]any{"Ref": "LogRetentionDays"}, lg["RetentionInDays"])

	// Role is the explicit least-privilege role, not a SAM-generated one.
	assert.Equal(t, map[string]any{"Fn::GetAtt": "EcrOnboardFunctionRole.Arn"}, props["Role"])
	assert.Nil(t, props["Policies"], "no SAM policy templates: all permissions live on EcrOnboardFunctionRole")
}

// The schedule is an EventBridge rule (source aws.events) that invokes the
// function, declared in the template (not as a SAM event: see
// TestNothingInvokesTheFunctionOnceItsDeleteBegins).
func TestScheduleEvent(t *testing.T) {
	d := loadTemplate(t)
	fn, err := d.typed.GetServerlessFunctionWithName(functionID)
	require.NoError(t, err)
	assert.Empty(t, fn.Events, "what invokes the function is declared as resources, each ordered before InitialReconcile")

	props := d.properties("EcrOnboardFunctionScheduledRun")
	assert.Equal(t, map[string]any{"Ref": "ScheduleExpression"}, props["ScheduleExpression"])
	assert.Equal(t, map[string]any{"Fn::If": []any{"ScheduleOn", "ENABLED", "DISABLED"}}, props["State"])
	targets, _ := props["Targets"].([]any)
	require.Len(t, targets, 1)
	assert.Equal(t, map[string]any{"Fn::GetAtt": functionID + ".Arn"}, targets[0].(map[string]any)["Arn"])
	perm := d.properties("EcrOnboardFunctionScheduledRunPermission")
	assert.Equal(t, "events.amazonaws.com", perm["Principal"])
	assert.Equal(t, map[string]any{"Fn::GetAtt": "EcrOnboardFunctionScheduledRun.Arn"}, perm["SourceArn"])
	assert.Equal(t, "rate(10 minutes)", d.typed.Parameters["ScheduleExpression"].Default)
}

func TestReferencesResolve(t *testing.T) {
	d := loadTemplate(t)
	assert.Empty(t, unresolvedReferences(d))
}

func TestNoExternalIDCanBeConfigured(t *testing.T) {
	d := loadTemplate(t)
	assert.Empty(t, externalIDKnobs(d))
}

func TestEnvironmentIsExactlyTheContract(t *testing.T) {
	d := loadTemplate(t)
	assert.Empty(t, envMismatch(d, functionID))

	// The secret the function reads is the secret it may read.
	env, _ := d.properties(functionID)["Environment"].(map[string]any)
	vars, _ := env["Variables"].(map[string]any)
	var secretStatement map[string]any
	for _, st := range iamStatements(d) {
		if st.body["Sid"] == "ReadFalconCredentials" {
			secretStatement = st.body
		}
	}
	require.NotNil(t, secretStatement)
	assert.Equal(t, vars["FALCON_SECRET_ARN"], secretStatement["Resource"])
	assert.Equal(t, map[string]any{"Fn::If": []any{"HasNotificationEmail", map[string]any{"Ref": "NotificationTopic"}, ""}},
		vars["SNS_TOPIC_ARN"])
}

func TestIAMLeastPrivilege(t *testing.T) {
	d := loadTemplate(t)
	assert.Empty(t, wildcardActions(d))

	byAction := map[string]statement{}
	for _, st := range iamStatements(d) {
		for _, a := range stringList(st.body["Action"]) {
			byAction[a] = st
		}
	}
	for _, a := range []string{"secretsmanager:GetSecretValue", "sts:GetCallerIdentity",
		"logs:CreateLogStream", "logs:PutLogEvents", "sns:Publish"} {
		assert.Contains(t, byAction, a)
	}
	assert.Equal(t, map[string]any{"Fn::GetAtt": "EcrOnboardLogGroup.Arn"}, byAction["logs:PutLogEvents"].body["Resource"])
	assert.Equal(t, []string{"HasNotificationEmail"}, byAction["sns:Publish"].guards)
	assert.Equal(t, map[string]any{"Ref": "NotificationTopic"}, byAction["sns:Publish"].body["Resource"])

	// sts:AssumeRole appears in the Lambda trust policy and, for the function itself, only
	// under VerifyTrustEnabled and only on the member accounts' trust-reader role.
	var assume []statement
	for _, st := range iamStatements(d) {
		for _, a := range stringList(st.body["Action"]) {
			if a == "sts:AssumeRole" {
				if _, isTrust := st.body["Principal"]; !isTrust {
					assume = append(assume, st)
				}
			}
		}
	}
	require.Len(t, assume, 1)
	assert.Equal(t, []string{"VerifyTrustEnabled"}, assume[0].guards)
	assert.Equal(t, map[string]any{"Fn::Sub": "arn:${AWS::Partition}:iam::*:role/${TrustReaderRoleName}"}, assume[0].body["Resource"])

	// The name the function assumes is the name it may assume.
	env, _ := d.properties(functionID)["Environment"].(map[string]any)
	vars, _ := env["Variables"].(map[string]any)
	assert.Equal(t, map[string]any{"Ref": "TrustReaderRoleName"}, vars["TRUST_READER_ROLE"])
}

// TestPartitionAware: resources never hard-code the commercial partition.
func TestPartitionAware(t *testing.T) {
	data, err := os.ReadFile(templatePath)
	require.NoError(t, err)
	text := string(data)
	resources := text[strings.Index(text, "\nResources:"):strings.Index(text, "\nOutputs:")]
	assert.NotContains(t, resources, "arn:aws:")
}

func TestParametersAndConsoleForm(t *testing.T) {
	d := loadTemplate(t)
	want := []string{
		"AccountIds", "AliasPrefix", "CoverageAlarmPeriod", "DisconnectOnDelete", "DryRun", "ExcludeAccountIds",
		"FalconClientId", "FalconClientSecret", "FalconCloud", "FalconMemberCid", "FalconSecretArn", "LogLevel",
		"LogRetentionDays", "MaxConcurrency", "MemorySize", "NotificationEmail", "Prune", "RateShare",
		"RegionSource", "Regions", "RunOnDeploy", "ScheduleEnabled", "ScheduleExpression", "Timeout", "TrustPropagationWait",
		"TrustReaderRoleName", "VerifyTrust",
	}
	var got []string
	for name, p := range d.typed.Parameters {
		got = append(got, name)
		assert.NotEmpty(t, deref(p.Description), "parameter %s needs a Description", name)
	}
	sort.Strings(got)
	assert.Equal(t, want, got)
	assert.True(t, deref(d.typed.Parameters["FalconClientSecret"].NoEcho), "client secret must be NoEcho")

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
	for _, name := range want {
		assert.Equal(t, 1, seen[name], "parameter %s must be in exactly one ParameterGroup", name)
		assert.Contains(t, labels, name, "parameter %s needs a ParameterLabel", name)
	}
}

// TestParameterPatterns: each AllowedPattern compiles, accepts its default, and behaves on
// a few real values (CloudFormation uses Java regexes; these patterns are in the common subset).
func TestParameterPatterns(t *testing.T) {
	d := loadTemplate(t)
	for name, p := range d.typed.Parameters {
		if p.AllowedPattern == nil {
			continue
		}
		re, err := regexp.Compile(*p.AllowedPattern)
		if assert.NoError(t, err, name) && p.Default != nil {
			assert.True(t, re.MatchString(stringOf(p.Default)), "%s default %v must match its pattern", name, p.Default)
		}
	}
	cases := []struct {
		param string
		value string
		ok    bool
	}{
		{"Regions", "us-east-1,eu-west-1", true},
		{"Regions", "us-east-1, us-gov-west-1", true},
		{"Regions", "us-east-1;rm -rf", false},
		{"AccountIds", "123456789012,210987654321", true},
		{"AccountIds", "12345", false},
		{"ExcludeAccountIds", "123456789012", true},
		{"FalconSecretArn", "arn:aws:secretsmanager:us-east-1:123456789012:secret:falcon-AbCdEf", true},
		{"FalconSecretArn", "arn:aws-us-gov:secretsmanager:us-gov-west-1:123456789012:secret:falcon-AbCdEf", true},
		{"FalconSecretArn", "falcon", false},
		{"FalconClientSecret", `abc"},"x":"`, false},
		{"AliasPrefix", "", true}, // the stack's name
		{"AliasPrefix", "team-a", true},
		{"AliasPrefix", "-team", false},
		{"RateShare", "0.5", true},
		{"RateShare", "1", true},
		{"RateShare", ".25", true},
		{"RateShare", "0", false},
		{"RateShare", "0.0", false},
		{"RateShare", "1.5", false},
		{"RateShare", "half", false},
		{"ScheduleExpression", "cron(0 3 * * ? *)", true},
		{"ScheduleExpression", "every day", false},
		{"NotificationEmail", "ops@example.com", true},
		{"NotificationEmail", "ops", false},
		{"TrustReaderRoleName", "EcrOnboardTrustReader", true},
		{"TrustReaderRoleName", "path/Reader", false},
		{"TrustReaderRoleName", "*", false},
		{"FalconMemberCid", "", true},
		{"FalconMemberCid", "0123456789abcdef0123456789ABCDEF", true},
		{"FalconMemberCid", "0123456789abcdef0123456789ABCDEF-a7", true},
		{"FalconMemberCid", "0123456789abcdef0123456789ABCDE", false},
		{"FalconMemberCid", "child-cid", false},
		{"TrustPropagationWait", "75s", true},
		{"TrustPropagationWait", "1m30s", true},
		{"TrustPropagationWait", "0", true},
		{"TrustPropagationWait", "75", false},
		{"TrustPropagationWait", "-1s", false},
	}
	for _, c := range cases {
		p := d.typed.Parameters[c.param]
		require.NotNil(t, p.AllowedPattern, c.param)
		re := regexp.MustCompile(*p.AllowedPattern)
		assert.Equal(t, c.ok, re.MatchString(c.value) && len(c.value) >= derefInt(p.MinLength), "%s=%q", c.param, c.value)
	}
}

// TestTrustReaderNameIsTheConfigRule: the stack accepts exactly the role names
// TRUST_READER_ROLE accepts (iamrole.ValidRoleName), so a deploy never starts a
// function that refuses its own configuration.
func TestTrustReaderNameIsTheConfigRule(t *testing.T) {
	d := loadTemplate(t)
	re := regexp.MustCompile(*d.typed.Parameters["TrustReaderRoleName"].AllowedPattern)
	for _, name := range []string{"EcrOnboardTrustReader", "a", "a+b=c,d.e@f_g-h", strings.Repeat("r", 64), strings.Repeat("r", 65),
		"", "path/Reader", "a b", "*", "é", "arn:aws:iam::111111111111:role/R"} {
		assert.Equal(t, iamrole.ValidRoleName(name), re.MatchString(name), "%q", name)
	}
	assert.Equal(t, config.DefaultTrustReaderRole, d.typed.Parameters["TrustReaderRoleName"].Default)
}

// TestAliasPrefixBoundIsTheConfigRule: the stack accepts no AliasPrefix
// longer than ALIAS_PREFIX accepts (the alias must fit its bound).
func TestAliasPrefixBoundIsTheConfigRule(t *testing.T) {
	d := loadTemplate(t)
	assert.Equal(t, onboard.MaxAliasPrefixLength, derefInt(d.typed.Parameters["AliasPrefix"].MaxLength))
}

func TestOptionalResourcesAreConditional(t *testing.T) {
	d := loadTemplate(t)
	for id, cond := range map[string]string{
		"FalconCredentialsSecret":  "CreateSecret",
		"NotificationTopic":        "HasNotificationEmail",
		"NotificationSubscription": "HasNotificationEmail",
	} {
		assert.Equal(t, cond, d.resource(id)["Condition"], id)
	}
	// Always there: turning RunOnDeploy off must not delete it (its Delete
	// disconnects), and what invokes the function depends on it.
	assert.Nil(t, d.resource("InitialReconcile")["Condition"])
	conds := d.section("Conditions")
	assert.Equal(t, map[string]any{"Fn::Equals": []any{map[string]any{"Ref": "FalconSecretArn"}, ""}}, conds["CreateSecret"])

	secret := d.properties("FalconCredentialsSecret")
	assert.Equal(t, map[string]any{"Fn::Sub": `{"client_id":"${FalconClientId}","client_secret":"${FalconClientSecret}"}`},
		secret["SecretString"])
}

func TestInitialReconcileIsTheFunction(t *testing.T) {
	d := loadTemplate(t)
	props := d.properties("InitialReconcile")
	assert.Equal(t, map[string]any{"Fn::GetAtt": "EcrOnboardFunction.Arn"}, props["ServiceToken"])
	for name := range props {
		assert.Contains(t, []string{"ServiceToken", "ServiceTimeout", "ConfigVersion"}, name, "custom resource properties carry no configuration the function could read")
	}
	// A function that dies without answering must not leave the stack
	// waiting an hour: at most the longest function timeout plus a minute.
	timeout := d.section("Parameters")["Timeout"].(map[string]any)
	assert.Equal(t, toFloat(timeout["MaxValue"])+60, toFloat(props["ServiceTimeout"]))

	// The function obeys CloudFormation requests of this resource of this
	// stack only: it is told both.
	env := d.properties(functionID)["Environment"].(map[string]any)["Variables"].(map[string]any)
	assert.Equal(t, map[string]any{"Ref": "AWS::StackId"}, env["STACK_ID"])
	assert.Equal(t, "InitialReconcile", env["STACK_CUSTOM_RESOURCE"])
}

// Two stacks never own each other's registrations: unless AliasPrefix is
// set, the function derives the stack's own prefix from its stack ID
// (config: onboard.StackPrefix), which two stacks of one name do not share,
// and adopts what it made under its name.
func TestAliasPrefixIsUniqueToTheStack(t *testing.T) {
	d := loadTemplate(t)
	env := d.properties(functionID)["Environment"].(map[string]any)["Variables"].(map[string]any)
	assert.Equal(t, map[string]any{"Ref": "AliasPrefix"}, env["ALIAS_PREFIX"])
	assert.Equal(t, map[string]any{"Ref": "AWS::StackId"}, env["STACK_ID"])
	assert.Equal(t, "", d.section("Parameters")["AliasPrefix"].(map[string]any)["Default"])

	prefixes := map[string]string{}
	for _, stackID := range []string{
		"arn:aws:cloudformation:us-east-1:111111111111:stack/ecr-onboard/5b8c2a10-6f1e-11f0-9c2e-0a1b2c3d4e5f",
		"arn:aws:cloudformation:eu-west-1:222222222222:stack/ecr-onboard/0d41c7e0-7a2b-11f0-8d3c-12ab34cd56ef",
	} {
		cfg, err := config.Load(func(k string) string {
			return map[string]string{"ALIAS_PREFIX": "", "STACK_ID": stackID, "STACK_CUSTOM_RESOURCE": "InitialReconcile"}[k]
		})
		require.NoError(t, err)
		assert.Equal(t, "ecr-onboard", cfg.AdoptAliasPrefix, "adopts what it made under its name")
		prefixes[cfg.AliasPrefix] = stackID
	}
	assert.Len(t, prefixes, 2, "two stacks of one name, two prefixes")
}

func toFloat(v any) float64 {
	switch n := v.(type) {
	case int:
		return float64(n)
	case float64:
		return n
	}
	return -1
}

func TestAlarms(t *testing.T) {
	d := loadTemplate(t)
	dim := []any{map[string]any{"Name": "FunctionName", "Value": map[string]any{"Ref": functionID}}}
	actions := map[string]any{"Fn::If": []any{"HasNotificationEmail",
		[]any{map[string]any{"Ref": "NotificationTopic"}}, map[string]any{"Ref": "AWS::NoValue"}}}
	for id, metric := range map[string][2]string{
		"FunctionErrorsAlarm":       {"AWS/Lambda", "Errors"},
		"RegistrationFailuresAlarm": {"EcrOnboard", "RegistriesFailed"},
	} {
		p := d.properties(id)
		assert.Equal(t, metric[0], p["Namespace"], id)
		assert.Equal(t, metric[1], p["MetricName"], id)
		assert.Equal(t, dim, p["Dimensions"], id)
		assert.Equal(t, "GreaterThanThreshold", p["ComparisonOperator"], id)
		assert.EqualValues(t, 0, p["Threshold"], id)
		assert.Equal(t, actions, p["AlarmActions"], id)
	}

	// Coverage that is not clean raises an alarm (README, "Report"): the
	// metric the function emits, every run of an hour not clean.
	p := d.properties("CoverageAlarm")
	assert.Equal(t, trigger.MetricsNamespace, p["Namespace"])
	assert.Equal(t, trigger.CoverageIncomplete, p["MetricName"])
	assert.Equal(t, dim, p["Dimensions"])
	assert.Equal(t, "Minimum", p["Statistic"])
	assert.Equal(t, "GreaterThanOrEqualToThreshold", p["ComparisonOperator"])
	assert.EqualValues(t, 1, p["Threshold"])
	assert.Equal(t, map[string]any{"Ref": "CoverageAlarmPeriod"}, p["Period"])
	assert.EqualValues(t, 1, p["EvaluationPeriods"])
	// Silence is never health: a window without a run is breaching, unless
	// the stack itself turned the schedule off.
	assert.Equal(t, map[string]any{"Fn::If": []any{"ScheduleOn", "breaching", "ignore"}}, p["TreatMissingData"])
	assert.Equal(t, actions, p["AlarmActions"])
	assert.Equal(t, actions, p["OKActions"])

	// A continuation in the dead-letter queue raises an alarm.
	p = d.properties("ContinuationDeadLetterAlarm")
	assert.Equal(t, "AWS/SQS", p["Namespace"])
	assert.Equal(t, "ApproximateNumberOfMessagesVisible", p["MetricName"])
	assert.Equal(t, []any{map[string]any{"Name": "QueueName", "Value": map[string]any{"Fn::GetAtt": "ContinuationDeadLetterQueue.QueueName"}}}, p["Dimensions"])
	assert.Equal(t, "GreaterThanThreshold", p["ComparisonOperator"])
	assert.EqualValues(t, 0, p["Threshold"])
	assert.Equal(t, "notBreaching", p["TreatMissingData"], "SQS sends no metric for an idle queue: an empty one")
	assert.Equal(t, actions, p["AlarmActions"])
	redrive := d.properties("ContinuationQueue")["RedrivePolicy"].(map[string]any)
	assert.Equal(t, map[string]any{"Fn::GetAtt": "ContinuationDeadLetterQueue.Arn"}, redrive["deadLetterTargetArn"])
}

// CoverageAlarm's window holds a run of the schedule: the default schedule
// fires at least once in the default window, and every allowed window is
// one CloudWatch accepts for one evaluation period (at most a day).
func TestCoverageWindowHoldsAScheduledRun(t *testing.T) {
	d := loadTemplate(t)
	params := d.section("Parameters")
	window := params["CoverageAlarmPeriod"].(map[string]any)
	m := regexp.MustCompile(`^rate\((\d+) minutes?\)$`).FindStringSubmatch(d.typed.Parameters["ScheduleExpression"].Default.(string))
	require.NotNil(t, m)
	minutes, _ := strconv.Atoi(m[1])
	assert.Less(t, float64(minutes*60), toFloat(window["Default"]), "the default schedule runs within the default window")
	for _, v := range window["AllowedValues"].([]any) {
		assert.Zero(t, int(toFloat(v))%60, "a multiple of 60 s")
		assert.LessOrEqual(t, toFloat(v), 86400.0)
	}
	assert.Contains(t, deref(d.typed.Parameters["ScheduleExpression"].Description), "CoverageAlarmPeriod")
}

// The dashboard's body is valid JSON once CloudFormation substitutes it;
// every EcrOnboard metric it shows is one the function emits, and it shows
// the ones the README promises; its alarm widget names the stack's alarms.
func TestDashboard(t *testing.T) {
	d := loadTemplate(t)
	sub, ok := d.properties("Dashboard")["DashboardBody"].(map[string]any)["Fn::Sub"].([]any)
	require.True(t, ok, "DashboardBody is a Fn::Sub with variables")
	vars := sub[1].(map[string]any)
	assert.Equal(t, map[string]any{"Ref": functionID}, vars["Fn"])
	for name, alarm := range map[string]string{"CoverageAlarmArn": "CoverageAlarm", "FailuresAlarmArn": "RegistrationFailuresAlarm",
		"ErrorsAlarmArn": "FunctionErrorsAlarm", "DeadLetterAlarmArn": "ContinuationDeadLetterAlarm"} {
		assert.Equal(t, map[string]any{"Fn::GetAtt": alarm + ".Arn"}, vars[name])
	}
	body := regexp.MustCompile(`\$\{[A-Za-z:]+\}`).ReplaceAllString(sub[0].(string), "x")
	assert.Equal(t, map[string]any{"Ref": "EcrOnboardLogGroup"}, vars["LogGroup"])
	var dash struct {
		Widgets []struct {
			Type       string `json:"type"`
			Properties struct {
				Metrics [][]any  `json:"metrics"`
				Alarms  []string `json:"alarms"`
				Query   string   `json:"query"`
			} `json:"properties"`
		} `json:"widgets"`
	}
	require.NoError(t, json.Unmarshal([]byte(body), &dash), body)
	emitted := []string{trigger.RegistriesCreated, trigger.RegistriesUpdated, trigger.RegistriesFailed, trigger.AccountsSkipped,
		trigger.RateLimited, trigger.DurationMs, trigger.APICalls, trigger.CoveragePercent, trigger.RegistriesMissing, trigger.CoverageIncomplete,
		trigger.RunsDeferred, trigger.FullRunCompleted}
	shown := map[string]bool{}
	alarms := 0
	var lastFullRun bool
	for _, w := range dash.Widgets {
		alarms += len(w.Properties.Alarms)
		if w.Type == "log" {
			// When the last full run finished: its EMF line, in the log group.
			lastFullRun = strings.Contains(w.Properties.Query, "SOURCE 'x'") &&
				strings.Contains(w.Properties.Query, "filter "+trigger.FullRunCompleted+" = 1") &&
				strings.Contains(w.Properties.Query, "sort @timestamp desc")
		}
		for _, m := range w.Properties.Metrics {
			if m[0] == trigger.MetricsNamespace {
				assert.Contains(t, emitted, m[1], "the function emits no metric %v", m[1])
				shown[m[1].(string)] = true
			}
		}
	}
	for _, m := range emitted {
		assert.True(t, shown[m], "the dashboard shows %s", m)
	}
	assert.Equal(t, 4, alarms)
	assert.True(t, lastFullRun, "a widget says when the last full run finished")
}

// The default schedule covers a new CSPM account within 15 minutes, and a
// steady-state tenant of 1,000 accounts x 17 regions (353 API calls a run
// at registry pages of 100) spends under 1% of a 6,000-a-minute tenant's
// daily API budget on it (README, "Time to protection and what the schedule costs").
func TestDefaultScheduleCoversWithin15MinutesUnder1PercentOfTheBudget(t *testing.T) {
	d := loadTemplate(t)
	m := regexp.MustCompile(`^rate\((\d+) minutes?\)$`).FindStringSubmatch(d.typed.Parameters["ScheduleExpression"].Default.(string))
	require.NotNil(t, m)
	minutes, _ := strconv.Atoi(m[1])
	assert.LessOrEqual(t, minutes, 15)
	runsADay := 24 * 60 / minutes
	assert.Less(t, float64(runsADay*353), 0.01*6000*24*60)
}

// TestMakefileHasSAMBuildTarget: BuildMethod makefile makes `sam build` run this target.
func TestMakefileHasSAMBuildTarget(t *testing.T) {
	data, err := os.ReadFile("../../Makefile")
	require.NoError(t, err)
	assert.Regexp(t, `(?m)^build-EcrOnboardFunction:`, string(data))
	assert.Contains(t, string(data), "$(ARTIFACTS_DIR)/bootstrap")
}

func deref[T any](p *T) T {
	var zero T
	if p == nil {
		return zero
	}
	return *p
}

func derefInt(p *int) int { return deref(p) }

func stringOf(v any) string {
	switch x := v.(type) {
	case string:
		return x
	case float64:
		return strconv.FormatFloat(x, 'f', -1, 64)
	case int:
		return strconv.Itoa(x)
	}
	return ""
}

// A change of any parameter that changes what a run registers makes
// CloudFormation send InitialReconcile an Update, so the stack reconciles
// at deploy (README, "Deploy"): each is in its ConfigVersion. The others
// (how it runs, logs or is scheduled) are not.
func TestConfigVersionHoldsWhatARunRegisters(t *testing.T) {
	d := loadTemplate(t)
	sub, ok := d.properties("InitialReconcile")["ConfigVersion"].(map[string]any)["Fn::Sub"].([]any)
	require.True(t, ok)
	version, _ := sub[0].(string)
	registers := []string{"FalconCloud", "FalconMemberCid", "Regions", "RegionSource", "AccountIds", "ExcludeAccountIds", "DryRun",
		"AliasPrefix", "RateShare", "TrustPropagationWait", "VerifyTrust", "TrustReaderRoleName", "Prune", "RunOnDeploy"}
	for _, p := range registers {
		assert.Contains(t, version, "${"+p+"}", "a change of %s reconciles at deploy", p)
	}
	assert.Contains(t, version, "${SecretArn}", "a change of the API client reconciles at deploy")
	runs := []string{"LogLevel", "LogRetentionDays", "MemorySize", "Timeout", "NotificationEmail", "ScheduleExpression", "ScheduleEnabled",
		"MaxConcurrency", "DisconnectOnDelete", "CoverageAlarmPeriod"}
	for _, p := range runs {
		assert.NotContains(t, version, "${"+p+"}", "%s changes how it runs, not what it registers", p)
	}
	secret := []string{"FalconSecretArn", "FalconClientId", "FalconClientSecret"}
	for name := range d.typed.Parameters {
		assert.True(t, slices.Contains(registers, name) || slices.Contains(runs, name) || slices.Contains(secret, name),
			"parameter %s: say whether it changes what a run registers", name)
	}
}
