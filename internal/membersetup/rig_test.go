package membersetup

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/cfn"
	"github.com/aws/aws-sdk-go-v2/aws"
	awsmiddleware "github.com/aws/aws-sdk-go-v2/aws/middleware"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	"github.com/aws/aws-sdk-go-v2/service/iam/types"
	"github.com/aws/aws-sdk-go-v2/service/ssm"
	"github.com/aws/smithy-go/middleware"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/crowdstrike-ecr/ecr-onboard/internal/awsapi/ssmparam"
	"github.com/crowdstrike-ecr/ecr-onboard/internal/iamrole"
	"github.com/crowdstrike-ecr/ecr-onboard/internal/jsonlog"
	"github.com/crowdstrike-ecr/ecr-onboard/internal/mototest"
)

// The harness: a member account in moto (IAM and the record's SSM
// parameter), and member stacks in it, each with the setup function as
// Lambda runs it (Invoke, on raw payloads), answering custom resource
// requests to a loopback ResponseURL.

const (
	account   = mototest.AccountID
	connector = "arn:aws:iam::292230061137:role/CrowdStrikeCSPMConnector"
	registry  = "arn:aws:iam::292230061137:role/CrowdStrikeCustomerRegistryAssessmentRole"
	ecrPolicy = "arn:aws:iam::aws:policy/AmazonEC2ContainerRegistryReadOnly"
	extID     = "4f1c0b2e9d8a7c6b5a4f3e2d1c0b9a88"
	// cspmPolicy is what CrowdStrike's CSPM registration template leaves on its role.
	cspmPolicy  = `{"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": {"AWS": "` + connector + `"}, "Action": "sts:AssumeRole", "Condition": {"StringEquals": {"sts:ExternalId": "` + extID + `"}}}]}`
	lambdaTrust = `{"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"}, "Action": "sts:AssumeRole"}]}`
)

func stackARN(name string) string {
	return "arn:aws:cloudformation:us-east-1:" + account + ":stack/" + name + "/5f0e8a70-0000-0000-0000-000000000001"
}

// memberAccount is moto playing one member account, behind a
// mototest.Front (IAM's quotas enforced as IAM enforces them).
type memberAccount struct {
	t     *testing.T
	srv   *mototest.Server
	front *mototest.Front
	iam   *iam.Client // as the account's administrator (CSPM, people)
	ssm   *ssm.Client
	cfg   aws.Config // the setup function's: its IAM writes are recorded
	log   *writeLog
	turns *turns
}

// writeLog holds "Operation RoleName" of the setup functions' IAM writes.
type writeLog struct {
	mu     sync.Mutex
	writes []string
}

// in is the account, for subtest t.
func (a *memberAccount) in(t *testing.T) *memberAccount {
	c := *a
	c.t = t
	return &c
}

// newAccount starts moto for t, with AWS's managed policies (needed to
// attach one) unless bare.
func newAccount(t *testing.T, bare ...bool) *memberAccount {
	t.Parallel()
	env := []string{"MOTO_IAM_LOAD_MANAGED_POLICIES=true"}
	if len(bare) > 0 && bare[0] {
		env = nil
	}
	srv := mototest.Start(t, env...)
	front := srv.Front(t)
	a := &memberAccount{t: t, srv: srv, front: front, iam: iam.NewFromConfig(front.Config()), ssm: ssm.NewFromConfig(front.Config()), log: &writeLog{},
		turns: &turns{changed: make(chan struct{})}}
	a.cfg = front.Config()
	a.cfg.APIOptions = append(a.cfg.APIOptions, a.record)
	return a
}

