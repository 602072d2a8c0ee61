package main

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"os"
	"os/signal"

	"github.com/schollz/progressbar/v3"
	"github.com/spf13/cobra"
	"golang.org/x/term"

	"github.com/tripline/tripline/ingest"
	"github.com/tripline/tripline/internal/client"
)

// maxReplayFile caps what replay reads from one (decompressed) file.
const maxReplayFile = 2 << 30

func newReplayCmd() *cobra.Command {
	var (
		source, url, token string
		batch              int
	)
	cmd := &cobra.Command{
		Use:   "replay [--source S] FILE...",
		Short: "Send log files through a running pipeline",
		Long: `Replay reads JSON, NDJSON or CloudTrail S3 files ({"Records":[...]}), gzipped
or not, and posts their records to a running 'tripline run' in batches of at
most --batch records and 4 MiB, as a log shipper would. Pretty-printed
records are sent compacted. Batches the server cannot store are retried;
their event ids are stable, so a retry never duplicates an event.

Without --source, a file whose records look like CloudTrail is sent as
cloudtrail and anything else as json.`,
		Example: `  tripline replay deploy/demo/attack.ndjson
  tripline replay --source cloudtrail 111122223333_CloudTrail_us-east-1_*.json.gz
  tripline replay --url http://tripline:8080 --source json app.log.gz`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, files []string) error {
			if batch < 1 {
				return fmt.Errorf("--batch must be at least 1, got %d", batch)
			}
			cfg, err := loadConfig(cmd)
			if err != nil {
				return err
			}
			if url == "" {
				url = localURL(cfg.HTTP.Listen)
			}
			if token == "" {
				token = cfg.HTTP.AuthToken
			}
			ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
			defer stop()
			c := &client.Client{BaseURL: url, Token: token, Gzip: true}
			total := 0
			for _, f := range files {
				n, err := replayFile(ctx, cmd, c, f, source, batch)
				total += n
				if err != nil {
					return fmt.Errorf("%s: %w (%d events accepted before)", f, err, total)
				}
			}
			fmt.Fprintf(cmd.OutOrStdout(), "replayed %d events from %d file(s)\n", total, len(files))
			return nil
		},
	}
	cmd.Flags().StringVarP(&source, "source", "s", "", "source of the records: cloudtrail, k8s-audit or json (default: guessed per file)")
	cmd.Flags().StringVar(&url, "url", "", "base URL of the pipeline (default: from http.listen)")
	cmd.Flags().StringVar(&token, "token", "", "bearer token (default: http.auth_token; prefer TRIPLINE_HTTP_AUTH_TOKEN)")
	cmd.Flags().IntVar(&batch, "batch", 1000, "records per request")
	return cmd
}

// replayBatchBytes caps the records of one request, well under the
// server's default body limit (10 MiB), besides --batch records.
var replayBatchBytes = 4 << 20

func replayFile(ctx context.Context, cmd *cobra.Command, c *client.Client, path, source string, batch int) (int, error) {
	data, err := readMaybeGzip(path)
	if err != nil {
		return 0, err
	}
	framing := framingOf(data)
	// Envelopes (CloudTrail files, EventBridge events, Kubernetes
	// EventLists) are opened only for sources whose decoder wants them, as
	// the server does. To guess the source, every kind is opened first.
	decoders := ingest.Decoders(ingest.DefaultJSONConfig)
	const allEnvelopes = ingest.EnvelopeCloudTrailFile | ingest.EnvelopeEventBridge | ingest.EnvelopeEventList
	env := allEnvelopes
	if source != "" {
		env = ingest.Envelopes(decoders[source])
	}
	records, err := splitCompact(data, framing, env)
	if err != nil {
		return 0, err
	}
	if source == "" {
		source = guessSource(records)
		if e := ingest.Envelopes(decoders[source]); e != env {
			if records, err = splitCompact(data, framing, e); err != nil {
				return 0, err
			}
		}
	}
	var bar *progressbar.ProgressBar
	if f, ok := cmd.ErrOrStderr().(*os.File); ok && term.IsTerminal(int(f.Fd())) {
		bar = progressbar.Default(int64(len(records)), path)
	}
	sent := 0
	for i := 0; i < len(records); {
		// At most batch records and replayBatchBytes of NDJSON, but at
		// least one record.
		j, size := i, 0
		for j < len(records) && j-i < batch && (j == i || size+len(records[j])+1 <= replayBatchBytes) {
			size += len(records[j]) + 1
			j++
		}
		chunk := records[i:j]
		i = j
		n, err := c.Send(ctx, source, chunk)
		sent += n
		if err != nil {
			return sent, err
		}
		if bar != nil {
			_ = bar.Add(len(chunk))
		}
	}
	return sent, nil
}

