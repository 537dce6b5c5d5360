package node

import (
	"context"
	"crypto/rand"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/phalanx-eth/phalanx/cluster"
	"github.com/phalanx-eth/phalanx/node/devnet"
	"github.com/phalanx-eth/phalanx/threshold"
	"github.com/phalanx-eth/phalanx/threshold/keys"
)

func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

type e2eMember struct {
	cfg    Config
	node   *Node
	cancel context.CancelFunc
	done   chan error
}

func (m *e2eMember) start(t *testing.T) {
	t.Helper()
	n, err := New(m.cfg)
	if err != nil {
		t.Fatalf("node %s: %v", m.cfg.ID, err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	m.node, m.cancel, m.done = n, cancel, make(chan error, 1)
	go func() { m.done <- n.Run(ctx) }()
}

func (m *e2eMember) stop(t *testing.T) {
	t.Helper()
	if m.cancel == nil {
		return
	}
	m.cancel()
	select {
	case err := <-m.done:
		if err != nil {
			t.Errorf("node %s stopped with %v", m.cfg.ID, err)
		}
	case <-time.After(30 * time.Second):
		t.Errorf("node %s did not stop", m.cfg.ID)
	}
	m.cancel = nil
}

// e2eRun is a devnet with 64 validators, the first 32 run by a 2-of-3 phalanx cluster of three in-process
// nodes over real libp2p, with 1 s slots and 8-slot epochs.
type e2eRun struct {
	t       *testing.T
	dn      *devnet.Devnet
	members []*e2eMember
	sc      SlotClock
}

// startE2E starts the devnet and the three nodes. beaconURL, when set, gives node i's beacon URL from the
// devnet's; configure, when set, adjusts node i's config.
func startE2E(t *testing.T, beaconURL func(i int, url string) string, configure func(i int, c *Config)) *e2eRun {
	t.Helper()
	const nCluster = 32
	var clusterIdx []uint64
	for i := uint64(0); i < nCluster; i++ {
		clusterIdx = append(clusterIdx, i)
	}
	dcfg := devnet.DefaultConfig()
	dcfg.ClusterValidators = clusterIdx
	dcfg.SlotDuration = time.Second
	dcfg.GenesisTime = time.Now().Add(4 * time.Second)
	dn, err := devnet.New(dcfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := dn.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { dn.Close() })

	dir := t.TempDir()
	vals := testValidators(t, clusterIdx...)
	lock := &Lock{Version: LockVersion, Name: "e2e", Threshold: 2}
	var ids []*cluster.Identity
	for i := 1; i <= 3; i++ {
		id, err := cluster.GenerateIdentity()
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, id)
		if err := cluster.SaveIdentity(filepath.Join(dir, fmt.Sprintf("node-%d", i), "identity.json"), id); err != nil {
			t.Fatal(err)
		}
		lock.Members = append(lock.Members, LockMember{ID: fmt.Sprintf("node-%d", i), PeerID: id.PeerID(),
			Address: fmt.Sprintf("/ip4/127.0.0.1/tcp/%d/p2p/%s", freePort(t), id.PeerID())})
	}
	password := "e2e password"
	for _, v := range vals {
		shares, comms, err := threshold.Split(v.sk, 2, 3, rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		lv, err := NewLockValidator(comms, 3)
		if err != nil {
			t.Fatal(err)
		}
		lock.Validators = append(lock.Validators, lv)
		for i, sh := range shares {
			kd := filepath.Join(dir, fmt.Sprintf("node-%d", i+1), "keys")
			if err := WriteShareKeystore(kd, lv.Pubkey, sh, password, keys.WithScryptN(16)); err != nil {
				t.Fatal(err)
			}
		}
	}
	lockPath := filepath.Join(dir, "cluster-lock.json")
	if err := lock.Save(lockPath); err != nil {
		t.Fatal(err)
	}
	pwPath := filepath.Join(dir, "password.txt")
	if err := os.WriteFile(pwPath, []byte(password+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}

	members := make([]*e2eMember, 3)
	for i := range members {
		nd := filepath.Join(dir, fmt.Sprintf("node-%d", i+1))
		cfg := DefaultConfig()
		cfg.ID = lock.Members[i].ID
		cfg.DataDir = filepath.Join(nd, "data")
		cfg.IdentityFile = filepath.Join(nd, "identity.json")
		cfg.LockFile = lockPath
		cfg.KeysDir = filepath.Join(nd, "keys")
		cfg.PasswordFile = pwPath
		cfg.ListenAddr = lock.Members[i].Address[:len(lock.Members[i].Address)-len("/p2p/"+lock.Members[i].PeerID)]
		cfg.BeaconURLs = []string{dn.URL()}
		if beaconURL != nil {
			cfg.BeaconURLs = []string{beaconURL(i, dn.URL())}
		}
		cfg.SlotDuration = time.Second
		cfg.ProposeTimeout = 2 * time.Second
		cfg.Graffiti = "phalanx e2e"
		// Compact the log often, so that the node restarted below is behind the leader's first log index and
		// must install a snapshot.
		cfg.SnapshotThreshold, cfg.TrailingLogs, cfg.SnapshotInterval = 32, 8, 500*time.Millisecond
		cfg.Logger = quietLogger()
		if testing.Verbose() {
			cfg.Logger = nil
		}
		if configure != nil {
			configure(i, &cfg)
		}
		members[i] = &e2eMember{cfg: cfg}
		members[i].start(t)
	}
	// Registered after the devnet's Cleanup, so it runs first: the nodes stop before their beacon node.
	t.Cleanup(func() {
		for _, m := range members {
			m.stop(t)
		}
	})
	return &e2eRun{t: t, dn: dn, members: members,
		sc: SlotClock{Genesis: dn.GenesisTime(), SlotDuration: time.Second, SlotsPerEpoch: 8}}
}

// waitSlot sleeps until slot starts.
func (r *e2eRun) waitSlot(slot uint64) {
	if d := time.Until(r.sc.SlotStart(slot)); d > 0 {
		time.Sleep(d)
	}
}

// leader returns the member running duties, if any.
func (r *e2eRun) leader() *e2eMember {
	for _, m := range r.members {
		if m.cancel != nil && m.node.Status().SchedulerRunning {
			return m
		}
	}
	return nil
}

// TestEndToEnd runs a devnet with 64 validators, 32 of them run by a 2-of-3 phalanx cluster of three
// in-process nodes over real libp2p, for several epochs: every cluster attestation is signed, accepted and
// included, finality advances, killing the leader mid-epoch loses no attestation, and the killed node catches
// up when it comes back.
func TestEndToEnd(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end run skipped with -short")
	}
	r := startE2E(t, nil, nil)

	// Epoch 1 onwards is checked; epoch 0 leaves the cluster time to elect a leader and bind the chain.
	r.waitSlot(8)
	if r.leader() == nil {
		t.Fatal("no node runs duties by slot 8")
	}
	// Kill the leader mid-epoch 2.
	r.waitSlot(20)
	old := r.leader()
	if old == nil {
		t.Fatal("no leader at slot 20")
	}
	t.Logf("killing leader %s at slot 20", old.cfg.ID)
	old.stop(t)
	// Bring it back an epoch later; it must catch up.
	r.waitSlot(28)
	old.start(t)
	r.waitSlot(48)

	st := r.dn.Stats()
	t.Logf("devnet: slot %d justified %d finalized %d totals %+v", st.Slot, st.JustifiedEpoch, st.FinalizedEpoch, st.Totals)
	if st.FinalizedEpoch < 3 {
		t.Errorf("finalized epoch %d, want at least 3 after 6 epochs", st.FinalizedEpoch)
	}
	// Every cluster attestation from slot 10 (after start-up) on — through the leader kill at slot 20, the
	// restart at slot 28 and the restarted node's snapshot install — must be received and included.
	checked := 0
	for _, s := range st.Slots {
		if s.Slot < 10 || s.Slot+3 > st.Slot {
			continue
		}
		lost := s.ClusterAttestationsReceived < s.ClusterAttesters || s.ClusterAttestationsIncluded < s.ClusterAttesters
		checked++
		if lost {
			t.Errorf("slot %d: %d of %d cluster attestations received, %d included", s.Slot, s.ClusterAttestationsReceived,
				s.ClusterAttesters, s.ClusterAttestationsIncluded)
		}
	}
	if checked < 30 {
		t.Errorf("devnet status covers only %d of the slots from 10 on", checked)
	}
	for _, r := range st.Rejections {
		if r.Kind == "block" {
			t.Logf("devnet refused a block: %+v", r)
			continue
		}
		t.Errorf("devnet rejected a submission: %+v", r)
	}
	// The restarted node caught up with the log.
	lead := r.leader()
	if lead == nil {
		t.Fatal("no leader at the end")
	}
	ls, _ := lead.node.Cluster().Status()
	eventually(t, "restarted node catches up", func() bool {
		s, err := old.node.Cluster().Status()
		return err == nil && s.AppliedIndex >= ls.CommitIndex
	})
	if got := old.node.Cluster().TransportStats().Received.InstallSnapshot; got == 0 {
		t.Error("the restarted node caught up without installing a snapshot")
	} else {
		t.Logf("the restarted node installed %d snapshot(s)", got)
	}
	if s := lead.node.Status(); len(s.Slots) == 0 {
		t.Error("leader status has no slot reports")
	} else {
		t.Logf("leader %s: %s", lead.cfg.ID, s.Slots[1].Summary())
	}
}
