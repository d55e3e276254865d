package console

import (
	"errors"
	"reflect"
	"testing"

	"github.com/gatehouse/gatehouse/ui"
)

// Every method of ui.Backend that is not a read is refused by a viewer's
// backend, without reaching the App. The inner backend is nil, so a
// change that would pass through panics: a method added to ui.Backend
// without a refusal fails here.
func TestReadOnlyRefusesEveryChange(t *testing.T) {
	reads := map[string]bool{"Describe": true, "Snapshot": true, "Subscribe": true, "History": true,
		"ResolveSerial": true, "Policy": true, "ClusterStatus": true}
	bt := reflect.TypeFor[ui.Backend]()
	ro := reflect.ValueOf(readOnly{})
	refused := 0
	for i := range bt.NumMethod() {
		m := bt.Method(i)
		if reads[m.Name] {
			continue
		}
		t.Run(m.Name, func(t *testing.T) {
			fn := ro.MethodByName(m.Name)
			args := make([]reflect.Value, fn.Type().NumIn())
			for j := range args {
				args[j] = reflect.Zero(fn.Type().In(j))
			}
			out := fn.Call(args)
			err, _ := out[len(out)-1].Interface().(error)
			if !errors.Is(err, ErrReadOnly) {
				t.Fatalf("%s returned %v, want ErrReadOnly", m.Name, err)
			}
		})
		refused++
	}
	if refused < 10 {
		t.Fatalf("only %d methods checked", refused)
	}
}
