package sdk_test

import (
	"bytes"
	"os/exec"
	"strings"
	"testing"

	"github.com/wtbench/wtb/sdk"
)

func TestWriteMetricsIsTheTextFormat(t *testing.T) {
	var buf bytes.Buffer
	err := sdk.WriteMetrics(&buf, []sdk.Metric{
		{Name: "wtb_items_total", Help: "B.\nsecond line", Kind: sdk.MetricCounter, Labels: map[string]string{"z": "1", "a": `q"u\ote`}, Value: 3},
		{Name: "wtb_level", Help: "A.", Kind: sdk.MetricGauge, Value: 0.5},
		{Name: "wtb_items_total", Help: "B.\nsecond line", Kind: sdk.MetricCounter, Labels: map[string]string{"z": "2", "a": "x"}, Value: 1e21},
	})
	if err != nil {
		t.Fatal(err)
	}
	want := `# HELP wtb_items_total B.\nsecond line
# TYPE wtb_items_total counter
wtb_items_total{a="q\"u\\ote",z="1"} 3
wtb_items_total{a="x",z="2"} 1e+21
# HELP wtb_level A.
# TYPE wtb_level gauge
wtb_level 0.5
`
	if buf.String() != want {
		t.Errorf("got\n%s\nwant\n%s", buf.String(), want)
	}
	// Prometheus's own linter accepts it, where it is installed.
	promtool, err := exec.LookPath("promtool")
	if err != nil {
		t.Skip("no promtool")
	}
	cmd := exec.Command(promtool, "check", "metrics")
	cmd.Stdin = strings.NewReader(buf.String())
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Errorf("promtool check metrics: %v\n%s", err, out)
	}
}