func (a *memberAccount) record(stack *middleware.Stack) error {
	return stack.Initialize.Add(middleware.InitializeMiddlewareFunc("record-writes", func(ctx context.Context, in middleware.InitializeInput, next middleware.InitializeHandler) (middleware.InitializeOutput, middleware.Metadata, error) {
		out, md, err := next.HandleInitialize(ctx, in)
		var role *string
		switch p := in.Parameters.(type) {
		case *iam.UpdateAssumeRolePolicyInput:
			role = p.RoleName
		case *iam.AttachRolePolicyInput:
			role = p.RoleName
		case *iam.DetachRolePolicyInput:
			role = p.RoleName
		}
		if role != nil && err == nil {
			a.log.mu.Lock()
			a.log.writes = append(a.log.writes, awsmiddleware.GetOperationName(ctx)+" "+aws.ToString(role))
			a.log.mu.Unlock()
		}
		return out, md, err
	}), middleware.After)
}

// Writes are the setup functions' successful IAM writes so far.
func (a *memberAccount) Writes() []string {
	a.log.mu.Lock()
	defer a.log.mu.Unlock()
	return append([]string(nil), a.log.writes...)
}

// iamAsAWS is moto's IAM made as strict as IAM where moto 5.2.1 is not:
// IAM refuses to save a trust policy naming a principal that does not
// exist (MalformedPolicyDocument, "Invalid principal in policy"): a deleted
// role's or user's unique ID (AROA…, AIDA…: how IAM shows a principal that
// was deleted after the policy named it), or the ARN of a role of this
// account that does not exist (moto keeps showing the ARN of a deleted
// role where IAM would show its unique ID). moto saves both.
type iamAsAWS struct{ *iam.Client }

var uniqueIDForm = regexp.MustCompile(`^A(ROA|IDA)[A-Z0-9]{12,}$`)

func (c iamAsAWS) UpdateAssumeRolePolicy(ctx context.Context, in *iam.UpdateAssumeRolePolicyInput, opts ...func(*iam.Options)) (*iam.UpdateAssumeRolePolicyOutput, error) {
	var doc struct {
		Statement []struct {
			Principal struct{ AWS any }
		}
	}
	if err := json.Unmarshal([]byte(aws.ToString(in.PolicyDocument)), &doc); err == nil {
		for _, st := range doc.Statement {
			var principals []string
			switch p := st.Principal.AWS.(type) {
			case string:
				principals = []string{p}
			case []any:
				for _, e := range p {
					s, _ := e.(string)
					principals = append(principals, s)
				}
			}
			for _, p := range principals {
				invalid := uniqueIDForm.MatchString(p)
				if name, ok := strings.CutPrefix(p, "arn:aws:iam::"+account+":role/"); ok {
					_, err := c.Client.GetRole(ctx, &iam.GetRoleInput{RoleName: aws.String(iamrole.RoleName("x/" + name))})
					var missing *types.NoSuchEntityException
					invalid = errors.As(err, &missing)
				}
				if invalid {
					return nil, &types.MalformedPolicyDocumentException{Message: aws.String(`Invalid principal in policy: "AWS":"` + p + `"`)}
				}
			}
		}
	}
	return c.Client.UpdateAssumeRolePolicy(ctx, in, opts...)
}

// memberStack is one member stack in the account: its function and the
// CloudFormation side of its custom resource.
type memberStack struct {
	a    *memberAccount
	id   string // StackId
	s    *Setup
	url  string
	logs strings.Builder
	mu   sync.Mutex
	sent []cfn.Response
	// stops: where named invocations stop (at).
	stops map[[2]string]*stop
}

