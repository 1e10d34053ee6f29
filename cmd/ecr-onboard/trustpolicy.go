package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"regexp"
	"strings"

	"github.com/crowdstrike-ecr/ecr-onboard/internal/app"
	"github.com/crowdstrike-ecr/ecr-onboard/internal/iamrole"
	"github.com/crowdstrike-ecr/ecr-onboard/internal/onboard"
	"github.com/crowdstrike-ecr/ecr-onboard/internal/trustpolicy"
)

const trustPolicyUsage = `usage: ecr-onboard trust-policy --account ID [--role-name NAME] [--check | --apply [--yes]]

Prints the IAM trust policy the account's CSPM role needs so that Container
Security's registry assessment can assume it with the external ID CSPM uses
(read from the Falcon API, same environment as the main command).

  (no mode)   print the policy document on stdout (notes on stderr)
  --check     read the role's trust policy (iam:GetRole) and report what is
              missing; exit 0 when correct, 3 otherwise; changes nothing
  --apply     merge what is missing into the role's trust policy, show the
              diff, and write it (iam:UpdateAssumeRolePolicy) after an
              interactive "yes", or with --yes
  --role-name the role to read or change (default: the name in CSPM's role ARN)

--check and --apply use local AWS credentials for the account.
Exit codes: 0 ok / no change needed, 1 fatal, 2 usage, 3 refused or still missing.
`

// Seams for tests.
var (
	// falconHTTPClient is the HTTP client for the Falcon API (nil: default).
	falconHTTPClient *http.Client
	// newRoleClient builds the IAM client for the role's partition.
	newRoleClient = func(ctx context.Context, partition string) (roleClient, error) {
		return iamrole.New(ctx, partition)
	}
	// confirmInput and confirmInteractive are where --apply asks for "yes".
	confirmInput       io.Reader = os.Stdin
	confirmInteractive           = func() bool { return isTerminal(os.Stdin) }
)

type roleClient interface {
	GetRole(ctx context.Context, name string) (iamrole.Role, error)
	UpdateTrustPolicy(ctx context.Context, name, doc string) error
}

var roleNamePattern = regexp.MustCompile(`^[\w+=,.@-]{1,64}$`)

