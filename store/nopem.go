package store

import "bytes"

// pemMember opens a record's PEM member as json.Marshal writes it.
var pemMember = []byte(`"cert_pem":"`)

// cutPEM appends raw to dst without its cert_pem member, so that decoding a
// record for a listing neither validates nor scans the PEM, most of its
// bytes. In JSON these bytes can only be that member's key: inside a string
// every quote is escaped. A record laid out otherwise (whitespace around
// the member, no member) is appended whole; the caller then drops the PEM
// after decoding.
func cutPEM(dst, raw []byte) []byte {
	i := bytes.Index(raw, pemMember)
	if i < 1 {
		return append(dst, raw...)
	}
	end := i + len(pemMember)
	for end < len(raw) && raw[end] != '"' {
		if raw[end] == '\\' {
			end++
		}
		end++
	}
	if end >= len(raw) {
		return append(dst, raw...)
	}
	end++ // past the closing quote
	start := i
	switch {
	case raw[i-1] == ',':
		start-- // "a":1,"cert_pem":"..."
	case raw[i-1] == '{' && end < len(raw) && raw[end] == ',':
		end++ // {"cert_pem":"...","a":1
	case raw[i-1] == '{' && end < len(raw) && raw[end] == '}':
	default:
		return append(dst, raw...)
	}
	dst = append(dst, raw[:start]...)
	return append(dst, raw[end:]...)
}
