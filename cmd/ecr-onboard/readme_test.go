package main

import (
	"bytes"
	"context"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/crowdstrike-ecr/ecr-onboard/internal/readmetest"
)

// Every bin/ecr-onboard command on the README's path (before "Reference")
// runs as written: against the Falcon simulator, and moto's IAM holding the
// CSPM role of the README's example account (tpAccount) with CSPM's
// statement, and a person at a terminal typing yes where asked. None ends
// in a usage or configuration error (2) or a fatal one (1). internal/deploytest holds the path's other commands to what they call.
func TestReadmePathCommandsRun(t *testing.T) {
	commands, err := readmetest.PathCommands("../../README.md")
	require.NoError(t, err)
	moto := startMotoIAM(t, tpAccount)
	ran := 0
	for _, c := range commands {
		if c.Program() != "bin/ecr-onboard" {
			continue
		}
		ran++
		t.Run(c.String(), func(t *testing.T) {
			r := newTPRig(t, moto)
			r.iam.AddRole(t, tpRoleARN, policyDoc(cspmStmt(tpCondition)))
			confirmInteractive = func() bool { return true } // a person at a terminal, who types yes
			in := confirmInput
			confirmInput = strings.NewReader("yes\n")
			t.Cleanup(func() { confirmInput = in })
			var args []string
			for _, a := range c.Args[1:] {
				args = append(args, readmetest.Unquote(a))
			}
			var stdout, stderr bytes.Buffer
			code := run(context.Background(), args, func(k string) string { return r.env[k] }, &stdout, &stderr)
			assert.NotContains(t, []int{exitFatal, exitUsage}, code, "stdout:\n%s\nstderr:\n%s", stdout.String(), stderr.String())
		})
	}
	assert.NotZero(t, ran, "the path runs bin/ecr-onboard")
}
