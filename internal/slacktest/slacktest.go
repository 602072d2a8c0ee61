// Package slacktest is a local server speaking the two Slack protocols
// Tripline posts with: the Web API's chat.postMessage and incoming
// webhooks. Tests and the demo use it in place of slack.com.
package slacktest

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"testing"
)

// Server is a local server speaking the two Slack protocols the
// notifiers use: the Web API's chat.postMessage (form or JSON body, token in
// the form or an Authorization: Bearer header) under /api/, and incoming
// webhooks under /services/T000/B000/<secret>. It records every Payload it
// accepts, raw and decoded.
type Server struct {
	srv *httptest.Server
	// Token is the bot token chat.postMessage accepts.
	Token string
	// WebhookSecret is the last path element of the webhook URL.
	WebhookSecret string
	// respond, if set, decides the Reply to the n-th request (1-based)
	// that passed authentication; it may block. nil means success.
	respond func(n int, p Payload) Reply

	mu       sync.Mutex
	requests int       // authenticated requests, failed or not
	posts    []Payload // accepted deliveries
}

// Payload is one message as received.
type Payload struct {
	Endpoint string // "chat.postMessage" or "webhook"
	Raw      string // the body as sent (URL-decoded for a form)
	Channel  string
	Text     string
	Blocks   json.RawMessage // as sent, possibly with \u003c escapes
	Unfurl   string          // unfurl_links as sent
}

// Reply is a scripted answer. The zero Reply is success.
type Reply struct {
	Status     int    // HTTP status, 0 meaning 200
	RetryAfter string // Retry-After header
	SlackError string // Web API error code ({"ok":false}) with status 200
}

// New starts a fake Slack, stopped at the end of the test.
func New(t testing.TB, respond func(n int, p Payload) Reply) *Server {
	t.Helper()
	fs := &Server{
		Token:         "xoxb-1111-2222-SeCrEtToKeN",
		WebhookSecret: "WeBhOoKsEcReT42",
		respond:       respond,
	}
	fs.srv = httptest.NewServer(fs.Handler())
	t.Cleanup(fs.srv.Close)
	return fs
}

// Handler serves the Slack endpoints: /api/chat.postMessage and
// /services/T000/B000/<WebhookSecret>.
func (fs *Server) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("POST /api/chat.postMessage", fs.postMessage)
	mux.HandleFunc("POST /services/", fs.webhook)
	return mux
}

// URL returns the server's base URL.
func (fs *Server) URL() string { return fs.srv.URL }

// Close stops the server.
func (fs *Server) Close() { fs.srv.Close() }

// APIURL returns the Web API base URL, without the trailing slash.
func (fs *Server) APIURL() string { return fs.srv.URL + "/api" }

// WebhookURL returns the incoming webhook's URL.
func (fs *Server) WebhookURL() string {
	return fs.srv.URL + "/services/T000/B000/" + fs.WebhookSecret
}

// Posts returns the accepted deliveries.
func (fs *Server) Posts() []Payload {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	return append([]Payload(nil), fs.posts...)
}

// Requests returns the number of authenticated requests.
func (fs *Server) Requests() int {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	return fs.requests
}

// decide counts an authenticated request and returns its scripted Reply.
func (fs *Server) decide(p Payload) Reply {
	fs.mu.Lock()
	fs.requests++
	n := fs.requests
	fs.mu.Unlock()
	if fs.respond == nil {
		return Reply{}
	}
	return fs.respond(n, p) // outside the lock: it may block
}

// accept records a delivered Payload.
func (fs *Server) accept(p Payload) {
	fs.mu.Lock()
	fs.posts = append(fs.posts, p)
	fs.mu.Unlock()
}

// writeStatus writes a non-200 scripted Reply; it reports whether it did.
func writeStatus(w http.ResponseWriter, r Reply) bool {
	if r.Status == 0 || r.Status == http.StatusOK {
		return false
	}
	if r.RetryAfter != "" {
		w.Header().Set("Retry-After", r.RetryAfter)
	}
	w.Header().Set("Content-Type", "text/html")
	w.WriteHeader(r.Status)
	_, _ = fmt.Fprintf(w, "<html><body>%d</body></html>", r.Status)
	return true
}

// writeJSON writes v as a 200 JSON response.
func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	_ = json.NewEncoder(w).Encode(v)
}

