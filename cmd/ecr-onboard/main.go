// Command ecr-onboard runs the ECR onboarding reconcile from a terminal with
// the same environment as the Lambda (see README.md).
//
//	ecr-onboard [--dry-run] [--json] [--account ID]... [--region R]...
//	ecr-onboard demo                  # against the embedded Falcon simulator
//	ecr-onboard simulate [--addr A] [--accounts N] [--org-members N]  # serve the simulator over HTTPS
//	ecr-onboard trust-policy --account ID [--role-name NAME] [--check | --apply]  # set up a CSPM role
//	ecr-onboard help [COMMAND]        # the commands (the table in commands.go), flags, environment
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
	"net/http"
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

// falconHTTPClient is the HTTP client for the Falcon API (nil: the
// default, which honours HTTPS_PROXY and SSL_CERT_FILE); tests set it.
var falconHTTPClient *http.Client

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Getenv, os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

func run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) int {
	if len(args) > 0 && !strings.HasPrefix(args[0], "-") {
		if args[0] == "help" {
			return help(ctx, args[1:], getenv, stdout, stderr)
		}
		c, ok := lookup(args[0])
		if !ok {
			return unknownCommand(args[0], stderr)
		}
		return c.run(ctx, args[1:], getenv, stdout, stderr)
	}
	return reconcile(ctx, args, getenv, stdout, stderr)
}

// reconcileOptions are the main command's flags.
type reconcileOptions struct {
	dryRun, asJSON    bool
	accounts, regions listFlag
}

// reconcileFlags is the main command's flag set (also listed by --help).
func reconcileFlags() (*flag.FlagSet, *reconcileOptions) {
	var o reconcileOptions
	fs := flag.NewFlagSet("ecr-onboard", flag.ContinueOnError)
	fs.BoolVar(&o.dryRun, "dry-run", false, "plan only: write nothing (as DRY_RUN=true)")
	fs.BoolVar(&o.asJSON, "json", false, `print the JSON report on stdout (README.md, "Report")`)
	fs.Var(&o.accounts, "account", "only this AWS account `ID` (repeatable; narrows ACCOUNT_IDS)")
	fs.Var(&o.regions, "region", "only this `region` (repeatable; narrows REGIONS)")
	return fs, &o
}

// reconcile is the main command: one run, its summary or JSON report.
func reconcile(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) int {
	fs, o := reconcileFlags()
	if code, ok := parseFlags(fs, args, func(w io.Writer) { usage(w, fs) }, stdout, stderr); !ok {
		return code
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "unexpected argument %q; ecr-onboard --help shows the commands and flags\n", fs.Arg(0))
		return exitUsage
	}
	req := onboard.Request{Trigger: onboard.TriggerCLI, DryRun: o.dryRun, Narrowing: onboard.Narrowing{AccountIDs: o.accounts, Regions: o.regions}}
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
	runner, err := app.NewRunner(ctx, cfg, app.Deps{Logger: logger, LoadAWS: loadAWS, HTTPClient: falconHTTPClient})
	if err != nil {
		// No run: the report of one stopped before it started.
		report := onboard.EmptyReport(onboard.NewRunID(), onboard.TriggerCLI)
		report.DryRun, report.RegionSource = cfg.DryRun || o.dryRun, cfg.RegionSource
		report.Stop(err)
		return stopped(report, err, o.asJSON, stdout, stderr)
	}
	req.Logger = logger
	if !o.asJSON && isTerminal(stderr) {
		req.Progress = progressLine(stderr)
	}
	report, err := runner.Run(ctx, req)
	if req.Progress != nil {
		fmt.Fprint(stderr, "\r\033[K")
	}
	if err != nil {
		return stopped(report, err, o.asJSON, stdout, stderr)
	}
	if o.asJSON {
		writeJSON(stdout, report)
	} else {
		report.WriteSummary(stdout)
	}
	return report.ExitCode()
}

// stopped ends a run a fatal error stopped: the error on stderr, and no
// summary (its zeros would read like a result). With --json the report
// still goes to stdout, marked incomplete with the error (onboard.Report.Stop).
// Writes made before the error are not lost from view: their counts follow.
func stopped(report onboard.Report, err error, asJSON bool, stdout, stderr io.Writer) int {
	if asJSON {
		writeJSON(stdout, report)
	}
	fmt.Fprintln(stderr, "error:", err)
	if g := report.Registries; report.Changed() && !report.DryRun {
		fmt.Fprintf(stderr, "before it stopped, the run created %d, updated %d and deleted %d registrations (--json lists them)\n",
			len(g.Created), len(g.Updated), len(g.Deleted))
	}
	return exitFatal
}

func writeJSON(w io.Writer, report onboard.Report) {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	_ = enc.Encode(report)
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

func simulate(ctx context.Context, args []string, _ func(string) string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("ecr-onboard simulate", flag.ContinueOnError)
	addr := fs.String("addr", "127.0.0.1:8443", "listen on `host:port`")
	cert := fs.String("cert", "falcon-sim.pem", "`file` to write the server certificate to (PEM), for SSL_CERT_FILE")
	var tenant demo.Tenant
	fs.IntVar(&tenant.Standalone, "accounts", 0, "serve `N` generated standalone accounts instead of the demo ones")
	fs.IntVar(&tenant.OrgMembers, "org-members", 0, "serve an AWS Organization of `N` generated accounts (one external ID and role name) instead of the demo ones")
	regions := fs.String("regions", "us-east-1,us-west-2", "the active `regions` (comma list) of generated accounts")
	var opts falconsim.Options
	fs.DurationVar(&opts.Latency, "latency", 0, "`duration` added to each answer")
	fs.IntVar(&opts.RateLimitPerMinute, "rate-limit", 0, "`N` requests a minute the tenant may send before 429 (0: no limit)")
	fs.IntVar(&opts.RegistryPageMax, "registry-page-max", 0, "at most `N` registry IDs per query page (0: 500, as the live API)")
	background := fs.Int("background", 0, "`N` requests a minute another integration of the tenant spends (with --rate-limit)")
	simulateUsage := func(w io.Writer) {
		fmt.Fprint(w, `usage: ecr-onboard simulate [flags]

Serves the Falcon API simulator over HTTPS until Ctrl-C, with the demo tenant (or generated
accounts), and prints the environment that points ecr-onboard at it. By default it answers
like the live Falcon API.

flags:
`)
		writeFlags(w, fs)
	}
	if code, ok := parseFlags(fs, args, simulateUsage, stdout, stderr); !ok {
		return code
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "unexpected argument %q; ecr-onboard simulate --help shows the flags\n", fs.Arg(0))
		return exitUsage
	}
	tenant.Regions = strings.Split(*regions, ",")
	return exitCode(demo.Serve(ctx, stdout, *addr, *cert, cliCommand(), tenant, opts, *background), stderr)
}

// cliCommand is how this binary was started (os.Args[0]: "bin/ecr-onboard",
// "./ecr-onboard", or a name on PATH), for the simulator's banner to say
// how to run it.
func cliCommand() string {
	if len(os.Args) == 0 || os.Args[0] == "" {
		return "ecr-onboard"
	}
	return os.Args[0]
}
