package main

// The harness of the end-to-end tests and benchmarks: the real bootstrap,
// built as for Lambda, runs under AWS's Lambda Runtime Interface Emulator
// (internal/rietest), with its AWS calls going to moto_server
// (internal/mototest), the Falcon API being the simulator served over TLS,
// and CloudFormation's ResponseURL a loopback receiver that records every
// response PUT.

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/cfn"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/aws-sdk-go-v2/service/sts"
	"github.com/stretchr/testify/require"

	"github.com/crowdstrike-ecr/ecr-onboard/internal/demo"
	"github.com/crowdstrike-ecr/ecr-onboard/internal/falconsim"
	"github.com/crowdstrike-ecr/ecr-onboard/internal/mototest"
	"github.com/crowdstrike-ecr/ecr-onboard/internal/rietest"
)

func TestMain(m *testing.M) {
	code := m.Run()
	rietest.Remove()
	if bootstrapBuild.dir != "" {
		_ = os.RemoveAll(bootstrapBuild.dir)
	}
	os.Exit(code)
}

// The function's name, its continuation queue and the table its links are
// claimed in (hosted by moto).
const (
	functionName = "ecr-onboard-e2e"
	queueName    = "ecr-onboard-e2e-continuation"
	queueURL     = "https://sqs." + mototest.Region + ".amazonaws.com/" + mototest.AccountID + "/" + queueName
	queueARN     = "arn:aws:sqs:" + mototest.Region + ":" + mototest.AccountID + ":" + queueName
	linksTable   = "ecr-onboard-e2e-continuation-links"
)

var bootstrapBuild struct {
	once sync.Once
	dir  string
	path string
	out  []byte
	err  error
}

// bootstrap is cmd/lambda built as `make lambda` builds it (stripped,
// lambda.norpc, no cgo), for this machine; once per test binary.
func bootstrap(tb testing.TB) string {
	tb.Helper()
	bootstrapBuild.once.Do(func() {
		dir, err := os.MkdirTemp("", "ecr-onboard-bootstrap-")
		if err != nil {
			bootstrapBuild.err = err
			return
		}
		bootstrapBuild.dir, bootstrapBuild.path = dir, filepath.Join(dir, "bootstrap")
		cmd := exec.Command(goTool(), "build", "-trimpath", "-ldflags=-s -w -buildid=", "-tags", "lambda.norpc", "-o", bootstrapBuild.path, ".")
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
		bootstrapBuild.out, bootstrapBuild.err = cmd.CombinedOutput()
	})
	if bootstrapBuild.err != nil {
		tb.Fatalf("go build: %v\n%s", bootstrapBuild.err, bootstrapBuild.out)
	}
	return bootstrapBuild.path
}

func goTool() string {
	if p := filepath.Join(os.Getenv("GOROOT"), "bin", "go"); os.Getenv("GOROOT") != "" {
		if _, err := os.Stat(p); err == nil {
			return p
		}
	}
	return "go"
}

// deployment is the function as a stack deploys it, with what it talks to.
type deployment struct {
	fn   *rietest.Emulator
	sim  *falconsim.Sim
	moto *mototest.Server
	cfn  *cfnReceiver
	env  []string
}

