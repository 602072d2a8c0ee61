package main

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"io/fs"
	"maps"
	"net"
	"os"
	"os/signal"
	"path/filepath"
	"slices"
	"strings"

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
		Use:   "replay [--source S] FILE|DIR...",
		Short: "Send log files through a running pipeline",
		Long: `Replay reads JSON, NDJSON or CloudTrail S3 files ({"Records":[...]}), or the
lines of a line format (access logs, syslog, container logs), gzipped or not,
and posts their records to a running 'tripline run' in batches of at most
--batch records and 4 MiB, as a log shipper would. A directory is walked for
every file in it, in name order (a CloudTrail bucket copy: *.json.gz).
Pretty-printed records are sent compacted. Batches the server cannot store
are retried; their event ids are stable, so a retry never duplicates an
event. Records the server rejects are counted (it keeps them on its
dead-letter subject) and replay goes on.

Without --source, a file whose records look like CloudTrail is sent as
cloudtrail, one of Kubernetes audit events as k8s-audit, and anything else
as json.`,
		Example: `  tripline replay deploy/demo/attack.ndjson
  tripline replay --source cloudtrail ./AWSLogs/111122223333/CloudTrail/
  tripline replay --source k8s-audit /var/log/kubernetes/audit/audit.log
  tripline replay --source envoy access.log.gz`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if batch < 1 {
				return fmt.Errorf("--batch must be at least 1, got %d", batch)
			}
			decoders := ingest.Decoders(ingest.DefaultSourceConfig)
			if _, ok := decoders[source]; source != "" && !ok {
				return fmt.Errorf("--source %q is not a source (one of %s)", source, strings.Join(slices.Sorted(maps.Keys(decoders)), ", "))
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
			files, size, err := replayFiles(args)
			if err != nil {
				return err
			}
			ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
			defer stop()
			r := &replayer{c: client.Client{BaseURL: url, Token: token, Gzip: true}, batch: batch, decoders: decoders, tokens: cfg.Ingest.Tokens}
			if f, ok := cmd.ErrOrStderr().(*os.File); ok && term.IsTerminal(int(f.Fd())) {
				r.bar = progressbar.DefaultBytes(size, "replay")
			}
			for _, f := range files {
				if err := r.file(ctx, f.path, f.size, source); err != nil {
					return fmt.Errorf("%s: %w (%d events accepted before)", f.path, err, r.total.Accepted)
				}
			}
			if r.bar != nil {
				_ = r.bar.Finish()
			}
			fmt.Fprintf(cmd.OutOrStdout(), "replayed %d events from %d file(s)", r.total.Accepted, len(files))
			if r.total.Rejected > 0 {
				fmt.Fprintf(cmd.OutOrStdout(), "; %d records rejected (kept on the dead-letter subject tl.deadletter.ingest.<source>)", r.total.Rejected)
			}
			fmt.Fprintln(cmd.OutOrStdout())
			return nil
		},
	}
	cmd.Flags().StringVarP(&source, "source", "s", "", "source of the records, e.g. cloudtrail, k8s-audit, envoy (default: guessed per file)")
	cmd.Flags().StringVar(&url, "url", "", "base URL of the pipeline (default: from http.listen)")
	cmd.Flags().StringVar(&token, "token", "", "bearer token (default: http.auth_token; prefer TRIPLINE_HTTP_AUTH_TOKEN)")
	cmd.Flags().IntVar(&batch, "batch", 1000, "records per request")
	return cmd
}

// replayBatchBytes caps the records of one request, well under the
// server's default body limit (10 MiB), besides --batch records.
var replayBatchBytes = 4 << 20

// replayFile is a file to replay and its size on disk.
type replayFile struct {
	path string
	size int64
}