// stack deploys a member stack named name whose CspmRoleName is roleName
// (the function's environment; its custom resource's properties are each
// request's).
func (a *memberAccount) stack(name, roleName string) *memberStack {
	t := a.t
	st := &memberStack{a: a, id: stackARN(name), stops: map[[2]string]*stop{}}
	parameters := ssmparam.NewClient(a.cfg)
	st.s = &Setup{
		IAM: func(partition string) Roles { return iamrole.NewFromAPI(iamAsAWS{iam.NewFromConfig(a.cfg)}) },
		Record: func(name string) Record {
			return ssmparam.Parameter{SSM: parameters, Name: name}
		},
		Lease:    func(name string) Lease { return a.turns.lease(st, ssmparam.Lease{SSM: parameters, Name: name}) },
		Log:      jsonlog.New(&st.logs, slog.LevelInfo),
		StackID:  st.id,
		RoleName: roleName,
		pause:    st.pause,
	}
	rcv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		assert.Equal(t, http.MethodPut, req.Method)
		var resp cfn.Response
		body, _ := io.ReadAll(req.Body)
		assert.NoError(t, json.Unmarshal(body, &resp))
		assert.Less(t, len(body), 4096, "CloudFormation takes answers under 4 KB")
		st.mu.Lock()
		st.sent = append(st.sent, resp)
		st.mu.Unlock()
	}))
	t.Cleanup(rcv.Close)
	st.url = rcv.URL + "/cloudformation-response"
	t.Cleanup(func() {
		// Every line the function logged: JSON, each key once; never an external ID.
		assert.Empty(t, jsonlog.CheckLines(st.logs.String()))
		assert.NotContains(t, st.logs.String(), extID)
	})
	return st
}

// send delivers one request, as CloudFormation's invocation of the
// function, and returns the one answer PUT to its ResponseURL.
func (st *memberStack) send(typ cfn.RequestType, physicalID string, props map[string]any) cfn.Response {
	return st.sendAs(context.Background(), typ, physicalID, props)
}

// sendAs is send with ctx (named: an invocation the test stops, invocation).
func (st *memberStack) sendAs(ctx context.Context, typ cfn.RequestType, physicalID string, props map[string]any) cfn.Response {
	t := st.a.t
	t.Helper()
	if props == nil {
		props = map[string]any{}
	}
	props["ServiceToken"] = "arn:aws:lambda:us-east-1:" + account + ":function:member-setup"
	st.mu.Lock()
	before := len(st.sent)
	st.mu.Unlock()
	ev := cfn.Event{
		RequestType: typ, RequestID: requestID(ctx, typ, before), ResponseURL: st.url, ResourceType: "Custom::EcrOnboardCspmRole",
		PhysicalResourceID: physicalID, LogicalResourceID: "CspmRolePreparation", StackID: st.id, ResourceProperties: props,
	}
	payload, err := json.Marshal(ev)
	require.NoError(t, err)
	_, err = st.s.Invoke(ctx, payload)
	require.NoError(t, err, "the answer was delivered")
	st.mu.Lock()
	defer st.mu.Unlock()
	var resp cfn.Response
	answers := 0
	for _, r := range st.sent { // invocations of a test may overlap
		if r.RequestID == ev.RequestID {
			resp = r
			answers++
		}
	}
	require.Equal(t, 1, answers, "exactly one answer")
	assert.Equal(t, ev.RequestID, resp.RequestID)
	assert.Equal(t, ev.StackID, resp.StackID)
	assert.NotEmpty(t, resp.PhysicalResourceID)
	b, _ := json.Marshal(resp)
	assert.NotContains(t, string(b), extID, "no external ID in an answer")
	return resp
}

// create sends a Create that must succeed.
func (st *memberStack) create(props map[string]any) cfn.Response {
	st.a.t.Helper()
	resp := st.send(cfn.RequestCreate, "", props)
	require.Equal(st.a.t, cfn.StatusSuccess, resp.Status, resp.Reason)
	return resp
}

// scheduled and iamEvent are the repair's triggers as EventBridge delivers
// them (a rule's schedule; an IAM call recorded by CloudTrail, as the
// member template's rule matches it).
func scheduled() []byte {
	return []byte(`{"version":"0","id":"53dc4d37-cffa-4f76-80c9-8b7d4a4d2eaa","detail-type":"Scheduled Event","source":"aws.events","account":"` + account + `",` +
		`"time":"2026-11-29T12:00:00Z","region":"us-east-1","resources":["arn:aws:events:us-east-1:` + account + `:rule/ecr-onboard-member-repair"],"detail":{}}`)
}

