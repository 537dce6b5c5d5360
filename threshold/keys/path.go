package keys

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// ErrInvalidPath is returned (wrapped) for a derivation path that is not of
// the EIP-2334 form "m/<index>/<index>/...".
var ErrInvalidPath = errors.New("keys: invalid derivation path")

// maxPathDepth bounds the number of components so a hostile path string
// cannot ask for an unbounded amount of derivation work. EIP-2334 paths have
// five components; wallets use at most a few more.
const maxPathDepth = 64

// ParsePath parses an EIP-2334 derivation path ("m", "m/12381/3600/0/0/0")
// into its child indices. Each component is a plain decimal number in
// [0, 2^32) with no sign, spaces or hardened marker.
func ParsePath(path string) ([]uint32, error) {
	parts := strings.Split(path, "/")
	if parts[0] != "m" {
		return nil, fmt.Errorf("%w %q: must start with \"m\"", ErrInvalidPath, path)
	}
	if len(parts)-1 > maxPathDepth {
		return nil, fmt.Errorf("%w %q: more than %d components", ErrInvalidPath, path, maxPathDepth)
	}
	indices := make([]uint32, 0, len(parts)-1)
	for i, p := range parts[1:] {
		if p == "" {
			return nil, fmt.Errorf("%w %q: component %d is empty", ErrInvalidPath, path, i+1)
		}
		for _, c := range p {
			if c < '0' || c > '9' {
				return nil, fmt.Errorf("%w %q: component %d is not a decimal number", ErrInvalidPath, path, i+1)
			}
		}
		v, err := strconv.ParseUint(p, 10, 32)
		if err != nil {
			return nil, fmt.Errorf("%w %q: component %d is not below 2^32", ErrInvalidPath, path, i+1)
		}
		indices = append(indices, uint32(v))
	}
	return indices, nil
}
