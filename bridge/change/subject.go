package change

import (
	"encoding/base64"
	"fmt"
	"strings"
)

// Root is the first token of every change subject.
const Root = "jetsync"

// encodedMark starts an encoded id token. It is not a safe character, so an
// encoded token can never be mistaken for a plain one.
const encodedMark = '~'

// Subject returns "jetsync.<prefix>.<id-token>". The id token is the id when
// every character is in [A-Za-z0-9_-]; otherwise it is '~' followed by the
// unpadded base64url encoding of the id's bytes, whose alphabet is that same
// safe set. The prefix must satisfy ValidPrefix.
func Subject(prefix, id string) string {
	return Root + "." + prefix + "." + IDToken(id)
}

// Filter is the subject filter that matches every change of prefix.
func Filter(prefix string) string {
	return Root + "." + prefix + ".>"
}

// IDToken returns the subject token of id (see Subject).
func IDToken(id string) string {
	if isSafe(id) {
		return id
	}
	return string(encodedMark) + base64.RawURLEncoding.EncodeToString([]byte(id))
}

// ParseSubject returns the prefix and id of a change subject.
func ParseSubject(subject string) (prefix, id string, err error) {
	parts := strings.Split(subject, ".")
	if len(parts) != 3 || parts[0] != Root || !isSafe(parts[1]) || parts[2] == "" {
		return "", "", fmt.Errorf("%w: subject %q is not %s.<prefix>.<id-token>", ErrMalformed, subject, Root)
	}
	token := parts[2]
	if token[0] != encodedMark {
		if !isSafe(token) {
			return "", "", fmt.Errorf("%w: subject %q has an unsafe id token", ErrMalformed, subject)
		}
		return parts[1], token, nil
	}
	raw, err := base64.RawURLEncoding.DecodeString(token[1:])
	if err != nil || len(raw) == 0 {
		return "", "", fmt.Errorf("%w: subject %q has a bad encoded id token", ErrMalformed, subject)
	}
	return parts[1], string(raw), nil
}

// ValidPrefix reports whether prefix can name a key prefix: one or more of
// [A-Za-z0-9_-]. A prefix is a subject token as it is, never encoded, so that
// a subject filter on it reads as the prefix.
func ValidPrefix(prefix string) error {
	if !isSafe(prefix) {
		return fmt.Errorf("key prefix %q: use only letters, digits, '_' and '-'", prefix)
	}
	return nil
}

func isSafe(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '-') {
			return false
		}
	}
	return true
}

// ValidReplyToken reports whether token may name a write-through answer:
// 1 to 64 letters, digits, _ and - (so jetsync-reply.<token> is one subject
// token). A function answers no other; jetsync_write_through refuses them.
func ValidReplyToken(token string) bool {
	if len(token) == 0 || len(token) > 64 {
		return false
	}
	for _, r := range token {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '_' || r == '-') {
			return false
		}
	}
	return true
}

// EpochSubject is the subject of the epoch markers of a lease. Its second
// token is not a valid prefix, so no function's filter matches it.
func EpochSubject(lease string) string { return Root + ".$epoch." + lease }
