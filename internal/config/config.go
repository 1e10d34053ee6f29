// Package config reads ecr-onboard's configuration from the environment
// (README, "Configuration"): the same variables for the Lambda and the CLI. Every invalid
// value is an error naming its variable. There is no external-ID setting.
package config

import (
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/crowdstrike-ecr/ecr-onboard/internal/awsapi"
	"github.com/crowdstrike-ecr/ecr-onboard/internal/falcon"
	"github.com/crowdstrike-ecr/ecr-onboard/internal/iamrole"
	"github.com/crowdstrike-ecr/ecr-onboard/internal/onboard"
)

// Config is the validated configuration.
type Config struct {
	SecretARN         string // FALCON_SECRET_ARN
	ClientID          string // FALCON_CLIENT_ID (only without a secret ARN)
	ClientSecret      Secret // FALCON_CLIENT_SECRET (only without a secret ARN)
	Cloud             string
	BaseURL           string
	MemberCID         string
	AccountIDs        []string // ACCOUNT_IDS
	ExcludeAccountIDs []string // EXCLUDE_ACCOUNT_IDS
	Regions           []string // REGIONS
	DryRun            bool
	AliasPrefix       string // ALIAS_PREFIX; unset: a stack's onboard.StackPrefix (STACK_ID), else "ecr-onboard"
	AdoptAliasPrefix  string // unset ALIAS_PREFIX of a stack: its name, the prefix it used before (onboard.Owner.Adopts)
	MaxConcurrency    int
	RateShare         float64 // RATE_SHARE: share of the tenant's API rate limit (0 < x <= 1)
	// TrustPropagationWait (TRUST_PROPAGATION_WAIT) is how long a create
	// whose credential Falcon rejects is sent again, for a trust-policy
	// change made just before the run to reach Falcon (0: never).
	TrustPropagationWait time.Duration
	DisconnectOnDelete   bool
	RunOnDeploy          bool // RUN_ON_DEPLOY (default true); false: the custom resource's Create and Update run nothing
	VerifyTrust          bool
	// TrustReaderRole is the member-account role VERIFY_TRUST assumes to
	// read the CSPM role's trust policy (TRUST_READER_ROLE).
	TrustReaderRole string
	Prune           bool
	RegionSource    onboard.RegionSource
	SNSTopicARN     string
	LogLevel        slog.Level
	// ContinuationQueueURL: the SQS queue a Lambda run that runs out of
	// time leaves the rest of its work on (set by the template).
	ContinuationQueueURL string
	// ContinuationTable: the DynamoDB table where each continuation link
	// is claimed, so that one delivered twice continues once (set by the
	// template; required with ContinuationQueueURL).
	ContinuationTable string
	// StackID (STACK_ID) and CustomResource (STACK_CUSTOM_RESOURCE): the
	// Lambda's own stack and the logical ID of its custom resource, the only
	// CloudFormation requests it obeys (set by the template).
	StackID        string
	CustomResource string
}

// Secret is a string that does not print itself (fmt, slog, JSON).
type Secret string

func (Secret) String() string               { return "[redacted]" }
func (Secret) LogValue() slog.Value         { return slog.StringValue("[redacted]") }
func (Secret) MarshalText() ([]byte, error) { return []byte("[redacted]"), nil }
func (s Secret) Reveal() string             { return string(s) }

// Error is a configuration error; Var names the offending variable.
type Error struct {
	Var, Problem string
}

func (e *Error) Error() string { return e.Var + ": " + e.Problem }

var (
	secretARNPattern = regexp.MustCompile(`^arn:aws(-us-gov|-cn)?:secretsmanager:[a-z0-9-]+:[0-9]{12}:secret:.+$`)
	snsARNPattern    = regexp.MustCompile(`^arn:aws(-us-gov|-cn)?:sns:[a-z0-9-]+:[0-9]{12}:[A-Za-z0-9_-]{1,256}$`)
	cidPattern       = regexp.MustCompile(`^[0-9a-fA-F]{32}(-[0-9a-fA-F]{2})?$`)
	stackIDPattern   = regexp.MustCompile(`^arn:aws(-us-gov|-cn)?:cloudformation:[a-z0-9-]+:[0-9]{12}:stack/[A-Za-z][A-Za-z0-9-]*/[A-Za-z0-9-]+$`)
	logicalIDPattern = regexp.MustCompile(`^[A-Za-z0-9]{1,255}$`)
	tableNamePattern = regexp.MustCompile(`^[A-Za-z0-9_.-]{3,255}$`)
)

