package trustpolicy

import (
	"bytes"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
)

// Policy documents are handled as generic JSON (map[string]any, []any,
// string, json.Number, bool, nil) so every field this package does not know
// about survives a round trip unchanged.

// parseJSON decodes one JSON value, keeping numbers as written.
func parseJSON(doc string) (any, error) {
	dec := json.NewDecoder(strings.NewReader(doc))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, err
	}
	if dec.More() {
		return nil, fmt.Errorf("trailing data after the JSON document")
	}
	return v, nil
}

// keyOrder puts the well-known policy keys first, in the order AWS documents
// them, so printed documents and diffs read naturally; other keys follow in
// lexical order.
var keyOrder = []string{
	"Version", "Id", "Statement",
	"Sid", "Effect", "Principal", "NotPrincipal", "Action", "NotAction", "Resource", "NotResource", "Condition",
}

func orderedKeys(m map[string]any) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	rank := func(k string) int {
		if i := slices.Index(keyOrder, k); i >= 0 {
			return i
		}
		return len(keyOrder)
	}
	slices.SortFunc(keys, func(a, b string) int {
		if ra, rb := rank(a), rank(b); ra != rb {
			return ra - rb
		}
		return strings.Compare(a, b)
	})
	return keys
}

// encode writes v as JSON; indent "" is compact, anything else pretty.
func encode(v any, indent string) []byte {
	var b bytes.Buffer
	writeJSON(&b, v, indent, "")
	if indent != "" {
		b.WriteByte('\n')
	}
	return b.Bytes()
}

func writeJSON(b *bytes.Buffer, v any, indent, prefix string) {
	nl := func(p string) {
		if indent != "" {
			b.WriteByte('\n')
			b.WriteString(p)
		}
	}
	sep := ":"
	if indent != "" {
		sep = ": "
	}
	switch x := v.(type) {
	case map[string]any:
		if len(x) == 0 {
			b.WriteString("{}")
			return
		}
		b.WriteByte('{')
		for i, k := range orderedKeys(x) {
			if i > 0 {
				b.WriteByte(',')
			}
			nl(prefix + indent)
			writeScalar(b, k)
			b.WriteString(sep)
			writeJSON(b, x[k], indent, prefix+indent)
		}
		nl(prefix)
		b.WriteByte('}')
	case []any:
		if len(x) == 0 {
			b.WriteString("[]")
			return
		}
		b.WriteByte('[')
		for i, e := range x {
			if i > 0 {
				b.WriteByte(',')
			}
			nl(prefix + indent)
			writeJSON(b, e, indent, prefix+indent)
		}
		nl(prefix)
		b.WriteByte(']')
	default:
		writeScalar(b, x)
	}
}

func writeScalar(b *bytes.Buffer, v any) {
	enc := json.NewEncoder(b)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(v)       // strings, json.Number, bool, nil cannot fail
	b.Truncate(b.Len() - 1) // Encode's newline
}

// strings returns a JSON string or array of strings as a slice; ok is false
// for anything else (absent: nil, true).
func stringList(v any) (list []string, ok bool) {
	switch x := v.(type) {
	case nil:
		return nil, true
	case string:
		return []string{x}, true
	case []any:
		for _, e := range x {
			s, isStr := e.(string)
			if !isStr {
				return nil, false
			}
			list = append(list, s)
		}
		return list, true
	}
	return nil, false
}
