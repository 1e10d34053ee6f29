package onboard

import (
	"cmp"
	"context"
	"fmt"
	"log/slog"
	"math"
	"reflect"
	"slices"
	"strings"
	"unicode/utf8"
)

// Every output of a run has a bound (README, "Report"): a Lambda answer is
// at most 6 MB (Lambda quotas, "Invocation payload"), a CloudFormation
// response 4 KB, an SNS message 256 KB, and a tenant can have tens of
// thousands of registries that all fail for one cause. The outputs made for
// a person or a protocol show counts always and the first entries of each
// list (Bounded); the whole report goes where volume is expected: the CLI's
// --json, and in Lambda the function's log, one line per entry (Log).
const (
	// ListBound is how many entries of each list a bounded output shows.
	ListBound = 20
	// TextBound is the most bytes any one text takes in a bounded output,
	// as JSON encodes it (escapes counted): no hint or reason of this tool
	// comes near it; an API error message that echoes a whole body may.
	TextBound = 2000
	// LogTextBound is the most bytes any one text takes in a line of the
	// logged report: a whole entry stays far under CloudWatch Logs' 256 KB
	// event limit (PutLogEvents, "Each log event can be no larger than 256
	// KB"; larger ones are cut, and are no longer JSON).
	LogTextBound = 16 << 10
)

// Bounded returns a copy of r for an output with a size limit: every list
// in it — a slice or map at any depth, present and future fields alike — is
// cut to its first n entries (a map: its first n keys in order), and every
// text to TextBound bytes of JSON. Truncated says, by each cut list's JSON
// path ("registries.failed"), how many entries were left out, so counts stay
// exact (Failures, Changed and Balanced count them). A field tagged
// `bound:"-"` is copied as it is. r is not changed.
//
// Its JSON size is bounded by the report's shape alone, whatever a run
// found: TestBoundedWorstCase measures it with every list overfull and every
// text at its bound.
func (r Report) Bounded(n int) Report {
	left := map[string]int{}
	out := bound(reflect.ValueOf(r), "", n, TextBound, left).Interface().(Report)
	for path, more := range r.Truncated { // a copy of a bounded report keeps counting what it left out
		left[path] += more
	}
	out.Truncated = nil
	if len(left) > 0 {
		out.Truncated = left
	}
	return out
}

// bound copies v with its lists cut to n entries and its texts to text
// bytes of JSON, adding what it leaves out of each list to left by path.
func bound(v reflect.Value, path string, n, text int, left map[string]int) reflect.Value {
	switch v.Kind() {
	case reflect.String:
		if s := v.String(); jsonLen(s) > text {
			out := reflect.New(v.Type()).Elem()
			out.SetString(cutText(s, text))
			return out
		}
	case reflect.Pointer, reflect.Interface:
		if v.IsNil() {
			return v
		}
		inner := bound(v.Elem(), path, n, text, left)
		if v.Kind() == reflect.Interface {
			out := reflect.New(v.Type()).Elem()
			out.Set(inner)
			return out
		}
		out := reflect.New(v.Type().Elem())
		out.Elem().Set(inner)
		return out
	case reflect.Struct:
		out := reflect.New(v.Type()).Elem()
		out.Set(v) // unexported fields (time.Time's) as they are
		for i := range v.NumField() {
			f := v.Type().Field(i)
			if !f.IsExported() || f.Tag.Get("bound") == "-" {
				continue
			}
			out.Field(i).Set(bound(v.Field(i), fieldPath(path, f), n, text, left))
		}
		return out
	case reflect.Slice:
		if v.IsNil() {
			return v
		}
		k := min(v.Len(), n)
		if more := v.Len() - k; more > 0 {
			left[path] += more
		}
		out := reflect.MakeSlice(v.Type(), k, k)
		for i := range k {
			out.Index(i).Set(bound(v.Index(i), path+"[]", n, text, left))
		}
		return out
	case reflect.Map:
		if v.IsNil() {
			return v
		}
		keys := sortedKeys(v)
		k := min(len(keys), n)
		if more := len(keys) - k; more > 0 {
			left[path] += more
		}
		out := reflect.MakeMapWithSize(v.Type(), k)
		for _, key := range keys[:k] {
			bk, bv := bound(key, path, n, text, left), bound(v.MapIndex(key), path+"{}", n, text, left)
			if prev := out.MapIndex(bk); prev.IsValid() && bv.CanInt() { // two keys cut to one text: their counts add up
				sum := reflect.New(bv.Type()).Elem()
				sum.SetInt(prev.Int() + bv.Int())
				bv = sum
			}
			out.SetMapIndex(bk, bv)
		}
		return out
	}
	return v
}

