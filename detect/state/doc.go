// Package state holds the event-time state machines of the stateful rule
// kinds: threshold, distinct, sequence, new_term, spike, absence and
// dedup. It is pure and deterministic: no I/O, no goroutines, no wall
// clock, no dependence on map iteration order. A runner feeds a
// [Partition] the matches of its partition (events that passed a rule's
// when, already keyed by rule and group key), moves its watermark, turns
// the returned [Firing] values into findings and checkpoints it with
// [Partition.Snapshot] and [Restore].
//
// A Partition is owned by one goroutine; it is not safe for concurrent
// use. The firings returned by Apply and Advance, and the slices inside
// them, are valid only until the next call on the Partition (they reuse
// its buffers, so the common path does not allocate); use [Firing.Clone]
// to keep one.
//
// # Time
//
// All windows are measured in event time ([Match.Time]). The partition's
// clock is the largest event time it has been given, by Apply or by
// Advance (a runner whose partition is idle advances it with the wall
// clock). The watermark is the clock minus the allowed lateness given to
// [NewPartition]. A match whose time is before the watermark is too late:
// it is dropped and counted ([Stats] Late, per rule and in total). Every
// match at or after the watermark is counted exactly as if it had
// arrived in event-time order, within the limits stated per kind below.
// Anything decided "when the watermark passes" a point is final: no
// match that could change it can still be accepted.
//
// Windows include both ends: a match at t is in the same window as every
// match with a time in [t-Window, t]. Event times must lie between the
// years 1824 and 2116 (±2^62 ns around 1970); a match outside, with an
// unknown rule, or with an invalid Step is dropped and counted as
// Invalid. The clock only moves forward, so a runner should clamp event
// times that lie in the future (an attacker-controlled timestamp far
// ahead would otherwise make every later match late).
//
// Ties (equal event times) are ordered by [Match.Seq], then by arrival.
//
// # Replay
//
// Matches carry the bus sequence of the partition ([Match.Seq]). Apply
// ignores a match whose Seq is not above the last applied one (counted as
// Replayed), so redelivery after a [Restore] is idempotent; Seq 0 means
// "not sequenced" and is always applied (tests, tools). A firing's ID is a
// hash of the kind, rule, key and the identity of its window or episode
// (the time and id of its first contributing event, or the spike bucket),
// never of arrival order or wall clock, so the same inputs always give the
// same IDs and a firing re-emitted after a crash carries the ID of the
// one already raised.
//
// # Kinds
//
// threshold (Count N, Window W): a key's matches are kept in event-time
// order. A match fires when it completes a window of N unconsumed matches
// whose times span at most W (for in-order input: the N-th match in
// [t-W, t]). The N matches of the firing are consumed; the next firing
// needs N new ones. A late match fires the earliest such window that
// contains it. Count is N, First and Last the first and last of the N
// times, EventIDs the first SampleIDs of their ids.
//
// distinct (Count N, Window W, Match.Value): fires when a window [e-W, e]
// containing the match holds at least N distinct Values, e being the
// match time or, for a late match, the time of a later match within W.
// Then the key resets: every occurrence at or before e is forgotten.
// Count is the number of distinct values, Values lists them (at most
// SampleIDs, in order of their first occurrence in the window), Value is
// Values joined with ", ", EventIDs the ids of those first occurrences.
// Memory: occurrences of one value older than the watermark are
// compacted (of three within W the middle one is dropped, which never
// changes whether a value is in a window; First and EventIDs may name a
// later occurrence of the same value).
//
// sequence (Steps S, Window W, Match.Step): steps 0..S-1 of one key in
// event-time order (equal times allowed, ordered by Seq), all within
// [t0, t0+W] of the step-0 time t0. The search is exact over the matches
// at or after the watermark and over a summary of those before it (for
// every step, the partial sequence with the latest start). Of the
// complete sequences the one completing earliest is taken, with the
// latest possible start. It fires at once (Count S, First t0, Last the
// last step, EventIDs the steps' ids), and the key resets: its matches at
// or before the last step are consumed.
//
// sequence with Absent: Step == S marks the absent event. A completed
// sequence is cancelled if an absent event of the key has a time in
// [t0, t0+W], whether it arrived before or after the steps; otherwise it
// fires from Advance when the watermark passes t0+W (is after it). An
// absent event before t0 does not count.
//
// new_term (Window = history H, Match.Value = the term): terms are kept
// per rule and key (a runner may put the term or part of it in Key to
// spread load, or leave Key empty). A term fires when it has not been
// seen for the key, or was last seen more than H before the match; every
// sighting refreshes it. A late sighting (before the last one) never
// fires. [Partition.Seed] loads terms from history without firing. Each
// (key, term) counts as one live key toward MaxKeys; a new term refused
// at the cap does not fire (it is counted). Count is 1, Value the term.
//
// spike (Window W, Factor F, MinCount M): tumbling buckets of W per key,
// aligned to the Unix epoch. The baseline of a bucket is an EWMA of the
// counts of the key's previous buckets: the first bucket's count, then
// b = 0.3*count + 0.7*b per bucket, empty buckets counting 0; a baseline
// below 0.01 is set to 0. A bucket fires once, at the match that makes
// its count >= M and > F*max(baseline, 1), provided the key has at least
// 3 buckets of history before it (so a new key does not fire). A late
// match counts in its own bucket, which stays open until the watermark
// passes its end. A key whose baseline has decayed to 0 with nothing open
// is forgotten and starts over as a new key. Count is the bucket's count,
// First its first match, Value the baseline ("%.2f").
//
// absence (Window W): a key that had matches fires when it has had none
// for W: when the watermark reaches last+W, or when the next match of the
// key is W or more after the last one. The silence is decided once no
// late match can fall inside it. It fires once per silence and the key
// starts over. Count is the number of matches before the silence, First
// the first of them, Last (and EventIDs) the last one.
//
// dedup (Window = period P): the first match of a key fires (Count 1).
// A later match with a time at most P after that first one counts toward
// the same firing without returning anything; the next Advance returns
// one update per key that counted since its last firing (Update true,
// same ID, Count the matches of the period so far, First the period's
// first match, Last the latest, EventIDs the period's first SampleIDs
// ids). So a runner that advances once per checkpoint publishes at most
// one update per key and checkpoint, and the pending updates are part of
// the snapshot. A match after the period returns the previous period's
// pending update, if any, and a new firing. A late match before the first
// one counts in the period (First stays the first match's time).
//
// # Memory
//
// Every kind drops what can no longer matter as the watermark advances:
// threshold and distinct occurrences older than watermark-W, sequence
// partial sequences whose t0+W passed, absence keys after they fire,
// dedup keys after their period, new_term terms last seen more than H
// before the watermark (swept at most every H/8), spike keys whose
// baseline decayed. Per-key buffers hold at most the matches within
// Window plus lateness (threshold at most about N per W, sequence at most
// the matches newer than the watermark plus S partials). Each rule has a
// cap of live keys (MaxKeys, default 100,000); a match that would create a
// key beyond it is dropped and counted in [RuleStats] Refused, never
// silently. Timers live in one heap per partition, at most about one
// entry per key.
//
// # Snapshots
//
// [Partition.Snapshot] encodes the whole state (clock, last applied Seq,
// counters, every key) in a versioned binary format with a CRC; [Restore]
// rebuilds an identical partition: applying the rest of the matches to
// it gives exactly the firings the original would have given. State of a
// rule that is missing from the new specs, or whose semantic fields
// (Kind, Count, Window, Steps, Absent, Factor, MinCount) changed, is
// discarded. The encoding is deterministic (keys sorted).
package state
