package change_test

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/jetsync/jetsync/bridge/change"
)

func TestSubjectRoundTrip(t *testing.T) {
	tests := []struct {
		name, id, token string
	}{
		{"plain", "5", "5"},
		{"word", "abc_DEF-9", "abc_DEF-9"},
		{"dot", "a.b", ""},
		{"star", "*", ""},
		{"gt", ">", ""},
		{"space", "john smith", ""},
		{"unicode", "Łódź", ""},
		{"colon", "x:y:z", ""},
		{"tilde", "~abc", ""},
		{"looks encoded", "~YQ", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			subj := change.Subject("person", tt.id)
			if tt.token != "" && subj != "jetsync.person."+tt.token {
				t.Fatalf("Subject = %q, want token %q", subj, tt.token)
			}
			tokens := strings.Split(subj, ".")
			if len(tokens) != 3 {
				t.Fatalf("Subject %q has %d tokens, want 3", subj, len(tokens))
			}
			if strings.ContainsAny(tokens[2], "*> \t") {
				t.Fatalf("id token %q is not a safe subject token", tokens[2])
			}
			prefix, id, err := change.ParseSubject(subj)
			if err != nil {
				t.Fatal(err)
			}
			if prefix != "person" || id != tt.id {
				t.Fatalf("ParseSubject(%q) = %q, %q; want person, %q", subj, prefix, id, tt.id)
			}
		})
	}
}

func TestParseSubjectRejects(t *testing.T) {
	for _, subj := range []string{"", "jetsync", "jetsync.person", "other.person.5", "jetsync.person.a.b", "jetsync.person.~", "jetsync.person.~!!", "jetsync.pe rson.5"} {
		t.Run(subj, func(t *testing.T) {
			if _, _, err := change.ParseSubject(subj); !errors.Is(err, change.ErrMalformed) {
				t.Fatalf("ParseSubject(%q) error = %v, want ErrMalformed", subj, err)
			}
		})
	}
}

func TestValidPrefix(t *testing.T) {
	for _, tt := range []struct {
		prefix string
		ok     bool
	}{{"person", true}, {"car_2-x", true}, {"", false}, {"a.b", false}, {"a:b", false}, {"*", false}, {"ą", false}} {
		if err := change.ValidPrefix(tt.prefix); (err == nil) != tt.ok {
			t.Errorf("ValidPrefix(%q) = %v, want ok=%v", tt.prefix, err, tt.ok)
		}
	}
}

func TestSplitKey(t *testing.T) {
	tests := []struct {
		key, prefix, id string
		err             error
	}{
		{"person:5", "person", "5", nil},
		{"person:a:b", "person", "a:b", nil},
		{"person:", "", "", change.ErrMissingID},
		{"person", "", "", change.ErrMalformed},
		{":5", "", "", change.ErrMalformed},
	}
	for _, tt := range tests {
		t.Run(tt.key, func(t *testing.T) {
			prefix, id, err := change.SplitKey(tt.key)
			if !errors.Is(err, tt.err) || prefix != tt.prefix || id != tt.id {
				t.Fatalf("SplitKey(%q) = %q, %q, %v; want %q, %q, %v", tt.key, prefix, id, err, tt.prefix, tt.id, tt.err)
			}
		})
	}
}

func TestDecode(t *testing.T) {
	good, err := change.New("person:5", change.Upsert, map[string]string{"age": "27"}, time.Unix(1, 0).UTC())
	if err != nil {
		t.Fatal(err)
	}
	body, err := good.Encode()
	if err != nil {
		t.Fatal(err)
	}
	got, err := change.Decode(body)
	if err != nil {
		t.Fatal(err)
	}
	if got.Key != "person:5" || got.ID != "5" || got.Fields["age"] != "27" || !got.Seen.Equal(good.Seen) {
		t.Fatalf("Decode = %+v, want %+v", got, good)
	}

	tests := []struct {
		name, body string
		err        error
	}{
		{"not json", `{`, change.ErrMalformed},
		{"version 2", `{"v":2,"key":"person:5","prefix":"person","id":"5","op":"upsert"}`, change.ErrUnknownVersion},
		{"no version", `{"key":"person:5","prefix":"person","id":"5","op":"upsert"}`, change.ErrUnknownVersion},
		{"no id", `{"v":1,"key":"person:","prefix":"person","id":"","op":"upsert"}`, change.ErrMissingID},
		{"bad op", `{"v":1,"key":"person:5","prefix":"person","id":"5","op":"merge"}`, change.ErrMalformed},
		{"key mismatch", `{"v":1,"key":"person:6","prefix":"person","id":"5","op":"delete"}`, change.ErrMalformed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := change.Decode([]byte(tt.body)); !errors.Is(err, tt.err) {
				t.Fatalf("Decode error = %v, want %v", err, tt.err)
			}
		})
	}
}

func ExampleSubject() {
	fmt.Println(change.Subject("person", "5"))
	fmt.Println(change.Subject("person", "jane.doe@example.com"))
	_, id, _ := change.ParseSubject(change.Subject("person", "jane.doe@example.com"))
	fmt.Println(id)
	fmt.Println(change.Filter("person"))
	// Output:
	// jetsync.person.5
	// jetsync.person.~amFuZS5kb2VAZXhhbXBsZS5jb20
	// jane.doe@example.com
	// jetsync.person.>
}

func ExampleChange_Encode() {
	c, _ := change.New("person:5", change.Upsert, map[string]string{"first_name": "Marek", "age": "27"}, time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC))
	body, _ := c.Encode()
	fmt.Println(string(body))
	// Output:
	// {"v":1,"key":"person:5","prefix":"person","id":"5","op":"upsert","fields":{"age":"27","first_name":"Marek"},"seen":"2026-11-26T12:00:00Z"}
}

func ExampleValidReplyToken() {
	for _, token := range []string{"tok-42", "a.b", "", strings.Repeat("x", 65)} {
		fmt.Printf("%q %v\n", token, change.ValidReplyToken(token))
	}
	fmt.Println(change.EpochSubject("persons"))
	// Output:
	// "tok-42" true
	// "a.b" false
	// "" false
	// "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx" false
	// jetsync.$epoch.persons
}

func TestDeadLetterHeaders(t *testing.T) {
	d := change.DeadLetter{Function: "persons", Version: "2", Reason: "column age: not a number", Subject: "jetsync.person.1",
		StreamSeq: 9, OriginalSeq: 7, Delivered: 3, Time: time.Date(2026, 12, 2, 10, 0, 0, 5, time.UTC)}
	h := nats.Header{}
	d.SetHeaders(h)
	if h.Get(change.HeaderErrorClass) != "permanent" || h.Get(change.HeaderKey) != "" {
		t.Fatalf("headers %v", h)
	}
	if got := change.ParseDeadLetter(h); got != d {
		t.Fatalf("read back %+v, wrote %+v", got, d)
	}
	if d.Order() != 7 {
		t.Fatalf("order %d, want the original 7", d.Order())
	}
	d.OriginalSeq = 0
	if d.Order() != 9 {
		t.Fatalf("order %d, want the stream's 9", d.Order())
	}
}
