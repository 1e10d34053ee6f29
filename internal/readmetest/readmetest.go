// Package readmetest reads the commands of README.md's path — everything
// before its "Reference" heading, what a newcomer runs in order — for the
// tests that hold each of them to what it calls (internal/deploytest: make,
// aws and the repository's scripts; cmd/ecr-onboard: bin/ecr-onboard).
package readmetest

import (
	"bytes"
	"fmt"
	"os"
	"regexp"
	"strings"

	"mvdan.cc/sh/v3/syntax"
)

// ReferenceHeading starts the part of the README that is reference, not
// path.
const ReferenceHeading = "\n## Reference\n"

// Command is one simple command of a shell block of the path: its words as
// written (quotes and expansions kept, "$BUCKET" stays "$BUCKET"), and the
// README line it starts on.
type Command struct {
	Args []string
	Line int
}

func (c Command) String() string {
	return fmt.Sprintf("README.md:%d: %s", c.Line, strings.Join(c.Args, " "))
}

// Program is the command's first word.
func (c Command) Program() string { return c.Args[0] }

var shBlock = regexp.MustCompile("(?s)```sh\n(.*?)```")

// PathCommands returns every command of the shell blocks (```sh) of the
// README at path, before ReferenceHeading: those of pipelines, lists and
// command substitutions included (ORG_ID=$(aws …) yields the aws command).
// A block that does not parse as shell is an error.
func PathCommands(path string) ([]Command, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	text := string(b)
	end := strings.Index(text, ReferenceHeading)
	if end < 0 {
		return nil, fmt.Errorf("%s has no %q heading", path, strings.TrimSpace(ReferenceHeading))
	}
	text = text[:end]
	var out []Command
	for _, m := range shBlock.FindAllStringSubmatchIndex(text, -1) {
		first := strings.Count(text[:m[2]], "\n") + 1
		f, err := syntax.NewParser().Parse(strings.NewReader(text[m[2]:m[3]]), "")
		if err != nil {
			return nil, fmt.Errorf("README.md:%d: a shell block that does not parse: %w", first, err)
		}
		printer := syntax.NewPrinter()
		syntax.Walk(f, func(n syntax.Node) bool {
			call, ok := n.(*syntax.CallExpr)
			if !ok || len(call.Args) == 0 {
				return true
			}
			c := Command{Line: first + int(call.Pos().Line()) - 1}
			for _, w := range call.Args {
				var buf bytes.Buffer
				_ = printer.Print(&buf, w)
				c.Args = append(c.Args, buf.String())
			}
			out = append(out, c)
			return true
		})
	}
	return out, nil
}

// Unquote is a word without its shell quotes: "a b" and 'a b' are a b.
// Expansions stay as written.
func Unquote(word string) string {
	var b strings.Builder
	var quote rune
	for _, r := range word {
		switch {
		case quote == 0 && (r == '"' || r == '\''):
			quote = r
		case r == quote:
			quote = 0
		default:
			b.WriteRune(r)
		}
	}
	return b.String()
}