func iamEvent(eventName, roleName string) []byte {
	return []byte(`{"version":"0","id":"6f2a1c1e-0000-4000-8000-000000000001","detail-type":"AWS API Call via CloudTrail","source":"aws.iam","account":"` + account + `",` +
		`"time":"2026-11-29T12:00:00Z","region":"us-east-1","resources":[],"detail":{"eventVersion":"1.09","userIdentity":{"type":"AssumedRole",` +
		`"arn":"arn:aws:sts::` + account + `:assumed-role/cfn-exec/session"},"eventSource":"iam.amazonaws.com","eventName":"` + eventName + `",` +
		`"awsRegion":"us-east-1","requestParameters":{"roleName":"` + roleName + `"},"responseElements":null}}`)
}

// repair invokes the function with an EventBridge event.
func (st *memberStack) repair(event []byte) (Repaired, error) {
	return st.repairAs(context.Background(), event)
}

func (st *memberStack) repairAs(ctx context.Context, event []byte) (Repaired, error) {
	out, err := st.s.Invoke(ctx, event)
	res, _ := out.(Repaired)
	return res, err
}

// Forcing an order of events: invocations the test names (invocation)
// stop at a step (Setup.pause; "lease wait": each time it finds the lease
// taken) until the test lets them go on.

type invocationKey struct{}

// invocation is a context naming an invocation, for at.
func invocation(name string) context.Context {
	return context.WithValue(context.Background(), invocationKey{}, name)
}

func requestID(ctx context.Context, typ cfn.RequestType, n int) string {
	if name, ok := ctx.Value(invocationKey{}).(string); ok {
		return fmt.Sprintf("req-%s-%s", typ, name)
	}
	return fmt.Sprintf("req-%s-%d", typ, n)
}

// stop is where one invocation stops, once.
type stop struct {
	reached, resume chan struct{}
	once            sync.Once
}

// at makes invocation name stop the first time it reaches step.
func (st *memberStack) at(name, step string) *stop {
	s := &stop{reached: make(chan struct{}), resume: make(chan struct{})}
	st.mu.Lock()
	st.stops[[2]string{name, step}] = s
	st.mu.Unlock()
	return s
}

// Reached waits until the invocation stopped there (or failed the test
// when done says it ended first).
func (s *stop) Reached(t *testing.T, done <-chan struct{}) {
	t.Helper()
	select {
	case <-s.reached:
	case <-done:
		t.Fatal("the invocation ended without reaching its stop")
	}
}

func (s *stop) Go() { close(s.resume) }

func (st *memberStack) pause(ctx context.Context, step string) {
	name, _ := ctx.Value(invocationKey{}).(string)
	st.mu.Lock()
	s := st.stops[[2]string{name, step}]
	st.mu.Unlock()
	if s == nil {
		return
	}
	s.once.Do(func() {
		close(s.reached)
		<-s.resume
	})
}

// turns lets the stacks' leases wait for one another without a clock: a
// waiter tries again when a lease was released since its last try.
type turns struct {
	mu      sync.Mutex
	gen     int
	changed chan struct{}
}

func (tu *turns) lease(st *memberStack, l ssmparam.Lease) Lease { return turnLease{l, tu, st} }

type turnLease struct {
	ssmparam.Lease
	tu *turns
	st *memberStack
}