// deploy starts moto, the simulator (sim, or the demo accounts when nil) and
// the response receiver; the emulator with the function is started by
// start, so that its start can be timed and its environment changed.
func deploy(tb testing.TB, sim *falconsim.Sim, extraEnv ...string) *deployment {
	tb.Helper()
	moto := mototest.Start(tb)
	_, err := sqs.NewFromConfig(moto.Config()).CreateQueue(context.Background(), &sqs.CreateQueueInput{QueueName: aws.String(queueName)})
	require.NoError(tb, err)
	_, err = dynamodb.NewFromConfig(moto.Config()).CreateTable(context.Background(), &dynamodb.CreateTableInput{ // as template.yaml's ContinuationLinks
		TableName:            aws.String(linksTable),
		BillingMode:          types.BillingModePayPerRequest,
		AttributeDefinitions: []types.AttributeDefinition{{AttributeName: aws.String("link"), AttributeType: types.ScalarAttributeTypeS}},
		KeySchema:            []types.KeySchemaElement{{AttributeName: aws.String("link"), KeyType: types.KeyTypeHash}},
	})
	require.NoError(tb, err)
	// moto loads each service on its first request: STS's load is moto's,
	// not part of the function's cold start.
	_, err = sts.NewFromConfig(moto.Config()).GetCallerIdentity(context.Background(), &sts.GetCallerIdentityInput{})
	require.NoError(tb, err)

	if sim == nil {
		sim = falconsim.New(falconsim.Options{ClientID: demo.ClientID, ClientSecret: demo.ClientSecret})
		falconsim.DemoFixtures(sim)
	}
	ctx, cancel := context.WithCancel(context.Background())
	tb.Cleanup(cancel)
	certFile := filepath.Join(tb.TempDir(), "falcon-sim.pem")
	simURL, err := falconsim.ListenAndServeTLS(ctx, "127.0.0.1:0", sim, certFile)
	require.NoError(tb, err)

	env := append(moto.Env(),
		"AWS_LAMBDA_FUNCTION_NAME="+functionName,
		"AWS_LAMBDA_FUNCTION_MEMORY_SIZE=256",
		"FALCON_BASE_URL="+simURL,
		"FALCON_CLIENT_ID="+demo.ClientID,
		"FALCON_CLIENT_SECRET="+demo.ClientSecret,
		"TRUST_PROPAGATION_WAIT=0", // the demo's broken-trust account is not waited for
		"SSL_CERT_FILE="+certFile,
		"CONTINUATION_QUEUE_URL="+queueURL,
		"CONTINUATION_TABLE="+linksTable,
		"STACK_ID="+stackID, // what template.yaml sets
		"STACK_CUSTOM_RESOURCE="+logicalID,
	)
	return &deployment{sim: sim, moto: moto, cfn: newCFNReceiver(tb), env: append(env, extraEnv...)}
}

// start runs the function under the emulator (its first invocation is its
// cold start).
func (d *deployment) start(tb testing.TB, timeout time.Duration) *rietest.Emulator {
	tb.Helper()
	d.fn = rietest.Start(tb, rietest.Options{Bootstrap: bootstrap(tb), Env: d.env, Timeout: timeout})
	return d.fn
}

// initDuration is the function's init phase as the emulator measured it
// (bootstrap start to its first request for an invocation).
var initReport = regexp.MustCompile(`INIT REPORT\(durationMs: ([0-9.]+)\)`)

func initDuration(emulatorLog string) (time.Duration, bool) {
	m := initReport.FindStringSubmatch(emulatorLog)
	if m == nil {
		return 0, false
	}
	ms, err := strconv.ParseFloat(m[1], 64)
	return time.Duration(ms * float64(time.Millisecond)), err == nil
}

// cfnReceiver stands in for the presigned S3 URL a custom resource's
// response is PUT to; it records every request.
type cfnReceiver struct {
	*httptest.Server
	mu   sync.Mutex
	puts []cfnPut
}

type cfnPut struct {
	Method string
	Size   int
	Body   string
	cfn.Response
}

func newCFNReceiver(tb testing.TB) *cfnReceiver {
	c := &cfnReceiver{}
	c.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		p := cfnPut{Method: r.Method, Size: len(body), Body: string(body)}
		_ = json.Unmarshal(body, &p.Response)
		c.mu.Lock()
		c.puts = append(c.puts, p)
		c.mu.Unlock()
	}))
	tb.Cleanup(c.Close)
	return c
}

// received is every request so far.
func (c *cfnReceiver) received() []cfnPut {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]cfnPut(nil), c.puts...)
}