// replayFiles lists the files named, walking directories in name order,
// and their total size on disk.
func replayFiles(args []string) ([]replayFile, int64, error) {
	var files []replayFile
	var total int64
	for _, arg := range args {
		err := filepath.WalkDir(arg, func(path string, d fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			if d.IsDir() {
				if path != arg && strings.HasPrefix(d.Name(), ".") {
					return filepath.SkipDir
				}
				return nil
			}
			if path != arg && strings.HasPrefix(d.Name(), ".") || !d.Type().IsRegular() {
				return nil
			}
			info, err := d.Info()
			if err != nil {
				return err
			}
			files = append(files, replayFile{path, info.Size()})
			total += info.Size()
			return nil
		})
		if err != nil {
			return nil, 0, err
		}
	}
	if len(files) == 0 {
		return nil, 0, fmt.Errorf("no files in %s", strings.Join(args, ", "))
	}
	return files, total, nil
}

// replayer sends files to the pipeline, counting what it did.
type replayer struct {
	c        client.Client
	batch    int
	decoders map[string]ingest.Decoder
	tokens   map[string]string        // per source, when there is no shared token
	bar      *progressbar.ProgressBar // nil when not on a terminal
	total    client.Result
}

// file replays the file at path, of size bytes on disk, as source (""
// guesses it).
func (r *replayer) file(ctx context.Context, path string, size int64, source string) error {
	data, err := readMaybeGzip(path)
	if err != nil {
		return err
	}
	c := r.c
	var records [][]byte
	if dec, ok := r.decoders[source]; ok && isLineSource(dec) {
		c.Text = true
		records = splitLines(data)
	} else if records, source, err = splitJSONRecords(data, source, r.decoders); err != nil {
		return err
	}
	if c.Token == "" {
		c.Token = r.tokens[source]
	}
	done := int64(0)
	for i := 0; i < len(records); {
		// At most batch records and replayBatchBytes of NDJSON, but at
		// least one record.
		j, n := i, 0
		for j < len(records) && j-i < r.batch && (j == i || n+len(records[j])+1 <= replayBatchBytes) {
			n += len(records[j]) + 1
			j++
		}
		chunk := records[i:j]
		i = j
		res, err := c.Send(ctx, source, chunk)
		r.total.Accepted += res.Accepted
		r.total.Rejected += res.Rejected
		if err != nil {
			return err
		}
		if r.bar != nil {
			// The file's share of the bar, in proportion to the records sent.
			now := size * int64(i) / int64(len(records))
			_ = r.bar.Add64(now - done)
			done = now
		}
	}
	if r.bar != nil {
		_ = r.bar.Add64(size - done)
	}
	return nil
}

// isLineSource says whether dec reads one record per text line.
func isLineSource(dec ingest.Decoder) bool {
	l, ok := dec.(ingest.LineRecords)
	return ok && l.LineRecords()
}

// splitLines returns the non-blank lines of data.
func splitLines(data []byte) [][]byte {
	var lines [][]byte
	for line := range bytes.Lines(data) {
		if line = bytes.TrimSpace(line); len(line) > 0 {
			lines = append(lines, line)
		}
	}
	return lines
}

// splitJSONRecords returns the records of a JSON file, compacted, and
// their source: source, or guessed from the records when "".
func splitJSONRecords(data []byte, source string, decoders map[string]ingest.Decoder) ([][]byte, string, error) {
	framing := framingOf(data)
	// Envelopes (CloudTrail files, EventBridge events, Kubernetes
	// EventLists) are opened only for sources whose decoder wants them, as
	// the server does. To guess the source, every kind is opened first.
	const allEnvelopes = ingest.EnvelopeCloudTrailFile | ingest.EnvelopeEventBridge | ingest.EnvelopeEventList
	env := allEnvelopes
	if source != "" {
		env = ingest.Envelopes(decoders[source])
	}
	records, err := splitCompact(data, framing, env)
	if err != nil {
		return nil, "", err
	}
	if source == "" {
		source = guessSource(records)
		if e := ingest.Envelopes(decoders[source]); e != env {
			if records, err = splitCompact(data, framing, e); err != nil {
				return nil, "", err
			}
		}
	}
	return records, source, nil
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