// fieldPath is the JSON path of field f of the value at path: its JSON name
// (an embedded struct without one adds nothing).
func fieldPath(path string, f reflect.StructField) string {
	name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
	switch {
	case name == "" && f.Anonymous:
		return path
	case name == "":
		name = f.Name
	}
	if path == "" {
		return name
	}
	return path + "." + name
}

func sortedKeys(m reflect.Value) []reflect.Value {
	keys := m.MapKeys()
	slices.SortFunc(keys, func(a, b reflect.Value) int { return cmp.Compare(fmt.Sprint(a.Interface()), fmt.Sprint(b.Interface())) })
	return keys
}

// ellipsis ends a text cut short.
const ellipsis = "…"

// cutText is s if its JSON encoding takes at most max bytes, else its
// longest prefix that, with an ellipsis, does.
func cutText(s string, max int) string {
	if jsonLen(s) <= max {
		return s
	}
	budget, used := max-len(ellipsis), 0
	for i, r := range s {
		w := runeJSONLen(r, s[i:])
		if used+w > budget {
			return s[:i] + ellipsis
		}
		used += w
	}
	return s
}

// jsonLen is how many bytes s takes inside a JSON string as encoding/json
// writes it (HTML characters escaped, as json.Marshal and log/slog do), at
// most: a control character counts as a six-byte \u escape.
func jsonLen(s string) int {
	n := 0
	for i, r := range s {
		n += runeJSONLen(r, s[i:])
	}
	return n
}

// runeJSONLen is the JSON length of rune r, the first of rest.
func runeJSONLen(r rune, rest string) int {
	switch {
	case r == utf8.RuneError:
		if _, size := utf8.DecodeRuneInString(rest); size == 1 {
			return 6 // an invalid byte: \ufffd
		}
		return 3
	case r == '"' || r == '\\' || r == '\n' || r == '\r' || r == '\t':
		return 2
	case r < 0x20 || r == '<' || r == '>' || r == '&' || r == '\u2028' || r == '\u2029':
		return 6
	}
	return utf8.RuneLen(r)
}

// Log writes the whole of r to log, for where volume is expected (the
// Lambda function's CloudWatch log group): one line "report" with r's counts
// and coverage (r.Bounded(0): every list empty, Truncated counting its
// entries), then one line "report entry" per entry of every list, carrying
// the list's JSON path, the entry's index and the entry, its texts cut at
// LogTextBound. One entry a line keeps every line a few kilobytes and a
// dozen fields, far under CloudWatch Logs' 256 KB event and the 200 fields
// Logs Insights reads from a JSON event, and makes the entries a table to
// query: filter list = "registries.failed" | stats count() by
// entry.account_id. A map's entries are {"key", "value"}, in key order.
func (r Report) Log(ctx context.Context, log *slog.Logger) {
	if !log.Enabled(ctx, slog.LevelInfo) {
		return
	}
	log.LogAttrs(ctx, slog.LevelInfo, "report", slog.Any("report", r.Bounded(0)))
	lists(reflect.ValueOf(r), "", func(path string, i int, entry reflect.Value) {
		e := bound(entry, path, math.MaxInt, LogTextBound, map[string]int{}).Interface()
		log.LogAttrs(ctx, slog.LevelInfo, "report entry", slog.String("list", path), slog.Int("index", i), slog.Any("entry", e))
	})
}

// mapEntry is an entry of a map in the logged report.
type mapEntry struct {
	Key   any `json:"key"`
	Value any `json:"value"`
}

// lists calls each with every entry of every list in v, by the list's JSON
// path; the entries' own lists are part of them.
func lists(v reflect.Value, path string, each func(path string, i int, entry reflect.Value)) {
	switch v.Kind() {
	case reflect.Pointer, reflect.Interface:
		if !v.IsNil() {
			lists(v.Elem(), path, each)
		}
	case reflect.Struct:
		for i := range v.NumField() {
			if f := v.Type().Field(i); f.IsExported() && f.Tag.Get("bound") != "-" {
				lists(v.Field(i), fieldPath(path, f), each)
			}
		}
	case reflect.Slice:
		for i := range v.Len() {
			each(path, i, v.Index(i))
		}
	case reflect.Map:
		for i, k := range sortedKeys(v) {
			each(path, i, reflect.ValueOf(mapEntry{Key: k.Interface(), Value: v.MapIndex(k).Interface()}))
		}
	}
}
