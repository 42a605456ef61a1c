package spec

import (
	"encoding/json"
	"strings"
	"testing"
)

func TestRedactorMasksTextAndJSON(t *testing.T) {
	r := NewRedactor([]string{"sk-live-123", "sk-live-123-extended", `pa"ss\word`, "on"})
	if got := r.String("key=sk-live-123-extended and sk-live-123, on"); got != "key=(sensitive) and (sensitive), on" {
		t.Errorf("String: %q (longest first; values shorter than 4 left alone)", got)
	}
	raw, _ := json.Marshal(map[string]any{"k": `pa"ss\word`, "n": []string{"x sk-live-123 y"}})
	got := r.JSON(raw)
	if strings.Contains(string(got), "ss") || strings.Contains(string(got), "sk-live") {
		t.Errorf("JSON left a value: %s", got)
	}
	var v any
	if err := json.Unmarshal(got, &v); err != nil {
		t.Errorf("JSON after masking is not JSON: %s: %v", got, err)
	}
	var none *Redactor
	if none.String("sk-live-123") != "sk-live-123" || NewRedactor([]string{"ab"}) != nil {
		t.Error("a nil redactor masks nothing; short values make none")
	}
}
