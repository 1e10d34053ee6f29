package rietest_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/crowdstrike-ecr/ecr-onboard/internal/rietest"
)

func TestMain(m *testing.M) {
	code := m.Run()
	rietest.Remove()
	os.Exit(code)
}

func TestEmulatorRunsAFunction(t *testing.T) {
	rietest.Binary(t) // skips before building anything when the emulator is unavailable
	bootstrap := filepath.Join(t.TempDir(), "bootstrap")
	out, err := exec.Command("go", "build", "-tags", "lambda.norpc", "-o", bootstrap, "./testdata/echo").CombinedOutput()
	require.NoError(t, err, "%s", out)

	e := rietest.Start(t, rietest.Options{Bootstrap: bootstrap, Env: []string{"PATH=" + os.Getenv("PATH")}})
	assert.Zero(t, e.FunctionPID(), "the function starts with the first invocation")

	r := e.Invoke(t, "req-1", []byte(`{"hello":"world"}`))
	assert.Equal(t, 200, r.Status)
	assert.False(t, r.Failed())
	assert.JSONEq(t, `{"hello":"world"}`, string(r.Body))
	assert.True(t, r.At.After(e.Started))
	assert.NotZero(t, e.FunctionPID())
	assert.Positive(t, e.FunctionPeakRSS())

	r = e.Invoke(t, "req-2", []byte(`{"fail":true}`))
	assert.True(t, r.Failed())
	assert.Equal(t, "Refused", r.ErrorType)
	assert.Equal(t, "refused: asked to", r.ErrorMessage)

	o := e.Stop()
	assert.Equal(t, []string{`echo req-1 {"hello":"world"}`, `echo req-2 {"fail":true}`}, filterPrefix(o.FunctionLines(), "echo "))
	assert.Contains(t, o.Stdout, "REPORT RequestId: req-1")
	assert.NotEmpty(t, o.Stderr, "the emulator's own log")
	assert.Equal(t, o, e.Stop(), "Stop is idempotent")
}

func filterPrefix(lines []string, prefix string) []string {
	var out []string
	for _, l := range lines {
		if strings.HasPrefix(l, prefix) {
			out = append(out, l)
		}
	}
	return out
}
