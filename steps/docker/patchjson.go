package docker

import (
	"encoding/json"

	"github.com/goccy/go-yaml"
)

// MarshalJSON writes the patch as its YAML text, which keeps the order of
// its keys (a JSON object would not): the runbook load cache stores
// action parameters as JSON.
func (p Patch) MarshalJSON() ([]byte, error) {
	if p.v == nil {
		return []byte("null"), nil
	}
	src, err := yaml.MarshalWithOptions(p.v, yaml.UseLiteralStyleIfMultiline(true))
	if err != nil {
		return nil, err
	}
	return json.Marshal(string(src))
}

// UnmarshalJSON reads what MarshalJSON wrote.
func (p *Patch) UnmarshalJSON(b []byte) error {
	var src *string
	if err := json.Unmarshal(b, &src); err != nil {
		return err
	}
	if src == nil {
		p.v = nil
		return nil
	}
	q, err := ParsePatch(*src)
	if err != nil {
		return err
	}
	*p = q
	return nil
}
