package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"

	"github.com/crowdstrike-ecr/ecr-onboard/internal/demo"
)

// command is a subcommand: `ecr-onboard NAME [flags]`.
type command struct {
	name    string
	summary string // one line in --help
	run     func(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) int
}

// commands are the subcommands, in the order --help lists them: a
// subcommand is added here, and so listed and dispatched by the same entry.
var commands = []command{
	{"demo", "run the reconcile against the embedded Falcon API simulator: a sample tenant, no credentials", demoCommand},
	{"simulate", "serve the Falcon API simulator over HTTPS, to point ecr-onboard (FALCON_BASE_URL) at it", simulate},
	{"trust-policy", "print, --check or --apply the IAM trust policy an account's CSPM role needs", trustPolicy},
}

func lookup(name string) (command, bool) {
	for _, c := range commands {
		if c.name == name {
			return c, true
		}
	}
	return command{}, false
}

// usage is `ecr-onboard --help`: what the tool does, its commands, the
// reconcile's flags (from fs), where the environment is documented, and
// the exit codes.
func usage(w io.Writer, fs *flag.FlagSet) {
	fmt.Fprint(w, `ecr-onboard registers the Amazon ECR registries of every AWS account CrowdStrike CSPM
knows with CrowdStrike Container Security (image assessment), and keeps them registered.

usage:
  ecr-onboard [flags]              reconcile: plan, then create or fix the registrations
  ecr-onboard COMMAND [flags]      one of the commands below (COMMAND --help for its flags)
  ecr-onboard help [COMMAND]       this help, or a command's

commands:
`)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	for _, c := range commands {
		fmt.Fprintf(tw, "  %s\t%s\n", c.name, c.summary)
	}
	fmt.Fprintf(tw, "  %s\t%s\n", "help", "show this help, or a command's")
	_ = tw.Flush()
	fmt.Fprint(w, "\nflags (reconcile):\n")
	writeFlags(w, fs)
	fmt.Fprint(w, `
environment (README.md, "Configuration", describes every variable):
  FALCON_CLIENT_ID and FALCON_CLIENT_SECRET, or FALCON_SECRET_ARN (a Secrets Manager secret):
  the Falcon API client (scopes: README.md, "Deploy for one account"); FALCON_CLOUD
  (default autodiscover) or FALCON_BASE_URL: where the Falcon API is. A proxy: HTTPS_PROXY;
  a certificate authority of your own (a TLS-inspecting proxy, the simulator): SSL_CERT_FILE.

exit codes:
  0 coverage clean; 1 fatal (the error says why); 2 usage or configuration error;
  3 some registries failed or were left for the next run; 4 nothing failed, yet coverage
  is not clean (README.md, "Report": coverage.attention says why)
`)
}

// help is `ecr-onboard help [COMMAND]`.
func help(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) int {
	switch {
	case len(args) == 0:
		fs, _ := reconcileFlags()
		usage(stdout, fs)
		return exitOK
	case len(args) > 1:
		fmt.Fprintln(stderr, "help takes one command name at most")
		return exitUsage
	}
	c, ok := lookup(args[0])
	if !ok {
		return unknownCommand(args[0], stderr)
	}
	return c.run(ctx, []string{"--help"}, getenv, stdout, stderr)
}

func unknownCommand(name string, stderr io.Writer) int {
	var names []string
	for _, c := range commands {
		names = append(names, c.name)
	}
	fmt.Fprintf(stderr, "unknown command %q (commands: %s, help); ecr-onboard --help says what each does\n", name, strings.Join(names, ", "))
	return exitUsage
}

// parseFlags parses args into fs. --help (or -h) prints usage on stdout:
// the command exits 0. A flag error is printed on stderr with where help
// is: exit 2. ok is true when the command goes on.
func parseFlags(fs *flag.FlagSet, args []string, usage func(io.Writer), stdout, stderr io.Writer) (code int, ok bool) {
	fs.SetOutput(stderr)
	fs.Usage = func() {} // help goes to stdout, below; an error says where help is
	switch err := fs.Parse(args); {
	case errors.Is(err, flag.ErrHelp):
		usage(stdout)
		return exitOK, false
	case err != nil:
		fmt.Fprintf(stderr, "%s --help shows the flags\n", fs.Name())
		return exitUsage, false
	}
	return exitOK, true
}

// writeFlags lists fs's flags, one a line: "--name ARG  usage (default)".
// A word of the usage in backquotes names the argument (flag.UnquoteUsage).
func writeFlags(w io.Writer, fs *flag.FlagSet) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fs.VisitAll(func(f *flag.Flag) {
		arg, text := flag.UnquoteUsage(f)
		name := "--" + f.Name
		if arg != "" {
			name += " " + strings.ToUpper(arg)
		}
		switch f.DefValue {
		case "", "false", "0", "0s", "[]":
		default:
			text += " (default " + f.DefValue + ")"
		}
		fmt.Fprintf(tw, "  %s\t%s\n", name, text)
	})
	_ = tw.Flush()
}

// demoCommand is `ecr-onboard demo`.
func demoCommand(ctx context.Context, args []string, _ func(string) string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("ecr-onboard demo", flag.ContinueOnError)
	demoUsage := func(w io.Writer) {
		fmt.Fprint(w, `usage: ecr-onboard demo

Runs the reconcile against the Falcon API simulator, in this process, with a sample tenant
(standalone accounts, each with a deliberate problem, and an AWS Organization): the first
run, the second (nothing left to do), and the first again with REGION_SOURCE=ecr-inventory.
Needs no credentials and no AWS access; reads no environment variable. Exit code 0 when it ran.
`)
	}
	if code, ok := parseFlags(fs, args, demoUsage, stdout, stderr); !ok {
		return code
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "unexpected argument %q; ecr-onboard demo takes none\n", fs.Arg(0))
		return exitUsage
	}
	return exitCode(demo.Run(ctx, stdout), stderr)
}
