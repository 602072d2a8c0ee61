// Package client sends records to a running Tripline's ingest endpoint,
// retrying what the server could not store.
package client

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"time"
)

// Client posts batches of records to POST /v1/ingest/{source}.
type Client struct {
	// BaseURL is e.g. http://127.0.0.1:8080.
	BaseURL string
	// Token is sent as a bearer token when set.
	Token string
	// HTTP is the client used; nil uses a default with a timeout.
	HTTP *http.Client
	// Gzip compresses request bodies.
	Gzip bool
	// Attempts is how often a batch is tried when the server is
	// unavailable (5xx or connection error); 0 means 5.
	Attempts int
	// Text sends the records as text/plain lines, for the sources of
	// line formats (access logs, syslog, container logs).
	Text bool
}

// Result is what the server did with a batch.
type Result struct {
	// Accepted counts the events stored.
	Accepted int
	// Rejected counts the records the server could not decode; it keeps
	// them on its dead-letter subject.
	Rejected int
}

// Send posts records (one JSON value, or one line with Text, each) as one
// NDJSON request and returns what the server accepted and rejected. A
// batch whose every record was rejected is a Result, not an error; other
// 4xx answers are errors and are not retried.
func (c *Client) Send(ctx context.Context, source string, records [][]byte) (Result, error) {
	var buf bytes.Buffer
	for _, r := range records {
		buf.Write(r)
		buf.WriteByte('\n')
	}
	body := buf.Bytes()
	if c.Gzip {
		var zbuf bytes.Buffer
		zw := gzip.NewWriter(&zbuf)
		if _, err := zw.Write(body); err != nil {
			return Result{}, err
		}
		if err := zw.Close(); err != nil {
			return Result{}, err
		}
		body = zbuf.Bytes()
	}
	hc := c.HTTP
	if hc == nil {
		hc = &http.Client{Timeout: 60 * time.Second}
	}
	attempts := c.Attempts
	if attempts == 0 {
		attempts = 5
	}
	delay := 200 * time.Millisecond
	var lastErr error
	for range attempts {
		res, retry, err := c.post(ctx, hc, source, body)
		if err == nil || !retry {
			return res, err
		}
		lastErr = err
		select {
		case <-ctx.Done():
			return Result{}, ctx.Err()
		case <-time.After(delay):
		}
		delay *= 2
	}
	return Result{}, fmt.Errorf("after %d attempts: %w", attempts, lastErr)
}

func (c *Client) post(ctx context.Context, hc *http.Client, source string, body []byte) (res Result, retry bool, err error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.BaseURL+"/v1/ingest/"+source, bytes.NewReader(body))
	if err != nil {
		return res, false, err
	}
	req.Header.Set("Content-Type", "application/x-ndjson")
	if c.Text {
		req.Header.Set("Content-Type", "text/plain")
	}
	if c.Gzip {
		req.Header.Set("Content-Encoding", "gzip")
	}
	if c.Token != "" {
		req.Header.Set("Authorization", "Bearer "+c.Token)
	}
	resp, err := hc.Do(req)
	if err != nil {
		return res, true, err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	var ans struct {
		Accepted int `json:"accepted"`
		Rejected int `json:"rejected"`
	}
	jsonErr := json.Unmarshal(b, &ans)
	res = Result{Accepted: ans.Accepted, Rejected: ans.Rejected}
	switch {
	case resp.StatusCode == http.StatusOK && jsonErr == nil:
		return res, false, nil
	case resp.StatusCode == http.StatusOK:
		return res, false, fmt.Errorf("unexpected answer %q: %w", b, jsonErr)
	case resp.StatusCode < 500 && res.Rejected > 0:
		return res, false, nil
	}
	return Result{}, resp.StatusCode >= 500, fmt.Errorf("%s: %s", resp.Status, bytes.TrimSpace(b))
}
