package alert

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/slack-go/slack"

	"github.com/tripline/tripline/internal/event"
)

// texts returns every text object of blocks, by block index.
func texts(t *testing.T, blocks []slack.Block) map[int][]*slack.TextBlockObject {
	t.Helper()
	out := map[int][]*slack.TextBlockObject{}
	for i, b := range blocks {
		switch b := b.(type) {
		case *slack.HeaderBlock:
			out[i] = append(out[i], b.Text)
		case *slack.SectionBlock:
			if b.Text != nil {
				out[i] = append(out[i], b.Text)
			}
			out[i] = append(out[i], b.Fields...)
		case *slack.ContextBlock:
			for _, e := range b.ContextElements.Elements {
				tb, ok := e.(*slack.TextBlockObject)
				if !ok {
					t.Fatalf("context element %T", e)
				}
				out[i] = append(out[i], tb)
			}
		default:
			t.Fatalf("unexpected block %T", b)
		}
	}
	return out
}

func TestBlocksLayout(t *testing.T) {
	f := testFinding()
	blocks := Blocks(f)
	if len(blocks) != 5 {
		t.Fatalf("got %d blocks, want 5", len(blocks))
	}
	h := blocks[0].(*slack.HeaderBlock)
	if h.Text.Type != slack.PlainTextType || h.Text.Text != ":large_orange_circle: HIGH: Lambda code updated from a new address" {
		t.Errorf("header = %+v", h.Text)
	}
	if s := blocks[1].(*slack.SectionBlock); s.Text.Text != f.Summary || !s.Text.Verbatim {
		t.Errorf("summary section = %+v", s.Text)
	}
	if s := blocks[2].(*slack.SectionBlock); s.Text.Text != "*Message*\n"+f.Event.Message {
		t.Errorf("message section = %+v", s.Text)
	}
	var fields []string
	for _, fo := range blocks[3].(*slack.SectionBlock).Fields {
		fields = append(fields, fo.Text)
	}
	wantFields := []string{
		"*Actor*\narn:aws:iam::123456789012:user/mallory",
		"*Source IP*\n203.0.113.7",
		"*Account / Region*\n123456789012 / eu-west-1",
		"*Service*\nlambda.amazonaws.com",
		"*Action*\nUpdateFunctionCode20150331v2",
		"*Target*\narn:aws:lambda:eu-west-1:123456789012:function:payments",
	}
	if strings.Join(fields, "|") != strings.Join(wantFields, "|") {
		t.Errorf("fields =\n%q\nwant\n%q", fields, wantFields)
	}
	var ctx []string
	for _, e := range texts(t, blocks)[4] {
		ctx = append(ctx, e.Text)
	}
	wantCtx := []string{"*Event time* 2026-03-14T09:26:53Z", "*Rule* aws.lambda.code_update", "*Tags* attack.t1525, aws", "*Alert* " + f.AlertID}
	if strings.Join(ctx, "|") != strings.Join(wantCtx, "|") {
		t.Errorf("context = %q, want %q", ctx, wantCtx)
	}
	if got := Fallback(f); got != "[HIGH] Lambda code updated from a new address: "+f.Summary {
		t.Errorf("Fallback = %q", got)
	}
}

func TestBlocksOmitEmpty(t *testing.T) {
	f := testFinding()
	f.Event = event.Event{Region: "us-east-1", Actor: "root"}
	f.Summary, f.Tags, f.Time, f.Severity = "", nil, time.Time{}, ""
	blocks := Blocks(f)
	if len(blocks) != 4 {
		t.Fatalf("got %d blocks, want header, summary, fields, context", len(blocks))
	}
	if got := blocks[0].(*slack.HeaderBlock).Text.Text; got != ":grey_question: UNKNOWN: "+f.RuleTitle {
		t.Errorf("header = %q", got)
	}
	if got := blocks[1].(*slack.SectionBlock).Text.Text; got != f.RuleTitle {
		t.Errorf("summary falls back to %q, want the rule title", got)
	}
	fields := blocks[2].(*slack.SectionBlock).Fields
	if len(fields) != 2 || fields[0].Text != "*Actor*\nroot" || fields[1].Text != "*Account / Region*\nus-east-1" {
		t.Errorf("fields = %+v", fields)
	}
	if n := len(blocks[3].(*slack.ContextBlock).ContextElements.Elements); n != 2 {
		t.Errorf("context has %d elements, want rule and alert only", n)
	}
}

func TestBlocksRespectLimits(t *testing.T) {
	long := strings.Repeat("<@U1> é😀 ", 2000)
	f := testFinding()
	f.RuleTitle, f.Summary, f.RuleID, f.AlertID = long, long, long, long
	f.Tags = []string{long, long}
	e := &f.Event
	e.Message = long + "m"
	e.Actor, e.SrcIP, e.Account, e.Region, e.Service, e.Action, e.Target = long, long, long, long, long, long, long
	blocks := Blocks(f)
	if len(blocks) != 5 {
		t.Fatalf("got %d blocks, want 5", len(blocks))
	}
	for i, objs := range texts(t, blocks) {
		for _, o := range objs {
			limit := MaxTextLen
			if i == 0 {
				limit = maxHeaderLen
			} else if s, ok := blocks[i].(*slack.SectionBlock); ok && o != s.Text {
				limit = maxFieldLen
			}
			if n := utf16Len(o.Text); n > limit || n == 0 {
				t.Errorf("block %d: text of %d UTF-16 units, limit %d", i, n, limit)
			}
			if !strings.HasSuffix(o.Text, "…") && !strings.HasPrefix(o.Text, "*Event time*") {
				t.Errorf("block %d: long text not marked truncated: %q", i, head(o.Text))
			}
			if strings.ContainsAny(o.Text, "<>") {
				t.Errorf("block %d: unescaped text", i)
			}
		}
	}
	if n := utf16Len(Fallback(f)); n > MaxTextLen {
		t.Errorf("fallback is %d units", n)
	}
	if _, err := json.Marshal(slack.Blocks{BlockSet: blocks}); err != nil {
		t.Fatal(err)
	}
}

func BenchmarkBlocks(b *testing.B) {
	f := testFinding()
	b.ReportAllocs()
	for b.Loop() {
		_ = Blocks(f)
	}
}

func BenchmarkBlocksHostile(b *testing.B) {
	f := hostileFinding()
	b.ReportAllocs()
	for b.Loop() {
		_ = Blocks(f)
	}
}
