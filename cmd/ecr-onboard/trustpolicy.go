package main

import (
	"bufio"
	"context"
	"flag"
	"fmt"
	"io"
	"os"
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

  --account ID      the AWS account (required)
  (no mode)         print the policy document on stdout (notes on stderr)
  --check           read the role's trust policy (iam:GetRole) and report
                    what is missing; exit 0 when correct, 3 otherwise;
                    changes nothing
  --apply           merge what is missing into the role's trust policy, show
                    the diff, and write it (iam:UpdateAssumeRolePolicy) after
                    an interactive "yes"; a policy over the account's IAM
                    quota on its size (iam:GetAccountSummary) is refused
  --yes             with --apply: write without asking
  --role-name NAME  read or change this role of the account instead of the
                    one CSPM's record names (the name in its role ARN); a
                    warning says so: registrations always use CSPM's role

--check and --apply use local AWS credentials for the account.
Exit codes: 0 ok / no change needed, 1 fatal, 2 usage, 3 refused or still missing.
`

// Seams for tests.
var (
	// newRoleClient builds the IAM client for the role's partition from
	// the local AWS credentials (the SDK's default chain).
	newRoleClient = func(ctx context.Context, partition string) (roleClient, error) {
		cfg, err := loadAWS(ctx)
		if err != nil {
			return nil, fmt.Errorf("loading AWS configuration: %w", err)
		}
		return iamrole.NewFromConfig(cfg, partition), nil
	}
	// confirmInput and confirmInteractive are where --apply asks for "yes".
	confirmInput       io.Reader = os.Stdin
	confirmInteractive           = func() bool { return isTerminal(os.Stdin) }
)

type roleClient interface {
	GetRole(ctx context.Context, name string) (iamrole.Role, error)
	UpdateTrustPolicy(ctx context.Context, name, doc string) error
	Quotas(ctx context.Context) (iamrole.Quotas, error)
}

// trustPolicy is `ecr-onboard trust-policy`.
func trustPolicy(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("ecr-onboard trust-policy", flag.ContinueOnError)
	accountID := fs.String("account", "", "the AWS account ID (required)")
	roleName := fs.String("role-name", "", "the IAM role (default: from CSPM's role ARN)")
	check := fs.Bool("check", false, "report what the role's trust policy is missing")
	apply := fs.Bool("apply", false, "add what is missing to the role's trust policy")
	yes := fs.Bool("yes", false, "with --apply: do not ask for confirmation")
	if code, ok := parseFlags(fs, args, func(w io.Writer) { fmt.Fprint(w, trustPolicyUsage) }, stdout, stderr); !ok {
		return code
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
	case *roleName != "" && !iamrole.ValidRoleName(*roleName):
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
	subject, refusal := trustpolicy.Find(accounts, *accountID, *roleName)
	if refusal != nil {
		fmt.Fprintf(stderr, "account %s: %s\n", *accountID, refusal.Reason)
		return exitFailed
	}
	if subject.Note != "" {
		fmt.Fprintln(stderr, "warning:", subject.Note)
	}
	if !*check && !*apply {
		return printTrustPolicy(ctx, subject, stdout, stderr)
	}

	iamc, err := newRoleClient(ctx, subject.Want.Partition)
	if err != nil {
		fmt.Fprintln(stderr, "error:", err)
		return exitFatal
	}
	role, err := iamc.GetRole(ctx, subject.RoleName)
	if err != nil {
		fmt.Fprintln(stderr, "error:", err)
		return exitFatal
	}
	d := subject.Decide(role.ARN, role.TrustPolicy)
	if d.Analysis == nil {
		fmt.Fprintln(stderr, "error:", d.Reason)
		return exitFailed
	}
	a := d.Analysis
	fmt.Fprintf(stdout, "role:                          %s\n", role.ARN)
	fmt.Fprintf(stdout, "CSPM principal:                %s\n", a.CSPM)
	fmt.Fprintf(stdout, "                               from %s\n", a.CSPMSource)
	fmt.Fprintf(stdout, "registry-assessment principal: %s\n", a.Registry)
	fmt.Fprintf(stdout, "external ID (from CSPM):       %s\n\n", subject.Want.ExternalID)
	switch d.Verdict {
	case trustpolicy.Ready:
		fmt.Fprintln(stdout, "no change needed: the role trusts both principals with CSPM's external ID")
		return exitOK
	case trustpolicy.Refused:
		for _, r := range a.Refusals {
			fmt.Fprintln(stdout, "refused:", r)
		}
		fmt.Fprintf(stdout, "\ncurrent trust policy of %s:\n%s", role.Name, a.Before)
		fmt.Fprintln(stdout, "\nnothing changed: fix the problems above in the role (or in CSPM) first")
		return exitFailed
	}
	for _, m := range a.Missing {
		fmt.Fprintln(stdout, "missing:", m)
	}
	fmt.Fprintln(stdout)
	fmt.Fprint(stdout, trustpolicy.Diff("current trust policy of "+role.Name, a.Before, "with the changes above", a.After))
	if *check {
		fmt.Fprintf(stdout, "\nrun with --apply to write it\n")
		return exitFailed
	}
	// IAM refuses a trust policy over the account's quota; say which and what to do instead.
	quotas, err := iamc.Quotas(ctx)
	if err != nil {
		fmt.Fprintln(stderr, "error:", err)
		return exitFatal
	}
	if err := quotas.CheckTrustPolicy(role.Name, string(a.Updated)); err != nil {
		fmt.Fprintf(stdout, "\nrefused: %v, then run this again\n", err)
		fmt.Fprintln(stdout, "nothing changed")
		return exitFailed
	}
	if !*yes && !confirm(stderr, role.ARN) {
		fmt.Fprintln(stdout, "\naborted: nothing changed")
		return exitFailed
	}
	if err := iamc.UpdateTrustPolicy(ctx, subject.RoleName, string(a.Updated)); err != nil {
		fmt.Fprintln(stderr, "error:", err)
		return exitFatal
	}
	fmt.Fprintf(stdout, "\nupdated the trust policy of %s\n", role.ARN)
	return exitOK
}

// printTrustPolicy prints the document. When CSPM does not name its
// connector principal, the role's current policy is read (best effort) to
// find it; failing that the partition's default is used, and said so.
func printTrustPolicy(ctx context.Context, s trustpolicy.Subject, stdout, stderr io.Writer) int {
	current := ""
	if s.Want.CSPMPrincipal == "" {
		iamc, err := newRoleClient(ctx, s.Want.Partition)
		var role iamrole.Role
		if err == nil {
			role, err = iamc.GetRole(ctx, s.RoleName)
		}
		if err == nil {
			err = s.InAccount(role.ARN)
		}
		if err != nil {
			fmt.Fprintf(stderr, "note: CSPM does not name its connector principal, and the role's trust policy could not be read (%v)\n", err)
		} else {
			current = role.TrustPolicy
		}
	}
	p, err := trustpolicy.Resolve(s.Want, current)
	if err != nil {
		fmt.Fprintf(stderr, "account %s: %v\n", s.Account.ID, err)
		return exitFailed
	}
	fmt.Fprintf(stderr, "Trust policy for %s (account %s); the external ID is CSPM's for this account.\n", s.Account.RoleARN, s.Account.ID)
	if p.CSPMSource == trustpolicy.SourceDefault {
		fmt.Fprintf(stderr, "NOTE: the CSPM principal %s is a DEFAULT: neither CSPM nor the role's trust policy names it; verify it before use.\n", p.CSPM)
	} else {
		fmt.Fprintf(stderr, "CSPM principal from %s.\n", p.CSPMSource)
	}
	fmt.Fprintf(stderr, "To merge it into the role's current policy: ecr-onboard trust-policy --account %s --check | --apply\n", s.Account.ID)
	_, _ = stdout.Write(trustpolicy.Document(p, s.Want.ExternalID))
	return exitOK
}

// confirm asks for a typed "yes" on the terminal.
func confirm(stderr io.Writer, roleARN string) bool {
	fmt.Fprintf(stderr, "\nWrite this trust policy to %s? Type yes to continue: ", roleARN)
	line, _ := bufio.NewReader(confirmInput).ReadString('\n')
	return strings.TrimSpace(line) == "yes"
}
