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

// Client posts NDJSON batches to POST /v1/ingest/{source}.
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
}

// Send posts records (one JSON value each) as one gzipped NDJSON request and
// returns the number the server accepted. A 4xx answer is not retried.
func (c *Client) Send(ctx context.Context, source string, records [][]byte) (int, error) {
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
			return 0, err
		}
		if err := zw.Close(); err != nil {
			return 0, err
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
		n, retry, err := c.post(ctx, hc, source, body)
		if err == nil || !retry {
			return n, err
		}
		lastErr = err
		select {
		case <-ctx.Done():
			return 0, ctx.Err()
		case <-time.After(delay):
		}
		delay *= 2
	}
	return 0, fmt.Errorf("after %d attempts: %w", attempts, lastErr)
}

func (c *Client) post(ctx context.Context, hc *http.Client, source string, body []byte) (n int, retry bool, err error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.BaseURL+"/v1/ingest/"+source, bytes.NewReader(body))
	if err != nil {
		return 0, false, err
	}
	req.Header.Set("Content-Type", "application/x-ndjson")
	if c.Gzip {
		req.Header.Set("Content-Encoding", "gzip")
	}
	if c.Token != "" {
		req.Header.Set("Authorization", "Bearer "+c.Token)
	}
	resp, err := hc.Do(req)
	if err != nil {
		return 0, true, err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	if resp.StatusCode != http.StatusOK {
		return 0, resp.StatusCode >= 500, fmt.Errorf("%s: %s", resp.Status, bytes.TrimSpace(b))
	}
	var ok struct {
		Accepted int `json:"accepted"`
	}
	if err := json.Unmarshal(b, &ok); err != nil {
		return 0, false, fmt.Errorf("unexpected answer %q: %w", b, err)
	}
	return ok.Accepted, false, nil
}
