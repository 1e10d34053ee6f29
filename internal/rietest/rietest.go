// Package rietest runs a Lambda function's bootstrap under the AWS Lambda
// Runtime Interface Emulator (RIE), the runtime AWS's base images and
// `sam local` use, for tests that need the function as Lambda runs it: the
// Runtime API, the invoke and error protocol, the environment, the output.
//
// The emulator is a Go module the module proxy serves; Binary builds it once
// per test binary with `go install module@version` (so it never enters the
// product's go.mod). Where the module cannot be downloaded the test is
// skipped with a message saying so, unless REQUIRE_LAMBDA_RIE is set (CI),
// which makes that a failure; any other failure to build fails the test.
//
// Start runs the emulator on loopback ports with the bootstrap as its
// function; the emulator starts the bootstrap on the first invocation (as
// Lambda does a cold start) and passes its own environment on to it.
package rietest

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// The emulator: the module, the pinned version (a pseudo-version: the
// tagged releases are not served by the proxy) and the command.
const (
	Module  = "github.com/aws/aws-lambda-runtime-interface-emulator"
	Version = "v0.0.0-20261030222936-bef5c4ba774d"
	Command = Module + "/cmd/aws-lambda-rie"

	// RequireEnv, when set to anything, turns "the emulator's module cannot
	// be downloaded" from a skip into a failure (CI sets it).
	RequireEnv = "REQUIRE_LAMBDA_RIE"
)

// Hang guards: bounds that only a broken or stuck process reaches.
const (
	buildTimeout = 5 * time.Minute
	readyTimeout = time.Minute
	stopTimeout  = 30 * time.Second
)

var built struct {
	once sync.Once
	dir  string
	bin  string
	skip string // why the emulator is not available
	err  error  // why it could not be built
}

// Binary returns the path of the emulator, built on first use in this
// process. Remove deletes it again (TestMain).
func Binary(tb testing.TB) string {
	tb.Helper()
	built.once.Do(build)
	switch {
	case built.err != nil:
		tb.Fatalf("building the Lambda Runtime Interface Emulator: %v", built.err)
	case built.skip != "" && os.Getenv(RequireEnv) != "":
		tb.Fatalf("%s (%s is set: the emulator tests must run)", built.skip, RequireEnv)
	case built.skip != "":
		tb.Skip(built.skip)
	}
	return built.bin
}

// Remove deletes the emulator Binary built, if any.
func Remove() {
	if built.dir != "" {
		_ = os.RemoveAll(built.dir)
	}
}

func build() {
	if runtime.GOOS != "linux" {
		built.skip = "the Lambda Runtime Interface Emulator runs on Linux only: emulator tests skipped"
		return
	}
	dir, err := os.MkdirTemp("", "rietest-")
	if err != nil {
		built.err = err
		return
	}
	built.dir = dir
	ctx, cancel := context.WithTimeout(context.Background(), buildTimeout)
	defer cancel()
	goTool := goTool()
	env := append(os.Environ(), "GOBIN="+dir, "GOWORK=off", "GOFLAGS=", "CGO_ENABLED=0")
	run := func(args ...string) (string, error) {
		cmd := exec.CommandContext(ctx, goTool, args...)
		cmd.Dir, cmd.Env = dir, env // outside any module: the product's go.mod is not involved
		out, err := cmd.CombinedOutput()
		return strings.TrimSpace(string(out)), err
	}
	// Whether the module can be had at all: without it (no module proxy),
	// the emulator tests are skipped.
	if out, err := run("mod", "download", "-json", Module+"@"+Version); err != nil {
		built.skip = fmt.Sprintf("the Lambda Runtime Interface Emulator (%s@%s) cannot be downloaded: emulator tests skipped: %v\n%s",
			Module, Version, err, out)
		return
	}
	if out, err := run("install", Command+"@"+Version); err != nil {
		built.err = fmt.Errorf("go install %s@%s: %w\n%s", Command, Version, err, out)
		return
	}
	built.bin = filepath.Join(dir, "aws-lambda-rie")
}

// goTool is the go command of the toolchain running the tests.
func goTool() string {
	if root := os.Getenv("GOROOT"); root != "" {
		if p := filepath.Join(root, "bin", "go"); fileExists(p) {
			return p
		}
	}
	return "go"
}

func fileExists(p string) bool {
	st, err := os.Stat(p)
	return err == nil && !st.IsDir()
}

