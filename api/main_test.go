package api_test

import (
	"os"
	"testing"
)

func osMkdirTemp() (string, error) { return os.MkdirTemp("", "phalanx-api-test-") }

func TestMain(m *testing.M) {
	code := m.Run()
	if shared != nil {
		shared.Close()
	}
	if upstream != nil {
		upstream.srv.Close()
	}
	os.Exit(code)
}