// DefaultTrustReaderRole is the member stack's default trust-reader role name.
const DefaultTrustReaderRole = "EcrOnboardTrustReader"

// MaxConcurrencyLimit caps MAX_CONCURRENCY; more only collects 429s.
const MaxConcurrencyLimit = 64

// Load reads the configuration through getenv (os.Getenv in production).
// The error lists every invalid variable.
func Load(getenv func(string) string) (Config, error) {
	env := func(k string) string { return strings.TrimSpace(getenv(k)) }
	c := Config{
		SecretARN:    env("FALCON_SECRET_ARN"),
		ClientID:     env("FALCON_CLIENT_ID"),
		ClientSecret: Secret(env("FALCON_CLIENT_SECRET")),
		Cloud:        strings.ToLower(env("FALCON_CLOUD")),
		BaseURL:      strings.TrimRight(env("FALCON_BASE_URL"), "/"),
		MemberCID:    env("FALCON_MEMBER_CID"),
		AliasPrefix:  env("ALIAS_PREFIX"),
		SNSTopicARN:  env("SNS_TOPIC_ARN"),

		TrustReaderRole: env("TRUST_READER_ROLE"),

		ContinuationQueueURL: env("CONTINUATION_QUEUE_URL"),
		ContinuationTable:    env("CONTINUATION_TABLE"),
		StackID:              env("STACK_ID"),
		CustomResource:       env("STACK_CUSTOM_RESOURCE"),
	}
	if c.Cloud == "" {
		c.Cloud = "autodiscover"
	}
	if c.AliasPrefix == "" {
		c.AliasPrefix = "ecr-onboard"
		if p, ok := onboard.StackPrefix(c.StackID); ok {
			c.AliasPrefix = string(p)
			if legacy, ok := onboard.StackNamePrefix(c.StackID); ok {
				c.AdoptAliasPrefix = string(legacy)
			}
		}
	}
	if c.TrustReaderRole == "" {
		c.TrustReaderRole = DefaultTrustReaderRole
	}
	var errs []error // every problem at once, not one per deploy
	check := func(e error) {
		if e != nil {
			errs = append(errs, e)
		}
	}
	if c.SecretARN != "" && !secretARNPattern.MatchString(c.SecretARN) {
		check(&Error{"FALCON_SECRET_ARN", "not a Secrets Manager secret ARN"})
	}
	if (c.ClientID == "") != (c.ClientSecret == "") {
		check(&Error{"FALCON_CLIENT_SECRET", "FALCON_CLIENT_ID and FALCON_CLIENT_SECRET must be set together"})
	}
	if !slices.Contains(falcon.Clouds, c.Cloud) {
		check(&Error{"FALCON_CLOUD", fmt.Sprintf("unknown cloud %q (want one of %s)", c.Cloud, strings.Join(falcon.Clouds, ", "))})
	}
	if c.BaseURL != "" {
		if u, e := url.Parse(c.BaseURL); e != nil || u.Scheme != "https" || u.Host == "" || (u.Path != "" && u.Path != "/") || u.RawQuery != "" || u.User != nil {
			check(&Error{"FALCON_BASE_URL", "must be https://host[:port]"})
		}
	}
	if c.MemberCID != "" && !cidPattern.MatchString(c.MemberCID) {
		check(&Error{"FALCON_MEMBER_CID", "not a Falcon CID (32 hex digits, optional -XX checksum)"})
	}
	if e := onboard.CheckAliasPrefix(c.AliasPrefix); e != nil {
		problem := fmt.Sprintf("%q %v", c.AliasPrefix, e)
		if len(c.AliasPrefix) > onboard.MaxAliasPrefixLength {
			problem += " (a stack: set its AliasPrefix parameter shorter)"
		}
		check(&Error{"ALIAS_PREFIX", problem})
	}
	if !iamrole.ValidRoleName(c.TrustReaderRole) {
		check(&Error{"TRUST_READER_ROLE", fmt.Sprintf("%q is not an IAM role name (1-64 letters, digits and +=,.@_-; no path)", c.TrustReaderRole)})
	}
	if c.SNSTopicARN != "" && !snsARNPattern.MatchString(c.SNSTopicARN) {
		check(&Error{"SNS_TOPIC_ARN", "not an SNS topic ARN"})
	}
	if c.ContinuationQueueURL != "" {
		if _, e := awsapi.QueueARN(c.ContinuationQueueURL); e != nil {
			check(&Error{"CONTINUATION_QUEUE_URL", e.Error()})
		}
	}
	switch {
	case c.ContinuationTable != "" && !tableNamePattern.MatchString(c.ContinuationTable):
		check(&Error{"CONTINUATION_TABLE", "not a DynamoDB table name (3-255 letters, digits, '_', '-', '.')"})
	case c.ContinuationQueueURL != "" && c.ContinuationTable == "":
		check(&Error{"CONTINUATION_TABLE", "set it with CONTINUATION_QUEUE_URL: continuation links are claimed in it, so that one delivered twice continues once"})
	}
	switch {
	case c.StackID != "" && !stackIDPattern.MatchString(c.StackID):
		check(&Error{"STACK_ID", "not a CloudFormation stack ID (arn:aws:cloudformation:<region>:<account>:stack/<name>/<id>)"})
	case c.CustomResource != "" && !logicalIDPattern.MatchString(c.CustomResource):
		check(&Error{"STACK_CUSTOM_RESOURCE", "not a logical resource ID (letters and digits)"})
	case c.StackID != "" && c.CustomResource == "":
		check(&Error{"STACK_CUSTOM_RESOURCE", "set it with STACK_ID (the stack's custom resource, InitialReconcile in template.yaml)"})
	case c.StackID == "" && c.CustomResource != "":
		check(&Error{"STACK_ID", "set it with STACK_CUSTOM_RESOURCE (the stack's ID, AWS::StackId in template.yaml)"})
	}
	var e error
	c.AccountIDs, e = accountList("ACCOUNT_IDS", env("ACCOUNT_IDS"))
	check(e)
	c.ExcludeAccountIDs, e = accountList("EXCLUDE_ACCOUNT_IDS", env("EXCLUDE_ACCOUNT_IDS"))
	check(e)
	c.Regions, e = regionList("REGIONS", env("REGIONS"))
	check(e)
	c.DryRun, e = boolVar("DRY_RUN", env("DRY_RUN"))
	check(e)
	c.DisconnectOnDelete, e = boolVar("DISCONNECT_ON_DELETE", env("DISCONNECT_ON_DELETE"))
	check(e)
	c.RunOnDeploy = true
	if v := env("RUN_ON_DEPLOY"); v != "" {
		c.RunOnDeploy, e = boolVar("RUN_ON_DEPLOY", v)
		check(e)
	}
	c.VerifyTrust, e = boolVar("VERIFY_TRUST", env("VERIFY_TRUST"))
	check(e)
	c.Prune, e = boolVar("PRUNE", env("PRUNE"))
	check(e)
	if c.RegionSource, e = onboard.ParseRegionSource(strings.ToLower(env("REGION_SOURCE"))); e != nil {
		check(&Error{"REGION_SOURCE", e.Error()})
	}
	c.MaxConcurrency, e = concurrency(env("MAX_CONCURRENCY"))
	check(e)
	c.RateShare, e = rateShare(env("RATE_SHARE"))
	check(e)
	c.TrustPropagationWait, e = propagationWait(env("TRUST_PROPAGATION_WAIT"))
	check(e)
	c.LogLevel, e = logLevel(env("LOG_LEVEL"))
	check(e)
	return c, errors.Join(errs...)
}

