package sdk

import (
	"sort"
	"strings"
)

// Price is what a model's tokens cost, in US dollars per million tokens of
// each kind. Model is a model name as responses give it, or a prefix ending
// in * ("gpt-4o-mini*" covers dated versions). Tiers price prompts above a
// size differently (the first tier whose Above the prompt exceeds, from the
// largest). Date says when the prices were looked up.
type Price struct {
	Model      string      `json:"model"`
	Input      float64     `json:"input"`
	Output     float64     `json:"output"`
	CacheRead  float64     `json:"cache_read"`
	CacheWrite float64     `json:"cache_write"`
	Reasoning  float64     `json:"reasoning"`
	Date       string      `json:"date,omitempty"`
	Tiers      []PriceTier `json:"tiers,omitempty"`
}

// PriceTier is a price for prompts of more than Above tokens (input, cache
// reads and cache writes together).
type PriceTier struct {
	Above      int64   `json:"above"`
	Input      float64 `json:"input"`
	Output     float64 `json:"output"`
	CacheRead  float64 `json:"cache_read"`
	CacheWrite float64 `json:"cache_write"`
	Reasoning  float64 `json:"reasoning"`
}

// PriceTable answers what a call cost by a price list. It lives in the SDK
// because both sides price calls: the host for what it stores and reports,
// the gateway beside the nodes for an execution's budget.
type PriceTable struct {
	exact    map[string]Price
	prefixes []Price // longest prefix first
}

// NewPriceTable indexes a price list.
func NewPriceTable(ps []Price) *PriceTable {
	p := &PriceTable{exact: map[string]Price{}}
	for _, x := range ps {
		if pre, ok := strings.CutSuffix(x.Model, "*"); ok {
			x.Model = pre
			p.prefixes = append(p.prefixes, x)
			continue
		}
		p.exact[x.Model] = x
	}
	sort.SliceStable(p.prefixes, func(i, j int) bool { return len(p.prefixes[i].Model) > len(p.prefixes[j].Model) })
	return p
}

// Find returns the price of a model: its exact entry, else the longest prefix
// that covers it.
func (p *PriceTable) Find(model string) (Price, bool) {
	if p == nil || model == "" {
		return Price{}, false
	}
	if x, ok := p.exact[model]; ok {
		return x, true
	}
	for _, x := range p.prefixes {
		if strings.HasPrefix(model, x.Model) {
			return x, true
		}
	}
	return Price{}, false
}

// Cost is what a call used by the table, in US dollars; false when its model
// has no price or its response reported no usage — an unpriced call, never
// $0. A tier applies by the prompt's size (input, cache reads and writes).
func (p *PriceTable) Cost(model string, u Usage) (float64, bool) {
	price, ok := p.Find(model)
	if !ok || !u.Reported {
		return 0, false
	}
	in, out, cr, cw, rs := price.Input, price.Output, price.CacheRead, price.CacheWrite, price.Reasoning
	prompt := u.Input + u.CacheRead + u.CacheWrite
	tiers := append([]PriceTier(nil), price.Tiers...)
	sort.Slice(tiers, func(i, j int) bool { return tiers[i].Above > tiers[j].Above })
	for _, t := range tiers {
		if prompt > t.Above {
			in, out, cr, cw, rs = t.Input, t.Output, t.CacheRead, t.CacheWrite, t.Reasoning
			break
		}
	}
	const perToken = 1e-6 // prices are per million tokens
	cost := (float64(u.Input)*in + float64(u.Output)*out + float64(u.CacheRead)*cr + float64(u.CacheWrite)*cw +
		float64(u.Reasoning)*rs) * perToken
	return cost, true
}