// Options describe the function the emulator runs.
type Options struct {
	// Bootstrap is the function's executable.
	Bootstrap string
	// Env is the function's environment (the emulator's, which it passes
	// on); AWS_LAMBDA_FUNCTION_TIMEOUT is set from Timeout.
	Env []string
	// Timeout is the function's timeout (whole seconds; default 60 s): the
	// deadline of every invocation.
	Timeout time.Duration
}

// Emulator is a running emulator with its function.
type Emulator struct {
	// URL is the invocation endpoint (POST an event to it).
	URL string
	// Started is when the emulator process was started.
	Started time.Time

	cmd      *exec.Cmd
	stdout   *buffer // the function's output and the emulator's START/END/REPORT lines
	stderr   *buffer // the emulator's own log
	exited   chan struct{}
	client   *http.Client
	stopOnce sync.Once
	output   Output
}

// Start runs the emulator with o's bootstrap as its function and stops it
// when the test ends. The function itself starts on the first invocation.
func Start(tb testing.TB, o Options) *Emulator {
	tb.Helper()
	bin := Binary(tb)
	if o.Timeout <= 0 {
		o.Timeout = time.Minute
	}
	// Free loopback ports are picked, then bound by the emulator: another
	// process may take one in between, so an emulator that could not bind
	// is started again on fresh ports.
	var lastOut string
	for attempt := 0; attempt < 3; attempt++ {
		e, err := start(bin, o)
		if err == nil {
			tb.Cleanup(func() { e.Stop() })
			return e
		}
		lastOut = err.Error()
		if !strings.Contains(lastOut, "address already in use") {
			break
		}
	}
	tb.Fatalf("starting the Lambda Runtime Interface Emulator: %s", lastOut)
	return nil
}

func start(bin string, o Options) (*Emulator, error) {
	addrs, err := freeAddrs(2)
	if err != nil {
		return nil, err
	}
	invokeAddr, runtimeAddr := addrs[0], addrs[1]
	secs := int((o.Timeout + time.Second - 1) / time.Second)
	cmd := exec.Command(bin,
		"--runtime-interface-emulator-address", invokeAddr,
		"--runtime-api-address", runtimeAddr,
		"--log-level", "info", // not the function's LOG_LEVEL, which the emulator would read too
		o.Bootstrap)
	cmd.Dir = filepath.Dir(o.Bootstrap)
	cmd.Env = append(append([]string{}, o.Env...), "AWS_LAMBDA_FUNCTION_TIMEOUT="+strconv.Itoa(secs))
	cmd.SysProcAttr = sysProcAttr()
	cmd.WaitDelay = stopTimeout
	e := &Emulator{
		URL:    "http://" + invokeAddr,
		cmd:    cmd,
		stdout: &buffer{},
		stderr: &buffer{},
		exited: make(chan struct{}),
		client: &http.Client{Timeout: o.Timeout + 30*time.Second},
	}
	cmd.Stdout, cmd.Stderr = e.stdout, e.stderr
	e.Started = time.Now()
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	go func() { _ = cmd.Wait(); close(e.exited) }()
	if err := e.waitReady(invokeAddr, runtimeAddr); err != nil {
		e.Stop()
		return nil, fmt.Errorf("%w\nemulator stderr:\n%s", err, e.stderr.String())
	}
	return e, nil
}

// freeAddrs returns n distinct free loopback addresses (held open together,
// so the kernel cannot hand out one port twice).
func freeAddrs(n int) ([]string, error) {
	var addrs []string
	for range n {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, err
		}
		defer ln.Close()
		addrs = append(addrs, ln.Addr().String())
	}
	return addrs, nil
}

// waitReady returns once the emulator accepts connections on both its
// addresses: its Runtime API (bound in the background, and fatal to the
// emulator when it cannot be) and its invocation endpoint.
func (e *Emulator) waitReady(addrs ...string) error {
	guard := time.NewTimer(readyTimeout)
	defer guard.Stop()
	for _, addr := range addrs {
		for {
			c, err := net.Dial("tcp", addr)
			if err == nil {
				c.Close()
				break
			}
			select {
			case <-e.exited:
				return errors.New("the emulator exited before listening")
			case <-guard.C:
				return fmt.Errorf("the emulator did not listen on %s within %v", addr, readyTimeout)
			case <-time.After(time.Millisecond):
			}
		}
	}
	return nil
}

// Result is the answer to one invocation.
type Result struct {
	Status int    // HTTP status of the invocation endpoint
	Body   []byte // the function's response, or its error document
	// ErrorType and ErrorMessage are set when the function returned an
	// error ({"errorType": …, "errorMessage": …}).
	ErrorType, ErrorMessage string
	At                      time.Time // when the answer arrived
}