// Scope is the configured scope of every run.
func (c Config) Scope() onboard.Scope {
	return onboard.NewScope(c.AccountIDs, c.ExcludeAccountIDs, c.Regions)
}

// RequireCredentials checks that Falcon credentials are configured (the demo
// needs none, every real run does).
func (c Config) RequireCredentials() error {
	if c.SecretARN == "" && c.ClientID == "" {
		return &Error{"FALCON_SECRET_ARN", "set it (or FALCON_CLIENT_ID and FALCON_CLIENT_SECRET for local use)"}
	}
	return nil
}

func list(s string) []string {
	var out []string
	for _, v := range strings.Split(s, ",") {
		if v = strings.TrimSpace(v); v != "" {
			out = append(out, v)
		}
	}
	return out
}

func accountList(name, s string) ([]string, error) {
	ids := list(s)
	for _, id := range ids {
		if !onboard.ValidAccountID(id) {
			return nil, &Error{name, fmt.Sprintf("%q is not a 12-digit AWS account ID", id)}
		}
	}
	return ids, nil
}

func regionList(name, s string) ([]string, error) {
	rs := list(s)
	for i, r := range rs {
		rs[i] = strings.ToLower(r)
		if !onboard.ValidRegion(rs[i]) {
			return nil, &Error{name, fmt.Sprintf("%q is not an AWS region name", r)}
		}
	}
	return rs, nil
}

