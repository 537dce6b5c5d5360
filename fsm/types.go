package fsm

import "fmt"

// EntryType identifies the body of a log entry. Values are part of the wire format: they only ever grow and are
// never renumbered or reused.
type EntryType uint8

// Entry types. The numbers are fixed; new types are appended.
const (
	TypeChainConfig      EntryType = 1
	TypeValidatorAdd     EntryType = 2
	TypeValidatorRemove  EntryType = 3
	TypeValidatorIndices EntryType = 4
	TypeChainView        EntryType = 5
	TypeDuty             EntryType = 6
	TypeSlashingImport   EntryType = 7
	TypeHalt             EntryType = 8
	TypeResume           EntryType = 9
)

var entryTypeNames = [...]string{
	TypeChainConfig:      "chain_config",
	TypeValidatorAdd:     "validator_add",
	TypeValidatorRemove:  "validator_remove",
	TypeValidatorIndices: "validator_indices",
	TypeChainView:        "chain_view",
	TypeDuty:             "duty",
	TypeSlashingImport:   "slashing_import",
	TypeHalt:             "halt",
	TypeResume:           "resume",
}

// String returns the snake_case name of the entry type, or "entry_type(N)" for an unknown value.
func (t EntryType) String() string {
	if int(t) < len(entryTypeNames) && entryTypeNames[t] != "" {
		return entryTypeNames[t]
	}
	return fmt.Sprintf("entry_type(%d)", uint8(t))
}

// Known reports whether t is an entry type this version of the state machine understands.
func (t EntryType) Known() bool { return t >= TypeChainConfig && t <= TypeResume }

// DutyKind identifies what a Duty entry asks the validators to sign. Values are part of the wire format: they only
// ever grow and are never renumbered or reused.
type DutyKind uint8

// Duty kinds. The numbers are fixed; new kinds are appended.
const (
	DutyAttestation           DutyKind = 1
	DutyProposal              DutyKind = 2
	DutyBlindedProposal       DutyKind = 3
	DutyRandao                DutyKind = 4
	DutySelectionProof        DutyKind = 5
	DutyAggregateAndProof     DutyKind = 6
	DutySyncCommitteeMessage  DutyKind = 7
	DutySyncSelectionProof    DutyKind = 8
	DutyContributionAndProof  DutyKind = 9
	DutyVoluntaryExit         DutyKind = 10
	DutyValidatorRegistration DutyKind = 11
)

var dutyKindNames = [...]string{
	DutyAttestation:           "attestation",
	DutyProposal:              "proposal",
	DutyBlindedProposal:       "blinded_proposal",
	DutyRandao:                "randao",
	DutySelectionProof:        "selection_proof",
	DutyAggregateAndProof:     "aggregate_and_proof",
	DutySyncCommitteeMessage:  "sync_committee_message",
	DutySyncSelectionProof:    "sync_selection_proof",
	DutyContributionAndProof:  "contribution_and_proof",
	DutyVoluntaryExit:         "voluntary_exit",
	DutyValidatorRegistration: "validator_registration",
}

// String returns the snake_case name of the duty kind, or "duty_kind(N)" for an unknown value.
func (k DutyKind) String() string {
	if int(k) < len(dutyKindNames) && dutyKindNames[k] != "" {
		return dutyKindNames[k]
	}
	return fmt.Sprintf("duty_kind(%d)", uint8(k))
}

// Known reports whether k is a duty kind this version of the state machine understands.
func (k DutyKind) Known() bool { return k >= DutyAttestation && k <= DutyValidatorRegistration }

// ParseDutyKind returns the kind whose String() is name.
func ParseDutyKind(name string) (DutyKind, bool) {
	for k, n := range dutyKindNames {
		if n != "" && n == name {
			return DutyKind(k), true
		}
	}
	return 0, false
}

// Status is the outcome of applying one entry.
type Status uint8

// Entry outcomes.
const (
	// StatusApplied means the entry was valid and its effects are part of the state. A Duty entry is applied even
	// when some or all of its items are denied: the per-item verdicts are the outcome.
	StatusApplied Status = 1
	// StatusRejected means the entry was malformed or not allowed in the current state; the state is unchanged
	// apart from the applied index.
	StatusRejected Status = 2
)

// String returns "applied", "rejected" or "status(N)".
func (s Status) String() string {
	switch s {
	case StatusApplied:
		return "applied"
	case StatusRejected:
		return "rejected"
	}
	return fmt.Sprintf("status(%d)", uint8(s))
}