// Failed reports whether the function returned an error.
func (r Result) Failed() bool { return r.ErrorType != "" }

// Invoke sends payload as the invocation requestID (the function sees it
// as its AWS request ID) and returns the answer.
func (e *Emulator) Invoke(tb testing.TB, requestID string, payload []byte) Result {
	tb.Helper()
	req, err := http.NewRequest(http.MethodPost, e.URL+"/2015-03-31/functions/function/invocations", bytes.NewReader(payload))
	if err != nil {
		tb.Fatal(err)
	}
	req.Header.Set("X-Amzn-RequestId", requestID)
	resp, err := e.client.Do(req)
	if err != nil {
		tb.Fatalf("invocation %s: %v\nemulator stderr:\n%s", requestID, err, e.stderr.String())
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		tb.Fatalf("invocation %s: reading the answer: %v", requestID, err)
	}
	r := Result{Status: resp.StatusCode, Body: body, At: time.Now()}
	var fnErr struct {
		ErrorType    string `json:"errorType"`
		ErrorMessage string `json:"errorMessage"`
	}
	if json.Unmarshal(body, &fnErr) == nil {
		r.ErrorType, r.ErrorMessage = fnErr.ErrorType, fnErr.ErrorMessage
	}
	return r
}

// FunctionPID is the process ID of the running function (the emulator's
// child), or 0 before the first invocation started it.
func (e *Emulator) FunctionPID() int {
	if e.cmd.Process == nil {
		return 0
	}
	kids := children(e.cmd.Process.Pid)
	if len(kids) == 0 {
		return 0
	}
	return kids[0]
}

// FunctionPeakRSS is the function process's peak resident set size so far
// (VmHWM), in bytes; 0 when it cannot be read.
func (e *Emulator) FunctionPeakRSS() int64 {
	pid := e.FunctionPID()
	if pid == 0 {
		return 0
	}
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if f := strings.Fields(line); len(f) == 3 && f[0] == "VmHWM:" && f[2] == "kB" {
			kb, _ := strconv.ParseInt(f[1], 10, 64)
			return kb * 1024
		}
	}
	return 0
}

// Output is everything the emulator and its function printed.
type Output struct {
	// Stdout: the function's stdout and stderr, line by line, between the
	// emulator's START, END and REPORT lines.
	Stdout string
	// Stderr: the emulator's own log.
	Stderr string
}

// FunctionLines are the function's own output lines (Stdout without the
// emulator's START, END and REPORT lines).
func (o Output) FunctionLines() []string {
	var out []string
	for _, l := range strings.Split(o.Stdout, "\n") {
		if l == "" || strings.HasPrefix(l, "START RequestId: ") || strings.HasPrefix(l, "END RequestId: ") ||
			strings.HasPrefix(l, "REPORT RequestId: ") {
			continue
		}
		out = append(out, l)
	}
	return out
}

// Stop ends the function and the emulator and returns all they printed
// (complete: both have exited). It is called at the end of the test, and
// may be called before.
func (e *Emulator) Stop() Output {
	e.stopOnce.Do(func() {
		if e.cmd.Process != nil {
			// The function runs in its own process group (the emulator
			// starts it so); end it first, then the emulator.
			for _, pid := range children(e.cmd.Process.Pid) {
				_ = syscall.Kill(pid, syscall.SIGKILL)
			}
			_ = e.cmd.Process.Kill()
			select {
			case <-e.exited:
			case <-time.After(stopTimeout + time.Second):
			}
		}
		e.output = Output{Stdout: e.stdout.String(), Stderr: e.stderr.String()}
	})
	return e.output
}

// children lists the processes whose parent is pid (Linux /proc).
func children(pid int) []int {
	entries, _ := os.ReadDir("/proc")
	var out []int
	for _, d := range entries {
		child, err := strconv.Atoi(d.Name())
		if err != nil {
			continue
		}
		b, err := os.ReadFile(filepath.Join("/proc", d.Name(), "stat"))
		if err != nil {
			continue
		}
		// pid (comm) state ppid …; comm may hold spaces and parentheses.
		s := string(b)
		f := strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
		if len(f) > 1 && f[1] == strconv.Itoa(pid) {
			out = append(out, child)
		}
	}
	return out
}

// buffer is a goroutine-safe output sink.
type buffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *buffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *buffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}