func boolVar(name, s string) (bool, error) {
	if s == "" {
		return false, nil
	}
	b, err := strconv.ParseBool(s)
	if err != nil {
		return false, &Error{name, fmt.Sprintf("%q is not true or false", s)}
	}
	return b, nil
}

func concurrency(s string) (int, error) {
	if s == "" {
		return 8, nil
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < 1 || n > MaxConcurrencyLimit {
		return 0, &Error{"MAX_CONCURRENCY", fmt.Sprintf("%q is not a whole number from 1 to %d", s, MaxConcurrencyLimit)}
	}
	return n, nil
}

// DefaultRateShare leaves half of the tenant's API rate limit to the
// customer's other integrations.
const DefaultRateShare = 0.5

func rateShare(s string) (float64, error) {
	if s == "" {
		return DefaultRateShare, nil
	}
	f, err := strconv.ParseFloat(s, 64)
	if err != nil || !(f > 0 && f <= 1) {
		return 0, &Error{"RATE_SHARE", fmt.Sprintf("%q is not a number above 0 and at most 1 (0.5: half of the tenant's API rate limit)", s)}
	}
	return f, nil
}

// DefaultTrustPropagationWait: five sends 15 s apart after the first, as
// long as IAM usually takes to propagate a trust-policy change (CrowdStrike's
// cloud-registry-connections Lambda waits a minute after creating its role
// before registering, AWS/source/lambda/lambda.py).
const DefaultTrustPropagationWait = 75 * time.Second

// MaxTrustPropagationWait bounds TRUST_PROPAGATION_WAIT: a Lambda run has 15
// minutes for everything.
const MaxTrustPropagationWait = 10 * time.Minute

func propagationWait(s string) (time.Duration, error) {
	if s == "" {
		return DefaultTrustPropagationWait, nil
	}
	d, err := time.ParseDuration(s)
	if s == "0" {
		d, err = 0, nil
	}
	if err != nil || d < 0 || d > MaxTrustPropagationWait {
		return 0, &Error{"TRUST_PROPAGATION_WAIT", fmt.Sprintf("%q is not a duration from 0 to %s (e.g. 75s, 2m; 0: a rejected create is not sent again)", s, MaxTrustPropagationWait)}
	}
	return d, nil
}

func logLevel(s string) (slog.Level, error) {
	var l slog.Level
	if s == "" {
		return slog.LevelInfo, nil
	}
	if err := l.UnmarshalText([]byte(s)); err != nil || !slices.Contains([]string{"debug", "info", "warn", "error"}, strings.ToLower(s)) {
		return 0, &Error{"LOG_LEVEL", fmt.Sprintf("%q is not debug, info, warn or error", s)}
	}
	return l, nil
}
