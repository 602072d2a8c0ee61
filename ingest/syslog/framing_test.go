package syslog

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"strings"
	"testing"
	"testing/iotest"
)

// readAll runs a frameReader over in and describes each result: "msg"
// for a message, "!reason:msg" for a frame error, then the final error.
func readAll(in string, maxBytes int) []string {
	f := newFrameReader(strings.NewReader(in), maxBytes)
	var out []string
	for range len(in) + 2 {
		rec, err := f.next()
		var fe *frameError
		switch {
		case err == nil:
			out = append(out, string(rec))
		case errors.As(err, &fe):
			s := "!" + fe.reason + ":" + string(rec)
			if fe.fatal {
				s += " (fatal)"
			}
			out = append(out, s)
		default:
			return append(out, "end: "+err.Error())
		}
	}
	return append(out, "did not end")
}

func TestFrameReader(t *testing.T) {
	cases := []struct {
		name string
		in   string
		max  int
		want []string
	}{
		{"lf", "<13>a\n<13>b\n", 100, []string{"<13>a", "<13>b", "end: EOF"}},
		{"crlf and blank lines", "<13>a\r\n\r\n\n<13>b\r\n", 100, []string{"<13>a\r", "<13>b\r", "end: EOF"}},
		{"unterminated last line", "<13>a\n<13>b", 100, []string{"<13>a", "<13>b", "end: EOF"}},
		{"empty stream", "", 100, []string{"end: EOF"}},
		{"lf too large, then more", "<13>0123456789\n<13>ok\n", 8, []string{"!record_too_large:<13>0123", "<13>ok", "end: EOF"}},
		{"lf exactly max", "<13>4567\n", 8, []string{"<13>4567", "end: EOF"}},
		{"lf unterminated too large", "<13>0123456789", 8, []string{"!record_too_large:<13>0123", "end: EOF"}},
		{"octet", "5 <13>a6 <13>bc", 100, []string{"<13>a", "<13>bc", "end: EOF"}},
		{"octet with line ends between", "5 <13>a\n6 <13>bc\r\n", 100, []string{"<13>a", "<13>bc", "end: EOF"}},
		{"octet keeps inner newlines", "9 <13>a\nb\nc", 100, []string{"<13>a\nb\nc", "end: EOF"}},
		{"octet too large, then more", "14 <13>0123456789" + "5 <13>x", 8, []string{"!record_too_large:<13>0123", "<13>x", "end: EOF"}},
		{"octet truncated", "20 <13>short", 100, []string{"!bad_record:<13>short (fatal)", "end: EOF"}},
		{"octet truncated in length", "12", 100, []string{"!bad_record:12 (fatal)", "end: EOF"}},
		{"octet truncated while skipping", "30 <13>0123456789", 8, []string{"!bad_record:<13>0123 (fatal)", "end: EOF"}},
		{"octet no space", "5 <13>a5x<13>b\nnext", 100, []string{"<13>a", "!bad_record:5x<13>b (fatal)", "end: EOF"}},
		{"octet not a length", "5 <13>a<13>b\n", 100, []string{"<13>a", "!bad_record:<13>b (fatal)", "end: EOF"}},
		{"octet zero length", "5 <13>a0 ", 100, []string{"<13>a", "!bad_record:0 (fatal)", "end: EOF"}},
		{"octet length too long", "5 <13>a12345678901 x", 100, []string{"<13>a", "!bad_record:12345678901 (fatal)", "end: EOF"}},
		{"octet huge length skipped", "9999999999 <13>", 8, []string{"!bad_record:<13> (fatal)", "end: EOF"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got := readAll(c.in, c.max)
			if fmt.Sprint(got) != fmt.Sprint(c.want) {
				t.Errorf("got  %q\nwant %q", got, c.want)
			}
		})
	}
}

// TestFrameReaderSlowStream feeds the stream one byte per read, as a
// slow sender would.
func TestFrameReaderSlowStream(t *testing.T) {
	in := "5 <13>a\n" + "14 <13>0123456789" + "6 <13>bc"
	f := newFrameReader(iotest.OneByteReader(strings.NewReader(in)), 8)
	var got []string
	for {
		rec, err := f.next()
		var fe *frameError
		if err != nil && (!errors.As(err, &fe) || fe.reason != ReasonTooLarge) {
			if !errors.Is(err, io.EOF) {
				t.Fatal(err)
			}
			break
		}
		got = append(got, string(rec))
	}
	if want := []string{"<13>a", "<13>0123", "<13>bc"}; fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("got %q, want %q", got, want)
	}
}

// FuzzFrameReader feeds arbitrary streams (no panic, bounded records, an
// end) and checks that framed messages come back as they were sent.
func FuzzFrameReader(f *testing.F) {
	f.Add([]byte("5 <13>a6 <13>bc"), uint16(100))
	f.Add([]byte("<13>a\r\n\n<13>b"), uint16(4))
	f.Add([]byte("14 <13>0123456789\n5 <13>x"), uint16(8))
	f.Add([]byte("9999999999 x"), uint16(1))
	f.Fuzz(func(t *testing.T, data []byte, max16 uint16) {
		maxBytes := int(max16%2048) + 1
		// Arbitrary input ends, and no record passes the cap.
		fr := newFrameReader(bytes.NewReader(data), maxBytes)
		for i := 0; ; i++ {
			if i > len(data)+1 {
				t.Fatalf("no end after %d records", i)
			}
			rec, err := fr.next()
			if len(rec) > max(maxBytes, maxLengthDigits+1) { // a bad header is kept whole
				t.Fatalf("record of %d bytes over the cap %d", len(rec), maxBytes)
			}
			var fe *frameError
			if err != nil && !errors.As(err, &fe) {
				break
			}
		}
		// Round trip: the bytes split at 0xFF are the messages.
		var msgs [][]byte
		for m := range bytes.SplitSeq(data, []byte{0xFF}) {
			if len(m) > 0 && len(m) <= maxBytes {
				msgs = append(msgs, m)
			}
		}
		var octet, lines bytes.Buffer
		var lineMsgs [][]byte
		for _, m := range msgs {
			fmt.Fprintf(&octet, "%d %s", len(m), m)
			if !bytes.ContainsAny(m, "\n") && len(trimEnd(m)) > 0 {
				lines.Write(m)
				lines.WriteByte('\n')
				lineMsgs = append(lineMsgs, m)
			}
		}
		check := func(name string, stream []byte, want [][]byte) {
			fr := newFrameReader(bytes.NewReader(stream), maxBytes)
			for i, m := range want {
				rec, err := fr.next()
				if err != nil || !bytes.Equal(rec, m) {
					t.Fatalf("%s message %d: got %q, %v; want %q", name, i, rec, err, m)
				}
			}
			if rec, err := fr.next(); !errors.Is(err, io.EOF) {
				t.Fatalf("%s: after the messages got %q, %v", name, rec, err)
			}
		}
		check("octet-counted", octet.Bytes(), msgs)
		if len(lineMsgs) > 0 && lineMsgs[0][0] >= '1' && lineMsgs[0][0] <= '9' {
			return // the framing is chosen by the first byte: octet counting
		}
		check("LF-delimited", lines.Bytes(), lineMsgs)
	})
}