// framingOf says NDJSON when the first line of data is a JSON value, else
// JSON: one value over many lines, such as a pretty-printed CloudTrail file
// or array, valid or not (its error is then named by the record's line).
func framingOf(data []byte) ingest.Framing {
	for len(data) > 0 {
		line, rest, _ := bytes.Cut(data, []byte{'\n'})
		if line = bytes.TrimSpace(line); len(line) > 0 {
			if json.Valid(line) {
				return ingest.FrameNDJSON
			}
			return ingest.FrameJSON
		}
		data = rest
	}
	return ingest.FrameNDJSON
}

// splitCompact returns the records of data, each compacted to one line
// (a pretty-printed record would break the NDJSON sent to the server).
// A record that is not valid JSON is an error naming its line in data.
func splitCompact(data []byte, framing ingest.Framing, envelopes ingest.Envelope) ([][]byte, error) {
	var buf bytes.Buffer
	var ends []int
	err := ingest.SplitRecords(data, framing, envelopes, func(rec []byte) error {
		if err := json.Compact(&buf, rec); err != nil {
			return fmt.Errorf("invalid JSON: %w", err)
		}
		ends = append(ends, buf.Len())
		return nil
	})
	if err != nil {
		return nil, err
	}
	all := buf.Bytes()
	records := make([][]byte, len(ends))
	start := 0
	for i, end := range ends {
		records[i] = all[start:end:end]
		start = end
	}
	return records, nil
}

// guessSource says cloudtrail when the first record has CloudTrail's keys,
// k8s-audit when it has a Kubernetes audit event's, else json.
func guessSource(records [][]byte) string {
	if len(records) == 0 {
		return "json"
	}
	r := records[0]
	switch {
	case bytes.Contains(r, []byte(`"eventSource"`)) && bytes.Contains(r, []byte(`"eventName"`)):
		return "cloudtrail"
	case bytes.Contains(r, []byte(`"auditID"`)) && bytes.Contains(r, []byte(`"stage"`)) && bytes.Contains(r, []byte(`"verb"`)):
		return "k8s-audit"
	}
	return "json"
}

func readMaybeGzip(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	br := bufio.NewReader(f)
	var r io.Reader = br
	if magic, _ := br.Peek(2); len(magic) == 2 && magic[0] == 0x1f && magic[1] == 0x8b {
		zr, err := gzip.NewReader(br)
		if err != nil {
			return nil, err
		}
		r = zr
	}
	b, err := io.ReadAll(io.LimitReader(r, maxReplayFile+1))
	if err != nil {
		return nil, err
	}
	if len(b) > maxReplayFile {
		return nil, fmt.Errorf("larger than %d bytes decompressed", maxReplayFile)
	}
	return b, nil
}

// localURL is the base URL of this machine's listener on addr, reaching a
// wildcard listen address through loopback.
func localURL(addr string) string {
	if host, port, err := net.SplitHostPort(addr); err == nil && (host == "" || host == "0.0.0.0" || host == "::") {
		addr = net.JoinHostPort("127.0.0.1", port)
	}
	return "http://" + addr
}
