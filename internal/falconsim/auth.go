package falconsim

import (
	"crypto/rand"
	"encoding/hex"
	"math"
	"net/http"
	"strings"
	"time"

	"github.com/crowdstrike/gofalcon/falcon/models"
)

// handleToken implements POST /oauth2/token (client credentials in the form
// body, or HTTP Basic auth as golang.org/x/oauth2 may send).
func (s *Sim) handleToken(rc *reqCtx, r *http.Request) reply {
	if err := r.ParseForm(); err != nil {
		return errReply(rc, http.StatusBadRequest, "invalid form body")
	}
	id, secret := r.PostForm.Get("client_id"), r.PostForm.Get("client_secret")
	if u, p, ok := r.BasicAuth(); ok && id == "" {
		id, secret = u, p
	}
	if id == "" || secret == "" {
		return errReply(rc, http.StatusBadRequest, "client_id and client_secret are required")
	}
	var b [32]byte
	_, _ = rand.Read(b[:])
	tok := hex.EncodeToString(b[:])
	now := time.Now()
	s.mu.Lock()
	if id != s.opts.ClientID || secret != s.secret {
		s.mu.Unlock()
		return errReply(rc, http.StatusUnauthorized, "access denied, invalid bearer token")
	}
	for t, exp := range s.tokens {
		if !now.Before(exp) {
			delete(s.tokens, t)
		}
	}
	s.tokens[tok] = now.Add(s.opts.TokenTTL)
	s.mu.Unlock()

	rep := reply{status: http.StatusCreated, body: &models.DomainAccessTokenResponseV1{
		AccessToken: tok,
		TokenType:   "bearer",
		ExpiresIn:   int64(math.Max(1, math.Ceil(s.opts.TokenTTL.Seconds()))),
	}}
	rep.setHeader(hdrRegion, s.opts.Region)
	return rep
}

// authorized reports whether r carries a valid, unexpired bearer token.
func (s *Sim) authorized(r *http.Request) bool {
	h := r.Header.Get("Authorization")
	if len(h) < 7 || !strings.EqualFold(h[:7], "bearer ") {
		return false
	}
	tok := strings.TrimSpace(h[7:])
	s.mu.Lock()
	defer s.mu.Unlock()
	exp, ok := s.tokens[tok]
	return ok && time.Now().Before(exp)
}

// ExpireTokens makes every token issued so far expire now, so the next
// request using one gets 401. Clients must fetch a new token.
func (s *Sim) ExpireTokens() {
	now := time.Now()
	s.mu.Lock()
	defer s.mu.Unlock()
	for t := range s.tokens {
		s.tokens[t] = now
	}
}

// SetClientSecret replaces the API client's secret, as resetting it in
// Falcon does: from now on the old secret is refused at /oauth2/token (401)
// and every token issued so far stops working (401), so a client must come
// back with the new secret. Revoking the tokens too is the stricter of the
// two behaviours a client may meet (the other: old tokens live on until
// they expire, and only the next token request is refused); a client that
// survives this one survives both.
func (s *Sim) SetClientSecret(secret string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.secret = secret
	clear(s.tokens)
}
