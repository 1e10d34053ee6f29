package mototest

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"html"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strings"
	"sync"
	"testing"
	"unicode"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/iam"
)

// Front is a reverse proxy in front of a moto_server, on its own loopback
// port, that makes moto as strict as AWS where moto 5.2.1 is not, and can
// answer an operation with an error once, as AWS does under load. Its
// Server's URL, Config and Env reach moto through it.
//
// IAM's quotas, which moto stores but does not enforce (IAM User Guide,
// "IAM and AWS STS quotas"): a role's trust policy over the account's
// AssumeRolePolicySizeQuota characters, whitespace not counted
// (CreateRole, UpdateAssumeRolePolicy), and a managed policy attached to a
// role that has AttachedPoliciesPerRoleQuota attached already
// (AttachRolePolicy), are refused as IAM refuses them: HTTP 409,
// LimitExceeded, "Cannot exceed quota for ACLSizePerRole: 2048" /
// "Cannot exceed quota for PoliciesPerRole: 10". The quotas are the ones
// GetAccountSummary answers: moto's (AWS's defaults, 2,048 and 10) unless
// SetQuotas changed them.
type Front struct {
	*Server // the proxy
	moto    *Server
	iam     *iam.Client // straight to moto

	mu       sync.Mutex
	quotas   map[string]int // SummaryMap overrides
	failures map[string][]failure
	seen     map[string]int
}

type failure struct {
	code   string
	status int
}

// Front starts a Front for s, stopped when the test ends.
func (s *Server) Front(tb testing.TB) *Front {
	tb.Helper()
	target, err := url.Parse(s.URL)
	if err != nil {
		tb.Fatal(err)
	}
	f := &Front{moto: s, iam: iam.NewFromConfig(s.Config()), failures: map[string][]failure{}, seen: map[string]int{}}
	proxy := httputil.NewSingleHostReverseProxy(target)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		r.Body = io.NopCloser(bytes.NewReader(body))
		op, form := operation(r, body)
		if f.intercept(w, r.Context(), op, form) {
			return
		}
		proxy.ServeHTTP(w, r)
	}))
	tb.Cleanup(srv.Close)
	f.Server = &Server{URL: srv.URL}
	return f
}

// FailNext makes the next call of operation (its API name, e.g.
// "PutParameter") answer error code with HTTP status, without reaching moto.
// Called again, the failures queue up.
func (f *Front) FailNext(operation, code string, status int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.failures[operation] = append(f.failures[operation], failure{code, status})
}

// Calls is how many calls of operation reached the Front (failed ones included).
func (f *Front) Calls(operation string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.seen[operation]
}

// SetQuotas makes GetAccountSummary answer these quotas, and the Front
// enforce them, as after a quota increase.
func (f *Front) SetQuotas(trustPolicySize, policiesPerRole int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.quotas = map[string]int{"AssumeRolePolicySizeQuota": trustPolicySize, "AttachedPoliciesPerRoleQuota": policiesPerRole}
}

// operation is the API operation a request calls: the Action of a query
// protocol request (IAM, STS, SNS, SQS's query form), or the X-Amz-Target
// of a JSON one (SSM, Secrets Manager).
func operation(r *http.Request, body []byte) (string, url.Values) {
	if t := r.Header.Get("X-Amz-Target"); t != "" {
		return t[strings.LastIndex(t, ".")+1:], nil
	}
	form, err := url.ParseQuery(string(body))
	if err != nil {
		return "", nil
	}
	return form.Get("Action"), form
}

func (f *Front) intercept(w http.ResponseWriter, ctx context.Context, op string, form url.Values) bool {
	f.mu.Lock()
	f.seen[op]++
	var fail *failure
	if q := f.failures[op]; len(q) > 0 {
		fail, f.failures[op] = &q[0], q[1:]
	}
	quotas := f.quotas
	f.mu.Unlock()
	if fail != nil {
		f.answerError(w, form != nil, fail.status, fail.code, fmt.Sprintf("%s (mototest.Front)", fail.code))
		return true
	}
	switch op {
	case "GetAccountSummary":
		if quotas == nil {
			return false
		}
		var entries strings.Builder
		for k, v := range quotas {
			fmt.Fprintf(&entries, "<entry><key>%s</key><value>%d</value></entry>", k, v)
		}
		w.Header().Set("Content-Type", "text/xml")
		fmt.Fprintf(w, `<GetAccountSummaryResponse xmlns="https://iam.amazonaws.com/doc/2010-05-08/"><GetAccountSummaryResult><SummaryMap>%s</SummaryMap></GetAccountSummaryResult><ResponseMetadata><RequestId>mototest-front</RequestId></ResponseMetadata></GetAccountSummaryResponse>`, entries.String())
		return true
	case "CreateRole", "UpdateAssumeRolePolicy":
		doc := form.Get("AssumeRolePolicyDocument")
		if op == "UpdateAssumeRolePolicy" {
			doc = form.Get("PolicyDocument")
		}
		quota := f.quota(ctx, "AssumeRolePolicySizeQuota")
		if n := nonWhitespace(doc); quota > 0 && n > quota {
			f.answerError(w, true, http.StatusConflict, "LimitExceeded", fmt.Sprintf("Cannot exceed quota for ACLSizePerRole: %d", quota))
			return true
		}
	case "AttachRolePolicy":
		out, err := f.iam.ListAttachedRolePolicies(ctx, &iam.ListAttachedRolePoliciesInput{RoleName: aws.String(form.Get("RoleName"))})
		if err != nil {
			return false // moto answers (NoSuchEntity)
		}
		for _, p := range out.AttachedPolicies {
			if aws.ToString(p.PolicyArn) == form.Get("PolicyArn") {
				return false // attached already: IAM succeeds
			}
		}
		quota := f.quota(ctx, "AttachedPoliciesPerRoleQuota")
		if quota > 0 && len(out.AttachedPolicies) >= quota {
			f.answerError(w, true, http.StatusConflict, "LimitExceeded", fmt.Sprintf("Cannot exceed quota for PoliciesPerRole: %d", quota))
			return true
		}
	}
	return false
}

// quota is the account's quota named key, as GetAccountSummary answers it
// (0: unknown).
func (f *Front) quota(ctx context.Context, key string) int {
	f.mu.Lock()
	q, ok := f.quotas[key]
	f.mu.Unlock()
	if ok {
		return q
	}
	out, err := f.iam.GetAccountSummary(ctx, &iam.GetAccountSummaryInput{})
	if err != nil {
		return 0
	}
	return int(out.SummaryMap[key])
}

// nonWhitespace counts the characters IAM counts against a policy size quota.
func nonWhitespace(doc string) int {
	n := 0
	for _, r := range doc {
		if !unicode.IsSpace(r) {
			n++
		}
	}
	return n
}

// answerError answers as AWS does: an XML ErrorResponse for the query
// protocol, a JSON body with __type for the JSON protocol.
func (f *Front) answerError(w http.ResponseWriter, query bool, status int, code, message string) {
	if query {
		w.Header().Set("Content-Type", "text/xml")
		w.WriteHeader(status)
		fmt.Fprintf(w, `<ErrorResponse xmlns="https://iam.amazonaws.com/doc/2010-05-08/"><Error><Type>Sender</Type><Code>%s</Code><Message>%s</Message></Error><RequestId>mototest-front</RequestId></ErrorResponse>`,
			html.EscapeString(code), html.EscapeString(message))
		return
	}
	w.Header().Set("Content-Type", "application/x-amz-json-1.1")
	w.Header().Set("X-Amzn-ErrorType", code)
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]string{"__type": code, "message": message})
}
