package main

import (
	"flag"
	"regexp"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// --help is a map: every command of the table (so a new one cannot be
// left out), the reconcile's flags, where the environment is documented,
// the exit codes; asked for, it exits 0 and writes to stdout.
func TestHelpListsEveryCommandAndFlag(t *testing.T) {
	require.NotEmpty(t, commands)
	fs, _ := reconcileFlags()
	for _, args := range [][]string{{"--help"}, {"-h"}, {"-help"}, {"help"}, {"--dry-run", "--help"}} {
		code, stdout, stderr := runCLI(args, nil)
		assert.Equal(t, exitOK, code, "%v", args)
		assert.Empty(t, stderr, "%v", args)
		for _, c := range commands {
			assert.Regexp(t, `\n  `+c.name+` +`+regexp.QuoteMeta(c.summary)+`\n`, stdout, "%v names %s", args, c.name)
		}
		assert.Regexp(t, `\n  help +`, stdout)
		n := 0
		fs.VisitAll(func(f *flag.Flag) {
			n++
			assert.Regexp(t, `\n  --`+f.Name+`\b.*`+regexp.QuoteMeta(f.Usage[:10]), stdout, "%v lists --%s", args, f.Name)
		})
		assert.Equal(t, 4, n, "--dry-run, --json, --account, --region")
		assert.Contains(t, stdout, `README.md, "Configuration"`)
		for _, v := range []string{"FALCON_CLIENT_ID", "FALCON_SECRET_ARN", "FALCON_CLOUD", "FALCON_BASE_URL", "HTTPS_PROXY", "SSL_CERT_FILE"} {
			assert.Contains(t, stdout, v)
		}
		assert.Contains(t, stdout, "exit codes:")
	}
}

// Each command's --help (and `help COMMAND`) is its usage, on stdout, exit
// 0, and runs nothing.
func TestEveryCommandHasHelp(t *testing.T) {
	for _, c := range commands {
		for _, args := range [][]string{{c.name, "--help"}, {c.name, "-h"}, {"help", c.name}} {
			code, stdout, stderr := runCLI(args, nil)
			assert.Equal(t, exitOK, code, "%v", args)
			assert.Empty(t, stderr, "%v", args)
			assert.Regexp(t, `^usage: ecr-onboard `+c.name+`\b`, stdout, "%v", args)
			assert.NotContains(t, stdout, "listening on", "%v runs nothing", args)
			assert.NotContains(t, stdout, "== 1.", "%v runs nothing", args)
		}
	}
	code, stdout, stderr := runCLI([]string{"trust-policy", "--help"}, nil)
	require.Equal(t, exitOK, code)
	assert.Empty(t, stderr)
	assert.Contains(t, stdout, "--role-name NAME  read or change this role of the account instead of the\n                    one CSPM's record names")
	assert.Contains(t, stdout, "registrations always use CSPM's role")
}

func TestUnknownCommandsAndHelpTopics(t *testing.T) {
	for _, args := range [][]string{{"simulat"}, {"help", "simulat"}} {
		code, stdout, stderr := runCLI(args, nil)
		assert.Equal(t, exitUsage, code, "%v", args)
		assert.Empty(t, stdout)
		assert.Contains(t, stderr, `unknown command "simulat" (commands: demo, simulate, trust-policy, help)`)
	}
	code, _, stderr := runCLI([]string{"demo", "--bogus"}, nil)
	assert.Equal(t, exitUsage, code)
	assert.Contains(t, stderr, "flag provided but not defined: -bogus\necr-onboard demo --help shows the flags\n")
}
