package jsondoc

import (
	"encoding/json"
	"runtime"
	"sort"

	"github.com/wtbench/wtb/host/internal/application"
	"github.com/wtbench/wtb/sdk"
)

// Version is what wtb is (wtb version).
type Version struct {
	Header
	Version         string `json:"version"`
	ProtocolVersion int    `json:"protocol_version"`
	SDKVersion      string `json:"sdk_version"`
	GoVersion       string `json:"go_version"`
	OS              string `json:"os"`
	Arch            string `json:"arch"`
}

// VersionOf describes this wtb.
func VersionOf(version string) Version {
	return Version{Header: header(KindVersion), Version: version, ProtocolVersion: sdk.ProtocolVersion, SDKVersion: sdk.Version,
		GoVersion: runtime.Version(), OS: runtime.GOOS, Arch: runtime.GOARCH}
}

// Plugins lists the plugins wtb finds (wtb plugins).
type Plugins struct {
	Header
	SearchPath []string `json:"search_path"`
	Plugins    []Plugin `json:"plugins"`
}

// Plugin is one plugin binary; Error says why it could not be described.
type Plugin struct {
	Name             string   `json:"name"`
	Kind             string   `json:"kind"`
	Path             string   `json:"path"`
	Shadowed         bool     `json:"shadowed"`
	Version          string   `json:"version"`
	Description      string   `json:"description"`
	ProtocolVersions []int    `json:"protocol_versions"`
	Negotiated       int      `json:"negotiated_protocol"`
	SDKVersion       string   `json:"sdk_version"`
	Capabilities     []string `json:"capabilities"`
	NodeKinds        []string `json:"node_kinds"`
	Error            string   `json:"error"`
}

// PluginOf describes a plugin the application layer found (or its error).
func PluginOf(d application.FoundPlugin) Plugin {
	p := Plugin{Name: d.Name, Kind: d.Kind, Path: d.Path, Shadowed: d.Shadowed, ProtocolVersions: []int{},
		Capabilities: []string{}, NodeKinds: []string{}}
	if d.Err != nil {
		p.Error = d.Err.Error()
		return p
	}
	p.Version, p.Description, p.Negotiated, p.SDKVersion = d.Info.Version, d.Info.Description, d.Negotiated, d.Info.SDKVersion
	p.ProtocolVersions = list(d.Info.ProtocolVersions)
	p.Capabilities = sorted(d.Info.Capabilities)
	p.NodeKinds = sorted(d.NodeKinds)
	return p
}

// PluginSchema is a plugin's configuration schema (wtb plugins describe).
type PluginSchema struct {
	Header
	Plugin     Plugin      `json:"plugin"`
	Attributes []Attribute `json:"attributes"`
}

// Attribute is one attribute of the plugin's block.
type Attribute struct {
	Name        string          `json:"name"`
	Type        string          `json:"type"`
	Required    bool            `json:"required"`
	Sensitive   bool            `json:"sensitive"`
	Default     json.RawMessage `json:"default"` // null when there is none
	Description string          `json:"description"`
}

// PluginSchemaOf describes the attributes a plugin declares.
func PluginSchemaOf(d application.FoundPlugin) PluginSchema {
	out := PluginSchema{Header: header(KindPluginSchema), Plugin: PluginOf(d), Attributes: []Attribute{}}
	for _, a := range d.Info.Schema.Attributes {
		def := json.RawMessage("null")
		if a.Default != nil && !a.Sensitive {
			if raw, err := json.Marshal(a.Default); err == nil {
				def = raw
			}
		}
		out.Attributes = append(out.Attributes, Attribute{Name: a.Name, Type: a.Type, Required: a.Required, Sensitive: a.Sensitive,
			Default: def, Description: a.Description})
	}
	return out
}

func sorted(s []string) []string {
	out := append([]string{}, s...)
	sort.Strings(out)
	return out
}
