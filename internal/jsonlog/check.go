package jsonlog

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
)

// RepeatedKeys returns the keys that occur more than once in one object of
// a JSON value (a log line), as dotted paths ("data.x"; array elements as
// "[i]"), in the order they repeat. It walks the tokens instead of decoding
// into a map, which would silently keep one of the values: exactly the
// fault it is there to find. An error says the line is not one JSON value.
func RepeatedKeys(line []byte) ([]string, error) {
	dec := json.NewDecoder(bytes.NewReader(line))
	dec.UseNumber()
	var repeated []string
	if err := walk(dec, "", &repeated); err != nil {
		return nil, err
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return nil, errors.New("trailing data after the JSON value")
	}
	return repeated, nil
}

// walk reads one value; path names it.
func walk(dec *json.Decoder, path string, repeated *[]string) error {
	tok, err := dec.Token()
	if err != nil {
		return err
	}
	switch tok {
	case json.Delim('{'):
		seen := map[string]bool{}
		for dec.More() {
			k, err := dec.Token()
			if err != nil {
				return err
			}
			key, _ := k.(string)
			sub := key
			if path != "" {
				sub = path + "." + key
			}
			if seen[key] {
				*repeated = append(*repeated, sub)
			}
			seen[key] = true
			if err := walk(dec, sub, repeated); err != nil {
				return err
			}
		}
		_, err = dec.Token() // '}'
		return err
	case json.Delim('['):
		for i := 0; dec.More(); i++ {
			if err := walk(dec, fmt.Sprintf("%s[%d]", path, i), repeated); err != nil {
				return err
			}
		}
		_, err = dec.Token() // ']'
		return err
	}
	return nil
}

// CheckLines applies RepeatedKeys to every non-empty line of output and
// describes each line that repeats a key or is not JSON ("" when all are
// well). For tests of everything that logs.
func CheckLines(output string) string {
	var out strings.Builder
	for _, line := range strings.Split(output, "\n") {
		if strings.TrimSpace(line) == "" {
			continue
		}
		keys, err := RepeatedKeys([]byte(line))
		switch {
		case err != nil:
			fmt.Fprintf(&out, "not a JSON line (%v): %s\n", err, line)
		case len(keys) > 0:
			fmt.Fprintf(&out, "repeated key(s) %s: %s\n", strings.Join(keys, ", "), line)
		}
	}
	return out.String()
}