func (l turnLease) Acquire(ctx context.Context, holder string, until time.Time) (func(context.Context) error, error) {
	l.tu.mu.Lock()
	seen := l.tu.gen
	l.tu.mu.Unlock()
	l.Wait = func(ctx context.Context) error {
		l.st.pause(ctx, "lease wait")
		l.tu.mu.Lock()
		if l.tu.gen > seen {
			seen = l.tu.gen
			l.tu.mu.Unlock()
			return nil
		}
		ch := l.tu.changed
		l.tu.mu.Unlock()
		select {
		case <-ch:
			l.tu.mu.Lock()
			seen = l.tu.gen
			l.tu.mu.Unlock()
			return nil
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	release, err := l.Lease.Acquire(ctx, holder, until)
	if err != nil {
		return nil, err
	}
	return func(ctx context.Context) error {
		err := release(ctx)
		l.tu.mu.Lock()
		l.tu.gen++
		close(l.tu.changed)
		l.tu.changed = make(chan struct{})
		l.tu.mu.Unlock()
		return err
	}, nil
}

// recorded is the stack's record as kept in SSM ("" when there is none).
func (st *memberStack) recorded() string {
	name, err := recordName(st.id)
	require.NoError(st.a.t, err)
	v, _, err := ssmparam.Parameter{SSM: st.a.ssm, Name: name}.Get(context.Background())
	require.NoError(st.a.t, err)
	return v
}

func (a *memberAccount) role(name, path, policy string) string {
	a.t.Helper()
	out, err := a.iam.CreateRole(context.Background(), &iam.CreateRoleInput{RoleName: aws.String(name), Path: aws.String(path), AssumeRolePolicyDocument: aws.String(policy)})
	require.NoError(a.t, err)
	return aws.ToString(out.Role.Arn)
}

func (a *memberAccount) deleteRole(name string) {
	a.t.Helper()
	for _, p := range a.attached(name) {
		a.detach(name, p)
	}
	_, err := a.iam.DeleteRole(context.Background(), &iam.DeleteRoleInput{RoleName: aws.String(name)})
	require.NoError(a.t, err)
}

func (a *memberAccount) policy(name string) string {
	a.t.Helper()
	out, err := a.iam.GetRole(context.Background(), &iam.GetRoleInput{RoleName: aws.String(name)})
	require.NoError(a.t, err)
	doc, err := iamrole.DecodePolicy(aws.ToString(out.Role.AssumeRolePolicyDocument))
	require.NoError(a.t, err)
	return doc
}

func (a *memberAccount) setPolicy(name, doc string) {
	a.t.Helper()
	_, err := a.iam.UpdateAssumeRolePolicy(context.Background(), &iam.UpdateAssumeRolePolicyInput{RoleName: aws.String(name), PolicyDocument: aws.String(doc)})
	require.NoError(a.t, err)
}

func (a *memberAccount) attached(name string) []string {
	a.t.Helper()
	out, err := a.iam.ListAttachedRolePolicies(context.Background(), &iam.ListAttachedRolePoliciesInput{RoleName: aws.String(name)})
	require.NoError(a.t, err)
	var arns []string
	for _, p := range out.AttachedPolicies {
		arns = append(arns, aws.ToString(p.PolicyArn))
	}
	return arns
}

func (a *memberAccount) attach(name, policy string) {
	a.t.Helper()
	_, err := a.iam.AttachRolePolicy(context.Background(), &iam.AttachRolePolicyInput{RoleName: aws.String(name), PolicyArn: aws.String(policy)})
	require.NoError(a.t, err)
}

func (a *memberAccount) detach(name, policy string) {
	a.t.Helper()
	_, err := a.iam.DetachRolePolicy(context.Background(), &iam.DetachRolePolicyInput{RoleName: aws.String(name), PolicyArn: aws.String(policy)})
	require.NoError(a.t, err)
}

func semantic(t *testing.T, doc string) any {
	t.Helper()
	var v any
	require.NoError(t, json.Unmarshal([]byte(doc), &v))
	return v
}

// withRegistry is doc with the registry principal added to the CSPM
// statement (its first), as the setup adds it to a one-string principal.
func withRegistry(t *testing.T, doc string) any {
	t.Helper()
	v := semantic(t, doc)
	st := v.(map[string]any)["Statement"].([]any)[0].(map[string]any)
	st["Principal"] = map[string]any{"AWS": []any{connector, registry}}
	return v
}