// postMessage implements chat.postMessage.
func (fs *Server) postMessage(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(r.Body)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	p := Payload{Endpoint: "chat.postMessage"}
	token := strings.TrimPrefix(r.Header.Get("Authorization"), "Bearer ")
	ctype, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	switch ctype {
	case "application/x-www-form-urlencoded":
		form, err := url.ParseQuery(string(body))
		if err != nil {
			writeJSON(w, map[string]any{"ok": false, "error": "invalid_form_data"})
			return
		}
		if tok := form.Get("token"); tok != "" {
			token = tok
		}
		form.Del("token")
		p.Raw = form.Encode()
		if raw, err := url.QueryUnescape(p.Raw); err == nil {
			p.Raw = raw
		}
		p.Channel, p.Text, p.Unfurl = form.Get("channel"), form.Get("text"), form.Get("unfurl_links")
		p.Blocks = json.RawMessage(form.Get("blocks"))
	case "application/json":
		var m struct {
			Channel string          `json:"channel"`
			Text    string          `json:"text"`
			Blocks  json.RawMessage `json:"blocks"`
			Unfurl  *bool           `json:"unfurl_links"`
		}
		if err := json.Unmarshal(body, &m); err != nil {
			writeJSON(w, map[string]any{"ok": false, "error": "invalid_json"})
			return
		}
		p.Raw, p.Channel, p.Text, p.Blocks = string(body), m.Channel, m.Text, m.Blocks
		if m.Unfurl != nil {
			p.Unfurl = strconv.FormatBool(*m.Unfurl)
		}
	default:
		writeJSON(w, map[string]any{"ok": false, "error": "invalid_arg_name"})
		return
	}
	switch {
	case token == "":
		writeJSON(w, map[string]any{"ok": false, "error": "not_authed"})
		return
	case token != fs.Token:
		writeJSON(w, map[string]any{"ok": false, "error": "invalid_auth"})
		return
	}
	rep := fs.decide(p)
	if writeStatus(w, rep) {
		return
	}
	if rep.SlackError != "" {
		writeJSON(w, map[string]any{"ok": false, "error": rep.SlackError})
		return
	}
	if p.Channel == "" {
		writeJSON(w, map[string]any{"ok": false, "error": "channel_not_found"})
		return
	}
	if p.Text == "" && len(p.Blocks) == 0 {
		writeJSON(w, map[string]any{"ok": false, "error": "no_text"})
		return
	}
	fs.accept(p)
	writeJSON(w, map[string]any{"ok": true, "channel": p.Channel, "ts": "1700000000.000100"})
}

// webhook implements an incoming webhook: it answers 200 "ok" or a 4xx
// with a plain-text error code, as Slack does.
func (fs *Server) webhook(w http.ResponseWriter, r *http.Request) {
	fail := func(status int, code string) {
		w.Header().Set("Content-Type", "text/plain")
		w.WriteHeader(status)
		_, _ = io.WriteString(w, code)
	}
	if r.URL.Path != "/services/T000/B000/"+fs.WebhookSecret {
		fail(http.StatusForbidden, "invalid_token")
		return
	}
	body, err := io.ReadAll(r.Body)
	if err != nil {
		fail(http.StatusBadRequest, "invalid_payload")
		return
	}
	var m struct {
		Channel string          `json:"channel"`
		Text    string          `json:"text"`
		Blocks  json.RawMessage `json:"blocks"`
		Unfurl  *bool           `json:"unfurl_links"`
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	if err := dec.Decode(&m); err != nil {
		fail(http.StatusBadRequest, "invalid_payload")
		return
	}
	p := Payload{Endpoint: "webhook", Raw: string(body), Channel: m.Channel, Text: m.Text, Blocks: m.Blocks}
	if m.Unfurl != nil {
		p.Unfurl = strconv.FormatBool(*m.Unfurl)
	}
	rep := fs.decide(p)
	if writeStatus(w, rep) {
		return
	}
	if rep.SlackError != "" {
		fail(http.StatusNotFound, rep.SlackError)
		return
	}
	if m.Text == "" && len(m.Blocks) == 0 {
		fail(http.StatusBadRequest, "no_text")
		return
	}
	fs.accept(p)
	w.Header().Set("Content-Type", "text/plain")
	_, _ = io.WriteString(w, "ok")
}

// Canonical decodes JSON and re-encodes it without HTML escaping, so that
// assertions see the characters Slack will see (json.Marshal writes < as
// \u003c, which Slack decodes back to <).
func Canonical(t testing.TB, raw []byte) string {
	t.Helper()
	var v any
	if err := json.Unmarshal(raw, &v); err != nil {
		t.Fatalf("Payload is not JSON: %v\n%s", err, raw)
	}
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		t.Fatal(err)
	}
	return b.String()
}

// BlockTexts returns every "text" string in a blocks Payload, decoded.
func BlockTexts(t testing.TB, raw []byte) []string {
	t.Helper()
	var v any
	if err := json.Unmarshal(raw, &v); err != nil {
		t.Fatalf("blocks are not JSON: %v\n%s", err, raw)
	}
	var out []string
	var walk func(any)
	walk = func(v any) {
		switch x := v.(type) {
		case map[string]any:
			for k, e := range x {
				if s, ok := e.(string); ok && k == "text" {
					out = append(out, s)
				}
				walk(e)
			}
		case []any:
			for _, e := range x {
				walk(e)
			}
		}
	}
	walk(v)
	return out
}