// trustPolicy is `ecr-onboard trust-policy`.
func trustPolicy(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("ecr-onboard trust-policy", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { fmt.Fprint(stderr, trustPolicyUsage) }
	accountID := fs.String("account", "", "the AWS account ID (required)")
	roleName := fs.String("role-name", "", "the IAM role (default: from CSPM's role ARN)")
	check := fs.Bool("check", false, "report what the role's trust policy is missing")
	apply := fs.Bool("apply", false, "add what is missing to the role's trust policy")
	yes := fs.Bool("yes", false, "with --apply: do not ask for confirmation")
	if err := fs.Parse(args); err != nil {
		return exitUsage
	}
	usage := func(format string, a ...any) int {
		fmt.Fprintf(stderr, format+"\n\n", a...)
		fmt.Fprint(stderr, trustPolicyUsage)
		return exitUsage
	}
	switch {
	case fs.NArg() > 0:
		return usage("unexpected argument %q", fs.Arg(0))
	case *accountID == "":
		return usage("--account is required")
	case !onboard.ValidAccountID(*accountID):
		return usage("--account %q is not a 12-digit AWS account ID", *accountID)
	case *roleName != "" && !roleNamePattern.MatchString(*roleName):
		return usage("--role-name %q is not an IAM role name", *roleName)
	case *check && *apply:
		return usage("--check and --apply exclude each other")
	case *yes && !*apply:
		return usage("--yes only goes with --apply")
	case *apply && !*yes && !confirmInteractive():
		fmt.Fprintln(stderr, "--apply asks for confirmation on a terminal; stdin is not one: add --yes to write without asking")
		return exitUsage
	}

	cfg, ok := loadConfig(getenv, stderr)
	if !ok {
		return exitUsage
	}
	falcon, err := app.NewFalcon(ctx, cfg, app.Deps{HTTPClient: falconHTTPClient, LoadAWS: loadAWS})
	if err != nil {
		fmt.Fprintln(stderr, "error:", err)
		return exitFatal
	}
	accounts, err := falcon.Accounts(ctx)
	if err != nil {
		fmt.Fprintln(stderr, "error:", err)
		return exitFatal
	}
	acct, reason := cspmAccount(accounts, *accountID)
	if reason != "" {
		fmt.Fprintf(stderr, "account %s: %s\n", *accountID, reason)
		return exitFailed
	}
	partition, _, _ := onboard.ParseRoleARN(acct.RoleARN) // checked by cspmAccount
	want := trustpolicy.Want{Partition: partition, ExternalID: acct.ExternalID, CSPMPrincipal: acct.CSPMPrincipal}
	name := acct.RoleARN[strings.LastIndex(acct.RoleARN, "/")+1:]
	if *roleName != "" && *roleName != name {
		fmt.Fprintf(stderr, "warning: CSPM's role for account %s is %s; registrations use that role, not %s\n", acct.ID, acct.RoleARN, *roleName)
		name = *roleName
	}

	if !*check && !*apply {
		return printTrustPolicy(ctx, acct, want, name, stdout, stderr)
	}

	iamc, err := newRoleClient(ctx, partition)
	if err != nil {
		fmt.Fprintln(stderr, "error:", err)
		return exitFatal
	}
	role, err := readRole(ctx, iamc, name, acct.ID)
	if err != nil {
		fmt.Fprintln(stderr, "error:", err)
		if errors.Is(err, errWrongAccount) {
			return exitFailed
		}
		return exitFatal
	}
	a, err := trustpolicy.Analyze(role.TrustPolicy, want)
	if err != nil {
		fmt.Fprintf(stderr, "role %s: %v\n", role.ARN, err)
		return exitFailed
	}
	fmt.Fprintf(stdout, "role:                          %s\n", role.ARN)
	fmt.Fprintf(stdout, "CSPM principal:                %s\n", a.CSPM)
	fmt.Fprintf(stdout, "                               from %s\n", a.CSPMSource)
	fmt.Fprintf(stdout, "registry-assessment principal: %s\n", a.Registry)
	fmt.Fprintf(stdout, "external ID (from CSPM):       %s\n\n", want.ExternalID)
	if a.Correct() {
		fmt.Fprintln(stdout, "no change needed: the role trusts both principals with CSPM's external ID")
		return exitOK
	}
	for _, r := range a.Refusals {
		fmt.Fprintln(stdout, "refused:", r)
	}
	for _, m := range a.Missing {
		fmt.Fprintln(stdout, "missing:", m)
	}
	if len(a.Refusals) > 0 {
		fmt.Fprintln(stdout, "\nnothing changed: fix the problems above in the role (or in CSPM) first")
		return exitFailed
	}
	fmt.Fprintln(stdout)
	fmt.Fprint(stdout, trustpolicy.Diff("current trust policy of "+role.Name, a.Before, "with the changes above", a.After))
	if *check {
		fmt.Fprintf(stdout, "\nrun with --apply to write it\n")
		return exitFailed
	}
	if !*yes && !confirm(stderr, role.ARN) {
		fmt.Fprintln(stdout, "\naborted: nothing changed")
		return exitFailed
	}
	if err := iamc.UpdateTrustPolicy(ctx, name, string(a.Updated)); err != nil {
		fmt.Fprintln(stderr, "error:", err)
		return exitFatal
	}
	fmt.Fprintf(stdout, "\nupdated the trust policy of %s\n", role.ARN)
	return exitOK
}

// printTrustPolicy prints the document. When CSPM does not name its
// connector principal, the role's current policy is read (best effort) to
// find it; failing that the partition's default is used, and said so.
func printTrustPolicy(ctx context.Context, acct onboard.Account, want trustpolicy.Want, name string, stdout, stderr io.Writer) int {
	current := ""
	if want.CSPMPrincipal == "" {
		iamc, err := newRoleClient(ctx, want.Partition)
		var role iamrole.Role
		if err == nil {
			role, err = readRole(ctx, iamc, name, acct.ID)
		}
		if err != nil {
			fmt.Fprintf(stderr, "note: CSPM does not name its connector principal, and the role's trust policy could not be read (%v)\n", err)
		} else {
			current = role.TrustPolicy
		}
	}
	p, err := trustpolicy.Resolve(want, current)
	if err != nil {
		fmt.Fprintf(stderr, "account %s: %v\n", acct.ID, err)
		return exitFailed
	}
	fmt.Fprintf(stderr, "Trust policy for %s (account %s); the external ID is CSPM's for this account.\n", acct.RoleARN, acct.ID)
	if p.CSPMSource == trustpolicy.SourceDefault {
		fmt.Fprintf(stderr, "NOTE: the CSPM principal %s is a DEFAULT: neither CSPM nor the role's trust policy names it; verify it before use.\n", p.CSPM)
	} else {
		fmt.Fprintf(stderr, "CSPM principal from %s.\n", p.CSPMSource)
	}
	fmt.Fprintf(stderr, "To merge it into the role's current policy: ecr-onboard trust-policy --account %s --check | --apply\n", acct.ID)
	_, _ = stdout.Write(trustpolicy.Document(p, want.ExternalID))
	return exitOK
}

var errWrongAccount = errors.New("the role is not in the account")

// readRole reads the role and makes sure it is in the account: the local AWS
// credentials may well be for another account that has a role of that name.
func readRole(ctx context.Context, c roleClient, name, accountID string) (iamrole.Role, error) {
	role, err := c.GetRole(ctx, name)
	if err != nil {
		return role, err
	}
	if _, acct, err := onboard.ParseRoleARN(role.ARN); err != nil || acct != accountID {
		return iamrole.Role{}, fmt.Errorf("%w: role %s is not in account %s: use AWS credentials for account %s", errWrongAccount, role.ARN, accountID, accountID)
	}
	return role, nil
}

// cspmAccount finds the account in CSPM's list; reason says why its
// credential cannot be used (the onboarding's own rules), "" when it can.
func cspmAccount(accounts []onboard.Account, id string) (onboard.Account, string) {
	a, refusal, ok := onboard.Judge(accounts, id)
	switch {
	case !ok:
		return onboard.Account{}, "not registered with CrowdStrike CSPM (register it with CSPM first)"
	case refusal != nil:
		return a, refusal.Reason
	}
	return a, ""
}

// confirm asks for a typed "yes" on the terminal.
func confirm(stderr io.Writer, roleARN string) bool {
	fmt.Fprintf(stderr, "\nWrite this trust policy to %s? Type yes to continue: ", roleARN)
	line, _ := bufio.NewReader(confirmInput).ReadString('\n')
	return strings.TrimSpace(line) == "yes"
}
