package falconsim

import (
	"crypto/rand"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"time"

	"github.com/crowdstrike/gofalcon/falcon/models"
)

// API paths served by the simulator.
const (
	pathToken            = "/oauth2/token"
	pathQueryAccounts    = "/cloud-security-registration-aws/queries/account/v1"
	pathAccountEntities  = "/cloud-security-registration-aws/entities/account/v1"
	pathQueryRegistries  = "/container-security/queries/registries/v1"
	pathRegistryEntities = "/container-security/entities/registries/v1"
	pathQueryAssets      = "/cloud-security-assets/queries/resources/v1"
	pathAssetEntities    = "/cloud-security-assets/entities/resources/v1"
)

// Response header names.
const (
	hdrLimit      = "X-Ratelimit-Limit"
	hdrRemaining  = "X-Ratelimit-Remaining"
	hdrRetryAfter = "X-RateLimit-RetryAfter"
	hdrRegion     = "X-Cs-Region"
	hdrTraceID    = "X-Cs-Traceid"
)

// reqCtx carries per-request values used to build meta.
type reqCtx struct {
	start   time.Time
	traceID string
}

func newReqCtx() *reqCtx { return &reqCtx{start: time.Now(), traceID: newUUID()} }

// meta returns a fresh MsaMetaInfo with the required query_time and trace_id.
func (rc *reqCtx) meta() *models.MsaMetaInfo {
	qt := time.Since(rc.start).Seconds()
	tid := rc.traceID
	return &models.MsaMetaInfo{QueryTime: &qt, TraceID: &tid, PoweredBy: "falconsim"}
}

// pagedMeta is meta with pagination.
func (rc *reqCtx) pagedMeta(limit, offset, total int) *models.MsaMetaInfo {
	m := rc.meta()
	l, o, t := int32(limit), int32(offset), int64(total)
	m.Pagination = &models.MsaPaging{Limit: &l, Offset: &o, Total: &t}
	return m
}

// reply is what a handler produces; ServeHTTP encodes it.
type reply struct {
	status int
	body   any    // JSON-encoded unless raw is set
	raw    []byte // sent verbatim when non-nil
	header http.Header
}

func (r *reply) setHeader(k, v string) {
	if r.header == nil {
		r.header = http.Header{}
	}
	r.header.Set(k, v)
}

func apiErr(code int, msg string) *models.MsaAPIError {
	c := int32(code)
	return &models.MsaAPIError{Code: &c, Message: &msg}
}

// errReply is a meta-only error body, shape-compatible with
// MsaReplyMetaOnly and MsaspecResponseFields.
func errReply(rc *reqCtx, status int, msg string) reply {
	return reply{status: status, body: &models.MsaReplyMetaOnly{
		Meta:   rc.meta(),
		Errors: []*models.MsaAPIError{apiErr(status, msg)},
	}}
}

func (s *Sim) write(w http.ResponseWriter, rc *reqCtx, rep reply, rl rateResult) {
	h := w.Header()
	for k, vs := range rep.header {
		h[k] = vs
	}
	h.Set("Content-Type", "application/json")
	h.Set(hdrTraceID, rc.traceID)
	h.Set(hdrLimit, itoa(int64(rl.limit)))
	h.Set(hdrRemaining, itoa(int64(rl.remaining)))
	body := rep.raw
	if body == nil {
		var err error
		body, err = json.Marshal(rep.body)
		if err != nil {
			rep.status = http.StatusInternalServerError
			body = []byte(`{"meta":{"query_time":0,"trace_id":"` + rc.traceID + `"},"errors":[{"code":500,"message":"encode failure"}]}`)
		}
	}
	w.WriteHeader(rep.status)
	_, _ = w.Write(body)
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }

// newUUID returns a random RFC 4122 version 4 UUID.
func newUUID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
}

func ptr[T any](v T) *T { return &v }
