// Package iamfake is a local stand-in for the AWS IAM API (Query protocol:
// form-encoded POST with Action=…, XML answers) with just GetRole and
// UpdateAssumeRolePolicy, for tests of code that uses the real
// aws-sdk-go-v2 IAM client. Point the SDK at it with Setenv.
package iamfake

import (
	"encoding/json"
	"encoding/xml"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

const xmlns = "https://iam.amazonaws.com/doc/2010-05-08/"

// Server is a fake IAM endpoint.
type Server struct {
	*httptest.Server
	mu      sync.Mutex
	roles   map[string]*role // by name
	updates []Update
	calls   []string
	// DenyUpdate makes UpdateAssumeRolePolicy answer AccessDenied.
	DenyUpdate bool
}

type role struct {
	arn, policy string
}

// Update is one UpdateAssumeRolePolicy call that succeeded.
type Update struct {
	RoleName, PolicyDocument string
}

// New starts a fake IAM server; Close it when done.
func New() *Server {
	s := &Server{roles: map[string]*role{}}
	s.Server = httptest.NewServer(http.HandlerFunc(s.serve))
	return s
}

// AddRole adds (or replaces) a role; its name is the last part of arn.
func (s *Server) AddRole(arn, trustPolicy string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.roles[arn[strings.LastIndex(arn, "/")+1:]] = &role{arn: arn, policy: trustPolicy}
}

// TrustPolicy is a role's current trust policy.
func (s *Server) TrustPolicy(name string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if r := s.roles[name]; r != nil {
		return r.policy
	}
	return ""
}

// Updates are the successful UpdateAssumeRolePolicy calls so far.
func (s *Server) Updates() []Update {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Update(nil), s.updates...)
}

// Calls are the actions called so far, in order.
func (s *Server) Calls() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.calls...)
}

// Setenv points the default AWS configuration chain at s for the test:
// endpoint, dummy static credentials and region, and empty config and
// credentials files so nothing from the host is read.
func (s *Server) Setenv(t testing.TB) {
	t.Helper()
	dir := t.TempDir()
	empty := filepath.Join(dir, "empty")
	if err := os.WriteFile(empty, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	for k, v := range map[string]string{
		"AWS_ENDPOINT_URL_IAM":        s.URL,
		"AWS_ENDPOINT_URL":            s.URL,
		"AWS_ACCESS_KEY_ID":           "AKIDFAKEFAKEFAKE",
		"AWS_SECRET_ACCESS_KEY":       "fake-secret",
		"AWS_SESSION_TOKEN":           "",
		"AWS_REGION":                  "us-east-1",
		"AWS_PROFILE":                 "",
		"AWS_CONFIG_FILE":             empty,
		"AWS_SHARED_CREDENTIALS_FILE": empty,
		"AWS_EC2_METADATA_DISABLED":   "true",
	} {
		t.Setenv(k, v)
	}
}

func (s *Server) serve(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		s.fail(w, http.StatusMethodNotAllowed, "Sender", "InvalidAction", "POST only")
		return
	}
	if !strings.HasPrefix(r.Header.Get("Authorization"), "AWS4-HMAC-SHA256 ") || !strings.Contains(r.Header.Get("Authorization"), "/iam/aws4_request") {
		s.fail(w, http.StatusForbidden, "Sender", "IncompleteSignature", "request not signed for iam")
		return
	}
	if err := r.ParseForm(); err != nil {
		s.fail(w, http.StatusBadRequest, "Sender", "MalformedQueryString", err.Error())
		return
	}
	action, name := r.PostForm.Get("Action"), r.PostForm.Get("RoleName")
	s.mu.Lock()
	defer s.mu.Unlock()
	s.calls = append(s.calls, action)
	if r.PostForm.Get("Version") != "2010-05-08" {
		s.fail(w, http.StatusBadRequest, "Sender", "InvalidParameterValue", "unexpected Version")
		return
	}
	ro := s.roles[name]
	switch action {
	case "GetRole", "UpdateAssumeRolePolicy":
		if ro == nil {
			s.fail(w, http.StatusNotFound, "Sender", "NoSuchEntity", fmt.Sprintf("The role with name %s cannot be found.", name))
			return
		}
	default:
		s.fail(w, http.StatusBadRequest, "Sender", "InvalidAction", "unsupported action "+action)
		return
	}
	switch action {
	case "GetRole":
		w.Header().Set("Content-Type", "text/xml")
		fmt.Fprintf(w, `<GetRoleResponse xmlns="%s"><GetRoleResult><Role>`+
			`<Path>/</Path><RoleName>%s</RoleName><RoleId>AROAFAKEFAKEFAKEFAKE</RoleId><Arn>%s</Arn>`+
			`<CreateDate>%s</CreateDate><AssumeRolePolicyDocument>%s</AssumeRolePolicyDocument><MaxSessionDuration>3600</MaxSessionDuration>`+
			`</Role></GetRoleResult><ResponseMetadata><RequestId>1d8f2f1c-0000-0000-0000-000000000001</RequestId></ResponseMetadata></GetRoleResponse>`,
			xmlns, esc(name), esc(ro.arn), time.Date(2024, 1, 2, 3, 4, 5, 0, time.UTC).Format(time.RFC3339), esc(encodePolicy(ro.policy)))
	case "UpdateAssumeRolePolicy":
		if s.DenyUpdate {
			s.fail(w, http.StatusForbidden, "Sender", "AccessDenied", "User is not authorized to perform: iam:UpdateAssumeRolePolicy")
			return
		}
		doc := r.PostForm.Get("PolicyDocument")
		if !json.Valid([]byte(doc)) {
			s.fail(w, http.StatusBadRequest, "Sender", "MalformedPolicyDocument", "This policy contains invalid Json")
			return
		}
		ro.policy = doc
		s.updates = append(s.updates, Update{RoleName: name, PolicyDocument: doc})
		w.Header().Set("Content-Type", "text/xml")
		fmt.Fprintf(w, `<UpdateAssumeRolePolicyResponse xmlns="%s"><ResponseMetadata><RequestId>1d8f2f1c-0000-0000-0000-000000000002</RequestId></ResponseMetadata></UpdateAssumeRolePolicyResponse>`, xmlns)
	}
}

// encodePolicy URL-encodes a policy the way IAM answers it (RFC 3986,
// spaces as %20).
func encodePolicy(doc string) string {
	return strings.ReplaceAll(url.QueryEscape(doc), "+", "%20")
}

func esc(s string) string {
	var b strings.Builder
	_ = xml.EscapeText(&b, []byte(s))
	return b.String()
}

func (s *Server) fail(w http.ResponseWriter, status int, typ, code, msg string) {
	w.Header().Set("Content-Type", "text/xml")
	w.WriteHeader(status)
	fmt.Fprintf(w, `<ErrorResponse xmlns="%s"><Error><Type>%s</Type><Code>%s</Code><Message>%s</Message></Error><RequestId>1d8f2f1c-0000-0000-0000-00000000000f</RequestId></ErrorResponse>`,
		xmlns, typ, code, esc(msg))
}
