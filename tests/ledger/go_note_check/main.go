// Command go_note_check verifies one of our signed checkpoints with the Go reference code,
// golang.org/x/mod/sumdb/note and golang.org/x/mod/sumdb/tlog, so the Python tests can show
// that "any program that verifies C2SP signed notes" accepts what ledger.checkpoint writes.
//
// Input on stdin (JSON):
//
//	{"vkey": "...", "note": "...",
//	 "leaf_index": 3, "leaf_hash": "<base64>", "inclusion": ["<base64>", ...],
//	 "old_size": 2, "old_root": "<base64>", "consistency": ["<base64>", ...]}
//
// The proof fields are optional. On success it prints {"origin", "size", "root"} and exits 0;
// on any failure it prints the reason to stderr and exits 1.
//
// Build in GOPATH mode against the Debian package golang-golang-x-mod-dev:
//
//	GO111MODULE=off GOPATH=/usr/share/gocode GOPROXY=off go build -o note_check .
package main

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"os"
	"strconv"
	"strings"

	"golang.org/x/mod/sumdb/note"
	"golang.org/x/mod/sumdb/tlog"
)

type input struct {
	Vkey        string   `json:"vkey"`
	Note        string   `json:"note"`
	LeafIndex   *int64   `json:"leaf_index"`
	LeafHash    string   `json:"leaf_hash"`
	Inclusion   []string `json:"inclusion"`
	OldSize     *int64   `json:"old_size"`
	OldRoot     string   `json:"old_root"`
	Consistency []string `json:"consistency"`
}

func fail(format string, args ...any) {
	fmt.Fprintf(os.Stderr, format+"\n", args...)
	os.Exit(1)
}

func hash(s string) tlog.Hash {
	b, err := base64.StdEncoding.DecodeString(s)
	if err != nil || len(b) != tlog.HashSize {
		fail("bad hash %q", s)
	}
	var h tlog.Hash
	copy(h[:], b)
	return h
}

func main() {
	var in input
	if err := json.NewDecoder(os.Stdin).Decode(&in); err != nil {
		fail("bad input: %v", err)
	}
	v, err := note.NewVerifier(in.Vkey)
	if err != nil {
		fail("note.NewVerifier: %v", err)
	}
	n, err := note.Open([]byte(in.Note), note.VerifierList(v))
	if err != nil {
		fail("note.Open: %v", err)
	}
	// tlog-checkpoint body: origin, decimal size, base64 root, optional extension lines.
	lines := strings.SplitN(n.Text, "\n", 4)
	if len(lines) < 4 {
		fail("checkpoint body has fewer than three lines")
	}
	size, err := strconv.ParseInt(lines[1], 10, 64)
	if err != nil || size < 0 || lines[1] != strconv.FormatInt(size, 10) {
		fail("bad tree size %q", lines[1])
	}
	root := hash(lines[2])
	// tlog.ParseTree only accepts the Go checksum database's own origin; use it when it applies.
	if lines[0] == "go.sum database tree" {
		tree, err := tlog.ParseTree([]byte(n.Text))
		if err != nil {
			fail("tlog.ParseTree: %v", err)
		}
		if tree.N != size || tree.Hash != root {
			fail("tlog.ParseTree disagrees: %d %v", tree.N, tree.Hash)
		}
	}
	if in.LeafIndex != nil {
		var p tlog.RecordProof
		for _, s := range in.Inclusion {
			p = append(p, hash(s))
		}
		if err := tlog.CheckRecord(p, size, root, *in.LeafIndex, hash(in.LeafHash)); err != nil {
			fail("tlog.CheckRecord: %v", err)
		}
	}
	if in.OldSize != nil {
		var p tlog.TreeProof
		for _, s := range in.Consistency {
			p = append(p, hash(s))
		}
		if err := tlog.CheckTree(p, size, root, *in.OldSize, hash(in.OldRoot)); err != nil {
			fail("tlog.CheckTree: %v", err)
		}
	}
	out, _ := json.Marshal(map[string]any{
		"origin": lines[0], "size": size, "root": base64.StdEncoding.EncodeToString(root[:]),
	})
	fmt.Println(string(out))
}
