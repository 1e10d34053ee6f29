// Command ecr-onboard runs the ECR onboarding reconcile from a terminal with
// the same environment as the Lambda (see README.md).
//
//	ecr-onboard [--dry-run] [--json] [--account ID]... [--region R]...
//	ecr-onboard demo                  # against the embedded Falcon simulator
//	ecr-onboard simulate [--addr A] [--accounts N] [--org-members N]  # serve the simulator over HTTPS
//	ecr-onboard trust-policy --account ID [--check | --apply]  # set up a CSPM role
//
// Exit codes (onboard.Report.ExitCode): 0 coverage clean, 1 fatal, 2 usage
// or configuration error, 3 some registries failed or were left for later,
// 4 nothing failed but coverage is not clean (accounts skipped for a person
// to fix, unusable registrations, CSPM listing no account).
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"sync"
	"syscall"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsconfig "github.com/aws/aws-sdk-go-v2/config"

	"github.com/crowdstrike-ecr/ecr-onboard/internal/app"
	"github.com/crowdstrike-ecr/ecr-onboard/internal/config"
	"github.com/crowdstrike-ecr/ecr-onboard/internal/demo"
	"github.com/crowdstrike-ecr/ecr-onboard/internal/falconsim"
	"github.com/crowdstrike-ecr/ecr-onboard/internal/onboard"
)

const (
	exitOK     = 0
	exitFatal  = 1
	exitUsage  = 2
	exitFailed = 3
	// exitCoverage: nothing failed, yet coverage is not clean.
	exitCoverage = 4
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Getenv, os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

func run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) int {
	if len(args) > 0 {
		switch args[0] {
		case "demo":
			return exitCode(demo.Run(ctx, stdout), stderr)
		case "simulate":
			return simulate(ctx, args[1:], stdout, stderr)
		case "trust-policy":
			return trustPolicy(ctx, args[1:], getenv, stdout, stderr)
		}
	}
	fs := flag.NewFlagSet("ecr-onboard", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var accounts, regions listFlag
	dryRun := fs.Bool("dry-run", false, "plan only: write nothing")
	asJSON := fs.Bool("json", false, "print the JSON report on stdout")
	fs.Var(&accounts, "account", "only this AWS account ID (repeatable; narrows ACCOUNT_IDS)")
	fs.Var(&regions, "region", "only this region (repeatable; narrows REGIONS)")
	if err := fs.Parse(args); err != nil {
		return exitUsage
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "unexpected argument %q\n", fs.Arg(0))
		return exitUsage
	}
	req := onboard.Request{Trigger: onboard.TriggerCLI, DryRun: *dryRun, Narrowing: onboard.Narrowing{AccountIDs: accounts, Regions: regions}}
	if err := req.Narrowing.Check(); err != nil {
		fmt.Fprintln(stderr, "--account/--region:", err)
		return exitUsage
	}

	cfg, ok := loadConfig(getenv, stderr)
	if !ok {
		return exitUsage
	}
	level := cfg.LogLevel
	if getenv("LOG_LEVEL") == "" {
		level = slog.LevelError // the summary or report says it all; LOG_LEVEL asks for more
	}
	logger := app.NewLogger(stderr, level)
	runner, err := app.NewRunner(ctx, cfg, app.Deps{Logger: logger, LoadAWS: loadAWS})
	if err != nil {
		fmt.Fprintln(stderr, "error:", err)
		return exitFatal
	}
	req.Logger = logger
	if !*asJSON && isTerminal(stderr) {
		req.Progress = progressLine(stderr)
	}
	report, err := runner.Run(ctx, req)
	if req.Progress != nil {
		fmt.Fprint(stderr, "\r\033[K")
	}
	if *asJSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		_ = enc.Encode(report)
	} else if err == nil || report.RunID != "" {
		report.WriteSummary(stdout)
	}
	if err != nil {
		fmt.Fprintln(stderr, "error:", err)
		return exitFatal
	}
	return report.ExitCode()
}

// loadConfig reads the environment of a real run (credentials required) and
// reports what is wrong on stderr.
func loadConfig(getenv func(string) string, stderr io.Writer) (config.Config, bool) {
	cfg, err := config.Load(getenv)
	if err == nil {
		err = cfg.RequireCredentials()
	}
	if err != nil {
		fmt.Fprintln(stderr, "configuration error:", err)
		return config.Config{}, false
	}
	return cfg, true
}

func exitCode(err error, stderr io.Writer) int {
	if err == nil {
		return exitOK
	}
	fmt.Fprintln(stderr, "error:", err)
	var cfgErr *config.Error
	if errors.As(err, &cfgErr) {
		return exitUsage
	}
	return exitFatal
}

// loadAWS is the SDK's default chain: environment, profiles, SSO, IMDS.
func loadAWS(ctx context.Context) (aws.Config, error) { return awsconfig.LoadDefaultConfig(ctx) }

type listFlag []string

func (l *listFlag) String() string { return strings.Join(*l, ",") }
func (l *listFlag) Set(v string) error {
	*l = append(*l, strings.TrimSpace(v))
	return nil
}

func isTerminal(v any) bool {
	f, ok := v.(*os.File)
	if !ok {
		return false
	}
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}

// progressLine redraws one status line on stderr (writers report concurrently).
func progressLine(w io.Writer) func(onboard.Progress) {
	var mu sync.Mutex
	return func(p onboard.Progress) {
		mu.Lock()
		defer mu.Unlock()
		switch p.Stage {
		case onboard.StageAccounts:
			fmt.Fprintf(w, "\r\033[Kaccounts read: %d", p.Done)
		case onboard.StagePlan:
			fmt.Fprintf(w, "\r\033[Kregistries planned: %d writes", p.Total)
		case onboard.StageWrite:
			fmt.Fprintf(w, "\r\033[Kregistries written: %d/%d", p.Done, p.Total)
		}
	}
}

func simulate(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("ecr-onboard simulate", flag.ContinueOnError)
	fs.SetOutput(stderr)
	addr := fs.String("addr", "127.0.0.1:8443", "listen address")
	cert := fs.String("cert", "falcon-sim.pem", "where to write the server certificate (PEM)")
	var tenant demo.Tenant
	fs.IntVar(&tenant.Standalone, "accounts", 0, "generate this many standalone accounts instead of the demo ones")
	fs.IntVar(&tenant.OrgMembers, "org-members", 0, "generate an AWS Organization of this many accounts (one external ID and role name) instead of the demo ones")
	regions := fs.String("regions", "us-east-1,us-west-2", "active regions of generated accounts")
	var opts falconsim.Options
	fs.DurationVar(&opts.Latency, "latency", 0, "added latency per request")
	fs.IntVar(&opts.RateLimitPerMinute, "rate-limit", 0, "the tenant's requests per minute before 429 (0: none)")
	fs.IntVar(&opts.RegistryPageMax, "registry-page-max", 0, "registry IDs served per query page at most (0: 500)")
	background := fs.Int("background", 0, "requests per minute another integration of the tenant spends (with --rate-limit)")
	if err := fs.Parse(args); err != nil {
		return exitUsage
	}
	tenant.Regions = strings.Split(*regions, ",")
	return exitCode(demo.Serve(ctx, stdout, *addr, *cert, tenant, opts, *background), stderr)
}
