package fsm

import (
	"bufio"
	"bytes"
	"encoding/hex"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite the expected output of testdata scripts and golden files")

// TestScripts runs the data-driven scripts in testdata/*.txt. Each block is a command line, a "----" line and the
// expected output, ended by a blank line; lines starting with # are comments. -update rewrites the outputs.
func TestScripts(t *testing.T) {
	files, err := filepath.Glob(filepath.Join("testdata", "*.txt"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no scripts in testdata: %v", err)
	}
	for _, f := range files {
		t.Run(strings.TrimSuffix(filepath.Base(f), ".txt"), func(t *testing.T) { runScript(t, f) })
	}
}

type scriptBlock struct {
	pre     []string // comments and blank lines before the command
	line    int
	cmd     string
	want    string
	hasWant bool
}

func parseScript(t *testing.T, path string) ([]scriptBlock, []string) {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var (
		blocks []scriptBlock
		pre    []string
		lines  []string
	)
	sc := bufio.NewScanner(bytes.NewReader(data))
	for sc.Scan() {
		lines = append(lines, sc.Text())
	}
	for i := 0; i < len(lines); i++ {
		l := lines[i]
		if strings.TrimSpace(l) == "" {
			continue
		}
		if strings.HasPrefix(l, "#") {
			pre = append(pre, l)
			continue
		}
		b := scriptBlock{pre: pre, line: i + 1, cmd: l}
		pre = nil
		if i+1 < len(lines) && lines[i+1] == "----" {
			b.hasWant = true
			i += 2
			var out []string
			for ; i < len(lines) && lines[i] != ""; i++ {
				out = append(out, lines[i])
			}
			b.want = strings.Join(out, "\n")
		}
		blocks = append(blocks, b)
	}
	return blocks, pre
}

func runScript(t *testing.T, path string) {
	blocks, tail := parseScript(t, path)
	env := newScriptEnv(t)
	var rewritten strings.Builder
	for _, b := range blocks {
		got := strings.TrimRight(env.run(b.cmd), "\n")
		if *update {
			for _, p := range b.pre {
				rewritten.WriteString(p + "\n")
			}
			fmt.Fprintf(&rewritten, "%s\n----\n%s\n\n", b.cmd, got)
			continue
		}
		if !b.hasWant {
			t.Errorf("%s:%d: %q has no expected output (run with -update)", path, b.line, b.cmd)
			continue
		}
		if got != b.want {
			t.Errorf("%s:%d: %s\n got:\n%s\nwant:\n%s", path, b.line, b.cmd, got, b.want)
		}
	}
	if *update {
		for _, p := range tail {
			rewritten.WriteString(p + "\n")
		}
		out := strings.TrimRight(rewritten.String(), "\n") + "\n"
		if err := os.WriteFile(path, []byte(out), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// scriptEnv is one machine driven by a script.
type scriptEnv struct {
	t     *testing.T
	m     *Machine
	index uint64
	spe   uint64
	names map[[48]byte]string
}

func newScriptEnv(t *testing.T) *scriptEnv {
	return &scriptEnv{t: t, m: NewMachine(), spe: 8, names: make(map[[48]byte]string)}
}

type scriptArgs struct {
	kv    map[string]string
	flags map[string]bool
}

func parseArgs(fields []string) scriptArgs {
	a := scriptArgs{kv: map[string]string{}, flags: map[string]bool{}}
	for _, f := range fields {
		if k, v, ok := strings.Cut(f, "="); ok {
			a.kv[k] = v
		} else {
			a.flags[f] = true
		}
	}
	return a
}

func (e *scriptEnv) u64(a scriptArgs, key string, def uint64) uint64 {
	v, ok := a.kv[key]
	if !ok {
		return def
	}
	if v == "far" || v == "unknown" {
		return ^uint64(0)
	}
	n, err := strconv.ParseUint(v, 0, 64)
	if err != nil {
		e.t.Fatalf("argument %s=%q: %v", key, v, err)
	}
	return n
}

func (e *scriptEnv) list(a scriptArgs, key string) []uint64 {
	v, ok := a.kv[key]
	if !ok {
		e.t.Fatalf("missing argument %s", key)
	}
	var out []uint64
	for _, p := range strings.Split(v, ",") {
		n, err := strconv.ParseUint(p, 0, 64)
		if err != nil {
			e.t.Fatalf("argument %s=%q: %v", key, v, err)
		}
		out = append(out, n)
	}
	return out
}

// key returns the group key of test validator v and remembers its name for output.
func (e *scriptEnv) key(v uint64) [48]byte {
	pk := groupKey(e.t, v)
	e.names[pk] = fmt.Sprintf("v%d", v)
	return pk
}

// vindex is the beacon index a script uses for validator v unless told otherwise.
func vindex(v uint64) uint64 { return 100 + v }

func (e *scriptEnv) run(line string) string {
	fields := strings.Fields(line)
	if fields[0] == "check" {
		return e.check(fields[1:])
	}
	switch fields[0] {
	case "snapshot":
		return e.snapshotRoundTrip()
	case "state":
		return e.state()
	case "history":
		return e.history(parseArgs(fields[1:]))
	case "export":
		return e.export(parseArgs(fields[1:]))
	}
	data := e.build(fields)
	e.index++
	return e.render(e.m.Apply(e.index, data))
}

// check runs the entry through Check and asserts that nothing changed.
func (e *scriptEnv) check(fields []string) string {
	before, err := e.m.Snapshot()
	if err != nil {
		e.t.Fatal(err)
	}
	r := e.m.Check(e.build(fields))
	after, err := e.m.Snapshot()
	if err != nil {
		e.t.Fatal(err)
	}
	if !bytes.Equal(before, after) {
		e.t.Errorf("check %v changed the state", fields)
	}
	return e.render(r)
}

func (e *scriptEnv) render(r *Result) string {
	if r.Status == StatusRejected {
		return "rejected: " + r.Reason
	}
	if len(r.Items) == 0 {
		return "applied"
	}
	var b strings.Builder
	for _, it := range r.Items {
		name := e.names[it.Pubkey]
		if name == "" {
			name = "0x" + hex.EncodeToString(it.Pubkey[:4])
		}
		if it.Verdict.Approved {
			fmt.Fprintf(&b, "%s: approved\n", name)
		} else {
			fmt.Fprintf(&b, "%s: denied %s\n", name, ReasonName(it.Verdict.Reason))
		}
	}
	return b.String()
}

// build turns a script command into entry bytes.
func (e *scriptEnv) build(fields []string) []byte {
	t := e.t
	a := parseArgs(fields[1:])
	switch fields[0] {
	case "config":
		c := testConfig([32]byte{byte(e.u64(a, "gvr", 1))})
		c.SlotsPerEpoch = e.u64(a, "spe", 8)
		c.SecondsPerSlot = e.u64(a, "sps", 6)
		c.GenesisTime = e.u64(a, "genesis_time", c.GenesisTime)
		if _, ok := a.kv["forks"]; ok {
			c.Forks = nil
			for i, ep := range strings.Split(a.kv["forks"], ",") {
				epoch := uint64(^uint64(0))
				if ep != "far" {
					n, err := strconv.ParseUint(ep, 10, 64)
					if err != nil {
						t.Fatalf("forks: %v", err)
					}
					epoch = n
				}
				c.Forks = append(c.Forks, ForkSchedule{Version: [4]byte{byte(i), 0, 0, 1}, Epoch: epoch})
			}
		}
		e.spe = c.SlotsPerEpoch
		return mustEncode(t, c)
	case "add":
		v := e.u64(a, "v", 1)
		n := int(e.u64(a, "n", 3))
		add := addEntry(t, v, uint8(e.u64(a, "t", uint64(n/2+1))), n, e.u64(a, "index", vindex(v)))
		e.key(v)
		switch a.kv["bad"] {
		case "group":
			add.Pubkey[47] ^= 0xff
		case "share":
			add.SharePubkeys[0][47] ^= 0xff
		case "infinity":
			add.Pubkey = [48]byte{0xc0}
		}
		if a.flags["dup_share"] {
			add.SharePubkeys[1] = add.SharePubkeys[0]
		}
		return mustEncode(t, add)
	case "remove":
		return mustEncode(t, &ValidatorRemove{Pubkey: e.key(e.u64(a, "v", 1))})
	case "indices":
		vi := &ValidatorIndices{}
		for k, v := range a.kv {
			vv, _ := strconv.ParseUint(k, 10, 64)
			idx, _ := strconv.ParseUint(v, 10, 64)
			vi.Items = append(vi.Items, ValidatorIndex{Pubkey: e.key(vv), ValidatorIndex: idx})
		}
		slices.SortFunc(vi.Items, func(x, y ValidatorIndex) int { return bytes.Compare(x.Pubkey[:], y.Pubkey[:]) })
		return mustEncode(t, vi)
	case "finalize", "view":
		fin := e.u64(a, "epoch", e.u64(a, "fin", 0))
		v := &ChainView{
			FinalizedEpoch: fin,
			FinalizedRoot:  [32]byte{byte(e.u64(a, "fin_root", fin))},
			JustifiedEpoch: e.u64(a, "just", fin+1),
			HeadSlot:       e.u64(a, "head", (fin+2)*e.spe),
			ObservedSlot:   e.u64(a, "observed", (fin+2)*e.spe),
		}
		v.JustifiedRoot = [32]byte{byte(v.JustifiedEpoch)}
		v.HeadRoot = [32]byte{byte(v.HeadSlot), 1}
		v.ObservedUnixMilli = 1_600_000_000_000 + v.ObservedSlot*6000
		return mustEncode(t, v)
	case "attest":
		vs := e.list(a, "v")
		src, tgt := e.u64(a, "src", 0), e.u64(a, "tgt", 0)
		var pks [][48]byte
		var idx []uint64
		for _, v := range vs {
			pks = append(pks, e.key(v))
			idx = append(idx, e.u64(a, "index", vindex(v)))
		}
		return mustEncode(t, attestationDuty(t, e.u64(a, "slot", tgt*e.spe), src, tgt, byte(e.u64(a, "head", 7)), pks, idx))
	case "propose":
		v := e.u64(a, "v", 1)
		kind := DutyProposal
		if a.flags["blinded"] {
			kind = DutyBlindedProposal
		}
		d := proposalDuty(t, kind, e.u64(a, "slot", 0), byte(e.u64(a, "body", 1)), e.key(v), e.u64(a, "index", vindex(v)))
		d.Epoch = d.Slot / e.spe
		return mustEncode(t, d)
	case "duty":
		kind, ok := ParseDutyKind(a.kv["kind"])
		if !ok {
			t.Fatalf("unknown duty kind %q", a.kv["kind"])
		}
		slot := e.u64(a, "slot", 0)
		d := &Duty{Kind: kind, Slot: slot, Epoch: e.u64(a, "epoch", slot/e.spe)}
		if kind == DutySyncCommitteeMessage {
			d.Data = bytes.Repeat([]byte{byte(e.u64(a, "root", 9))}, 32)
		}
		if h, ok := a.kv["data"]; ok {
			d.Data, _ = hex.DecodeString(h)
		}
		for _, v := range e.list(a, "v") {
			d.Items = append(d.Items, DutyItem{Pubkey: e.key(v), ValidatorIndex: e.u64(a, "index", vindex(v)),
				Root: [32]byte{byte(e.u64(a, "root", 9))}, Aux: e.u64(a, "aux", 0)})
		}
		return mustEncode(t, d)
	case "halt":
		return mustEncode(t, &Halt{Reason: []byte(strings.ReplaceAll(a.kv["reason"], "_", " "))})
	case "resume":
		return mustEncode(t, &Resume{})
	case "import":
		return mustEncode(t, &SlashingImport{Interchange: e.interchange(a)})
	case "raw":
		b, err := hex.DecodeString(a.kv["hex"])
		if err != nil {
			t.Fatalf("raw: %v", err)
		}
		return b
	}
	t.Fatalf("unknown script command %q", fields[0])
	return nil
}

// interchange loads an interchange document: file=shared:<path> takes step N (default 0) of a
// slashing-protection-interchange-tests case; file=<name> reads fsm/testdata/<name> as is.
func (e *scriptEnv) interchange(a scriptArgs) []byte {
	name := a.kv["file"]
	if rest, ok := strings.CutPrefix(name, "shared:"); ok {
		raw, err := os.ReadFile(filepath.Join(sharedTestdata(e.t), rest))
		if err != nil {
			e.t.Fatal(err)
		}
		var tc struct {
			Steps []struct {
				Interchange json.RawMessage `json:"interchange"`
			} `json:"steps"`
		}
		if err := json.Unmarshal(raw, &tc); err != nil {
			e.t.Fatal(err)
		}
		return tc.Steps[e.u64(a, "step", 0)].Interchange
	}
	raw, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		e.t.Fatal(err)
	}
	return raw
}

func (e *scriptEnv) snapshotRoundTrip() string {
	b, err := e.m.Snapshot()
	if err != nil {
		return "error: " + err.Error()
	}
	m2 := NewMachine()
	if err := m2.Restore(b); err != nil {
		return "error: " + err.Error()
	}
	b2, err := m2.Snapshot()
	if err != nil {
		return "error: " + err.Error()
	}
	if !bytes.Equal(b, b2) {
		return "snapshot differs after restore"
	}
	return "ok"
}

func (e *scriptEnv) state() string {
	halted, why := e.m.Halted()
	v := e.m.ChainView()
	var b strings.Builder
	fmt.Fprintf(&b, "applied_index=%d validators=%d finalized_epoch=%d halted=%v", e.m.AppliedIndex(), len(e.m.Validators()), v.FinalizedEpoch, halted)
	if why != "" {
		fmt.Fprintf(&b, " reason=%q", why)
	}
	for _, vi := range e.m.Validators() {
		idx := "unknown"
		if vi.ValidatorIndex != UnknownValidatorIndex {
			idx = strconv.FormatUint(vi.ValidatorIndex, 10)
		}
		fmt.Fprintf(&b, "\n%s: t=%d n=%d index=%s", e.names[vi.Pubkey], vi.Threshold, len(vi.SharePubkeys), idx)
	}
	return b.String()
}

func (e *scriptEnv) history(a scriptArgs) string {
	recs := e.m.History(e.u64(a, "slot", 0), e.key(e.u64(a, "v", 1)))
	if len(recs) == 0 {
		return "none"
	}
	var b strings.Builder
	for _, r := range recs {
		verdict := "approved"
		if !r.Item.Verdict.Approved {
			verdict = "denied " + ReasonName(r.Item.Verdict.Reason)
		}
		fmt.Fprintf(&b, "index=%d %s slot=%d epoch=%d root=0x%x %s\n", r.Index, r.Kind, r.Slot, r.Epoch, r.Item.SigningRoot[:4], verdict)
	}
	return b.String()
}

func (e *scriptEnv) export(a scriptArgs) string {
	var pks [][48]byte
	if _, ok := a.kv["v"]; ok {
		for _, v := range e.list(a, "v") {
			pks = append(pks, e.key(v))
		}
	}
	b, err := e.m.ExportInterchange(pks, a.flags["complete"])
	if err != nil {
		return "error: " + err.Error()
	}
	var doc struct {
		Data []struct {
			Pubkey       string            `json:"pubkey"`
			Blocks       []json.RawMessage `json:"signed_blocks"`
			Attestations []json.RawMessage `json:"signed_attestations"`
		} `json:"data"`
	}
	if err := json.Unmarshal(b, &doc); err != nil {
		return "error: " + err.Error()
	}
	var out strings.Builder
	for _, d := range doc.Data {
		fmt.Fprintf(&out, "%s… blocks=%d attestations=%d\n", d.Pubkey[:10], len(d.Blocks), len(d.Attestations))
	}
	if out.Len() == 0 {
		return "empty"
	}
	return out.String()
}
