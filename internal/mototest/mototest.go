// Package mototest runs moto_server, AWS's API emulator from the moto project
// (installed on this project's machines and in CI), for tests that exercise
// the real AWS SDK against real request and response shapes: IAM, STS,
// Secrets Manager, SQS and SNS behave as moto implements them, not as a
// hand-written fake would guess.
//
// Where moto is less strict than AWS (IAM's quotas), Front puts a reverse
// proxy before it that answers as AWS does; it can also answer an operation
// with an error once (throttling), for retries.
//
// A test that needs it calls Start; where moto_server is not on PATH the test
// is skipped with a message saying so (CI fails before that: .ci/run checks
// that moto_server is installed).
package mototest

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/credentials"
)

// Test credentials: moto accepts any; these name the account moto plays.
const (
	AccessKeyID     = "AKIAMOTOTESTEXAMPLE"
	SecretAccessKey = "motoTestSecretKeyNotARealSecretExample0"
	Region          = "us-east-1"
	// AccountID is the account moto's resources belong to (its default).
	AccountID = "123456789012"
)

// Server is a moto_server process on a loopback port.
type Server struct {
	URL string // http://127.0.0.1:PORT
}

var running = regexp.MustCompile(`Running on (http://127\.0\.0\.1:[0-9]+)`)

// Start runs a fresh moto_server for this test (its state is the test's
// alone) and stops it when the test ends. extraEnv is added to moto's
// environment, e.g. "MOTO_IAM_LOAD_MANAGED_POLICIES=true".
func Start(tb testing.TB, extraEnv ...string) *Server {
	tb.Helper()
	bin, err := exec.LookPath("moto_server")
	if err != nil {
		tb.Skip("moto_server is not installed (pip install 'moto[server]'): AWS emulator tests skipped")
	}
	ctx, cancel := context.WithCancel(context.Background())
	cmd := exec.CommandContext(ctx, bin, "-H", "127.0.0.1", "-p", "0")
	cmd.Env = append(os.Environ(), extraEnv...)
	out, err := cmd.StderrPipe()
	if err != nil {
		tb.Fatal(err)
	}
	cmd.Stdout = cmd.Stderr
	if err := cmd.Start(); err != nil {
		cancel()
		tb.Fatalf("starting moto_server: %v", err)
	}
	tb.Cleanup(func() {
		cancel()
		_ = cmd.Wait()
	})
	url := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			if m := running.FindStringSubmatch(sc.Text()); m != nil {
				url <- m[1]
				break
			}
		}
		_, _ = io.Copy(io.Discard, out)
	}()
	select {
	case u := <-url:
		return &Server{URL: u}
	case <-time.After(30 * time.Second):
		tb.Fatal("moto_server did not start within 30 s")
		return nil
	}
}

// Config is an AWS SDK configuration that sends every service to moto,
// through HTTPClient.
func (s *Server) Config() aws.Config {
	return aws.Config{
		Region:       Region,
		Credentials:  credentials.NewStaticCredentialsProvider(AccessKeyID, SecretAccessKey, ""),
		BaseEndpoint: aws.String(s.URL),
		HTTPClient:   HTTPClient(),
	}
}

// HTTPClient is the SDK's HTTP client with keep-alives off: every call
// opens a connection of its own. Tests that count calls make one attempt
// per call (no retry), and a loopback server may close an idle connection
// just as the client reuses it ("use of closed network connection", seen
// on a loaded machine): a test must pass or fail on the code, not on
// which connection a call happened to pick.
func HTTPClient() *awshttp.BuildableClient {
	return awshttp.NewBuildableClient().WithTransportOptions(func(t *http.Transport) { t.DisableKeepAlives = true })
}

// Env is the environment a child process (the Lambda bootstrap) needs to
// send its AWS calls to moto.
func (s *Server) Env() []string {
	return []string{
		"AWS_REGION=" + Region,
		"AWS_ACCESS_KEY_ID=" + AccessKeyID,
		"AWS_SECRET_ACCESS_KEY=" + SecretAccessKey,
		"AWS_ENDPOINT_URL=" + s.URL,
		"AWS_EC2_METADATA_DISABLED=true",
	}
}

// Reset drops all of moto's state.
func (s *Server) Reset(tb testing.TB) {
	tb.Helper()
	resp, err := http.Post(s.URL+"/moto-api/reset", "application/json", strings.NewReader(""))
	if err != nil {
		tb.Fatalf("resetting moto: %v", err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		tb.Fatalf("resetting moto: %s", resp.Status)
	}
}

// String names the server in test logs.
func (s *Server) String() string { return fmt.Sprintf("moto_server at %s", s.URL) }
