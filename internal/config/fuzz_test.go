package config

import (
	"errors"
	"testing"
)

func FuzzLoad(f *testing.F) {
	f.Add("REGIONS", "us-east-1, eu-west-1")
	f.Add("MAX_CONCURRENCY", "8")
	f.Add("FALCON_BASE_URL", "https://127.0.0.1:8443")
	f.Add("ACCOUNT_IDS", "111111111111,")
	f.Fuzz(func(t *testing.T, name, value string) {
		c, err := Load(func(k string) string {
			if k == name {
				return value
			}
			return ""
		})
		if err != nil {
			var cerr *Error
			if !errors.As(err, &cerr) || cerr.Var == "" {
				t.Fatalf("error does not name a variable: %v", err)
			}
			return
		}
		if c.MaxConcurrency < 1 || c.MaxConcurrency > MaxConcurrencyLimit || c.AliasPrefix == "" || c.Cloud == "" {
			t.Fatalf("invalid config accepted: %+v", c)
		}
	})
}
